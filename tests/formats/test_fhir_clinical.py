"""FHIR R4 clinical mappers (medsynergy.ingest.formats.fhir_clinical): hand-written
resources -> expected rows, every RecordError, the PROMIS mart on mapped Observations, and
the real Synthea bundles / Bulk NDJSON export with counts computed here from the raw JSON."""

from __future__ import annotations

import collections
import gzip
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import orjson
import pyarrow as pa
import pytest

from medsynergy.ingest.formats import RecordError, rows_to_table
from medsynergy.ingest.formats.fhir_clinical import (
    MAPPERS,
    PANEL_OF,
    care_plan_rows,
    care_team_rows,
    condition_rows,
    encounter_class_code,
    encounter_rows,
    medication_request_rows,
    observation_rows,
    panel_members,
    procedure_rows,
)
from medsynergy.ingest.formats.fhir_common import Context, Resource
from medsynergy.marts.promis import promis_scores
from medsynergy.schema import table as canonical_table

# --- helpers -----------------------------------------------------------------------------

PAT = {"resourceType": "Patient", "id": "p1"}
DOC = {"resourceType": "Practitioner", "id": "dr1",
       "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
       "name": [{"family": "Who", "given": ["Jane", "Q"], "prefix": ["Dr."]}]}
ORG = {"resourceType": "Organization", "id": "org1", "name": "General Hospital"}


def urn_ctx(*resources: Resource) -> Context:
    """A bundle context: `urn:uuid:<id>` -> resource (as a transaction bundle's fullUrls)."""
    index = {f"urn:uuid:{r['id']}": r for r in resources}
    return Context("test.json", index.get)


def type_ctx(*resources: Resource) -> Context:
    """A Bulk export context: `Type/id` -> resource."""
    index = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    return Context("test.ndjson", index.get, strict_urn=False)


def row(table: str, **values: str | None) -> dict[str, str | None]:
    """An expected row: every input column of `table`, None unless given."""
    cols = [c.name for c in canonical_table(table).columns if c.role.value == "input"]
    unknown = set(values) - set(cols)
    assert not unknown, unknown
    return {c: values.get(c) for c in cols}


SUBJECT = {"subject": {"reference": "urn:uuid:p1"}}


def refused(fn: Any, resource: Resource, ctx: Context, rule: str, text: str) -> None:
    with pytest.raises(RecordError) as info:
        fn(resource, ctx)
    assert info.value.rule == rule
    assert text in info.value.message


# --- Encounter ---------------------------------------------------------------------------

def test_encounter_inpatient_stay() -> None:
    cond = {"resourceType": "Condition", "id": "c9", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes"},
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9", "display": "T2DM"}]}}
    other = {"resourceType": "Condition", "id": "c8", "code": {"coding": [
        {"system": "http://snomed.info/sct", "code": "38341003"}]}}
    enc = {
        "resourceType": "Encounter", "id": "e1", **SUBJECT,
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "183452005",
                              "display": "Emergency hospital admission"}]}],
        "period": {"start": "2020-01-30T22:00:00-05:00", "end": "2020-02-03T10:00:00-05:00"},
        "hospitalization": {
            "admitSource": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/admit-source",
                                        "code": "emd", "display": "From accident/emergency department"}]},
            "dischargeDisposition": {"coding": [{"system": "http://www.nubc.org/patient-discharge",
                                                 "code": "01", "display": "Discharged home"}]}},
        "participant": [
            {"type": [{"coding": [{"code": "PPRF"}]}], "individual": {"reference": "Practitioner/x"}},
            {"type": [{"coding": [{"code": "ATND"}]}], "individual": {"reference": "urn:uuid:dr1"}}],
        "diagnosis": [{"condition": {"reference": "urn:uuid:c8"}, "rank": 2},
                      {"condition": {"reference": "urn:uuid:c9"}, "rank": 1}],
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "1"}]}],
        "serviceProvider": {"reference": "urn:uuid:org1"},
    }
    got = encounter_rows(enc, urn_ctx(PAT, DOC, ORG, cond, other))
    assert got == [row(
        "encounter", encounter_id="e1", person_id="p1", patient_id="p1",
        encounter_type="IMP", encounter_class_code="IMP",
        encounter_start_date="2020-01-30", encounter_end_date="2020-02-03", length_of_stay="4",
        admit_source_code="emd", admit_source_description="From accident/emergency department",
        discharge_disposition_code="01", discharge_disposition_description="Discharged home",
        attending_provider_id="1234567893", attending_provider_name="Jane Q Who",
        facility_id="org1", facility_name="General Hospital",
        primary_diagnosis_code_type="icd-10-cm", primary_diagnosis_code="E11.9",
        primary_diagnosis_description="T2DM",
        reason_code_type="snomed-ct", reason_code="183452005",
        reason_description="Emergency hospital admission")]


def test_encounter_bulk_style_conditional_references() -> None:
    """Newer Synthea (Bulk export): `Type/id` subject, the practitioner and organisation
    as conditional references by identifier; a display-form class; reasonCode as the
    primary diagnosis; no length of stay outside inpatient classes."""
    enc = {
        "resourceType": "Encounter", "id": "e2", "subject": {"reference": "Patient/p1"},
        "class": {"display": "ambulatory"},
        "period": {"start": "2021-03-04T09:00:00+00:00", "end": "2021-03-05T09:00:00+00:00"},
        "participant": [{"individual": {
            "reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999974493",
            "display": "Dr. Chelsey293 Simonis280"}}],
        "reasonCode": [{"coding": [{"system": "http://snomed.info/sct", "code": "46177005",
                                    "display": "End-stage renal disease (disorder)"}]}],
        "serviceProvider": {"reference": "Organization?identifier=https://github.com/"
                                         "synthetichealth/synthea|a261e1fc",
                            "display": "NEWMAN MEMORIAL"},
    }
    got = encounter_rows(enc, type_ctx(PAT))
    assert got == [row(
        "encounter", encounter_id="e2", person_id="p1", patient_id="p1",
        encounter_type="ambulatory", encounter_class_code="AMB",
        encounter_start_date="2021-03-04", encounter_end_date="2021-03-05",
        attending_provider_id="9999974493", attending_provider_name="Dr. Chelsey293 Simonis280",
        facility_id="a261e1fc", facility_name="NEWMAN MEMORIAL",
        primary_diagnosis_code_type="snomed-ct", primary_diagnosis_code="46177005",
        primary_diagnosis_description="End-stage renal disease (disorder)")]


def test_encounter_minimal_keeps_the_row() -> None:
    """Only what places it: no class, type, participant or end; an open stay has no LOS;
    an untyped participant (older Synthea) is the attending; a reference the export does
    not hold keeps its own id."""
    enc = {"resourceType": "Encounter", "id": "e3", **SUBJECT,
           "class": {"code": "IMP"}, "period": {"start": "2020-05-01"},
           "participant": [{"individual": {"reference": "urn:uuid:missing-doc"}}]}
    assert encounter_rows(enc, urn_ctx(PAT)) == [row(
        "encounter", encounter_id="e3", person_id="p1", patient_id="p1",
        encounter_type="IMP", encounter_class_code="IMP", encounter_start_date="2020-05-01",
        attending_provider_id="missing-doc")]


@pytest.mark.parametrize(("given", "code"), [
    ("AMB", "AMB"), ("emer", "EMER"), ("IMP", "IMP"), ("inpatient", "IMP"),
    ("Inpatient Encounter", "IMP"), ("emergency", "EMER"), ("ambulatory", "AMB"),
    ("wellness", "AMB"), ("urgentcare", "AMB"), ("HH", "HH"), ("virtual", "VR"),
    ("observation encounter", "OBSENC"), ("ACUTE", "ACUTE"), ("snf", None), ("", None),
    (None, None)])
def test_encounter_class_code(given: str | None, code: str | None) -> None:
    assert encounter_class_code(given) == code


def test_encounter_refusals() -> None:
    base: Resource = {"resourceType": "Encounter", "id": "e9", "class": {"code": "AMB"},
                      "period": {"start": "2020-01-01"}, **SUBJECT}
    ctx = urn_ctx(PAT)
    refused(encounter_rows, {**base, "period": {"end": "2020-01-01"}}, ctx,
            "source_required_missing", "period.start")
    refused(encounter_rows, {**base, "period": {"start": "2020-01"}}, ctx,
            "source_value_invalid", "period.start='2020-01'")
    refused(encounter_rows, {**base, "period": {"start": "Jan 1, 2020"}}, ctx,
            "source_value_invalid", "Jan 1, 2020")
    refused(encounter_rows, {k: v for k, v in base.items() if k != "subject"}, ctx,
            "source_required_missing", "no patient reference")
    refused(encounter_rows, {**base, "subject": {"reference": "urn:uuid:nobody"}}, ctx,
            "source_reference_unresolved", "urn:uuid:nobody")
    refused(encounter_rows, {**base, "subject": {"reference": "Group/g1"}}, ctx,
            "source_required_missing", "Group, not a Patient")
    refused(encounter_rows, {k: v for k, v in base.items() if k != "id"}, ctx,
            "source_required_missing", "has no id")


# --- Condition ---------------------------------------------------------------------------

def test_condition_snomed_with_icd10() -> None:
    cond = {
        "resourceType": "Condition", "id": "c1", **SUBJECT,
        "encounter": {"reference": "urn:uuid:e1"},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                 "condition-clinical", "code": "resolved"}]},
        "category": [{"coding": [{"code": "encounter-diagnosis"}]}],
        "code": {"coding": [
            {"system": "http://snomed.info/sct", "code": "195662009",
             "display": "Acute viral pharyngitis (disorder)"},
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J02.9",
             "display": "Acute pharyngitis, unspecified"}]},
        "onsetDateTime": "2019-12-31T23:30:00-05:00",
        "recordedDate": "2020-01-02",
        "abatementDateTime": "2020-01-15T08:00:00Z",
    }
    got = condition_rows(cond, urn_ctx(PAT, {"resourceType": "Encounter", "id": "e1"}))
    assert got == [row(
        "condition", condition_id="c1", person_id="p1", patient_id="p1", encounter_id="e1",
        recorded_date="2020-01-02", onset_date="2019-12-31", resolved_date="2020-01-15",
        status="resolved", condition_type="encounter-diagnosis",
        source_code_type="snomed-ct", source_code="195662009",
        source_description="Acute viral pharyngitis (disorder)",
        normalized_code_type="icd-10-cm", normalized_code="J02.9",
        normalized_description="Acute pharyngitis, unspecified")]


def test_condition_recorded_date_falls_back_to_onset() -> None:
    cond = {"resourceType": "Condition", "id": "c2", **SUBJECT,
            "code": {"text": "back pain"},
            "onsetPeriod": {"start": "2018-04-05"},
            "abatementPeriod": {"start": "2018-05-01", "end": "2018-06-01"}}
    assert condition_rows(cond, urn_ctx(PAT)) == [row(
        "condition", condition_id="c2", person_id="p1", patient_id="p1",
        recorded_date="2018-04-05", onset_date="2018-04-05", resolved_date="2018-06-01",
        source_description="back pain")]


def test_condition_refusals() -> None:
    base: Resource = {"resourceType": "Condition", "id": "c3", **SUBJECT}
    refused(condition_rows, base, urn_ctx(PAT), "source_required_missing",
            "recordedDate / onset[x]")
    refused(condition_rows, {**base, "onsetDateTime": "2011"}, urn_ctx(PAT),
            "source_value_invalid", "onset[x]='2011'")
    refused(condition_rows, {**base, "recordedDate": "2011-01-01", "subject": {}},
            urn_ctx(PAT), "source_required_missing", "no patient reference")


# --- Procedure ---------------------------------------------------------------------------

def test_procedure_period_and_performer_role() -> None:
    role = {"resourceType": "PractitionerRole", "id": "r1",
            "practitioner": {"reference": "Practitioner/dr1"}}
    proc = {"resourceType": "Procedure", "id": "pr1", "subject": {"reference": "Patient/p1"},
            "encounter": {"reference": "Encounter/e1"},
            "performedPeriod": {"start": "2011-12-31T08:57:20+00:00",
                                "end": "2011-12-31T09:41:20+00:00"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "46706006",
                                 "display": "Replacement of IUD"},
                                {"system": "http://www.ama-assn.org/go/cpt", "code": "58300"}]},
            "performer": [{"actor": {"reference": "PractitionerRole/r1"}}]}
    assert procedure_rows(proc, type_ctx(PAT, DOC, role)) == [row(
        "procedure", procedure_id="pr1", person_id="p1", patient_id="p1", encounter_id="e1",
        procedure_date="2011-12-31", source_code_type="snomed-ct", source_code="46706006",
        source_description="Replacement of IUD", normalized_code_type="cpt",
        normalized_code="58300", normalized_description=None, practitioner_id="1234567893")]


def test_procedure_date_time_and_refusals() -> None:
    proc = {"resourceType": "Procedure", "id": "pr2", **SUBJECT,
            "performedDateTime": "2015-07-08T10:00:00Z"}
    assert procedure_rows(proc, urn_ctx(PAT)) == [row(
        "procedure", procedure_id="pr2", person_id="p1", patient_id="p1",
        procedure_date="2015-07-08")]
    refused(procedure_rows, {"resourceType": "Procedure", "id": "pr3", **SUBJECT,
                             "performedString": "last spring"}, urn_ctx(PAT),
            "source_required_missing", "performedDateTime")
    refused(procedure_rows, {**proc, "subject": {"reference": "urn:uuid:x"}}, urn_ctx(PAT),
            "source_reference_unresolved", "not in the bundle")


# --- MedicationRequest -------------------------------------------------------------------

def test_medication_request_codeable_concept() -> None:
    mr = {"resourceType": "MedicationRequest", "id": "m1", **SUBJECT, "status": "active",
          "encounter": {"reference": "urn:uuid:e1"},
          "authoredOn": "2008-11-26T08:57:20+00:00",
          "medicationCodeableConcept": {"coding": [
              {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "849574",
               "display": "Naproxen sodium 220 MG Oral Tablet"},
              {"system": "http://hl7.org/fhir/sid/ndc", "code": "0536-1048-01",
               "display": "Naproxen 220mg"}]},
          "requester": {"reference": "urn:uuid:dr1"},
          "dosageInstruction": [{"route": {"coding": [{"system": "http://snomed.info/sct",
                                                      "code": "26643006",
                                                      "display": "Oral route"}]}}],
          "dispenseRequest": {"quantity": {"value": 30.5, "unit": "tablet"},
                              "expectedSupplyDuration": {"value": 2, "unit": "weeks",
                                                         "code": "wk"}}}
    assert medication_request_rows(mr, urn_ctx(PAT, DOC)) == [row(
        "medication", medication_id="m1", person_id="p1", patient_id="p1", encounter_id="e1",
        prescribing_date="2008-11-26", status="active",
        source_code_type="rxnorm", source_code="849574",
        source_description="Naproxen sodium 220 MG Oral Tablet",
        normalized_code_type="rxnorm", normalized_code="849574",
        normalized_description="Naproxen sodium 220 MG Oral Tablet",
        ndc_code="0536-1048-01", ndc_description="Naproxen 220mg",
        rxnorm_code="849574", rxnorm_description="Naproxen sodium 220 MG Oral Tablet",
        route="Oral route", quantity="30.5", quantity_unit="tablet", days_supply="14",
        practitioner_id="1234567893")]


def test_medication_request_medication_reference() -> None:
    med = {"resourceType": "Medication", "id": "med1", "code": {"coding": [
        {"system": "http://www.whocc.no/atc", "code": "N02BE01", "display": "paracetamol"}]}}
    contained_mr = {"resourceType": "MedicationRequest", "id": "m2", **SUBJECT,
                    "authoredOn": "2020-02-02", "contained": [med],
                    "medicationReference": {"reference": "#med1"},
                    "dispenseRequest": {"expectedSupplyDuration": {"value": 1, "code": "mo"}}}
    atc_row = row("medication", medication_id="m2", person_id="p1", patient_id="p1",
                  prescribing_date="2020-02-02", source_code_type="atc",
                  source_code="N02BE01", source_description="paracetamol",
                  atc_code="N02BE01", atc_description="paracetamol")
    assert medication_request_rows(contained_mr, urn_ctx(PAT)) == [atc_row]
    in_export = {**contained_mr, "contained": [], "medicationReference":
                 {"reference": "urn:uuid:med1"}}
    assert medication_request_rows(in_export, urn_ctx(PAT, med)) == [atc_row]
    # not resolvable: the row stays, with the reference's display as the description
    lost = {**in_export, "medicationReference": {"reference": "Medication/zz",
                                                 "display": "something"}}
    assert medication_request_rows(lost, urn_ctx(PAT)) == [row(
        "medication", medication_id="m2", person_id="p1", patient_id="p1",
        prescribing_date="2020-02-02", source_description="something")]


def test_medication_request_refusals() -> None:
    mr = {"resourceType": "MedicationRequest", "id": "m3", **SUBJECT}
    refused(medication_request_rows, mr, urn_ctx(PAT), "source_required_missing", "authoredOn")
    refused(medication_request_rows, {**mr, "authoredOn": "2020-02-02", "subject": None},
            urn_ctx(PAT), "source_required_missing", "no patient reference")


# --- Observation -------------------------------------------------------------------------

def _obs(**extra: Any) -> Resource:
    return {"resourceType": "Observation", "id": "o1", **SUBJECT,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                                 "display": "Glucose"}]},
            "effectiveDateTime": "2020-03-04T05:06:07-08:00", **extra}


def _obs_row(**values: str | None) -> dict[str, str | None]:
    base: dict[str, str | None] = dict(
        observation_id="o1", person_id="p1", patient_id="p1", observation_date="2020-03-04",
        observation_type="laboratory", source_code_type="loinc", source_code="2339-0",
        source_description="Glucose", normalized_code_type="loinc", normalized_code="2339-0",
        normalized_description="Glucose")
    base.update(values)
    return row("observation", **base)


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueQuantity": {"value": 158.79260415288329, "unit": "mg/dL",
                        "system": "http://unitsofmeasure.org", "code": "mg/dL"}},
     {"result": "158.79260415288329", "source_units": "mg/dL", "normalized_units": "mg/dL"}),
    ({"valueQuantity": {"value": 1e-7, "unit": "g"}},
     {"result": "0.0000001", "source_units": "g"}),
    ({"valueQuantity": {"value": 5, "comparator": "<", "unit": "U/L"}},
     {"result": "<5", "source_units": "U/L"}),
    ({"valueCodeableConcept": {"coding": [{"system": "http://snomed.info/sct",
                                           "code": "266919005", "display": "Never smoker"}]}},
     {"result": "266919005"}),
    ({"valueCodeableConcept": {"text": "Positive"}}, {"result": "Positive"}),
    ({"valueString": "clear, yellow"}, {"result": "clear, yellow"}),
    ({"valueInteger": 17}, {"result": "17"}),
    ({"valueBoolean": False}, {"result": "false"}),
    ({"valueDateTime": "2020-01-01T10:00:00Z"}, {"result": "2020-01-01T10:00:00Z"}),
    ({"dataAbsentReason": {"coding": [{"code": "not-performed"}]}}, {}),
])
def test_observation_value_forms(value: dict[str, Any], expected: dict[str, str]) -> None:
    assert observation_rows(_obs(**value), urn_ctx(PAT)) == [_obs_row(**expected)]


def test_observation_reference_range_and_encounter() -> None:
    o = _obs(valueQuantity={"value": 101, "unit": "mg/dL", "system": "http://unitsofmeasure.org",
                            "code": "mg/dL"},
             encounter={"reference": "urn:uuid:e1"},
             referenceRange=[{"low": {"value": 70, "code": "mg/dL"},
                              "high": {"value": 99.5, "code": "mg/dL"}}])
    assert observation_rows(o, urn_ctx(PAT)) == [_obs_row(
        encounter_id="e1", result="101", source_units="mg/dL", normalized_units="mg/dL",
        source_reference_range_low="70", source_reference_range_high="99.5",
        normalized_reference_range_low="70", normalized_reference_range_high="99.5")]
    # a range in other units than the result is not a normalized range
    o["referenceRange"] = [{"low": {"value": 3.9, "code": "mmol/L"}}]
    assert observation_rows(o, urn_ctx(PAT)) == [_obs_row(
        encounter_id="e1", result="101", source_units="mg/dL", normalized_units="mg/dL",
        source_reference_range_low="3.9")]


def test_observation_components_blood_pressure() -> None:
    bp = _obs(id="bp", code={"coding": [{"system": "http://loinc.org", "code": "85354-9",
                                         "display": "Blood pressure panel"}]},
              category=[{"coding": [{"code": "vital-signs"}]}],
              component=[
                  {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4",
                                        "display": "Diastolic"}]},
                   "valueQuantity": {"value": 72.48936083223882, "unit": "mm[Hg]",
                                     "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
                  {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6",
                                        "display": "Systolic"}]},
                   "valueQuantity": {"value": 122, "unit": "mm[Hg]",
                                     "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}])
    common = {"person_id": "p1", "patient_id": "p1", "observation_date": "2020-03-04",
              "observation_type": "vital-signs", "panel_id": "bp", "source_code_type": "loinc",
              "normalized_code_type": "loinc", "source_units": "mm[Hg]",
              "normalized_units": "mm[Hg]"}
    assert observation_rows(bp, urn_ctx(PAT)) == [
        row("observation", observation_id="bp:1", source_code="8462-4",
            source_description="Diastolic", normalized_code="8462-4",
            normalized_description="Diastolic", result="72.48936083223882", **common),
        row("observation", observation_id="bp:2", source_code="8480-6",
            source_description="Systolic", normalized_code="8480-6",
            normalized_description="Systolic", result="122", **common)]
    # a value on the parent as well: its own row first, then the components
    bp["valueString"] = "normal"
    got = observation_rows(bp, urn_ctx(PAT))
    assert [(r["observation_id"], r["panel_id"], r["source_code"], r["result"]) for r in got] == [
        ("bp", "bp", "85354-9", "normal"), ("bp:1", "bp", "8462-4", "72.48936083223882"),
        ("bp:2", "bp", "8480-6", "122")]


def test_observation_dates() -> None:
    base = {k: v for k, v in _obs(valueInteger=1).items() if k != "effectiveDateTime"}
    ctx = urn_ctx(PAT)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"effectivePeriod": {"start": "2019-01-02T00:00:00Z"}}, "2019-01-02"),
        ({"effectiveInstant": "2019-01-03T00:00:00.123Z"}, "2019-01-03"),
        ({"issued": "2019-01-04T00:00:00Z"}, "2019-01-04"),
        ({"effectiveDateTime": "2019-01", "issued": "2019-01-05"}, "2019-01-05")]
    for extra, day in cases:
        got = observation_rows({**base, **extra}, ctx)
        assert [(r["observation_id"], r["observation_date"]) for r in got] == [("o1", day)]
    refused(observation_rows, base, ctx, "source_required_missing", "issued")
    refused(observation_rows, {**base, "effectiveDateTime": "2019"}, ctx,
            "source_value_invalid", "effectiveDateTime='2019'")
    refused(observation_rows, {**base, "issued": "2019-01-01", "subject": {
        "reference": "Device/d1"}}, ctx, "source_required_missing", "Device, not a Patient")
    refused(observation_rows, {**base, "issued": "2019-01-01", "subject": {
        "reference": "urn:uuid:org1"}}, urn_ctx(PAT, ORG), "source_required_missing",
        "Organization, not a Patient")


# --- PROMIS Global Health from FHIR -> the promis mart -----------------------------------

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _score(code: str, display: str, value: Any, unit: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit}}


def promis_panel() -> Resource:
    """A PROMIS-10 Global Health administration (LOINC 61578-7) with its summary scores
    as components: raw physical 14, T mental 48.3 (the item answers would be further
    components; they are not the mart's codes)."""
    return {"resourceType": "Observation", "id": "promis1", "status": "final", **SUBJECT,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                                "observation-category", "code": "survey"}]}],
            "code": {"coding": [{"system": LOINC, "code": "61578-7",
                                 "display": "PROMIS-10 Global Health"}]},
            "effectiveDateTime": "2024-01-15T10:00:00-05:00",
            "component": [
                {"code": {"coding": [{"system": "urn:healthmeasures:promis",
                                      "code": "Global01", "display": "item"}]},
                 "valueInteger": 4},
                _score("71972-4", "GPH raw", 14, "{score}"),
                _score("71969-0", "GMH T-score", 48.3, "{T-score}")]}


def promis_member(oid: str, date: str, code: str, value: Any) -> Resource:
    """A PROMIS score sent as its own Observation (a member of a panel's hasMember), with
    a local coding first: the mart must still find the LOINC code."""
    return {"resourceType": "Observation", "id": oid, **SUBJECT,
            "category": [{"coding": [{"code": "survey"}]}],
            "code": {"coding": [{"system": "urn:local", "code": "GPH"},
                                {"system": LOINC, "code": code}]},
            "effectiveDateTime": date, "valueQuantity": {"value": value, "unit": "{score}"}}


def _mart_observations(rows: list[dict[str, str | None]]) -> ibis.Table:
    """The mapped rows as the ingest would type them (the columns the mart reads)."""
    t = rows_to_table("observation", rows)
    cols = {c: t[c] for c in t.column_names}
    cols["observation_date"] = t["observation_date"].cast(pa.date32())
    cols["data_source"] = pa.array(["fhir"] * t.num_rows, pa.string())
    cols["ingest_datetime"] = pa.array([None] * t.num_rows, pa.timestamp("us"))
    return ibis.memtable(pa.table(cols))


def test_promis_observations_reach_the_mart() -> None:
    panel = promis_panel()
    rows = observation_rows(panel, urn_ctx(PAT))
    assert [(r["observation_id"], r["panel_id"], r["source_code"], r["normalized_code"],
             r["result"], r["observation_date"]) for r in rows] == [
        ("promis1:1", "promis1", "Global01", None, "4", "2024-01-15"),
        ("promis1:2", "promis1", "71972-4", "71972-4", "14", "2024-01-15"),
        ("promis1:3", "promis1", "71969-0", "71969-0", "48.3", "2024-01-15")]
    assert rows[1] == row(
        "observation", observation_id="promis1:2", person_id="p1", patient_id="p1",
        panel_id="promis1", observation_date="2024-01-15", observation_type="survey",
        source_code_type="loinc", source_code="71972-4", source_description="GPH raw",
        normalized_code_type="loinc", normalized_code="71972-4",
        normalized_description="GPH raw", result="14", source_units="{score}",
        normalized_units="{score}")

    # a later administration as a panel with hasMember + separate score Observations
    hub = {"resourceType": "Observation", "id": "promis2", **SUBJECT,
           "code": {"coding": [{"system": LOINC, "code": "61578-7"}]},
           "effectiveDateTime": "2024-07-01",
           "hasMember": [{"reference": "urn:uuid:s1"}, {"reference": "urn:uuid:s2"}]}
    s1 = promis_member("s1", "2024-07-01", "71972-4", 17)
    s2 = promis_member("s2", "2024-07-01", "71970-8", 12.0)
    ctx = urn_ctx(PAT, hub, s1, s2)
    ctx.extra[PANEL_OF] = panel_members(hub, ctx)
    assert ctx.extra[PANEL_OF] == {"s1": "promis2", "s2": "promis2"}
    later = [r for res in (hub, s1, s2) for r in observation_rows(res, ctx)]
    assert [(r["observation_id"], r["panel_id"], r["source_code_type"], r["source_code"],
             r["normalized_code"], r["result"]) for r in later] == [
        ("promis2", "promis2", "loinc", "61578-7", "61578-7", None),
        ("s1", "promis2", "urn:local", "GPH", "71972-4", "17"),
        ("s2", "promis2", "urn:local", "GPH", "71970-8", "12.0")]

    con = ibis.duckdb.connect()
    try:
        got = con.to_pyarrow(promis_scores(_mart_observations(rows + later))).to_pylist()
    finally:
        con.disconnect()
    # published table: physical raw 14 -> 44.9, 17 -> 54.1; mental raw 12 -> 43.5
    assert [(r["observation_date"].isoformat(), r["scale"], r["source"], r["raw_score"],
             r["t_score"], r["change_from_baseline"]) for r in got] == [
        ("2024-01-15", "mental", "reported", None, Decimal("48.30"), Decimal("0.00")),
        ("2024-07-01", "mental", "table", 12, Decimal("43.50"), Decimal("-4.80")),
        ("2024-01-15", "physical", "table", 14, Decimal("44.90"), Decimal("0.00")),
        ("2024-07-01", "physical", "table", 17, Decimal("54.10"), Decimal("9.20"))]


# --- CarePlan ----------------------------------------------------------------------------

def test_care_plan() -> None:
    cp = {"resourceType": "CarePlan", "id": "cp1", **SUBJECT, "status": "completed",
          "intent": "order", "encounter": {"reference": "urn:uuid:e1"},
          "category": [
              {"coding": [{"system": "http://hl7.org/fhir/us/core/CodeSystem/careplan-category",
                           "code": "assess-plan"}]},
              {"coding": [{"system": "http://snomed.info/sct", "code": "872781000000100",
                           "display": "Musculoskeletal care"}], "text": "MSK"}],
          "period": {"start": "2006-02-25T08:57:20+00:00", "end": "2006-04-01T08:57:20+00:00"},
          "addresses": [{"reference": "urn:uuid:c1"}, {"reference": "Condition/c2"}],
          "careTeam": [{"reference": "urn:uuid:t1"}],
          "activity": [
              {"detail": {"code": {"coding": [{"system": "http://snomed.info/sct",
                                               "code": "266694003"}]}}},
              {"reference": {"reference": "MedicationRequest/m1"}},
              {"detail": {"code": {"coding": [{"system": "urn:local", "code": "X1"}]}}}]}
    got = care_plan_rows(cp, urn_ctx(PAT, {"resourceType": "Condition", "id": "c1"}))
    assert got == [row(
        "care_plan", care_plan_id="cp1", person_id="p1", patient_id="p1", encounter_id="e1",
        status="completed", intent="order", start_date="2006-02-25", end_date="2006-04-01",
        category_code_type="snomed-ct", category_code="872781000000100",
        category_description="Musculoskeletal care", addresses="c1,c2",
        activities="snomed-ct|266694003,urn:local|X1", care_team_id="t1")]


def test_care_plan_refusals_and_minimal() -> None:
    cp = {"resourceType": "CarePlan", "id": "cp2", **SUBJECT, "period": {"start": "2010-01-01"}}
    assert care_plan_rows(cp, urn_ctx(PAT)) == [row(
        "care_plan", care_plan_id="cp2", person_id="p1", patient_id="p1",
        start_date="2010-01-01")]
    refused(care_plan_rows, {**cp, "period": {}}, urn_ctx(PAT), "source_required_missing",
            "period.start")
    refused(care_plan_rows, {k: v for k, v in cp.items() if k != "subject"}, urn_ctx(PAT),
            "source_required_missing", "no patient reference")


# --- CareTeam ----------------------------------------------------------------------------

def test_care_team_participants() -> None:
    kin = {"resourceType": "RelatedPerson", "id": "rp1", "name": [{"given": ["Ann"],
                                                                  "family": "Kin"}]}
    team = {"resourceType": "CareTeam", "id": "t1", "status": "active",
            "subject": {"reference": "Patient/p1"}, "encounter": {"reference": "Encounter/e1"},
            "period": {"start": "2019-01-01T00:00:00Z", "end": "2019-12-31"},
            "contained": [kin],
            "managingOrganization": [{"reference": "Organization/org1"}],
            "participant": [
                {"role": [{"coding": [{"system": "http://snomed.info/sct", "code": "116154003",
                                       "display": "Patient"}]}],
                 "member": {"reference": "Patient/p1", "display": "Mr. P"}},
                {"role": [{"coding": [{"system": "http://snomed.info/sct", "code": "223366009",
                                       "display": "Healthcare professional"}]}],
                 "member": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/"
                                         "us-npi|9999977292", "display": "Dr. A B"}},
                {"member": {"reference": "Practitioner/dr1"}},
                {"role": [{"text": "carer"}], "member": {"reference": "#rp1"}},
                {"member": {"reference": "Organization/org1"}}]}
    common = {"care_team_id": "t1", "person_id": "p1", "patient_id": "p1",
              "encounter_id": "e1", "status": "active", "start_date": "2019-01-01",
              "end_date": "2019-12-31", "managing_organization": "General Hospital"}
    got = care_team_rows(team, type_ctx(PAT, DOC, ORG))
    assert got == [
        row("care_team", participant_number="1", **common, role_code_type="snomed-ct",
            role_code="116154003", role_description="Patient", member_type="Patient",
            member_id="p1", member_name="Mr. P"),
        row("care_team", participant_number="2", **common, role_code_type="snomed-ct",
            role_code="223366009", role_description="Healthcare professional",
            member_type="Practitioner", member_id="9999977292", member_npi="9999977292",
            member_name="Dr. A B"),
        row("care_team", participant_number="3", **common, member_type="Practitioner",
            member_id="dr1", member_npi="1234567893", member_name="Jane Q Who"),
        row("care_team", participant_number="4", **common, role_description="carer",
            member_type="RelatedPerson", member_id="rp1", member_name="Ann Kin"),
        row("care_team", participant_number="5", **common, member_type="Organization",
            member_id="org1", member_name="General Hospital")]


def test_care_team_without_participants_and_refusal() -> None:
    team = {"resourceType": "CareTeam", "id": "t2", **SUBJECT, "status": "proposed",
            "managingOrganization": [{"reference": "Organization/o9"}]}
    assert care_team_rows(team, urn_ctx(PAT)) == [row(
        "care_team", care_team_id="t2", participant_number="1", person_id="p1",
        patient_id="p1", status="proposed", managing_organization="o9")]
    refused(care_team_rows, {**team, "subject": {"reference": "urn:uuid:p404"}}, urn_ctx(PAT),
            "source_reference_unresolved", "p404")


def test_registry_and_tables() -> None:
    assert {k: v[0] for k, v in MAPPERS.items()} == {
        "Encounter": "encounter", "Condition": "condition", "Procedure": "procedure",
        "MedicationRequest": "medication", "Observation": "observation",
        "CarePlan": "care_plan", "CareTeam": "care_team"}
    # every mapper's rows are accepted by rows_to_table (no stray column names)
    team = {"resourceType": "CareTeam", "id": "t3", **SUBJECT}
    t = rows_to_table("care_team", care_team_rows(team, urn_ctx(PAT)))
    assert t.to_pylist()[0]["care_team_id"] == "t3"
    assert t.num_rows == 1


# --- real files --------------------------------------------------------------------------

#: value[x] of an Observation / component (FHIR R4 Observation.value[x]).
VALUE_KEYS = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
              "valueInteger", "valueRange", "valueRatio", "valueSampledData", "valueTime",
              "valueDateTime", "valuePeriod")


def expected_observation_rows(r: dict[str, Any]) -> int:
    """Rows an Observation should give, counted from the raw JSON: one per component,
    plus one for its own value (or for itself when it has neither)."""
    comps = len(r.get("component") or ())
    own = any(k in r for k in VALUE_KEYS)
    return comps + (1 if own or comps == 0 else 0)


@dataclass
class Tally:
    resources: collections.Counter[str] = field(default_factory=collections.Counter)
    expected_rows: collections.Counter[str] = field(default_factory=collections.Counter)
    rows: collections.Counter[str] = field(default_factory=collections.Counter)
    classes_raw: collections.Counter[str] = field(default_factory=collections.Counter)
    classes: collections.Counter[str | None] = field(default_factory=collections.Counter)
    errors: list[tuple[str, str, str]] = field(default_factory=list)
    #: (table, column) -> rows with a value, from the mapped rows and from the raw JSON
    filled: collections.Counter[tuple[str, str]] = field(default_factory=collections.Counter)
    filled_raw: collections.Counter[tuple[str, str]] = field(
        default_factory=collections.Counter)
    attending: collections.Counter[str | None] = field(default_factory=collections.Counter)
    attending_raw: collections.Counter[str | None] = field(
        default_factory=collections.Counter)
    ids: dict[str, set[str]] = field(default_factory=lambda: collections.defaultdict(set))


#: resource type -> (column, whether the raw resource has the element it comes from)
PRESENCE: dict[str, list[tuple[str, Any]]] = {
    "Encounter": [
        ("encounter_end_date", lambda r: "end" in r["period"]),
        ("primary_diagnosis_code", lambda r: bool(r.get("reasonCode") or r.get("diagnosis"))),
        ("discharge_disposition_code",
         lambda r: "dischargeDisposition" in r.get("hospitalization", {})),
        ("facility_id", lambda r: "serviceProvider" in r),
        ("reason_code", lambda r: bool(r.get("type")))],
    "Condition": [("resolved_date", lambda r: "abatementDateTime" in r),
                  ("encounter_id", lambda r: "encounter" in r),
                  ("condition_type", lambda r: bool(r.get("category")))],
    "Procedure": [("encounter_id", lambda r: "encounter" in r)],
    "MedicationRequest": [("rxnorm_code", lambda r: any(
        c["system"].endswith("rxnorm") for c in r["medicationCodeableConcept"]["coding"])),
                          ("practitioner_id", lambda r: "requester" in r)],
    "CarePlan": [("addresses", lambda r: bool(r.get("addresses"))),
                 ("activities", lambda r: any("detail" in a for a in r.get("activity", []))),
                 ("end_date", lambda r: "end" in r["period"])],
}


def expected_attending(r: Resource, ctx: Context) -> str | None:
    """The NPI of the encounter's (only) participant, read from the raw resources: the
    Practitioner the reference resolves to, or the NPI a conditional reference names."""
    parts = r.get("participant") or []
    if not parts:
        return None
    ref = parts[0]["individual"]["reference"]
    target = ctx.resolve(ref)
    if target is None:
        system, npi = ref.split("identifier=", 1)[1].rsplit("|", 1)
        assert system.endswith("us-npi")
        return str(npi)
    return str(next(i["value"] for i in target["identifier"] if i["system"].endswith("us-npi")))


def map_all(resources: list[Resource], ctx: Context, tally: Tally) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = collections.defaultdict(list)
    for r in resources:
        kind = r["resourceType"]
        if kind not in MAPPERS:
            continue
        tally.resources[kind] += 1
        table, mapper = MAPPERS[kind]
        tally.expected_rows[table] += expected_observation_rows(r) if kind == "Observation" \
            else (max(1, len(r.get("participant") or ())) if kind == "CareTeam" else 1)
        if kind == "Encounter":
            tally.classes_raw[r["class"]["code"]] += 1
            tally.attending_raw[expected_attending(r, ctx)] += 1
        for column, has in PRESENCE.get(kind, ()):
            tally.filled_raw[table, column] += 1 if has(r) else 0
        try:
            got = mapper(r, ctx)
        except RecordError as e:
            tally.errors.append((kind, r.get("id", ""), e.rule))
            continue
        tally.rows[table] += len(got)
        for g in got:
            tally.ids[table].add(next(iter(g.values())) or "")
            if table == "encounter":
                tally.classes[g["encounter_class_code"]] += 1
                tally.attending[g["attending_provider_id"]] += 1
            for column, _ in PRESENCE.get(kind, ()):
                tally.filled[table, column] += 1 if g[column] is not None else 0
        out[table].extend(got)
    return out


def bundle_context(name: str, bundle: dict[str, Any]) -> Context:
    index = {e["fullUrl"]: e["resource"] for e in bundle.get("entry") or () if "fullUrl" in e}
    return Context(name, index.get)


@pytest.fixture(scope="module")
def synthea(shared_data: Path) -> tuple[Tally, list[tuple[str, list[Any]]]]:
    """One pass over the 617 bundles: map every clinical resource; keep the observation
    rows of every 25th patient bundle for a value-by-value check against the raw text."""
    tally = Tally()
    kept: list[tuple[str, list[Any]]] = []
    files = sorted((shared_data / "synthea-r4-smart" / "bundles").glob("*.json.gz"))
    assert len(files) == 617
    for i, path in enumerate(files):
        raw = gzip.decompress(path.read_bytes())
        bundle = orjson.loads(raw)
        out = map_all([e["resource"] for e in bundle["entry"]], bundle_context(path.name, bundle),
                      tally)
        if i % 25 == 0 and out.get("observation"):
            kept.append((path.name, out["observation"]))
    return tally, kept


def test_synthea_counts(synthea: tuple[Tally, Any]) -> None:
    tally, _ = synthea
    # the README's verified counts, re-counted from the raw files by map_all
    assert tally.resources == {"Encounter": 18098, "Observation": 88674, "Procedure": 14081,
                               "MedicationRequest": 4712, "Condition": 4546, "CarePlan": 1769}
    assert tally.errors == []
    assert tally.rows == tally.expected_rows
    assert tally.rows["observation"] == 88674 - 5661 + 11325  # README + component count
    assert tally.classes_raw == {"AMB": 16537, "EMER": 940, "IMP": 621}
    assert tally.classes == {"AMB": 16537, "EMER": 940, "IMP": 621}
    assert tally.filled == tally.filled_raw
    assert tally.filled_raw["encounter", "primary_diagnosis_code"] == 7044  # README-level check
    assert tally.attending == tally.attending_raw
    assert tally.attending[None] == 18098 - 18017  # encounters without a participant
    # keys are unique per table (components get `<id>:<n>`)
    assert {t: len(ids) for t, ids in tally.ids.items()} == dict(tally.rows)


def test_synthea_observation_values_exact(synthea: tuple[Tally, Any],
                                          shared_data: Path) -> None:
    """For the kept bundles, every observation row against the raw JSON read with
    `Decimal` for numbers (so the file's own decimal text is the reference)."""
    _, kept = synthea
    assert len(kept) == 25
    bundles = shared_data / "synthea-r4-smart" / "bundles"
    for name, rows in kept:
        raw = json.loads(gzip.decompress((bundles / name).read_bytes()), parse_float=Decimal)
        want = []
        for e in raw["entry"]:
            r = e["resource"]
            if r["resourceType"] != "Observation":
                continue
            parts = [(r["id"], r)] if any(k in r for k in VALUE_KEYS) else []
            parts += [(f"{r['id']}:{n}", c) for n, c in enumerate(r.get("component") or (), 1)]
            for oid, el in parts:
                if "valueQuantity" in el:
                    result = str(el["valueQuantity"]["value"])
                elif "valueCodeableConcept" in el:
                    result = el["valueCodeableConcept"]["coding"][0]["code"]
                else:
                    result = el["valueString"]
                want.append((oid, r["subject"]["reference"].removeprefix("urn:uuid:"),
                             r["effectiveDateTime"][:10], el["code"]["coding"][0]["code"],
                             result))
        got = [(g["observation_id"], g["person_id"], g["observation_date"], g["source_code"],
                g["result"]) for g in rows]
        assert got == want, name


def test_bulk_ndjson(shared_data: Path) -> None:
    folder = shared_data / "bulk-ndjson-10pt" / "ndjson"
    resources: list[Resource] = []
    for path in sorted(folder.glob("*.000.ndjson")):
        resources += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
    index = {f"{r['resourceType']}/{r['id']}": r for r in resources}
    tally = Tally()
    out = map_all(resources, Context("bulk", index.get, strict_urn=False), tally)
    assert tally.resources == {"Encounter": 1215, "Condition": 555, "MedicationRequest": 1745,
                               "Procedure": 2056}
    assert tally.errors == []
    assert tally.rows == tally.expected_rows
    assert tally.classes_raw == {"AMB": 1133, "IMP": 49, "EMER": 23, "HH": 9, "VR": 1}
    assert tally.classes == tally.classes_raw
    assert tally.filled == tally.filled_raw
    assert tally.attending == tally.attending_raw
    # Synthea's conditional practitioner references give the NPI they name
    want_npi = collections.Counter(
        r["participant"][0]["individual"]["reference"].rsplit("|", 1)[1]
        for r in resources if r["resourceType"] == "Encounter")
    assert collections.Counter(e["attending_provider_id"] for e in out["encounter"]) == want_npi
    # patients: every row's person is a Patient of the export
    patients = {r["id"] for r in resources if r["resourceType"] == "Patient"}
    for table in ("encounter", "condition", "medication", "procedure"):
        assert {g["person_id"] for g in out[table]} <= patients
    # conditional references by identifier name resources of the export: the NPIs are
    # Practitioner NPIs, the facility ids Organization ids
    npis = {i["value"] for r in resources if r["resourceType"] == "Practitioner"
            for i in r["identifier"] if i["system"].endswith("us-npi")}
    orgs = {r["id"] for r in resources if r["resourceType"] == "Organization"}
    assert {e["attending_provider_id"] for e in out["encounter"]} <= npis
    assert {e["facility_id"] for e in out["encounter"]} <= orgs
    assert {e["practitioner_id"] for e in out["medication"]} <= npis
