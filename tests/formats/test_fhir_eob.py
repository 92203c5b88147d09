"""fhir_eob: ExplanationOfBenefit / pharmacy Claim -> medical_claim / pharmacy_claim rows.

Hand-written EOBs for each derivation and dialect; against the real files (Synthea R4
bundles, BFD v1/v2 responses, the BCDA/AB2D EOB-500 NDJSON) with expected counts and sums
computed here from the raw JSON (json + Decimal), not from the mapper."""

from __future__ import annotations

import collections
import gzip
import json
import time
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from medsynergy.ingest.formats import RecordError, rows_to_table
from medsynergy.ingest.formats.fhir_common import Context
from medsynergy.ingest.formats.fhir_eob import claim_rows, eob_rows

BB = "https://bluebutton.cms.gov/resources/variables/"
ADJ = "https://bluebutton.cms.gov/resources/codesystem/adjudication"


def _ctx(entries: dict[str, Any] | None = None) -> Context:
    index = entries or {}
    return Context("t.json", lambda ref: index.get(ref))


def _adj(var: str, value: float) -> dict[str, Any]:
    return {"category": {"coding": [{"system": ADJ, "code": BB + var}]},
            "amount": {"value": value, "currency": "USD"}}


def _nonnull(rows: list[dict[str, str | None]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if v is not None} for r in rows]


# --- Synthea-like R4 -------------------------------------------------------------------

PAT = "urn:uuid:p1"
ENC = "urn:uuid:e1"
COND = "urn:uuid:c1"
DOC = "urn:uuid:d1"


def _synthea(enc_class: str, *, loc: str | None = "19") -> tuple[dict[str, Any], Context]:
    entries = {
        PAT: {"resourceType": "Patient", "id": "p1"},
        ENC: {"resourceType": "Encounter", "id": "e1", "class": {"code": enc_class},
              "period": {"start": "2010-02-14T03:57:20-05:00", "end": "2010-02-16T04:12:20-05:00"}},
        COND: {"resourceType": "Condition", "id": "c1",
               "code": {"coding": [{"system": "http://snomed.info/sct", "code": "444814009"}]}},
        DOC: {"resourceType": "Practitioner", "id": "d1",
              "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999999911"}]},
    }
    where = {"locationCodeableConcept": {"coding": [{"code": loc}]}} if loc else {}
    eob = {
        "resourceType": "ExplanationOfBenefit", "id": "x1",
        "contained": [{"resourceType": "Coverage", "id": "coverage",
                       "payor": [{"display": "medicaid"}]}],
        "identifier": [{"system": BB + "clm_id", "value": "claim-1"}],
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                             "code": "institutional"}]},
        "patient": {"reference": PAT},
        # Synthea's billablePeriod is a coverage year, not the visit
        "billablePeriod": {"start": "2010-01-01T00:00:00+00:00", "end": "2011-01-01T00:00:00+00:00"},
        "insurer": {"display": "medicaid"},
        "provider": {"reference": DOC},
        "careTeam": [{"sequence": 1, "provider": {"reference": DOC},
                      "role": {"coding": [{"code": "primary"}]}}],
        "insurance": [{"focal": True, "coverage": {"reference": "#coverage"}}],
        "diagnosis": [{"sequence": 1, "diagnosisReference": {"reference": COND}}],
        "item": [
            {"sequence": 1, "encounter": [{"reference": ENC}],
             "productOrService": {"coding": [{"system": "http://snomed.info/sct", "code": "185345009"}]},
             "servicedPeriod": {"start": "2010-02-14T03:57:20-05:00", "end": "2010-02-14T04:12:20-05:00"},
             **where},
            {"sequence": 2, "diagnosisSequence": [1],
             "productOrService": {"coding": [{"system": "http://snomed.info/sct", "code": "444814009"}]},
             "servicedPeriod": {"start": "2010-02-14T03:57:20-05:00", "end": "2010-02-14T04:12:20-05:00"},
             **where},
            {"sequence": 3, "productOrService": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}]},
             "servicedPeriod": {"start": "2010-02-14T03:57:20-05:00", "end": "2010-02-14T04:12:20-05:00"},
             "adjudication": [_adj("line_sbmtd_chrg_amt", 140.52), _adj("line_alowd_chrg_amt", 140.52),
                              _adj("line_prvdr_pmt_amt", 112.416),
                              _adj("line_coinsrnc_amt", 28.104000000000003),
                              _adj("line_bene_ptb_ddctbl_amt", 0)],
             **where},
        ],
        "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 265.52, "currency": "USD"}}],
        "payment": {"amount": {"value": 212.416, "currency": "USD"}},
    }
    return eob, _ctx(entries)


SYN_BASE = {"claim_id": "claim-1", "person_id": "p1", "member_id": "p1", "payer": "medicaid",
            "claim_start_date": "2010-02-14", "claim_end_date": "2010-02-16",
            "billing_npi": "9999999911", "rendering_npi": "9999999911",
            "diagnosis_code_type": "snomed-ct", "diagnosis_code_1": "444814009",
            "encounter_id": "e1", "claim_line_start_date": "2010-02-14",
            "claim_line_end_date": "2010-02-14"}


def test_synthea_ambulatory_professional_and_header_remainder() -> None:
    eob, ctx = _synthea("AMB", loc=None)
    table, rows = eob_rows(eob, ctx)
    assert table == "medical_claim"
    assert _nonnull(rows) == [
        {**SYN_BASE, "claim_type": "professional", "claim_line_number": "1",
         "place_of_service_code": "11", "charge_amount": "125.00", "paid_amount": "100.00",
         "derived_columns": "charge_amount,claim_type,paid_amount,place_of_service_code"},
        {**SYN_BASE, "claim_type": "professional", "claim_line_number": "2",
         "derived_columns": "claim_type"},
        {**SYN_BASE, "claim_type": "professional", "claim_line_number": "3",
         "charge_amount": "140.52", "allowed_amount": "140.52", "paid_amount": "112.42",
         "coinsurance_amount": "28.104000000000003", "deductible_amount": "0",
         "derived_columns": "claim_type"},
    ]
    # the header payment 212.416 is rounded once, to 212.42; the line's 112.416 to 112.42,
    # and the encounter line takes the remainder in cents
    assert sum(Decimal(str(r["paid_amount"])) for r in rows if r.get("paid_amount")) == Decimal("212.42")
    assert sum(Decimal(str(r["charge_amount"])) for r in rows if r.get("charge_amount")) == Decimal("265.52")
    rows_to_table(table, rows)


def test_synthea_ambulatory_keeps_source_place_of_service() -> None:
    eob, ctx = _synthea("AMB", loc="19")
    _, rows = eob_rows(eob, ctx)
    assert [r["place_of_service_code"] for r in rows] == ["19", "19", "19"]
    assert rows[0]["derived_columns"] == "charge_amount,claim_type,paid_amount"


def test_synthea_inpatient_is_111_with_stay_dates() -> None:
    eob, ctx = _synthea("IMP", loc="21")
    _, rows = eob_rows(eob, ctx)
    assert [(r["claim_type"], r["bill_type_code"], r["admission_date"], r["discharge_date"],
             r["revenue_center_code"]) for r in rows] == [
        ("institutional", "111", "2010-02-14", "2010-02-16", None)] * 3
    assert rows[2]["derived_columns"] == \
        "admission_date,bill_type_code,claim_type,discharge_date"


def test_synthea_emergency_is_ed_revenue_on_the_visit_line() -> None:
    eob, ctx = _synthea("EMER", loc="20")
    _, rows = eob_rows(eob, ctx)
    assert [(r["claim_type"], r["bill_type_code"], r["revenue_center_code"],
             r["place_of_service_code"]) for r in rows] == [
        ("institutional", "131", "0450", "20"), ("institutional", "131", None, "20"),
        ("institutional", "131", None, "20")]
    assert rows[0]["derived_columns"] == (
        "bill_type_code,charge_amount,claim_type,paid_amount,revenue_center_code")


def test_synthea_encounter_not_in_export_keeps_lines_dated_and_unclassified() -> None:
    eob, _ = _synthea("AMB", loc="19")
    ctx = _ctx({PAT: {"resourceType": "Patient", "id": "p1"}})  # no Encounter, Condition
    _, rows = eob_rows(eob, ctx)
    assert [(r["claim_type"], r["claim_start_date"], r["encounter_id"], r["place_of_service_code"],
             r.get("paid_amount"), r["derived_columns"]) for r in rows] == [
        ("institutional", "2010-02-14", "e1", "19", "100.00", "charge_amount,paid_amount"),
        ("institutional", "2010-02-14", "e1", "19", None, None),
        ("institutional", "2010-02-14", "e1", "19", "112.42", None)]


def test_header_only_eob_is_one_line() -> None:
    eob = {"resourceType": "ExplanationOfBenefit", "id": "h1",
           "type": {"coding": [{"code": "professional"}]},
           "patient": {"reference": "Patient/p9"},
           "billablePeriod": {"start": "2020-03-01", "end": "2020-03-02"},
           "insurer": {"display": "Acme"},
           "diagnosis": [
               {"sequence": 2, "diagnosisCodeableConcept": {"coding": [
                   {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "E11.9"}]}},
               {"sequence": 1, "diagnosisCodeableConcept": {"coding": [
                   {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]}}],
           "total": [{"category": {"coding": [{"code": "submitted"}]}, "amount": {"value": 300, "currency": "USD"}},
                     {"category": {"coding": [{"code": "eligible"}]}, "amount": {"value": 200, "currency": "USD"}}],
           "payment": {"amount": {"value": 150.5, "currency": "USD"}}}
    table, rows = eob_rows(eob, Context("t", lambda r: None, strict_urn=False))
    assert table == "medical_claim"
    assert _nonnull(rows) == [{
        "claim_id": "h1", "claim_line_number": "1", "claim_type": "professional",
        "person_id": "p9", "member_id": "p9", "payer": "Acme",
        "claim_start_date": "2020-03-01", "claim_end_date": "2020-03-02",
        "claim_line_start_date": "2020-03-01", "claim_line_end_date": "2020-03-02",
        "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "I10", "diagnosis_code_2": "E11.9",
        "paid_amount": "150.50", "charge_amount": "300.00", "allowed_amount": "200.00",
        "derived_columns": "allowed_amount,charge_amount,paid_amount"}]


def test_refusals() -> None:
    eob, ctx = _synthea("AMB")
    no_patient = {k: v for k, v in eob.items() if k != "patient"}
    with pytest.raises(RecordError) as e:
        eob_rows(no_patient, ctx)
    assert e.value.rule == "source_required_missing"
    with pytest.raises(RecordError) as e:
        eob_rows({**eob, "patient": {"reference": "urn:uuid:nobody"}}, ctx)
    assert e.value.rule == "source_reference_unresolved"
    euro = {**eob, "payment": {"amount": {"value": 10, "currency": "EUR"}}}
    with pytest.raises(RecordError) as e:
        eob_rows(euro, ctx)
    assert e.value.rule == "source_currency_unknown"
    # STU3 Money: the currency is the Quantity code
    stu3 = {**eob, "payment": {"amount": {"value": 10, "code": "GBP", "system": "urn:iso:std:iso:4217"}}}
    with pytest.raises(RecordError) as e:
        eob_rows(stu3, ctx)
    assert e.value.rule == "source_currency_unknown"
    undated = {**{k: v for k, v in eob.items() if k != "billablePeriod"},
               "item": [{"sequence": 1, "adjudication": []}]}
    with pytest.raises(RecordError) as e:
        eob_rows(undated, ctx)
    assert e.value.rule == "source_required_missing"


# --- Blue Button v2 / v1 hand-written ------------------------------------------------

def _bb_eob(version: int) -> dict[str, Any]:
    """An inpatient claim: admitting dx first in the list, principal second; header-only
    payment split over two revenue lines."""
    dx_type_sys = ("http://terminology.hl7.org/CodeSystem/ex-diagnosistype" if version == 2
                   else "https://bluebutton.cms.gov/resources/codesystem/diagnosis-type")
    def money(v: float) -> dict[str, Any]:
        if version == 2:
            return {"value": v, "currency": "USD"}
        return {"value": v, "code": "USD", "system": "urn:iso:std:iso:4217"}
    code_key = "productOrService" if version == 2 else "service"
    info_key = "supportingInfo" if version == 2 else "information"

    def info(var: str, code: str) -> dict[str, Any]:
        return {"category": {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/information",
                                         "code": BB + var}]},
                "code": {"coding": [{"system": BB + var, "code": code}]}}
    eob: dict[str, Any] = {
        "resourceType": "ExplanationOfBenefit", "id": "inpatient-1",
        "identifier": [{"system": BB + "clm_id", "value": "1"}],
        "type": {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/eob-type",
                             "code": "INPATIENT"}]},
        "patient": {"reference": "Patient/-19990000000001"},
        "billablePeriod": {"start": "2016-01-15", "end": "2016-01-27"},
        "facility": {"extension": [{"url": BB + "clm_fac_type_cd",
                                    "valueCoding": {"system": BB + "clm_fac_type_cd", "code": "1"}}],
                     "identifier": {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1111111112"}},
        "extension": [{"url": BB + "clm_srvc_clsfctn_type_cd",
                       "valueCoding": {"system": BB + "clm_srvc_clsfctn_type_cd", "code": "1"}}],
        info_key: [info("clm_freq_cd", "1"), info("clm_drg_cd", "871"),
                   info("ptnt_dschrg_stus_cd", "01"), info("clm_ip_admsn_type_cd", "1")],
        "careTeam": [{"sequence": 1, "provider": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi",
                                                                 "value": "2222222223"}},
                      "role": {"coding": [{"code": "attending" if version == 2 else "assist"}]}},
                     {"sequence": 2, "provider": {"identifier": {"system": "http://hl7.org/fhir/sid/us-npi",
                                                                 "value": "3333333334"}},
                      "role": {"coding": [{"code": "performing" if version == 2 else "primary"}]}}],
        "diagnosis": [
            {"sequence": 1, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "R509"}]},
             "type": [{"coding": [{"system": dx_type_sys, "code": "admitting"}]}]},
            {"sequence": 3, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "N390"}]},
             "type": [{"coding": [{"system": dx_type_sys, "code": "other"}]}]},
            {"sequence": 2, "diagnosisCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "A419"}]},
             "type": [{"coding": [{"system": dx_type_sys, "code": "principal"}]}]},
        ],
        "procedure": [{"sequence": 1, "date": "2016-01-16T00:00:00+00:00",
                       "procedureCodeableConcept": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "5A1955Z"}]}}],
        "item": [
            {"sequence": 1, "revenue": {"coding": [{"system": BB + "rev_cntr", "code": "0450"}]},
             code_key: {"coding": [{"system": "https://bluebutton.cms.gov/resources/codesystem/hcpcs", "code": "99284"}]},
             "adjudication": [_adj("rev_cntr_tot_chrg_amt", 1000.0)]},
            {"sequence": 2, "revenue": {"coding": [{"system": BB + "rev_cntr", "code": "0120"}]},
             "adjudication": [_adj("rev_cntr_tot_chrg_amt", 9000.5)]},
        ],
        "payment": {"amount": money(7699.48)},
    }
    if version == 2:
        eob[info_key].append({"category": {"coding": [{"code": "admissionperiod"}]},
                              "timingPeriod": {"start": "2016-01-15", "end": "2016-01-27"}})
        eob["insurance"] = [{"coverage": {"reference": "Coverage/part-a-1"}}]
    else:
        eob["hospitalization"] = {"start": "2016-01-15", "end": "2016-01-27"}
        eob["insurance"] = {"coverage": {"reference": "Coverage/part-a-1"}}
        for item in eob["item"]:
            item["adjudication"][0]["amount"] = money(item["adjudication"][0]["amount"]["value"])
    return eob


@pytest.mark.parametrize("version", [1, 2])
def test_blue_button_inpatient_both_versions(version: int) -> None:
    table, rows = eob_rows(_bb_eob(version), Context("t", lambda r: None, strict_urn=False))
    assert table == "medical_claim"
    head = {"claim_id": "1", "claim_type": "institutional", "person_id": "-19990000000001",
            "member_id": "-19990000000001", "payer": "medicare", "plan": "part a",
            "claim_start_date": "2016-01-15", "claim_end_date": "2016-01-27",
            "admission_date": "2016-01-15", "discharge_date": "2016-01-27",
            "admit_type_code": "1", "discharge_disposition_code": "01", "bill_type_code": "111",
            "drg_code_type": "ms-drg", "drg_code": "871", "facility_npi": "1111111112",
            "rendering_npi": "3333333334",
            "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "A419", "diagnosis_code_2": "N390",
            "procedure_code_type": "icd-10-pcs", "procedure_code_1": "5A1955Z",
            "procedure_date_1": "2016-01-16"}
    assert _nonnull(rows) == [
        {**head, "claim_line_number": "1", "revenue_center_code": "0450", "hcpcs_code": "99284",
         "charge_amount": "1000.0", "paid_amount": "7699.48", "derived_columns": "paid_amount"},
        {**head, "claim_line_number": "2", "revenue_center_code": "0120", "charge_amount": "9000.5"},
    ]


# --- Synthea pharmacy Claim ------------------------------------------------------------

def test_synthea_pharmacy_claim() -> None:
    entries = {
        PAT: {"resourceType": "Patient", "id": "p1"},
        "urn:uuid:m1": {"resourceType": "MedicationRequest", "id": "m1",
                        "medicationCodeableConcept": {"coding": [{
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "849574",
                            "display": "Naproxen sodium 220 MG Oral Tablet"}]},
                        "requester": {"reference": DOC}},
        DOC: {"resourceType": "Practitioner", "id": "d1",
              "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999999911"}]},
    }
    claim = {"resourceType": "Claim", "id": "rx1", "patient": {"reference": PAT},
             "type": {"coding": [{"code": "pharmacy"}]},
             "billablePeriod": {"start": "2008-11-26T08:57:20+00:00"},
             "prescription": {"reference": "urn:uuid:m1"},
             "insurance": [{"coverage": {"display": "private"}}],
             "item": [{"sequence": 1, "productOrService": {"coding": [{"system": "http://snomed.info/sct", "code": "185347001"}]}}],
             "total": {"value": 255, "currency": "USD"}}
    out = claim_rows(claim, _ctx(entries))
    assert out is not None
    assert out[0] == "pharmacy_claim"
    assert _nonnull(out[1]) == [{
        "claim_id": "rx1", "claim_line_number": "1", "person_id": "p1", "member_id": "p1",
        "payer": "private", "prescribing_provider_npi": "9999999911",
        "dispensing_date": "2008-11-26", "charge_amount": "255", "rxnorm_code": "849574",
        "drug_description": "Naproxen sodium 220 MG Oral Tablet", "medication_id": "m1"}]
    institutional = {**claim, "type": {"coding": [{"code": "institutional"}]}}
    del institutional["prescription"]
    assert claim_rows(institutional, _ctx(entries)) is None


# --- real files -------------------------------------------------------------------------

def _bundle_ctx(name: str, bundle: dict[str, Any]) -> Context:
    index = {e["fullUrl"]: e["resource"] for e in bundle.get("entry", []) if "fullUrl" in e}
    return Context(name, index.get)


@pytest.mark.slow
def test_synthea_bundles_reconcile(shared_data: Path) -> None:
    files = sorted((shared_data / "synthea-r4-smart" / "bundles").glob("*.json.gz"))
    raw_paid = raw_sub = raw_rx_total = Decimal(0)
    raw_eobs = raw_items = raw_rx = 0
    paid = charge = rx_charge = Decimal(0)
    cent = Decimal("0.01")
    raw_paid_by_claim: dict[str, Decimal] = {}
    paid_by_claim: dict[str, Decimal] = {}
    lines = rx_rows = 0
    mapped = 0
    elapsed = 0.0
    for f in files:
        data = gzip.decompress(f.read_bytes())
        # independent reading: the file's own decimal text
        raw = json.loads(data, parse_float=Decimal)
        for e in raw["entry"]:
            r = e["resource"]
            if r["resourceType"] == "ExplanationOfBenefit":
                raw_eobs += 1
                raw_items += len(r["item"])
                # each claim's amount rounded once, to the cent (the warehouse keeps cents)
                header = Decimal(r["payment"]["amount"]["value"]).quantize(cent, ROUND_HALF_UP)
                raw_paid_by_claim[r["id"]] = header
                raw_paid += header
                raw_sub += sum((t["amount"]["value"] for t in r["total"]), Decimal(0)).quantize(
                    cent, ROUND_HALF_UP)
            elif r["resourceType"] == "Claim" and "prescription" in r:
                raw_rx += 1
                raw_rx_total += r["total"]["value"]
        bundle = orjson.loads(data)
        ctx = _bundle_ctx(f.name, bundle)
        t0 = time.perf_counter()
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] == "ExplanationOfBenefit":
                table, rows = eob_rows(r, ctx)
                assert table == "medical_claim"
                mapped += 1
                lines += len(rows)
                claim_paid = sum((Decimal(str(x["paid_amount"])) for x in rows
                                  if x.get("paid_amount")), Decimal(0))
                paid_by_claim[r["id"]] = claim_paid
                paid += claim_paid
                charge += sum((Decimal(str(x["charge_amount"])) for x in rows if x.get("charge_amount")), Decimal(0))
            elif r["resourceType"] == "Claim":
                out = claim_rows(r, ctx)
                if out is not None:
                    mapped += 1
                    rx_rows += len(out[1])
                    rx_charge += sum((Decimal(str(x["charge_amount"])) for x in out[1] if x.get("charge_amount")), Decimal(0))
        elapsed += time.perf_counter() - t0
    assert (raw_eobs, raw_items, raw_rx) == (18_098, 44_114, 4_712)
    assert lines == raw_items
    assert rx_rows == raw_rx
    assert paid_by_claim == raw_paid_by_claim  # every claim's lines add up to its payment
    assert paid == raw_paid
    assert charge == raw_sub
    assert rx_charge == raw_rx_total
    print(f"\nsynthea: {mapped} resources in {elapsed:.2f}s = {mapped / elapsed:,.0f}/s; "
          f"paid {paid}, submitted {charge}")


def _ndjson_eobs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.open(path, "rt") if line.strip()]


def _eob_type(r: dict[str, Any]) -> str:
    return str(next(c["code"] for c in r["type"]["coding"] if c["system"].endswith("eob-type")))


PAID_VARS = ("line_nch_pmt_amt", "rev_cntr_pmt_amt_amt", "cvrd_d_plan_pd_amt", "line_prvdr_pmt_amt")


def _raw_line_paid(item: dict[str, Any]) -> Decimal | None:
    amounts: dict[str, Decimal] = {}
    for a in item.get("adjudication", []):
        if "amount" in a:
            for c in a["category"]["coding"]:
                amounts.setdefault(str(c["code"]).rsplit("/", 1)[-1], Decimal(str(a["amount"]["value"])))
    return next((amounts[v] for v in PAID_VARS if v in amounts), None)


def test_ab2d_eob_500(shared_data: Path) -> None:
    path = shared_data / "cms-fixtures" / "ab2d_bcda_eob_ndjson" / "EOB-500.ndjson.gz"
    raw = _ndjson_eobs(path)
    want_eobs: collections.Counter[str] = collections.Counter(_eob_type(r) for r in raw)
    assert want_eobs == {"OUTPATIENT": 179, "CARRIER": 171, "PDE": 72, "INPATIENT": 39,
                         "HHA": 30, "DME": 7, "HOSPICE": 2}
    want_items: collections.Counter[str] = collections.Counter()
    want_paid: dict[str, Decimal] = collections.defaultdict(Decimal)
    for r in raw:
        t = _eob_type(r)
        want_items[t] += len(r.get("item", [])) or 1
        line_paid = [_raw_line_paid(i) for i in r.get("item", [])]
        known = [p for p in line_paid if p is not None]
        # lines that carry no payment get the header payment minus what the lines carry
        if len(known) < len(line_paid) or not line_paid:
            want_paid[t] += Decimal(str(r["payment"]["amount"]["value"]))
        else:
            want_paid[t] += sum(known, Decimal(0))
    ctx = Context(path.name, lambda ref: None, strict_urn=False)
    got_eobs: collections.Counter[str] = collections.Counter()
    got_items: collections.Counter[str] = collections.Counter()
    got_paid: dict[str, Decimal] = collections.defaultdict(Decimal)
    tables: dict[str, list[dict[str, str | None]]] = collections.defaultdict(list)
    for r in raw:
        t = _eob_type(r)
        table, rows = eob_rows(r, ctx)
        assert table == ("pharmacy_claim" if t == "PDE" else "medical_claim")
        tables[table].extend(rows)
        got_eobs[t] += 1
        got_items[t] += len(rows)
        got_paid[t] += sum((Decimal(str(x["paid_amount"])) for x in rows if x.get("paid_amount")), Decimal(0))
    assert got_eobs == want_eobs
    assert got_items == want_items
    assert got_paid == want_paid
    for name, rows in tables.items():
        assert rows_to_table(name, rows).num_rows == len(rows)
    # claim types map to institutional / professional as the CARIN profiles split them
    kinds = {(r["claim_type"], r["bill_type_code"] is not None) for r in tables["medical_claim"]}
    assert kinds <= {("institutional", True), ("professional", False)}


V2 = ["eobReadCarrier", "eobReadCarrierWithMultipleLines", "eobReadDme", "eobReadHha",
      "eobReadHospice", "eobReadInpatient", "eobReadOutpatient", "eobReadPde", "eobReadSnf"]


@pytest.mark.parametrize("name", V2)
def test_bfd_v2_reads(shared_data: Path, name: str) -> None:
    path = shared_data / "cms-fixtures" / "bfd_endpoint_responses" / "v2" / f"{name}.json"
    r = json.loads(path.read_text())
    table, rows = eob_rows(r, Context(path.name, lambda ref: None, strict_urn=False))
    ident = next(i["value"] for i in r["identifier"]
                 if i["system"].endswith(("clm_id", "pde_id")))
    assert {x["claim_id"] for x in rows} == {ident}
    assert [x["claim_line_number"] for x in rows] == [str(i["sequence"]) for i in r["item"]]
    assert {x["person_id"] for x in rows} == {r["patient"]["reference"].split("/")[1]}
    want_paid = [_raw_line_paid(i) for i in r["item"]]
    if None in want_paid:
        want_total = Decimal(str(r["payment"]["amount"]["value"]))
    else:
        want_total = sum((p for p in want_paid if p is not None), Decimal(0))
    assert sum((Decimal(str(x["paid_amount"])) for x in rows if x.get("paid_amount")), Decimal(0)) == want_total
    if _eob_type(r) == "PDE":
        assert table == "pharmacy_claim"
        assert [x["ndc_code"] for x in rows] == [
            c["code"] for i in r["item"] for c in i["productOrService"]["coding"]
            if c["system"] == "http://hl7.org/fhir/sid/ndc"]
        prescriber = next(m["provider"]["identifier"]["value"] for m in r["careTeam"]
                          if m["role"]["coding"][0]["code"] == "prescribing")
        assert {x["prescribing_provider_npi"] for x in rows} == {prescriber}
        assert {x["dispensing_provider_npi"] for x in rows} == {r["facility"]["identifier"]["value"]}
        return
    assert table == "medical_claim"
    npis = {m["sequence"]: m["provider"]["identifier"]["value"] for m in r["careTeam"]
            if "identifier" in m["provider"] and any(
                c["code"] == "npi" for c in m["provider"]["identifier"].get("type", {}).get("coding", []))}
    roles = {m["sequence"]: m["role"]["coding"][0]["code"] for m in r["careTeam"]}
    for x, item in zip(rows, r["item"], strict=True):
        linked = [npis[s] for s in item.get("careTeamSequence", [])
                  if roles.get(s) in ("performing", "rendering") and s in npis]
        if linked:
            assert x["rendering_npi"] == linked[0]
        assert x["hcpcs_code"] == next((c["code"] for c in item.get("productOrService", {}).get("coding", [])
                                        if "hcpcs" in c["system"]), None)
    if _eob_type(r) == "INPATIENT":
        drg = next(s["code"]["coding"][0]["code"] for s in r["supportingInfo"]
                   if any(c.get("code", "").endswith("clm_drg_cd") for c in s["category"]["coding"]))
        assert {x["drg_code"] for x in rows} == {drg}
        assert {x["bill_type_code"] for x in rows} == {"111"}
        principal = next(d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in r["diagnosis"]
                         if d["type"][0]["coding"][0]["code"] == "principal")
        assert {x["diagnosis_code_1"] for x in rows} == {principal}


V1 = ["eobReadCarrier", "eobReadCarrierMultipleLines", "eobReadDme", "eobReadHha",
      "eobReadHospice", "eobReadInpatient", "eobReadOutpatient", "eobReadPde", "eobReadSnf"]


@pytest.mark.parametrize("name", V1)
def test_bfd_v1_reads(shared_data: Path, name: str) -> None:
    path = shared_data / "cms-fixtures" / "bfd_endpoint_responses" / "v1" / f"{name}.json"
    r = json.loads(path.read_text())
    table, rows = eob_rows(r, Context(path.name, lambda ref: None, strict_urn=False))
    ident = next(i["value"] for i in r["identifier"] if i["system"].endswith(("clm_id", "pde_id")))
    assert {x["claim_id"] for x in rows} == {ident}
    assert [x["claim_line_number"] for x in rows] == [str(i["sequence"]) for i in r["item"]]
    want_paid = [_raw_line_paid(i) for i in r["item"]]
    want_total = (Decimal(str(r["payment"]["amount"]["value"])) if None in want_paid
                  else sum((p for p in want_paid if p is not None), Decimal(0)))
    assert sum((Decimal(str(x["paid_amount"])) for x in rows if x.get("paid_amount")), Decimal(0)) == want_total
    t = _eob_type(r)
    if t == "PDE":
        assert table == "pharmacy_claim"
        item = r["item"][0]
        ext = {e["url"].rsplit("/", 1)[1]: e["valueQuantity"]["value"] for e in item["quantity"]["extension"]}
        assert [(x["ndc_code"], x["days_supply"], x["refills"]) for x in rows] == [
            (item["service"]["coding"][0]["code"], str(ext["days_suply_num"]), str(ext["fill_num"]))]
        return
    assert table == "medical_claim"
    for x, item in zip(rows, r["item"], strict=True):
        assert x["hcpcs_code"] == next((c["code"] for c in item.get("service", {}).get("coding", [])
                                        if "hcpcs" in c["system"]), None)
    if t == "INPATIENT":
        drg = next(c["code"] for d in r["diagnosis"] for c in d.get("packageCode", {}).get("coding", []))
        assert {x["drg_code"] for x in rows} == {drg}
        assert {(x["bill_type_code"], x["admission_date"], x["discharge_date"]) for x in rows} == {
            ("111", r["hospitalization"]["start"], r["hospitalization"]["end"])}
        principal = next(d["diagnosisCodeableConcept"]["coding"][0]["code"] for d in r["diagnosis"]
                         if d.get("type") and d["type"][0]["coding"][0]["code"] == "principal")
        assert {x["diagnosis_code_1"] for x in rows} == {principal}


def test_bcda_sandbox_carrier_bundle(shared_data: Path) -> None:
    path = shared_data / "cms-fixtures" / "bcda_bb_sandbox_bundles" / "ExplanationOfBenefit.json"
    bundle = json.loads(path.read_text())
    raw = [e["resource"] for e in bundle["entry"]]
    assert collections.Counter(_eob_type(r) for r in raw) == {"CARRIER": 33}
    ctx = Context(path.name, lambda ref: None, strict_urn=False)
    lines = 0
    paid = Decimal(0)
    for r in raw:
        table, rows = eob_rows(r, ctx)
        assert table == "medical_claim"
        assert {x["claim_type"] for x in rows} == {"professional"}
        lines += len(rows)
        paid += sum((Decimal(str(x["paid_amount"])) for x in rows if x.get("paid_amount")), Decimal(0))
    assert lines == sum(len(r["item"]) for r in raw)
    assert paid == sum((p for r in raw for i in r["item"] if (p := _raw_line_paid(i)) is not None), Decimal(0))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_bfd_search_by_patient(shared_data: Path, version: str) -> None:
    path = shared_data / "cms-fixtures" / "bfd_endpoint_responses" / version / "eobByPatientIdAll.json"
    raw = [e["resource"] for e in json.loads(path.read_text())["entry"]]
    ctx = Context(path.name, lambda ref: None, strict_urn=False)
    want: dict[str, tuple[int, Decimal]] = collections.defaultdict(lambda: (0, Decimal(0)))
    got: dict[str, tuple[int, Decimal]] = collections.defaultdict(lambda: (0, Decimal(0)))
    for r in raw:
        t = _eob_type(r)
        paid = [_raw_line_paid(i) for i in r["item"]]
        total = (Decimal(str(r["payment"]["amount"]["value"])) if None in paid or not paid
                 else sum((p for p in paid if p is not None), Decimal(0)))
        n, s = want[t]
        want[t] = (n + (len(r["item"]) or 1), s + total)
        table, rows = eob_rows(r, ctx)
        assert table == ("pharmacy_claim" if t == "PDE" else "medical_claim")
        n, s = got[t]
        got[t] = (n + len(rows), s + sum((Decimal(str(x["paid_amount"])) for x in rows
                                          if x["paid_amount"] is not None), Decimal(0)))
    assert got == want
    assert set(got) == {"CARRIER", "DME", "HHA", "HOSPICE", "INPATIENT", "OUTPATIENT", "PDE", "SNF"}
