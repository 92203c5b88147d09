"""Write warehouse tables and contract outcomes as partitioned Parquet (`--out-parquet DIR`).

Layout (docs/export.md): one folder per table, `DIR/<table>/`, split Hive-style into
`col=value/` folders by the first of these columns the table has: `year`, then `payer`;
a table with neither (or with no rows: a partitioned write of nothing leaves no file,
and a reader could not tell its columns) is one folder of Parquet files. The partition
column lives in the folder names only, as Spark and DuckDB write it; readers get it back
with Hive partitioning (`read_parquet(..., hive_partitioning = true)`, Spark's reader).

Each table is written into a hidden sibling folder `DIR/.<table>.tmp-<id>` and then renamed
to `DIR/<table>`, replacing what was there: a reader sees the old files or the new ones,
never a half-written table.

Money stays exact: DECIMAL columns are written as Parquet decimals on both engines, and the
Decimal values of contract outcomes as Arrow decimal128.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from medsynergy.engine import Warehouse
from medsynergy.errors import UserError

#: Partition columns, in order of preference.
PARTITION_COLUMNS = ("year", "payer")


@dataclass(frozen=True)
class ExportedTable:
    """One table written: its rows, the column its folders are split by (None: not
    split) and its folder."""

    name: str
    rows: int
    partition_by: str | None
    path: Path


def partition_column(columns: Iterable[str], rows: int) -> str | None:
    """The column a table of `columns` is split by: `year`, else `payer`, else none (and
    none for an empty table, so that its one file still carries every column)."""
    if rows == 0:
        return None
    names = set(columns)
    return next((c for c in PARTITION_COLUMNS if c in names), None)


def write_parquet(wh: Warehouse, names: Sequence[str], out_dir: str | Path
                  ) -> list[ExportedTable]:
    """Write the warehouse tables `names` (canonical or derived) to `out_dir/<name>/`."""
    out = Path(out_dir)
    written = []
    for name in names:
        rows = wh.count(name)
        col = partition_column(wh.table(name).columns, rows)
        path = _replace_folder(out, name, partial(_write_table, wh, name, partition_by=col))
        written.append(ExportedTable(name, rows, col, path))
    return written


def write_arrow_tables(tables: Mapping[str, pa.Table], out_dir: str | Path
                       ) -> list[ExportedTable]:
    """Write in-memory Arrow tables (contract outcomes) with the same layout."""
    out = Path(out_dir)
    written = []
    for name, table in tables.items():
        col = partition_column(table.column_names, table.num_rows)
        path = _replace_folder(out, name, partial(_write_arrow, table, partition_by=col))
        written.append(ExportedTable(name, table.num_rows, col, path))
    return written


def _replace_folder(out: Path, name: str, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp)` into a fresh hidden folder beside `out/name`, then swap it in."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file of that name, no permission: the user can fix it
        raise UserError(f"cannot write Parquet to {out}: {exc}") from exc
    target = out / name
    tmp = out / f".{name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        write(tmp)
        tmp.mkdir(exist_ok=True)  # a writer may create no folder when it has nothing to write
        if target.exists():
            # rename() cannot replace a folder that has files: move the old one aside first
            # (a reader then briefly finds no table, never a mixture of old and new files)
            old = out / f".{name}.old-{uuid.uuid4().hex[:12]}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_table(wh: Warehouse, name: str, path: Path, partition_by: str | None) -> None:
    from medsynergy.engine.duckdb_engine import DuckDBWarehouse

    if isinstance(wh, DuckDBWarehouse):
        partition = f", PARTITION_BY ({_quote(partition_by)})" if partition_by else ""
        target = str(path / "data.parquet") if partition_by is None else str(path)
        if partition_by is None:
            path.mkdir()
        wh.raw.execute(f"COPY (SELECT * FROM {_quote(name)}) TO {_literal(target)} "
                       f"(FORMAT parquet{partition})")
    elif wh.engine == "spark":
        from medsynergy.engine.spark_engine import SparkWarehouse  # pyspark: only here

        assert isinstance(wh, SparkWarehouse)
        wh.export_parquet(name, path, partition_by)
    else:  # any other engine: through Arrow, in memory
        _write_arrow(wh.to_arrow(wh.table(name)), path, partition_by)


def _write_arrow(table: pa.Table, path: Path, partition_by: str | None) -> None:
    if partition_by is None:
        path.mkdir()
        pq.write_table(table, path / "data.parquet")
    else:
        pq.write_to_dataset(table, str(path), partition_cols=[partition_by])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- contract outcomes as tables ---------------------------------------------------------------

def outcome_tables(outcomes: Sequence[Any]) -> dict[str, pa.Table]:
    """The tabular form of reconciled contracts (`medsynergy.contracts.run.Outcome`):

    - contract_comparison: `comparison()`'s row per contract (as `compare` prints it);
    - contract_settlement: per contract, to_provider, to_payer and each allocation;
    - contract_steps: per contract, every step in order, its value as exact text (a step
      may be an amount, a rate, a count or a flag).
    """
    from medsynergy.contracts.run import comparison

    settlement: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for o in outcomes:
        r = o.result
        base = {"contract": r.contract, "model": r.model, "year": o.year}
        lines = [("to_provider", None, r.to_provider), ("to_payer", None, r.to_payer)]
        lines += [("allocation", party, amount) for party, amount in r.allocations]
        settlement += [{**base, "line": line, "party": party, "amount": amount}
                       for line, party, amount in lines]
        steps += [{**base, "step_number": i, "step": s.name, "value": _text(s.value),
                   "rule": s.rule, "source": s.source} for i, s in enumerate(r.steps, 1)]
    return {
        "contract_comparison": arrow_table(comparison(outcomes), ["contract", "model", "year"]),
        "contract_settlement": arrow_table(settlement, ["contract", "model", "year", "line",
                                                        "party", "amount"]),
        "contract_steps": arrow_table(steps, ["contract", "model", "year", "step_number",
                                              "step", "value", "rule", "source"]),
    }


def arrow_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = ()) -> pa.Table:
    """Rows as an Arrow table: every column any row has (`columns` first, for an empty
    table too), missing values null; a column of Decimals as decimal128 wide enough for
    every value at its largest scale, at least 2 (DECIMAL(18, s) when it fits, else
    (38, s))."""
    names = list(dict.fromkeys([*columns, *(k for r in rows for k in r)]))
    arrays = []
    for name in names:
        values = [r.get(name) for r in rows]
        decimals = [v for v in values if isinstance(v, Decimal)]
        if decimals:
            arrays.append(pa.array(values, _decimal_type(decimals)))
        elif any(v is not None for v in values):
            arrays.append(pa.array(values))
        else:  # no value to infer a type from: text
            arrays.append(pa.array(values, pa.string()))
    return pa.table(dict(zip(names, arrays, strict=True)))


def _decimal_type(values: Sequence[Decimal]) -> pa.Decimal128Type:
    # at least cents: a money column whose values happen to be whole (a corridor's 0) is
    # still DECIMAL(18,2), like the warehouse's money columns
    scale = max(2, *(-int(v.as_tuple().exponent) for v in values))
    digits = max(len(v.as_tuple().digits) + int(v.as_tuple().exponent) for v in values)
    precision = 18 if max(digits, 1) + scale <= 18 else 38
    return pa.decimal128(precision, scale)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
