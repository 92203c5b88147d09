"""Given rows -> expected rows: build canonical tables from a few dicts, run a mart on
in-memory DuckDB through Ibis, compare rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from medsynergy.schema import ALL_TABLES

TABLES = {t.name: t for t in ALL_TABLES}


@pytest.fixture
def con() -> Iterator[ibis.BaseBackend]:
    backend = ibis.duckdb.connect()
    try:
        yield backend
    finally:
        backend.disconnect()


def table(con: ibis.BaseBackend, name: str, rows: Sequence[dict[str, Any]]) -> ibis.Table:
    """A canonical table `name` holding `rows`; columns not given are null.

    Dates may be written as 'YYYY-MM-DD' strings and money as str/int/Decimal.
    """
    schema = TABLES[name].ibis_schema()
    data: dict[str, list[Any]] = {c: [] for c in schema}
    for r in rows:
        unknown = set(r) - set(schema)
        if unknown:
            raise KeyError(f"{name} has no columns {sorted(unknown)}")
        for c, kind in schema.items():
            v = r.get(c)
            if v is not None and kind.is_date() and isinstance(v, str):
                v = dt.date.fromisoformat(v)
            if v is not None and kind.is_decimal() and not isinstance(v, Decimal):
                v = Decimal(str(v))
            data[c].append(v)
    arrow = pa.table({c: pa.array(v, type=schema[c].to_pyarrow()) for c, v in data.items()})
    del con  # memtables run on whichever backend executes the expression
    return ibis.memtable(arrow)


def rows(con: ibis.BaseBackend, expr: ibis.Table, columns: Sequence[str] | None = None,
         order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of `expr` as dicts (only `columns`, sorted by `order` when given)."""
    t = expr.select(*columns) if columns else expr
    if order:
        t = t.order_by(list(order))
    return list(con.to_pyarrow(t).to_pylist())
