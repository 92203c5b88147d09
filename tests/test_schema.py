"""The schema is defined once; its generated documentation must not go stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsynergy.schema import ALL_TABLES, MEDICAL_CLAIM, OBSERVATION, PHARMACY_CLAIM, table
from medsynergy.schema.docs import render_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_docs_schema_md_is_generated_from_the_code() -> None:
    on_disk = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert on_disk == render_markdown(), "docs/schema.md is stale: run `make docs`"


def test_medical_claim_has_the_tuva_input_layer_columns_and_key() -> None:
    names = MEDICAL_CLAIM.column_names
    assert MEDICAL_CLAIM.key == ("claim_id", "claim_line_number", "data_source")
    for i in range(1, 26):
        assert f"diagnosis_code_{i}" in names
        assert f"procedure_code_{i}" in names
        assert f"diagnosis_poa_{i}" in names
    assert [f"hcpcs_modifier_{i}" for i in range(1, 6)] == [n for n in names if n.startswith("hcpcs_modifier_")]
    for col in ("paid_amount", "allowed_amount", "charge_amount", "coinsurance_amount",
                "copayment_amount", "deductible_amount"):
        assert MEDICAL_CLAIM.column(col).sql_type == "DECIMAL(18,2)"
        assert PHARMACY_CLAIM.column(col).sql_type == "DECIMAL(18,2)"
    for col in ("admission_date", "discharge_date", "discharge_disposition_code", "bill_type_code",
                "revenue_center_code", "place_of_service_code", "drg_code", "rendering_npi",
                "billing_npi", "billing_tin", "facility_npi"):
        assert col in names


def test_observation_has_the_tuva_input_layer_columns_and_key() -> None:
    tuva = ("observation_id", "person_id", "patient_id", "encounter_id", "panel_id",
            "observation_date", "observation_type", "source_code_type", "source_code",
            "source_description", "normalized_code_type", "normalized_code",
            "normalized_description", "result", "source_units", "normalized_units",
            "source_reference_range_low", "source_reference_range_high",
            "normalized_reference_range_low", "normalized_reference_range_high")
    lineage = ("data_source", "file_name", "file_date", "ingest_datetime", "load_id", "row_number")
    assert OBSERVATION.column_names == (*tuva, *lineage)
    assert OBSERVATION.key == ("observation_id", "data_source")
    assert OBSERVATION.required_input_columns == ("observation_id", "person_id", "observation_date")
    assert OBSERVATION.column("observation_date").sql_type == "DATE"
    assert OBSERVATION.column("result").sql_type == "VARCHAR"
    assert table("observation_superseded").column_names == (
        *OBSERVATION.column_names, "superseded_reason")


def test_every_table_carries_lineage() -> None:
    for t in ALL_TABLES:
        if t.name in ("load_log", "quarantine", "dq_finding"):
            assert "load_id" in t.column_names
            continue
        for col in ("data_source", "file_name", "load_id"):
            assert col in t.column_names, (t.name, col)


def test_unknown_table_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known: eligibility, medical_claim"):
        table("claims")
