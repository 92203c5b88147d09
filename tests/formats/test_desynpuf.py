"""CMS DE-SynPUF -> eligibility, medical_claim, pharmacy_claim (docs/formats_desynpuf.md).

Hand-written files in the CMS layouts (the column lists below are typed from the DE-SynPUF
Codebook and checked against the real files) give expected rows for each mapping; the real
DE_0 sample (OHDSI ETL-CMS test data) is checked against counts and sums computed here
from the raw CSV with `csv` and `Decimal`; a 200k-row carrier file made in tmp_path
times the set-based conversion.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.errors import InputFileError, MissingColumnsError
from medsynergy.ingest.formats import Converted, Count
from medsynergy.ingest.formats.desynpuf import convert_desynpuf, file_kind, is_desynpuf
from medsynergy.ingest.formats.load import detect_format, ingest_format
from medsynergy.marts.registry import MARTS, publish_plan
from medsynergy.schema import table as canonical_table

# --- the CMS layouts (DE-SynPUF Codebook) ---------------------------------------------

BENE = [
    "DESYNPUF_ID", "BENE_BIRTH_DT", "BENE_DEATH_DT", "BENE_SEX_IDENT_CD", "BENE_RACE_CD",
    "BENE_ESRD_IND", "SP_STATE_CODE", "BENE_COUNTY_CD", "BENE_HI_CVRAGE_TOT_MONS",
    "BENE_SMI_CVRAGE_TOT_MONS", "BENE_HMO_CVRAGE_TOT_MONS", "PLAN_CVRG_MOS_NUM",
    "SP_ALZHDMTA", "SP_CHF", "SP_CHRNKIDN", "SP_CNCR", "SP_COPD", "SP_DEPRESSN",
    "SP_DIABETES", "SP_ISCHMCHT", "SP_OSTEOPRS", "SP_RA_OA", "SP_STRKETIA", "MEDREIMB_IP",
    "BENRES_IP", "PPPYMT_IP", "MEDREIMB_OP", "BENRES_OP", "PPPYMT_OP", "MEDREIMB_CAR",
    "BENRES_CAR", "PPPYMT_CAR",
]
_DX10 = [f"ICD9_DGNS_CD_{i}" for i in range(1, 11)]
_PX6 = [f"ICD9_PRCDR_CD_{i}" for i in range(1, 7)]
_HCPCS45 = [f"HCPCS_CD_{i}" for i in range(1, 46)]
INPATIENT = [
    "DESYNPUF_ID", "CLM_ID", "SEGMENT", "CLM_FROM_DT", "CLM_THRU_DT", "PRVDR_NUM",
    "CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "AT_PHYSN_NPI", "OP_PHYSN_NPI", "OT_PHYSN_NPI",
    "CLM_ADMSN_DT", "ADMTNG_ICD9_DGNS_CD", "CLM_PASS_THRU_PER_DIEM_AMT",
    "NCH_BENE_IP_DDCTBL_AMT", "NCH_BENE_PTA_COINSRNC_LBLTY_AM",
    "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM", "CLM_UTLZTN_DAY_CNT", "NCH_BENE_DSCHRG_DT", "CLM_DRG_CD",
    *_DX10, *_PX6, *_HCPCS45,
]
OUTPATIENT = [
    "DESYNPUF_ID", "CLM_ID", "SEGMENT", "CLM_FROM_DT", "CLM_THRU_DT", "PRVDR_NUM",
    "CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "AT_PHYSN_NPI", "OP_PHYSN_NPI", "OT_PHYSN_NPI",
    "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM", *_DX10, *_PX6, "NCH_BENE_PTB_DDCTBL_AMT",
    "NCH_BENE_PTB_COINSRNC_AMT", "ADMTNG_ICD9_DGNS_CD", *_HCPCS45,
]
_LINE_GROUPS = ["PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_NCH_PMT_AMT",
                "LINE_BENE_PTB_DDCTBL_AMT", "LINE_BENE_PRMRY_PYR_PD_AMT", "LINE_COINSRNC_AMT",
                "LINE_ALOWD_CHRG_AMT", "LINE_PRCSG_IND_CD", "LINE_ICD9_DGNS_CD"]
CARRIER = [
    "DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT",
    *(f"ICD9_DGNS_CD_{i}" for i in range(1, 9)),
    *(f"{g}_{n}" for g in _LINE_GROUPS for n in range(1, 14)),
]
PDE = ["DESYNPUF_ID", "PDE_ID", "SRVC_DT", "PROD_SRVC_ID", "QTY_DSPNSD_NUM", "DAYS_SUPLY_NUM",
       "PTNT_PAY_AMT", "TOT_RX_CST_AMT"]

FIXTURE = "cms-fixtures/desynpuf_ohdsi_etl_cms_DE_0"


def _write(path: Path, header: Sequence[str], rows: Sequence[Mapping[str, str]],
           default: Mapping[str, str] | None = None) -> Path:
    """A CSV in the CMS style: quoted header, unquoted values, blank for missing."""
    unknown = {k for r in rows for k in r} - set(header)
    assert not unknown, unknown  # a typo in a test row must not pass silently
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(",".join(f'"{h}"' for h in header) + "\n")
        for r in rows:
            f.write(",".join(r.get(h, (default or {}).get(h, "")) for h in header) + "\n")
    return path


def _carrier_zeros() -> dict[str, str]:
    """The SynPUF fills the 13 carrier line amount slots with 0."""
    return {f"{g}_{n}": "0" for g in _LINE_GROUPS if g.endswith("_AMT") for n in range(1, 14)}


def _rows(table: pa.Table, cols: Sequence[str]) -> list[tuple[str | None, ...]]:
    return [tuple(r[c] for c in cols) for r in table.select(list(cols)).to_pylist()]


def _count(conv: Converted, path: Path) -> Count:
    (c,) = [c for c in conv.counts if c.file_name == str(path)]
    return c


# --- detection ------------------------------------------------------------------------


def test_files_are_recognised_by_cms_name_or_header(tmp_path: Path) -> None:
    named = tmp_path / "named"
    named.mkdir()
    for name in ("DE1_0_2008_Beneficiary_Summary_File_Sample_1.csv",
                 "DE1_0_2008_to_2010_Inpatient_Claims_Sample_1.csv",
                 "DE1_0_2008_to_2010_Outpatient_Claims_Sample_1.csv",
                 "DE1_0_2008_to_2010_Carrier_Claims_Sample_1B.csv",
                 "DE1_0_2008_to_2010_Prescription_Drug_Events_Sample_1.csv"):
        (named / name).write_text('"X"\n', encoding="utf-8")
    assert [file_kind(named / n) for n in sorted(p.name for p in named.iterdir())] == [
        "beneficiary", "carrier", "inpatient", "outpatient", "pde"]
    by_header = tmp_path / "by_header"
    by_header.mkdir()
    for name, header in (("bene.csv", BENE), ("ip.csv", INPATIENT), ("op.csv", OUTPATIENT),
                         ("car.csv", CARRIER), ("rx.csv", PDE)):
        _write(by_header / name, header, [])
    assert {p.name: file_kind(p) for p in by_header.iterdir()} == {
        "bene.csv": "beneficiary", "ip.csv": "inpatient", "op.csv": "outpatient",
        "car.csv": "carrier", "rx.csv": "pde"}
    other = tmp_path / "other"
    other.mkdir()
    (other / "patients.csv").write_text("Id,BIRTHDATE,DEATHDATE\n", encoding="utf-8")
    (other / "DE1_0_2008_to_2010_Carrier_Claims_Sample_1A.zip").write_bytes(b"PK")
    assert is_desynpuf(named) is True
    assert is_desynpuf(by_header / "car.csv") is True
    assert is_desynpuf(other) is False
    assert is_desynpuf(other / "patients.csv") is False
    assert detect_format([named]) == "desynpuf"
    with pytest.raises(InputFileError, match="not a DE-SynPUF file"):
        convert_desynpuf([other / "patients.csv"])


# --- carrier -> professional lines -----------------------------------------------------


def test_carrier_lines_are_unpivoted_one_per_non_empty_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "DE1_0_2008_to_2010_Carrier_Claims_Sample_9A.csv", CARRIER, [
        {"DESYNPUF_ID": "B1", "CLM_ID": "777", "CLM_FROM_DT": "20090310",
         "CLM_THRU_DT": "20090312", "ICD9_DGNS_CD_1": "4019", "ICD9_DGNS_CD_2": "25000",
         # line 1: everything
         "PRF_PHYSN_NPI_1": "1234567893", "TAX_NUM_1": "111222333", "HCPCS_CD_1": "99213",
         "LINE_NCH_PMT_AMT_1": "55.20", "LINE_BENE_PTB_DDCTBL_AMT_1": "10",
         "LINE_BENE_PRMRY_PYR_PD_AMT_1": "0", "LINE_COINSRNC_AMT_1": "13.80",
         "LINE_ALOWD_CHRG_AMT_1": "79.00", "LINE_PRCSG_IND_CD_1": "A",
         "LINE_ICD9_DGNS_CD_1": "4019",
         # line 2: a code and zero amounts (a denied line still is a line)
         "HCPCS_CD_2": "36415", "LINE_PRCSG_IND_CD_2": "R",
         # line 3: zeros and blanks only -> no line
         # line 5: nothing but a coinsurance amount
         "LINE_COINSRNC_AMT_5": "2.50",
         # line 13: an amount that is not a number is kept for ingest to report
         "HCPCS_CD_13": "J1100", "LINE_NCH_PMT_AMT_13": "12.5.0"},
        # no line at all: skipped, with the reason
        {"DESYNPUF_ID": "B2", "CLM_ID": "778", "CLM_FROM_DT": "20090401",
         "CLM_THRU_DT": "20090401", "ICD9_DGNS_CD_1": "V700"},
    ], default=_carrier_zeros())
    conv = convert_desynpuf([path])
    med = conv.tables["medical_claim"]
    assert _rows(med, ["claim_id", "claim_line_number", "claim_type", "person_id", "member_id",
                       "payer", "plan", "claim_start_date", "claim_end_date", "hcpcs_code",
                       "rendering_npi", "billing_tin", "paid_amount", "allowed_amount",
                       "coinsurance_amount", "deductible_amount", "diagnosis_code_type",
                       "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_9",
                       "bill_type_code", "derived_columns"]) == [
        ("car:777", "1", "professional", "B1", "B1", "medicare", "part b", "2009-03-10",
         "2009-03-12", "99213", "1234567893", "111222333", "55.20", "79.00", "13.80", "10",
         "icd-9-cm", "4019", "25000", "4019", None, "plan"),
        ("car:777", "2", "professional", "B1", "B1", "medicare", "part b", "2009-03-10",
         "2009-03-12", "36415", None, None, "0", "0", "0", "0",
         "icd-9-cm", "4019", "25000", None, None, "plan"),
        ("car:777", "5", "professional", "B1", "B1", "medicare", "part b", "2009-03-10",
         "2009-03-12", None, None, None, "0", "0", "2.50", "0",
         "icd-9-cm", "4019", "25000", None, None, "plan"),
        ("car:777", "13", "professional", "B1", "B1", "medicare", "part b", "2009-03-10",
         "2009-03-12", "J1100", None, None, "12.5.0", "0", "0", "0",
         "icd-9-cm", "4019", "25000", None, None, "plan"),
    ]
    assert med.schema.names == [c.name for c in canonical_table("medical_claim").columns
                                if c.role.value == "input" or c.name == "data_source"]
    assert all(t == pa.string() for t in med.schema.types)
    assert _count(conv, path) == Count(
        str(path), "carrier claim", 2, 1, skipped=1,
        skipped_reason="no line with a code, provider, diagnosis or non-zero amount")
    assert conv.rejected == ()
    assert conv.tables["eligibility"].num_rows == 0
    assert conv.tables["pharmacy_claim"].num_rows == 0


# --- inpatient / outpatient -> institutional lines -------------------------------------


def test_inpatient_claims_become_a_line_per_hcpcs_with_the_amounts_on_line_one(
        tmp_path: Path) -> None:
    ip = _write(tmp_path / "DE1_0_2008_to_2010_Inpatient_Claims_Sample_9.csv", INPATIENT, [
        {"DESYNPUF_ID": "B1", "CLM_ID": "5001", "SEGMENT": "1", "CLM_FROM_DT": "20090208",
         "CLM_THRU_DT": "20090210", "PRVDR_NUM": "1513QQ", "CLM_PMT_AMT": "13000",
         "NCH_PRMRY_PYR_CLM_PD_AMT": "0", "AT_PHYSN_NPI": "1381846290",
         "OP_PHYSN_NPI": "2222222222", "CLM_ADMSN_DT": "20090208",
         "ADMTNG_ICD9_DGNS_CD": "7295", "NCH_BENE_IP_DDCTBL_AMT": "1068",
         "NCH_BENE_PTA_COINSRNC_LBLTY_AM": "100", "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM": "5",
         "NCH_BENE_DSCHRG_DT": "20090210", "CLM_DRG_CD": "494", "ICD9_DGNS_CD_1": "71537",
         "ICD9_DGNS_CD_10": "4019", "ICD9_PRCDR_CD_1": "7869", "ICD9_PRCDR_CD_6": "8154",
         "HCPCS_CD_2": "G0378", "HCPCS_CD_4": "99284"},
        # segment 2 of the same claim: its own amounts, lines from 46
        {"DESYNPUF_ID": "B1", "CLM_ID": "5001", "SEGMENT": "2", "CLM_FROM_DT": "20090208",
         "CLM_THRU_DT": "20090210", "CLM_PMT_AMT": "500", "NCH_BENE_IP_DDCTBL_AMT": "0",
         "NCH_BENE_PTA_COINSRNC_LBLTY_AM": "0", "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM": "0",
         "CLM_DRG_CD": "494", "ICD9_DGNS_CD_1": "71537"},
        # no HCPCS, no through date
        {"DESYNPUF_ID": "B2", "CLM_ID": "5002", "SEGMENT": "1", "CLM_FROM_DT": "20100807",
         "CLM_PMT_AMT": "3000", "NCH_BENE_IP_DDCTBL_AMT": "1100",
         "NCH_BENE_PTA_COINSRNC_LBLTY_AM": "0", "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM": "0",
         "CLM_ADMSN_DT": "20100807", "NCH_BENE_DSCHRG_DT": "20100810", "ICD9_DGNS_CD_1": "95919"},
    ])
    conv = convert_desynpuf([ip])
    med = conv.tables["medical_claim"]
    assert _rows(med, [
        "claim_id", "claim_line_number", "claim_type", "bill_type_code", "plan",
        "claim_start_date", "claim_end_date", "admission_date", "discharge_date",
        "drg_code_type", "drg_code", "hcpcs_code", "rendering_npi", "facility_npi",
        "billing_npi", "paid_amount", "allowed_amount", "deductible_amount",
        "coinsurance_amount", "derived_columns"]) == [
        ("ip:5001", "1", "institutional", "111", "part a", "2009-02-08", "2009-02-10",
         "2009-02-08", "2009-02-10", "ms-drg", "494", "G0378", "1381846290", None, None,
         "13000", "14173.00", "1073.00", "100",
         "bill_type_code,plan,allowed_amount,deductible_amount"),
        ("ip:5001", "2", "institutional", "111", "part a", "2009-02-08", "2009-02-10",
         "2009-02-08", "2009-02-10", "ms-drg", "494", "99284", "1381846290", None, None,
         None, None, None, None, "bill_type_code,plan"),
        ("ip:5001", "46", "institutional", "111", "part a", "2009-02-08", "2009-02-10",
         None, None, "ms-drg", "494", None, None, None, None,
         "500", "500.00", "0", "0", "bill_type_code,plan,allowed_amount"),
        ("ip:5002", "1", "institutional", "111", "part a", "2010-08-07", "2010-08-07",
         "2010-08-07", "2010-08-10", None, None, None, None, None, None,
         "3000", "4100.00", "1100", "0", "bill_type_code,plan,claim_end_date,allowed_amount"),
    ]
    first = med.slice(0, 1).to_pylist()[0]
    assert [first[f"diagnosis_code_{i}"] for i in range(1, 12)] == [
        "71537", None, None, None, None, None, None, None, None, "4019", None]
    assert [first[f"procedure_code_{i}"] for i in range(1, 8)] == [
        "7869", None, None, None, None, "8154", None]
    assert (first["diagnosis_code_type"], first["procedure_code_type"]) == ("icd-9-cm",
                                                                            "icd-9-pcs")
    # the claim's lines sum to its two segments' CLM_PMT_AMT exactly
    assert sum(Decimal(r["paid_amount"]) for r in med.to_pylist()
               if r["claim_id"] == "ip:5001" and r["paid_amount"]) == Decimal("13500")
    assert _count(conv, ip) == Count(str(ip), "inpatient claim", 3, 3)
    assert any("1 claim rows are segment 2 or later" in n for n in conv.notes)
    how = {(d.table, d.column): d.rows for d in conv.derived}
    assert how == {("medical_claim", "bill_type_code"): 4, ("medical_claim", "plan"): 4,
                   ("medical_claim", "allowed_amount"): 3,
                   ("medical_claim", "deductible_amount"): 1,
                   ("medical_claim", "claim_end_date"): 1}


def test_outpatient_claims_are_type_of_bill_131_under_part_b(tmp_path: Path) -> None:
    op = _write(tmp_path / "DE1_0_2008_to_2010_Outpatient_Claims_Sample_9.csv", OUTPATIENT, [
        {"DESYNPUF_ID": "B1", "CLM_ID": "9001", "SEGMENT": "1", "CLM_FROM_DT": "20080404",
         "CLM_THRU_DT": "20080404", "PRVDR_NUM": "1513WQ", "CLM_PMT_AMT": "70.10",
         "AT_PHYSN_NPI": "2462820318", "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM": "0",
         "ICD9_DGNS_CD_1": "73603", "ICD9_DGNS_CD_2": "V1588", "NCH_BENE_PTB_DDCTBL_AMT": "15",
         "NCH_BENE_PTB_COINSRNC_AMT": "20.05", "ADMTNG_ICD9_DGNS_CD": "7384",
         "HCPCS_CD_1": "72114", "HCPCS_CD_2": "99282"},
    ])
    conv = convert_desynpuf([op])
    assert _rows(conv.tables["medical_claim"], [
        "claim_id", "claim_line_number", "claim_type", "bill_type_code", "plan",
        "admission_date", "hcpcs_code", "paid_amount", "allowed_amount", "deductible_amount",
        "coinsurance_amount", "diagnosis_code_1", "diagnosis_code_2", "diagnosis_code_11",
        "derived_columns"]) == [
        ("op:9001", "1", "institutional", "131", "part b", None, "72114", "70.10", "105.15",
         "15", "20.05", "73603", "V1588", None, "bill_type_code,plan,allowed_amount"),
        ("op:9001", "2", "institutional", "131", "part b", None, "99282", None, None,
         None, None, "73603", "V1588", None, "bill_type_code,plan"),
    ]
    assert _count(conv, op) == Count(str(op), "outpatient claim", 1, 1)


# --- prescription drug events -> pharmacy_claim ------------------------------------------


def test_pde_paid_is_total_cost_less_patient_pay(tmp_path: Path) -> None:
    rx = _write(tmp_path / "DE1_0_2008_to_2010_Prescription_Drug_Events_Sample_9.csv", PDE, [
        {"DESYNPUF_ID": "B1", "PDE_ID": "8001", "SRVC_DT": "20100330",
         "PROD_SRVC_ID": "61392018345", "QTY_DSPNSD_NUM": "30", "DAYS_SUPLY_NUM": "30",
         "PTNT_PAY_AMT": "10.40", "TOT_RX_CST_AMT": "270"},
        # the patient paid more than the total: a negative paid amount, kept (ingest warns)
        {"DESYNPUF_ID": "B2", "PDE_ID": "8002", "SRVC_DT": "20080407",
         "PROD_SRVC_ID": "53746022010", "QTY_DSPNSD_NUM": "30.5", "DAYS_SUPLY_NUM": "90",
         "PTNT_PAY_AMT": "20", "TOT_RX_CST_AMT": "10"},
        # no patient pay: paid cannot be derived
        {"DESYNPUF_ID": "B2", "PDE_ID": "8003", "SRVC_DT": "20080508",
         "PROD_SRVC_ID": "00093505601", "TOT_RX_CST_AMT": "45"},
    ])
    conv = convert_desynpuf([rx])
    assert _rows(conv.tables["pharmacy_claim"], [
        "claim_id", "claim_line_number", "person_id", "member_id", "payer", "plan",
        "dispensing_date", "ndc_code", "quantity", "days_supply", "paid_amount",
        "allowed_amount", "copayment_amount", "derived_columns"]) == [
        ("pde:8001", "1", "B1", "B1", "medicare", "part d", "2010-03-30", "61392018345", "30",
         "30", "259.60", "270", "10.40", "paid_amount,plan"),
        ("pde:8002", "1", "B2", "B2", "medicare", "part d", "2008-04-07", "53746022010",
         "30.5", "90", "-10.00", "10", "20", "paid_amount,plan"),
        ("pde:8003", "1", "B2", "B2", "medicare", "part d", "2008-05-08", "00093505601", None,
         None, None, "45", None, "plan"),
    ]
    assert _count(conv, rx) == Count(str(rx), "prescription drug event", 3, 3)


# --- beneficiary summary -> eligibility --------------------------------------------------


def _bene(id_: str, a: str, b: str, c: str, d: str, **more: str) -> dict[str, str]:
    return {"DESYNPUF_ID": id_, "BENE_BIRTH_DT": "19300101", "BENE_SEX_IDENT_CD": "2",
            "BENE_RACE_CD": "1", "BENE_ESRD_IND": "0", "SP_STATE_CODE": "10",
            "BENE_HI_CVRAGE_TOT_MONS": a, "BENE_SMI_CVRAGE_TOT_MONS": b,
            "BENE_HMO_CVRAGE_TOT_MONS": c, "PLAN_CVRG_MOS_NUM": d, **more}


def test_eligibility_spans_from_month_counts_clipped_at_death(tmp_path: Path) -> None:
    path = _write(tmp_path / "DE1_0_2009_Beneficiary_Summary_File_Sample_9.csv", BENE, [
        _bene("FULL", "12", "12", "0", "12"),
        # alive, part of the year: the year's last N months
        _bene("LATE", "5", "0", "0", "3"),
        # died 15 April: the N months ending in April, ending on the death date
        _bene("DIED", "12", "4", "0", "2", BENE_DEATH_DT="20090415"),
        _bene("NONE", "0", "0", "0", "0"),
        _bene("GONE", "12", "12", "0", "0", BENE_DEATH_DT="20081120"),
        _bene("LATER", "12", "0", "12", "0", BENE_DEATH_DT="20100301"),
        _bene("ESRD", "12", "0", "0", "0", BENE_BIRTH_DT="19700215", BENE_ESRD_IND="Y",
              BENE_SEX_IDENT_CD="1", SP_STATE_CODE="5"),
        _bene("YOUNG", "12", "0", "0", "0", BENE_BIRTH_DT="19700215", SP_STATE_CODE="54",
              BENE_SEX_IDENT_CD="0"),
        _bene("", "12", "12", "0", "12"),
        _bene("ODD", "13", "12", "0", "12"),
    ])
    conv = convert_desynpuf([path])
    elig = conv.tables["eligibility"]
    assert _rows(elig, ["person_id", "member_id", "plan", "enrollment_start_date",
                        "enrollment_end_date", "payer", "payer_type", "gender",
                        "medicare_status_code", "state", "death_date", "death_flag"]) == [
        ("FULL", "FULL", "part a", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", None, "0"),
        ("FULL", "FULL", "part b", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", None, "0"),
        ("FULL", "FULL", "part d", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", None, "0"),
        ("LATE", "LATE", "part a", "2009-08-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", None, "0"),
        ("LATE", "LATE", "part d", "2009-10-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", None, "0"),
        ("DIED", "DIED", "part a", "2009-01-01", "2009-04-15", "medicare", "medicare",
         "female", "10", "FL", "2009-04-15", "1"),
        ("DIED", "DIED", "part b", "2009-01-01", "2009-04-15", "medicare", "medicare",
         "female", "10", "FL", "2009-04-15", "1"),
        ("DIED", "DIED", "part d", "2009-03-01", "2009-04-15", "medicare", "medicare",
         "female", "10", "FL", "2009-04-15", "1"),
        ("LATER", "LATER", "part a", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", "2010-03-01", "1"),
        ("LATER", "LATER", "part c", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "female", "10", "FL", "2010-03-01", "1"),
        ("ESRD", "ESRD", "part a", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "male", "31", "CA", None, "0"),
        ("YOUNG", "YOUNG", "part a", "2009-01-01", "2009-12-31", "medicare", "medicare",
         "0", "20", "54", None, "0"),
    ]
    assert set(elig.column("derived_columns").to_pylist()) == {
        "enrollment_start_date,enrollment_end_date,medicare_status_code,death_flag"}
    assert set(elig.column("birth_date").to_pylist()) == {"1930-01-01", "1970-02-15"}
    c = _count(conv, path)
    assert (c.records_in, c.converted, c.quarantined, c.skipped) == (10, 6, 2, 2)
    assert c.skipped_reason == ("no months of Part A, B, C (HMO) or D coverage in 2009 (1); "
                                "died before 2009 (1)")
    assert [(r.location, r.rule, r.record_type) for r in conv.rejected] == [
        (9, "source_required_missing", "beneficiary summary row"),
        (10, "source_value_invalid", "beneficiary summary row"),
    ]
    assert json.loads(conv.rejected[1].raw)["BENE_HI_CVRAGE_TOT_MONS"] == "13"


def test_files_that_cannot_be_read_as_a_whole_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "beneficiaries.csv", BENE, [_bene("B1", "12", "12", "0", "12")])
    with pytest.raises(InputFileError, match="must carry its year"):
        convert_desynpuf([path])
    bad = tmp_path / "DE1_0_2008_to_2010_Carrier_Claims_Sample_9A.csv"
    bad.write_text('"DESYNPUF_ID","CLM_ID"\nB1,1\n', encoding="utf-8")
    with pytest.raises(MissingColumnsError, match="CLM_FROM_DT"):
        convert_desynpuf([bad])
    # a row with a field too many (an unquoted comma) is a broken file, refused whole, never
    # read with its values shifted into the next columns
    pde = tmp_path / "DE1_0_2008_to_2010_Prescription_Drug_Events_Sample_9.csv"
    pde.write_text(",".join(f'"{c}"' for c in PDE) + "\n"
                   "B1,1,20090101,00093505601,30,30,1,5\nB1,2,20090101,0009,30,30,1,5,00\n",
                   encoding="utf-8")
    with pytest.raises(InputFileError, match="not a readable DE-SynPUF CSV file"):
        convert_desynpuf([pde])


# --- records that cannot be placed -------------------------------------------------------


def test_rows_that_cannot_be_placed_are_rejected_and_the_rest_loads(tmp_path: Path) -> None:
    line = {"HCPCS_CD_1": "99213", "LINE_NCH_PMT_AMT_1": "40"}
    car = _write(tmp_path / "DE1_0_2008_to_2010_Carrier_Claims_Sample_9A.csv", CARRIER, [
        {"DESYNPUF_ID": "B1", "CLM_ID": "1", "CLM_FROM_DT": "20090101", **line},
        {"DESYNPUF_ID": "", "CLM_ID": "2", "CLM_FROM_DT": "20090101", **line},
        {"DESYNPUF_ID": "B1", "CLM_ID": "3", "CLM_FROM_DT": "", **line},
        {"DESYNPUF_ID": "B1", "CLM_ID": "4", "CLM_FROM_DT": "20090231", **line},
        {"DESYNPUF_ID": "B1", "CLM_ID": "", "CLM_FROM_DT": "20090101", **line},
    ], default=_carrier_zeros())
    ip = _write(tmp_path / "DE1_0_2008_to_2010_Inpatient_Claims_Sample_9.csv", INPATIENT, [
        {"DESYNPUF_ID": "B1", "CLM_ID": "7", "SEGMENT": "x", "CLM_FROM_DT": "20090101",
         "CLM_PMT_AMT": "100"},
        {"DESYNPUF_ID": "B1", "CLM_ID": "8", "SEGMENT": "", "CLM_FROM_DT": "20090101",
         "CLM_PMT_AMT": "200"},
    ])
    rx = _write(tmp_path / "DE1_0_2008_to_2010_Prescription_Drug_Events_Sample_9.csv", PDE, [
        {"DESYNPUF_ID": "B1", "PDE_ID": "", "SRVC_DT": "20090101", "TOT_RX_CST_AMT": "5"},
        {"DESYNPUF_ID": "B1", "PDE_ID": "9", "SRVC_DT": "2009-01-01", "TOT_RX_CST_AMT": "5"},
    ])
    (tmp_path / "README.txt").write_text("DE-SynPUF sample 9\n", encoding="utf-8")
    conv = convert_desynpuf([tmp_path])
    assert "ignored 1 files that are not DE-SynPUF: README.txt" in conv.notes
    got = [(Path(r.file_name).name, r.location, r.record_type, r.rule, r.reason)
           for r in conv.rejected]
    assert got == [
        (car.name, 2, "carrier claim", "source_required_missing", "no DESYNPUF_ID"),
        (car.name, 3, "carrier claim", "source_required_missing", "no CLM_FROM_DT"),
        (car.name, 4, "carrier claim", "source_value_invalid",
         "CLM_FROM_DT is not a YYYYMMDD day"),
        (car.name, 5, "carrier claim", "source_required_missing", "no CLM_ID"),
        (ip.name, 1, "inpatient claim", "source_value_invalid",
         "SEGMENT is not a positive whole number"),
        (rx.name, 1, "prescription drug event", "source_required_missing", "no PDE_ID"),
        (rx.name, 2, "prescription drug event", "source_value_invalid",
         "SRVC_DT is not a YYYYMMDD day"),
    ]
    raw = json.loads(conv.rejected[0].raw)
    assert (raw["DESYNPUF_ID"], raw["CLM_ID"], raw["HCPCS_CD_1"], raw["LINE_NCH_PMT_AMT_1"]) == (
        None, "2", "99213", "40")
    assert json.loads(conv.rejected[4].raw)["SEGMENT"] == "x"
    assert _rows(conv.tables["medical_claim"], ["claim_id", "claim_line_number",
                                                "paid_amount"]) == [
        ("car:1", "1", "40"), ("ip:8", "1", "200")]
    assert conv.tables["pharmacy_claim"].num_rows == 0
    counts = {Path(c.file_name).name: (c.records_in, c.converted, c.quarantined, c.skipped)
              for c in conv.counts}
    assert counts == {car.name: (5, 1, 4, 0), ip.name: (2, 1, 1, 0), rx.name: (2, 0, 2, 0)}
    assert conv.balanced()


# --- the real DE_0 sample -----------------------------------------------------------------


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _nonzero(text: str) -> bool:
    return text.strip() != "" and Decimal(text) != 0


def _dec(table: pa.Table, col: str) -> Decimal:
    return sum((Decimal(v) for v in table.column(col).to_pylist() if v is not None),
               Decimal(0))


def test_the_real_de_0_sample_converts_with_its_counts_and_sums(shared_data: Path) -> None:
    folder = shared_data / FIXTURE
    files = {p.name: p for p in folder.iterdir()}
    layouts = {"Beneficiary": BENE, "Inpatient": INPATIENT, "Outpatient": OUTPATIENT,
               "Carrier": CARRIER, "Prescription": PDE}
    for name, path in files.items():
        (kind,) = [k for k in layouts if f"_{k}_" in name]
        with path.open(encoding="utf-8", newline="") as f:
            assert next(csv.reader(f)) == layouts[kind], name  # our test layouts are CMS's
    conv = convert_desynpuf([folder])
    assert conv.balanced()
    assert conv.rejected == ()
    raw = {name: _csv(path) for name, path in files.items()}
    assert {Path(c.file_name).name: c.records_in for c in conv.counts} == {
        n: len(rows) for n, rows in raw.items()}

    # eligibility: one span per beneficiary x year x part with months > 0 (alive that year)
    spans = 0
    for name, rows in raw.items():
        if "_Beneficiary_" in name:
            year = int(name.split("_")[2])
            for r in rows:
                alive = r["BENE_DEATH_DT"] == "" or int(r["BENE_DEATH_DT"][:4]) >= year
                spans += sum(alive and int(r[c]) > 0 for c in (
                    "BENE_HI_CVRAGE_TOT_MONS", "BENE_SMI_CVRAGE_TOT_MONS",
                    "BENE_HMO_CVRAGE_TOT_MONS", "PLAN_CVRG_MOS_NUM"))
    assert conv.tables["eligibility"].num_rows == spans

    # medical lines: institutional max(1, HCPCS given); carrier lines with anything in them
    lines, paid, allowed_carrier = 0, Decimal(0), Decimal(0)
    for name, rows in raw.items():
        for r in rows:
            if "_Inpatient_" in name or "_Outpatient_" in name:
                lines += max(1, sum(r[f"HCPCS_CD_{i}"].strip() != "" for i in range(1, 46)))
                paid += Decimal(r["CLM_PMT_AMT"])
            elif "_Carrier_" in name:
                for n in range(1, 14):
                    texts = ("HCPCS_CD", "PRF_PHYSN_NPI", "TAX_NUM", "LINE_ICD9_DGNS_CD",
                             "LINE_PRCSG_IND_CD")
                    amounts = ("LINE_NCH_PMT_AMT", "LINE_BENE_PTB_DDCTBL_AMT",
                               "LINE_BENE_PRMRY_PYR_PD_AMT", "LINE_COINSRNC_AMT",
                               "LINE_ALOWD_CHRG_AMT")
                    if (any(r[f"{t}_{n}"].strip() for t in texts)
                            or any(_nonzero(r[f"{a}_{n}"]) for a in amounts)):
                        lines += 1
                    paid += Decimal(r[f"LINE_NCH_PMT_AMT_{n}"] or "0")
                    allowed_carrier += Decimal(r[f"LINE_ALOWD_CHRG_AMT_{n}"] or "0")
    med = conv.tables["medical_claim"]
    assert med.num_rows == lines
    assert _dec(med, "paid_amount") == paid
    carrier = med.filter(pc.equal(med.column("claim_type"), "professional"))
    assert _dec(carrier, "allowed_amount") == allowed_carrier
    keys = list(zip(med.column("claim_id").to_pylist(),
                    med.column("claim_line_number").to_pylist(), strict=True))
    assert len(set(keys)) == len(keys)

    # pharmacy: one line per PDE, paid = total cost - patient pay
    pde = next(rows for name, rows in raw.items() if "_Prescription_" in name)
    rx = conv.tables["pharmacy_claim"]
    assert rx.num_rows == len(pde)
    assert _dec(rx, "paid_amount") == sum(
        (Decimal(r["TOT_RX_CST_AMT"]) - Decimal(r["PTNT_PAY_AMT"]) for r in pde), Decimal(0))
    assert _dec(rx, "allowed_amount") == sum((Decimal(r["TOT_RX_CST_AMT"]) for r in pde),
                                             Decimal(0))


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[Warehouse]:
    w = medsynergy.connect(tmp_path / "wh.duckdb")
    yield w
    w.close()


def test_the_real_sample_loads_and_feeds_the_marts(wh: Warehouse, shared_data: Path) -> None:
    folder = shared_data / FIXTURE
    got = ingest_format(wh, [folder], source="synpuf", source_format="desynpuf")
    assert got.status == "loaded"
    # every converted row is valid input-layer text: nothing is quarantined on load
    assert {r.target_table: (r.rows_in, r.rows_quarantined) for r in got.tables} == {
        "eligibility": (21, 0), "medical_claim": (10, 0), "pharmacy_claim": (2, 0)}
    wh.publish(publish_plan([m for m in MARTS if m.persist], wh.table))
    raw = {p.name: _csv(p) for p in folder.iterdir()}
    spend, stays = Decimal(0), 0
    for name, rows in raw.items():
        for r in rows:
            if "_Inpatient_" in name or "_Outpatient_" in name:
                spend += Decimal(r["CLM_PMT_AMT"])
                stays += "_Inpatient_" in name
            elif "_Carrier_" in name:
                spend += sum((Decimal(r[f"LINE_NCH_PMT_AMT_{n}"]) for n in range(1, 14)),
                             Decimal(0))
            elif "_Prescription_" in name:
                spend += Decimal(r["TOT_RX_CST_AMT"]) - Decimal(r["PTNT_PAY_AMT"])
    sql = wh.raw.execute  # type: ignore[attr-defined]
    # each claim file's plan (part a / b / d) is a plan of the eligibility spans, so every
    # dollar finds its member-month and nothing is costed outside enrollment
    assert sql("SELECT count(*) FROM cost_outside_enrollment").fetchall() == [(0,)]
    assert sql("SELECT sum(paid_amount) FROM member_spend WHERE level = 'category'"
               ).fetchall() == [(spend,)]
    assert sql("SELECT count(*) FROM inpatient_stays").fetchall() == [(stays,)]


# --- scale --------------------------------------------------------------------------------


def test_a_200k_row_carrier_file_converts_set_based(tmp_path: Path) -> None:
    """Row i has lines 1 .. i % 13 + 1 (the rest zeros and blanks, as the SynPUF fills them);
    line n pays (i % 97 + n).25. Expected counts and sums come from that rule, not from the
    converter. The time is printed (pytest -s) and recorded in docs/formats_desynpuf.md."""
    n_rows = 200_000
    path = tmp_path / "DE1_0_2008_to_2010_Carrier_Claims_Sample_99A.csv"

    def expr(col: str) -> str:
        if col == "DESYNPUF_ID":
            return "printf('%016X', i)"
        if col == "CLM_ID":
            return "CAST(i AS VARCHAR)"
        if col in ("CLM_FROM_DT", "CLM_THRU_DT"):
            return "'20090115'"
        if col.startswith("ICD9_DGNS_CD_"):
            return "'4019'" if col.endswith("_1") else "''"
        group, n = col.rsplit("_", 1)
        value = {"PRF_PHYSN_NPI": "'1234567893'", "TAX_NUM": "'123456789'",
                 "HCPCS_CD": "'99213'", "LINE_PRCSG_IND_CD": "'A'", "LINE_ICD9_DGNS_CD": "'4019'",
                 "LINE_NCH_PMT_AMT": f"CAST(i % 97 + {n} AS VARCHAR) || '.25'"}.get(group, "'0'")
        empty = "'0'" if group.endswith("_AMT") else "''"
        return f"CASE WHEN {n} <= i % 13 + 1 THEN {value} ELSE {empty} END"

    select = ", ".join(f'{expr(c)} AS "{c}"' for c in CARRIER)
    duckdb.connect().execute(f"COPY (SELECT {select} FROM range({n_rows}) r(i) ORDER BY i) "
                             f"TO '{path}' (HEADER, DELIMITER ',')")
    started = time.perf_counter()
    conv = convert_desynpuf([path])
    seconds = time.perf_counter() - started
    print(f"\nDE-SynPUF carrier: {n_rows} rows -> "
          f"{conv.tables['medical_claim'].num_rows} lines in {seconds:.2f} s")
    expected_lines = sum(i % 13 + 1 for i in range(n_rows))
    expected_paid = sum((Decimal(i % 97 + n) + Decimal("0.25")
                         for i in range(n_rows) for n in range(1, i % 13 + 2)), Decimal(0))
    med = conv.tables["medical_claim"]
    assert med.num_rows == expected_lines
    assert _dec(med, "paid_amount") == expected_paid
    assert conv.counts == (Count(str(path), "carrier claim", n_rows, n_rows),)
    assert seconds < 60  # about 3-4 s on 2 cores; far above means a per-row path crept in
