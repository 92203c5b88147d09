"""Benchmark of the marts (issue 4's budget: all marts for 1 million member-years in under
60 s on DuckDB, on this 2-core machine).

    python benchmarks/marts.py [--data DIR] [--out DIR]

Loads the generated input files (default: the population `benchmarks/generate.py` wrote)
straight into a DuckDB warehouse with one INSERT ... SELECT per table (the canonical
columns, lineage filled in; no ingest rules: ingest is benchmarked on its own), then runs
`medsynergy measure` in a child process so its wall time and peak RSS are its own, and
times each mart alone. Prints one JSON object and writes it to DIR/bench_marts.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

TABLES = ("eligibility", "medical_claim", "pharmacy_claim", "provider", "observation")


def load(db: Path, data: Path) -> dict[str, int]:
    """The input files into the warehouse's canonical tables, as they are."""
    from medsynergy.engine.duckdb_engine import DuckDBWarehouse

    rows = {}
    with DuckDBWarehouse(db) as wh:
        for name in TABLES:
            path = data / f"{name}.parquet"
            src = f"read_parquet('{path}')"
            have = {r[0] for r in wh.raw.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
            cols = []
            for c in wh.tables[name].columns:
                if c.name in have:
                    cols.append(f"CAST({c.name} AS {c.sql_type}) AS {c.name}")
                elif c.name == "data_source":
                    cols.append("'bench' AS data_source")
                else:
                    cols.append(f"CAST(NULL AS {c.sql_type}) AS {c.name}")
            wh.raw.execute(f"INSERT INTO {name} SELECT {', '.join(cols)} FROM {src}")
            rows[name] = wh.raw.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        wh.checkpoint()
    return rows


def time_each(db: Path) -> dict[str, float]:
    """Seconds to build and store each stored mart on its own, reading stored inputs."""
    from medsynergy.engine.duckdb_engine import DuckDBWarehouse
    from medsynergy.marts.registry import MARTS, publish_plan

    each = {}
    with DuckDBWarehouse(db) as wh:
        for m in MARTS:
            if not m.persist:
                continue
            t = time.perf_counter()
            wh.publish(publish_plan([m], wh.table))
            each[m.name] = round(time.perf_counter() - t, 1)
    return each


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--each", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, default=Path("out/bench/synthetic"))
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    args = ap.parse_args()
    if args.each is not None:
        sys.stdout.write(json.dumps(time_each(args.each)) + "\n")
        return
    if not (args.data / "medical_claim.parquet").exists():
        sys.exit(f"no generated population in {args.data}: run benchmarks/generate.py first")
    db = args.out / "marts.duckdb"
    db.unlink(missing_ok=True)
    t0 = time.perf_counter()
    rows = load(db, args.data)
    load_s = time.perf_counter() - t0
    cli = [sys.executable, "-m", "medsynergy.cli", "--db", str(db)]
    t1 = time.perf_counter()
    subprocess.run([*cli, "measure"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t1
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # each stored mart alone, its inputs already stored by the run above (in a child
    # process, so the figures are not those of a process that already ran everything)
    out = subprocess.run([sys.executable, __file__, "--each", str(db)], check=True,
                         capture_output=True, text=True).stdout
    each = json.loads(out)
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        member_years = con.execute("SELECT count(*) / 12 FROM member_months").fetchall()[0][0]
    result = {
        "input_rows": rows, "member_years": round(float(member_years)),
        "load_seconds": round(load_s, 1),
        "measure_seconds": round(wall, 1), "peak_rss_mib": round(peak_kib / 1024),
        "seconds_per_million_member_years": round(wall / float(member_years) * 1e6, 1),
        "each_alone_seconds": each,
        "budget": {"seconds_per_million_member_years": 60},
    }
    result["within_budget"] = result["seconds_per_million_member_years"] <= 60
    (args.out / "bench_marts.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
