"""Source formats other than the input layer (issue "FHIR R4 and CMS formats in").

A format converter reads a source (Synthea CSV export, CMS DE-SynPUF files, FHIR R4
bundles or Bulk Data NDJSON) and returns `Converted`: the rows of each canonical input
table in the input-layer layout (column names of `medsynergy.schema`, values as text, as
an input-layer file would hold them), and an account of every source record: how many
came in per file and record type, how many became rows, how many were quarantined (with
the rule, the reason and where) and how many were skipped (with the reason). The ordinary
ingest then loads those tables with its rules, quarantine and atomic write
(`medsynergy.ingest.formats.load`), so every mart runs on them unchanged.

A converter never drops dollars for a suspect value: it keeps the row and the value, and
the ordinary ingest records the finding. It refuses (quarantines) a record only when the
record cannot be placed: it does not parse, a required element is missing, a reference
cannot be resolved, or its amounts are in a currency other than USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from medsynergy.errors import MedsynergyError
from medsynergy.schema import table as canonical_table

#: The rules a converter refuses a record under (quarantine.rule).
SOURCE_RULES: dict[str, str] = {
    "source_unparsable": "The record is not valid JSON / CSV (a bad NDJSON line, a broken row).",
    "source_required_missing": "An element the record cannot be placed without is missing "
                               "(e.g. an EOB without a patient or billable period).",
    "source_reference_unresolved": "A reference the record needs (e.g. EOB.patient) points "
                                   "to no resource in the export.",
    "source_currency_unknown": "An amount is in a currency other than USD.",
    "source_value_invalid": "A value the record cannot be placed without does not parse "
                            "(e.g. an unreadable date).",
}


class RecordError(MedsynergyError):
    """A source record that cannot be converted; the converter quarantines it and goes on."""

    def __init__(self, rule: str, message: str) -> None:
        if rule not in SOURCE_RULES:
            raise ValueError(f"unknown source rule {rule!r}")
        self.rule = rule
        self.message = message
        super().__init__(f"{rule}: {message}")


@dataclass(frozen=True)
class Count:
    """What became of the records of one type in one source file."""

    file_name: str
    record_type: str  # e.g. "patients.csv row", "ExplanationOfBenefit", "inpatient claim"
    records_in: int
    converted: int
    quarantined: int = 0
    skipped: int = 0
    #: why records were skipped (e.g. "resource type not mapped: Immunization")
    skipped_reason: str | None = None

    def balanced(self) -> bool:
        return self.records_in == self.converted + self.quarantined + self.skipped


@dataclass(frozen=True)
class Rejected:
    """A source record that could not be converted: where it is and why."""

    file_name: str
    #: 1-based line (NDJSON, CSV data row) or entry number (Bundle) of the record
    location: int
    record_type: str
    rule: str  # a key of SOURCE_RULES
    reason: str
    raw: str = ""  # the record as read (JSON text or the CSV row as a JSON object)


@dataclass(frozen=True)
class Derived:
    """Values a converter derived rather than read: table, column, how, and how many rows."""

    table: str
    column: str
    how: str
    rows: int


@dataclass(frozen=True)
class Converted:
    #: canonical input table name -> rows (input-layer columns, all pa.string())
    tables: Mapping[str, pa.Table]
    counts: tuple[Count, ...] = ()
    rejected: tuple[Rejected, ...] = ()
    derived: tuple[Derived, ...] = field(default=())
    #: free-text notes for the user (e.g. "eligibility spans derived from claims")
    notes: tuple[str, ...] = ()

    def balanced(self) -> bool:
        return all(c.balanced() for c in self.counts)


def rows_to_table(name: str, rows: Iterable[Mapping[str, str | None]]) -> pa.Table:
    """Rows (dicts of column -> text) as an all-string Arrow table with exactly the input
    columns of canonical table `name` (a key that is not a column of it raises: a typo in
    a converter must not silently lose a value)."""
    target = canonical_table(name)
    names = [c.name for c in target.columns
             if c.role.value == "input" or c.name == "data_source"]
    known = set(names)
    cols: dict[str, list[str | None]] = {n: [] for n in names}
    for row in rows:
        extra = set(row) - known
        if extra:
            raise KeyError(f"{name}: not input columns: {', '.join(sorted(extra))}")
        for c in names:
            cols[c].append(row.get(c))
    return pa.table({c: pa.array(v, pa.string()) for c, v in cols.items()})


def columns_to_table(name: str, columns: Mapping[str, Sequence[str | None] | pa.Array]) -> pa.Table:
    """Like `rows_to_table` from columns (all the same length); absent columns are null."""
    target = canonical_table(name)
    names = [c.name for c in target.columns
             if c.role.value == "input" or c.name == "data_source"]
    extra = set(columns) - set(names)
    if extra:
        raise KeyError(f"{name}: not input columns: {', '.join(sorted(extra))}")
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"{name}: columns of different lengths {sorted(lengths)}")
    n = lengths.pop() if lengths else 0
    out: dict[str, pa.Array] = {}
    for c in names:
        v = columns.get(c)
        if v is None:
            out[c] = pa.nulls(n, pa.string())
        elif isinstance(v, pa.Array | pa.ChunkedArray):
            out[c] = v.cast(pa.string())
        else:
            out[c] = pa.array(list(v), pa.string())
    return pa.table(out)


__all__ = [
    "SOURCE_RULES",
    "Converted",
    "Count",
    "Derived",
    "RecordError",
    "Rejected",
    "columns_to_table",
    "rows_to_table",
]
