"""The `medsynergy` command line (Typer + rich).

Only this module (and the API) reads settings and opens connections. A user error prints
one line on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table as RichTable

from medsynergy import __version__
from medsynergy.engine import ENGINES, Warehouse, connect, default_db_path
from medsynergy.errors import MedsynergyError, UserError
from medsynergy.ingest import RULES, LoadResult, ingest_file
from medsynergy.ingest.sources import expand_paths
from medsynergy.schema import ALL_TABLES, DQ_FINDING, INPUT_TABLES, LOAD_LOG, QUARANTINE

if TYPE_CHECKING:
    from medsynergy.export import ExportedTable

app = typer.Typer(
    name="medsynergy",
    help="Claims, eligibility and clinical data in one warehouse; measures, contracts, care.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
from medsynergy.cli_mssp import mssp_app  # noqa: E402  (after app: it registers on it)

app.add_typer(mssp_app, name="mssp")
out = Console(width=None if sys.stdout.isatty() else 200)  # piped output: do not fold at 80
err = Console(stderr=True)


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class State:
    db: str = default_db_path()
    engine: str = "duckdb"
    spark_remote: str | None = None
    out_parquet: Path | None = None  # --out-parquet: also write outputs there (export.py)


STATE = State()


def _open(read_only: bool = False) -> Warehouse:
    return connect(STATE.db, STATE.engine, spark_remote=STATE.spark_remote, read_only=read_only)


@app.callback()
def _options(
    db: Annotated[str, typer.Option("--db", envvar="MEDSYNERGY_DB",
                                    help="Warehouse: DuckDB file (or Spark folder).")] = default_db_path(),
    engine: Annotated[str, typer.Option(help=f"Engine: {' or '.join(ENGINES)}.")] = "duckdb",
    spark_remote: Annotated[str | None, typer.Option(
        "--spark-remote", help="Spark Connect URL, e.g. sc://host:15002.")] = None,
    out_parquet: Annotated[Path | None, typer.Option(
        "--out-parquet", help="Also write what measure, reconcile, compare and demo build "
        "to this folder as partitioned Parquet (docs/export.md).")] = None,
) -> None:
    if engine not in ENGINES:
        raise UserError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    STATE.db, STATE.engine, STATE.spark_remote = db, engine, spark_remote
    STATE.out_parquet = out_parquet


def _export_marts(wh: Warehouse, names: list[str]) -> list[ExportedTable]:
    """Write `names` under --out-parquet (nothing without it)."""
    if STATE.out_parquet is None:
        return []
    from medsynergy.export import write_parquet

    return write_parquet(wh, names, STATE.out_parquet)


def _export_outcomes(outcomes: list[Any]) -> list[ExportedTable]:
    """Write the contract outcome tables under --out-parquet (nothing without it)."""
    if STATE.out_parquet is None or not outcomes:
        return []
    from medsynergy.export import outcome_tables, write_arrow_tables

    return write_arrow_tables(outcome_tables(outcomes), STATE.out_parquet)


def _print_exported(tables: list[ExportedTable], to_stderr: bool = False) -> None:
    """One line per table written; on stderr when stdout carries JSON or CSV."""
    console = err if to_stderr else out
    for t in tables:
        split = f", by {t.partition_by}" if t.partition_by else ""
        console.print(f"parquet {t.name}: {t.rows:,} rows{split} -> {t.path}",
                      markup=False, highlight=False, soft_wrap=True)


def _emit(rows: list[dict[str, Any]], fmt: Format, title: str, columns: list[str] | None = None) -> None:
    columns = columns or (list(rows[0]) if rows else [])
    if fmt is Format.json:
        sys.stdout.write(orjson.dumps(rows, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif fmt is Format.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(buf.getvalue())
    else:
        table = RichTable(title=title, show_lines=False)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*(_cell(c, r.get(c)) for c in columns))
        out.print(table)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "file_name":  # the full path is in --format json / csv
        return Path(str(value)).name
    return str(value)


@app.command()
def version() -> None:
    """Print the medsynergy version."""
    out.print(__version__)


@app.command()
def init() -> None:
    """Create the warehouse and its canonical tables (nothing changes if they exist)."""
    with _open() as wh:
        n = len(wh.tables)
    out.print(f"warehouse ready: {STATE.db} ({STATE.engine}, {n} tables)")


class SourceFormat(StrEnum):
    auto = "auto"
    input_layer = "input-layer"
    fhir = "fhir"
    synthea_csv = "synthea-csv"
    desynpuf = "desynpuf"


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(
        help="Files, folders or globs: input-layer CSV/Parquet, FHIR R4 bundles or Bulk Data "
             "NDJSON, a Synthea CSV export folder, or CMS DE-SynPUF files.")],
    source: Annotated[str | None, typer.Option(
        "--source", help="data_source of every row (a converted source defaults to its format).")] = None,
    table: Annotated[str | None, typer.Option(
        "--table", help="Target table; detected from the file name or columns if omitted.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Load files again even if already loaded.")] = False,
    source_format: Annotated[SourceFormat, typer.Option(
        "--format", help="Format of the source; auto detects it where unambiguous.")] = SourceFormat.auto,
    output: Annotated[Format, typer.Option("--output", help="How to print the result.")] = Format.table,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="Processes converting FHIR files in parallel (default: every core).")] = None,
) -> None:
    """Load data; each file (each table of a converted source) loads entirely or not at all."""
    from medsynergy.cli_formats import print_format_load, run_format_ingest
    from medsynergy.ingest.formats.load import detect_format

    fmt = source_format.value
    if fmt == "auto":
        fmt = "input-layer" if table else detect_format(paths)
    if fmt != "input-layer":
        if table:
            raise UserError(f"--table applies to input-layer files, not to a {fmt} source")
        loaded = run_format_ingest(paths, source_format=fmt, source=source or fmt,
                                   replace=replace, workers=workers, quiet=output is not Format.table)
        print_format_load(loaded, output)
        return
    files = expand_paths(paths)
    results = run_ingest(files, source=source, table=table, replace=replace,
                         quiet=output is not Format.table)
    rows = [_result_row(r) for r in results]
    _emit(rows, output, "Loads", ["file_name", "target_table", "status", "rows_in", "rows_loaded",
                                  "rows_quarantined", "findings", "load_id"])
    if output is Format.table:
        print_load_totals(results)


def print_load_totals(results: list[LoadResult]) -> None:
    total_in = sum(r.rows_in for r in results if r.status != "skipped")
    loaded = sum(r.rows_loaded for r in results if r.status != "skipped")
    quarantined = sum(r.rows_quarantined for r in results if r.status != "skipped")
    out.print(f"rows in {total_in:,} = loaded {loaded:,} + quarantined {quarantined:,}")
    for r in results:
        if r.status == "skipped":
            out.print(f"[yellow]{r.file_name}: {r.message}[/yellow]")
        if r.ignored_columns:
            out.print(f"{r.file_name}: ignored column(s) not in {r.target_table}: "
                      f"{', '.join(r.ignored_columns)}")


def _result_row(r: LoadResult) -> dict[str, Any]:
    row = asdict(r)
    row["rows_loaded"] = r.rows_loaded
    return row


def run_ingest(files: list[Path], *, source: str | None, table: str | None, replace: bool,
               quiet: bool = False) -> list[LoadResult]:
    results: list[LoadResult] = []
    with _open() as wh, Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        console=err, transient=True, disable=quiet or not err.is_terminal,
    ) as progress:
        task = progress.add_task("ingest", total=len(files))
        for f in files:
            def step(msg: str) -> None:
                progress.update(task, description=msg)
            results.append(ingest_file(wh, f, table=table, source=source, replace=replace,
                                       progress=step))
            progress.advance(task)
    return results


def _rows(wh: Warehouse, expr: Any) -> list[dict[str, Any]]:
    return list(wh.to_arrow(expr).to_pylist())


@app.command()
def status(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Tables and row counts, the last loads, quarantine and findings by rule."""
    with _open() as wh:
        counts = [{"table": t.name, "rows": wh.count(t.name)} for t in ALL_TABLES]
        log = wh.table(LOAD_LOG.name)
        loads = _rows(wh, log.order_by([log.started_at.desc(), log.load_id.desc()]).limit(10).select(
            "load_id", "target_table", "file_name", "status", "rows_in", "rows_loaded",
            "rows_quarantined", "findings", "finished_at"))
        q, f = wh.table(QUARANTINE.name), wh.table(DQ_FINDING.name)
        q_rules = _rows(wh, q.group_by("rule").aggregate(rows=q.count()).order_by("rule"))
        f_rules = _rows(wh, f.group_by("rule").aggregate(findings=f.count()).order_by("rule"))
    if fmt is Format.json:
        payload = {"db": STATE.db, "engine": STATE.engine, "tables": counts, "loads": loads,
                   "quarantine_by_rule": q_rules, "findings_by_rule": f_rules}
        sys.stdout.write(orjson.dumps(payload, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    out.print(f"warehouse {STATE.db} ({STATE.engine})")
    _emit(counts, fmt, "Tables")
    _emit(loads, fmt, "Last loads", ["load_id", "target_table", "file_name", "status", "rows_in",
                                      "rows_loaded", "rows_quarantined", "findings", "finished_at"])
    _emit(q_rules, fmt, "Quarantine by rule", ["rule", "rows"])
    _emit(f_rules, fmt, "Findings by rule", ["rule", "findings"])


def _check_rule(rule: str | None) -> None:
    if rule is not None and rule not in RULES:
        raise UserError(f"unknown rule {rule!r}; see `medsynergy rules`")


@app.command()
def quarantine(
    rule: Annotated[str | None, typer.Option("--rule", help="Only rows refused by this rule.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (0: all).")] = 50,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Rows refused by an error rule, with the raw row."""
    _check_rule(rule)
    with _open() as wh:
        q = wh.table(QUARANTINE.name)
        if rule:
            q = q.filter(q.rules.contains(rule))
        q = q.order_by(["load_id", "row_number"])
        rows = _rows(wh, q.limit(limit) if limit else q)
    _emit(rows, fmt, "Quarantine", ["file_name", "row_number", "rule", "message", "raw_row"])


@app.command()
def findings(
    rule: Annotated[str | None, typer.Option("--rule", help="Only findings of this rule.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows (0: all).")] = 50,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Warnings on loaded rows: the rule, the column and the suspect value."""
    _check_rule(rule)
    with _open() as wh:
        f = wh.table(DQ_FINDING.name)
        if rule:
            f = f.filter(f.rule == rule)
        f = f.order_by(["load_id", "row_number", "rule", "column_name"])
        rows = _rows(wh, f.limit(limit) if limit else f)
    _emit(rows, fmt, "Findings", ["file_name", "row_number", "rule", "column_name", "value", "message"])


@app.command()
def rules(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The validation rules: name, severity and what each checks."""
    rows = [{"rule": r.name, "severity": r.severity.value, "description": r.description}
            for r in RULES.values()]
    _emit(rows, fmt, "Validation rules")


@app.command()
def tables(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The canonical input tables and their required columns."""
    rows = [{"table": t.name, "grain": t.grain, "required": ", ".join(t.required_input_columns)}
            for t in INPUT_TABLES]
    _emit(rows, fmt, "Input tables")


@app.command()
def measure(
    only: Annotated[list[str] | None, typer.Option(
        "--only", help="Build just this mart (and the marts it reads); repeatable.")] = None,
    paid_through: Annotated[str | None, typer.Option(
        "--paid-through", help="Claims paid through this date (YYYY-MM-DD); default: the "
        "latest paid_date.")] = None,
    readmission_spec: Annotated[str, typer.Option(
        "--readmission-spec", help="default, or cms-hwr (CMS hospital-wide: 65+).")] = "default",
) -> None:
    """Build every mart (or `--only` some) from the warehouse and store them together."""
    import contextlib
    import threading

    from medsynergy.marts.registry import load_reference_tables, publish_plan, selected

    # reference tables are read in a thread while the engine builds the first marts (it
    # releases the GIL while it runs a query); a mart that needs one before the thread
    # is done reads it itself, with the same result. Not on DuckDB: its publish already
    # builds every mart's expression (and so reads the tables) in a thread of its own, and
    # a second Python thread only slowed the start (about 1 s of GIL contention).
    def warm() -> None:
        # any error here is raised again, with its message, by the mart that reads the table
        with contextlib.suppress(Exception):
            load_reference_tables()

    marts = selected(only or ())
    options = {"paid_through": _date_option("--paid-through", paid_through),
               "spec": readmission_spec}
    with _open() as wh, Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), console=err) as progress:
        if wh.engine != "duckdb":
            threading.Thread(target=warm, daemon=True).start()
        stored = [m for m in marts if m.persist]
        task = progress.add_task("marts", total=len(stored))

        def built(name: str) -> None:
            progress.update(task, description=name)
            progress.advance(task)

        wh.publish(publish_plan(stored, wh.table, options), on_stored=built)
        counts = [{"mart": m.name, "rows": wh.count(m.name)} for m in stored]
        warning = _runout(wh, options["paid_through"]) if any(
            m.name == "readmissions" for m in marts) else None
        exported = _export_marts(wh, [m.name for m in stored])
    _emit(counts, Format.table, "Marts built")
    if warning:
        err.print(f"warning: {warning}")
    _print_exported(exported)


def _date_option(flag: str, text: str | None) -> Any:
    import datetime as dt

    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{flag} {text!r} is not a date like 2025-03-31") from None


def _runout(wh: Warehouse, paid_through: Any) -> str | None:
    """The readmissions run-out warning: under 3 months from the last discharge."""
    from medsynergy.marts.readmissions import runout_warning

    r = wh.table("readmissions")
    last, used = wh.to_arrow(r.aggregate(last=r.discharge_date.max(),
                                         used=r.paid_through_date.max())).to_pylist()[0].values()
    return runout_warning(paid_through or used, last) if used is not None else None


@app.command()
def show(
    name: Annotated[str, typer.Argument(help="The mart to show.")],
    by: Annotated[str | None, typer.Option("--by", help="Sum by payer, plan, month or provider.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to print (0: all).")] = 50,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
) -> None:
    """Print a mart, or its additive columns summed by one dimension."""
    from medsynergy.marts.registry import mart, rollup

    m = mart(name)
    if not m.persist:
        raise UserError(f"mart {m.name} is not stored (it is computed inside the marts that "
                        "read it); see the summary marts, e.g. service_category_summary")
    with _open(read_only=True) as wh:
        if not wh.derived_exists(m.name):
            raise UserError(f"mart {m.name} has not been built; run `medsynergy measure`")
        t = wh.table(m.name)
        expr = rollup(m, t, by) if by else t.order_by(t.columns)
        if limit > 0:
            expr = expr.limit(limit)
        rows = _rows(wh, expr)
    _emit(rows, fmt, m.name)


def _shown(value: Any) -> str:
    """A step's value for the table: money-sized decimals to the cent, rates to 6
    significant digits (JSON keeps every digit)."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        if abs(value) >= 100:
            return f"{value.quantize(Decimal('0.01')):,}"
        return f"{value:.6g}" if value != value.to_integral_value() else f"{value:,.0f}"
    return "" if value is None else str(value)


def _contract_outcomes(paths: list[Path], year: int | None, replicates: int, seed: int
                       ) -> list[Any]:
    from medsynergy.contracts.run import reconcile_files, warehouse_io

    if replicates < 0:
        raise UserError("--simulate must be 0 or more replicates")
    with _open(read_only=True) as wh:
        tables, run = warehouse_io(wh)
        return reconcile_files(paths, tables, run, year, replicates, seed)


YearOption = Annotated[int | None, typer.Option(
    "--year", help="Performance year; default: the latest year with member-months.")]
SimulateOption = Annotated[int, typer.Option(
    "--simulate", help="Bootstrap the member-years (episodes) N times: P5/P50/P95 and the "
    "chance of gains or losses.")]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]


@app.command()
def reconcile(
    contract: Annotated[Path, typer.Option("--contract", help="Contract YAML file.")],
    year: YearOption = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    simulate: SimulateOption = 0,
    seed: SeedOption = 1,
    detail_out: Annotated[Path | None, typer.Option(
        "--detail-out", help="Folder to write the model's detail tables to, as CSV "
        "(episodes with their spend by category, outliers capped, members over the "
        "stop-loss ...).")] = None,
) -> None:
    """Price and reconcile one contract on the warehouse's population, step by step."""
    (o,) = _contract_outcomes([contract], year, simulate, seed)
    exported = _export_outcomes([o])
    if detail_out is not None:
        import pyarrow.csv as pacsv

        detail_out.mkdir(parents=True, exist_ok=True)
        for name, table in o.prepared.detail.items():
            pacsv.write_csv(table, detail_out / f"{o.result.contract}.{name}.csv")
    if fmt is not Format.table:
        sys.stdout.write(orjson.dumps(o.as_dict(), default=str, option=orjson.OPT_INDENT_2
                                      ).decode() + "\n")
        _print_exported(exported, to_stderr=True)
        return
    r = o.result
    rows = [{"step": s.name, "value": _shown(s.value), "rule": s.rule, "source": s.source}
            for s in r.steps]
    _emit(rows, Format.table, f"{r.contract} ({r.model}), {o.year}")
    for name, table in o.prepared.detail.items():
        if table.num_rows <= 40:
            _emit(table.to_pylist(), Format.table, f"{r.contract}: {name}")
        else:
            out.print(f"{name}: {table.num_rows:,} rows (--detail-out DIR writes them)")
    for name, amount in r.allocations:
        out.print(f"  allocation {name}: {amount:,}")
    out.print(f"to provider: {r.to_provider:,}   to payer: {r.to_payer:,}")
    for n in r.notes:
        err.print(f"note: {n}", markup=False)
    if o.simulation is not None:
        s = o.simulation
        out.print(f"simulated {s.replicates} bootstrap samples of {s.units:,} {s.unit}s: "
                  f"to provider P5 {s.to_provider.p5:,} P50 {s.to_provider.p50:,} "
                  f"P95 {s.to_provider.p95:,}; gain vs fee-for-service P5 "
                  f"{s.provider_gain.p5:,} P50 {s.provider_gain.p50:,} P95 "
                  f"{s.provider_gain.p95:,}; P(gain) {s.p_gain}, P(loss) {s.p_loss}")
    _print_exported(exported)


@app.command()
def compare(
    contracts: Annotated[list[Path], typer.Option(
        "--contracts", help="Contract YAML files (repeat the option or list them).")],
    extra: Annotated[list[Path] | None, typer.Argument(help="More contract files.")] = None,
    year: YearOption = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.table,
    simulate: SimulateOption = 0,
    seed: SeedOption = 1,
) -> None:
    """What each contract pays the providers and the payer on the same population, and
    the difference from fee-for-service."""
    from medsynergy.contracts.run import comparison

    outcomes = _contract_outcomes([*contracts, *(extra or [])], year, simulate, seed)
    rows = comparison(outcomes)
    exported = _export_outcomes(outcomes)
    if fmt is Format.json:
        sys.stdout.write(orjson.dumps({"comparison": rows,
                                       "contracts": [o.as_dict() for o in outcomes]},
                                      default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
        _print_exported(exported, to_stderr=True)
        return
    _emit(rows, fmt, f"Contracts compared, {outcomes[0].year if outcomes else ''}")
    _print_exported(exported, to_stderr=fmt is not Format.table)


@app.command()
def report(
    output: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("out/report.html"),
) -> None:
    """Write the self-contained HTML report of the warehouse."""
    from medsynergy.reports import write_report

    with _open() as wh:
        path = write_report(wh, output, title="medsynergy report")
    out.print(f"report written: {path}")


@app.command()
def demo(
    data: Annotated[Path, typer.Option(
        help="What to load: input-layer files, FHIR bundles / NDJSON, a Synthea CSV export or "
             "DE-SynPUF files (the format is detected).")] = Path("examples/data"),
    output: Annotated[Path, typer.Option("--out", help="Folder for the warehouse and report.")] = Path("out"),
    contracts: Annotated[Path, typer.Option(
        "--contracts", help="Folder of contract files to reconcile and compare.")
    ] = Path("examples/contracts"),
    simulate: Annotated[int, typer.Option(
        "--simulate", help="Bootstrap replicates per contract (0: none).")] = 200,
) -> None:
    """The main job end to end: a fresh warehouse, ingest, every mart, every contract,
    report."""
    from medsynergy.contracts.run import comparison, reconcile_files, warehouse_io
    from medsynergy.reports import write_report

    output.mkdir(parents=True, exist_ok=True)
    if STATE.db == default_db_path():  # a demo never writes into the user's own warehouse
        STATE.db = str(output / ("demo.duckdb" if STATE.engine == "duckdb" else "demo.spark"))
    _remove_warehouse(Path(STATE.db))
    from medsynergy.cli_formats import print_format_load, run_format_ingest
    from medsynergy.ingest.formats.load import detect_format

    fmt = detect_format([data])
    if fmt == "input-layer":
        results = run_ingest(expand_paths([data]), source="demo", table=None, replace=False)
    else:
        loaded = run_format_ingest([str(data)], source_format=fmt, source="demo", replace=False)
        print_format_load(loaded, Format.table)
        results = list(loaded.tables)
    measure(only=None, paid_through=None, readmission_spec="default")
    with _open() as wh:
        tables, run = warehouse_io(wh)
        outcomes = reconcile_files(sorted(contracts.glob("*.yaml")), tables, run,
                                   replicates=simulate) if contracts.is_dir() else []
        path = write_report(wh, output / "report.html", title="medsynergy demo", loads=results,
                            contracts=outcomes)
    exported = _export_outcomes(outcomes)  # the marts: written by measure() above
    if not contracts.is_dir():
        err.print(f"note: no contracts folder {contracts}: no contract reconciled "
                  "(--contracts DIR)", markup=False)
    if outcomes:
        _emit(comparison(outcomes), Format.table, f"Contracts compared, {outcomes[0].year}",
              ["contract", "model", "ffs_spend", "provider_revenue", "difference_from_ffs",
               "to_provider", "to_payer"])
    total_in = sum(r.rows_in for r in results)
    out.print(f"loaded {len(results)} files: rows in {total_in:,} = loaded "
              f"{sum(r.rows_loaded for r in results):,} + quarantined "
              f"{sum(r.rows_quarantined for r in results):,}")
    out.print(f"report written: {path}")
    _print_exported(exported)


@app.command()
def generate(
    members: Annotated[int, typer.Option("--members", help="Number of people to generate.")],
    output: Annotated[Path, typer.Option("--out", help="Folder for the Parquet files.")],
    years: Annotated[str, typer.Option("--years", help="Calendar years, e.g. 2023-2025.")] = "2023-2025",
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same files.")] = 0,
    population: Annotated[str, typer.Option(
        "--population", help="medicare, commercial or mixed.")] = "medicare",
    pilot: Annotated[str | None, typer.Option(
        "--pilot", help="A pilot of known effect, e.g. 'chronic-pain:share=0.1,"
        "start=2024-07-01,ed_visits=-0.15,promis_physical_t=+3' (docs/generator.md).")] = None,
) -> None:
    """Write a synthetic population as input-layer Parquet files: eligibility, claims,
    PROMIS observations, providers (and pilot_truth.json with --pilot)."""
    from medsynergy.synth import Population, parse_years
    from medsynergy.synth import generate as run_generate
    from medsynergy.synth.pilot import parse_pilot

    if population not in {p.value for p in Population}:
        raise UserError(f"--population {population!r} is not one of medicare, commercial, mixed")
    period = parse_years(years)
    spec = parse_pilot(pilot) if pilot is not None else None
    with Progress(SpinnerColumn(), TextColumn("generate"), BarColumn(), MofNCompleteColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("generate", total=max(members, 0))

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done)
        result = run_generate(output, members=members, years=period, seed=seed,
                              population=population, pilot=spec, progress=step)
    out.print(f"generated {result.members:,} members ({result.population}, "
              f"{result.first_year}-{result.last_year}, seed {result.seed}): "
              f"{result.eligibility_rows:,} eligibility rows, {result.medical_claim_rows:,} "
              f"medical and {result.pharmacy_claim_rows:,} pharmacy claim lines, "
              f"{result.observation_rows:,} observations, {result.provider_rows:,} providers"
              f"{', pilot ' + result.pilot if result.pilot else ''} -> {result.out_dir}")


def _remove_warehouse(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path)
    for p in (path, path.with_name(path.name + ".wal")):
        if p.is_file():
            p.unlink()


def main() -> None:
    try:
        app()
    except UserError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(2) from None
    except MedsynergyError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted: the file being loaded was not written", markup=False)
        raise SystemExit(130) from None


if __name__ == "__main__":
    # Run the imported module's app, not this __main__ copy: the commands in other modules
    # (cli_formats, cli_mssp) import `medsynergy.cli` and must see the same settings.
    from medsynergy.cli import main as _main

    _main()
