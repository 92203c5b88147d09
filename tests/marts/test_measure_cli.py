"""`medsynergy measure` and `show` end to end: build, store, print; totals agree with the
input files; errors are one line with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from medsynergy.synth import generate


def run(args: list[str], db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "medsynergy.cli", "--db", str(db), *args],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("measure")
    data = root / "data"
    generate(data, members=300, years=(2024, 2024), seed=7)
    db = root / "w.duckdb"
    assert run(["ingest", str(data), "--source", "synth"], db).returncode == 0
    res = run(["measure"], db)
    assert res.returncode == 0, res.stderr
    return data, db


def test_show_by_payer_sums_to_the_input_files(built: tuple[Path, Path]) -> None:
    data, db = built
    res = run(["show", "claims_by_month", "--by", "payer", "--format", "json"], db)
    assert res.returncode == 0, res.stderr
    shown = json.loads(res.stdout)
    paid, lines = duckdb.connect().execute(
        f"select sum(paid_amount)::varchar, count(*) from '{data}/medical_claim.parquet'"
    ).fetchall()[0]
    assert [r["payer"] for r in shown] == ["Medicare"]
    assert Decimal(str(shown[0]["paid_amount"])) == Decimal(paid)
    assert shown[0]["claim_lines"] == lines


def test_show_limits_and_orders_rows(built: tuple[Path, Path]) -> None:
    _, db = built
    res = run(["show", "claims_by_month", "--limit", "2", "--format", "csv"], db)
    assert res.returncode == 0, res.stderr
    rows = res.stdout.strip().splitlines()
    assert rows[0] == "payer,plan,service_month,claim_lines,paid_amount,allowed_amount"
    assert len(rows) == 3
    assert rows[1] < rows[2]


def test_unknown_mart_and_dimension_are_one_line_errors(built: tuple[Path, Path]) -> None:
    _, db = built
    for args, text in ((["show", "nope"], "unknown mart 'nope'"),
                       (["show", "claims_by_month", "--by", "provider"], "cannot be shown by 'provider'"),
                       (["measure", "--only", "nope"], "unknown mart 'nope'")):
        res = run(args, db)
        assert res.returncode == 2
        assert res.stderr.strip().splitlines() == [f"error: {res.stderr.strip()[7:]}"]
        assert text in res.stderr


def test_show_before_measure_says_what_to_do(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    assert run(["init"], db).returncode == 0
    res = run(["show", "claims_by_month"], db)
    assert res.returncode == 2
    assert "run `medsynergy measure`" in res.stderr
