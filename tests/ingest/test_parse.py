"""Value parsers on edge cases, evaluated by the engine (DuckDB here; Spark in tests/spark)."""

from __future__ import annotations

import datetime as dt

import ibis
import pyarrow as pa
import pytest

from medsynergy.ingest.parse import parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", dt.date(2024, 2, 29)),
        ("20240229", dt.date(2024, 2, 29)),
        ("2023-02-29", None),  # not a leap year
        ("0000-01-01", None),  # no year zero: Python dates could not hold it either
        ("00000101", None),
        ("0001-01-01", dt.date(1, 1, 1)),
        ("9999-12-31", dt.date(9999, 12, 31)),  # the usual open-ended span sentinel
        ("2024-01-01 GARBAGE", None),
        ("2024-01-01T10:00:00Z", dt.date(2024, 1, 1)),
    ],
)
def test_parse_date(text: str, expected: dt.date | None) -> None:
    t = ibis.memtable(pa.table({"v": [text]}))
    got = ibis.duckdb.connect().to_pyarrow(t.select(d=parse_date(t.v))).column("d").to_pylist()
    assert got == [expected]
