"""Shared helpers of the ingest tests: write a CSV from rows, a fresh warehouse, sorted reads.

Every ingest compiles a large Ibis expression (about a second for medical_claim), so
the rule and adjustment tests load one file per scenario family in a module-scoped
fixture and assert on it in many small tests.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.schema import ALL_TABLES

SOURCE = "test"

MEDICAL_COLUMNS = (
    "claim_id", "claim_line_number", "person_id", "claim_start_date", "claim_end_date",
    "paid_date", "paid_amount", "adjustment_type_code", "adjustment_sequence_number",
)


def write_csv(path: Path, rows: Sequence[Mapping[str, object]],
              columns: Sequence[str] | None = None) -> Path:
    """Write `rows` (dicts) under a header of `columns` (default: keys in first-seen order).

    A key a row lacks is written as an empty field.
    """
    if columns is None:
        seen: dict[str, None] = {}
        for r in rows:
            seen.update(dict.fromkeys(r))
        columns = list(seen)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r.get(c) is None else str(r.get(c)) for c in columns])
    return path


def medical_row(claim_id: str = "C1", **overrides: object) -> dict[str, object]:
    """A medical_claim line that breaks no rule, with `overrides` applied."""
    row: dict[str, object] = {
        "claim_id": claim_id, "claim_line_number": "1", "person_id": "P1",
        "claim_start_date": "2024-01-01", "claim_end_date": "2024-01-03",
        "paid_date": "2024-02-01", "paid_amount": "100.00",
        "adjustment_type_code": "", "adjustment_sequence_number": "",
    }
    row.update(overrides)
    return row


def open_warehouse(path: Path | str) -> Warehouse:
    return medsynergy.connect(path)


def fetch(wh: Warehouse, table: str, columns: Sequence[str] | None = None,
          order_by: Sequence[str] | None = None,
          where: Mapping[str, object] | None = None) -> list[dict[str, Any]]:
    """Rows of `table` as dicts, restricted to `columns`, sorted by `order_by` (default: all
    selected columns), filtered on equality with `where`."""
    t = wh.table(table)
    for col, value in (where or {}).items():
        t = t.filter(t[col] == value)
    if columns is not None:
        t = t.select(*columns)
    t = t.order_by(list(order_by) if order_by is not None else list(t.columns))
    return wh.to_arrow(t).to_pylist()


def counts(wh: Warehouse) -> dict[str, int]:
    """The row count of every canonical table."""
    return {t.name: wh.count(t.name) for t in ALL_TABLES}


def snapshot(wh: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    """The full contents of every canonical table, each sorted: equal snapshots mean nothing
    changed."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for t in ALL_TABLES:
        # plain SQL on the DuckDB connection: much faster than an Ibis round trip per table
        rows = wh.raw.execute(f'SELECT * FROM "{t.name}"').fetchall()  # type: ignore[attr-defined]
        out[t.name] = sorted(rows, key=repr)
    return out


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh DuckDB warehouse file in tmp_path."""
    w = open_warehouse(tmp_path / "wh.duckdb")
    yield w
    w.close()
