"""`medsynergy ingest --format fhir|synthea-csv|desynpuf`: running a format load and
printing its account (records in = converted + quarantined + skipped, by record type, then
each canonical table's load)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from medsynergy.cli import Format, _emit, _open, _result_row, err, out, print_load_totals
from medsynergy.ingest.formats.load import FormatLoad, ingest_format


def run_format_ingest(paths: Sequence[str], *, source_format: str, source: str, replace: bool,
                      workers: int | None = None, quiet: bool = False) -> FormatLoad:
    with _open() as wh, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err, transient=True, disable=quiet or not err.is_terminal,
    ) as progress:
        task = progress.add_task(f"{source_format}", total=None)

        def step(msg: str) -> None:
            progress.update(task, description=msg)

        def files(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return ingest_format(wh, list(paths), source=source, source_format=source_format,
                             replace=replace, workers=workers, progress=step,
                             files_progress=files)


def account_rows(loaded: FormatLoad) -> list[dict[str, Any]]:
    """One row per record type: records in, converted, quarantined, skipped, why skipped."""
    by_type: dict[str, dict[str, Any]] = {}
    for c in loaded.counts:
        row = by_type.setdefault(c.record_type, {
            "record_type": c.record_type, "files": 0, "records_in": 0, "converted": 0,
            "quarantined": 0, "skipped": 0, "skipped_reason": set()})
        row["files"] += 1
        for k in ("records_in", "converted", "quarantined", "skipped"):
            row[k] += getattr(c, k)
        if c.skipped_reason:
            row["skipped_reason"].add(c.skipped_reason)
    rows = []
    for key in sorted(by_type):
        row = by_type[key]
        row["skipped_reason"] = "; ".join(sorted(row["skipped_reason"]))
        rows.append(row)
    return rows


def print_format_load(loaded: FormatLoad, output: Format) -> None:
    # by value: run as `python -m medsynergy.cli`, the caller's Format is the __main__
    # module's copy of the enum, not this import's
    output = Format(output.value)
    if output is not Format.table:
        _emit([{"source_format": loaded.source_format, "load_id": loaded.load_id,
                "status": loaded.status, "records_in": loaded.records_in,
                "converted": loaded.converted, "quarantined": loaded.quarantined,
                "skipped": loaded.skipped, "convert_seconds": round(loaded.convert_seconds, 3),
                "by_record_type": account_rows(loaded),
                "tables": [_result_row(r) for r in loaded.tables],
                "derived": [vars(d) for d in loaded.derived],
                "notes": list(loaded.notes), "message": loaded.message}], output, "Load")
        return
    if loaded.status == "skipped":
        out.print(f"[yellow]{loaded.message}[/yellow]")
        return
    _emit(account_rows(loaded), output, f"Source records ({loaded.source_format})",
          ["record_type", "files", "records_in", "converted", "quarantined", "skipped",
           "skipped_reason"])
    out.print(f"records in {loaded.records_in:,} = converted {loaded.converted:,} + quarantined "
              f"{loaded.quarantined:,} + skipped {loaded.skipped:,} "
              f"(converted in {loaded.convert_seconds:.1f} s)")
    for d in loaded.derived:
        out.print(f"derived: {d.table}.{d.column} for {d.rows:,} rows: {d.how}")
    for note in loaded.notes:
        out.print(f"note: {note}")
    results = list(loaded.tables)
    _emit([_result_row(r) for r in results], output, "Loads",
          ["target_table", "status", "rows_in", "rows_loaded", "rows_quarantined", "findings",
           "load_id"])
    print_load_totals(results)
