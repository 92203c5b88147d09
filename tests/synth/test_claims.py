"""Claims of a 20k Medicare population: realism bands (docs/generator.md) and exact rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from medsynergy.synth.profile import profile

from .conftest import query


@pytest.fixture(scope="module")
def figures(medicare_dir: Path) -> dict[str, Any]:
    return profile(medicare_dir)


# --- bands: MSSP PY2022 public-use file and CMS CCW (docs/generator.md) --------------------

def test_admissions_per_1000_near_mssp(figures: dict[str, Any]) -> None:
    assert 225 <= figures["admissions_per_1000"] <= 285


def test_readmission_rate_15_to_18_percent(figures: dict[str, Any]) -> None:
    assert figures["index_stays"] > 10_000  # enough stays for the band to be meaningful
    assert 0.15 <= figures["readmission_rate"] <= 0.18


def test_ed_visits_per_1000_near_mssp(figures: dict[str, Any]) -> None:
    assert 550 <= figures["ed_visits_per_1000"] <= 670
    assert 160 <= figures["ed_visits_ending_in_admission_per_1000"] <= 210


def test_snf_admissions_per_1000_near_mssp(figures: dict[str, Any]) -> None:
    assert 40 <= figures["snf_admissions_per_1000"] <= 65


def test_parts_a_and_b_pmpm_in_band(figures: dict[str, Any]) -> None:
    assert 950 <= figures["medical_allowed_pmpm"] <= 1150
    # members pay a share: paid is below allowed, by a plausible margin
    assert 0.75 <= figures["medical_paid_pmpm"] / figures["medical_allowed_pmpm"] <= 0.92


def test_spending_is_heavily_skewed(figures: dict[str, Any]) -> None:
    assert 0.40 <= figures["top5_share_of_allowed"] <= 0.46


def test_office_e_and_m_visits_near_mssp(figures: dict[str, Any]) -> None:
    # MSSP PY2022: 3.64 primary-care + 4.55 specialist E/M visits per beneficiary-year
    assert 7_000 <= figures["em_office_visits_per_1000"] <= 9_500


@pytest.mark.parametrize(("condition", "target"), [
    ("diabetes", 0.275), ("heart_failure", 0.146), ("copd", 0.11), ("ckd", 0.26),
    ("depression", 0.194), ("hypertension", 0.59), ("osteoarthritis", 0.352),
])
def test_condition_prevalence_near_ccw(figures: dict[str, Any], condition: str,
                                       target: float) -> None:
    # share of people with a claim carrying one of the condition's ICD-10-CM codes
    assert abs(figures["prevalence"][condition] - target) <= 0.12 * target


# --- exact rules ----------------------------------------------------------------------------

def test_no_claim_outside_enrollment_or_after_death(medicare_dir: Path) -> None:
    sql = """
    select count(*) from m where not exists (
      select 1 from e where e.person_id = m.person_id
        and m.claim_start_date between e.enrollment_start_date and e.enrollment_end_date)
    """
    assert query(medicare_dir, sql) == [(0,)]
    after_death = """select count(*) from m join (select distinct person_id, death_date from e
                     where death_date is not null) d using (person_id)
                     where m.claim_end_date > d.death_date"""
    assert query(medicare_dir, after_death) == [(0,)]
    rx = """select count(*) from r join (select distinct person_id, death_date from e
            where death_date is not null) d using (person_id)
            where r.dispensing_date > d.death_date"""
    assert query(medicare_dir, rx) == [(0,)]


def test_amounts_add_up_and_allowed_covers_paid(medicare_dir: Path) -> None:
    for table in ("m", "r"):
        sql = f"""select count(*) filter (where allowed_amount <> paid_amount + deductible_amount
                                            + coinsurance_amount + copayment_amount),
                         count(*) filter (where paid_amount < 0 or allowed_amount < paid_amount
                                            or deductible_amount < 0 or coinsurance_amount < 0
                                            or copayment_amount < 0),
                         count(*) from {table}"""
        bad, negative, total = query(medicare_dir, sql)[0]
        assert (bad, negative) == (0, 0)
        assert total > 100_000


def test_part_b_deductible_taken_once_a_year_in_ffs(medicare_dir: Path) -> None:
    # Original Medicare Part B lines (professional, outpatient, dialysis): the deductible of a
    # member-year never exceeds the Part B deductible (2023 $226, 2024 $240, 2025 $257), and
    # reaches it for most member-years
    sql = """
    select year(claim_start_date) y, max(d), avg((d = case year(claim_start_date)
             when 2023 then 226 when 2024 then 240 else 257 end)::int)
    from (select person_id, claim_start_date, sum(deductible_amount)
                 over (partition by person_id, year(claim_start_date)) d
          from m where plan = 'Medicare FFS'
            and (bill_type_code is null or bill_type_code in ('131', '721')))
    group by y order by y
    """
    rows = query(medicare_dir, sql)
    assert [(r[0], float(r[1])) for r in rows] == [(2023, 226.0), (2024, 240.0), (2025, 257.0)]
    assert all(r[2] > 0.5 for r in rows)


def test_inpatient_claims_carry_drgs_dispositions_and_dates(medicare_dir: Path) -> None:
    sql = """
    select count(*) filter (where drg_code is null or drg_code_type <> 'ms-drg'),
           count(*) filter (where admission_date is null or discharge_date < admission_date),
           count(*) filter (where discharge_disposition_code is null),
           count(distinct drg_code), count(distinct discharge_disposition_code)
    from m where bill_type_code = '111'
    """
    no_drg, bad_dates, no_disp, drgs, dispositions = query(medicare_dir, sql)[0]
    assert (no_drg, bad_dates, no_disp) == (0, 0, 0)
    assert drgs >= 40
    assert dispositions >= 8


def test_died_in_hospital_means_discharged_on_the_day_of_death(medicare_dir: Path) -> None:
    sql = """
    select count(*), count(*) filter (where m.discharge_date <> d.death_date)
    from m join (select distinct person_id, death_date from e) d using (person_id)
    where m.bill_type_code = '111' and m.discharge_disposition_code = '20'
      and m.claim_line_number = 1
    """
    died, mismatched = query(medicare_dir, sql)[0]
    assert died > 50
    assert mismatched == 0


def test_ed_visits_use_the_ed_revenue_and_e_and_m_codes(medicare_dir: Path) -> None:
    sql = """select distinct hcpcs_code, hcpcs_modifier_1 from m
             where place_of_service_code = '23' order by 1"""
    # the emergency physician's levels, and the radiologist's read of a CT (modifier 26)
    assert query(medicare_dir, sql) == [("74177", "26"), ("99281", None), ("99282", None),
                                        ("99283", None), ("99284", None), ("99285", None)]
    sql = """select distinct revenue_center_code from m where bill_type_code = '131'
             and hcpcs_code like '9928_'"""
    assert query(medicare_dir, sql) == [("0450",)]


def test_integrative_services_are_billed(medicare_dir: Path) -> None:
    sql = """select count(distinct hcpcs_code) from m where hcpcs_code in
             ('97810', '97811', '90834', '97803', '97110', '97140', '98941')"""
    assert query(medicare_dir, sql) == [(7,)]


def test_opioid_fills_allow_mme_per_day(medicare_dir: Path) -> None:
    from medsynergy import refdata

    ndc = refdata.load("drug_ndc").to_pandas()
    opioid_ndcs = set(ndc.loc[ndc["is_opioid"], "ndc11"])
    sql = "select ndc_code, quantity, days_supply from r"
    fills = [f for f in query(medicare_dir, sql) if f[0] in opioid_ndcs]
    assert len(fills) > 1_000
    assert all(f[1] > 0 and f[2] > 0 for f in fills)


def test_promis_scores_are_raw_4_to_20_with_their_t_scores(medicare_dir: Path) -> None:
    sql = """select source_code, min(result::double), max(result::double), count(*)
             from o group by 1 order by 1"""
    rows = query(medicare_dir, sql)
    codes = {r[0]: r[1:] for r in rows}
    assert set(codes) == {"71969-0", "71970-8", "71971-6", "71972-4"}
    for raw in ("71970-8", "71972-4"):
        assert codes[raw][0] >= 4
        assert codes[raw][1] <= 20
    assert codes["71972-4"][2] > 10_000
