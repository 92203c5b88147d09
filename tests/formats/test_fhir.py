"""The FHIR reader (medsynergy.ingest.formats.fhir) and the Patient / Coverage / provider /
eligibility mappers (fhir_people): every input form (Bundle, single resource, gzip, NDJSON
with a bad line, the export log, a manifest), reference resolution (urn:uuid, Type/id
across files, Synthea's conditional references, a contained Coverage), eligibility spans
from claims and from Coverage, and the real datasets with counts computed here from the
raw files."""

from __future__ import annotations

import collections
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from medsynergy.ingest.formats import Converted, RecordError, columns_to_table, fhir_read
from medsynergy.ingest.formats import fhir as fhir_mod
from medsynergy.ingest.formats.fhir import convert_fhir, is_fhir
from medsynergy.ingest.formats.fhir_common import Context, Resource, Row
from medsynergy.ingest.formats.fhir_people import (
    DEMOGRAPHIC_COLUMNS,
    SPAN_COLUMNS,
    coverage_span,
    derive_spans,
    finish_eligibility,
    patient_row,
    provider_row,
)

NPI_SYS = "http://hl7.org/fhir/sid/us-npi"
SYNTHEA_SYS = "https://github.com/synthetichealth/synthea"


# --- helpers -----------------------------------------------------------------------------

def _stand_in_eob(r: Resource, ctx: Context) -> tuple[str, list[Row]]:
    """A minimal EOB mapper: one medical_claim line (payer = insurer.display)."""
    pid = ctx.patient_id(r.get("patient"), "EOB")
    bp = r.get("billablePeriod") or {}
    if not bp.get("start"):
        raise RecordError("source_required_missing", "EOB has no billablePeriod")
    return "medical_claim", [{
        "claim_id": r["id"], "claim_line_number": "1", "person_id": pid,
        "payer": (r.get("insurer") or {}).get("display"), "plan": None,
        "claim_start_date": bp["start"][:10], "claim_end_date": bp.get("end", bp["start"])[:10]}]


def _stand_in_claim(r: Resource, ctx: Context) -> tuple[str, list[Row]] | None:
    if not r.get("prescription"):
        return None
    pid = ctx.patient_id(r.get("patient"), "Claim")
    return "pharmacy_claim", [{
        "claim_id": r["id"], "claim_line_number": "1", "person_id": pid,
        "payer": r["insurance"][0]["coverage"]["display"],
        "dispensing_date": r["billablePeriod"]["start"][:10]}]


@pytest.fixture
def stand_in_eob(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests of the reader use a stand-in EOB mapper (their subject is the reader)."""
    monkeypatch.setattr(fhir_read, "_eob", lambda: (_stand_in_eob, _stand_in_claim))


def _write_json(path: Path, doc: Any) -> Path:
    data = json.dumps(doc).encode()
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _bundle(*resources: Resource, kind: str = "transaction", urn: bool = True) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": [
        {"fullUrl": f"urn:uuid:u-{r['id']}" if urn else f"http://x.org/fhir/{r['resourceType']}/{r['id']}",
         "resource": r} for r in resources]}


def _counts(c: Converted) -> dict[tuple[str, str, str | None], tuple[int, int, int, int]]:
    return {(x.file_name, x.record_type, x.skipped_reason):
            (x.records_in, x.converted, x.quarantined, x.skipped) for x in c.counts}


PATIENT = {
    "resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1950-04-02",
    "deceasedDateTime": "2020-03-15T10:00:00-05:00",
    "name": [{"use": "official", "family": "Smith", "given": ["Ann", "B"]}],
    "telecom": [{"system": "phone", "value": "555-0100", "use": "home"}],
    "address": [{"line": ["1 Main St", "Apt 2"], "city": "Boston", "state": "MA",
                 "postalCode": "02110"}],
    "identifier": [{"system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-00-1111"}],
    "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                   "extension": [{"url": "ombCategory", "valueCoding": {
                       "system": "urn:oid:2.16.840.1.113883.6.238", "code": "2106-3",
                       "display": "White"}}, {"url": "text", "valueString": "White"}]}],
}
DEMO = {"gender": "female", "race": "White", "birth_date": "1950-04-02",
        "death_date": "2020-03-15", "death_flag": "1", "first_name": "Ann B",
        "last_name": "Smith", "social_security_number": "999-00-1111",
        "address": "1 Main St, Apt 2", "city": "Boston", "state": "MA", "zip_code": "02110",
        "phone": "555-0100"}
DOC = {"resourceType": "Practitioner", "id": "dr1",
       "identifier": [{"system": NPI_SYS, "value": "1234567893"}],
       "name": [{"family": "Who", "given": ["Jane"]}]}
ORG = {"resourceType": "Organization", "id": "org1", "name": "General Hospital",
       "identifier": [{"system": SYNTHEA_SYS, "value": "org1"}]}


def _elig(c: Converted, *cols: str) -> list[tuple[str | None, ...]]:
    t = c.tables["eligibility"]
    return [tuple(r[k] for k in cols) for r in t.to_pylist()]


# --- Patient / provider mappers ----------------------------------------------------------

def test_patient_row_reads_us_core_demographics() -> None:
    assert patient_row(PATIENT) == {"person_id": "p1", **DEMO}


def test_patient_row_other_gender_and_blue_button_race() -> None:
    bb = {"resourceType": "Patient", "id": "-1", "gender": "other", "deceasedBoolean": True,
          "extension": [{"url": "https://bluebutton.cms.gov/resources/variables/race",
                         "valueCoding": {"code": "2", "display": "Black"}}]}
    got = patient_row(bb)
    assert (got["gender"], got["race"], got["death_flag"], got["death_date"]) == \
        ("unknown", "Black", "1", None)


def test_provider_rows_keyed_by_npi() -> None:
    assert provider_row(DOC) == {
        "npi": "1234567893", "tin": None, "provider_name": "Jane Who",
        "entity_type": "individual", "specialty": None, "taxonomy_code": None,
        "organization_id": None, "organization_name": None}
    with pytest.raises(LookupError, match="no NPI"):
        provider_row(ORG)


# --- reading each form -------------------------------------------------------------------

def test_bundle_counts_every_resource(tmp_path: Path, stand_in_eob: None) -> None:
    imm = {"resourceType": "Immunization", "id": "i1"}
    cov = {"resourceType": "Coverage", "id": "c1", "beneficiary": {"reference": "urn:uuid:u-p1"},
           "payor": [{"display": "Acme Health"}], "subscriberId": "M-77",
           "period": {"start": "2019-01-01", "end": "2019-12-31"},
           "class": [{"type": {"coding": [{"code": "plan"}]}, "value": "Gold"},
                     {"type": {"coding": [{"code": "group"}]}, "value": "G1", "name": "Acme Corp"}]}
    _write_json(tmp_path / "b.json", _bundle(PATIENT, DOC, ORG, imm, cov))
    c = convert_fhir([tmp_path / "b.json"], workers=1)
    assert _counts(c) == {
        ("b.json", "Coverage", None): (1, 1, 0, 0),
        ("b.json", "Immunization", "resource type not mapped: Immunization"): (1, 0, 0, 1),
        ("b.json", "Organization", "no NPI (provider rows are keyed by NPI)"): (1, 0, 0, 1),
        ("b.json", "Patient", None): (1, 1, 0, 0),
        ("b.json", "Practitioner", None): (1, 1, 0, 0),
    }
    assert c.tables["provider"].column("npi").to_pylist() == ["1234567893"]
    # the urn:uuid beneficiary resolves to the Patient's id (p1), not the fullUrl's uuid
    row = c.tables["eligibility"].to_pylist()[0]
    assert row == {
        "person_id": "p1", "member_id": "M-77", "subscriber_id": "M-77",
        "enrollment_start_date": "2019-01-01", "enrollment_end_date": "2019-12-31",
        "payer": "Acme Health", "payer_type": "commercial", "plan": "Gold",
        "group_id": "G1", "group_name": "Acme Corp", "original_reason_entitlement_code": None,
        "dual_status_code": None, "medicare_status_code": None, "subscriber_relation": None,
        "derived_columns": "payer_type", **DEMO}
    assert c.balanced()


def test_gzip_and_plain_give_the_same_tables(tmp_path: Path, stand_in_eob: None) -> None:
    cov = {"resourceType": "Coverage", "id": "c1", "beneficiary": {"reference": "urn:uuid:u-p1"},
           "payor": [{"display": "Acme"}], "period": {"start": "2019-01-01", "end": "2019-12-31"}}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _write_json(tmp_path / "a" / "x.json", _bundle(PATIENT, cov))
    _write_json(tmp_path / "b" / "x.json.gz", _bundle(PATIENT, cov))
    plain = convert_fhir([tmp_path / "a"], workers=1)
    gz = convert_fhir([tmp_path / "b"], workers=1)
    assert plain.tables["eligibility"].equals(gz.tables["eligibility"])
    assert [(x.record_type, x.records_in) for x in gz.counts] == [("Coverage", 1), ("Patient", 1)]


def test_single_resource_file_and_type_id_across_files(tmp_path: Path, stand_in_eob: None
                                                       ) -> None:
    """A Coverage read as a single resource (as a Blue Button read) names Patient/p1, which
    is in another file: the span gets that Patient's demographics."""
    _write_json(tmp_path / "patient.json", PATIENT)
    _write_json(tmp_path / "coverage.json", {
        "resourceType": "Coverage", "id": "c9", "beneficiary": {"reference": "Patient/p1"},
        "payor": [{"reference": "Organization/org1"}],
        "period": {"start": "2018-02-01", "end": "2018-06-30"}})
    _write_json(tmp_path / "org.json", ORG)
    c = convert_fhir([tmp_path], workers=1)
    assert _elig(c, "person_id", "member_id", "payer", "enrollment_start_date",
                 "enrollment_end_date", "last_name", "derived_columns") == [
        ("p1", "p1", "General Hospital", "2018-02-01", "2018-06-30", "Smith",
         "member_id,payer_type")]


def test_ndjson_bad_line_is_rejected_and_the_rest_loads(tmp_path: Path) -> None:
    p2 = {**PATIENT, "id": "p2"}
    _write_ndjson(tmp_path / "Patient.000.ndjson", [PATIENT, '{"resourceType": "Patient", "id"', "", p2])
    c = convert_fhir([tmp_path], workers=1)
    assert [(r.file_name, r.location, r.rule, r.raw) for r in c.rejected] == [
        ("Patient.000.ndjson", 2, "source_unparsable", '{"resourceType": "Patient", "id"')]
    assert _counts(c) == {("Patient.000.ndjson", "Patient", None): (2, 2, 0, 0),
                          ("Patient.000.ndjson", "unparsable JSON", None): (1, 0, 1, 0)}
    assert c.notes == ("2 persons have a Patient but neither Coverage nor claims: no "
                       "eligibility span (their demographics are not loaded)",)


def test_log_and_manifest_are_not_data(tmp_path: Path) -> None:
    log = [{"exportId": "e1", "eventId": "kickoff"}, {"exportId": "e1", "eventId": "export_complete"}]
    _write_ndjson(tmp_path / "log.ndjson", log)
    _write_ndjson(tmp_path / "Patient.000.ndjson", [PATIENT])
    _write_json(tmp_path / "manifest.json", {
        "transactionTime": "2024-01-01T00:00:00Z", "request": "x/$export",
        "requiresAccessToken": True, "error": [],
        "output": [{"type": "Patient", "url": "https://x.org/files/Patient.000.ndjson"},
                   {"type": "Coverage", "url": "https://x.org/files/Coverage.000.ndjson"}]})
    # the manifest alone: the files it lists that exist are read, the missing one reported
    c = convert_fhir([tmp_path / "manifest.json"], workers=1)
    assert _counts(c) == {
        ("manifest.json", "Bulk Data manifest",
         "Bulk Data $export manifest, not data (the files it lists are read)"): (1, 0, 0, 1),
        ("Patient.000.ndjson", "Patient", None): (1, 1, 0, 0)}
    assert c.notes[0] == ("manifest.json: the manifest lists 1 output files that are not "
                          "there: Coverage.000.ndjson")
    whole = convert_fhir([tmp_path], workers=1)
    assert _counts(whole)[("log.ndjson", "Bulk Data export log",
                           "Bulk Data export log events, not data")] == (2, 0, 0, 2)
    assert whole.balanced()


def test_unparsable_json_file_is_one_reject(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"resourceType": "Bundle", "entry": [')
    c = convert_fhir([tmp_path], workers=1)
    assert [(r.file_name, r.location, r.record_type, r.rule) for r in c.rejected] == [
        ("broken.json", 1, "JSON file", "source_unparsable")]
    assert _counts(c) == {("broken.json", "unparsable JSON", None): (1, 0, 1, 0)}


def test_is_fhir(tmp_path: Path, shared_data: Path) -> None:
    _write_json(tmp_path / "p.json", PATIENT)
    _write_json(tmp_path / "other.json", {"name": "not fhir"})
    (tmp_path / "x.csv").write_text("a,b\n")
    assert [is_fhir(tmp_path / n) for n in ("p.json", "other.json", "x.csv")] == [True, False, False]
    assert is_fhir(shared_data / "synthea-r4-smart" / "bundles")
    assert is_fhir(shared_data / "bulk-ndjson-10pt" / "ndjson")
    assert is_fhir(shared_data / "cms-fixtures" / "bfd_endpoint_responses" / "v1" / "eobReadCarrier.json")
    assert not is_fhir(shared_data / "cms-fixtures" / "desynpuf_ohdsi_etl_cms_DE_0")


# --- references --------------------------------------------------------------------------

def test_conditional_and_type_id_references_resolve_across_files(tmp_path: Path) -> None:
    """Synthea's `Practitioner?identifier=us-npi|NPI` and `Organization?identifier=
    synthea|id` resolve against the practitionerInformation / hospitalInformation bundles;
    Bulk `Practitioner/dr1` against Practitioner.000.ndjson."""
    synthea = tmp_path / "synthea"
    synthea.mkdir()
    _write_json(synthea / "practitionerInformation1.json.gz", _bundle(DOC))
    _write_json(synthea / "hospitalInformation1.json.gz", _bundle(ORG))
    enc = {"resourceType": "Encounter", "id": "e1", "status": "finished",
           "class": {"code": "AMB"}, "subject": {"reference": "urn:uuid:u-p1"},
           "period": {"start": "2020-01-02T10:00:00Z", "end": "2020-01-02T11:00:00Z"},
           "participant": [{"individual": {
               "reference": f"Practitioner?identifier={NPI_SYS}|1234567893"}}],
           "serviceProvider": {"reference": f"Organization?identifier={SYNTHEA_SYS}|org1"}}
    _write_json(synthea / "patient1.json.gz", _bundle(PATIENT, enc))
    bulk = tmp_path / "bulk"
    bulk.mkdir()
    _write_ndjson(bulk / "Practitioner.000.ndjson", [DOC])
    _write_ndjson(bulk / "Organization.000.ndjson", [ORG])
    enc2 = {**enc, "id": "e2", "subject": {"reference": "Patient/p1"},
            "participant": [{"individual": {"reference": "Practitioner/dr1"}}],
            "serviceProvider": {"reference": "Organization/org1"}}
    _write_ndjson(bulk / "Encounter.000.ndjson", [enc2])
    for folder in (synthea, bulk):
        c = convert_fhir([folder], workers=1)
        rows = c.tables["encounter"].to_pylist()
        assert [(r["person_id"], r["attending_provider_id"], r["attending_provider_name"],
                 r["facility_id"], r["facility_name"]) for r in rows] == [
            ("p1", "1234567893", "Jane Who", "org1", "General Hospital")]


def test_urn_reference_missing_from_the_bundle_is_quarantined(tmp_path: Path) -> None:
    enc = {"resourceType": "Encounter", "id": "e1", "class": {"code": "AMB"},
           "subject": {"reference": "urn:uuid:nowhere"}, "period": {"start": "2020-01-02"}}
    _write_json(tmp_path / "b.json", _bundle(PATIENT, enc))
    c = convert_fhir([tmp_path], workers=1)
    assert [(r.location, r.record_type, r.rule) for r in c.rejected] == [
        (2, "Encounter", "source_reference_unresolved")]
    assert _counts(c)[("b.json", "Encounter", None)] == (1, 0, 1, 0)


def test_contained_coverage_with_a_period_is_a_span(tmp_path: Path, stand_in_eob: None) -> None:
    """An EOB's contained Coverage with a period gives the person's span (so the claims do
    not); one without a period (Synthea's) only names the payer: the span comes from the
    claims."""
    eob = {"resourceType": "ExplanationOfBenefit", "id": "x1",
           "patient": {"reference": "urn:uuid:u-p1"}, "insurer": {"display": "Acme"},
           "billablePeriod": {"start": "2019-05-03", "end": "2019-05-03"},
           "contained": [{"resourceType": "Coverage", "id": "cov", "status": "active",
                          "beneficiary": {"reference": "urn:uuid:u-p1"},
                          "payor": [{"display": "Acme"}],
                          "period": {"start": "2019-01-01", "end": "2019-12-31"}}]}
    _write_json(tmp_path / "b.json", _bundle(PATIENT, eob))
    c = convert_fhir([tmp_path], workers=1)
    assert _elig(c, "person_id", "payer", "enrollment_start_date", "enrollment_end_date",
                 "derived_columns") == [("p1", "Acme", "2019-01-01", "2019-12-31",
                                         "member_id,payer_type")]
    no_period = json.loads(json.dumps(eob))
    del no_period["contained"][0]["period"]
    _write_json(tmp_path / "b.json", _bundle(PATIENT, no_period))
    c = convert_fhir([tmp_path], workers=1)
    assert _elig(c, "person_id", "payer", "enrollment_start_date", "enrollment_end_date",
                 "derived_columns") == [
        ("p1", "Acme", "2019-05-01", "2019-05-31",
         "enrollment_start_date,enrollment_end_date,payer,payer_type")]


# --- eligibility -------------------------------------------------------------------------

def _claims(*rows: tuple[str, str | None, str] | tuple[str, str, str, str]) -> pa.Table:
    """(person, payer, day[, plan]) claims."""
    return pa.table({"person_id": [r[0] for r in rows], "member_id": [None] * len(rows),
                     "payer": [r[1] for r in rows],
                     "plan": [r[3] if len(r) > 3 else None for r in rows],
                     "day": [r[2] for r in rows]}, schema=pa.schema(
                         [(n, pa.string()) for n in ("person_id", "member_id", "payer", "plan", "day")]))


def _deaths(*rows: tuple[str, str]) -> pa.Table:
    return pa.table({"person_id": [r[0] for r in rows], "death_date": [r[1] for r in rows]},
                    schema=pa.schema([("person_id", pa.string()), ("death_date", pa.string())]))


def _spans(t: pa.Table) -> list[tuple[str, str, str, str]]:
    return [(r["person_id"], r["payer"], r["enrollment_start_date"], r["enrollment_end_date"])
            for r in t.to_pylist()]


def test_spans_from_claims_payer_change_death_single_claim() -> None:
    claims = _claims(
        # a: private, then medicare from 2015-07 (payer change mid-history), private again
        ("a", "private", "2014-03-10"), ("a", "private", "2015-01-20"),
        ("a", "medicare", "2015-07-04"), ("a", "medicare", "2016-02-01"),
        ("a", "private", "2016-09-30"),
        # b: one claim
        ("b", "medicaid", "2020-02-29"),
        # c: dies in the month of the last claim
        ("c", "no_insurance", "2019-01-05"), ("c", "no_insurance", "2019-03-02"),
        # d: payer changes inside a month, and back: the payer keeps one merged span
        ("d", "private", "2018-01-05"), ("d", "medicaid", "2018-01-20"),
        ("d", "private", "2018-01-25"), ("d", "private", "2018-04-02"),
        # no payer: not used
        ("e", None, "2018-01-01"),
        # f: Medicare Parts A and B billed side by side: each plan is a line of its own
        ("f", "medicare", "2019-01-10", "part-a"), ("f", "medicare", "2019-02-10", "part-b"),
        ("f", "medicare", "2019-03-10", "part-a"),
    )
    got = _spans(derive_spans(claims, _deaths(("c", "2019-03-15"), ("b", "2019-01-01"))))
    assert got == [
        ("a", "private", "2014-03-01", "2015-06-30"),
        ("a", "medicare", "2015-07-01", "2016-08-31"),
        ("a", "private", "2016-09-01", "2016-09-30"),
        ("b", "medicaid", "2020-02-01", "2020-02-29"),   # death before the claim: not used
        ("c", "no_insurance", "2019-01-01", "2019-03-15"),
        ("d", "medicaid", "2018-01-01", "2018-01-31"),
        ("d", "private", "2018-01-01", "2018-04-30"),
        ("f", "medicare", "2019-01-01", "2019-03-31"),
        ("f", "medicare", "2019-02-01", "2019-02-28"),
    ]
    plans = derive_spans(claims, _deaths()).column("plan").to_pylist()
    assert plans[-2:] == ["part-a", "part-b"]


def _span(**values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = dict.fromkeys(SPAN_COLUMNS)
    row.update({"member_id": "m", "payer": "Acme", "payer_type": "commercial",
                "_file": "0", "_loc": "1", "_type": "Coverage"})
    row.update(values)
    return row


def test_coverage_with_and_without_end() -> None:
    spans = pa.Table.from_pylist([
        _span(person_id="p1", enrollment_start_date="2019-01-01", enrollment_end_date="2019-06-30"),
        _span(person_id="p1", plan="B", enrollment_start_date="2019-03-01"),  # open
        _span(person_id="p2", _ref_year="2018"),  # no period: the reference year
        _span(person_id="p3", enrollment_start_date="2017-05-10"),  # open, died
        _span(person_id="p4", _raw="{}", _loc="7"),  # nothing to place it by
    ], schema=pa.schema([(c, pa.string()) for c in SPAN_COLUMNS]))
    patients = pa.Table.from_pylist(
        [{"person_id": "p3", "death_date": "2017-08-09", "_ord": "1"}],
        schema=pa.schema([(c, pa.string()) for c in (*DEMOGRAPHIC_COLUMNS, "_ord")]))
    claims = columns_to_table("medical_claim", {
        "person_id": ["p1", "p1"], "claim_start_date": ["2020-02-11", "2019-04-01"],
        "claim_end_date": ["2020-02-14", "2019-04-01"], "payer": ["Acme", "Acme"]})
    got = finish_eligibility(spans, patients, {"medical_claim": claims})
    assert [(r["person_id"], r["plan"], r["enrollment_start_date"], r["enrollment_end_date"],
             r["derived_columns"]) for r in got.table.to_pylist()] == [
        ("p1", None, "2019-01-01", "2019-06-30", None),
        ("p1", "B", "2019-03-01", "2020-02-29", "enrollment_end_date"),  # latest claim's month
        ("p2", None, "2018-01-01", "2018-12-31", "enrollment_start_date,enrollment_end_date"),
        ("p3", None, "2017-05-10", "2017-08-09", "enrollment_end_date"),  # death
    ]
    assert [(r["person_id"], r["_loc"]) for r in got.unplaced.to_pylist()] == [("p4", "7")]
    assert {(d.column, d.rows) for d in got.derived} == {
        ("enrollment_start_date", 1), ("enrollment_end_date", 3)}


def test_blue_button_coverage_extensions() -> None:
    cov = {"resourceType": "Coverage", "id": "part-a-1", "status": "active",
           "beneficiary": {"reference": "Patient/1"},
           "type": {"coding": [{"system": "Medicare", "code": "Part A"}]},
           "grouping": {"subGroup": "Medicare", "subPlan": "Part A"},
           "extension": [
               {"url": "https://bluebutton.cms.gov/resources/variables/ms_cd",
                "valueCoding": {"code": "20"}},
               {"url": "https://bluebutton.cms.gov/resources/variables/orec",
                "valueCoding": {"code": "1"}},
               {"url": "https://bluebutton.cms.gov/resources/variables/dual_01",
                "valueCoding": {"code": "00"}},
               {"url": "https://bluebutton.cms.gov/resources/variables/dual_12",
                "valueCoding": {"code": "02"}},
               {"url": "https://bluebutton.cms.gov/resources/variables/rfrnc_yr",
                "valueDate": "2021"}]}
    span = coverage_span(cov, Context("c.json", lambda _r: None, strict_urn=False))
    assert span is not None
    assert {k: span[k] for k in ("person_id", "member_id", "payer", "payer_type", "plan",
                                 "group_id", "medicare_status_code", "dual_status_code",
                                 "original_reason_entitlement_code", "_ref_year")} == {
        "person_id": "1", "member_id": "1", "payer": "medicare", "payer_type": "medicare",
        "plan": "part a", "group_id": "Medicare", "medicare_status_code": "20",
        "dual_status_code": "02", "original_reason_entitlement_code": "1", "_ref_year": "2021"}


# --- the real datasets -------------------------------------------------------------------

def _raw_resources(path: Path) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(file name, resource) of a file, with the standard library only (independent of
    the reader); None for a line that does not parse."""
    opener: Callable[..., Any] = gzip.open if path.name.endswith(".gz") else open
    if ".ndjson" in path.name:
        with opener(path, "rt") as f:
            for line in f:
                if line.strip():
                    try:
                        yield path.name, json.loads(line)
                    except json.JSONDecodeError:
                        yield path.name, None
        return
    with opener(path, "rt") as f:
        doc = json.load(f)
    if doc.get("resourceType") == "Bundle":
        for e in doc.get("entry") or []:
            yield path.name, e.get("resource")
    elif "resourceType" in doc:
        yield path.name, doc


def _raw_type_counts(files: list[Path]) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for f in files:
        if f.name == "log.ndjson":
            continue
        for _, r in _raw_resources(f):
            out[r["resourceType"] if r else "unparsable JSON"] += 1
    return out


def _by_type(c: Converted) -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for x in c.counts:
        out[x.record_type] += x.records_in
    return out


def _no_crash(c: Converted) -> None:
    """Every Count balances and no record was refused by an unexpected error."""
    assert [x for x in c.counts if not x.balanced()] == []
    assert [r.reason for r in c.rejected if r.reason.startswith("unexpected error")] == []


needs_eob = pytest.mark.skipif(
    not (Path(fhir_mod.__file__).parent / "fhir_eob.py").exists(),
    reason="fhir_eob (the EOB mapper) is not there yet")


@pytest.fixture(scope="module")
def smart(shared_data: Path) -> tuple[Path, Converted]:
    folder = shared_data / "synthea-r4-smart" / "bundles"
    return folder, convert_fhir([folder], workers=2)


@needs_eob
@pytest.mark.slow
def test_synthea_617_bundles(smart: tuple[Path, Converted]) -> None:
    folder, c = smart
    files = sorted(folder.glob("*.json.gz"))
    raw = _raw_type_counts(files)
    assert sum(raw.values()) == 191_093
    assert _by_type(c) == raw
    _no_crash(c)
    # Patients: one demographics row per person; Practitioners keyed by NPI
    persons: dict[str, dict[str, Any]] = {}
    npis: set[str] = set()
    claims_of: dict[str, int] = collections.Counter()
    for f in files:
        for _, r in _raw_resources(f):
            assert r is not None
            if r["resourceType"] == "Patient":
                persons[r["id"]] = r
            elif r["resourceType"] == "Practitioner":
                npis.update(i["value"] for i in r["identifier"] if i["system"] == NPI_SYS)
            elif r["resourceType"] == "ExplanationOfBenefit":
                claims_of[r["patient"]["reference"]] += 1
    assert sorted(c.tables["provider"].column("npi").to_pylist()) == sorted(npis)
    elig = c.tables["eligibility"]
    assert set(elig.column("person_id").to_pylist()) == set(persons)  # every one has claims
    deaths = {k: v["deceasedDateTime"][:10] for k, v in persons.items() if "deceasedDateTime" in v}
    for row in elig.to_pylist():
        assert row["death_date"] == deaths.get(row["person_id"])
        assert row["enrollment_start_date"] <= row["enrollment_end_date"]
    assert any("eligibility spans derived from claims for 615 persons" in n for n in c.notes)


@needs_eob
def test_synthea_one_and_two_workers_identical(shared_data: Path, tmp_path: Path) -> None:
    src = sorted((shared_data / "synthea-r4-smart" / "bundles").glob("*.json.gz"))
    for f in [*src[:40], *[s for s in src if "Information" in s.name]]:
        (tmp_path / f.name).write_bytes(f.read_bytes())
    one = convert_fhir([tmp_path], workers=1)
    two = convert_fhir([tmp_path], workers=2)
    assert sorted(one.tables) == sorted(two.tables)
    for name in one.tables:
        assert one.tables[name].equals(two.tables[name]), name
    assert (one.counts, one.rejected, one.derived, one.notes) == \
        (two.counts, two.rejected, two.derived, two.notes)


@needs_eob
def test_bulk_ndjson_export(shared_data: Path) -> None:
    folder = shared_data / "bulk-ndjson-10pt" / "ndjson"
    c = convert_fhir([folder], workers=1)
    files = sorted(folder.glob("*.ndjson"))
    raw = _raw_type_counts(files)
    raw["Bulk Data export log"] = sum(1 for line in (folder / "log.ndjson").open() if line.strip())
    assert _by_type(c) == raw
    _no_crash(c)
    # Encounter.000.ndjson references Patient/... and Practitioner/... in the other files
    patients = {r["id"] for _, r in _raw_resources(folder / "Patient.000.ndjson") if r}
    enc = c.tables["encounter"]
    assert set(enc.column("person_id").to_pylist()) <= patients
    names: dict[str, str] = {}
    for _, r in _raw_resources(folder / "Practitioner.000.ndjson"):
        assert r is not None
        npi = next(i["value"] for i in r["identifier"] if i["system"] == NPI_SYS)
        names[npi] = " ".join([*r["name"][0]["given"], r["name"][0]["family"]])
    got = {(a, n) for a, n in zip(enc.column("attending_provider_id").to_pylist(),
                                  enc.column("attending_provider_name").to_pylist(), strict=True)}
    assert got <= set(names.items())
    assert len(got) == len({a for a, _ in got})
    # PractitionerRole adds specialty / taxonomy / organization to its practitioner's row
    roles: dict[str, tuple[str, str, str]] = {}
    for _, r in _raw_resources(folder / "PractitionerRole.000.ndjson"):
        assert r is not None
        roles.setdefault(r["practitioner"]["identifier"]["value"], (
            r["specialty"][0]["text"], r["specialty"][0]["coding"][0]["code"],
            r["organization"]["display"]))
    prov = {p["npi"]: (p["specialty"], p["taxonomy_code"], p["organization_name"])
            for p in c.tables["provider"].to_pylist()}
    assert prov == {npi: roles.get(npi, (None, None, None)) for npi in names}
    # no claims, no Coverage: no eligibility, said so
    assert "eligibility" not in c.tables
    assert f"{len(patients)} persons have a Patient but neither Coverage nor claims" in c.notes[-1]


@needs_eob
def test_bcda_coverage_spans(shared_data: Path) -> None:
    folder = shared_data / "cms-fixtures" / "bcda_static_site_ndjson"
    c = convert_fhir([folder], workers=1)
    _no_crash(c)
    expected = set()
    for _, r in _raw_resources(folder / "Coverage.ndjson"):
        assert r is not None
        ext = {e["url"].rsplit("/", 1)[-1]: e for e in r["extension"]}
        year = ext["rfrnc_yr"]["valueDate"]
        expected.add((r["beneficiary"]["reference"].split("/")[1], r["grouping"]["subPlan"].lower(),
                      ext["ms_cd"]["valueCoding"]["code"] if "ms_cd" in ext else None,
                      f"{year}-01-01", f"{year}-12-31"))
    got = set(_elig(c, "person_id", "plan", "medicare_status_code", "enrollment_start_date",
                    "enrollment_end_date"))
    assert got == expected
    assert len(expected) == 400
    assert set(_elig(c, "payer", "payer_type")) == {("medicare", "medicare")}
    birth = {r["id"]: r["birthDate"] for _, r in _raw_resources(folder / "Patient.ndjson") if r}
    assert {(p, b) for p, b in _elig(c, "person_id", "birth_date")} == \
        {(p, birth[p]) for p, *_ in expected}


@needs_eob
@pytest.mark.parametrize("sub", [
    "bcda_bb_sandbox_bundles", "bfd_endpoint_responses/v1", "bfd_endpoint_responses/v2",
    "ab2d_bcda_eob_ndjson"])
def test_cms_fixtures_convert_without_crashes(shared_data: Path, sub: str) -> None:
    folder = shared_data / "cms-fixtures" / sub
    c = convert_fhir([folder], workers=1)
    files = sorted(f for f in folder.rglob("*") if f.name.endswith((".json", ".ndjson", ".gz")))
    raw = _raw_type_counts(files)
    got = _by_type(c)
    # a Bulk Data manifest / non-resource JSON is counted under its own record type
    assert {k: v for k, v in got.items() if k in raw} == raw
    _no_crash(c)
