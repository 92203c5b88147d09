"""Fixtures of the Spark parity suite: one SparkSession per test run, input files with
every kind of row the ingest distinguishes (see docs/ingest.md)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pyspark = pytest.importorskip("pyspark")

from medsynergy.engine.spark_engine import SparkWarehouse, local_session  # noqa: E402


@pytest.fixture(scope="session")
def spark_session() -> object:
    """The one local SparkSession of the run (JVM start ~5-15 s, paid once).

    Made by the engine's own `local_session()`, so it has the warehouse's settings; each
    SparkWarehouse then works in a `newSession()` of it (own temporary views, same JVM).
    """
    return local_session()


@pytest.fixture
def spark_wh(spark_session: object, tmp_path: Path) -> Iterator[SparkWarehouse]:
    wh = SparkWarehouse(tmp_path / "wh.spark")
    try:
        yield wh
    finally:
        wh.close()


# -- input files -----------------------------------------------------------------------------

def npi(prefix9: str) -> str:
    """A valid NPI: the 9 digits and their Luhn check digit (prefix 80840, NPPES)."""
    total = 24
    for i, ch in enumerate(prefix9):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return prefix9 + str((10 - total % 10) % 10)


GOOD_NPI = npi("123456789")  # 1234567893, the NPPES example
GOOD_NPI_2 = npi("198765432")
BAD_NPI = "1234567890"  # wrong check digit


def write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="raise")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})
    return path


ELIGIBILITY_HEADER = [
    "person_id", "member_id", "subscriber_id", "gender", "race", "birth_date", "death_date",
    "death_flag", "enrollment_start_date", "enrollment_end_date", "payer", "payer_type", "plan",
    "first_name", "last_name", "zip_code", "file_date",
]


def eligibility_rows() -> list[dict[str, str]]:
    base = {"member_id": "M1", "gender": "female", "race": "white", "birth_date": "1950-03-04",
            "death_flag": "0", "enrollment_start_date": "2024-01-01",
            "enrollment_end_date": "2024-12-31", "payer": "medicare", "payer_type": "medicare",
            "plan": "FFS", "file_date": "2025-01-15"}
    return [
        {**base, "person_id": "P1", "first_name": "Zoë", "last_name": "O'Brien, Jr."},
        # null plan is part of the key: null-safe matching of the key
        {**base, "person_id": "P2", "member_id": "M2", "plan": "", "birth_date": "19470812",
         "zip_code": " 97201 "},
        {**base, "person_id": "P3", "member_id": "M3", "plan": "\tMA HMO ",
         "birth_date": "1950-02-30", "death_flag": "1.0", "death_date": "2024-06-30"},  # value_unparsable
        {**base, "person_id": "P4", "member_id": "M4", "death_flag": "yes"},  # value_unparsable
        # exact copy -> duplicate_row (the first loads)
        {**base, "person_id": "P5", "member_id": "M5"},
        {**base, "person_id": "P5", "member_id": "M5"},
        # same key, different contents -> duplicate_key (both quarantined)
        {**base, "person_id": "P6", "member_id": "M6", "gender": "male"},
        {**base, "person_id": "P6", "member_id": "M6", "gender": "female"},
        {**base, "person_id": "P7", "member_id": "M7", "enrollment_end_date": "2023-12-31"},  # end before start
        {**base, "person_id": "", "member_id": "M8"},  # required_missing
        {**base, "person_id": "P9", "member_id": "M9", "enrollment_start_date": "2024-13-01"},  # unparsable
        {**base, "person_id": "P10", "member_id": "M10", "enrollment_start_date": "2024-07-01T00:00:00",
         "enrollment_end_date": "20241231", "payer": "acme", "payer_type": "commercial",
         "plan": "PPO"},
        # a second span of P1 with another payer, plan null
        {**base, "person_id": "P1", "payer": "acme", "plan": "", "payer_type": "commercial",
         "enrollment_start_date": "2023-01-01", "enrollment_end_date": "2023-12-31"},
    ]


MEDICAL_HEADER = [
    "claim_id", "claim_line_number", "claim_type", "person_id", "member_id", "payer", "plan",
    "claim_start_date", "claim_end_date", "admission_date", "discharge_date",
    "service_unit_quantity", "hcpcs_code", "rendering_npi", "billing_npi", "paid_date",
    "paid_amount", "allowed_amount", "charge_amount", "diagnosis_code_type", "diagnosis_code_1",
    "diagnosis_code_2", "procedure_code_type", "procedure_code_1", "procedure_date_1",
    "in_network_flag", "adjustment_type_code", "adjustment_sequence_number", "file_date",
]


def medical_rows() -> list[dict[str, str]]:
    base = {"claim_line_number": "1", "claim_type": "professional", "person_id": "P1",
            "member_id": "M1", "payer": "medicare", "plan": "FFS",
            "claim_start_date": "2024-01-05", "claim_end_date": "2024-01-05",
            "service_unit_quantity": "1", "hcpcs_code": "99213", "rendering_npi": GOOD_NPI,
            "billing_npi": GOOD_NPI_2, "paid_date": "2024-01-20", "paid_amount": "100.00",
            "allowed_amount": "120.00", "charge_amount": "300.00",
            "diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "E11.9",
            "in_network_flag": "1"}
    return [
        # C1: original then an adjustment paid later -> final is the adjustment
        {**base, "claim_id": "C1"},
        {**base, "claim_id": "C1", "paid_date": "2024-02-20", "paid_amount": "110.00",
         "adjustment_type_code": "adjustment"},
        {**base, "claim_id": "C1", "claim_line_number": "2", "hcpcs_code": "36415",
         "paid_amount": "3.50", "allowed_amount": "4.00"},
        # C2: original then a reversal (negated amounts) -> no final row
        {**base, "claim_id": "C2", "person_id": "P2", "claim_start_date": "2024-02-03",
         "claim_end_date": "2024-02-03", "paid_amount": "80.00"},
        {**base, "claim_id": "C2", "person_id": "P2", "claim_start_date": "2024-02-03",
         "claim_end_date": "2024-02-03", "paid_date": "2024-03-01", "paid_amount": "-80.00",
         "adjustment_type_code": "1"},
        # C3: same paid date, ordered by adjustment sequence (a missing one is older)
        {**base, "claim_id": "C3", "adjustment_sequence_number": "2", "paid_amount": "30.00"},
        {**base, "claim_id": "C3", "adjustment_sequence_number": "", "paid_amount": "10.00"},
        {**base, "claim_id": "C3", "adjustment_sequence_number": "1.0", "paid_amount": "20.00"},
        # C7: a version without a paid date is older than any with one
        {**base, "claim_id": "C7", "paid_date": "2024-01-09", "paid_amount": "70.00",
         "adjustment_type_code": "a"},
        {**base, "claim_id": "C7", "paid_date": "", "paid_amount": "60.00"},
        # C4: exact copies -> duplicate_row; C5: conflicting contents -> duplicate_key
        {**base, "claim_id": "C4", "paid_amount": "12.34"},
        {**base, "claim_id": "C4", "paid_amount": "12.34"},
        {**base, "claim_id": "C5", "paid_amount": "1.00"},
        {**base, "claim_id": "C5", "paid_amount": "2.00"},
        # errors
        {**base, "claim_id": "E1", "claim_end_date": "2024-01-01"},  # end before start
        {**base, "claim_id": "E2", "claim_type": "institutional", "admission_date": "2024-01-05",
         "discharge_date": "2024-01-02"},  # discharge before admission
        {**base, "claim_id": "E3", "paid_amount": "$5.00"},
        {**base, "claim_id": "E4", "paid_amount": "1,000.00"},
        {**base, "claim_id": "E5", "allowed_amount": "NaN"},
        {**base, "claim_id": "E6", "paid_amount": "12345678901234567.00"},  # overflows (18,2)
        {**base, "claim_id": ""},  # required_missing
        {**base, "claim_id": "E8", "claim_line_number": "1.5"},  # required_unparsable
        {**base, "claim_id": "E9", "claim_start_date": "2024-02-30", "person_id": "",
         "paid_amount": "1e5"},  # several rules at once
        # warnings (the rows load)
        {**base, "claim_id": "W1", "rendering_npi": BAD_NPI, "billing_npi": "12345"},
        {**base, "claim_id": "W2", "diagnosis_code_1": "XX", "diagnosis_code_2": "i10"},
        {**base, "claim_id": "W3", "diagnosis_code_type": "ICD-9-CM", "diagnosis_code_1": "250.00",
         "diagnosis_code_2": "E11.9"},
        {**base, "claim_id": "W4", "claim_type": "institutional", "procedure_code_type": "icd-10-pcs",
         "procedure_code_1": "0DTJ4ZZ", "procedure_date_1": "2024-01-05",
         "admission_date": "2024-01-05", "discharge_date": "2024-01-07"},
        {**base, "claim_id": "W5", "procedure_code_type": "icd-10-pcs", "procedure_code_1": "0DTJ",
         "procedure_date_1": "soon"},
        {**base, "claim_id": "W6", "paid_amount": "10.005", "allowed_amount": "-0.125",
         "charge_amount": "99999999999999.99"},
        {**base, "claim_id": "W7", "paid_amount": "-5.00"},  # negative, not a reversal
        {**base, "claim_id": "W8", "adjustment_type_code": "weird", "service_unit_quantity": "abc"},
        {**base, "claim_id": "W9", "service_unit_quantity": "2.0005", "in_network_flag": "x",
         "paid_date": "", "paid_amount": ".5", "allowed_amount": "+7.", "charge_amount": "  9  "},
        {**base, "claim_id": "W10", "person_id": "P3", "payer": "", "claim_start_date": "20240315",
         "claim_end_date": "2024-03-16 10:30:00", "service_unit_quantity": "1.2345"},
        {**base, "claim_id": "W11", "person_id": "P10", "payer": "acme",
         "claim_start_date": "2024-03-31", "claim_end_date": "2024-04-02",
         "hcpcs_code": 'multi "quoted", text\nwith a newline'},
    ]


def medical_parquet_table() -> pa.Table:
    """A later file: typed Parquet columns, versions of claims loaded from the CSV."""
    rows = [
        # C1 adjusted again (later paid date): replaces the CSV's final row
        ("C1", 1, "P1", "2024-01-05", "2024-03-10", Decimal("115.00"), "adjustment", None),
        # C1 line 2 reversed -> no final row, CSV's row 'reversed'
        ("C1", 2, "P1", "2024-01-05", "2024-03-10", Decimal("-3.50"), "reversal", None),
        # the same version of C3 as already loaded -> duplicate_key against the warehouse
        ("C3", 1, "P1", "2024-01-05", "2024-01-20", Decimal("30.00"), None, 2),
        # a new claim, and its exact copy -> duplicate_row
        ("C6", 1, "P2", "2024-05-01", "2024-05-09", Decimal("42.42"), "original", None),
        ("C6", 1, "P2", "2024-05-01", "2024-05-09", Decimal("42.42"), "original", None),
        # the CSV's conflicting C5 arrives again, once: it loads now
        ("C5", 1, "P1", "2024-01-05", "2024-01-20", Decimal("2.00"), None, None),
    ]
    cols = list(zip(*rows, strict=True))
    return pa.table({
        "claim_id": pa.array(cols[0], pa.string()),
        "claim_line_number": pa.array(cols[1], pa.int32()),
        "person_id": pa.array(cols[2], pa.string()),
        "claim_start_date": pa.array([pa.scalar(v).cast(pa.date32()).as_py() for v in cols[3]],
                                     pa.date32()),
        "claim_end_date": pa.array(cols[3], pa.string()),
        "paid_date": pa.array([pa.scalar(v).cast(pa.date32()).as_py() for v in cols[4]],
                              pa.date32()),
        "paid_amount": pa.array(cols[5], pa.decimal128(12, 2)),
        "adjustment_type_code": pa.array(cols[6], pa.string()),
        "adjustment_sequence_number": pa.array(cols[7], pa.int64()),
        "payer": pa.array(["medicare"] * len(rows), pa.string()),
        "plan": pa.array(["FFS"] * len(rows), pa.string()),
        "member_id": pa.array(["M1"] * len(rows), pa.string()),
        "claim_type": pa.array(["professional"] * len(rows), pa.string()),
        "service_unit_quantity": pa.array([1.5] * len(rows), pa.float64()),
        "hcpcs_code": pa.array(["99213"] * len(rows), pa.string()),
        "rendering_npi": pa.array([GOOD_NPI] * len(rows), pa.string()),
        "billing_npi": pa.array([GOOD_NPI_2] * len(rows), pa.string()),
        "allowed_amount": pa.array([Decimal("120.00")] * len(rows), pa.decimal128(12, 2)),
        "charge_amount": pa.array([Decimal("300.00")] * len(rows), pa.decimal128(12, 2)),
        "diagnosis_code_type": pa.array(["icd-10-cm"] * len(rows), pa.string()),
        "diagnosis_code_1": pa.array(["E11.9"] * len(rows), pa.string()),
        "in_network_flag": pa.array([1] * len(rows), pa.int64()),
    })


PHARMACY_HEADER = [
    "claim_id", "claim_line_number", "person_id", "member_id", "payer", "plan",
    "prescribing_provider_npi", "dispensing_provider_npi", "dispensing_date", "ndc_code",
    "quantity", "days_supply", "refills", "paid_date", "paid_amount", "allowed_amount",
    "copayment_amount", "in_network_flag", "adjustment_type_code",
]


def pharmacy_rows() -> list[dict[str, str]]:
    base = {"claim_line_number": "1", "person_id": "P1", "member_id": "M1", "payer": "medicare",
            "plan": "FFS", "prescribing_provider_npi": GOOD_NPI,
            "dispensing_provider_npi": GOOD_NPI_2, "dispensing_date": "2024-01-02",
            "quantity": "30", "days_supply": "30", "refills": "0", "paid_date": "2024-01-10",
            "paid_amount": "8.66", "allowed_amount": "8.66", "copayment_amount": "0.00",
            "in_network_flag": "1"}
    return [
        {**base, "claim_id": "R1", "ndc_code": "0093-0149-01"},  # 4-4-2
        {**base, "claim_id": "R2", "ndc_code": "00093-149-01"},  # 5-3-2
        {**base, "claim_id": "R3", "ndc_code": "00093-0149-1"},  # 5-4-1
        {**base, "claim_id": "R4", "ndc_code": "00093-0149-01"},  # 5-4-2
        {**base, "claim_id": "R5", "ndc_code": "00093014901", "quantity": "12.5"},
        {**base, "claim_id": "R6", "ndc_code": "0093014901"},  # 10 digits: ambiguous -> ndc_invalid
        {**base, "claim_id": "R7", "ndc_code": "abc-defg-hi", "prescribing_provider_npi": BAD_NPI},
        {**base, "claim_id": "R8", "ndc_code": " 0093 - 0149 - 01 ", "quantity": "0.3333"},
        {**base, "claim_id": "R9", "dispensing_date": "", "ndc_code": "00093014901"},  # required_missing
        {**base, "claim_id": "R10", "ndc_code": "00093014901", "paid_amount": "-8.66",
         "paid_date": "2024-01-20", "adjustment_type_code": "reversal"},
        {**base, "claim_id": "R10", "ndc_code": "00093014901"},
        {**base, "claim_id": "R11", "ndc_code": "00093014901", "days_supply": "thirty",
         "refills": "2"},
    ]


PROVIDER_HEADER = ["npi", "tin", "provider_name", "entity_type", "specialty", "taxonomy_code",
                   "primary_care_flag", "organization_id", "organization_name", "data_source"]


def provider_rows() -> list[dict[str, str]]:
    return [
        {"npi": GOOD_NPI, "tin": "111111111", "provider_name": "Dr. Ana Muñoz",
         "entity_type": "individual", "specialty": "family medicine",
         "taxonomy_code": "207Q00000X", "primary_care_flag": "1", "organization_id": "ORG1",
         "organization_name": "Riverside", "data_source": "payer_a"},
        {"npi": GOOD_NPI_2, "tin": "222222222", "provider_name": "Harbor Acupuncture",
         "entity_type": "organization", "specialty": "acupuncture", "primary_care_flag": "0",
         "data_source": "payer_a"},
        {"npi": BAD_NPI, "provider_name": "Bad NPI", "primary_care_flag": "0",
         "data_source": "payer_a"},  # npi_invalid is a warning
        {"npi": GOOD_NPI, "tin": "111111111", "provider_name": "Dr. Ana Muñoz (other feed)",
         "primary_care_flag": "1", "data_source": "payer_b"},
        {"npi": "", "provider_name": "No NPI", "data_source": "payer_a"},  # required_missing
        {"npi": GOOD_NPI_2, "provider_name": "Harbor dup", "data_source": "payer_a"},  # duplicate_key
    ]


def eligibility_update_rows() -> list[dict[str, str]]:
    """A later eligibility file: tables without version columns keep the latest load."""
    rows = eligibility_rows()
    p2 = {**rows[1], "gender": "male"}  # key with a null plan: must replace, not duplicate
    p1_acme = {**rows[-1], "enrollment_end_date": "2023-06-30"}  # null plan again
    p11 = {**rows[0], "person_id": "P11", "member_id": "M11"}
    return [p2, p1_acme, p11]


OBSERVATION_HEADER = ["observation_id", "person_id", "observation_date", "observation_type",
                      "source_code_type", "source_code", "source_description", "result",
                      "source_units"]


def observation_rows(result: str = "14") -> list[dict[str, str]]:
    base = {"observation_type": "survey", "source_code_type": "loinc", "source_units": "{score}"}
    return [
        base | {"observation_id": "O1", "person_id": "P1", "observation_date": "2024-03-05",
                "source_code": "71972-4", "source_description": "PROMIS-10 GPH raw",
                "result": result},
        base | {"observation_id": "O2", "person_id": "P1", "observation_date": "2024-03-05",
                "source_code": "71970-8", "source_description": "PROMIS-10 GMH raw",
                "result": "12"},
        base | {"observation_id": "O3", "person_id": "P2", "observation_date": "",
                "source_code": "71972-4", "source_description": "PROMIS-10 GPH raw",
                "result": "9"},
    ]


def write_inputs(folder: Path) -> dict[str, Path]:
    """The input files of the parity suite, in the order they load."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "eligibility": write_csv(folder / "eligibility.csv", ELIGIBILITY_HEADER, eligibility_rows()),
        "medical_claim": write_csv(folder / "medical_claim.csv", MEDICAL_HEADER, medical_rows()),
        "medical_claim_2": folder / "medical_claim_2.parquet",
        "pharmacy_claim": write_csv(folder / "pharmacy_claim.csv", PHARMACY_HEADER, pharmacy_rows()),
        "provider": write_csv(folder / "provider.csv", PROVIDER_HEADER, provider_rows()),
        "eligibility_2": write_csv(folder / "eligibility_2.csv", ELIGIBILITY_HEADER,
                                   eligibility_update_rows()),
        "observation": write_csv(folder / "observation.csv", OBSERVATION_HEADER,
                                 observation_rows()),
        "observation_2": write_csv(folder / "observation_2.csv", OBSERVATION_HEADER,
                                   observation_rows("15")[:1]),
    }
    pq.write_table(medical_parquet_table(), files["medical_claim_2"])
    return files


@pytest.fixture(scope="session")
def input_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_inputs(tmp_path_factory.mktemp("inputs"))
