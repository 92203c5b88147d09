"""Synthea CSV export -> canonical input tables (medsynergy.ingest.formats.synthea_csv).

Hand-written folders give exact expected rows for each mapping and derivation; the real
27-patient export (shared data, synthea-csv-27pt) is checked against counts and Decimal
sums computed here from the raw files with `csv`, independently of the converter."""

from __future__ import annotations

import csv
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from itertools import pairwise
from pathlib import Path

import pyarrow as pa
import pytest

from medsynergy.ingest.formats import Converted
from medsynergy.ingest.formats.synthea_csv import convert_synthea_csv, is_synthea_csv

# Synthea 3.x headers (CSV File Data Dictionary; as in the 27-patient export).
H = {
    "patients.csv": "Id,BIRTHDATE,DEATHDATE,SSN,DRIVERS,PASSPORT,PREFIX,FIRST,LAST,SUFFIX,"
                    "MAIDEN,MARITAL,RACE,ETHNICITY,GENDER,BIRTHPLACE,ADDRESS,CITY,STATE,COUNTY,"
                    "ZIP,LAT,LON,HEALTHCARE_EXPENSES,HEALTHCARE_COVERAGE",
    "payers.csv": "Id,NAME,ADDRESS,CITY,STATE_HEADQUARTERED,ZIP,PHONE",
    "payer_transitions.csv": "PATIENT,MEMBERID,START_YEAR,END_YEAR,PAYER,SECONDARY_PAYER,"
                             "OWNERSHIP,OWNERNAME",
    "encounters.csv": "Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,"
                      "DESCRIPTION,BASE_ENCOUNTER_COST,TOTAL_CLAIM_COST,PAYER_COVERAGE,"
                      "REASONCODE,REASONDESCRIPTION",
    "claims.csv": "Id,PATIENTID,PROVIDERID,PRIMARYPATIENTINSURANCEID,SECONDARYPATIENTINSURANCEID,"
                  "DEPARTMENTID,PATIENTDEPARTMENTID,DIAGNOSIS1,DIAGNOSIS2,DIAGNOSIS3,DIAGNOSIS4,"
                  "DIAGNOSIS5,DIAGNOSIS6,DIAGNOSIS7,DIAGNOSIS8,REFERRINGPROVIDERID,APPOINTMENTID,"
                  "CURRENTILLNESSDATE,SERVICEDATE,SUPERVISINGPROVIDERID,STATUS1,STATUS2,STATUSP,"
                  "OUTSTANDING1,OUTSTANDING2,OUTSTANDINGP,LASTBILLEDDATE1,LASTBILLEDDATE2,"
                  "LASTBILLEDDATEP,HEALTHCARECLAIMTYPEID1,HEALTHCARECLAIMTYPEID2",
    "claims_transactions.csv": "ID,CLAIMID,CHARGEID,PATIENTID,TYPE,AMOUNT,METHOD,FROMDATE,TODATE,"
                               "PLACEOFSERVICE,PROCEDURECODE,MODIFIER1,MODIFIER2,DIAGNOSISREF1,"
                               "DIAGNOSISREF2,DIAGNOSISREF3,DIAGNOSISREF4,UNITS,DEPARTMENTID,NOTES,"
                               "UNITAMOUNT,TRANSFEROUTID,TRANSFERTYPE,PAYMENTS,ADJUSTMENTS,"
                               "TRANSFERS,OUTSTANDING,APPOINTMENTID,LINENOTE,PATIENTINSURANCEID,"
                               "FEESCHEDULEID,PROVIDERID,SUPERVISINGPROVIDERID",
    "medications.csv": "START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,"
                       "PAYER_COVERAGE,DISPENSES,TOTALCOST,REASONCODE,REASONDESCRIPTION",
    "conditions.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION",
    "procedures.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,BASE_COST,REASONCODE,"
                      "REASONDESCRIPTION",
    "observations.csv": "DATE,PATIENT,ENCOUNTER,CATEGORY,CODE,DESCRIPTION,VALUE,UNITS,TYPE",
    "careplans.csv": "Id,START,STOP,PATIENT,ENCOUNTER,CODE,DESCRIPTION,REASONCODE,"
                     "REASONDESCRIPTION",
    "providers.csv": "Id,ORGANIZATION,NAME,GENDER,SPECIALITY,ADDRESS,CITY,STATE,ZIP,NPI",
    "organizations.csv": "Id,NAME,ADDRESS,CITY,STATE,ZIP,LAT,LON,PHONE,REVENUE,UTILIZATION",
    "allergies.csv": "START,STOP,PATIENT,ENCOUNTER,CODE,SYSTEM,DESCRIPTION",
}


def write(folder: Path, name: str, rows: Iterable[Mapping[str, str]],
          header: str | None = None) -> None:
    cols = (header or H[name]).split(",")
    with (folder / name).open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for row in rows:
            unknown = set(row) - set(cols)
            assert not unknown, unknown
            w.writerow([row.get(c, "") for c in cols])


def rows_of(conv: Converted, table: str, *columns: str) -> list[dict[str, str | None]]:
    t = conv.tables[table]
    return [{c: r[c] for c in columns} for r in t.to_pylist()]


def tx(claim: str, cid: int, kind: str, **kw: str) -> dict[str, str]:
    row = {"ID": f"{claim}-{cid}", "CLAIMID": claim, "CHARGEID": str(cid), "TYPE": kind}
    row.update(kw)
    return row


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """A small Synthea 3.0 export: two patients, five claims, one prescription."""
    f = tmp_path
    write(f, "patients.csv", [
        {"Id": "p1", "BIRTHDATE": "1950-03-01", "SSN": "999-11-1111", "FIRST": "Ann1",
         "LAST": "Lee1", "RACE": "white", "GENDER": "F", "ADDRESS": "1 Main St",
         "CITY": "Boston", "STATE": "Massachusetts", "ZIP": "02110"},
        {"Id": "p2", "BIRTHDATE": "1940-05-05", "DEATHDATE": "2020-06-15", "SSN": "999-22-2222",
         "FIRST": "Bob2", "LAST": "Ray2", "RACE": "black", "GENDER": "M", "ADDRESS": "2 Elm St",
         "CITY": "Salem", "STATE": "Massachusetts", "ZIP": "01970"},
    ])
    write(f, "payers.csv", [
        {"Id": "mc", "NAME": "Medicare"}, {"Id": "md", "NAME": "Medicaid"},
        {"Id": "de", "NAME": "Dual Eligible"}, {"Id": "ae", "NAME": "Aetna"},
        {"Id": "ni", "NAME": "NO_INSURANCE"},
    ])
    write(f, "payer_transitions.csv", [
        {"PATIENT": "p1", "MEMBERID": "m1", "START_YEAR": "2015-01-10T04:00:00Z",
         "END_YEAR": "2016-01-10T04:00:00Z", "PAYER": "ae", "OWNERSHIP": "Self"},
        {"PATIENT": "p1", "START_YEAR": "2016-01-10T04:00:00Z",
         "END_YEAR": "2017-01-10T04:00:00Z", "PAYER": "ni", "OWNERSHIP": "Self"},
        {"PATIENT": "p2", "MEMBERID": "m3", "START_YEAR": "2019-01-01T00:00:00Z",
         "END_YEAR": "2021-01-01T00:00:00Z", "PAYER": "mc", "OWNERSHIP": "Guardian"},
        {"PATIENT": "p2", "MEMBERID": "m4", "START_YEAR": "2020-07-01T00:00:00Z",
         "END_YEAR": "2021-07-01T00:00:00Z", "PAYER": "de", "OWNERSHIP": "Self"},
    ])
    enc = {"ORGANIZATION": "o1", "PROVIDER": "pr1"}
    write(f, "encounters.csv", [
        {"Id": "e1", "START": "2019-03-01T10:00:00Z", "STOP": "2019-03-04T12:00:00Z",
         "PATIENT": "p2", "PAYER": "mc", "ENCOUNTERCLASS": "inpatient", "CODE": "183452005",
         "DESCRIPTION": "Emergency hospital admission", "BASE_ENCOUNTER_COST": "100.00",
         "TOTAL_CLAIM_COST": "1000.00", "PAYER_COVERAGE": "800.00", "REASONCODE": "22298006",
         "REASONDESCRIPTION": "Myocardial infarction", **enc},
        {"Id": "e2", "START": "2015-06-01T08:00:00Z", "STOP": "2015-06-01T10:00:00Z",
         "PATIENT": "p1", "PAYER": "ae", "ENCOUNTERCLASS": "emergency", "CODE": "50849002",
         "DESCRIPTION": "Emergency room admission", "TOTAL_CLAIM_COST": "257.74",
         "PAYER_COVERAGE": "205.50", **enc},
        {"Id": "e3", "START": "2016-02-01T09:00:00Z", "STOP": "2016-02-01T09:30:00Z",
         "PATIENT": "p1", "PAYER": "ni", "ENCOUNTERCLASS": "wellness", "CODE": "410620009",
         "DESCRIPTION": "Well visit", "TOTAL_CLAIM_COST": "129.16", "PAYER_COVERAGE": "0.00",
         **enc},
        {"Id": "e4", "START": "2015-07-01T09:00:00Z", "STOP": "2015-07-01T09:30:00Z",
         "PATIENT": "p1", "PAYER": "ae", "ENCOUNTERCLASS": "urgentcare", "CODE": "702927004",
         "DESCRIPTION": "Urgent care clinic", "TOTAL_CLAIM_COST": "80.00",
         "PAYER_COVERAGE": "80.00", **enc},
    ])
    write(f, "claims.csv", [
        {"Id": "c1", "PATIENTID": "p2", "PROVIDERID": "pr1", "PRIMARYPATIENTINSURANCEID": "mc",
         "SECONDARYPATIENTINSURANCEID": "md", "DIAGNOSIS1": "22298006", "DIAGNOSIS2": "53741008",
         "APPOINTMENTID": "e1", "SERVICEDATE": "2019-03-01T10:00:00Z"},
        {"Id": "c2", "PATIENTID": "p1", "PROVIDERID": "pr1", "PRIMARYPATIENTINSURANCEID": "ae",
         "SECONDARYPATIENTINSURANCEID": "0", "DIAGNOSIS1": "1234", "APPOINTMENTID": "e2"},
        {"Id": "c3", "PATIENTID": "p1", "PROVIDERID": "pr1", "PRIMARYPATIENTINSURANCEID": "0",
         "APPOINTMENTID": "e3"},
        {"Id": "c4", "PATIENTID": "p1", "PROVIDERID": "pr1", "PRIMARYPATIENTINSURANCEID": "ae",
         "APPOINTMENTID": "e2"},
        {"Id": "c5", "PATIENTID": "p1", "PROVIDERID": "pr1", "PRIMARYPATIENTINSURANCEID": "ae",
         "APPOINTMENTID": "e4"},
    ])
    t1 = {"PATIENTID": "p2", "APPOINTMENTID": "e1", "FROMDATE": "2019-03-01T10:00:00Z",
          "TODATE": "2019-03-04T12:00:00Z", "PROVIDERID": "pr1"}
    t2 = {"PATIENTID": "p1", "APPOINTMENTID": "e2", "FROMDATE": "2015-06-01T08:00:00Z",
          "TODATE": "2015-06-01T10:00:00Z"}
    t3 = {"PATIENTID": "p1", "APPOINTMENTID": "e3", "FROMDATE": "2016-02-01T09:00:00Z",
          "TODATE": "2016-02-01T09:30:00Z"}
    t5 = {"PATIENTID": "p1", "APPOINTMENTID": "e4", "FROMDATE": "2015-07-01T09:00:00Z",
          "TODATE": "2015-07-01T09:30:00Z"}
    write(f, "claims_transactions.csv", [
        # c1, inpatient, two lines: copay, primary payment, the rest moved to the patient;
        # then a line whose balance goes to the secondary payer.
        tx("c1", 1, "CHARGE", AMOUNT="900.00", PROCEDURECODE="183452005", UNITS="1",
           TRANSFERTYPE="1", **t1),
        tx("c1", 2, "PAYMENT", METHOD="COPAY", PAYMENTS="20.00", OUTSTANDING="880.00",
           PROCEDURECODE="183452005", **t1),
        tx("c1", 3, "PAYMENT", METHOD="ECHECK", PAYMENTS="700.00", OUTSTANDING="180.00",
           PROCEDURECODE="183452005", **t1),
        tx("c1", 4, "TRANSFEROUT", TRANSFERS="180.00", OUTSTANDING="180.00", **t1),
        tx("c1", 5, "TRANSFERIN", AMOUNT="180.00", TRANSFEROUTID="4", TRANSFERTYPE="p",
           TRANSFERS="180.00", OUTSTANDING="180.00", **t1),
        tx("c1", 6, "PAYMENT", METHOD="CASH", PAYMENTS="180.00", OUTSTANDING="0.00", **t1),
        tx("c1", 7, "CHARGE", AMOUNT="100.00", PROCEDURECODE="415070008", UNITS="2",
           TRANSFERTYPE="1", **{**t1, "FROMDATE": "2019-03-02T10:00:00Z",
                                "TODATE": "2019-03-02T11:00:00Z"}),
        tx("c1", 8, "PAYMENT", METHOD="ECHECK", PAYMENTS="60.00", OUTSTANDING="40.00", **t1),
        tx("c1", 9, "TRANSFEROUT", TRANSFERS="40.00", OUTSTANDING="40.00", **t1),
        tx("c1", 10, "TRANSFERIN", AMOUNT="40.00", TRANSFEROUTID="9", TRANSFERTYPE="2",
           TRANSFERS="40.00", OUTSTANDING="40.00", **t1),
        tx("c1", 11, "PAYMENT", METHOD="ECHECK", PAYMENTS="40.00", OUTSTANDING="0.00", **t1),
        # c2, emergency: written out of CHARGEID order (the payer's payment first).
        tx("c2", 3, "PAYMENT", METHOD="ECHECK", PAYMENTS="200.50", OUTSTANDING="0.00", **t2),
        tx("c2", 1, "CHARGE", AMOUNT="250.50", PROCEDURECODE="50849002", UNITS="1",
           TRANSFERTYPE="1", **t2),
        tx("c2", 2, "PAYMENT", METHOD="COPAY", PAYMENTS="50.00", OUTSTANDING="200.50", **t2),
        # c3, wellness, uninsured: billed to the patient from the start.
        tx("c3", 1, "CHARGE", AMOUNT="129.16", PROCEDURECODE="410620009", UNITS="1",
           TRANSFERTYPE="p", **t3),
        tx("c3", 2, "PAYMENT", METHOD="CHECK", PAYMENTS="129.16", OUTSTANDING="0.00", **t3),
        # c4, the prescription of encounter e2.
        tx("c4", 1, "CHARGE", AMOUNT="7.24", PROCEDURECODE="665078", UNITS="1",
           TRANSFERTYPE="1", **t2),
        tx("c4", 2, "PAYMENT", METHOD="ECHECK", PAYMENTS="5.00", OUTSTANDING="2.24", **t2),
        tx("c4", 3, "TRANSFEROUT", TRANSFERS="2.24", OUTSTANDING="2.24", **t2),
        tx("c4", 4, "TRANSFERIN", AMOUNT="2.24", TRANSFERTYPE="p", TRANSFERS="2.24", **t2),
        tx("c4", 5, "PAYMENT", METHOD="CC", PAYMENTS="2.24", OUTSTANDING="0.00", **t2),
        # c5, urgent care, paid in full.
        tx("c5", 1, "CHARGE", AMOUNT="80.00", PROCEDURECODE="702927004", UNITS="1",
           TRANSFERTYPE="1", **t5),
        tx("c5", 2, "PAYMENT", METHOD="ECHECK", PAYMENTS="80.00", OUTSTANDING="0.00", **t5),
        # a provider write-off: counted, in no amount column
        tx("c5", 3, "ADJUSTMENT", ADJUSTMENTS="10.00", OUTSTANDING="0.00", **t5),
    ])
    write(f, "medications.csv", [
        {"START": "2015-06-01T08:30:00Z", "STOP": "2016-06-01T08:30:00Z", "PATIENT": "p1",
         "PAYER": "ae", "ENCOUNTER": "e2", "CODE": "665078",
         "DESCRIPTION": "Loratadine 5 MG Chewable Tablet", "BASE_COST": "7.24",
         "PAYER_COVERAGE": "60.00", "DISPENSES": "12", "TOTALCOST": "86.88"},
    ])
    write(f, "conditions.csv", [
        {"START": "2015-06-01", "PATIENT": "p1", "ENCOUNTER": "e2", "CODE": "1234",
         "DESCRIPTION": "Sprain"},
        {"START": "2019-03-01", "STOP": "2019-04-01", "PATIENT": "p2", "ENCOUNTER": "e1",
         "CODE": "22298006", "DESCRIPTION": "Myocardial infarction"},
    ])
    write(f, "procedures.csv", [
        {"START": "2019-03-02T10:00:00Z", "STOP": "2019-03-02T11:00:00Z", "PATIENT": "p2",
         "ENCOUNTER": "e1", "CODE": "415070008", "DESCRIPTION": "PCI", "BASE_COST": "50.00"},
    ])
    write(f, "observations.csv", [
        {"DATE": "2016-02-01T09:00:00Z", "PATIENT": "p1", "ENCOUNTER": "e3",
         "CATEGORY": "vital-signs", "CODE": "8302-2", "DESCRIPTION": "Body Height",
         "VALUE": "127.90", "UNITS": "cm", "TYPE": "numeric"},
        {"DATE": "2016-02-01T09:00:00Z", "PATIENT": "p1", "ENCOUNTER": "e3",
         "CATEGORY": "survey", "CODE": "72166-2", "DESCRIPTION": "Tobacco smoking status",
         "VALUE": "Never smoked tobacco (finding)", "TYPE": "text"},
    ])
    write(f, "careplans.csv", [
        {"Id": "cp1", "START": "2019-03-04", "PATIENT": "p2", "ENCOUNTER": "e1",
         "CODE": "736211005", "DESCRIPTION": "Cardiac rehabilitation"},
    ])
    write(f, "providers.csv", [
        {"Id": "pr1", "ORGANIZATION": "o1", "NAME": "Dr One", "SPECIALITY": "GENERAL PRACTICE",
         "NPI": "1234567893"},
        {"Id": "pr2", "ORGANIZATION": "o1", "NAME": "Dr Two", "SPECIALITY": "GENERAL PRACTICE"},
    ])
    write(f, "organizations.csv", [{"Id": "o1", "NAME": "GOOD HOSPITAL"}])
    write(f, "allergies.csv", [{"START": "2009-09-27", "PATIENT": "p1", "ENCOUNTER": "e2",
                                "CODE": "111088007", "DESCRIPTION": "Latex"}])
    return f


def test_detection(export: Path, tmp_path: Path) -> None:
    assert is_synthea_csv(export) is True
    assert is_synthea_csv(export / "patients.csv") is False
    other = tmp_path / "other"
    other.mkdir()
    (other / "patients.csv").write_text("person_id,birth_date\n1,2000-01-01\n")
    (other / "encounters.csv").write_text("encounter_id\n1\n")
    assert is_synthea_csv(other) is False
    parent = tmp_path / "out"
    parent.mkdir()
    (parent / "csv").symlink_to(export, target_is_directory=True)
    assert is_synthea_csv(parent) is True


def test_eligibility_spans(export: Path) -> None:
    conv = convert_synthea_csv(export)
    cols = ("person_id", "member_id", "gender", "birth_date", "death_date", "death_flag",
            "enrollment_start_date", "enrollment_end_date", "payer", "payer_type", "plan",
            "subscriber_relation", "first_name", "zip_code", "derived_columns")
    assert rows_of(conv, "eligibility", *cols) == [
        # ends the day before the next span starts (the spans share 2016-01-10)
        {"person_id": "p1", "member_id": "m1", "gender": "female", "birth_date": "1950-03-01",
         "death_date": None, "death_flag": "0", "enrollment_start_date": "2015-01-10",
         "enrollment_end_date": "2016-01-09", "payer": "Aetna", "payer_type": "commercial",
         "plan": "Aetna", "subscriber_relation": "self", "first_name": "Ann1",
         "zip_code": "02110",
         "derived_columns": "enrollment_end_date,payer_type,plan,subscriber_relation"},
        {"person_id": "p1", "member_id": "p1", "gender": "female", "birth_date": "1950-03-01",
         "death_date": None, "death_flag": "0", "enrollment_start_date": "2016-01-10",
         "enrollment_end_date": "2017-01-10", "payer": "NO_INSURANCE", "payer_type": "self-pay",
         "plan": "NO_INSURANCE", "subscriber_relation": "self", "first_name": "Ann1",
         "zip_code": "02110",
         "derived_columns": "member_id,payer_type,plan,subscriber_relation"},
        # clipped to the death date; the span starting after death is skipped
        {"person_id": "p2", "member_id": "m3", "gender": "male", "birth_date": "1940-05-05",
         "death_date": "2020-06-15", "death_flag": "1", "enrollment_start_date": "2019-01-01",
         "enrollment_end_date": "2020-06-15", "payer": "Medicare", "payer_type": "medicare",
         "plan": "Medicare", "subscriber_relation": "dependent", "first_name": "Bob2",
         "zip_code": "01970",
         "derived_columns": "enrollment_end_date,payer_type,plan,subscriber_relation"},
    ]
    assert conv.notes == ()
    count = next(c for c in conv.counts if c.file_name == "payer_transitions.csv")
    assert (count.records_in, count.converted, count.quarantined, count.skipped) == (4, 3, 0, 1)
    assert count.skipped_reason == "1 start after the member's death date"


def test_eligibility_synthea_2_years(tmp_path: Path) -> None:
    write(tmp_path, "patients.csv", [{"Id": "p1", "BIRTHDATE": "1990-01-01", "GENDER": "X"}])
    write(tmp_path, "encounters.csv", [])
    write(tmp_path, "payers.csv", [{"Id": "hu", "NAME": "Humana"}])
    header = "PATIENT,START_YEAR,END_YEAR,PAYER,OWNERSHIP"
    write(tmp_path, "payer_transitions.csv", [
        {"PATIENT": "p1", "START_YEAR": "2015", "END_YEAR": "2016", "PAYER": "hu",
         "OWNERSHIP": "Spouse"},
        # overlaps the first span by a year: kept as it is, with a note
        {"PATIENT": "p1", "START_YEAR": "2016", "END_YEAR": "2017", "PAYER": "hu"},
    ], header)
    conv = convert_synthea_csv(tmp_path)
    assert rows_of(conv, "eligibility", "member_id", "gender", "enrollment_start_date",
                   "enrollment_end_date", "subscriber_relation", "derived_columns") == [
        {"member_id": "p1", "gender": "unknown", "enrollment_start_date": "2015-01-01",
         "enrollment_end_date": "2016-12-31", "subscriber_relation": "spouse",
         "derived_columns": "member_id,enrollment_start_date,enrollment_end_date,payer_type,"
                            "plan,subscriber_relation"},
        {"member_id": "p1", "gender": "unknown", "enrollment_start_date": "2016-01-01",
         "enrollment_end_date": "2017-12-31", "subscriber_relation": None,
         "derived_columns": "member_id,enrollment_start_date,enrollment_end_date,payer_type,"
                            "plan"},
    ]
    assert conv.notes == ("1 eligibility span(s) overlap the person's next span (kept as the "
                          "source has them)",)
    assert {c.file_name for c in conv.counts} == {
        "patients.csv", "payers.csv", "payer_transitions.csv", "encounters.csv"}


def test_encounters(export: Path) -> None:
    conv = convert_synthea_csv(export)
    cols = ("encounter_id", "encounter_type", "encounter_class_code", "encounter_start_date",
            "encounter_end_date", "length_of_stay", "attending_provider_name", "facility_name",
            "primary_diagnosis_code_type", "primary_diagnosis_code", "reason_code",
            "paid_amount", "charge_amount")
    got = rows_of(conv, "encounter", *cols)
    assert got[0] == {
        "encounter_id": "e1", "encounter_type": "inpatient", "encounter_class_code": "IMP",
        "encounter_start_date": "2019-03-01", "encounter_end_date": "2019-03-04",
        "length_of_stay": "3", "attending_provider_name": "Dr One",
        "facility_name": "GOOD HOSPITAL", "primary_diagnosis_code_type": "snomed-ct",
        "primary_diagnosis_code": "22298006", "reason_code": "183452005",
        "paid_amount": "800.00", "charge_amount": "1000.00"}
    assert [(r["encounter_id"], r["encounter_class_code"], r["length_of_stay"]) for r in got] == [
        ("e1", "IMP", "3"), ("e2", "EMER", None), ("e3", "AMB", None), ("e4", "AMB", None)]


def test_medical_claim_lines(export: Path) -> None:
    conv = convert_synthea_csv(export)
    cols = ("claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "payer",
            "claim_start_date", "claim_end_date", "claim_line_start_date", "admission_date",
            "discharge_date", "place_of_service_code", "bill_type_code", "revenue_center_code",
            "service_unit_quantity", "hcpcs_code", "rendering_npi", "paid_amount",
            "allowed_amount", "charge_amount", "copayment_amount", "coinsurance_amount",
            "diagnosis_code_type", "diagnosis_code_1", "diagnosis_code_2", "encounter_id")
    inpatient = {"claim_type": "institutional", "person_id": "p2", "member_id": "m3",
                 "payer": "Medicare", "claim_start_date": "2019-03-01",
                 "claim_end_date": "2019-03-04", "admission_date": "2019-03-01",
                 "discharge_date": "2019-03-04", "place_of_service_code": None,
                 "bill_type_code": "111", "revenue_center_code": None, "rendering_npi": "1234567893",
                 "diagnosis_code_type": "snomed-ct", "diagnosis_code_1": "22298006",
                 "diagnosis_code_2": "53741008", "encounter_id": "e1"}
    assert rows_of(conv, "medical_claim", *cols) == [
        {"claim_id": "c1", "claim_line_number": "1", **inpatient,
         "claim_line_start_date": "2019-03-01", "service_unit_quantity": "1",
         "hcpcs_code": "183452005", "paid_amount": "700.00", "allowed_amount": "900.00",
         "charge_amount": "900.00", "copayment_amount": "20.00", "coinsurance_amount": "180.00"},
        # the balance moved to the secondary payer, who paid it: all paid by payers
        {"claim_id": "c1", "claim_line_number": "2", **inpatient,
         "claim_line_start_date": "2019-03-02", "service_unit_quantity": "2",
         "hcpcs_code": "415070008", "paid_amount": "100.00", "allowed_amount": "100.00",
         "charge_amount": "100.00", "copayment_amount": None, "coinsurance_amount": None},
        {"claim_id": "c2", "claim_line_number": "1", "claim_type": "institutional",
         "person_id": "p1", "member_id": "m1", "payer": "Aetna",
         "claim_start_date": "2015-06-01", "claim_end_date": "2015-06-01",
         "claim_line_start_date": "2015-06-01", "admission_date": None, "discharge_date": None,
         "place_of_service_code": None, "bill_type_code": "131", "revenue_center_code": "0450",
         "service_unit_quantity": "1", "hcpcs_code": "50849002", "rendering_npi": "1234567893",
         "paid_amount": "200.50", "allowed_amount": "250.50", "charge_amount": "250.50",
         "copayment_amount": "50.00", "coinsurance_amount": None,
         "diagnosis_code_type": "snomed-ct", "diagnosis_code_1": "1234",
         "diagnosis_code_2": None, "encounter_id": "e2"},
        # uninsured: the encounter's payer, the patient id as member id, nothing paid
        {"claim_id": "c3", "claim_line_number": "1", "claim_type": "professional",
         "person_id": "p1", "member_id": "p1", "payer": "NO_INSURANCE",
         "claim_start_date": "2016-02-01", "claim_end_date": "2016-02-01",
         "claim_line_start_date": "2016-02-01", "admission_date": None, "discharge_date": None,
         "place_of_service_code": "11", "bill_type_code": None, "revenue_center_code": None,
         "service_unit_quantity": "1", "hcpcs_code": "410620009", "rendering_npi": "1234567893",
         "paid_amount": "0.00", "allowed_amount": "129.16", "charge_amount": "129.16",
         "copayment_amount": None, "coinsurance_amount": "129.16",
         "diagnosis_code_type": None, "diagnosis_code_1": None, "diagnosis_code_2": None,
         "encounter_id": "e3"},
        {"claim_id": "c5", "claim_line_number": "1", "claim_type": "professional",
         "person_id": "p1", "member_id": "m1", "payer": "Aetna",
         "claim_start_date": "2015-07-01", "claim_end_date": "2015-07-01",
         "claim_line_start_date": "2015-07-01", "admission_date": None, "discharge_date": None,
         "place_of_service_code": "20", "bill_type_code": None, "revenue_center_code": None,
         "service_unit_quantity": "1", "hcpcs_code": "702927004", "rendering_npi": "1234567893",
         "paid_amount": "80.00", "allowed_amount": "80.00", "charge_amount": "80.00",
         "copayment_amount": None, "coinsurance_amount": None,
         "diagnosis_code_type": None, "diagnosis_code_1": None, "diagnosis_code_2": None,
         "encounter_id": "e4"},
    ]
    adjustment = next(c for c in conv.counts if c.record_type == "ADJUSTMENT transaction")
    assert (adjustment.records_in, adjustment.converted, adjustment.skipped) == (1, 0, 1)
    assert adjustment.skipped_reason == "a write-off: no canonical column holds it"
    derived = {r["claim_id"] + "/" + r["claim_line_number"]: r["derived_columns"]
               for r in conv.tables["medical_claim"].to_pylist()}
    assert derived["c1/1"] == ("claim_line_number,claim_type,member_id,admission_date,"
                               "discharge_date,bill_type_code,paid_amount,allowed_amount,"
                               "coinsurance_amount")
    assert derived["c2/1"] == ("claim_line_number,claim_type,member_id,bill_type_code,"
                               "revenue_center_code,paid_amount,allowed_amount")
    assert derived["c5/1"] == ("claim_line_number,claim_type,member_id,place_of_service_code,"
                               "paid_amount,allowed_amount")


def test_pharmacy_claim_and_medication(export: Path) -> None:
    conv = convert_synthea_csv(export)
    med = conv.tables["medication"].to_pylist()
    assert len(med) == 1
    assert {k: med[0][k] for k in ("person_id", "encounter_id", "prescribing_date", "end_date",
                                   "status", "source_code_type", "rxnorm_code", "quantity",
                                   "cost_amount")} == {
        "person_id": "p1", "encounter_id": "e2", "prescribing_date": "2015-06-01",
        "end_date": "2016-06-01", "status": "stopped", "source_code_type": "rxnorm",
        "rxnorm_code": "665078", "quantity": "12", "cost_amount": "7.24"}
    assert rows_of(conv, "pharmacy_claim", "claim_id", "claim_line_number", "person_id",
                   "member_id", "payer", "dispensing_date", "quantity", "paid_amount",
                   "allowed_amount", "charge_amount", "coinsurance_amount", "rxnorm_code",
                   "drug_description", "medication_id") == [
        {"claim_id": "c4", "claim_line_number": "1", "person_id": "p1", "member_id": "m1",
         "payer": "Aetna", "dispensing_date": "2015-06-01", "quantity": "12",
         "paid_amount": "5.00", "allowed_amount": "7.24", "charge_amount": "7.24",
         "coinsurance_amount": "2.24", "rxnorm_code": "665078",
         "drug_description": "Loratadine 5 MG Chewable Tablet",
         "medication_id": med[0]["medication_id"]}]


def test_clinical_and_providers(export: Path) -> None:
    conv = convert_synthea_csv(export)
    assert rows_of(conv, "observation", "observation_date", "observation_type",
                   "source_code_type", "source_code", "result", "source_units") == [
        {"observation_date": "2016-02-01", "observation_type": "vital-signs",
         "source_code_type": "loinc", "source_code": "8302-2", "result": "127.90",
         "source_units": "cm"},
        {"observation_date": "2016-02-01", "observation_type": "survey",
         "source_code_type": "loinc", "source_code": "72166-2",
         "result": "Never smoked tobacco (finding)", "source_units": None}]
    assert rows_of(conv, "condition", "person_id", "recorded_date", "resolved_date", "status",
                   "source_code_type", "source_code") == [
        {"person_id": "p1", "recorded_date": "2015-06-01", "resolved_date": None,
         "status": "active", "source_code_type": "snomed-ct", "source_code": "1234"},
        {"person_id": "p2", "recorded_date": "2019-03-01", "resolved_date": "2019-04-01",
         "status": "resolved", "source_code_type": "snomed-ct", "source_code": "22298006"}]
    assert rows_of(conv, "procedure", "person_id", "encounter_id", "procedure_date",
                   "source_code") == [
        {"person_id": "p2", "encounter_id": "e1", "procedure_date": "2019-03-02",
         "source_code": "415070008"}]
    assert rows_of(conv, "care_plan", "care_plan_id", "status", "start_date", "end_date",
                   "category_code") == [
        {"care_plan_id": "cp1", "status": "active", "start_date": "2019-03-04",
         "end_date": None, "category_code": "736211005"}]
    assert rows_of(conv, "provider", "npi", "provider_name", "entity_type", "specialty",
                   "organization_id", "organization_name") == [
        {"npi": "1234567893", "provider_name": "Dr One", "entity_type": "individual",
         "specialty": "general practice", "organization_id": "o1",
         "organization_name": "GOOD HOSPITAL"}]
    by_file = {(c.file_name, c.record_type): c for c in conv.counts}
    assert by_file[("providers.csv", "individual")].skipped == 1
    assert by_file[("providers.csv", "individual")].skipped_reason == "no NPI"
    orgs = by_file[("organizations.csv", "organization")]
    assert (orgs.records_in, orgs.converted, orgs.skipped) == (1, 0, 1)
    allergies = by_file[("allergies.csv", "allergies.csv row")]
    assert (allergies.records_in, allergies.skipped, allergies.skipped_reason) == (
        1, 1, "no canonical table for allergies")
    assert conv.balanced()
    assert conv.rejected == ()
    for table in conv.tables.values():
        assert all(f.type == pa.string() for f in table.schema)


def test_rejected_rows(export: Path) -> None:
    """Rows that cannot be placed are refused with rule, file, data row and the raw row."""
    with (export / "encounters.csv").open("a", newline="") as fh:
        w = csv.writer(fh)
        cols = H["encounters.csv"].split(",")
        w.writerow([{"Id": "e5", "START": "2019-13-45T00:00:00Z", "PATIENT": "p1"}.get(c, "")
                    for c in cols])
        w.writerow([{"Id": "e6", "START": "2019-01-01"}.get(c, "") for c in cols])
        fh.write("e7,broken,row\n")
    with (export / "conditions.csv").open("a", newline="") as fh:
        fh.write("2019-01-01,,,e1,999,No patient\n")
    with (export / "claims_transactions.csv").open("a", newline="") as fh:
        w = csv.writer(fh)
        cols = H["claims_transactions.csv"].split(",")
        # a payment of a claim that has no CHARGE; a charge without a date of service
        w.writerow([tx("c9", 1, "PAYMENT", PATIENTID="p1", PAYMENTS="9.99").get(c, "")
                    for c in cols])
        w.writerow([tx("c8", 1, "CHARGE", PATIENTID="p1", AMOUNT="5.00").get(c, "")
                    for c in cols])
        w.writerow([tx("c8", 2, "PAYMENT", PATIENTID="p1", PAYMENTS="5.00").get(c, "")
                    for c in cols])
    conv = convert_synthea_csv(export)
    got = [(r.file_name, r.location, r.rule) for r in conv.rejected]
    assert got == [  # sorted by file and data row
        ("claims_transactions.csv", 25, "source_reference_unresolved"),
        ("claims_transactions.csv", 26, "source_required_missing"),
        ("claims_transactions.csv", 27, "source_reference_unresolved"),
        ("conditions.csv", 3, "source_required_missing"),
        ("encounters.csv", 5, "source_value_invalid"),
        ("encounters.csv", 6, "source_required_missing"),
        ("encounters.csv", 7, "source_unparsable"),
    ]
    e5 = next(r for r in conv.rejected if r.location == 5)
    assert json.loads(e5.raw)["START"] == "2019-13-45T00:00:00Z"
    assert json.loads(e5.raw)["Id"] == "e5"
    assert e5.reason == "the start (START) is not a date"
    broken = next(r for r in conv.rejected if r.rule == "source_unparsable")
    assert broken.raw == "e7,broken,row"
    enc = next(c for c in conv.counts if c.file_name == "encounters.csv")
    assert (enc.records_in, enc.converted, enc.quarantined) == (7, 4, 3)
    charge = next(c for c in conv.counts if c.record_type == "CHARGE transaction")
    payment = next(c for c in conv.counts if c.record_type == "PAYMENT transaction")
    assert (charge.records_in, charge.converted, charge.quarantined) == (7, 6, 1)
    assert (payment.records_in, payment.converted, payment.quarantined) == (13, 11, 2)
    assert conv.balanced()
    # the refused rows' dollars are not in any table; the rest load unchanged
    assert conv.tables["medical_claim"].num_rows == 5


# --- the real 27-patient export -------------------------------------------------------


def read_csv(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def real(shared_data: Path) -> tuple[Path, Converted, float]:
    folder = shared_data / "synthea-csv-27pt" / "csv"
    started = time.perf_counter()
    conv = convert_synthea_csv(folder)
    return folder, conv, time.perf_counter() - started


def dsum(values: Iterable[str | None]) -> Decimal:
    return sum((Decimal(v) for v in values if v), Decimal(0))


def test_real_counts(real: tuple[Path, Converted, float]) -> None:
    folder, conv, seconds = real
    print(f"synthea-csv-27pt converted in {seconds:.2f} s")
    assert seconds < 30
    patients = read_csv(folder, "patients.csv")
    encounters = read_csv(folder, "encounters.csv")
    transitions = read_csv(folder, "payer_transitions.csv")
    death = {p["Id"]: p["DEATHDATE"] for p in patients}
    starts = {(t["PATIENT"], t["START_YEAR"][:10]) for t in transitions
              if t["START_YEAR"] != t["END_YEAR"]}
    # skipped: spans starting after death, and spans covering no time (START = END) whose
    # day the person's next span covers
    spans = [t for t in transitions
             if not (death[t["PATIENT"]] and t["START_YEAR"][:10] > death[t["PATIENT"]])
             and not (t["START_YEAR"] == t["END_YEAR"]
                      and (t["PATIENT"], t["START_YEAR"][:10]) in starts)]
    elig = conv.tables["eligibility"].to_pylist()
    assert len(elig) == len(spans)
    assert {r["person_id"] for r in elig} == {p["Id"] for p in patients if any(
        t["PATIENT"] == p["Id"] for t in spans)}
    # spans of a person never overlap, and none runs past the death date
    by_person: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for r in elig:
        by_person[r["person_id"]].append((r["enrollment_start_date"], r["enrollment_end_date"]))
        assert r["enrollment_start_date"] <= r["enrollment_end_date"]
        if death[r["person_id"]]:
            assert r["enrollment_end_date"] <= death[r["person_id"]]
    for person_spans in by_person.values():
        ordered = sorted(person_spans)
        assert all(a[1] < b[0] for a, b in pairwise(ordered))
    enc = conv.tables["encounter"].to_pylist()
    assert Counter(r["encounter_type"] for r in enc) == Counter(
        e["ENCOUNTERCLASS"] for e in encounters)
    assert dsum(r["charge_amount"] for r in enc) == dsum(e["TOTAL_CLAIM_COST"] for e in encounters)
    assert dsum(r["paid_amount"] for r in enc) == dsum(e["PAYER_COVERAGE"] for e in encounters)
    for name, table in (("medications.csv", "medication"), ("conditions.csv", "condition"),
                        ("procedures.csv", "procedure"), ("observations.csv", "observation"),
                        ("careplans.csv", "care_plan")):
        assert conv.tables[table].num_rows == len(read_csv(folder, name)), name
    for c in conv.counts:
        assert c.balanced(), c
        if c.file_name != "claims_transactions.csv":
            assert c.records_in == len(read_csv(folder, c.file_name)), c
    assert conv.rejected == ()


def test_real_claim_lines_and_totals(real: tuple[Path, Converted, float]) -> None:
    folder, conv, _ = real
    txs = read_csv(folder, "claims_transactions.csv")
    claims = {c["Id"]: c for c in read_csv(folder, "claims.csv")}
    encounters = {e["Id"]: e for e in read_csv(folder, "encounters.csv")}
    meds = {(m["PATIENT"], m["ENCOUNTER"], m["CODE"]) for m in read_csv(folder, "medications.csv")}
    charges = [t for t in txs if t["TYPE"] == "CHARGE"]
    rx = [t for t in charges
          if (t["PATIENTID"], claims[t["CLAIMID"]]["APPOINTMENTID"], t["PROCEDURECODE"]) in meds]
    medical = conv.tables["medical_claim"].to_pylist()
    pharmacy = conv.tables["pharmacy_claim"].to_pylist()
    assert len(medical) + len(pharmacy) == len(charges)
    assert len(pharmacy) == len(rx)

    def enc_class(t: dict[str, str]) -> str:
        return encounters[claims[t["CLAIMID"]]["APPOINTMENTID"]]["ENCOUNTERCLASS"]

    med_charges = [t for t in charges if t not in rx]
    assert sum(r["bill_type_code"] == "111" for r in medical) == sum(
        enc_class(t) == "inpatient" for t in med_charges)
    assert sum(r["revenue_center_code"] == "0450" for r in medical) == sum(
        enc_class(t) == "emergency" for t in med_charges)
    assert sum(r["place_of_service_code"] == "11" for r in medical) == sum(
        enc_class(t) in ("wellness", "ambulatory", "outpatient") for t in med_charges)
    # Who paid what, replayed here per claim in CHARGEID order: a PAYMENT is the payer's
    # unless it is a COPAY or follows a TRANSFERIN to the patient (p).
    payer_paid = Decimal(0)
    copay = Decimal(0)
    patient_paid = Decimal(0)
    by_claim: dict[str, list[dict[str, str]]] = defaultdict(list)
    for t in txs:
        by_claim[t["CLAIMID"]].append(t)
    for rows in by_claim.values():
        party = ""
        for t in sorted(rows, key=lambda t: int(t["CHARGEID"])):
            if t["TYPE"] in ("CHARGE", "TRANSFERIN"):
                party = t["TRANSFERTYPE"]
            elif t["TYPE"] == "PAYMENT":
                amount = Decimal(t["PAYMENTS"])
                if t["METHOD"] == "COPAY":
                    copay += amount
                elif party == "p":
                    patient_paid += amount
                else:
                    payer_paid += amount
    lines = medical + pharmacy
    assert dsum(r["charge_amount"] for r in lines) == dsum(t["AMOUNT"] for t in charges)
    assert dsum(r["paid_amount"] for r in lines) == payer_paid
    assert dsum(r["copayment_amount"] for r in lines) == copay
    assert dsum(r["coinsurance_amount"] for r in lines) == patient_paid
    assert dsum(r["allowed_amount"] for r in lines) == dsum(
        t["PAYMENTS"] for t in txs if t["TYPE"] == "PAYMENT")
    assert dsum(r["charge_amount"] for r in pharmacy) == dsum(t["AMOUNT"] for t in rx)
    kinds = Counter(t["TYPE"] for t in txs)
    tx_counts = {c.record_type: c for c in conv.counts
                 if c.file_name == "claims_transactions.csv"}
    assert {k.removesuffix(" transaction"): (c.records_in, c.converted)
            for k, c in tx_counts.items()} == {k: (n, n) for k, n in kinds.items()}
    assert {r["diagnosis_code_type"] for r in medical} <= {"snomed-ct", None}
    assert sum(r["diagnosis_code_1"] is not None for r in medical) == sum(
        bool(claims[t["CLAIMID"]]["DIAGNOSIS1"]) for t in med_charges)
