"""Pilots of known effect: the spec parser, and on 50k members, difference-in-differences
estimates whose 99 % confidence intervals contain the truth written to pilot_truth.json."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from medsynergy import refdata
from medsynergy.errors import ConfigError
from medsynergy.synth import generate
from medsynergy.synth.pilot import parse_pilot

from .conftest import query

SPEC = ("chronic-pain:share=0.1,start=2024-07-01,readmissions=-0.18,opioid_fills=-0.22,"
        "ed_visits=-0.15,promis_physical_t=+3")
START = date(2024, 7, 1)
Z99 = 2.5758


def test_the_issue_spec_parses() -> None:
    p = parse_pilot(SPEC)
    assert (p.cohort, p.share, p.start, p.selection) == ("chronic-pain", 0.1, START, "none")
    assert p.effects == {"readmissions": -0.18, "opioid_fills": -0.22, "ed_visits": -0.15,
                         "promis_physical_t": 3.0}


@pytest.mark.parametrize(("spec", "says"), [
    ("chronic-pain", "expected COHORT:key=value"),
    ("knees:share=0.1,start=2024-07-01", "unknown cohort 'knees'"),
    ("chronic-pain:share=0.1", "start= is required"),
    ("chronic-pain:share=1.5,start=2024-07-01", "share must be in (0, 1]"),
    ("chronic-pain:share=abc,start=2024-07-01", "share='abc' is not a number"),
    ("chronic-pain:share=0.1,start=2024-13-01", "is not a date"),
    ("chronic-pain:share=0.1,start=2024-07-01,ed_visits=-1.2", "above -1"),
    ("chronic-pain:share=0.1,start=2024-07-01,happiness=+1", "unknown effect 'happiness'"),
    ("chronic-pain:share=0.1,start=2024-07-01,selection=random", "selection must be one of"),
    ("chronic-pain:share=0.1,start=2024-07-01,ed_visits", "'ed_visits' is not key=value"),
])
def test_bad_specs_are_refused_with_the_reason(spec: str, says: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        parse_pilot(spec)
    assert says in str(err.value)


def test_start_outside_the_years_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not after the first day of 2023"):
        generate(tmp_path, members=10, years=(2023, 2025), seed=1,
                 pilot="chronic-pain:share=0.1,start=2026-07-01")


@pytest.fixture(scope="module")
def pilot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pilot")
    generate(out, members=50_000, years=(2023, 2025), seed=2024, pilot=SPEC)
    return out


@pytest.fixture(scope="module")
def truth(pilot_dir: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((pilot_dir / "pilot_truth.json").read_text())
    return doc


def _people(pilot_dir: Path, truth: dict[str, Any]) -> pd.DataFrame:
    """Eligible people with covered days before and after the start date."""
    sql = f"""
    select person_id,
      sum(greatest(0, datediff('day', enrollment_start_date,
          least(enrollment_end_date, coalesce(death_date, enrollment_end_date),
                date '{START}' - 1)) + 1)) pre_days,
      sum(greatest(0, datediff('day', greatest(enrollment_start_date, date '{START}'),
          least(enrollment_end_date, coalesce(death_date, enrollment_end_date))) + 1)) post_days
    from e group by person_id"""
    df = pd.DataFrame(query(pilot_dir, sql), columns=["person_id", "pre", "post"])
    df = df[df.person_id.isin(set(truth["eligible_person_ids"]))]
    df["treated"] = df.person_id.isin(set(truth["enrolled_person_ids"])).astype(float)
    return df


def _poisson_did(people: pd.DataFrame, events: pd.DataFrame) -> tuple[float, float, float]:
    """Relative effect exp(b)-1 of treated x post, with its 99 % CI (person-clustered)."""
    rows = []
    for post, days in (("0", "pre"), ("1", "post")):
        part = people[["person_id", "treated", days]].rename(columns={days: "days"})
        part = part[part.days > 0].assign(post=float(post))
        counted = events[events.post == float(post)].groupby("person_id").size()
        part["n"] = part.person_id.map(counted).fillna(0.0)
        rows.append(part)
    d = pd.concat(rows, ignore_index=True)
    x = sm.add_constant(pd.DataFrame({"treated": d.treated, "post": d.post,
                                      "did": d.treated * d.post}))
    groups = pd.factorize(d.person_id)[0]
    fit = sm.GLM(d.n, x, family=sm.families.Poisson(), offset=np.log(d.days)).fit(
        cov_type="cluster", cov_kwds={"groups": groups})
    b, se = float(fit.params["did"]), float(fit.bse["did"])
    return np.expm1(b), np.expm1(b - Z99 * se), np.expm1(b + Z99 * se)


def test_truth_file_records_the_spec_and_who_was_enrolled(truth: dict[str, Any]) -> None:
    assert truth["spec"] == SPEC
    assert truth["effects"]["ed_visits"]["value"] == -0.15
    assert truth["effects"]["promis_physical_t"]["kind"] == "absolute"
    share = truth["enrolled_count"] / truth["eligible_count"]
    assert truth["eligible_count"] > 15_000
    assert abs(share - 0.1) < 0.01


def test_ed_visit_effect_is_recovered(pilot_dir: Path, truth: dict[str, Any]) -> None:
    people = _people(pilot_dir, truth)
    ed = pd.DataFrame(query(pilot_dir, f"""select person_id, (claim_start_date >= date '{START}')::int::double
                                           from m where place_of_service_code = '23'"""),
                      columns=["person_id", "post"])
    est, lo, hi = _poisson_did(people, ed)
    assert lo <= truth["effects"]["ed_visits"]["value"] <= hi, (est, lo, hi)
    assert hi - lo < 0.25  # precise enough to mean something


def test_opioid_fill_effect_is_recovered(pilot_dir: Path, truth: dict[str, Any]) -> None:
    ndc = refdata.load("drug_ndc").to_pandas()
    opioid = set(ndc.loc[ndc.is_opioid & ~ndc.oud_treatment, "ndc11"])
    fills = pd.DataFrame(query(pilot_dir, f"""select person_id, ndc_code,
                                 (dispensing_date >= date '{START}')::int::double from r"""),
                         columns=["person_id", "ndc", "post"])
    fills = fills[fills.ndc.isin(opioid)]
    est, lo, hi = _poisson_did(_people(pilot_dir, truth), fills)
    assert lo <= truth["effects"]["opioid_fills"]["value"] <= hi, (est, lo, hi)
    assert hi - lo < 0.3


def test_readmission_effect_is_recovered(pilot_dir: Path, truth: dict[str, Any]) -> None:
    sql = """
    with stays as (
      select person_id, claim_id, min(admission_date) a, max(discharge_date) d,
             max(discharge_disposition_code) disp
      from m where bill_type_code = '111' group by all)
    select s.person_id, s.d, exists (select 1 from stays t where t.person_id = s.person_id
             and t.a > s.d and datediff('day', s.d, t.a) <= 30)::int::double
    from stays s where s.disp not in ('02', '07', '20', '50', '51')"""
    st = pd.DataFrame(query(pilot_dir, sql), columns=["person_id", "discharge", "readmitted"])
    st = st[st.person_id.isin(set(truth["eligible_person_ids"]))]
    st["treated"] = st.person_id.isin(set(truth["enrolled_person_ids"])).astype(float)
    st["post"] = (pd.to_datetime(st.discharge) >= pd.Timestamp(START)).astype(float)
    x = sm.add_constant(pd.DataFrame({"treated": st.treated, "post": st.post,
                                      "did": st.treated * st.post}))
    # log-link binomial-mean model via Poisson with robust errors: a ratio of probabilities
    fit = sm.GLM(st.readmitted, x, family=sm.families.Poisson()).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(st.person_id)[0]})
    b, se = float(fit.params["did"]), float(fit.bse["did"])
    lo, hi = np.expm1(b - Z99 * se), np.expm1(b + Z99 * se)
    assert lo <= truth["effects"]["readmissions"]["value"] <= hi, (np.expm1(b), lo, hi)


def test_promis_physical_effect_is_recovered(pilot_dir: Path, truth: dict[str, Any]) -> None:
    obs = pd.DataFrame(query(pilot_dir, f"""select person_id, result::double,
                                (observation_date >= date '{START}')::int::double
                              from o where source_code = '71971-6'"""),
                       columns=["person_id", "t", "post"])
    obs = obs[obs.person_id.isin(set(truth["eligible_person_ids"]))]
    obs["did"] = obs.person_id.isin(set(truth["enrolled_person_ids"])).astype(float) * obs.post
    # person fixed effects by demeaning within person
    cols = ["t", "post", "did"]
    demeaned = obs[cols] - obs.groupby("person_id")[cols].transform("mean")
    fit = sm.OLS(demeaned.t, demeaned[["post", "did"]]).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(obs.person_id)[0]})
    b, se = float(fit.params["did"]), float(fit.bse["did"])
    target = truth["effects"]["promis_physical_t"]["value"]
    assert b - Z99 * se <= target <= b + Z99 * se, (b, se)
    assert se < 0.5


def test_enrolled_members_get_the_programme_services(pilot_dir: Path,
                                                     truth: dict[str, Any]) -> None:
    sql = f"""select count(distinct person_id) from m
              where hcpcs_code in ('0591T', '0592T') and claim_start_date >= date '{START}'"""
    coached = query(pilot_dir, sql)[0][0]
    enrolled = truth["enrolled_count"]
    assert 0.7 * enrolled <= coached <= 0.85 * enrolled  # uptake 0.8, less deaths/leavers
    sql = f"""select count(distinct person_id) from m where hcpcs_code in ('0591T', '0592T')
              and claim_start_date < date '{START}'"""
    assert query(pilot_dir, sql) == [(0,)]
