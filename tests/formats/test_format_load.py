"""The format loader: converted rows go through the ordinary ingest; the source's account
(source_log) and the records refused at conversion (quarantine) are written beside; the same
source loaded again changes nothing; --replace reloads it in place."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.errors import InputFileError
from medsynergy.ingest.formats import Converted, Count, Derived, Rejected, rows_to_table
from medsynergy.ingest.formats import load as format_load
from medsynergy.ingest.formats.load import detect_format, ingest_format, source_sha256


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = medsynergy.connect(tmp_path / "wh.duckdb")
    yield w
    w.close()


def _fake(paths: list[Path]) -> Converted:
    medical = rows_to_table("medical_claim", [
        {"claim_id": "E1", "claim_line_number": "1", "person_id": "P1",
         "claim_start_date": "2020-01-05", "claim_end_date": "2020-01-05",
         "paid_amount": "10.25", "payer": "medicare", "derived_columns": "place_of_service_code",
         "place_of_service_code": "11", "diagnosis_code_type": "snomed-ct",
         "diagnosis_code_1": "44054006"},
        {"claim_id": "E1", "claim_line_number": "2", "person_id": "P1",
         "claim_start_date": "2020-01-05", "claim_end_date": "2020-01-05",
         "paid_amount": "4.75", "payer": "medicare"},
        # refused by the ordinary ingest (no claim_start_date): quarantined there
        {"claim_id": "E2", "claim_line_number": "1", "person_id": "P1",
         "claim_end_date": "2020-01-05", "paid_amount": "1.00"},
    ])
    patients = rows_to_table("eligibility", [
        {"person_id": "P1", "member_id": "P1", "payer": "medicare", "payer_type": "medicare",
         "enrollment_start_date": "2020-01-01", "enrollment_end_date": "2020-12-31",
         "gender": "female"},
    ])
    name = str(paths[0])
    return Converted(
        tables={"medical_claim": medical, "eligibility": patients,
                "observation": rows_to_table("observation", [])},
        counts=(Count(name, "ExplanationOfBenefit", 3, 2, quarantined=1),
                Count(name, "Patient", 1, 1),
                Count(name, "Immunization", 4, 0, skipped=4,
                      skipped_reason="resource type not mapped: Immunization")),
        rejected=(Rejected(name, 7, "ExplanationOfBenefit", "source_currency_unknown",
                           "amount 5 in currency 'EUR'; only USD is accepted", '{"id":"E9"}'),),
        derived=(Derived("medical_claim", "place_of_service_code", "11 for AMB encounters", 1),),
        notes=("eligibility spans derived from claims for 1 persons (no Coverage)",),
    )


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "a.ndjson").write_text('{"resourceType":"Patient","id":"P1"}\n', encoding="utf-8")
    monkeypatch.setattr(format_load, "convert", lambda fmt, paths, **_: _fake(paths))
    return folder


def _rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return list(wh.raw.execute(sql).fetchall())  # type: ignore[attr-defined]


def test_a_converted_source_loads_with_its_account(wh: Warehouse, source: Path) -> None:
    got = ingest_format(wh, [source], source="fhirtest", source_format="fhir")
    assert got.status == "loaded"
    assert (got.records_in, got.converted, got.quarantined, got.skipped) == (8, 3, 1, 4)
    assert got.skipped_by_type() == {
        "Immunization": (4, "resource type not mapped: Immunization")}
    by_table = {r.target_table: (r.rows_in, r.rows_final, r.rows_quarantined) for r in got.tables}
    # the empty observation table is not loaded at all
    assert by_table == {"eligibility": (1, 1, 0), "medical_claim": (3, 2, 1)}
    assert _rows(wh, "SELECT claim_id, claim_line_number, paid_amount, derived_columns, "
                     "data_source, diagnosis_code_type FROM medical_claim ORDER BY 1, 2") == [
        ("E1", 1, Decimal("10.25"), "place_of_service_code", "fhirtest", "snomed-ct"),
        ("E1", 2, Decimal("4.75"), None, "fhirtest", None),
    ]
    assert _rows(wh, "SELECT file_name FROM medical_claim LIMIT 1") == [
        (f"{source} [fhir -> medical_claim]",)]
    assert _rows(wh, "SELECT record_type, records_in, converted, quarantined, skipped, "
                     "skipped_reason, source_format FROM source_log ORDER BY record_type") == [
        ("ExplanationOfBenefit", 3, 2, 1, 0, None, "fhir"),
        ("Immunization", 4, 0, 0, 4, "resource type not mapped: Immunization", "fhir"),
        ("Patient", 1, 1, 0, 0, None, "fhir"),
    ]
    assert _rows(wh, "SELECT target_table, row_number, rule, message, raw_row FROM quarantine "
                     "ORDER BY target_table") == [
        ("fhir:ExplanationOfBenefit", 7, "source_currency_unknown",
         "amount 5 in currency 'EUR'; only USD is accepted", '{"id":"E9"}'),
        ("medical_claim", 3, "required_missing",
         "claim_start_date is empty", _rows(
             wh, "SELECT raw_row FROM quarantine WHERE target_table = 'medical_claim'")[0][0]),
    ]


def test_the_same_source_again_changes_nothing_and_replace_reloads_it(
        wh: Warehouse, source: Path) -> None:
    first = ingest_format(wh, [source], source="fhirtest", source_format="fhir")
    counts = {t: _rows(wh, f"SELECT count(*) FROM {t}")[0][0]
              for t in ("medical_claim", "eligibility", "source_log", "quarantine", "load_log")}
    again = ingest_format(wh, [source], source="fhirtest", source_format="fhir")
    assert again.status == "skipped"
    assert again.load_id == first.load_id
    assert "already loaded" in again.message
    same = {t: _rows(wh, f"SELECT count(*) FROM {t}")[0][0] for t in counts}
    assert same == counts
    replaced = ingest_format(wh, [source], source="fhirtest", source_format="fhir", replace=True)
    assert replaced.status == "replaced"
    assert [r.status for r in replaced.tables] == ["replaced", "replaced"]
    after = {t: _rows(wh, f"SELECT count(*) FROM {t}")[0][0] for t in counts}
    # load_log keeps the replaced loads (status replaced) beside the new ones
    assert after == {**counts, "load_log": counts["load_log"] + 2}
    assert _rows(wh, "SELECT DISTINCT load_id FROM source_log") == [(replaced.load_id,)]
    # a different source name is a different load
    other = ingest_format(wh, [source], source="other", source_format="fhir")
    assert other.status == "loaded"


def test_the_checksum_covers_names_bytes_and_format(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text("{}", encoding="utf-8")
    base = source_sha256([a], "fhir")
    assert source_sha256([a], "desynpuf") != base
    a.write_text("{ }", encoding="utf-8")
    assert source_sha256([a], "fhir") != base


def test_a_missing_path_is_left_to_the_ordinary_ingest_to_name(tmp_path: Path) -> None:
    assert detect_format([tmp_path / "nope.csv"]) == "input-layer"
    with pytest.raises(InputFileError, match="no such file or folder"):
        ingest_format(medsynergy.connect(tmp_path / "w.duckdb"), [tmp_path / "nope"],
                      source="s", source_format="fhir")
