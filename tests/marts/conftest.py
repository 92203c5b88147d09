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


def memtable(types: dict[str, pa.DataType], data: Sequence[dict[str, Any]]) -> ibis.Table:
    """A table of `types` holding `data`: dates as 'YYYY-MM-DD', money as str/int/Decimal;
    columns not given are null (for mart-shaped inputs that are not canonical tables)."""
    cols: dict[str, list[Any]] = {c: [] for c in types}
    for r in data:
        unknown = set(r) - set(types)
        if unknown:
            raise KeyError(f"unknown columns {sorted(unknown)}")
        for c, ty in types.items():
            v = r.get(c)
            if v is not None and pa.types.is_date(ty) and isinstance(v, str):
                v = dt.date.fromisoformat(v)
            if v is not None and pa.types.is_decimal(ty) and not isinstance(v, Decimal):
                v = Decimal(str(v))
            cols[c].append(v)
    return ibis.memtable(pa.table({c: pa.array(v, type=types[c]) for c, v in cols.items()}))


def table(con: ibis.BaseBackend, name: str, rows: Sequence[dict[str, Any]]) -> ibis.Table:
    """A canonical table `name` holding `rows`; columns not given are null."""
    del con  # memtables run on whichever backend executes the expression
    schema = TABLES[name].ibis_schema()
    return memtable({c: kind.to_pyarrow() for c, kind in schema.items()}, rows)


def rows(con: ibis.BaseBackend, expr: ibis.Table, columns: Sequence[str] | None = None,
         order: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of `expr` as dicts (only `columns`, sorted by `order` when given)."""
    t = expr.select(*columns) if columns else expr
    if order:
        t = t.order_by(list(order))
    return list(con.to_pyarrow(t).to_pylist())


@pytest.fixture
def spark() -> ibis.BaseBackend:
    """An Ibis backend on the local Spark session. Java is installed by the Makefile: an
    unavailable engine is a failure, not a skip."""
    pytest.importorskip("pyspark")
    from medsynergy.engine.spark_engine import local_session

    return ibis.pyspark.connect(local_session())
