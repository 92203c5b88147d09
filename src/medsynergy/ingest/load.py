"""Loading one file into the warehouse: stage, check, collapse, then write atomically.

A file loads entirely or not at all. Loading a file whose bytes were already loaded
(same SHA-256, table and source) changes nothing; `replace=True` takes the earlier load
out and loads the file again, in the same atomic step. Every input row is accounted for:
rows_in = rows_loaded (final + superseded) + rows_quarantined.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import ibis
import ibis.expr.types as ir
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.engine import Append, DeleteMatching, DeleteWhereIn, Warehouse
from medsynergy.errors import InputFileError, MissingColumnsError, UnreadableFileError
from medsynergy.ingest import sources
from medsynergy.ingest.adjustments import (
    CONTENT,
    IS_REVERSAL,
    KEY_HASH,
    Incoming,
    collapse,
    reversal,
    version_columns,
)
from medsynergy.ingest.parse import clean
from medsynergy.ingest.rules import Check, table_checks, typed_value
from medsynergy.schema import (
    DQ_FINDING,
    INPUT_TABLES,
    LOAD_LOG,
    QUARANTINE,
    Column,
    Kind,
    Role,
    Table,
    superseded_table,
)
from medsynergy.schema import table as canonical_table

Progress = Callable[[str], None]
ERROR_RULE = "_error_rule"  # the first error rule a row broke; null for a usable row


@dataclass(frozen=True)
class LoadResult:
    file_name: str
    target_table: str
    load_id: str
    status: str  # loaded, replaced (loaded in place of an earlier load), skipped
    rows_in: int = 0
    rows_final: int = 0
    rows_superseded: int = 0
    rows_quarantined: int = 0
    findings: int = 0
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    findings_by_rule: dict[str, int] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    message: str = ""

    @property
    def rows_loaded(self) -> int:
        return self.rows_final + self.rows_superseded

    @property
    def reconciles(self) -> bool:
        return self.status == "skipped" or self.rows_in == self.rows_loaded + self.rows_quarantined


def new_load_id(now: datetime) -> str:
    return f"L{now:%Y%m%d%H%M%S}_{uuid.uuid4().hex[:8]}"


def previous_loads(wh: Warehouse, sha: str, table: str, data_source: str | None) -> list[str]:
    log = wh.table(LOAD_LOG.name)
    cond = (log.file_sha256 == sha) & (log.target_table == table) & (log.status == "loaded")
    if data_source is not None:
        cond = cond & (log.data_source == data_source)
    rows = wh.to_arrow(log.filter(cond).select("load_id").order_by("load_id"))
    return [str(v) for v in rows.column("load_id").to_pylist()]


def _texts(table: Table, raw: ir.Table, source: str | None) -> dict[str, ir.StringValue]:
    """The cleaned text of every input column (null where the file lacks the column).

    A native Parquet column's text is its value written out (no blank to trim)."""
    texts: dict[str, ir.StringValue] = {}
    for col in table.columns:
        if col.name == "data_source" and source is not None:
            texts[col.name] = ibis.literal(source)
        elif col.role is Role.INPUT or col.name == "data_source":
            if col.name not in raw.columns:
                texts[col.name] = ibis.null("string")
            elif raw[col.name].type().is_string():
                texts[col.name] = clean(raw[col.name])
            else:
                texts[col.name] = raw[col.name].cast("string")
    return texts


def _native_values(table: Table, raw: ir.Table) -> dict[str, ir.Value]:
    """Typed values taken as they are from native Parquet columns (sources.native_type)
    where the column's kind admits them without loss: a date for a date, an integer for
    an integer, a decimal of at most 2 (amounts) or 3 (quantities) places, or an integer,
    for a number. TRY_CAST: a value out of range is null, and the parse check reports it
    as for a text that does not parse. Any other column goes through its text."""
    out: dict[str, ir.Value] = {}
    for col in table.columns:
        if col.role is not Role.INPUT or col.name not in raw.columns:
            continue
        typ = raw[col.name].type()
        ok = ((col.kind is Kind.DATE and typ.is_date())
              or (col.kind is Kind.INTEGER and typ.is_integer())
              or (col.kind in (Kind.MONEY, Kind.QUANTITY)
                  and (typ.is_integer() or (typ.is_decimal() and typ.scale is not None
                                            and typ.scale <= (2 if col.kind is Kind.MONEY else 3)))))
        if ok:
            out[col.name] = raw[col.name].try_cast(col.ibis_type)
    return out


def _first_error(checks: Sequence[Check], what: str) -> ir.Value:
    errors = [c for c in checks if c.is_error]
    if what == "rule":
        return ibis.cases(*((c.broken, ibis.literal(c.rule.name)) for c in errors),
                          else_=ibis.null("string"))
    parts = [ibis.ifelse(c.broken, ibis.literal(c.rule.name) if what == "rules" else c.message,
                         ibis.null("string")) for c in errors]
    return ibis.literal(", " if what == "rules" else "; ").join(parts)


def _raw_json(wh: Warehouse, raw: ir.Table, rows: ir.Table, name: str) -> ir.Table:
    """Staged (row_number, raw_row): the quarantined rows as read, as JSON objects.

    Built in Python from the few quarantined rows only, so the text is the same on every
    engine (each engine's to_json formats differently). Native Parquet columns are
    written as their text, as every value of a CSV is.
    """
    picked = wh.to_arrow(raw.semi_join(rows, "row_number").order_by("row_number"))
    numbers = picked.column("row_number").to_pylist()
    picked = picked.drop_columns(["row_number"])
    picked = pa.table([c if c.type == pa.string() else pc.cast(c, pa.string())
                       for c in picked.columns], names=picked.column_names)
    data = picked.to_pylist()
    texts = [orjson.dumps(d).decode() for d in data]
    return wh.stage_arrow(name, pa.table({"row_number": pa.array(numbers, pa.int64()),
                                          "raw_row": pa.array(texts, pa.string())}))


def ingest_file(wh: Warehouse, path: str | Path, *, table: str | None = None,
                source: str | None = None, replace: bool = False,
                progress: Progress | None = None, file_label: str | None = None,
                sha256: str | None = None) -> LoadResult:
    """Load one CSV or Parquet file in the input-layer layout into `table`.

    A format converter (FHIR, Synthea CSV, DE-SynPUF) stages its rows as a Parquet file
    and names the source instead (`file_label`), with the checksum of the source it was
    converted from (`sha256`), so a second load of the same source is recognised.
    """
    say = progress or (lambda _msg: None)
    path = Path(path)
    if not path.is_file():
        raise InputFileError(str(path), "no such file")
    text = sources.open_text(path)
    target = canonical_table(table) if table else sources.detect_table(path, text.columns)
    if target not in INPUT_TABLES:
        raise InputFileError(str(path), f"{target.name} is not an input table")
    required = [c for c in target.required_input_columns if c != "data_source"]
    missing = [c for c in required if c not in text.columns]
    if missing:
        raise MissingColumnsError(str(path), target.name, missing)
    if source is None and "data_source" not in text.columns:
        raise InputFileError(str(path), "no data_source column: pass --source NAME")
    known = set(target.column_names)
    ignored = tuple(c for c in text.columns if c not in known)

    file_name = file_label or str(path)
    say(f"checksum {path.name}")
    sha = sha256 or sources.sha256_of(path)
    earlier = previous_loads(wh, sha, target.name, source)
    if earlier and not replace:
        return LoadResult(file_name, target.name, earlier[-1], "skipped",
                          message=f"already loaded as {earlier[-1]} (same SHA-256); "
                                  "use --replace to load it again")

    started = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    load_id = new_load_id(started)
    staged = f"_raw_{load_id}"
    temporary = [staged]
    try:
        say(f"reading {path.name}")
        try:
            if text.source_names:  # Parquet: the engine may read the file in place
                columns = [(src, c, c not in text.native)
                           for src, c in zip(text.source_names, text.columns, strict=True)]
                raw = wh.stage_parquet(staged, str(path), columns, text.reader)
            else:
                raw = wh.stage_batches(staged, text.reader())
            rows_in = wh.count(staged)
        except Exception as exc:
            if text.error is not None:
                raise text.error from exc
            raise
        say(f"checking {path.name}")
        try:
            return _load(wh, target, raw, rows_in, file_name=file_name, sha=sha, source=source,
                         replace=replace, earlier=earlier, load_id=load_id, started=started,
                         ignored=ignored, temporary=temporary, say=say)
        except Exception as exc:
            if text.error is not None:
                raise text.error from exc
            if text.source_names and (reason := _parquet_damage(path)) is not None:
                raise UnreadableFileError(str(path), f"unreadable Parquet file: {reason}") from exc
            raise
    finally:
        wh.drop_temporary(temporary)


def _parquet_damage(path: Path) -> str | None:
    """Why a Parquet file the engine read in place cannot be read, or None if it can.

    Only on the error path: a file damaged past its footer (which sources.read_columns
    has read) fails inside the engine, in the engine's words; reading it through Arrow
    tells that damage from any other error, which is raised as it is."""
    import pyarrow.parquet as pq

    try:
        for _ in pq.ParquetFile(str(path)).iter_batches():
            pass
    except (pa.ArrowException, OSError) as exc:
        return str(exc)
    return None


def _load(wh: Warehouse, target: Table, raw: ir.Table, rows_in: int, *, file_name: str,
          sha: str, source: str | None, replace: bool, earlier: list[str], load_id: str,
          started: datetime, ignored: tuple[str, ...], temporary: list[str],
          say: Progress) -> LoadResult:
    """Check, collapse and write the staged rows `raw` of one file (ingest_file)."""
    staged_raw = raw
    raw, texts, values, native = _typed(target, raw, source)
    checks = live_checks(target, texts, values, native)
    lineage = {
        "file_name": ibis.literal(file_name),
        "load_id": ibis.literal(load_id),
        "ingest_datetime": ibis.literal(started, type="timestamp"),
        "row_number": raw.row_number,
    }

    def typed(c: Column) -> ir.Value:
        return (values[c.name] if c.name in values else lineage[c.name]).cast(c.ibis_type)

    errors_ = [c for c in checks if c.is_error]
    warns = [c for c in checks if not c.is_error]
    first_error = ibis.cases(*((c.broken, ibis.literal(c.rule.name)) for c in errors_),
                             else_=ibis.null("string")) if errors_ else ibis.null("string")
    # One narrow pass evaluates every check; later steps read its flags. The typed rows
    # themselves are not stored here: they are computed again from the file as they are
    # written (`wide`), so a large file is copied once, into its table, as by a bare copy.
    key = list(target.key)
    temporary.append(f"_checked_{load_id}")
    checked = wh.materialize(temporary[-1], raw.select(
        "row_number", **{ERROR_RULE: first_error, KEY_HASH: _key_hash([typed(target.column(k))
                                                                      for k in key])},
        **{IS_REVERSAL: reversal(values.get("adjustment_type_code"))},
        **_warn_masks(warns),
    ))
    good = checked.filter(checked[ERROR_RULE].isnull())
    bad = checked.filter(checked[ERROR_RULE].notnull()).select("row_number")
    temporary.append(f"_errors_{load_id}")
    errors = wh.materialize(temporary[-1], raw.semi_join(bad, "row_number").select(
        "row_number", rule=_first_error(checks, "rule"), rules=_first_error(checks, "rules"),
        message=_first_error(checks, "message"),
    ))
    wide = raw.select(**{c.name: typed(c) for c in target.columns}).anti_join(bad, "row_number")
    content = ibis.literal("\x1f").join(
        [texts[c].fill_null("\x00") for c in sorted(texts) if c != "data_source"]).hash()
    vcols = list(dict.fromkeys([*key, *version_columns(target)]))
    versions = raw.select(
        "row_number", load_id=lineage["load_id"],
        **{c: typed(target.column(c)) for c in vcols if c not in ("row_number", "load_id")},
        **{IS_REVERSAL: reversal(values.get("adjustment_type_code")), CONTENT: content},
    ).anti_join(bad, "row_number")

    say(f"collapsing versions of {target.name}")
    replaced = earlier if replace else []
    col = collapse(wh, target, Incoming(wide, versions, good), load_id, replaced)
    temporary.extend(col.temporary)
    dups = col.duplicates.select("row_number", "rule", rules=col.duplicates.rule,
                                 message=col.duplicates.message)
    if col.fresh:
        quarantined = errors
    else:
        temporary.append(f"_quarantined_{load_id}")
        quarantined = wh.materialize(temporary[-1], errors.union(dups))

    # Findings on the rows that loaded; the flags say which checks fired, and the
    # messages are built for the flagged rows only.
    fired: list[tuple[int, Check]] = []
    if warns:
        sums = good.aggregate([_warned(good, i).cast("int64").sum().name(f"c{i}")
                               for i in range(len(warns))])
        counts = wh.to_arrow(sums).to_pylist()[0]
        fired = [(i, c) for i, c in enumerate(warns) if (counts[f"c{i}"] or 0) > 0]
    findings: ir.Table | None = None
    for i, c in fired:
        flagged = good.filter(_warned(good, i)).select("row_number")
        if not col.fresh:
            flagged = flagged.anti_join(dups, "row_number")
        rows = raw.semi_join(flagged, "row_number")
        part = rows.select(
            "row_number", rule=ibis.literal(c.rule.name), column_name=ibis.literal(c.column),
            value=texts[c.column], message=c.message,
        )
        findings = part if findings is None else findings.union(part)

    temporary.append(f"_qraw_{load_id}")
    qraw = _raw_json(wh, staged_raw, quarantined, temporary[-1])
    q_rows = quarantined.join(qraw, "row_number").select(
        load_id=ibis.literal(load_id), target_table=ibis.literal(target.name),
        file_name=ibis.literal(file_name), row_number=quarantined.row_number,
        rule=quarantined.rule, rules=quarantined.rules, message=quarantined.message,
        raw_row=qraw.raw_row,
    )
    temporary.append(f"_findings_{load_id}")
    f_rows = None
    if findings is not None:
        f_rows = wh.materialize(temporary[-1], findings.select(
            load_id=ibis.literal(load_id), target_table=ibis.literal(target.name),
            file_name=ibis.literal(file_name), row_number=findings.row_number,
            rule=findings.rule, column_name=findings.column_name, value=findings.value,
            message=findings.message,
        ))

    q_by_rule = _counts(wh, quarantined, "rule")
    rows_quarantined = sum(q_by_rule.values())
    if col.fresh:  # every row without an error is final
        rows_final, rows_superseded = rows_in - rows_quarantined, 0
    else:
        final_in = col.final.filter(col.final.load_id == load_id)
        sup_in = col.superseded.filter(col.superseded.load_id == load_id)
        rows_final = int(wh.scalar(final_in.count()))
        rows_superseded = int(wh.scalar(sup_in.count()))
    f_by_rule = _counts(wh, f_rows, "rule") if f_rows is not None else {}
    n_findings = sum(f_by_rule.values())
    if rows_in != rows_final + rows_superseded + rows_quarantined:
        raise AssertionError(  # an internal error: the counts must reconcile
            f"{file_name}: {rows_in} rows in but {rows_final} final + {rows_superseded} "
            f"superseded + {rows_quarantined} quarantined"
        )

    finished = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    log_row = pa.table({
        "load_id": [load_id], "target_table": [target.name],
        "data_source": [source if source is not None else _single_source(wh, wide)],
        "file_name": [file_name], "file_sha256": [sha], "status": ["loaded"],
        "rows_in": [rows_in], "rows_loaded": [rows_final + rows_superseded],
        "rows_final": [rows_final], "rows_superseded": [rows_superseded],
        "rows_quarantined": [rows_quarantined], "findings": [n_findings],
        "started_at": pa.array([started], pa.timestamp("us")),
        "finished_at": pa.array([finished], pa.timestamp("us")),
    })
    temporary.append(f"_log_{load_id}")
    log_new = wh.stage_arrow(temporary[-1], log_row)

    sup = superseded_table(target)
    writes: list[Append | DeleteMatching | DeleteWhereIn] = []
    if not col.fresh:  # a fresh load's keys are in neither table
        writes += [DeleteMatching(target.name, col.touched_keys, target.key),
                   DeleteMatching(sup.name, col.touched_keys, target.key)]
    if replaced:
        log = wh.table(LOAD_LOG.name)
        temporary.append(f"_oldlog_{load_id}")
        old_log = wh.materialize(temporary[-1], log.filter(log.load_id.isin(replaced))
                                 .mutate(status=ibis.literal("replaced")))
        writes += [
            DeleteWhereIn(target.name, "load_id", tuple(replaced)),
            DeleteWhereIn(sup.name, "load_id", tuple(replaced)),
            DeleteWhereIn(QUARANTINE.name, "load_id", tuple(replaced)),
            DeleteWhereIn(DQ_FINDING.name, "load_id", tuple(replaced)),
            DeleteWhereIn(LOAD_LOG.name, "load_id", tuple(replaced)),
            Append(LOAD_LOG.name, wh.conform(old_log, LOAD_LOG.name)),
        ]
    writes.append(Append(target.name, wh.conform(col.final, target.name)))
    if not col.fresh:
        writes.append(Append(sup.name, wh.conform(col.superseded, sup.name)))
    writes.append(Append(QUARANTINE.name, wh.conform(q_rows, QUARANTINE.name)))
    if f_rows is not None:
        writes.append(Append(DQ_FINDING.name, wh.conform(f_rows, DQ_FINDING.name)))
    writes.append(Append(LOAD_LOG.name, wh.conform(log_new, LOAD_LOG.name)))
    say(f"writing {target.name}")
    wh.apply(writes)

    return LoadResult(
        file_name, target.name, load_id, "replaced" if replaced else "loaded",
        rows_in=rows_in, rows_final=rows_final, rows_superseded=rows_superseded,
        rows_quarantined=rows_quarantined, findings=n_findings,
        quarantined_by_rule=q_by_rule, findings_by_rule=f_by_rule, ignored_columns=ignored,
    )


def _typed(target: Table, raw: ir.Table, source: str | None) -> tuple[
        ir.Table, dict[str, ir.StringValue], dict[str, ir.Value], frozenset[str]]:
    """`raw` with each column's cleaned text, then its typed value, as columns of nested
    selections; the texts and values as columns of it (literals where the file lacks the
    column); the columns whose value is native.

    Two levels so that each text is cleaned once and each value parsed once however many
    checks read it (an expression used by several checks was otherwise computed in each).
    """
    texts = _texts(target, raw, source)
    native = _native_values(target, raw)
    first = raw.select("row_number", **{f"_t_{n}": t for n, t in texts.items()
                                        if isinstance(t, ir.Column)},
                       **{f"_n_{n}": v for n, v in native.items()})
    texts = {n: first[f"_t_{n}"] if isinstance(t, ir.Column) else t for n, t in texts.items()}
    values = {n: first[f"_n_{n}"] if n in native else typed_value(target.column(n), t)
              for n, t in texts.items()}
    second = first.select("row_number", *(c for c in first.columns if c.startswith("_t_")),
                          **{f"_v_{n}": v for n, v in values.items() if isinstance(v, ir.Column)})
    texts = {n: second[f"_t_{n}"] if isinstance(t, ir.Column) else t for n, t in texts.items()}
    values = {n: second[f"_v_{n}"] if isinstance(v, ir.Column) else v for n, v in values.items()}
    return second, texts, values, frozenset(native)


def live_checks(target: Table, texts: dict[str, ir.StringValue], values: dict[str, ir.Value],
                native: frozenset[str]) -> list[Check]:
    """The checks of `target` that a file can break, in the order the load numbers them.

    A check on a column the file lacks can never be broken: its text is a null literal
    (a code's shape check still reads the declared code type, so it is a column
    expression, but one that is always false). Dropped, not evaluated on every row."""
    absent = {n for n, t in texts.items() if not isinstance(t, ir.Column)}
    return [c for c in table_checks(target, texts, values, native)
            if isinstance(c.broken, ir.Column) and c.column not in absent]


#: Warning flags per mask column: one bit each, below the sign bit of a BIGINT.
MASK_BITS = 62


def _warn_masks(warns: Sequence[Check]) -> dict[str, ir.IntegerValue]:
    """The warning flags of a row as bits of BIGINT columns `_wm0`, `_wm1`, ... (bit i of
    mask i // MASK_BITS is warning i), not one BOOLEAN column per warning: the check pass
    stores a row for every input row, and each stored column costs about as much to write
    as a column of the table itself (DuckDB 2.0: ~25 ns a value, null or not). A claim
    line has some 60 warning checks; they take one or two columns. A null flag (a check on
    a null value) is not set, as it was not counted before."""
    masks: dict[str, ir.IntegerValue] = {}
    for m in range(0, len(warns), MASK_BITS):
        bits = [ibis.ifelse(c.broken.fill_null(False), ibis.literal(1 << j, "int64"),
                            ibis.literal(0, "int64"))
                for j, c in enumerate(warns[m:m + MASK_BITS])]
        mask = bits[0]
        for b in bits[1:]:
            mask = mask | b
        masks[f"_wm{m // MASK_BITS}"] = mask
    return masks


def _warned(flags: ir.Table, i: int) -> ir.BooleanValue:
    """Whether warning i (of _warn_masks) fired on a row of the stored flags."""
    return ((flags[f"_wm{i // MASK_BITS}"] >> (i % MASK_BITS)) & 1) == 1


def _key_hash(parts: Sequence[ir.Value]) -> ir.IntegerValue:
    """A hash of a row's key: rows with equal keys have equal hashes (collapse's test of
    whether any key comes twice; a collision only sends a load down the general path)."""
    return ibis.literal("\x1f").join([p.cast("string").fill_null("\x00") for p in parts]).hash()


def _single_source(wh: Warehouse, typed: ir.Table) -> str:
    names = wh.to_arrow(typed.select("data_source").distinct().order_by("data_source"))
    values = [str(v) for v in names.column("data_source").to_pylist() if v is not None]
    return ",".join(values)


def _counts(wh: Warehouse, t: ir.Table, column: str) -> dict[str, int]:
    agg = wh.to_arrow(t.group_by(column).aggregate(n=t.count()).order_by(column))
    return {str(k): int(v) for k, v in zip(agg.column(column).to_pylist(),
                                            agg.column("n").to_pylist(), strict=True)}


def ingest_paths(wh: Warehouse, paths: Sequence[str | Path], *, table: str | None = None,
                 source: str | None = None, replace: bool = False,
                 progress: Progress | None = None) -> list[LoadResult]:
    """Load every file named by `paths` (files, folders, globs), each atomically."""
    return [ingest_file(wh, f, table=table, source=source, replace=replace, progress=progress)
            for f in sources.expand_paths(paths)]
