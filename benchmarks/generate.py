"""Benchmark of the synthetic population generator (issue 3's budget: 1 million
member-years in under 60 s and under 6 GiB peak memory on a 2-core machine).

    python benchmarks/generate.py [--members N] [--out DIR]

Runs `medsynergy generate` in a child process (so its peak RSS is measured alone), then a
lower bound: the time to encode the same rows again with the generator's Parquet settings
(each row group is read back, dictionary-encoded as the generator holds it, and only the
writing is timed): the unavoidable work of any generator that writes these files.
Prints one JSON object and writes it to DIR/bench_generate.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

TABLES = ("eligibility", "medical_claim", "pharmacy_claim", "observation")


def main() -> None:
    ap = argparse.ArgumentParser()
    # 410k Medicare members over 2023-2025 are about one million member-years
    ap.add_argument("--members", type=int, default=410_000)
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    args = ap.parse_args()
    data = args.out / "synthetic"
    shutil.rmtree(data, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "medsynergy.cli", "generate", "--members", str(args.members),
           "--years", "2023-2025", "--seed", "1", "--out", str(data)]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    manifest = json.loads((data / "manifest.json").read_text())
    con_sql = (f"select sum(datediff('day', enrollment_start_date, enrollment_end_date) + 1)"
               f" / 365.25 from read_parquet('{data}/eligibility.parquet')")
    import duckdb

    row = duckdb.connect().execute(con_sql).fetchone()
    member_years = float(row[0]) if row else 0.0
    lower = sum(_rewrite_seconds(data / f"{t}.parquet", args.out / f"{t}.rewrite.parquet")
                for t in TABLES)
    result = {
        "members": args.members, "member_years": round(member_years),
        "rows": {t: manifest[f"{t}_rows"] for t in TABLES},
        "wall_seconds": round(wall, 1), "peak_rss_mib": round(peak_kib / 1024),
        "seconds_per_million_member_years": round(wall / member_years * 1e6, 1),
        "lower_bound_seconds": round(lower, 1), "ratio_to_lower_bound": round(wall / lower, 2),
        "budget": {"seconds_per_million_member_years": 60, "peak_rss_mib": 6144},
    }
    result["within_budget"] = (result["seconds_per_million_member_years"] <= 60
                               and result["peak_rss_mib"] <= 6144)
    (args.out / "bench_generate.json").write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    if not result["within_budget"]:
        sys.exit(1)


def _rewrite_seconds(source: Path, target: Path) -> float:
    """Seconds spent writing `source` again, row group by row group (bounded memory), held
    in memory with the generator's own Arrow schema and written with its settings."""
    from medsynergy.synth.build import SCHEMAS, _statistics

    schema = SCHEMAS[source.stem]
    f = pq.ParquetFile(source)
    spent = 0.0
    with pq.ParquetWriter(target, schema, compression="zstd", store_schema=False,
                          write_statistics=_statistics(schema)) as writer:
        for i in range(f.num_row_groups):
            group = f.read_row_group(i).cast(schema)
            t0 = time.perf_counter()
            writer.write_table(group)
            spent += time.perf_counter() - t0
    target.unlink()
    return spent


if __name__ == "__main__":
    main()
