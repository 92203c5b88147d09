"""The warehouse's own tables: load_log, quarantine, dq_finding and the superseded versions.

Nothing is dropped silently (DESIGN.md, reliability): every input row ends in its table,
in `<table>_superseded` (an older version of a claim line, or a row a later load
replaced), or in `quarantine` with the rule that refused it; `load_log` reconciles the
counts of every file.
"""

from __future__ import annotations

from dataclasses import replace

from medsynergy.schema._model import Column, Kind, Role, Table

S, INT, T = Kind.STRING, Kind.INTEGER, Kind.TIMESTAMP
SYS = Role.SYSTEM

LOAD_LOG = Table(
    name="load_log",
    doc="One row per file load: its checksum and where every input row went.",
    grain="load_id",
    source="medsynergy",
    key=("load_id",),
    columns=(
        Column("load_id", S, "Identifier of the load.", role=SYS),
        Column("target_table", S, "The canonical table the file was loaded into.", role=SYS),
        Column("data_source", S, "The `--source` of the load.", role=SYS),
        Column("file_name", S, "Path of the file.", role=SYS),
        Column("file_sha256", S, "SHA-256 of the file's bytes: a file already loaded is skipped.", role=SYS),
        Column("status", S, "loaded, or replaced (a later `--replace` load took its place).", role=SYS),
        Column("rows_in", INT, "Data rows read from the file.", role=SYS),
        Column("rows_loaded", INT, "Rows written to the warehouse: rows_final + rows_superseded.", role=SYS),
        Column("rows_final", INT, "Rows that are the final version of their key after the load.", role=SYS),
        Column("rows_superseded", INT, "Rows kept as superseded versions (or reversals).", role=SYS),
        Column("rows_quarantined", INT, "Rows refused by an error rule. rows_in = rows_loaded + rows_quarantined.", role=SYS),
        Column("findings", INT, "Warnings recorded in dq_finding.", role=SYS),
        Column("started_at", T, "When the load started (UTC).", role=SYS),
        Column("finished_at", T, "When the load committed (UTC).", role=SYS),
    ),
)

QUARANTINE = Table(
    name="quarantine",
    doc="Rows an error rule refused, with the raw row so nothing is lost.",
    grain="load_id x file_name x row_number",
    source="medsynergy",
    key=("load_id", "file_name", "row_number"),
    columns=(
        Column("load_id", S, "The load.", role=SYS),
        Column("target_table", S, "The table the row was meant for.", role=SYS),
        Column("file_name", S, "The file.", role=SYS),
        Column("row_number", INT, "1-based data row in the file (header not counted); for a "
               "record refused at conversion, its line (NDJSON, CSV) or entry (Bundle) number.",
               role=SYS),
        Column("rule", S, "The first error rule the row broke.", role=SYS),
        Column("rules", S, "Every error rule the row broke, comma-separated.", role=SYS),
        Column("message", S, "What was wrong, naming the columns and values.", role=SYS),
        Column("raw_row", S, "The row as read, as a JSON object of column -> text.", role=SYS),
    ),
)

SOURCE_LOG = Table(
    name="source_log",
    doc=(
        "One row per source file x record type of a format load (FHIR, Synthea CSV, "
        "DE-SynPUF): how many records came in and what became of them. "
        "records_in = converted + quarantined + skipped. The converted rows then load "
        "through the ordinary ingest (load_log, per canonical table)."
    ),
    grain="load_id x file_name x record_type",
    source="medsynergy",
    columns=(
        Column("load_id", S, "The format load (joins quarantine rows refused at conversion).", role=SYS),
        Column("source_format", S, "fhir, synthea-csv or desynpuf.", role=SYS),
        Column("source_sha256", S, "SHA-256 over the source's files (names and bytes) and the "
               "format: the same source loaded again is recognised.", role=SYS),
        Column("data_source", S, "The `--source` of the load.", role=SYS),
        Column("file_name", S, "The source file.", role=SYS),
        Column("record_type", S, "FHIR resource type, CSV file kind or claim file type.", role=SYS),
        Column("records_in", INT, "Records of this type read from the file.", role=SYS),
        Column("converted", INT, "Records converted into canonical rows.", role=SYS),
        Column("quarantined", INT, "Records refused at conversion (in quarantine, with the reason).",
               role=SYS),
        Column("skipped", INT, "Records deliberately not converted (skipped_reason says why).", role=SYS),
        Column("skipped_reason", S, "Why records were skipped, e.g. a resource type medsynergy does "
               "not map.", role=SYS),
        Column("loaded_at", T, "When the format load ran (UTC).", role=SYS),
    ),
)

DQ_FINDING = Table(
    name="dq_finding",
    doc="Warnings: the row loaded, but a value is suspect.",
    grain="load_id x row_number x rule x column_name",
    source="medsynergy",
    columns=(
        Column("load_id", S, "The load.", role=SYS),
        Column("target_table", S, "The table the row was loaded into.", role=SYS),
        Column("file_name", S, "The file.", role=SYS),
        Column("row_number", INT, "1-based data row in the file.", role=SYS),
        Column("rule", S, "The warning rule.", role=SYS),
        Column("column_name", S, "The column with the suspect value.", role=SYS),
        Column("value", S, "The value as read.", role=SYS),
        Column("message", S, "What is suspect.", role=SYS),
    ),
)


def superseded_table(table: Table) -> Table:
    """`<table>_superseded`: earlier versions and reversals of keys, still queryable."""
    extra = (
        Column("superseded_reason", S,
               "replaced (a later version is final), reversal (a reversal line), or "
               "reversed (the line's latest version is a reversal, so it has no final row).",
               role=SYS),
    )
    return replace(
        table,
        name=f"{table.name}_superseded",
        doc=f"Superseded versions of {table.name} rows (see docs/ingest.md, claim adjustments).",
        grain=f"{table.grain} x version",
        key=(),
        version_order=(),
        columns=(*table.columns, *extra),
    )


SYSTEM_TABLES: tuple[Table, ...] = (LOAD_LOG, QUARANTINE, DQ_FINDING, SOURCE_LOG)
