"""Exact facts in the payment, DRG, PROMIS and extended NDC reference tables."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from medsynergy import refdata

ICD10CM = re.compile(r"^[A-TV-Z][0-9][0-9A-Z]{1,5}$")
ICD10PCS = re.compile(r"^[0-9A-HJ-NP-Z]{7}$")

SCHEMAS = {
    "service_prices": {
        "hcpcs_code": pa.string(),
        "setting": pa.string(),
        "description": pa.string(),
        "category": pa.string(),
        "approx_allowed_usd": pa.float64(),
        "basis": pa.string(),
    },
    "medicare_rates": {
        "item": pa.string(),
        "year": pa.int32(),
        "amount_usd": pa.float64(),
        "unit": pa.string(),
        "description": pa.string(),
        "source": pa.string(),
    },
    "ms_drg": {
        "drg_code": pa.string(),
        "description": pa.string(),
        "mdc": pa.string(),
        "drg_type": pa.string(),
        "relative_weight": pa.float64(),
        "geometric_mean_los": pa.float64(),
        "arithmetic_mean_los": pa.float64(),
        "medicare_discharges": pa.int32(),
        "principal_dx_icd10": pa.string(),
        "principal_pcs": pa.string(),
    },
    "promis_global_health": {
        "scale": pa.string(),
        "raw_score": pa.int32(),
        "t_score": pa.float64(),
        "standard_error": pa.float64(),
    },
}
ROWS = {"service_prices": 120, "medicare_rates": 33, "ms_drg": 50, "promis_global_health": 34}


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_table_loads_with_declared_types_and_row_count(name: str) -> None:
    table = refdata.load(name)
    assert {f.name: f.type for f in table.schema} == SCHEMAS[name]
    assert table.num_rows == ROWS[name]
    assert any(n == name and src for n, _, src in refdata.available())


def test_service_prices_are_pfs_amounts_at_the_2024_conversion_factor() -> None:
    rows = refdata.load("service_prices").to_pylist()
    keys = [(r["hcpcs_code"], r["setting"]) for r in rows]
    assert len(set(keys)) == len(keys)
    by = {(r["hcpcs_code"], r["setting"]): r for r in rows}
    assert by[("99213", "office")]["approx_allowed_usd"] == 90.87
    assert by[("99214", "office")]["approx_allowed_usd"] == 128.16
    assert by[("99285", "facility")]["approx_allowed_usd"] == 173.10
    assert by[("90960", "office")]["approx_allowed_usd"] == 349.52
    assert by[("G0438", "office")]["approx_allowed_usd"] == 165.44
    assert by[("G0439", "office")]["approx_allowed_usd"] == 130.15
    assert by[("20610", "office")]["approx_allowed_usd"] == 65.24
    assert by[("64483", "office")]["approx_allowed_usd"] == 246.33
    assert by[("93000", "office")]["approx_allowed_usd"] == 14.31
    # third pass, read from the same PPRRVU24_OCT JSON
    assert by[("17311", "office")]["approx_allowed_usd"] == 680.73
    assert by[("99497", "office")]["approx_allowed_usd"] == 81.89
    assert by[("27447", "facility")]["approx_allowed_usd"] == 1283.90
    assert by[("22630", "facility")]["approx_allowed_usd"] == 1577.49
    assert by[("64483", "facility")]["approx_allowed_usd"] == 110.51
    assert by[("74177", "facility_26")]["approx_allowed_usd"] == 84.88
    assert by[("72148", "facility_26")]["approx_allowed_usd"] == 69.57
    settings = {
        "office",
        "facility",
        "facility_26",
        "opps",
        "clfs",
        "asp",
        "dmepos",
        "ambulance",
        "assumption",
    }
    for r in rows:
        assert r["setting"] in settings
        # a positive amount in whole cents
        assert r["approx_allowed_usd"] >= 0.01
        assert round(r["approx_allowed_usd"] * 100, 6) == round(r["approx_allowed_usd"] * 100), r
        assert r["basis"]
        if r["basis"].startswith("assumption:"):
            continue
        assert r["setting"] in {"office", "facility", "facility_26"}, r
        assert "33.2875" in r["basis"]
        total = float(r["basis"].split("= ")[1].split(" RVU")[0])
        assert r["approx_allowed_usd"] == pytest.approx(total * 33.2875, abs=0.006)


def test_service_price_approximations_are_labelled() -> None:
    rows = refdata.load("service_prices").to_pylist()
    approx = {
        (r["hcpcs_code"], r["setting"]): r for r in rows if r["basis"].startswith("assumption:")
    }
    assert len(approx) == 45
    for r in approx.values():
        assert r["basis"].startswith("assumption: approximate CY2024 "), r
    # anything outside the PFS office/facility/-26 settings is an approximation
    for r in rows:
        if r["setting"] not in {"office", "facility", "facility_26"}:
            assert (r["hcpcs_code"], r["setting"]) in approx, r
    assert approx[("99285", "opps")]["approx_allowed_usd"] == 630.00
    assert "APC 5025" in approx[("99285", "opps")]["basis"]
    assert "APC 8011" in approx[("G0378", "opps")]["basis"]
    assert approx[("80053", "clfs")]["approx_allowed_usd"] == 10.56
    assert approx[("J9271", "asp")]["approx_allowed_usd"] == 56.70
    assert approx[("E1390", "dmepos")]["approx_allowed_usd"] == 180.00
    assert approx[("A0425", "ambulance")]["approx_allowed_usd"] == 8.50
    assert approx[("0591T", "assumption")]["category"] == "coaching"
    assert {c for c, s in approx if s == "office"} == {
        "88305", "92134", "78452", "93880", "G0008", "71046", "77067", "93306"}
    categories = {r["category"] for r in rows}
    assert {
        "ed_facility",
        "imaging_facility",
        "outpatient_facility",
        "lab",
        "part_b_drug",
    } <= categories
    assert {"dme", "ambulance", "coaching", "imaging", "surgery"} <= categories


def test_medicare_rates_exact_cost_sharing() -> None:
    rows = refdata.load("medicare_rates").to_pylist()
    got = {(r["item"], r["year"]): r["amount_usd"] for r in rows}
    assert len(got) == len(rows)
    assert got[("part_b_deductible", 2024)] == 240.00
    assert got[("part_a_deductible", 2023)] == 1600.00
    assert got[("part_a_deductible", 2024)] == 1632.00
    assert got[("part_a_deductible", 2025)] == 1676.00
    assert got[("part_b_deductible", 2025)] == 257.00
    assert got[("snf_coinsurance_day_21_100", 2025)] == 209.50
    assert got[("inpatient_coinsurance_day_61_90", 2024)] == 408.00
    assert got[("esrd_pps_base_rate", 2025)] == 273.82
    assert all(r["source"].startswith("http") for r in rows)


def test_medicare_rates_exact_prospective_payment_amounts() -> None:
    got = {
        (r["item"], r["year"]): r["amount_usd"] for r in refdata.load("medicare_rates").to_pylist()
    }
    assert got[("ipps_operating_standardized_amount", 2023)] == 6375.74
    assert got[("ipps_operating_standardized_amount", 2024)] == 6497.77
    assert got[("ipps_capital_federal_rate", 2023)] == 483.79
    assert got[("ipps_capital_federal_rate", 2024)] == 503.83
    assert [got[("home_health_30day_base", y)] for y in (2023, 2024, 2025)] == [
        2010.69,
        2038.13,
        2057.35,
    ]
    assert [got[("hospice_rhc_day_1_60", y)] for y in (2023, 2024, 2025)] == [
        211.34,
        218.33,
        224.62,
    ]
    assert [got[("hospice_rhc_day_61_plus", y)] for y in (2023, 2024, 2025)] == [
        167.00,
        172.35,
        176.92,
    ]
    assert [got[("hospice_gip_day", y)] for y in (2023, 2024, 2025)] == [1110.76, 1145.31, 1170.04]
    assert [got[("esrd_pps_base_rate", y)] for y in (2023, 2024, 2025)] == [265.57, 271.02, 273.82]
    assert got[("snf_average_payment_per_stay", 2024)] == 20970.00
    assert got[("snf_average_payment_per_day", 2024)] == pytest.approx(20970 / 30.7, abs=0.005)
    for year in (2023, 2024, 2025):
        assert got[("hospice_rhc_day_61_plus", year)] < got[("hospice_rhc_day_1_60", year)]


def test_ms_drg_weights_codes_and_shapes() -> None:
    rows = refdata.load("ms_drg").to_pylist()
    by = {r["drg_code"]: r for r in rows}
    assert len(by) == len(rows)
    assert by["470"]["relative_weight"] == 1.8855
    assert by["470"]["geometric_mean_los"] == 1.7
    assert by["291"]["relative_weight"] == 1.3049
    assert by["871"]["relative_weight"] == 1.9623
    assert by["871"]["arithmetic_mean_los"] == 6.6
    assert by["065"]["mdc"] == "01"
    assert by["871"]["principal_dx_icd10"] == "A419"
    assert by["470"]["principal_pcs"] == "0SRD0J9"
    for r in rows:
        assert re.fullmatch(r"\d{3}", r["drg_code"])
        assert re.fullmatch(r"\d{2}", r["mdc"])
        assert r["drg_type"] in {"MED", "SURG"}
        assert ICD10CM.fullmatch(r["principal_dx_icd10"]), r
        if r["drg_type"] == "SURG":
            assert r["principal_pcs"] is not None, r
            assert ICD10PCS.fullmatch(r["principal_pcs"]), r
        else:
            assert r["principal_pcs"] is None, r
        assert 0 < r["relative_weight"] < 10
        if r["arithmetic_mean_los"] is not None:
            assert r["arithmetic_mean_los"] >= r["geometric_mean_los"]


def test_promis_tables_are_complete_and_monotonic() -> None:
    rows = refdata.load("promis_global_health").to_pylist()
    for scale in ("physical", "mental"):
        part = sorted((r for r in rows if r["scale"] == scale), key=lambda r: r["raw_score"])
        assert [r["raw_score"] for r in part] == list(range(4, 21))
        ts = [r["t_score"] for r in part]
        assert ts == sorted(ts)
    got = {(r["scale"], r["raw_score"]): (r["t_score"], r["standard_error"]) for r in rows}
    assert got[("physical", 4)] == (16.2, 4.8)
    assert got[("physical", 20)] == (67.7, 5.9)
    assert got[("mental", 4)] == (21.2, 4.6)
    assert got[("mental", 20)] == (67.6, 5.3)


def test_extended_ndc_rows() -> None:
    rows = refdata.load("drug_ndc").to_pylist()
    assert all(re.fullmatch(r"\d{11}", r["ndc11"]) for r in rows)
    assert all(
        r["typical_units_per_day"] is not None and r["typical_units_per_day"] > 0 for r in rows
    )
    classes = {r["drug_class"] for r in rows}
    assert {"gabapentinoid", "oud_treatment"} <= classes
    for r in rows:
        if not r["is_opioid"]:
            assert r["mme_conversion_factor"] is None
        if r["drug_class"] == "oud_treatment":
            assert r["oud_treatment"]
    assert "antidepressant" not in classes
    escitalopram = {r["ndc11"] for r in rows if r["ingredient"] == "escitalopram"}
    assert escitalopram == {"65862037401", "43547028110"}
    assert all(
        r["drug_class"] == "depression"
        for r in rows
        if r["ingredient"] in {"sertraline", "escitalopram"}
    )
    bupropion = {r["ndc11"]: r for r in rows if r["ingredient"] == "bupropion"}
    assert set(bupropion) == {"00173013555", "23490923006"}
    assert all(
        r["drug_class"] == "depression" and r["strength"] == 150.0 for r in bupropion.values()
    )
    diazepam = {r["ndc11"]: r for r in rows if r["ingredient"] == "diazepam"}
    assert set(diazepam) == {"55829083210", "63739007301"}
    for r in [*bupropion.values(), *diazepam.values()]:
        assert not r["is_opioid"]
        assert not r["oud_treatment"]
        assert r["typical_units_per_day"] == 2.0
        assert r["approx_unit_cost_usd"] is None
    assert all(r["drug_class"] == "benzodiazepine" for r in diazepam.values())
    vivitrol = [r for r in rows if r["ingredient"] == "naltrexone"]
    assert len(vivitrol) == 2
    assert not any(r["is_opioid"] for r in vivitrol)
