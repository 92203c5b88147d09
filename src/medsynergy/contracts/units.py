"""Sums of a contract's units (Arrow compute: exact on DECIMAL columns, vectorised; the
rules then run in `Decimal` on a handful of totals)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc


def _decimal(value: object) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    # floats (risk scores) enter through their shortest repr, as typed in a file
    return Decimal(repr(value))


def column_sum(units: pa.Table, column: str) -> Decimal:
    """The exact sum of `column` (0 for no rows)."""
    return _decimal(pc.sum(units[column]).as_py())


def member_count(units: pa.Table) -> int:
    return int(units.num_rows)


def group_sums(units: pa.Table, key: str, columns: Sequence[str]
               ) -> dict[str | None, dict[str, Decimal]]:
    """Per value of `key`: the exact sum of each of `columns` and `count` (rows)."""
    if units.num_rows == 0:
        return {}
    g = units.group_by(key).aggregate([(c, "sum") for c in columns] + [(key, "count")])
    out: dict[str | None, dict[str, Decimal]] = {}
    for row in g.to_pylist():
        out[row[key]] = {c: _decimal(row[f"{c}_sum"]) for c in columns}
        out[row[key]]["count"] = Decimal(row[f"{key}_count"] if row[key] is not None
                                         else _null_count(units, key))
    return out


def _null_count(units: pa.Table, key: str) -> int:
    return int(units[key].null_count)
