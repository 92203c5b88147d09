"""Spark parity at bench scale: the same generated population through the CLI on DuckDB
and on Spark must give identical warehouses, marts and contract results.

    python benchmarks/spark_parity.py --data DIR [--out out/bench] [--spark-remote URL]
                                      [--no-reconcile] [--check-only]

DIR holds the Parquet files of `medsynergy generate` (eligibility, medical_claim,
pharmacy_claim, provider, observation). For each engine, into a fresh warehouse under
OUT/spark_parity/ and each in a child process of its own (`python -m medsynergy.cli`):

- ingest: `medsynergy ingest --source bench FILES` (Spark: `--engine spark`, local
  `local[2]` or Spark Connect with --spark-remote);
- measure: `medsynergy measure` (every stored mart);
- compare: `medsynergy compare --format json` of every examples/contracts/*.yaml;
- reconcile: `medsynergy reconcile --format json --detail-out D` of each contract: the
  same outcome as compare's, plus the model's detail tables (episodes, members capped ...)
  as CSV, which compare only counts.

Then the checks, all exact:

- every canonical table and every stored mart: same column names and the same multiset of
  rows. DuckDB is read through the warehouse API (`to_arrow`); Spark from the Parquet
  version folders its `_catalog.json` names (no JVM in the checker). Values compare as
  Python values: decimals as `Decimal`, so only the value counts, not the stored width
  (DuckDB stores a SUM of integers as HUGEINT, read as DECIMAL(38,0), where Spark has
  BIGINT; some decimal precisions differ too), dates as dates, text as text, a
  timestamp Spark stored as a UTC instant as its naive UTC wall time (DuckDB's
  TIMESTAMP, both sessions running in UTC). Floats
  (risk scores only) are rounded to 9 places, as the CI parity test does, since the two
  engines may add the same terms in another order. Columns that differ between any two
  loads of the same file (load ids, load times) are left out; messages naming a load time
  have it masked. Arrow types that differ are listed as notes (a date stored as a
  timestamp would also fail the value check: a datetime never equals a date);
- the JSON of compare and of each reconcile: identical documents;
- each reconcile detail CSV: same header and the same multiset of lines.

Timing: wall seconds of each child, and three memory figures. `wait4_maxrss_mib` is the
kernel's peak RSS of the CLI process (Linux counts a descendant only once it has been
waited for, and PySpark does not wait for its JVM: this is the Python side alone, a few
hundred MiB while the JVM holds gigabytes);
`tree_peak_mib` is the peak of the summed RSS of the CLI process and all its descendants
(the JVM of local Spark included), polled from /proc every 0.1 s; `jvm_peak_mib` the peak
RSS of the `java` processes among them. With --spark-remote the JVM doing the work is the
Connect server, not a child: its memory is not in these figures.

`--check-only` runs no command and checks what the last run left in OUT/spark_parity
(its step timings are kept in OUT/spark_parity/steps.json). Prints a summary, writes
OUT/bench_spark.json; exits 1 on any mismatch (after printing the first differing rows),
2 if a command fails. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import collections
import csv
import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "medsynergy.cli"]
INPUTS = ("eligibility", "medical_claim", "pharmacy_claim", "provider", "observation")
CONTRACTS = sorted((ROOT / "examples" / "contracts").glob("*.yaml"))
ENGINES = ("duckdb", "spark")
FLOAT_PLACES = 9
POLL_SECONDS = 0.1
SHOW_ROWS = 5  # differing rows printed per side
# Columns that legitimately differ between two loads of the same file (as in
# tests/spark/test_parity.py): not compared.
VOLATILE = ("load_id", "ingest_datetime", "started_at", "finished_at", "file_name", "loaded_at")
# Messages about tables without version columns name the load time (the version of a row).
LOAD_TIME = re.compile(r"ingest_datetime=\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def say(text: str = "", end: str = "\n", file: Any = None) -> None:
    """Progress and summary lines (flushed: a Spark step can take minutes)."""
    stream = file or sys.stdout
    stream.write(text + end)
    stream.flush()


# --- child processes: wall time and memory -------------------------------------------

@dataclass
class Step:
    seconds: float
    wait4_maxrss_mib: int
    tree_peak_mib: int
    jvm_peak_mib: int
    detail: dict[str, Any] = field(default_factory=dict)


def _process_table() -> dict[int, tuple[int, str, int]]:
    """pid -> (parent pid, command name, RSS in KiB) of every process readable in /proc."""
    table: dict[int, tuple[int, str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry.name}/statm") as f:
                resident = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        # comm is in parentheses and may itself contain spaces or parentheses
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        table[int(entry.name)] = (ppid, name, resident * PAGE_KIB)
    return table


class TreeMonitor(threading.Thread):
    """Polls the RSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.tree_peak_kib = 0
        self.jvm_peak_kib = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            procs = _process_table()
            children: dict[int, list[int]] = collections.defaultdict(list)
            for pid, (ppid, _, _) in procs.items():
                children[ppid].append(pid)
            tree, todo = [], [self.pid]
            while todo:
                pid = todo.pop()
                if pid in procs:
                    tree.append(pid)
                todo.extend(children.get(pid, ()))
            self.tree_peak_kib = max(self.tree_peak_kib, sum(procs[p][2] for p in tree))
            self.jvm_peak_kib = max(self.jvm_peak_kib, sum(
                procs[p][2] for p in tree if procs[p][1] == "java"))
            self._halt.wait(POLL_SECONDS)

    def stop(self) -> None:
        self._halt.set()
        self.join()


class CommandFailed(Exception):
    pass


def run_child(cmd: list[str], stdout_path: Path | None = None) -> Step:
    """Run `cmd` (stdout to `stdout_path` if given); its wall time and memory figures.
    A failed command raises with the tail of its stderr: a step that failed is no figure."""
    err_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"medsynergy-parity-{os.getpid()}.err"
    with open(stdout_path or os.devnull, "w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err)
        monitor = TreeMonitor(proc.pid)
        monitor.start()
        # Reaping ends the tree's root: polling stops after, with the peaks seen so far.
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        monitor.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
    errors = err_path.read_text(errors="replace")
    err_path.unlink()
    if proc.returncode != 0:
        raise CommandFailed(f"exit {proc.returncode}: {' '.join(cmd)}\n{errors[-6000:]}")
    return Step(round(seconds, 2), round(usage.ru_maxrss / 1024),
                round(monitor.tree_peak_kib / 1024), round(monitor.jvm_peak_kib / 1024))


def run_engine(engine: str, work: Path, files: list[Path], remote: str | None,
               reconcile: bool) -> dict[str, Step]:
    folder = work / engine
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / ("wh.duckdb" if engine == "duckdb" else "wh.spark")
    base = [*CLI, "--db", str(db), "--engine", engine]
    if engine == "spark" and remote:
        base += ["--spark-remote", remote]
    steps: dict[str, Step] = {}

    def step(name: str, args: list[str], stdout: Path | None = None) -> Step:
        say(f"  {engine:6} {name} ...", end="")
        s = run_child([*base, *args], stdout)
        say(f" {s.seconds:.1f} s, tree peak {s.tree_peak_mib:,} MiB")
        return s

    steps["ingest"] = step("ingest", ["ingest", "--source", "bench", *map(str, files)])
    steps["measure"] = step("measure", ["measure"])
    steps["compare"] = step("compare", ["compare", "--contracts", *map(str, CONTRACTS),
                                        "--format", "json"], folder / "compare.json")
    if reconcile:
        each: dict[str, float] = {}
        total = Step(0.0, 0, 0, 0)
        for c in CONTRACTS:
            s = step(f"reconcile {c.stem}", [
                "reconcile", "--contract", str(c), "--format", "json",
                "--detail-out", str(folder / "detail")], folder / f"reconcile.{c.stem}.json")
            each[c.stem] = s.seconds
            total = Step(round(total.seconds + s.seconds, 2),
                         max(total.wait4_maxrss_mib, s.wait4_maxrss_mib),
                         max(total.tree_peak_mib, s.tree_peak_mib),
                         max(total.jvm_peak_mib, s.jvm_peak_mib))
        total.detail = {"seconds_by_contract": each}
        steps["reconcile"] = total
    return steps


# --- reading the two warehouses ----------------------------------------------------------

def duckdb_tables(db: Path, names: list[str]) -> dict[str, pa.Table]:
    from medsynergy.engine import connect

    with connect(db, "duckdb", read_only=True) as wh:
        return {n: wh.to_arrow(wh.table(n)) for n in names}


def spark_catalog(root: Path) -> dict[str, str | None]:
    doc = json.loads((root / "_catalog.json").read_text())
    return dict(doc["tables"])


def spark_table(root: Path, catalog: dict[str, str | None], name: str,
                empty_schema: pa.Schema) -> pa.Table:
    """A Spark table as its catalog's current version folder holds it (pyarrow skips the
    `_SUCCESS` marker and other hidden files); never written: empty."""
    version = catalog.get(name)
    if version is None:
        return empty_schema.empty_table()
    return pq.read_table(root / "tables" / name / version)


def spark_mart_seconds(root: Path, catalog: dict[str, str | None], marts: list[str]
                       ) -> dict[str, float]:
    """Roughly how long `measure` spent on each mart on Spark: a version folder is named
    by the time its write started (`_new_version`, whole seconds), and the marts are
    written one after the other, so a mart took until the next one started (the last one:
    until its folder's last change). Includes building what only that mart reads."""
    starts = []
    for name in marts:
        version = catalog.get(name)
        if version is not None:
            began = dt.datetime.strptime(version[1:16], "%Y%m%dT%H%M%S")
            starts.append((began.replace(tzinfo=dt.UTC).timestamp(), name, version))
    starts.sort()
    out: dict[str, float] = {}
    for i, (at, name, version) in enumerate(starts):
        end = (starts[i + 1][0] if i + 1 < len(starts)
               else (root / "tables" / name / version).stat().st_mtime)
        out[name] = round(end - at, 1)
    return out


def _value(v: Any) -> Any:
    """A hashable, comparable form: floats rounded, NaN as text, UTC instants as naive UTC,
    lists and structs as tuples, load times in messages masked."""
    if isinstance(v, float):
        return "NaN" if math.isnan(v) else round(v, FLOAT_PLACES)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        # Spark stores what DATE_TRUNC returns as an instant (isAdjustedToUTC) where DuckDB
        # has a naive timestamp; with both sessions in UTC the same instant is the same
        # wall time. The differing type is listed among the type notes.
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, str):
        return LOAD_TIME.sub("ingest_datetime=<load time>", v)
    if isinstance(v, list):
        return tuple(_value(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _value(x)) for k, x in v.items()))
    return v


BATCH = 50_000  # rows turned into Python values at a time


def _tuples(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    for batch in table.to_batches(BATCH):
        for r in batch.to_pylist():
            yield tuple(_value(v) for v in r.values())


def rows(table: pa.Table) -> tuple[list[str], collections.Counter[int]]:
    """The comparable columns, and how many rows have each row's hash (a multiset of
    rows in bounded memory: holding 4.7M rows of 160 values as Python tuples took 15 GB
    at 100k member-years and was killed; two different rows with one 64-bit hash are
    vanishingly unlikely, and the differing rows are found again by their hashes)."""
    table = table.drop_columns([c for c in VOLATILE if c in table.column_names])
    return table.column_names, collections.Counter(hash(t) for t in _tuples(table))


def _rows_with(table: pa.Table, hashes: set[int]) -> list[tuple[Any, ...]]:
    table = table.drop_columns([c for c in VOLATILE if c in table.column_names])
    found = []
    for t in _tuples(table):
        if hash(t) in hashes:
            found.append(t)
            if len(found) >= SHOW_ROWS:
                break
    return found


@dataclass
class TableResult:
    name: str
    kind: str  # canonical or mart
    rows: int
    matches: bool
    problem: str | None = None
    type_notes: list[str] = field(default_factory=list)
    only_duckdb: list[list[str]] = field(default_factory=list)
    only_spark: list[list[str]] = field(default_factory=list)


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_decimal(t))


def type_note(name: str, duck: pa.DataType, spark: pa.DataType) -> str:
    """A column whose Arrow type differs; 'width:' when both are exact numbers (DuckDB's
    SUM of integers is HUGEINT, read as DECIMAL(38,0); Spark's is BIGINT), which a reader
    of the values cannot tell apart; 'kind:' otherwise."""
    kind = "width" if _numeric(duck) and _numeric(spark) else "kind"
    return f"{kind}: {name} duckdb {duck}, spark {spark}"


def _show(row: tuple[Any, ...]) -> list[str]:
    return [repr(v) for v in row]


def compare_table(name: str, kind: str, duck: pa.Table, spark: pa.Table) -> TableResult:
    notes = [type_note(f.name, f.type, spark.schema.field(f.name).type)
             for f in duck.schema
             if f.name in spark.schema.names and spark.schema.field(f.name).type != f.type]
    d_cols, d_rows = rows(duck)
    s_cols, s_rows = rows(spark)
    if d_cols != s_cols:
        return TableResult(name, kind, duck.num_rows, False,
                           f"columns differ: duckdb {d_cols}, spark {s_cols}", notes)
    only_d, only_s = d_rows - s_rows, s_rows - d_rows
    problem = None
    if duck.num_rows != spark.num_rows:
        problem = f"row counts differ: duckdb {duck.num_rows:,}, spark {spark.num_rows:,}"
    elif only_d or only_s:
        problem = (f"{sum(only_d.values()):,} rows only on duckdb, "
                   f"{sum(only_s.values()):,} only on spark")
    return TableResult(
        name, kind, duck.num_rows, problem is None, problem, notes,
        [_show(r) for r in _rows_with(duck, set(only_d))] if only_d else [],
        [_show(r) for r in _rows_with(spark, set(only_s))] if only_s else [])


def json_diff(a: Any, b: Any, path: str = "$") -> list[str]:
    """Where two JSON documents differ (at most a few paths per level)."""
    if type(a) is not type(b):
        return [f"{path}: duckdb {a!r}, spark {b!r}"]
    if isinstance(a, dict):
        out = [f"{path}.{k}: only on {'duckdb' if k in a else 'spark'}"
               for k in sorted(set(a) ^ set(b))]
        for k in a:
            if k in b:
                out += json_diff(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items on duckdb, {len(b)} on spark"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in json_diff(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: duckdb {a!r}, spark {b!r}"]


def compare_csv(a: Path, b: Path) -> str | None:
    """None if the two CSV files have the same header and multiset of records."""
    def read(p: Path) -> tuple[list[str], collections.Counter[tuple[str, ...]]]:
        with p.open(newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            return header, collections.Counter(tuple(r) for r in reader)

    (ha, ra), (hb, rb) = read(a), read(b)
    if ha != hb:
        return f"headers differ: duckdb {ha}, spark {hb}"
    only_a, only_b = ra - rb, rb - ra
    if not only_a and not only_b:
        return None
    return (f"{sum(only_a.values())} records only on duckdb, e.g. {sorted(only_a)[:2]}; "
            f"{sum(only_b.values())} only on spark, e.g. {sorted(only_b)[:2]}")


# --- the run --------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder of generated Parquet")
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--spark-remote", default=None, help="Spark Connect URL, sc://host:port")
    ap.add_argument("--no-reconcile", action="store_true",
                    help="skip the per-contract reconcile runs (compare only)")
    ap.add_argument("--check-only", action="store_true",
                    help="run no command: check the warehouses and outputs a previous run "
                         "left in OUT/spark_parity (timings from its steps.json)")
    args = ap.parse_args()

    files = [args.data / f"{t}.parquet" for t in INPUTS]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        say(f"missing input files: {', '.join(missing)}", file=sys.stderr)
        return 2
    work = args.out.absolute() / "spark_parity"
    say(f"data {args.data}, work folder {work}, spark "
          f"{args.spark_remote or 'local (local[2])'}")
    steps: dict[str, dict[str, Step]] = {}
    steps_path = work / "steps.json"
    if args.check_only:
        saved = json.loads(steps_path.read_text())
        steps = {e: {n: Step(**s) for n, s in saved[e].items()} for e in ENGINES}
    else:
        try:
            for engine in ENGINES:
                steps[engine] = run_engine(engine, work, files, args.spark_remote,
                                           not args.no_reconcile)
        except CommandFailed as exc:
            say(f"\nFAILED: {exc}", file=sys.stderr)
            return 2
        steps_path.write_text(json.dumps(
            {e: {n: asdict(s) for n, s in steps[e].items()} for e in ENGINES}, indent=2))

    # -- tables
    from medsynergy.marts.registry import MARTS
    from medsynergy.schema import ALL_TABLES

    spark_root = work / "spark" / "wh.spark"
    catalog = spark_catalog(spark_root)
    marts = [m.name for m in MARTS if m.persist]
    canonical = [t.name for t in ALL_TABLES]
    not_stored = [m for m in marts if catalog.get(m) is None]
    results: list[TableResult] = []
    for name in canonical + marts:  # one table at a time: memory stays at one table
        kind = "canonical" if name in canonical else "mart"
        duck = duckdb_tables(work / "duckdb" / "wh.duckdb", [name])[name]
        if name in not_stored:
            results.append(TableResult(name, kind, duck.num_rows, False,
                                       "not stored on spark"))
            continue
        spark = spark_table(spark_root, catalog, name, duck.schema)
        results.append(compare_table(name, kind, duck, spark))
        del duck, spark

    # -- contracts
    contract_problems: list[str] = []
    outputs = ["compare.json"]
    reconciled = "reconcile" in steps["duckdb"]
    if reconciled:
        outputs += [f"reconcile.{c.stem}.json" for c in CONTRACTS]
    for out_name in outputs:
        d_doc = json.loads((work / "duckdb" / out_name).read_text())
        s_doc = json.loads((work / "spark" / out_name).read_text())
        contract_problems += [f"{out_name} {d}" for d in json_diff(d_doc, s_doc)]
    details: list[str] = []
    if reconciled:
        d_files = sorted(p.name for p in (work / "duckdb" / "detail").glob("*.csv"))
        s_files = sorted(p.name for p in (work / "spark" / "detail").glob("*.csv"))
        if d_files != s_files:
            contract_problems.append(f"detail files differ: duckdb {d_files}, spark {s_files}")
        for name in sorted(set(d_files) & set(s_files)):
            details.append(name)
            problem = compare_csv(work / "duckdb" / "detail" / name,
                                  work / "spark" / "detail" / name)
            if problem:
                contract_problems.append(f"detail {name}: {problem}")

    # -- summary
    by_mart = spark_mart_seconds(spark_root, catalog, marts)
    member_months = next(r.rows for r in results if r.name == "member_months")
    claim_lines = next(r.rows for r in results if r.name == "medical_claim")
    bad = [r for r in results if not r.matches]
    say(f"\npopulation: {member_months:,} member-months = {member_months / 12:,.0f} "
          f"member-years; {claim_lines:,} medical claim lines")
    say(f"{'step':<11}" + "".join(f"{e + ' s':>10}{e + ' peak MiB':>18}" for e in ENGINES))
    for name in steps["duckdb"]:
        say(f"{name:<11}" + "".join(
            f"{steps[e][name].seconds:>10.1f}{steps[e][name].tree_peak_mib:>18,}"
            for e in ENGINES))
    totals = {e: round(sum(s.seconds for s in steps[e].values()), 2) for e in ENGINES}
    say(f"{'total':<11}" + "".join(f"{totals[e]:>10.1f}{'':>18}" for e in ENGINES))
    kinds = [(r.name, n) for r in results for n in r.type_notes if n.startswith("kind:")]
    widths = sum(n.startswith("width:") for r in results for n in r.type_notes)
    say(f"\ntables compared: {len(results)} ({len(canonical)} canonical, {len(marts)} marts), "
          f"{sum(r.rows for r in results):,} rows; mismatching: {len(bad)}")
    slow = sorted(by_mart.items(), key=lambda kv: -kv[1])[:5]
    say("slowest marts on spark (s, from version folder times): "
        + ", ".join(f"{n} {sec:.0f}" for n, sec in slow))
    say(f"stored types differing (values still compared exactly): {widths} integer/decimal "
        f"widths, {len(kinds)} of another kind")
    for name, note in kinds:
        say(f"  {name}: {note}")
    say(f"contract outputs compared: {len(outputs)} JSON documents "
          f"({len(CONTRACTS)} contracts), {len(details)} detail CSVs; "
          f"differences: {len(contract_problems)}")
    for r in bad:
        say(f"\nMISMATCH {r.kind} {r.name}: {r.problem}", file=sys.stderr)
        for label, shown in (("only on duckdb", r.only_duckdb), ("only on spark", r.only_spark)):
            for row in shown:
                say(f"  {label}: {', '.join(row)}", file=sys.stderr)
    for p in contract_problems[:40]:
        say(f"MISMATCH contract {p}", file=sys.stderr)

    record = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "versions": _versions(),
        "data": str(args.data),
        "spark": args.spark_remote or "local[2]",
        "population": {"member_months": member_months,
                       "member_years": round(member_months / 12, 1),
                       "medical_claim_rows": claim_lines},
        "memory_figures": {
            "wait4_maxrss_mib": "peak RSS of the CLI process from wait4 (Python side; the "
                                "JVM is never waited for, so not included)",
            "tree_peak_mib": f"peak summed RSS of the CLI process and its descendants, "
                             f"polled every {POLL_SECONDS} s",
            "jvm_peak_mib": "peak RSS of the java descendants (local Spark's JVM); 0 with "
                            "--spark-remote, whose server is not a child"},
        "steps": {e: {n: asdict(s) for n, s in steps[e].items()} for e in ENGINES},
        "spark_measure_seconds_by_mart": by_mart,
        "total_seconds": totals,
        "tables_compared": len(results),
        "tables": [asdict(r) for r in results],
        "mismatches": len(bad) + len(contract_problems),
        "contracts_compared": [c.stem for c in CONTRACTS],
        "contract_documents_compared": len(outputs),
        "detail_csvs_compared": details,
        "contract_differences": contract_problems,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bench_spark.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    say(f"\nwrote {path}; {'MISMATCHES: ' + str(record['mismatches']) if record['mismatches'] else 'identical on both engines'}")
    return 1 if record["mismatches"] else 0


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str] = {}
    for p in ("medsynergy", "duckdb", "pyspark", "ibis-framework", "pyarrow"):
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = "not installed"
    return out


if __name__ == "__main__":
    sys.exit(main())
