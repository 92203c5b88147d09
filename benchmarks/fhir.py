"""Benchmark of FHIR ingest (issue "FHIR R4 and CMS formats in": at least 20,000 resources
per second per core from gzipped bundles, on the 615-patient Synthea set, 191k resources).

    python benchmarks/fhir.py [--data DIR] [--out DIR]

Measures, each in a child process so its wall time and peak RSS are its own:
- the lower bound: gunzip + orjson parse + visiting every resource, one core;
- the conversion (`convert_fhir`) with 1 worker and with every core;
- the whole `medsynergy ingest --format fhir` into a fresh warehouse (conversion, then the
  ordinary ingest of every canonical table: rules, quarantine, atomic writes).
Prints one JSON object and writes it to DIR/bench_fhir.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOWER_BOUND = """
import gzip, sys, time, orjson, pathlib
t = time.perf_counter(); n = 0
for f in sorted(pathlib.Path(sys.argv[1]).glob("*.json.gz")):
    b = orjson.loads(gzip.decompress(f.read_bytes()))
    for e in b.get("entry", ()):
        n += e["resource"]["resourceType"] != ""
print(n, time.perf_counter() - t)
"""

CONVERT = """
import sys, time, pathlib
from medsynergy.ingest.formats.fhir import convert_fhir
t = time.perf_counter()
c = convert_fhir([pathlib.Path(sys.argv[1])], workers=int(sys.argv[2]))
print(sum(x.records_in for x in c.counts), time.perf_counter() - t)
"""


def _default_data() -> Path:
    here = Path(__file__).resolve().parents[1]
    roots = [Path(os.environ["MEDSYNERGY_SHARED"])] if "MEDSYNERGY_SHARED" in os.environ else []
    roots += [here.parent / "shared", Path("/work/shared")]
    for root in roots:
        p = root / "data" / "synthea-r4-smart" / "bundles"
        if p.is_dir():
            return p
    return roots[0] / "data" / "synthea-r4-smart" / "bundles"


PEAK = """
import resource
print(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))
"""


def _child(script: str, *args: str) -> tuple[list[str], float, float]:
    """(the script's printed words, wall seconds, peak RSS in GiB of it and its workers)."""
    t = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", script + PEAK, *args], capture_output=True,
                         text=True, check=True)
    wall = time.perf_counter() - t
    words = res.stdout.split()
    return words[:-1], wall, int(words[-1]) / (1 << 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=_default_data())
    ap.add_argument("--out", type=Path, default=Path("out/bench"))
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    result: dict[str, object] = {"data": str(a.data), "cores": cores}

    (n, secs), _, peak = _child(LOWER_BOUND, str(a.data))
    result["resources"] = int(n)
    lower_secs = float(secs)
    result["lower_bound"] = {"seconds": round(float(secs), 2),
                             "resources_per_second": round(int(n) / float(secs)),
                             "peak_rss_gib": round(peak, 2)}
    for workers in sorted({1, cores}):
        (n2, secs), wall, peak = _child(CONVERT, str(a.data), str(workers))
        result[f"convert_{workers}_workers"] = {
            "records": int(n2), "seconds": round(float(secs), 2), "wall_seconds": round(wall, 2),
            "resources_per_second": round(int(n2) / float(secs)),
            "resources_per_second_per_core": round(int(n2) / float(secs) / workers),
            "peak_rss_gib": round(peak, 2),
            # core-seconds spent per core-second of the single-core lower bound
            "ratio_to_lower_bound": round(float(secs) * workers / lower_secs, 2),
        }
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "fhir.duckdb"
        script = ("import sys\nfrom medsynergy.cli import app\n"
                  "try:\n    app(sys.argv[1:])\nexcept SystemExit as e:\n"
                  "    assert not e.code, e.code\n")
        _, wall, peak = _child(script, "--db", str(db), "ingest", str(a.data), "--format",
                               "fhir", "--source", "synthea", "--output", "json")
        result["ingest_end_to_end"] = {"seconds": round(wall, 2), "peak_rss_gib": round(peak, 2)}
    text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")
    (a.out / "bench_fhir.json").write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
