"""Malformed FHIR records (issue "FHIR R4 and CMS formats in", acceptance): a bad JSON line,
a missing required element, an unresolvable reference and an amount in an unknown currency
are each quarantined with the reason, file and line; the rest of the file loads. Run through
the command line, as a user would."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

import medsynergy


def _eob(eob_id: str, patient: str | None, amount: float, currency: str = "USD") -> dict[str, Any]:
    r: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit", "id": eob_id, "status": "active",
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "professional"}]},
        "billablePeriod": {"start": "2023-04-01", "end": "2023-04-01"},
        "insurer": {"display": "Acme Health"},
        "item": [{"sequence": 1, "servicedDate": "2023-04-01",
                  "productOrService": {"coding": [
                      {"system": "http://www.ama-assn.org/go/cpt", "code": "99213"}]},
                  "adjudication": [{"category": {"coding": [{"code": "benefit"}]},
                                    "amount": {"value": amount, "currency": currency}}]}],
        "payment": {"amount": {"value": amount, "currency": currency}},
    }
    if patient is not None:
        r["patient"] = {"reference": patient}
    return r


def test_each_malformed_record_is_quarantined_and_the_rest_loads(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    lines = [
        orjson.dumps(_eob("good-1", "Patient/p1", 80.25)).decode(),            # line 1
        '{"resourceType": "ExplanationOfBenefit", "id": "broken", ',           # line 2
        orjson.dumps(_eob("no-patient", None, 10.0)).decode(),                 # line 3
        orjson.dumps(_eob("lost", "urn:uuid:0000-not-here", 11.0)).decode(),   # line 4
        orjson.dumps(_eob("euro", "Patient/p1", 12.0, "EUR")).decode(),        # line 5
        orjson.dumps(_eob("good-2", "Patient/p1", 19.75)).decode(),            # line 6
    ]
    (folder / "ExplanationOfBenefit.000.ndjson").write_text("\n".join(lines) + "\n",
                                                            encoding="utf-8")
    (folder / "Patient.000.ndjson").write_text(orjson.dumps(
        {"resourceType": "Patient", "id": "p1", "gender": "female",
         "birthDate": "1950-02-03"}).decode() + "\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    res = subprocess.run(
        [sys.executable, "-m", "medsynergy.cli", "--db", str(db), "ingest", str(folder),
         "--source", "acme", "--output", "json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    account = orjson.loads(res.stdout)[0]
    assert account["source_format"] == "fhir"  # detected
    eob = next(r for r in account["by_record_type"] if r["record_type"] == "ExplanationOfBenefit")
    # a line that is not JSON has no resource type yet: it is counted where it was read
    assert (account["records_in"], account["converted"], account["quarantined"],
            account["skipped"]) == (7, 3, 4, 0)
    assert eob["converted"] == 2

    wh = medsynergy.connect(db)
    try:
        raw = wh.raw  # type: ignore[attr-defined]
        got = raw.execute("SELECT file_name, row_number, rule, message FROM quarantine "
                          "ORDER BY row_number").fetchall()
        names = {Path(r[0]).name for r in got}
        assert names == {"ExplanationOfBenefit.000.ndjson"}
        assert [(r[1], r[2]) for r in got] == [
            (2, "source_unparsable"), (3, "source_required_missing"),
            (4, "source_reference_unresolved"), (5, "source_currency_unknown")]
        assert "EUR" in got[3][3]
        assert "0000-not-here" in got[2][3]
        raw_line = raw.execute("SELECT raw_row FROM quarantine WHERE row_number = 2").fetchall()
        assert raw_line == [(lines[1],)]
        claims = raw.execute("SELECT claim_id, person_id, paid_amount, hcpcs_code FROM "
                             "medical_claim ORDER BY claim_id").fetchall()
        assert claims == [("good-1", "p1", Decimal("80.25"), "99213"),
                          ("good-2", "p1", Decimal("19.75"), "99213")]
        log = raw.execute("SELECT record_type, records_in, converted, quarantined, skipped "
                          "FROM source_log ORDER BY file_name, record_type").fetchall()
        assert all(n == c + q + s for _, n, c, q, s in log)
    finally:
        wh.close()
