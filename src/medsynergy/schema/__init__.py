"""The canonical tables, defined once: columns, types, keys, grain and documentation."""

from __future__ import annotations

from medsynergy.schema._model import Column, Kind, Role, Table
from medsynergy.schema.claims import (
    CLAIMS_TABLES,
    ELIGIBILITY,
    MEDICAL_CLAIM,
    PHARMACY_CLAIM,
    PROVIDER,
)
from medsynergy.schema.clinical import (
    CARE_PLAN,
    CARE_TEAM,
    CLINICAL_TABLES,
    CONDITION,
    ENCOUNTER,
    MEDICATION,
    OBSERVATION,
    PROCEDURE,
)
from medsynergy.schema.system import (
    DQ_FINDING,
    LOAD_LOG,
    QUARANTINE,
    SOURCE_LOG,
    SYSTEM_TABLES,
    superseded_table,
)

# The tables ingest loads files into; each has a `<table>_superseded` companion.
INPUT_TABLES: tuple[Table, ...] = (*CLAIMS_TABLES, *CLINICAL_TABLES)
SUPERSEDED_TABLES: tuple[Table, ...] = tuple(superseded_table(t) for t in INPUT_TABLES)
ALL_TABLES: tuple[Table, ...] = (*INPUT_TABLES, *SUPERSEDED_TABLES, *SYSTEM_TABLES)
_BY_NAME = {t.name: t for t in ALL_TABLES}


def table(name: str) -> Table:
    """The canonical table called `name` (KeyError naming the known tables otherwise)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no canonical table {name!r}; known: {', '.join(_BY_NAME)}") from None


__all__ = [
    "ALL_TABLES",
    "CARE_PLAN",
    "CARE_TEAM",
    "CLAIMS_TABLES",
    "CLINICAL_TABLES",
    "CONDITION",
    "DQ_FINDING",
    "ELIGIBILITY",
    "ENCOUNTER",
    "INPUT_TABLES",
    "LOAD_LOG",
    "MEDICAL_CLAIM",
    "MEDICATION",
    "OBSERVATION",
    "PHARMACY_CLAIM",
    "PROCEDURE",
    "PROVIDER",
    "QUARANTINE",
    "SOURCE_LOG",
    "SUPERSEDED_TABLES",
    "SYSTEM_TABLES",
    "Column",
    "Kind",
    "Role",
    "Table",
    "superseded_table",
    "table",
]
