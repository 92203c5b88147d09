"""The scale benchmark of issue 7: every stage of the main job at 10k, 100k and 1M
member-years, against lower bounds measured on the same files in the same run.

    python benchmarks/scale.py [--sizes 10k,100k,1M] [--seed 1] [--out out/bench]
                               [--results benchmarks/results.md] [--no-pandas-above 1M]

For each size a population is generated (cached by size and seed in OUT/pop/<size>-s<seed>;
a cached population is not generated again, and its generation figure is the one measured
when it was made), then each stage runs in a child process of its own, so its wall time
and peak RSS (from `wait4`) are its own:

- generate: `medsynergy generate` (Medicare population, 2023-2025);
- bare copy: DuckDB `CREATE TABLE AS SELECT * FROM read_parquet(...)` of the same input
  files into a fresh database file: the least any ingest can cost;
- bare copy (canonical tables): the same, each file's columns inserted into its table of
  the warehouse's layout (150 columns for a claim line, the absent ones null): the least
  a load into those tables can cost;
- ingest: `medsynergy ingest` of the same files into a fresh warehouse (rules,
  quarantine, claim versions, lineage);
- bare scan: one DuckDB scan of the medical claims Parquet computing paid amount per
  member-month: the least any mart can cost;
- marts: `medsynergy measure` (every mart), then each stored mart alone (its inputs
  stored), each in its own child;
- PMPM + readmissions: `medsynergy measure --only cost --only readmissions` (the two marts
  and everything they read, from the ingested tables) against the pandas baseline
  (benchmarks/pandas_baseline.py) on the same Parquet files;
- contracts: `medsynergy compare` of every example contract, without and with
  `--simulate 1000`;
- report: `medsynergy report`;
- main job: `medsynergy demo --simulate 0` from the generated Parquet into a fresh
  warehouse: ingest + every mart + every example contract + report.

Prints a table per size, writes OUT/bench_scale-<sizes>.json and the results page (machine,
versions, date, figures, budgets met or not). Not part of the test suite: `make bench`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "medsynergy.cli"]
INPUTS = ("eligibility", "medical_claim", "pharmacy_claim", "provider", "observation")
YEARS = "2023-2025"
# 410,000 Medicare members over 2023-2025 are 1.009 million member-years (deaths and
# enrolment gaps take the rest): members per member-year of the generator's population
MEMBERS_PER_MEMBER_YEAR = 0.41
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000, "10M": 10_000_000}
GIB = 1024

# issue 7's budgets on the 2-core, 24 GiB reference machine
BUDGET_MAIN_1M_S, BUDGET_MAIN_1M_MIB, BUDGET_MAIN_100K_S = 120.0, 8 * GIB, 15.0
BUDGET_MARTS_1M_S, BUDGET_INGEST_RATIO, BUDGET_PANDAS_RATIO = 60.0, 2.0, 10.0


@dataclass
class Stage:
    name: str
    seconds: float
    peak_mib: int
    detail: dict[str, Any] = field(default_factory=dict)


def child(name: str, cmd: list[str], *, capture: bool = False,
          env: dict[str, str] | None = None, watch: Path | None = None,
          must_succeed: bool = True) -> tuple[Stage, str]:
    """Run `cmd` as a child; its wall time and its own peak RSS (from wait4, so not the
    maximum over every child this process ever had). Fails loudly with the child's
    stderr: a benchmark of a failed stage is no figure."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"medsynergy-bench-{os.getpid()}.out"
    err_path = out_path.with_suffix(".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out if capture else subprocess.DEVNULL,
                                stderr=err, env=env)
        peak_disk = 0
        if watch is not None:  # the most disk the stage's files (and spill) took at once
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                peak_disk = max(peak_disk, du_mib(watch))
                time.sleep(2)
        else:
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text() if capture else ""
    errors = err_path.read_text()
    out_path.unlink()
    err_path.unlink()
    if proc.returncode != 0 and must_succeed:
        sys.exit(f"stage {name} failed ({' '.join(cmd)}):\n{errors[-4000:]}")
    stage = Stage(name, round(seconds, 2), round(usage.ru_maxrss / 1024))
    if proc.returncode != 0:  # recorded, not a figure: the ratios skip it
        stage.detail["failed"] = f"exit {proc.returncode}: {errors.strip()[-300:]}"
        return stage, ""
    if watch is not None:
        stage.detail["peak_disk_mib"] = peak_disk
    return stage, text


def du_mib(path: Path) -> int:
    if path.is_file():
        return round(path.stat().st_size / 2**20)
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20)


# --- the stages a child runs through this same script --------------------------------

def bare_copy(data: Path, db: Path, canonical: bool = False) -> None:
    """The least any ingest can cost: each input file copied into a fresh database file by
    `CREATE TABLE AS SELECT * FROM read_parquet(...)`.

    `canonical`: into the warehouse's own tables instead, each file's columns inserted into
    its canonical table (the Tuva input layer: 150 columns for a claim line, most of them
    absent from a given file and so null). DuckDB 2.0 writes a column of nulls at about
    the cost of a column of values, so this is the least a load into those tables can
    cost: a second lower bound."""
    import duckdb
    import pyarrow.parquet as pq

    from medsynergy.schema import table as canonical_table

    db.unlink(missing_ok=True)
    with duckdb.connect(str(db)) as con:
        for name in INPUTS:
            path = data / (name + ".parquet")
            if not canonical:
                con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet('{path}')")
                continue
            target = canonical_table(name)
            con.execute(target.ddl(f'"{name}"'))
            have = [n for n in pq.read_schema(str(path)).names if n in target.column_names]
            cols = ", ".join(f'"{n}"' for n in have)
            con.execute(f"INSERT INTO \"{name}\" ({cols}) SELECT {cols} FROM "
                        f"read_parquet('{path}')")
        con.execute("CHECKPOINT")
    sys.stdout.write(json.dumps({"database_mib": du_mib(db)}) + "\n")
    db.unlink()


def bare_scan(data: Path) -> None:
    import duckdb

    row = duckdb.connect().execute(
        "SELECT count(*), sum(paid) FROM (SELECT person_id, date_trunc('month', "
        "claim_start_date) AS month, sum(paid_amount) AS paid FROM "
        f"read_parquet('{data / 'medical_claim.parquet'}') GROUP BY ALL)").fetchone()
    assert row is not None
    sys.stdout.write(json.dumps({"member_months_with_claims": row[0],
                                 "paid": str(row[1])}) + "\n")


def one_mart(db: Path, name: str) -> None:
    """Build and store one mart, its inputs already stored; seconds inside the process
    (interpreter start and imports are not the mart's)."""
    from medsynergy.engine.duckdb_engine import DuckDBWarehouse
    from medsynergy.marts.registry import mart, publish_plan

    with DuckDBWarehouse(db) as wh:
        t0 = time.perf_counter()
        wh.publish(publish_plan([mart(name)], wh.table))
        seconds = time.perf_counter() - t0
    sys.stdout.write(json.dumps({"seconds": round(seconds, 2)}) + "\n")


# --- one population ---------------------------------------------------------------

def population(out: Path, label: str, seed: int) -> tuple[Path, Stage]:
    members = round(SIZES[label] * MEMBERS_PER_MEMBER_YEAR)
    data = out / "pop" / f"{label}-s{seed}"
    record = data / "bench_generate.json"
    if record.exists():
        saved = json.loads(record.read_text())
        if (saved.get("members"), saved.get("seed"), saved.get("years")) == (members, seed, YEARS):
            stage = Stage(**saved["stage"])
            stage.detail["cached"] = True
            return data, stage
    shutil.rmtree(data, ignore_errors=True)
    stage, _ = child("generate", [*CLI, "generate", "--members", str(members), "--years", YEARS,
                                  "--seed", str(seed), "--out", str(data)])
    stage.detail = {"members": members, "input_mib": du_mib(data)}
    record.write_text(json.dumps({"members": members, "seed": seed, "years": YEARS,
                                  "measured": dt.date.today().isoformat(),
                                  "stage": asdict(stage)}, indent=2) + "\n")
    return data, stage


def main_only(out: Path, label: str, seed: int,
              record: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Generation and the main job's stages, with the disk they take (the 10M run).

    The stages of `demo --simulate 0` run one child each (ingest, every mart, every example
    contract, report), so a run that cannot finish still records the stages it completed
    (`record` is called after each); "main job" is their sum (four interpreter starts, a
    few seconds, more than one `demo`), its peak RSS the largest of theirs."""
    data, gen = population(out, label, seed)
    work = out / "work" / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "wh.duckdb"
    wh = [*CLI, "--db", str(db)]
    files = [str(data / f"{t}.parquet") for t in INPUTS]
    contracts = sorted(str(p) for p in (ROOT / "examples" / "contracts").glob("*.yaml"))
    result: dict[str, Any] = {"size": label, "member_years": None, "medical_claim_lines": None,
                              "input_mib": du_mib(data), "stages": [asdict(gen)], "marts": [],
                              "ratios": {}}
    steps = [("ingest", [*wh, "ingest", "--source", "bench", *files]),
             ("marts (all)", [*wh, "measure"]),
             ("contracts", [*wh, "compare", "--contracts", *contracts]),
             ("report", [*wh, "report", "--out", str(work / "report.html")])]
    done: list[Stage] = []
    for name, cmd in steps:
        st, _ = child(name, cmd, watch=work)
        st.detail["warehouse_mib"] = du_mib(db)
        done.append(st)
        result["stages"].append(asdict(st))
        record(result)
    total = Stage("main job", round(sum(s.seconds for s in done), 2),
                  max(s.peak_mib for s in done),
                  {"peak_disk_mib": max(s.detail["peak_disk_mib"] for s in done),
                   "warehouse_mib": du_mib(db), "sum_of_stages": True})
    result["stages"].append(asdict(total))
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = dict(con.execute(
            "SELECT 'medical_claim', count(*) FROM medical_claim UNION ALL "
            "SELECT 'member_months', count(*) FROM member_months").fetchall())
    result["member_years"] = round(rows["member_months"] / 12)
    result["medical_claim_lines"] = rows["medical_claim"]
    shutil.rmtree(work)
    return result


def bench_size(out: Path, label: str, seed: int, pandas: bool, each: bool) -> dict[str, Any]:
    data, gen = population(out, label, seed)
    work = out / "work" / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = [str(data / f"{t}.parquet") for t in INPUTS]
    me = [sys.executable, str(Path(__file__).resolve())]
    stages: list[Stage] = [gen]

    st, text = child("bare copy", [*me, "bare-copy", str(data), str(work / "bare.duckdb")],
                     capture=True)
    st.detail = json.loads(text)
    stages.append(st)

    st, text = child("bare copy (canonical tables)",
                     [*me, "bare-copy-wide", str(data), str(work / "bare.duckdb")], capture=True)
    st.detail = json.loads(text)
    stages.append(st)

    db = work / "wh.duckdb"
    wh = [*CLI, "--db", str(db)]
    st, _ = child("ingest", [*wh, "ingest", "--source", "bench", *files])
    st.detail = {"warehouse_mib": du_mib(db)}
    stages.append(st)

    st, text = child("bare scan", [*me, "bare-scan", str(data)], capture=True)
    st.detail = json.loads(text)
    stages.append(st)

    stages.append(child("marts (all)", [*wh, "measure"])[0])
    marts: list[Stage] = []
    if each:
        from medsynergy.marts.registry import MARTS

        for m in MARTS:
            if m.persist:
                st, text = child(m.name, [*me, "mart", str(db), m.name], capture=True)
                st.detail = {"inside_seconds": json.loads(text)["seconds"]}
                marts.append(st)

    stages.append(child("PMPM + readmissions", [*wh, "measure", "--only", "cost",
                                                 "--only", "readmissions"])[0])
    if pandas:
        # the baseline may run out of memory at 1M: that is a result, not a crash
        st, text = child("pandas baseline", [*me[:1], str(ROOT / "benchmarks" / "pandas_baseline.py"),
                                             str(data)], capture=True, must_succeed=False)
        if text:
            st.detail = json.loads(text)
        stages.append(st)

    contracts = sorted(str(p) for p in (ROOT / "examples" / "contracts").glob("*.yaml"))
    stages.append(child("contracts", [*wh, "compare", "--contracts", *contracts])[0])
    stages.append(child("contracts --simulate 1000",
                        [*wh, "compare", "--simulate", "1000", "--contracts", *contracts])[0])
    stages.append(child("report", [*wh, "report", "--out", str(work / "report.html")])[0])

    main_db = work / "main.duckdb"
    st, _ = child("main job", [*CLI, "--db", str(main_db), "demo", "--data", str(data),
                               "--out", str(work / "main"), "--simulate", "0"])
    st.detail = {"warehouse_mib": du_mib(main_db)}
    stages.append(st)

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = dict(con.execute(
            "SELECT 'medical_claim', count(*) FROM medical_claim UNION ALL "
            "SELECT 'member_months', count(*) FROM member_months").fetchall())
    result = {"size": label, "member_years": round(rows["member_months"] / 12),
              "medical_claim_lines": rows["medical_claim"], "input_mib": du_mib(data),
              "stages": [asdict(s) for s in stages], "marts": [asdict(s) for s in marts]}
    result["ratios"] = ratios(result)
    shutil.rmtree(work)  # the warehouses of a size are not kept (10M: tens of GiB)
    return result


def stage(result: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in result["stages"] if s["name"] == name), None)


def ratios(result: dict[str, Any]) -> dict[str, float]:
    def sec(name: str) -> float | None:
        s = stage(result, name)
        return float(s["seconds"]) if s else None

    out: dict[str, float] = {}
    copy, ingest, scan = sec("bare copy"), sec("ingest"), sec("bare scan")
    if copy and ingest:
        out["ingest / bare copy"] = round(ingest / copy, 2)
    wide = sec("bare copy (canonical tables)")
    if wide and ingest:
        out["ingest / bare copy into the canonical tables"] = round(ingest / wide, 2)
    if scan:
        marts = sec("marts (all)")
        if marts:
            out["marts (all) / bare scan"] = round(marts / scan, 1)
        for m in result["marts"]:
            out[f"{m['name']} / bare scan"] = round(m["detail"]["inside_seconds"] / scan, 2)
    pandas, ours = sec("pandas baseline"), sec("PMPM + readmissions")
    failed = (stage(result, "pandas baseline") or {}).get("detail", {}).get("failed")
    if pandas and ours and not failed:
        out["pandas baseline / PMPM + readmissions"] = round(pandas / ours, 1)
        # the two marts alone, read from the warehouse where what they read is stored
        alone = [m["detail"]["inside_seconds"] for m in result["marts"]
                 if m["name"] in ("cost", "readmissions")]
        if len(alone) == 2:
            out["pandas baseline / (cost + readmissions alone)"] = round(pandas / sum(alone), 1)
    return out


def budgets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each budget of issue 7 that the sizes run can test: met or not, with the figure."""
    by = {r["size"]: r for r in results}
    rows: list[dict[str, Any]] = []

    def add(what: str, figure: float, limit: float, unit: str, *, at_most: bool = True) -> None:
        met = figure <= limit if at_most else figure >= limit
        rows.append({"budget": what, "measured": f"{figure:,.1f} {unit}",
                     "limit": f"{'<=' if at_most else '>='} {limit:,.0f} {unit}", "met": met})

    if "1M" in by:
        main = stage(by["1M"], "main job")
        assert main is not None
        add("main job, 1M member-years: time", main["seconds"], BUDGET_MAIN_1M_S, "s")
        add("main job, 1M member-years: peak RSS", main["peak_mib"] / GIB,
            BUDGET_MAIN_1M_MIB / GIB, "GiB")
        marts = stage(by["1M"], "marts (all)")
        assert marts is not None
        add("all marts, 1M member-years", marts["seconds"], BUDGET_MARTS_1M_S, "s")
    if "100k" in by:
        main = stage(by["100k"], "main job")
        assert main is not None
        add("main job, 100k member-years", main["seconds"], BUDGET_MAIN_100K_S, "s")
    for r in results:
        ratio = r["ratios"].get("ingest / bare copy")
        if ratio is not None:
            add(f"ingest / bare copy, {r['size']}", ratio, BUDGET_INGEST_RATIO, "x")
        ratio = r["ratios"].get("pandas baseline / PMPM + readmissions")
        if ratio is not None:
            add(f"pandas / (PMPM + readmissions with what they read), {r['size']}", ratio,
                BUDGET_PANDAS_RATIO, "x", at_most=False)
        ratio = r["ratios"].get("pandas baseline / (cost + readmissions alone)")
        if ratio is not None:
            add(f"pandas / (the two marts alone), {r['size']}", ratio, BUDGET_PANDAS_RATIO,
                "x", at_most=False)
    return rows


# --- output ---------------------------------------------------------------------------

def machine() -> dict[str, str]:
    import duckdb
    import ibis
    import pandas
    import pyarrow

    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = next((int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    from medsynergy import __version__

    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu}, {os.cpu_count()} cores, {mem / 2**20:.0f} GiB, {platform.system()} "
                   f"{platform.release()}",
        "versions": f"medsynergy {__version__} ({commit or 'no git'}), Python "
                    f"{platform.python_version()}, DuckDB {duckdb.__version__}, Ibis "
                    f"{ibis.__version__}, pyarrow {pyarrow.__version__}, pandas "
                    f"{pandas.__version__}",
    }


def markdown(results: list[dict[str, Any]], info: dict[str, str], command: str) -> str:
    sizes = [r["size"] for r in results]
    lines = ["# medsynergy scale benchmark", "",
             f"Written by `{command}` (issue 7). Machine: {info['machine']}. "
             f"{info['versions']}. Date: {info['date']}.", "",
             "Each stage runs in a child process of its own: wall seconds / peak RSS (MiB). "
             "Medicare population 2023-2025, seed as given; inputs are the generated Parquet "
             "files.", "",
             "| | " + " | ".join(sizes) + " |", "|---|" + "---:|" * len(sizes)]
    lines.append("| member-years | " + " | ".join(f"{r['member_years']:,}" for r in results) + " |")
    lines.append("| medical claim lines | " + " | ".join(
        f"{r['medical_claim_lines']:,}" for r in results) + " |")
    lines.append("| input Parquet (MiB) | " + " | ".join(f"{r['input_mib']:,}" for r in results) + " |")
    names = [s["name"] for s in results[-1]["stages"]]
    for r in results:
        names += [s["name"] for s in r["stages"] if s["name"] not in names]
    for name in names:
        cells = []
        for r in results:
            s = stage(r, name)
            cells.append("" if s is None else f"{s['seconds']:,.1f} s / {s['peak_mib']:,}"
                         + (" (cached)" if s["detail"].get("cached") else "")
                         + (" (failed)" if s["detail"].get("failed") else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    failed = [(r["size"], st["name"], st["peak_mib"], st["detail"]["failed"])
              for r in results for st in r["stages"] if st["detail"].get("failed")]
    if failed:
        lines += ["", "Stages that did not complete (no figure; the ratios skip them): " + "; ".join(
            f"{size} {name} ({why}, peak {peak:,} MiB: exit -9 is the kernel's out-of-memory "
            "kill)" for size, name, peak, why in failed) + "."]
    keys = list(dict.fromkeys(k for r in results for k in r["ratios"]
                              if "/ bare scan" not in k or k.startswith("marts")))
    lines += ["", "Ratios to the lower bounds, measured on the same files in the same run:", "",
              "| ratio | " + " | ".join(sizes) + " |", "|---|" + "---:|" * len(sizes)]
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(r["ratios"].get(k, "")) for r in results) + " |")
    rows = budgets(results)
    if rows:
        lines += ["", "Budgets (issue 7):", "", "| budget | measured | limit | met |",
                  "|---|---:|---:|---|"]
        lines += [f"| {b['budget']} | {b['measured']} | {b['limit']} | "
                  f"{'yes' if b['met'] else '**no**'} |" for b in rows]
    with_marts = [r for r in results if r["marts"]]
    if with_marts:
        lines += ["", "Each stored mart alone (its inputs stored; seconds inside the process, "
                  "peak RSS of the process, ratio to the bare scan):", "",
                  "| mart | " + " | ".join(r["size"] for r in with_marts) + " |",
                  "|---|" + "---:|" * len(with_marts)]
        for m in with_marts[-1]["marts"]:
            cells = []
            for r in with_marts:
                x = next((s for s in r["marts"] if s["name"] == m["name"]), None)
                cells.append("" if x is None else
                             f"{x['detail']['inside_seconds']:.2f} s / {x['peak_mib']:,} / "
                             f"{r['ratios'][m['name'] + ' / bare scan']}x")
            lines.append(f"| {m['name']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in {"bare-copy", "bare-copy-wide", "bare-scan", "mart"}:
        what, rest = sys.argv[1], sys.argv[2:]
        if what in ("bare-copy", "bare-copy-wide"):
            bare_copy(Path(rest[0]), Path(rest[1]), canonical=what == "bare-copy-wide")
        elif what == "bare-scan":
            bare_scan(Path(rest[0]))
        else:
            one_mart(Path(rest[0]), rest[1])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10k,100k,1M", help="comma-separated: 10k,100k,1M,10M")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "out" / "bench")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results.md")
    ap.add_argument("--no-pandas-above", default="1M",
                    help="skip the pandas baseline for sizes above this one")
    ap.add_argument("--no-each", action="store_true", help="skip each mart alone")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="write the results page again from a run's JSON (no run)")
    ap.add_argument("--main-only", default="10M",
                    help="sizes from this one up: generation and the main job only")
    args = ap.parse_args()
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in [*labels, args.no_pandas_above, args.main_only]:
        if s not in SIZES:
            sys.exit(f"unknown size {s!r}: choose from {', '.join(SIZES)}")
    if args.render is not None:
        saved = json.loads(args.render.read_text())
        runs = saved["results"]
        for r in runs:
            r["ratios"] = ratios(r) if r["stages"] else r["ratios"]
        args.results.write_text(markdown(runs, saved, saved.get("command", "make bench")))
        sys.stdout.write(args.results.read_text())
        return
    info = machine()
    results: list[dict[str, Any]] = []
    for label in labels:
        sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {label} member-years...\n")
        if SIZES[label] >= SIZES[args.main_only]:
            def record(partial: dict[str, Any], done: list[dict[str, Any]] = results) -> None:
                (args.out / f"bench_scale-{'-'.join(labels)}.json").write_text(json.dumps(
                    {**info, "results": [*done, partial], "complete": False}, indent=2) + "\n")
            result = main_only(args.out, label, args.seed, record)
        else:
            result = bench_size(args.out, label, args.seed,
                                pandas=SIZES[label] <= SIZES[args.no_pandas_above],
                                each=not args.no_each)
        results.append(result)
        (args.out / f"bench_scale-{'-'.join(labels)}.json").write_text(json.dumps(
            {**info, "results": results, "budgets": budgets(results)}, indent=2) + "\n")
    command = "make bench" if args.sizes == "10k,100k,1M" else \
        f"python benchmarks/scale.py --sizes {args.sizes}"
    text = markdown(results, info, command)
    args.results.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
