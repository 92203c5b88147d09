"""The building blocks of the canonical schema: columns, tables and their types.

A table is defined once here and everything else is derived from it: the warehouse DDL
(DuckDB and Spark), the Ibis schema, the ingest casts and the generated ``docs/schema.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import ibis.expr.datatypes as dt


class Kind(StrEnum):
    """The logical type of a column; each maps to one warehouse type."""

    STRING = "string"
    DATE = "date"
    INTEGER = "integer"
    MONEY = "money"  # DECIMAL(18,2): exact, never float (DESIGN.md "Money is exact")
    QUANTITY = "quantity"  # DECIMAL(18,3): units and drug quantities can be fractional
    TIMESTAMP = "timestamp"


IBIS_TYPES: dict[Kind, dt.DataType] = {
    Kind.STRING: dt.String(),
    Kind.DATE: dt.Date(),
    Kind.INTEGER: dt.Int64(),
    Kind.MONEY: dt.Decimal(18, 2),
    Kind.QUANTITY: dt.Decimal(18, 3),
    Kind.TIMESTAMP: dt.Timestamp(),
}

SQL_TYPES: dict[Kind, str] = {
    Kind.STRING: "VARCHAR",
    Kind.DATE: "DATE",
    Kind.INTEGER: "BIGINT",
    Kind.MONEY: "DECIMAL(18,2)",
    Kind.QUANTITY: "DECIMAL(18,3)",
    Kind.TIMESTAMP: "TIMESTAMP",
}


class Role(StrEnum):
    """What a column is for, which decides how ingest treats it."""

    INPUT = "input"  # comes from the source file
    LINEAGE = "lineage"  # set by medsynergy at load time
    SYSTEM = "system"  # bookkeeping of the warehouse itself


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    doc: str
    required: bool = False  # an input row without it is quarantined (rule required_missing)
    role: Role = Role.INPUT
    code_system: str | None = None  # npi, icd-dx, icd-pcs, ndc: the shape checks that apply
    extension: bool = False  # True where medsynergy extends the Tuva input layer

    @property
    def ibis_type(self) -> dt.DataType:
        return IBIS_TYPES[self.kind]

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.kind]


@dataclass(frozen=True)
class Table:
    """A canonical table: columns in order, the key that identifies a row, and its grain."""

    name: str
    doc: str
    grain: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    # Ordering of the versions of one key, oldest first (claims: paid date, then adjustment
    # sequence). Empty: a later load replaces an earlier one with the same key.
    version_order: tuple[str, ...] = ()
    source: str = ""  # where the layout comes from
    date_pairs: tuple[tuple[str, str], ...] = field(default=())  # (start, end): end >= start

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"table {self.name}: duplicate column names")
        for k in (*self.key, *self.version_order):
            if k not in names:
                raise ValueError(f"table {self.name}: key column {k} is not a column")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.name} has no column {name}")

    @property
    def input_columns(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.role is Role.INPUT)

    @property
    def required_input_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.input_columns if c.required)

    def ibis_schema(self) -> dict[str, dt.DataType]:
        return {c.name: c.ibis_type for c in self.columns}

    def ddl(self, qualified_name: str | None = None) -> str:
        cols = ",\n  ".join(f"{c.name} {c.sql_type}" for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {qualified_name or self.name} (\n  {cols}\n)"


def lineage_columns() -> tuple[Column, ...]:
    """Every loaded row says where it came from (DESIGN.md: lineage on every row)."""
    return (
        Column("data_source", Kind.STRING, "Name of the source system or feed (`--source`).",
               required=True, role=Role.LINEAGE),
        Column("file_name", Kind.STRING, "Path of the file the row was loaded from.",
               role=Role.LINEAGE),
        Column("file_date", Kind.DATE, "Date of the source file, when the input carries it.",
               role=Role.INPUT),
        Column("ingest_datetime", Kind.TIMESTAMP, "When the load ran (UTC).", role=Role.LINEAGE),
        Column("load_id", Kind.STRING, "The load that wrote the row; joins `load_log`.",
               role=Role.LINEAGE, extension=True),
        Column("row_number", Kind.INTEGER,
               "1-based data row in the file (the header is not counted).",
               role=Role.LINEAGE, extension=True),
    )
