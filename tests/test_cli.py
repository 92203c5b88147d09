"""The CLI end to end, in a subprocess: exit codes, one-line errors, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEADER = "claim_id,claim_line_number,person_id,claim_start_date,claim_end_date,paid_date,paid_amount,rendering_npi\n"


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "medsynergy.cli", "--db", str(cwd / "w.duckdb"), *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def assert_user_error(res: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr  # one line, no traceback
    assert lines[0].startswith("error: ")
    assert "Traceback" not in res.stderr
    for text in expected:
        assert text in lines[0]


def test_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    assert_user_error(run(["ingest", "nope.csv", "--source", "s"], tmp_path),
                      "nope.csv", "no such file or folder")


def test_wrong_columns_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "medical_claim.csv").write_text("claim_id,person_id\nC1,P1\n")
    assert_user_error(run(["ingest", "medical_claim.csv", "--source", "s"], tmp_path),
                      "missing required column(s) for medical_claim",
                      "claim_line_number, claim_start_date, claim_end_date")


def test_unreadable_csv_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "medical_claim.csv").write_text(
        HEADER + "C1,1,P1,2024-01-01,2024-01-01,2024-01-09,10.00,1234567893,EXTRA\n")
    assert_user_error(run(["ingest", "medical_claim.csv", "--source", "s"], tmp_path),
                      "medical_claim.csv", "unreadable CSV at data row 1 (line 2): 9 fields, header has 8",
                      "Expected 8 columns, got 9")


def test_invalid_utf8_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "medical_claim.csv").write_bytes(
        HEADER.encode() + b"C0,1,P,2024-01-01,2024-01-01,2024-01-09,10.00,1234567893\n"
        + b"C1,1,P\xff\xfe,2024-01-01,2024-01-01,2024-01-09,10.00,1234567893\n")
    assert_user_error(run(["ingest", "medical_claim.csv", "--source", "s"], tmp_path),
                      "medical_claim.csv", "unreadable CSV at line 3: not valid UTF-8")


def test_broken_row_after_a_multiline_field_is_located(tmp_path: Path) -> None:
    (tmp_path / "medical_claim.csv").write_text(
        HEADER + '"C0\nsecond line",1,P,2024-01-01,2024-01-01,2024-01-09,10.00,1234567893\n'
        + "C1,1,P,2024-01-01\n")
    assert_user_error(run(["ingest", "medical_claim.csv", "--source", "s"], tmp_path),
                      "unreadable CSV at data row 2 (line 4): 4 fields, header has 8")


def test_unknown_rule_filter_is_a_user_error(tmp_path: Path) -> None:
    assert_user_error(run(["quarantine", "--rule", "no_such_rule"], tmp_path), "no_such_rule")


def test_ingest_status_quarantine_findings(tmp_path: Path) -> None:
    (tmp_path / "medical_claim.csv").write_text(
        HEADER
        + "C1,1,P1,2024-01-01,2024-01-01,2024-01-09,10.00,1234567893\n"
        + "C2,1,P1,2024-01-05,2024-01-04,2024-01-09,20.00,1234567893\n"
        + "C3,1,P2,2024-01-05,2024-01-05,2024-01-09,30.00,1234567890\n"
    )
    res = run(["ingest", "medical_claim.csv", "--source", "s", "--output", "json"], tmp_path)
    assert res.returncode == 0, res.stderr
    (load,) = json.loads(res.stdout)
    assert (load["status"], load["rows_in"], load["rows_loaded"], load["rows_quarantined"],
            load["findings"]) == ("loaded", 3, 2, 1, 1)

    again = run(["ingest", "medical_claim.csv", "--source", "s", "--output", "json"], tmp_path)
    assert json.loads(again.stdout)[0]["status"] == "skipped"

    status = json.loads(run(["status", "--format", "json"], tmp_path).stdout)
    counts = {t["table"]: t["rows"] for t in status["tables"]}
    assert counts["medical_claim"] == 2
    assert counts["quarantine"] == 1
    assert counts["load_log"] == 1
    assert status["quarantine_by_rule"] == [{"rule": "claim_end_before_start", "rows": 1}]
    assert status["findings_by_rule"] == [{"rule": "npi_invalid", "findings": 1}]

    q = json.loads(run(["quarantine", "--rule", "claim_end_before_start", "--format", "json"], tmp_path).stdout)
    assert [(r["row_number"], r["rule"]) for r in q] == [(2, "claim_end_before_start")]
    assert json.loads(q[0]["raw_row"])["claim_id"] == "C2"

    f = run(["findings", "--format", "csv"], tmp_path).stdout.splitlines()
    assert f[0] == "file_name,row_number,rule,column_name,value,message"
    assert f[1].split(",")[1:5] == ["3", "npi_invalid", "rendering_npi", "1234567890"]


@pytest.mark.slow
def test_demo_writes_the_report(tmp_path: Path) -> None:
    data = Path(__file__).resolve().parents[1] / "examples" / "data"
    res = subprocess.run(
        [sys.executable, "-m", "medsynergy.cli", "demo", "--data", str(data), "--out", str(tmp_path / "out")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )
    assert res.returncode == 0, res.stderr
    report = tmp_path / "out" / "report.html"
    assert report.is_file()
    assert "rows in" in res.stdout
