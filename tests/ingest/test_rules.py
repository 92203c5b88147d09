"""Every rule in RULES: given rows -> the exact quarantined rows or dq findings.

One file per input table holds a row for each case (tagged below; the row number is the
tag's position in the list). The files are loaded once per module; each test reads the
outcome for its rows. Error rules: the exact (row, rule) in quarantine. Warning rules:
the exact (row, rule, column, value) in dq_finding, and the row loaded with typed values.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ibis
import pytest

from medsynergy import LoadResult, ingest_file
from medsynergy.engine import Warehouse
from medsynergy.ingest import RULES, Severity
from medsynergy.ingest.parse import npi_is_valid

from .conftest import fetch, medical_row, open_warehouse, write_csv

D = dt.date
M = medical_row


def pharmacy_row(claim_id: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "claim_id": claim_id, "claim_line_number": "1", "person_id": "P1",
        "dispensing_date": "2024-01-15", "ndc_code": "00002143380", "paid_date": "2024-01-20",
        "paid_amount": "10.00", "prescribing_provider_npi": "", "dispensing_provider_npi": "",
        "days_supply": "30", "adjustment_type_code": "",
    }
    row.update(overrides)
    return row


def eligibility_row(person_id: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {
        "person_id": person_id, "member_id": f"M{person_id}", "payer": "acme", "plan": "gold",
        "enrollment_start_date": "2024-01-01", "enrollment_end_date": "2024-12-31",
        "birth_date": "1950-05-05",
    }
    row.update(overrides)
    return row


def provider_row(npi: str, **overrides: object) -> dict[str, object]:
    row: dict[str, object] = {"npi": npi, "provider_name": f"Dr {npi}", "primary_care_flag": "1",
                              "data_source": "feedA"}
    row.update(overrides)
    return row


MEDICAL_ROWS: list[tuple[str, dict[str, object]]] = [
    ("good", M("C01", rendering_npi="1234567893", diagnosis_code_type="icd-10-cm",
               diagnosis_code_1="E11.9", allowed_amount="120.50", service_unit_quantity="2",
               in_network_flag="1")),
    # -- errors
    ("claim_id_empty", M("")),
    ("person_blank", M("C03", person_id="   ")),
    ("start_empty", M("C04", claim_start_date="")),
    ("end_feb30", M("C05", claim_end_date="2024-02-30")),
    ("line_word", M("C06", claim_line_number="one")),
    ("start_us_format", M("C07", claim_start_date="01/02/2024")),
    ("line_fraction", M("C08", claim_line_number="1.5")),
    ("start_trailing_text", M("C09", claim_start_date="2024-01-01 GARBAGE")),
    ("paid_nan", M("C10", paid_amount="NaN")),
    ("paid_inf", M("C11", paid_amount="inf")),
    ("paid_exponent", M("C12", paid_amount="1e3")),
    ("paid_dollar", M("C13", paid_amount="$5")),
    ("paid_thousands", M("C14", paid_amount="1,000")),
    ("allowed_overflow", M("C15", allowed_amount="12345678901234567890")),
    ("charge_minus_infinity", M("C16", charge_amount="-Infinity")),
    ("end_before_start", M("C20", claim_start_date="2024-01-05", claim_end_date="2024-01-04")),
    ("discharge_before_admission", M("C21", admission_date="2024-01-02",
                                     discharge_date="2024-01-01")),
    ("two_errors", M("C22", person_id="", paid_amount="abc")),
    # -- loaded, some with warnings
    ("same_day_compact", M("C30", claim_start_date="20240105", claim_end_date="20240105",
                           paid_date="20240201", admission_date="2024-01-05",
                           discharge_date="2024-01-05")),
    ("npi_bad", M("C31", rendering_npi="1234567890", billing_npi="123456789",
                  facility_npi="1245319599")),
    ("icd9_under_icd10", M("C32", diagnosis_code_type="icd-10-cm", diagnosis_code_1="250.00",
                           diagnosis_code_2="e11.9")),
    ("icd9", M("C33", diagnosis_code_type="ICD-9-CM", diagnosis_code_1="250.00",
               diagnosis_code_2="V45.81", diagnosis_code_3="I10")),
    ("dx_other_system", M("C34", diagnosis_code_type="snomed", diagnosis_code_1="44054006x")),
    ("pcs10", M("C35", procedure_code_type="icd-10-pcs", procedure_code_1="0DTJ4ZZ",
                procedure_code_2="0DTJ4Z", procedure_code_3="0DTI4ZZ")),
    ("pcs9", M("C36", procedure_code_type="icd-9-pcs", procedure_code_1="45.13",
               procedure_code_2="0DTJ4ZZ")),
    ("negative_paid", M("C37", paid_amount="-5.00")),
    ("reversed_original", M("C38", paid_amount="100.00", paid_date="2024-02-01")),
    ("reversal_negative", M("C38", paid_amount="-100.00", paid_date="2024-03-01",
                            adjustment_type_code="reversal")),
    ("adjustment_unknown", M("C39", adjustment_type_code="foo")),
    ("optional_unparsable", M("C40", paid_date="yesterday", service_unit_quantity="two",
                              adjustment_sequence_number="1.5", in_network_flag="Y",
                              procedure_date_1="2024-13-01")),
    ("sub_cent", M("C41", paid_amount="10.005", allowed_amount="10.004",
                   charge_amount="10.0000")),
    ("amount_forms", M("C42", paid_amount="+5", allowed_amount=".5", charge_amount="5.",
                       coinsurance_amount=" 7.25 ")),
    ("integer_forms", M("C43", claim_line_number="3.0", adjustment_sequence_number="+2")),
    ("copy_first", M("C44")),
    ("copy_second", M("C44")),
    ("conflict_a", M("C45", paid_amount="1.00")),
    ("conflict_b", M("C45", paid_amount="2.00")),
    ("negative_adjustment", M("C46", paid_amount="-1.00", adjustment_type_code="2")),
    ("reversal_cclf_code", M("C47", paid_amount="-3.00", adjustment_type_code="1")),
    ("timestamps", M("C48", claim_start_date="2024-01-01T10:00:00Z",
                     claim_end_date="2024-01-02 23:59:59.5-05:00")),
]

PHARMACY_ROWS: list[tuple[str, dict[str, object]]] = [
    ("ndc_442", pharmacy_row("R01", ndc_code="0123-4567-89")),
    ("ndc_532", pharmacy_row("R02", ndc_code="12345-678-90")),
    ("ndc_541", pharmacy_row("R03", ndc_code="12345-6789-1")),
    ("ndc_542", pharmacy_row("R04", ndc_code="12345-6789-12")),
    ("ndc_11", pharmacy_row("R05", ndc_code="00123456789")),
    ("ndc_10_unhyphenated", pharmacy_row("R06", ndc_code="0123456789")),
    ("ndc_bad_segments", pharmacy_row("R07", ndc_code="12345-67-890")),
    ("npis", pharmacy_row("R08", prescribing_provider_npi="1234567893",
                          dispensing_provider_npi="1234567894")),
    ("no_dispensing_date", pharmacy_row("R09", dispensing_date="")),
    ("days_supply_word", pharmacy_row("R10", days_supply="thirty")),
    ("rx_negative", pharmacy_row("R11", paid_amount="-2.50")),
    ("rx_reversal", pharmacy_row("R12", paid_amount="-10.00", adjustment_type_code="R")),
    ("rx_paid_bad", pharmacy_row("R13", paid_amount="10.00 USD")),
]

ELIGIBILITY_ROWS: list[tuple[str, dict[str, object]]] = [
    ("good", eligibility_row("P1")),
    ("end_before_start", eligibility_row("P2", enrollment_start_date="2024-06-01",
                                         enrollment_end_date="2024-05-31")),
    ("one_day", eligibility_row("P3", enrollment_start_date="2024-03-01",
                                enrollment_end_date="20240301")),
    ("no_member", eligibility_row("P4", member_id="")),
    ("start_bad", eligibility_row("P5", enrollment_start_date="2024-00-10")),
    ("birth_bad", eligibility_row("P6", birth_date="05/05/1950")),
    ("no_payer", eligibility_row("P7", payer="")),
    ("no_plan", eligibility_row("P8", plan="")),
    ("end_missing", eligibility_row("P9", enrollment_end_date="")),
]

PROVIDER_ROWS: list[tuple[str, dict[str, object]]] = [
    ("good", provider_row("1234567893")),
    ("npi_bad", provider_row("1234567890")),
    ("npi_empty", provider_row("")),
    ("flag_bad", provider_row("1245319599", primary_care_flag="yes")),
    ("source_empty", provider_row("1679576722", data_source="")),
]

def _encounter(eid: str, start: str, end: str) -> dict[str, object]:
    return {"encounter_id": eid, "person_id": "P1", "encounter_start_date": start,
            "encounter_end_date": end}


# end_before_start: a clinical record (encounter, care plan, care team) that ends before
# it starts cannot be placed in time
ENCOUNTER_ROWS: list[tuple[str, dict[str, object]]] = [
    ("good", _encounter("E1", "2024-03-01", "2024-03-04")),
    ("same_day", _encounter("E2", "2024-03-01", "2024-03-01")),
    ("open", _encounter("E3", "2024-03-01", "")),
    ("end_before_start", _encounter("E4", "2024-03-05", "2024-03-04")),
]

ROWS = {"medical_claim": MEDICAL_ROWS, "pharmacy_claim": PHARMACY_ROWS,
        "eligibility": ELIGIBILITY_ROWS, "provider": PROVIDER_ROWS,
        "encounter": ENCOUNTER_ROWS}


def row_of(table: str, tag: str) -> int:
    tags = [t for t, _ in ROWS[table]]
    assert len(set(tags)) == len(tags), f"duplicate tag in {table}"
    return tags.index(tag) + 1


# (table, tag) -> the first error rule; every other row loads.
EXPECTED_QUARANTINE: dict[tuple[str, str], str] = {
    ("medical_claim", "claim_id_empty"): "required_missing",
    ("medical_claim", "person_blank"): "required_missing",
    ("medical_claim", "start_empty"): "required_missing",
    ("medical_claim", "end_feb30"): "required_unparsable",
    ("medical_claim", "line_word"): "required_unparsable",
    ("medical_claim", "start_us_format"): "required_unparsable",
    ("medical_claim", "line_fraction"): "required_unparsable",
    ("medical_claim", "start_trailing_text"): "required_unparsable",
    ("medical_claim", "paid_nan"): "amount_unparsable",
    ("medical_claim", "paid_inf"): "amount_unparsable",
    ("medical_claim", "paid_exponent"): "amount_unparsable",
    ("medical_claim", "paid_dollar"): "amount_unparsable",
    ("medical_claim", "paid_thousands"): "amount_unparsable",
    ("medical_claim", "allowed_overflow"): "amount_unparsable",
    ("medical_claim", "charge_minus_infinity"): "amount_unparsable",
    ("medical_claim", "end_before_start"): "claim_end_before_start",
    ("medical_claim", "discharge_before_admission"): "discharge_before_admission",
    ("medical_claim", "two_errors"): "required_missing",
    ("medical_claim", "copy_second"): "duplicate_row",
    ("medical_claim", "conflict_a"): "duplicate_key",
    ("medical_claim", "conflict_b"): "duplicate_key",
    ("pharmacy_claim", "no_dispensing_date"): "required_missing",
    ("pharmacy_claim", "rx_paid_bad"): "amount_unparsable",
    ("eligibility", "end_before_start"): "enrollment_end_before_start",
    ("eligibility", "no_member"): "required_missing",
    ("eligibility", "start_bad"): "required_unparsable",
    ("eligibility", "no_payer"): "required_missing",
    ("eligibility", "end_missing"): "required_missing",
    ("provider", "npi_empty"): "required_missing",
    ("provider", "source_empty"): "required_missing",
    ("encounter", "end_before_start"): "end_before_start",
}

# (table, tag, rule, column_name, value as read)
EXPECTED_FINDINGS: list[tuple[str, str, str, str, str]] = [
    ("medical_claim", "npi_bad", "npi_invalid", "rendering_npi", "1234567890"),
    ("medical_claim", "npi_bad", "npi_invalid", "billing_npi", "123456789"),
    ("medical_claim", "icd9_under_icd10", "diagnosis_code_shape", "diagnosis_code_1", "250.00"),
    ("medical_claim", "icd9", "diagnosis_code_shape", "diagnosis_code_3", "I10"),
    ("medical_claim", "pcs10", "procedure_code_shape", "procedure_code_2", "0DTJ4Z"),
    ("medical_claim", "pcs10", "procedure_code_shape", "procedure_code_3", "0DTI4ZZ"),
    ("medical_claim", "pcs9", "procedure_code_shape", "procedure_code_2", "0DTJ4ZZ"),
    ("medical_claim", "negative_paid", "negative_paid_amount", "paid_amount", "-5.00"),
    ("medical_claim", "negative_adjustment", "negative_paid_amount", "paid_amount", "-1.00"),
    ("medical_claim", "adjustment_unknown", "adjustment_type_unknown", "adjustment_type_code",
     "foo"),
    ("medical_claim", "optional_unparsable", "value_unparsable", "paid_date", "yesterday"),
    ("medical_claim", "optional_unparsable", "value_unparsable", "service_unit_quantity", "two"),
    ("medical_claim", "optional_unparsable", "value_unparsable", "adjustment_sequence_number",
     "1.5"),
    ("medical_claim", "optional_unparsable", "value_unparsable", "in_network_flag", "Y"),
    ("medical_claim", "optional_unparsable", "value_unparsable", "procedure_date_1",
     "2024-13-01"),
    ("medical_claim", "sub_cent", "amount_rounded", "paid_amount", "10.005"),
    ("medical_claim", "sub_cent", "amount_rounded", "allowed_amount", "10.004"),
    ("pharmacy_claim", "ndc_10_unhyphenated", "ndc_invalid", "ndc_code", "0123456789"),
    ("pharmacy_claim", "ndc_bad_segments", "ndc_invalid", "ndc_code", "12345-67-890"),
    ("pharmacy_claim", "npis", "npi_invalid", "dispensing_provider_npi", "1234567894"),
    ("pharmacy_claim", "days_supply_word", "value_unparsable", "days_supply", "thirty"),
    ("pharmacy_claim", "rx_negative", "negative_paid_amount", "paid_amount", "-2.50"),
    ("eligibility", "birth_bad", "value_unparsable", "birth_date", "05/05/1950"),
    ("provider", "npi_bad", "npi_invalid", "npi", "1234567890"),
    ("provider", "flag_bad", "value_unparsable", "primary_care_flag", "yes"),
]


@dataclass(frozen=True)
class Loaded:
    wh: Warehouse
    results: dict[str, LoadResult]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    folder = tmp_path_factory.mktemp("rules")
    wh = open_warehouse(folder / "wh.duckdb")
    results = {}
    for table, rows in ROWS.items():
        path = write_csv(folder / f"{table}.csv", [r for _, r in rows])
        # provider rows carry their own data_source column; the others take --source
        source = None if table == "provider" else "test"
        results[table] = ingest_file(wh, path, source=source)
    yield Loaded(wh, results)
    wh.close()


def _quarantined(wh: Warehouse) -> set[tuple[str, int, str]]:
    rows = fetch(wh, "quarantine", ["target_table", "row_number", "rule"])
    return {(r["target_table"], r["row_number"], r["rule"]) for r in rows}


def _findings(wh: Warehouse) -> list[tuple[str, int, str, str, str]]:
    rows = fetch(wh, "dq_finding", ["target_table", "row_number", "rule", "column_name", "value"])
    return [(r["target_table"], r["row_number"], r["rule"], r["column_name"], r["value"])
            for r in rows]


def _loaded_row(wh: Warehouse, table: str, tag: str, columns: list[str],
                superseded: bool = False) -> dict[str, Any]:
    name = f"{table}_superseded" if superseded else table
    rows = fetch(wh, name, columns, where={"row_number": row_of(table, tag)})
    assert len(rows) == 1, f"{table} row {tag}: {rows}"
    return rows[0]


# -- every rule has a case --------------------------------------------------------------

@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_fires_on_exactly_its_rows(loaded: Loaded, rule: str) -> None:
    if RULES[rule].severity is Severity.ERROR:
        expected = {(t, row_of(t, tag), r) for (t, tag), r in EXPECTED_QUARANTINE.items()
                    if r == rule}
        actual = {q for q in _quarantined(loaded.wh) if q[2] == rule}
    else:
        expected = {(t, row_of(t, tag), r, c, v)
                    for t, tag, r, c, v in EXPECTED_FINDINGS if r == rule}
        actual = {f for f in _findings(loaded.wh) if f[2] == rule}
    assert expected, f"rule {rule} has no test case"
    assert actual == expected


def test_quarantine_holds_exactly_the_expected_rows(loaded: Loaded) -> None:
    expected = {(t, row_of(t, tag), r) for (t, tag), r in EXPECTED_QUARANTINE.items()}
    assert _quarantined(loaded.wh) == expected


def test_findings_are_exactly_the_expected_ones_without_repeats(loaded: Loaded) -> None:
    expected = sorted((t, row_of(t, tag), r, c, v) for t, tag, r, c, v in EXPECTED_FINDINGS)
    assert _findings(loaded.wh) == expected


def test_load_results_count_by_rule(loaded: Loaded) -> None:
    med = loaded.results["medical_claim"]
    assert med.quarantined_by_rule == {
        "amount_unparsable": 7, "claim_end_before_start": 1, "discharge_before_admission": 1,
        "duplicate_key": 2, "duplicate_row": 1, "required_missing": 4, "required_unparsable": 5,
    }
    assert med.findings_by_rule == {
        "adjustment_type_unknown": 1, "amount_rounded": 2, "diagnosis_code_shape": 2,
        "negative_paid_amount": 2, "npi_invalid": 2, "procedure_code_shape": 3,
        "value_unparsable": 5,
    }
    # C38 (original + reversal) and C47 (a lone reversal) have no final row
    assert (med.rows_in, med.rows_final, med.rows_superseded, med.rows_quarantined) == (
        len(MEDICAL_ROWS), len(MEDICAL_ROWS) - 21 - 3, 3, 21)


def test_every_rule_has_a_name_and_a_severity() -> None:
    for name, rule in RULES.items():
        assert rule.name == name
        assert rule.severity in (Severity.ERROR, Severity.WARN)
    assert {n for n, r in RULES.items() if r.severity is Severity.ERROR} == {
        "required_missing", "required_unparsable", "amount_unparsable", "claim_end_before_start",
        "discharge_before_admission", "enrollment_end_before_start", "end_before_start",
        "duplicate_key",
        "duplicate_row",
    }


# -- errors: what quarantine records ------------------------------------------------------

def test_quarantine_row_records_load_file_rule_message_and_raw_row(loaded: Loaded) -> None:
    res = loaded.results["medical_claim"]
    rows = fetch(loaded.wh, "quarantine",
                 where={"target_table": "medical_claim",
                        "row_number": row_of("medical_claim", "two_errors")})
    assert len(rows) == 1
    q = rows[0]
    assert q["load_id"] == res.load_id
    assert q["file_name"] == res.file_name
    assert q["file_name"].endswith("medical_claim.csv")
    assert q["rule"] == "required_missing"
    assert q["rules"] == "required_missing, amount_unparsable"
    assert q["message"] == (
        "person_id is empty; paid_amount 'abc' is not a finite amount within DECIMAL(18,2)")
    raw = json.loads(q["raw_row"])
    assert raw["claim_id"] == "C22"
    assert raw["person_id"] == ""
    assert raw["paid_amount"] == "abc"
    assert raw["claim_start_date"] == "2024-01-01"
    assert set(raw) == {k for _, r in MEDICAL_ROWS for k in r}


@pytest.mark.parametrize(("tag", "message"), [
    ("end_feb30", "claim_end_date '2024-02-30' is not a date (YYYY-MM-DD or YYYYMMDD)"),
    ("line_fraction", "claim_line_number '1.5' is not an integer"),
    ("start_trailing_text",
     "claim_start_date '2024-01-01 GARBAGE' is not a date (YYYY-MM-DD or YYYYMMDD)"),
    ("paid_inf", "paid_amount 'inf' is not a finite amount within DECIMAL(18,2)"),
    ("end_before_start", "claim_end_date 2024-01-04 is before claim_start_date 2024-01-05"),
    ("discharge_before_admission",
     "discharge_date 2024-01-01 is before admission_date 2024-01-02"),
    ("claim_id_empty", "claim_id is empty"),
])
def test_quarantine_message_names_column_and_value(loaded: Loaded, tag: str,
                                                   message: str) -> None:
    rows = fetch(loaded.wh, "quarantine", ["message"],
                 where={"target_table": "medical_claim", "row_number": row_of("medical_claim", tag)})
    assert rows == [{"message": message}]


def test_quarantined_rows_are_not_loaded_anywhere(loaded: Loaded) -> None:
    for table in ROWS:
        numbers = {row_of(t, tag) for (t, tag) in EXPECTED_QUARANTINE if t == table}
        for name in (table, f"{table}_superseded"):
            loaded_numbers = {r["row_number"] for r in fetch(loaded.wh, name, ["row_number"])}
            assert not numbers & loaded_numbers, name


# -- warnings: the row loads with its typed value -----------------------------------------

def test_good_row_loads_typed_with_icd10_dot_removed(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "good", [
        "claim_id", "claim_line_number", "person_id", "claim_start_date", "claim_end_date",
        "paid_date", "paid_amount", "allowed_amount", "service_unit_quantity",
        "in_network_flag", "rendering_npi", "diagnosis_code_type", "diagnosis_code_1",
        "adjustment_type_code", "adjustment_sequence_number", "data_source", "load_id",
    ])
    assert row == {
        "claim_id": "C01", "claim_line_number": 1, "person_id": "P1",
        "claim_start_date": D(2024, 1, 1), "claim_end_date": D(2024, 1, 3),
        "paid_date": D(2024, 2, 1), "paid_amount": Decimal("100.00"),
        "allowed_amount": Decimal("120.50"), "service_unit_quantity": Decimal("2.000"),
        "in_network_flag": 1, "rendering_npi": "1234567893",
        "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "E119",
        "adjustment_type_code": None, "adjustment_sequence_number": None,
        "data_source": "test", "load_id": loaded.results["medical_claim"].load_id,
    }


def test_compact_dates_and_equal_start_end_dates_load(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "same_day_compact", [
        "claim_start_date", "claim_end_date", "paid_date", "admission_date", "discharge_date"])
    assert row == {"claim_start_date": D(2024, 1, 5), "claim_end_date": D(2024, 1, 5),
                   "paid_date": D(2024, 2, 1), "admission_date": D(2024, 1, 5),
                   "discharge_date": D(2024, 1, 5)}


def test_dates_with_a_time_load_as_the_date(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "timestamps",
                      ["claim_start_date", "claim_end_date"])
    assert row == {"claim_start_date": D(2024, 1, 1), "claim_end_date": D(2024, 1, 2)}


def test_invalid_npis_load_as_given(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "npi_bad",
                      ["rendering_npi", "billing_npi", "facility_npi", "paid_amount"])
    assert row == {"rendering_npi": "1234567890", "billing_npi": "123456789",
                   "facility_npi": "1245319599", "paid_amount": Decimal("100.00")}


def test_diagnosis_codes_load_without_dots_in_either_system(loaded: Loaded) -> None:
    cols = ["diagnosis_code_type", "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_3"]
    assert _loaded_row(loaded.wh, "medical_claim", "icd9_under_icd10", cols) == {
        "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "25000",
        "diagnosis_code_2": "E119", "diagnosis_code_3": None}
    assert _loaded_row(loaded.wh, "medical_claim", "icd9", cols) == {
        "diagnosis_code_type": "icd-9-cm", "diagnosis_code_1": "25000",
        "diagnosis_code_2": "V4581", "diagnosis_code_3": "I10"}
    # a system we do not check is kept (upper-cased like every code) and not flagged
    assert _loaded_row(loaded.wh, "medical_claim", "dx_other_system", cols[:2]) == {
        "diagnosis_code_type": "snomed", "diagnosis_code_1": "44054006X"}


def test_procedure_codes_load_without_dots(loaded: Loaded) -> None:
    cols = ["procedure_code_type", "procedure_code_1", "procedure_code_2", "procedure_code_3"]
    assert _loaded_row(loaded.wh, "medical_claim", "pcs10", cols) == {
        "procedure_code_type": "icd-10-pcs", "procedure_code_1": "0DTJ4ZZ",
        "procedure_code_2": "0DTJ4Z", "procedure_code_3": "0DTI4ZZ"}
    assert _loaded_row(loaded.wh, "medical_claim", "pcs9", cols[:3]) == {
        "procedure_code_type": "icd-9-pcs", "procedure_code_1": "4513",
        "procedure_code_2": "0DTJ4ZZ"}


def test_negative_paid_outside_a_reversal_loads_with_its_sign(loaded: Loaded) -> None:
    cols = ["paid_amount", "adjustment_type_code"]
    assert _loaded_row(loaded.wh, "medical_claim", "negative_paid", cols) == {
        "paid_amount": Decimal("-5.00"), "adjustment_type_code": None}
    assert _loaded_row(loaded.wh, "medical_claim", "negative_adjustment", cols) == {
        "paid_amount": Decimal("-1.00"), "adjustment_type_code": "adjustment"}


def test_reversals_with_negative_paid_are_not_flagged_and_load_superseded(loaded: Loaded) -> None:
    cols = ["claim_id", "paid_amount", "adjustment_type_code", "superseded_reason"]
    assert _loaded_row(loaded.wh, "medical_claim", "reversal_negative", cols, True) == {
        "claim_id": "C38", "paid_amount": Decimal("-100.00"),
        "adjustment_type_code": "reversal", "superseded_reason": "reversal"}
    assert _loaded_row(loaded.wh, "medical_claim", "reversed_original", cols, True) == {
        "claim_id": "C38", "paid_amount": Decimal("100.00"),
        "adjustment_type_code": None, "superseded_reason": "reversed"}
    # CCLF code 1 is a cancellation (a reversal)
    assert _loaded_row(loaded.wh, "medical_claim", "reversal_cclf_code", cols, True) == {
        "claim_id": "C47", "paid_amount": Decimal("-3.00"),
        "adjustment_type_code": "reversal", "superseded_reason": "reversal"}


def test_unknown_adjustment_type_loads_as_an_original(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "adjustment_unknown",
                      ["claim_id", "adjustment_type_code", "paid_amount"])
    assert row == {"claim_id": "C39", "adjustment_type_code": "foo",
                   "paid_amount": Decimal("100.00")}


def test_unparsable_optional_values_load_as_null(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "optional_unparsable", [
        "claim_id", "paid_date", "service_unit_quantity", "adjustment_sequence_number",
        "in_network_flag", "procedure_date_1", "paid_amount"])
    assert row == {"claim_id": "C40", "paid_date": None, "service_unit_quantity": None,
                   "adjustment_sequence_number": None, "in_network_flag": None,
                   "procedure_date_1": None, "paid_amount": Decimal("100.00")}


def test_sub_cent_amounts_load_rounded_half_away_from_zero(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "sub_cent",
                      ["paid_amount", "allowed_amount", "charge_amount"])
    assert row == {"paid_amount": Decimal("10.01"), "allowed_amount": Decimal("10.00"),
                   "charge_amount": Decimal("10.00")}


def test_plain_number_forms_are_amounts(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "amount_forms",
                      ["paid_amount", "allowed_amount", "charge_amount", "coinsurance_amount"])
    assert row == {"paid_amount": Decimal("5.00"), "allowed_amount": Decimal("0.50"),
                   "charge_amount": Decimal("5.00"), "coinsurance_amount": Decimal("7.25")}


def test_integers_written_with_zero_decimals_or_a_sign_parse(loaded: Loaded) -> None:
    row = _loaded_row(loaded.wh, "medical_claim", "integer_forms",
                      ["claim_id", "claim_line_number", "adjustment_sequence_number"])
    assert row == {"claim_id": "C43", "claim_line_number": 3, "adjustment_sequence_number": 2}


def test_exact_copy_loads_once(loaded: Loaded) -> None:
    rows = fetch(loaded.wh, "medical_claim", ["row_number"], where={"claim_id": "C44"})
    assert rows == [{"row_number": row_of("medical_claim", "copy_first")}]
    assert fetch(loaded.wh, "medical_claim", ["row_number"], where={"claim_id": "C45"}) == []


@pytest.mark.parametrize(("tag", "ndc"), [
    ("ndc_442", "00123456789"),
    ("ndc_532", "12345067890"),
    ("ndc_541", "12345678901"),
    ("ndc_542", "12345678912"),
    ("ndc_11", "00123456789"),
    ("ndc_10_unhyphenated", "0123456789"),
    ("ndc_bad_segments", "12345-67-890"),
])
def test_ndc_normalised_to_11_digits(loaded: Loaded, tag: str, ndc: str) -> None:
    assert _loaded_row(loaded.wh, "pharmacy_claim", tag, ["ndc_code"]) == {"ndc_code": ndc}


def test_pharmacy_rows_load_typed(loaded: Loaded) -> None:
    assert _loaded_row(loaded.wh, "pharmacy_claim", "npis", [
        "prescribing_provider_npi", "dispensing_provider_npi", "dispensing_date", "days_supply",
    ]) == {"prescribing_provider_npi": "1234567893", "dispensing_provider_npi": "1234567894",
           "dispensing_date": D(2024, 1, 15), "days_supply": 30}
    assert _loaded_row(loaded.wh, "pharmacy_claim", "days_supply_word",
                       ["days_supply"]) == {"days_supply": None}
    assert _loaded_row(loaded.wh, "pharmacy_claim", "rx_negative",
                       ["paid_amount"]) == {"paid_amount": Decimal("-2.50")}
    assert _loaded_row(loaded.wh, "pharmacy_claim", "rx_reversal",
                       ["paid_amount", "superseded_reason"], superseded=True) == {
        "paid_amount": Decimal("-10.00"), "superseded_reason": "reversal"}


def test_eligibility_rows_load_typed(loaded: Loaded) -> None:
    got = fetch(loaded.wh, "eligibility", ["person_id", "member_id", "plan",
                                           "enrollment_start_date", "enrollment_end_date",
                                           "birth_date"])
    assert got == [
        {"person_id": "P1", "member_id": "MP1", "plan": "gold",
         "enrollment_start_date": D(2024, 1, 1), "enrollment_end_date": D(2024, 12, 31),
         "birth_date": D(1950, 5, 5)},
        {"person_id": "P3", "member_id": "MP3", "plan": "gold",
         "enrollment_start_date": D(2024, 3, 1), "enrollment_end_date": D(2024, 3, 1),
         "birth_date": D(1950, 5, 5)},
        {"person_id": "P6", "member_id": "MP6", "plan": "gold",
         "enrollment_start_date": D(2024, 1, 1), "enrollment_end_date": D(2024, 12, 31),
         "birth_date": None},
        {"person_id": "P8", "member_id": "MP8", "plan": None,
         "enrollment_start_date": D(2024, 1, 1), "enrollment_end_date": D(2024, 12, 31),
         "birth_date": D(1950, 5, 5)},
    ]


def test_provider_rows_load_with_their_own_data_source(loaded: Loaded) -> None:
    got = fetch(loaded.wh, "provider", ["npi", "primary_care_flag", "data_source"])
    assert got == [
        {"npi": "1234567890", "primary_care_flag": 1, "data_source": "feedA"},
        {"npi": "1234567893", "primary_care_flag": 1, "data_source": "feedA"},
        {"npi": "1245319599", "primary_care_flag": None, "data_source": "feedA"},
    ]
    log = fetch(loaded.wh, "load_log", ["data_source"], where={"target_table": "provider"})
    assert log == [{"data_source": "feedA"}]


# -- the NPI check digit against an independent implementation ----------------------------

def _npi_reference(npi: str) -> bool:
    """Luhn over '80840' + the first 9 digits (CMS NPI check digit requirements)."""
    if len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(c) for c in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):  # double every other digit from the right
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


def test_npi_check_digit_matches_a_reference_implementation() -> None:
    rng = random.Random(20240101)
    values = [f"{rng.randrange(10**10):010d}" for _ in range(2000)]
    values += ["1234567893", "1245319599", "123456789", "12345678931", "12345 7893", "",
               "abcdefghij", "1234567a93"]
    t = ibis.memtable({"v": values})
    got = t.mutate(ok=npi_is_valid(t.v)).order_by("v").to_pyarrow().to_pylist()
    assert {r["v"]: r["ok"] for r in got} == {v: _npi_reference(v) for v in values}
    assert sum(_npi_reference(v) for v in values) > 150  # about a tenth are valid
    assert _npi_reference("1234567893")
    assert not _npi_reference("1234567890")


def test_the_reference_itself_agrees_with_the_cms_example() -> None:
    # CMS example: 123456789 with prefix 80840 has check digit 3.
    assert [d for d in range(10) if _npi_reference(f"123456789{d}")] == [3]

