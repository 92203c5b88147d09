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

from medsynergy.engine import Append, DeleteMatching, DeleteWhereIn, Warehouse
from medsynergy.errors import InputFileError, MissingColumnsError
from medsynergy.ingest import sources
from medsynergy.ingest.adjustments import CONTENT, collapse
from medsynergy.ingest.parse import clean
from medsynergy.ingest.rules import Check, table_checks, typed_value
from medsynergy.schema import (
    DQ_FINDING,
    INPUT_TABLES,
    LOAD_LOG,
    QUARANTINE,
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
    """The cleaned text of every input column (null where the file lacks the column)."""
    texts: dict[str, ir.StringValue] = {}
    for col in table.columns:
        if col.name == "data_source" and source is not None:
            texts[col.name] = ibis.literal(source)
        elif col.role is Role.INPUT or col.name == "data_source":
            texts[col.name] = clean(raw[col.name]) if col.name in raw.columns else ibis.null("string")
    return texts


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
    engine (each engine's to_json formats differently).
    """
    picked = wh.to_arrow(raw.semi_join(rows, "row_number").order_by("row_number"))
    numbers = picked.column("row_number").to_pylist()
    data = picked.drop_columns(["row_number"]).to_pylist()
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
            raw = wh.stage_batches(staged, text.reader())
        except Exception as exc:
            if text.error is not None:
                raise text.error from exc
            raise
        rows_in = wh.count(staged)

        say(f"checking {path.name}")
        texts = _texts(target, raw, source)
        values = {name: typed_value(target.column(name), t) for name, t in texts.items()}
        # A check on a column the file lacks is a constant: it can never be broken.
        checks = [c for c in table_checks(target, texts, values) if isinstance(c.broken, ir.Column)]
        lineage = {
            "file_name": ibis.literal(file_name),
            "load_id": ibis.literal(load_id),
            "ingest_datetime": ibis.literal(started, type="timestamp"),
            "row_number": raw.row_number,
        }
        content = ibis.literal("\x1f").join(
            [texts[c].fill_null("\x00") for c in sorted(texts) if c != "data_source"]
        ).hash()
        # One pass types every value and evaluates every check; later steps read its flags.
        errors_ = [c for c in checks if c.is_error]
        warns = [c for c in checks if not c.is_error]
        first_error = ibis.cases(*((c.broken, ibis.literal(c.rule.name)) for c in errors_),
                                 else_=ibis.null("string")) if errors_ else ibis.null("string")
        temporary.append(f"_checked_{load_id}")
        checked = wh.materialize(temporary[-1], raw.select(
            **{c.name: (values[c.name] if c.name in values else lineage[c.name]).cast(c.ibis_type)
               for c in target.columns},
            **{CONTENT: content, ERROR_RULE: first_error},
            **{f"_w{i}": c.broken for i, c in enumerate(warns)},
        ))
        typed = checked.filter(checked[ERROR_RULE].isnull())
        bad = checked.filter(checked[ERROR_RULE].notnull()).select("row_number")
        temporary.append(f"_errors_{load_id}")
        errors = wh.materialize(temporary[-1], raw.semi_join(bad, "row_number").select(
            "row_number", rule=_first_error(checks, "rule"), rules=_first_error(checks, "rules"),
            message=_first_error(checks, "message"),
        ))

        say(f"collapsing versions of {target.name}")
        replaced = earlier if replace else []
        col = collapse(wh, target, typed.select(*target.column_names, CONTENT), load_id, replaced)
        temporary.extend(col.temporary)
        dups = col.duplicates.select("row_number", "rule", rules=col.duplicates.rule,
                                     message=col.duplicates.message)
        temporary.append(f"_quarantined_{load_id}")
        quarantined = wh.materialize(temporary[-1], errors.union(dups))

        # Findings on the rows that loaded; the flags say which checks fired, and the
        # messages are built for the flagged rows only.
        fired: list[tuple[int, Check]] = []
        if warns:
            sums = typed.aggregate([typed[f"_w{i}"].cast("int64").sum().name(f"c{i}")
                                    for i in range(len(warns))])
            counts = wh.to_arrow(sums).to_pylist()[0]
            fired = [(i, c) for i, c in enumerate(warns) if (counts[f"c{i}"] or 0) > 0]
        findings: ir.Table | None = None
        for i, c in fired:
            flagged = typed.filter(typed[f"_w{i}"]).select("row_number").anti_join(dups, "row_number")
            rows = raw.semi_join(flagged, "row_number")
            part = rows.select(
                "row_number", rule=ibis.literal(c.rule.name), column_name=ibis.literal(c.column),
                value=texts[c.column], message=c.message,
            )
            findings = part if findings is None else findings.union(part)

        temporary.append(f"_qraw_{load_id}")
        qraw = _raw_json(wh, raw, quarantined, temporary[-1])
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

        final_in = col.final.filter(col.final.load_id == load_id)
        sup_in = col.superseded.filter(col.superseded.load_id == load_id)
        rows_final = int(wh.scalar(final_in.count()))
        rows_superseded = int(wh.scalar(sup_in.count()))
        q_by_rule = _counts(wh, quarantined, "rule")
        f_by_rule = _counts(wh, f_rows, "rule") if f_rows is not None else {}
        rows_quarantined = sum(q_by_rule.values())
        n_findings = sum(f_by_rule.values())
        if rows_in != rows_final + rows_superseded + rows_quarantined:
            raise AssertionError(  # an internal error: the counts must reconcile
                f"{file_name}: {rows_in} rows in but {rows_final} final + {rows_superseded} "
                f"superseded + {rows_quarantined} quarantined"
            )

        finished = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
        log_row = pa.table({
            "load_id": [load_id], "target_table": [target.name],
            "data_source": [source if source is not None else _single_source(wh, typed)],
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
        writes: list[Append | DeleteMatching | DeleteWhereIn] = [
            DeleteMatching(target.name, col.touched_keys, target.key),
            DeleteMatching(sup.name, col.touched_keys, target.key),
        ]
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
        writes += [
            Append(target.name, wh.conform(col.final, target.name)),
            Append(sup.name, wh.conform(col.superseded, sup.name)),
            Append(QUARANTINE.name, wh.conform(q_rows, QUARANTINE.name)),
        ]
        if f_rows is not None:
            writes.append(Append(DQ_FINDING.name, wh.conform(f_rows, DQ_FINDING.name)))
        writes.append(Append(LOAD_LOG.name, wh.conform(log_new, LOAD_LOG.name)))
        say(f"writing {target.name}")
        wh.apply(writes)
    finally:
        wh.drop_temporary(temporary)

    return LoadResult(
        file_name, target.name, load_id, "replaced" if replaced else "loaded",
        rows_in=rows_in, rows_final=rows_final, rows_superseded=rows_superseded,
        rows_quarantined=rows_quarantined, findings=n_findings,
        quarantined_by_rule=q_by_rule, findings_by_rule=f_by_rule, ignored_columns=ignored,
    )


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
