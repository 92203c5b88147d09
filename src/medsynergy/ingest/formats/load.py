"""Loading a source in another format (FHIR R4, Synthea CSV, DE-SynPUF) into the warehouse.

The converter turns the source into input-layer rows (`Converted`); each canonical table's
rows then load through the ordinary `ingest_file` (rules, quarantine, claim versions, one
atomic write per table), named after the source and carrying the source's checksum, so the
same source loaded again changes nothing and `--replace` reloads it. What the converter
could not convert is written beside: one `source_log` row per source file x record type
(records_in = converted + quarantined + skipped) and a `quarantine` row for every record
refused at conversion, with its file, line or entry, rule and raw text.

Each table loads atomically; a crash between two tables leaves the earlier tables loaded
and the source unrecorded in `source_log`, so running the same command again loads the
rest (the tables already loaded are recognised by checksum and skipped).
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq

from medsynergy.engine import Append, DeleteWhereIn, Warehouse
from medsynergy.errors import InputFileError
from medsynergy.ingest.formats import Converted, Count, Derived
from medsynergy.ingest.load import LoadResult, Progress, ingest_file, new_load_id
from medsynergy.schema import QUARANTINE, SOURCE_LOG

FORMATS: tuple[str, ...] = ("fhir", "synthea-csv", "desynpuf")
#: Bumped when a converter's output changes, so a source converted by an older version
#: is not mistaken for one already loaded.
CONVERTER_VERSION = "1"


@dataclass(frozen=True)
class FormatLoad:
    """What one format load did: the account of the source and each table's load."""

    source_format: str
    load_id: str
    status: str  # loaded, replaced, skipped
    files: tuple[str, ...]
    counts: tuple[Count, ...] = ()
    rejected: int = 0
    tables: tuple[LoadResult, ...] = ()
    derived: tuple[Derived, ...] = ()
    notes: tuple[str, ...] = ()
    convert_seconds: float = 0.0
    message: str = ""

    @property
    def records_in(self) -> int:
        return sum(c.records_in for c in self.counts)

    @property
    def converted(self) -> int:
        return sum(c.converted for c in self.counts)

    @property
    def quarantined(self) -> int:
        return sum(c.quarantined for c in self.counts)

    @property
    def skipped(self) -> int:
        return sum(c.skipped for c in self.counts)

    def skipped_by_type(self) -> dict[str, tuple[int, str]]:
        """record type -> (records skipped, the reasons)."""
        out: dict[str, tuple[int, set[str]]] = {}
        for c in self.counts:
            if c.skipped:
                n, reasons = out.get(c.record_type, (0, set()))
                out[c.record_type] = (n + c.skipped, reasons | {c.skipped_reason or ""})
        return {k: (n, "; ".join(sorted(r for r in reasons if r))) for k, (n, reasons)
                in sorted(out.items())}


def source_files(paths: Sequence[str | Path]) -> list[Path]:
    """Every file under `paths` (folders recursively), sorted: what the checksum covers."""
    files: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            files.extend(sorted(f for f in path.rglob("*") if f.is_file()
                                and not f.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise InputFileError(str(path), "no such file or folder")
    if not files:
        raise InputFileError(", ".join(str(p) for p in paths), "no files to load")
    return files


def source_sha256(files: Sequence[Path], source_format: str) -> str:
    h = hashlib.sha256(f"{source_format}|{CONVERTER_VERSION}".encode())
    for f in files:
        h.update(f.name.encode() + b"\0")
        with f.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def detect_format(paths: Sequence[str | Path]) -> str:
    """The source format of `paths`, when it is unambiguous: "fhir", "synthea-csv",
    "desynpuf" or "input-layer" (CSV/Parquet files in the input-layer layout)."""
    from medsynergy.ingest.formats.desynpuf import is_desynpuf
    from medsynergy.ingest.formats.fhir import is_fhir
    from medsynergy.ingest.formats.synthea_csv import is_synthea_csv

    found: set[str] = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            found.add("input-layer")  # the ordinary ingest names the missing file
            continue
        kinds = [name for name, test in (("synthea-csv", is_synthea_csv), ("desynpuf", is_desynpuf),
                                         ("fhir", is_fhir)) if test(path)]
        if len(kinds) > 1:
            raise InputFileError(str(path), f"could be {' or '.join(kinds)}: pass --format")
        found.add(kinds[0] if kinds else "input-layer")
    if len(found) != 1:
        raise InputFileError(", ".join(str(p) for p in paths),
                             f"mixes formats ({', '.join(sorted(found))}): load them separately")
    return found.pop()


def convert(source_format: str, paths: Sequence[Path], *, workers: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> Converted:
    if source_format == "fhir":
        from medsynergy.ingest.formats.fhir import convert_fhir
        return convert_fhir(list(paths), workers=workers, progress=progress)
    if source_format == "synthea-csv":
        from medsynergy.ingest.formats.synthea_csv import convert_synthea_csv
        if len(paths) != 1 or not Path(paths[0]).is_dir():
            raise InputFileError(", ".join(map(str, paths)),
                                 "a Synthea CSV export is loaded as one folder")
        return convert_synthea_csv(Path(paths[0]))
    if source_format == "desynpuf":
        from medsynergy.ingest.formats.desynpuf import convert_desynpuf
        return convert_desynpuf(list(paths))
    raise InputFileError(", ".join(map(str, paths)),
                         f"unknown format {source_format!r}; one of {', '.join(FORMATS)}")


def _earlier(wh: Warehouse, sha: str, source: str) -> list[str]:
    log = wh.table(SOURCE_LOG.name)
    rows = wh.to_arrow(log.filter((log.source_sha256 == sha) & (log.data_source == source))
                       .select("load_id").distinct().order_by("load_id"))
    return [str(v) for v in rows.column("load_id").to_pylist()]


def ingest_format(wh: Warehouse, paths: Sequence[str | Path], *, source: str,
                  source_format: str | None = None, replace: bool = False,
                  workers: int | None = None, progress: Progress | None = None,
                  files_progress: Callable[[int, int], None] | None = None) -> FormatLoad:
    """Convert the source at `paths` and load it (see the module docstring)."""
    say = progress or (lambda _msg: None)
    fmt = source_format or detect_format(paths)
    if fmt not in FORMATS:
        raise InputFileError(", ".join(map(str, paths)),
                             f"not a FHIR, Synthea CSV or DE-SynPUF source ({fmt})")
    files = source_files(paths)
    label = ", ".join(str(p) for p in paths)
    say(f"checksum {label}")
    sha = source_sha256(files, fmt)
    earlier = _earlier(wh, sha, source)
    if earlier and not replace:
        return FormatLoad(fmt, earlier[-1], "skipped", tuple(map(str, files)),
                          message=f"already loaded as {earlier[-1]} (same files); "
                                  "use --replace to load it again")

    started = time.perf_counter()
    say(f"converting {label} ({fmt})")
    converted = convert(fmt, [Path(p) for p in paths], workers=workers, progress=files_progress)
    seconds = time.perf_counter() - started
    if not converted.balanced():
        bad = [c for c in converted.counts if not c.balanced()]
        raise AssertionError(f"converter account does not balance: {bad[:3]}")  # internal error

    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    load_id = new_load_id(now)
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="medsynergy-") as tmp:
        for name in sorted(converted.tables):
            rows = converted.tables[name]
            if rows.num_rows == 0:
                continue
            staged = Path(tmp) / f"{name}.parquet"
            pq.write_table(rows, staged)
            table_sha = hashlib.sha256(f"{sha}|{name}".encode()).hexdigest()
            results.append(ingest_file(wh, staged, table=name, source=source, replace=replace,
                                       progress=say, file_label=f"{label} [{fmt} -> {name}]",
                                       sha256=table_sha))

    _record(wh, converted, fmt=fmt, sha=sha, source=source, load_id=load_id, now=now,
            replaced=earlier if replace else [])
    return FormatLoad(
        fmt, load_id, "replaced" if earlier and replace else "loaded", tuple(map(str, files)),
        counts=converted.counts, rejected=len(converted.rejected), tables=tuple(results),
        derived=converted.derived, notes=converted.notes, convert_seconds=seconds,
    )


def _record(wh: Warehouse, converted: Converted, *, fmt: str, sha: str, source: str,
            load_id: str, now: datetime, replaced: Sequence[str]) -> None:
    """The source_log rows and the conversion's quarantine rows, in one transaction."""
    counts = converted.counts
    log = pa.table({
        "load_id": pa.array([load_id] * len(counts), pa.string()),
        "source_format": pa.array([fmt] * len(counts), pa.string()),
        "source_sha256": pa.array([sha] * len(counts), pa.string()),
        "data_source": pa.array([source] * len(counts), pa.string()),
        "file_name": pa.array([c.file_name for c in counts], pa.string()),
        "record_type": pa.array([c.record_type for c in counts], pa.string()),
        "records_in": pa.array([c.records_in for c in counts], pa.int64()),
        "converted": pa.array([c.converted for c in counts], pa.int64()),
        "quarantined": pa.array([c.quarantined for c in counts], pa.int64()),
        "skipped": pa.array([c.skipped for c in counts], pa.int64()),
        "skipped_reason": pa.array([c.skipped_reason for c in counts], pa.string()),
        "loaded_at": pa.array([now] * len(counts), pa.timestamp("us")),
    })
    rej = converted.rejected
    quarantine = pa.table({
        "load_id": pa.array([load_id] * len(rej), pa.string()),
        "target_table": pa.array([f"{fmt}:{r.record_type}" for r in rej], pa.string()),
        "file_name": pa.array([r.file_name for r in rej], pa.string()),
        "row_number": pa.array([r.location for r in rej], pa.int64()),
        "rule": pa.array([r.rule for r in rej], pa.string()),
        "rules": pa.array([r.rule for r in rej], pa.string()),
        "message": pa.array([r.reason for r in rej], pa.string()),
        "raw_row": pa.array([r.raw for r in rej], pa.string()),
    })
    temporary = [f"_srclog_{load_id}", f"_srcq_{load_id}"]
    try:
        log_t = wh.stage_arrow(temporary[0], log)
        q_t = wh.stage_arrow(temporary[1], quarantine)
        writes: list[Append | DeleteWhereIn] = []
        if replaced:
            writes += [DeleteWhereIn(SOURCE_LOG.name, "load_id", tuple(replaced)),
                       DeleteWhereIn(QUARANTINE.name, "load_id", tuple(replaced))]
        writes += [Append(SOURCE_LOG.name, wh.conform(log_t, SOURCE_LOG.name)),
                   Append(QUARANTINE.name, wh.conform(q_t, QUARANTINE.name))]
        wh.apply(writes)
    finally:
        wh.drop_temporary(temporary)


def source_log_of(wh: Warehouse, load_id: str) -> pa.Table:
    """The source_log rows of one format load."""
    log = wh.table(SOURCE_LOG.name)
    return wh.to_arrow(log.filter(log.load_id == ibis.literal(load_id))
                       .order_by(["file_name", "record_type"]))
