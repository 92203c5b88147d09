"""Bundled episodes: given rows -> expected episodes and amounts, worked by hand.

Dates: the discharge day is day 1 of the post-discharge window (CJR 42 CFR 510.210(a)(1)),
so a 90-day window ends 89 days after discharge."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.marts.conftest import memtable, table

from medsynergy.contracts.bind import Prepared, Tables
from medsynergy.contracts.bundles import (
    FACTOR_TYPE,
    Baseline,
    BundleSpec,
    Target,
    baseline_targets,
    capped_total,
    prepare_bundles,
    settle_bundles,
    winsor_cap,
)
from medsynergy.contracts.bundles_episodes import anchors, episodes
from medsynergy.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "contracts" / "bundle_joint_heart_failure.yaml"

STAY_TYPES = {
    "stay_id": pa.string(), "person_id": pa.string(), "facility_npi": pa.string(),
    "admission_date": pa.date32(), "discharge_date": pa.date32(), "drg_code": pa.string(),
    "date_error_flag": pa.int64(),
}
RISK_TYPES = {"person_id": pa.string(), "payment_year": pa.int32(), "model": pa.string(),
              "payment_score": pa.float64()}
#: the codes that put a line in a service category (marts/service_category.py)
KINDS: dict[str, dict[str, str]] = {
    "inpatient": {"claim_type": "institutional", "bill_type_code": "111"},
    "snf": {"claim_type": "institutional", "bill_type_code": "211"},
    "hospice": {"claim_type": "institutional", "bill_type_code": "811"},
    "outpatient": {"claim_type": "institutional", "bill_type_code": "131"},
    "em": {"claim_type": "professional", "hcpcs_code": "99213", "place_of_service_code": "11"},
    "surgery": {"claim_type": "professional", "hcpcs_code": "27447",
                "place_of_service_code": "21"},
}
JOINT: dict[str, Any] = {"id": "joint", "trigger": {"drg": ["470"], "hcpcs": ["27447"]}}
HF: dict[str, Any] = {"id": "hf", "trigger": {"drg": ["291"]}}
_ids = itertools.count(1)


def stay(stay_id: str, person: str, admit: str, discharge: str, drg: str = "470",
         facility: str = "F1") -> dict[str, Any]:
    return {"stay_id": stay_id, "person_id": person, "facility_npi": facility,
            "admission_date": admit, "discharge_date": discharge, "drg_code": drg,
            "date_error_flag": 0}


def line(person: str, day: str, amount: str, kind: str = "inpatient",
         **extra: Any) -> dict[str, Any]:
    """One medical claim line of `kind`, paid = allowed = amount unless given."""
    row: dict[str, Any] = {
        "claim_id": f"C{next(_ids)}", "claim_line_number": 1, "data_source": "t",
        "person_id": person, "claim_start_date": day, "claim_end_date": day,
        "claim_line_start_date": day, "paid_amount": amount, "allowed_amount": amount,
        **KINDS[kind]}
    if row["claim_type"] == "institutional":
        row["facility_npi"] = "F1"
    row.update(extra)
    return row


def rx(person: str, day: str, amount: str) -> dict[str, Any]:
    return {"claim_id": f"R{next(_ids)}", "claim_line_number": 1, "data_source": "t",
            "person_id": person, "dispensing_date": day, "paid_amount": amount,
            "allowed_amount": amount}


def tables_of(stays: Sequence[dict[str, Any]] = (), claims: Sequence[dict[str, Any]] = (),
              pharmacy: Sequence[dict[str, Any]] = (),
              eligibility: Sequence[dict[str, Any]] = (),
              risk: Sequence[dict[str, Any]] = ()) -> Tables:
    t = {
        "inpatient_stays": memtable(STAY_TYPES, stays),
        "medical_claim": table(None, "medical_claim", claims),
        "pharmacy_claim": table(None, "pharmacy_claim", pharmacy),
        "eligibility": table(None, "eligibility", eligibility),
        "risk": memtable(RISK_TYPES, risk),
    }
    return t.__getitem__


@pytest.fixture
def con() -> Iterator[ibis.BaseBackend]:
    backend = ibis.duckdb.connect()
    try:
        yield backend
    finally:
        backend.disconnect()


def spec_of(**change: Any) -> BundleSpec:
    data: dict[str, Any] = {
        "model": "bundled_episodes", "name": "bundle", "episodes": [JOINT],
        "baseline_years": [2024], "trend": "1", "discount": "0",
        "stop_loss": None, "stop_gain": None, **change}
    return BundleSpec.model_validate(data)


def episode_rows(con: ibis.BaseBackend, spec: BundleSpec, tables: Tables,
                 years: Sequence[int] = (2024,), chain: int = 8) -> list[dict[str, Any]]:
    return list(con.to_pyarrow(episodes(spec, tables, years, chain)).to_pylist())


def prepared(con: ibis.BaseBackend, spec: BundleSpec, tables: Tables,
             year: int = 2025) -> Prepared:
    return prepare_bundles(spec, tables, con.to_pyarrow, year)


# -- episodes --------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "window_end", "spend"), [
    # 90 days: 5 March is day 1, 2 June day 90 (the SNF line of 2 June is in, 3 June out)
    (90, dt.date(2024, 6, 2), D("10500.00")),
    (30, dt.date(2024, 4, 3), D("10000.00")),   # neither SNF line
    (1, dt.date(2024, 3, 5), D("10000.00")),    # the discharge day only
])
def test_window_edges(con: ibis.BaseBackend, days: int, window_end: dt.date,
                      spend: D) -> None:
    spec = spec_of(episodes=[{**JOINT, "post_discharge_days": days}])
    tables = tables_of(
        stays=[stay("S1", "P1", "2024-03-01", "2024-03-05")],
        claims=[line("P1", "2024-02-29", "300.00", "em"),        # the day before: out
                line("P1", "2024-03-01", "10000.00"),            # the anchor stay
                line("P1", "2024-06-02", "500.00", "snf"),       # day 90: in
                line("P1", "2024-06-03", "700.00", "snf")])      # day 91: out
    (ep,) = episode_rows(con, spec, tables)
    assert ep["episode_id"] == "joint:S1"
    assert (ep["anchor_kind"], ep["trigger_code"], ep["year"]) == ("drg", "470", 2024)
    assert (ep["anchor_start_date"], ep["anchor_end_date"]) == (dt.date(2024, 3, 1),
                                                                dt.date(2024, 3, 5))
    assert ep["window_end_date"] == window_end
    assert ep["spend"] == spend
    assert ep["spend_inpatient_acute"] == D("10000.00")
    assert ep["spend_snf"] == spend - D("10000.00")
    assert (ep["initiator_type"], ep["initiator"]) == ("facility", "F1")


def test_included_and_excluded_categories(con: ibis.BaseBackend) -> None:
    spec = spec_of(episodes=[
        {**JOINT, "id": "no_hospice", "exclude_categories": ["hospice"]},
        {**JOINT, "id": "snf_rx", "include_categories": ["snf", "pharmacy"]}])
    tables = tables_of(
        stays=[stay("S1", "P1", "2024-03-01", "2024-03-05")],
        claims=[line("P1", "2024-03-01", "10000.00"), line("P1", "2024-04-01", "2000.00",
                                                            "hospice"),
                line("P1", "2024-04-02", "500.00", "snf"), line("P1", "2024-04-04", "100.00",
                                                                 "em")],
        pharmacy=[rx("P1", "2024-04-03", "50.00")])
    got = {e["definition_id"]: e for e in episode_rows(con, spec, tables)}
    # all but hospice, and no pharmacy unless included: 10,000 + 500 + 100
    assert got["no_hospice"]["spend"] == D("10600.00")
    assert "spend_hospice" not in got["no_hospice"]   # no definition includes it
    assert got["no_hospice"]["spend_pharmacy"] == D("0.00")
    # SNF and pharmacy only: 500 + 50
    assert got["snf_rx"]["spend"] == D("550.00")
    assert (got["snf_rx"]["spend_snf"], got["snf_rx"]["spend_pharmacy"]) == (D("500.00"),
                                                                           D("50.00"))
    assert got["snf_rx"]["spend_inpatient_acute"] == D("0.00")


def test_overlapping_anchors_join_the_open_episode(con: ibis.BaseBackend) -> None:
    spec = spec_of(episodes=[JOINT, HF])
    tables = tables_of(
        stays=[stay("A", "P1", "2024-01-10", "2024-01-12"),   # window to 10 April
               stay("B", "P1", "2024-03-01", "2024-03-03"),   # inside A: no episode
               stay("D", "P1", "2024-04-10", "2024-04-11"),   # starts on A's last day: none
               # after A's window (though inside B's and D's): a new episode; the window
               # is not extended by the anchors it absorbed
               stay("C", "P1", "2024-04-20", "2024-04-22"),
               stay("H", "P1", "2024-02-01", "2024-02-03", drg="291")],  # other definition
        claims=[line("P1", "2024-01-10", "1000.00"), line("P1", "2024-03-01", "2000.00"),
                line("P1", "2024-04-10", "4000.00"), line("P1", "2024-04-20", "3000.00"),
                line("P1", "2024-02-01", "500.00")])
    got = {e["episode_id"]: e for e in episode_rows(con, spec, tables)}
    assert sorted(got) == ["hf:H", "joint:A", "joint:C"]
    assert got["joint:A"]["window_end_date"] == dt.date(2024, 4, 10)
    # A: its own stay, B, D and the heart-failure stay in its window
    assert got["joint:A"]["spend"] == D("7500.00")
    assert got["joint:C"]["spend"] == D("3000.00")
    # H (to 2 May): H, B, D and C: definitions are independent
    assert got["hf:H"]["spend"] == D("9500.00")
    # the rounds bound: one round finds only each chain's first episode
    first_only = episode_rows(con, spec, tables, chain=1)
    assert sorted(e["episode_id"] for e in first_only) == ["hf:H", "joint:A"]


def _sequential(anchor_rows: Sequence[dict[str, Any]]) -> set[str]:
    """The overlap rule one anchor at a time (a reference for the set-based rounds)."""
    ids: set[str] = set()
    open_until: dict[tuple[str, str], dt.date] = {}
    for a in sorted(anchor_rows, key=lambda r: (r["definition_id"], r["person_id"],
                                                r["anchor_start_date"], r["anchor_end_date"],
                                                r["anchor_id"])):
        key = (a["definition_id"], a["person_id"])
        if key not in open_until or a["anchor_start_date"] > open_until[key]:
            open_until[key] = a["window_end_date"]
            ids.add(f"{a['definition_id']}:{a['anchor_id']}")
    return ids


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["P1", "P2"]), st.integers(0, 700),
                          st.integers(0, 40), st.sampled_from(["470", "291"])),
                max_size=10),
       st.sampled_from([1, 30, 90]))
def test_overlap_rounds_match_the_sequential_rule(
        stays: list[tuple[str, int, int, str]], days: int) -> None:
    spec = spec_of(episodes=[{**JOINT, "post_discharge_days": days},
                             {**HF, "post_discharge_days": days}])
    start = dt.date(2024, 1, 1)
    tables = tables_of(stays=[
        stay(f"S{i}", person, str(start + dt.timedelta(days=a)),
             str(start + dt.timedelta(days=a + los)), drg=drg)
        for i, (person, a, los, drg) in enumerate(stays)])
    backend = ibis.duckdb.connect()
    try:
        found = backend.to_pyarrow(anchors(spec, tables, 2026)).to_pylist()
        bound = max([sum(1 for f in found if (f["definition_id"], f["person_id"]) == k)
                     for k in {(f["definition_id"], f["person_id"]) for f in found}],
                    default=1)
        got = backend.to_pyarrow(episodes(spec, tables, [2024, 2025, 2026], bound))
        assert set(got["episode_id"].to_pylist()) == _sequential(found)
    finally:
        backend.disconnect()


def test_drg_and_hcpcs_triggers(con: ibis.BaseBackend) -> None:
    spec = spec_of()
    tables = tables_of(
        stays=[stay("S1", "P1", "2024-03-01", "2024-03-05"),
               stay("S4", "P4", "2024-03-01", "2024-03-05", drg="871")],  # not a trigger
        claims=[
            line("P1", "2024-03-01", "10000.00"),
            line("P1", "2024-03-02", "1500.00", "surgery"),   # inside the stay: no anchor
            # P2: an outpatient knee at a hospital, the surgeon's line the same day
            line("P2", "2024-05-01", "1200.00", "surgery", billing_npi="N2",
                 billing_tin="T2"),
            line("P2", "2024-05-01", "9000.00", "outpatient", hcpcs_code="27447",
                 facility_npi="F9"),
            # P3: in an office or ASC: no facility NPI, the billing NPI initiates
            line("P3", "2024-06-01", "1300.00", "surgery", billing_npi="N3"),
            line("P4", "2024-03-02", "1500.00", "surgery"),   # inside a 871 stay: nothing
        ])
    got = {e["person_id"]: e for e in episode_rows(con, spec, tables)}
    assert sorted(got) == ["P1", "P2", "P3"]
    assert (got["P1"]["anchor_kind"], got["P1"]["spend"]) == ("drg", D("11500.00"))
    p2 = got["P2"]
    assert (p2["anchor_kind"], p2["trigger_code"]) == ("hcpcs", "27447")
    assert (p2["anchor_start_date"], p2["anchor_end_date"]) == (dt.date(2024, 5, 1),
                                                                dt.date(2024, 5, 1))
    assert p2["window_end_date"] == dt.date(2024, 7, 29)
    assert p2["initiator"] == "F9"
    assert p2["spend"] == D("10200.00")
    assert (p2["spend_outpatient_hospital"], p2["spend_procedure"]) == (D("9000.00"),
                                                                       D("1200.00"))
    assert got["P3"]["initiator"] == "N3"


def test_billing_tin_initiator(con: ibis.BaseBackend) -> None:
    spec = spec_of(episodes=[{**JOINT, "initiator": "billing_tin"}])
    tables = tables_of(
        stays=[stay("S1", "P1", "2024-03-01", "2024-03-05"),
               stay("S2", "P2", "2024-03-01", "2024-03-05"),
               stay("S5", "P5", "2024-03-01", "2024-03-05")],
        claims=[
            # P1: T1 bills 300 + 100, T2 350: T1
            line("P1", "2024-03-01", "300.00", "em", billing_tin="T1"),
            line("P1", "2024-03-05", "100.00", "em", billing_tin="T1"),
            line("P1", "2024-03-02", "350.00", "em", billing_tin="T2"),
            line("P1", "2024-03-06", "900.00", "em", billing_tin="T9"),   # after discharge
            # P2: a tie, 200 each: the smaller TIN
            line("P2", "2024-03-02", "200.00", "em", billing_tin="T3"),
            line("P2", "2024-03-02", "200.00", "em", billing_tin="T2"),
            # P3: a procedure: the TIN on its professional line
            line("P3", "2024-06-01", "1300.00", "surgery", billing_tin="T7"),
        ])
    got = {e["person_id"]: e["initiator"] for e in episode_rows(con, spec, tables)}
    # P5 has no professional line during the stay
    assert got == {"P1": "T1", "P2": "T2", "P3": "T7", "P5": "unknown"}


def test_basis_allowed(con: ibis.BaseBackend) -> None:
    tables = tables_of(stays=[stay("S1", "P1", "2024-03-01", "2024-03-05")],
                       claims=[line("P1", "2024-03-01", "800.00", allowed_amount="1000.00")])
    (paid,) = episode_rows(con, spec_of(), tables)
    (allowed,) = episode_rows(con, spec_of(basis="allowed"), tables)
    assert (paid["spend"], allowed["spend"]) == (D("800.00"), D("1000.00"))


def test_anchors_exclude_date_errors_and_later_years(con: ibis.BaseBackend) -> None:
    bad = {**stay("E", "P1", "2024-03-05", "2024-03-01"), "date_error_flag": 1}
    tables = tables_of(stays=[bad, stay("L", "P2", "2025-12-30", "2026-01-02")])
    assert con.to_pyarrow(anchors(spec_of(), tables, 2025)).num_rows == 0


# -- caps ------------------------------------------------------------------------------------


def money(*values: str) -> pa.Array:
    return pa.array([D(v) for v in values], pa.decimal128(18, 2))


@pytest.mark.parametrize(("values", "rule", "cap"), [
    # h = 4 x 0.99 = 3.96: 400 + 0.96 x (10,000 - 400)
    (("100", "200", "300", "400", "10000"), "p99", D("9616.0000")),
    # the median: h = 2, the middle value
    (("100", "200", "300", "400", "10000"), D("0.5"), D("300.00")),
    # h = 8 x 0.99 = 7.92: 1,000 + 0.92 x 9,000
    (("1000",) * 8 + ("10000",), "p99", D("9280.0000")),
    # mean 2,000; sample variance (8 x 1,000^2 + 8,000^2) / 8 = 9,000,000: SD 3,000
    (("1000",) * 8 + ("10000",), "mean_2sd", D("8000")),
    (("500",), "mean_2sd", D("500")),   # one episode: no spread
    (("500",), "p99", D("500")),
])
def test_winsor_cap(values: tuple[str, ...], rule: str | D, cap: D) -> None:
    assert winsor_cap(money(*values), rule) == cap


def test_no_spend_no_cap() -> None:
    assert winsor_cap(money(), "p99") is None


def test_capped_total_is_exact() -> None:
    spend = money("100.00", "200.00", "10000.00")
    assert capped_total(spend, D("9616.0000")) == D("9916.0000")
    # 200.00 is not above 200.004: 100 + 200 + 200.004
    assert capped_total(spend, D("200.004")) == D("500.004")
    assert capped_total(spend, None) == D("10300.00")


# -- target, winsorisation, reconciliation ---------------------------------------------------


def _nine_and_two() -> Tables:
    """Baseline 2024: eight episodes of 1,000 and a clear outlier of 10,000; performance
    2025: 1,500 and 2,500. One stay and one line each, facility F1."""
    stays, claims = [], []
    for i, amount in enumerate(["1000.00"] * 8 + ["10000.00"]):
        stays.append(stay(f"B{i}", f"P{i}", "2024-03-01", "2024-03-02"))
        claims.append(line(f"P{i}", "2024-03-01", amount))
    for i, amount in enumerate(["1500.00", "2500.00"]):
        stays.append(stay(f"N{i}", f"Q{i}", "2025-03-01", "2025-03-02"))
        claims.append(line(f"Q{i}", "2025-03-01", amount))
    return tables_of(stays=stays, claims=claims)


def test_target_with_p99_winsorisation(con: ibis.BaseBackend) -> None:
    spec = spec_of(trend="1.03", discount="0.03")
    p = prepared(con, spec, _nine_and_two())
    r = p.reconcile()
    # baseline: cap 9,280 (above), 720 capped; mean (8,000 + 9,280) / 9 = 1,920
    assert r.step("joint_baseline_cap").value == D("9280.0000")
    assert r.step("joint_baseline_capped_amount").value == D("720.0000")
    assert r.step("joint_baseline_mean").value == D("1920")
    # 1,920 x 1.03 x 0.97
    assert r.step("joint_target_price").value == D("1918.272")
    # performance: cap 1,500 + 0.99 x 1,000 = 2,490; 2,500 is capped by 10
    assert r.step("joint_cap").value == D("2490.00")
    assert r.step("joint_capped_amount").value == D("10.00")
    assert r.step("joint_capped_spend").value == D("3990.00")
    assert r.step("joint_target").value == D("3836.544")
    # 3,836.544 - 3,990: the facility repays 153.456, rounded once
    assert r.step("initiator_facility:F1_reconciliation").value == D("-153.456")
    assert (r.to_provider, r.to_payer) == (D("-153.46"), D("0.00"))
    assert r.allocations == (("facility:F1", D("-153.46")),)
    units = p.units.to_pylist()
    assert [(u["spend"], u["capped_spend"], u["target"]) for u in
            sorted(units, key=lambda u: u["spend"])] == [
        (D("1500.00"), D("1500.00"), D("1918.27")), (D("2500.00"), D("2490.00"),
                                                     D("1918.27"))]
    outliers = p.detail["outliers"].to_pylist()
    assert [(o["period"], o["spend"], o["cap"], o["amount_capped"]) for o in outliers] == [
        ("baseline", D("10000.00"), D("9280.00"), D("720.00")),
        ("performance", D("2500.00"), D("2490.00"), D("10.00"))]


def test_target_with_mean_2sd_winsorisation(con: ibis.BaseBackend) -> None:
    spec = spec_of(trend="1.03", discount="0.03", winsorize="mean_2sd")
    r = prepared(con, spec, _nine_and_two()).reconcile()
    # baseline: mean 2,000 + 2 x SD 3,000 = 8,000; 2,000 capped; mean 16,000 / 9
    assert r.step("joint_baseline_cap").value == D("8000")
    assert r.step("joint_baseline_capped_amount").value == D("2000")
    price = D(16000) / 9 * D("1.03") * D("0.97")          # 1,776.17777...
    assert r.step("joint_target_price").value == price
    # performance: two episodes are never 2 SD above their mean: nothing capped
    assert r.step("joint_capped_amount").value == D("0")
    # 2 x 1,776.1777... - 4,000 = -447.6444...
    assert (r.to_provider, r.to_payer) == (D("-447.64"), D("0.00"))


def test_trend_and_discount(con: ibis.BaseBackend) -> None:
    # no outlier: one baseline episode of 1,000 and one performance episode of 1,000
    tables = tables_of(
        stays=[stay("B", "P1", "2024-03-01", "2024-03-02"),
               stay("N", "P2", "2025-03-01", "2025-03-02")],
        claims=[line("P1", "2024-03-01", "1000.00"), line("P2", "2025-03-01", "1000.00")])
    r = prepared(con, spec_of(trend="1.05", discount="0.02"), tables).reconcile()
    assert r.step("joint_target_price").value == D("1029.0000")   # 1,000 x 1.05 x 0.98
    assert (r.to_provider, r.to_payer) == (D("29.00"), D("0.00"))


# -- quality ---------------------------------------------------------------------------------

TIERS = [{"at_least": "10", "discount_reduction": "0.01"},
         {"at_least": "13.2", "discount_reduction": "0.015"}]


@pytest.mark.parametrize(("discount", "score", "effective"), [
    ("0.03", "14", D("0.015")),     # above the top tier
    ("0.03", "13.2", D("0.015")),   # at it
    ("0.03", "13.19", D("0.02")),   # just short: the lower tier
    ("0.03", "10", D("0.02")),
    ("0.03", "9.99", D("0.03")),    # no tier: the full discount
    ("0.01", "14", D("0")),         # the reduction cannot make the discount negative
])
def test_quality_lowers_the_discount(discount: str, score: str, effective: D) -> None:
    spec = spec_of(discount=discount, quality={"score": score, "tiers": TIERS})
    assert spec.effective_discount() == effective


def test_quality_adjusted_target() -> None:
    spec = spec_of(discount="0.03", quality={"score": "14", "tiers": TIERS})
    base = pa.table({"definition_id": ["joint"], "spend": money("1000.00"),
                     "case_mix_factor": pa.array([D(1)], FACTOR_TYPE)})
    b = baseline_targets(spec, base)
    assert b.targets["joint"].price == D("985.000")   # 1,000 x (1 - (0.03 - 0.015))
    assert b.steps[[s.name for s in b.steps].index("effective_discount")].value == D("0.015")


# -- case mix --------------------------------------------------------------------------------


def test_case_mix(con: ibis.BaseBackend) -> None:
    spec = spec_of(case_mix={
        "age_bands": [{"from_age": 0, "factor": "1"}, {"from_age": 75, "factor": "1.2"}],
        "risk_weight": "0.5", "full_dual": "1.1", "partial_dual": "1.05"})
    enrol = {"enrollment_start_date": "2023-01-01", "enrollment_end_date": "2025-12-31",
             "member_id": "m", "payer": "medicare"}
    tables = tables_of(
        stays=[stay("B1", "P1", "2024-03-01", "2024-03-02"),
               stay("B2", "P2", "2024-03-01", "2024-03-02"),
               stay("N3", "P3", "2025-07-14", "2025-07-15"),
               stay("N2", "P2", "2025-05-01", "2025-05-02")],
        claims=[line("P1", "2024-03-01", "10000.00"), line("P2", "2024-03-01", "10000.00"),
                line("P3", "2025-07-14", "11000.00"), line("P2", "2025-05-01", "9000.00")],
        eligibility=[
            {**enrol, "person_id": "P1", "birth_date": "1954-06-01", "dual_status_code": "00"},
            {**enrol, "person_id": "P2", "birth_date": "1944-01-01", "dual_status_code": "02"},
            {**enrol, "person_id": "P3", "birth_date": "1950-07-15", "dual_status_code": "01"}],
        risk=[{"person_id": "P3", "payment_year": 2025, "model": "blend", "payment_score": 1.4},
              {"person_id": "P2", "payment_year": 2025, "model": "blend", "payment_score": 0.8},
              {"person_id": "P2", "payment_year": 2025, "model": "v28", "payment_score": 9.0}])
    p = prepared(con, spec, tables)
    r = p.reconcile()
    # baseline factors (no 2024 risk scores: risk factor 1):
    #   P1 age 69: 1; P2 age 80, full dual: 1.2 x 1.1 = 1.32; normaliser 1.16
    assert r.step("joint_case_mix_normaliser").value == D("1.16")
    assert r.step("joint_target_price").value == D("10000")
    # performance factors:
    #   P3 the day before turning 75: 1 x partial dual 1.05 x (0.5 + 0.5 x 1.4) = 1.26
    #   P2 age 81: 1.2 x 1.1 x (0.5 + 0.5 x 0.8) = 1.188
    factors = {u["person_id"]: u["case_mix_factor"] for u in p.units.to_pylist()}
    assert factors == {"P3": D("1.26"), "P2": D("1.188")}
    # target 10,000 x (1.26 + 1.188) / 1.16 = 21,103.448...; spend capped at
    # 9,000 + 0.99 x 2,000 = 10,980: 19,980
    assert r.step("joint_target").value == D(10000) * D("2.448") / D("1.16")
    assert r.step("capped_spend").value == D("19980.00")
    assert (r.to_provider, r.to_payer) == (D("1123.45"), D("0.00"))
    assert any("2 episodes have no payment risk score" in n for n in r.notes)
    targets = {u["person_id"]: u["target"] for u in p.units.to_pylist()}
    assert targets == {"P3": D("10862.07"), "P2": D("10241.38")}


# -- stop-loss, stop-gain, allocations -------------------------------------------------------


def units_of(rows: Sequence[tuple[str, str, str]]) -> pa.Table:
    """(initiator, definition, spend) rows, facility initiators, case-mix factor 1."""
    return pa.table({
        "initiator_type": ["facility"] * len(rows), "initiator": [r[0] for r in rows],
        "definition_id": [r[1] for r in rows], "spend": money(*(r[2] for r in rows)),
        "case_mix_factor": pa.array([D(1)] * len(rows), FACTOR_TYPE)})


def flat_target(price: D, *ids: str) -> Baseline:
    return Baseline({i: Target(i, price, D(1), None) for i in ids}, (), ())


@pytest.mark.parametrize(("spend", "provider", "payer"), [
    # ten episodes, target 1,000 each: the limits are +/- 20 % of 10,000 = 2,000
    ("800.01", D("1999.90"), D("0.00")),     # savings just under the stop-gain
    ("800.00", D("2000.00"), D("0.00")),     # at it
    ("799.99", D("2000.00"), D("0.10")),     # beyond: the payer keeps the excess
    ("1199.99", D("-1999.90"), D("0.00")),   # losses just under the stop-loss
    ("1200.00", D("-2000.00"), D("0.00")),
    ("1200.01", D("-2000.00"), D("-0.10")),  # beyond: the payer bears the excess
])
def test_stop_loss_and_stop_gain(spend: str, provider: D, payer: D) -> None:
    spec = spec_of(stop_loss="0.20", stop_gain="0.20")
    r = settle_bundles(spec, flat_target(D(1000), "joint"), units_of([("F1", "joint", spend)]
                                                                   * 10), {})
    assert (r.to_provider, r.to_payer) == (provider, payer)
    gross = r.step("gross_savings").value
    assert isinstance(gross, D)
    assert r.to_provider + r.to_payer == gross.quantize(D("0.01"))
    before = r.step("initiator_facility:F1_before_limits").value
    assert before == D(10000) - 10 * D(spend)


def test_limits_apply_per_initiator() -> None:
    # mean + 2 SD: two or three episodes are never 2 SD above their mean (nothing capped)
    spec = spec_of(stop_loss="0.10", stop_gain="0.05", episodes=[JOINT, HF],
                   winsorize="mean_2sd")
    units = units_of([("F1", "joint", "500.00"), ("F1", "hf", "1000.00"),   # saves 500
                      ("F2", "joint", "1500.00")])                         # loses 500
    r = settle_bundles(spec, flat_target(D(1000), "joint", "hf"), units, {})
    # F1: target 2,000 (both definitions), +500 limited to 5 % = 100;
    # F2: target 1,000, -500 limited to 10 % = -100
    assert dict(r.allocations) == {"facility:F1": D("100.00"), "facility:F2": D("-100.00")}
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))


def test_allocations_add_up_to_to_provider() -> None:
    spec = spec_of(winsorize="mean_2sd")   # three episodes are never 2 SD above the mean
    units = units_of([("A", "joint", "300.00"), ("B", "joint", "300.00"),
                      ("C", "joint", "300.00")])
    r = settle_bundles(spec, flat_target(D(1000) / 3, "joint"), units, {})
    # each saves 33.333...: 33.33 each and the cent left to the first (ties: in order)
    assert r.allocations == (("facility:A", D("33.34")), ("facility:B", D("33.33")),
                             ("facility:C", D("33.33")))
    assert sum(a for _, a in r.allocations) == r.to_provider == D("100.00")


# -- no episodes, no baseline, resamples -----------------------------------------------------


def test_zero_episodes(con: ibis.BaseBackend) -> None:
    p = prepared(con, spec_of(), tables_of())
    r = p.reconcile()
    assert p.units.num_rows == 0
    assert (r.to_provider, r.to_payer, r.allocations) == (D("0.00"), D("0.00"), ())
    assert any("no performance episodes" in n for n in r.notes)
    assert any("joint: 0 baseline episodes" in n for n in r.notes)


def test_no_baseline_settles_nothing_for_that_definition(con: ibis.BaseBackend) -> None:
    spec = spec_of(episodes=[JOINT, HF])
    tables = tables_of(
        stays=[stay("B", "P1", "2024-03-01", "2024-03-02"),
               stay("N", "P2", "2025-03-01", "2025-03-02"),
               stay("H", "P3", "2025-03-01", "2025-03-02", drg="291")],
        claims=[line("P1", "2024-03-01", "1000.00"), line("P2", "2025-03-01", "900.00"),
                line("P3", "2025-03-01", "5000.00")])
    p = prepared(con, spec, tables)
    r = p.reconcile()
    assert p.units.num_rows == 2
    assert r.step("hf_episodes").value == 1
    with pytest.raises(KeyError):
        r.step("hf_target")
    assert any(n.startswith("hf: 0 baseline episodes") for n in r.notes)
    assert any(n.startswith("hf: 1 performance episodes without a target") for n in r.notes)
    assert (r.to_provider, r.to_payer) == (D("100.00"), D("0.00"))   # joint only
    hf = [u for u in p.units.to_pylist() if u["definition_id"] == "hf"]
    assert hf[0]["target"] is None


def test_min_baseline_episodes(con: ibis.BaseBackend) -> None:
    r = prepared(con, spec_of(min_baseline_episodes=10), _nine_and_two()).reconcile()
    assert any("joint: 9 baseline episodes (at least 10 needed)" in n for n in r.notes)
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))


def test_a_resample_is_capped_by_its_own_distribution(con: ibis.BaseBackend) -> None:
    p = prepared(con, spec_of(trend="1.03", discount="0.03"), _nine_and_two())
    low = p.units.filter(pc.equal(p.units["spend"], pa.scalar(D("1500.00"),
                                                                     pa.decimal128(18, 2))))
    r = p.settle(pa.concat_tables([low, low]))
    assert r.step("joint_capped_amount").value == D("0.00")
    assert r.to_provider == D("836.54")   # 2 x 1,918.272 - 3,000


def test_performance_year_cannot_be_a_baseline_year(con: ibis.BaseBackend) -> None:
    with pytest.raises(ConfigError, match="also a baseline year"):
        prepared(con, spec_of(), tables_of(), year=2024)


def test_detail_spend_by_category(con: ibis.BaseBackend) -> None:
    p = prepared(con, spec_of(episodes=[{**JOINT, "include_categories": ["inpatient_acute",
                                                                         "snf"]}]),
                 _nine_and_two())
    rows = p.detail["spend_by_category"].to_pylist()
    assert [(r["period"], r["service_category"], r["episodes"], r["spend"]) for r in rows] == [
        ("baseline", "inpatient_acute", 9, D("18000.00")), ("baseline", "snf", 9, D("0.00")),
        ("performance", "inpatient_acute", 2, D("4000.00")),
        ("performance", "snf", 2, D("0.00"))]


# -- terms -----------------------------------------------------------------------------------


def test_example_contract_validates() -> None:
    spec = BundleSpec.model_validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))
    assert [d.id for d in spec.episodes] == ["major_joint", "heart_failure"]
    assert spec.episodes[0].trigger.drg == ("469", "470", "521", "522")
    assert spec.episodes[0].trigger.hcpcs == ("27447", "27130")
    assert spec.episodes[1].initiator == "billing_tin"
    assert (spec.trend, spec.discount, spec.winsorize) == (D("1.03"), D("0.03"), "p99")
    assert (spec.stop_loss, spec.stop_gain) == (D("0.20"), D("0.20"))
    assert "hospice" not in spec.episodes[0].categories()
    assert "pharmacy" not in spec.episodes[1].categories()


def test_yaml_numbers_become_codes() -> None:
    spec = spec_of(episodes=[{"id": "x", "trigger": {"drg": [65, 470], "hcpcs": [27447]}}])
    assert spec.episodes[0].trigger.drg == ("065", "470")
    assert spec.episodes[0].trigger.hcpcs == ("27447",)


@pytest.mark.parametrize(("change", "message"), [
    ({"episodes": [{**JOINT, "exclude_categories": ["spa"]}]}, "unknown service categories"),
    ({"episodes": [{**JOINT, "include_categories": ["snf"], "exclude_categories": ["snf"]}]},
     "both included and excluded"),
    ({"episodes": [{"id": "x", "trigger": {}}]}, "at least one MS-DRG"),
    ({"episodes": [{"id": "x", "trigger": {"drg": ["47"]}}]}, "3 digits"),
    ({"episodes": [JOINT, JOINT]}, "each id may appear once"),
    ({"winsorize": "p101"}, "winsorize"),
    ({"winsorize": "1.5"}, "winsorize"),
    ({"discount": "1"}, "discount"),
    ({"stop_gain": "1.2"}, "stop_gain"),
    ({"colour": "red"}, "colour"),
    ({"case_mix": {"age_bands": [{"from_age": 75, "factor": 1}, {"from_age": 65,
                                                                   "factor": 1}]}},
     "from_age must increase"),
    ({"quality": {"score": 1, "tiers": [{"at_least": 1, "discount_reduction": "0.01"}] * 2}},
     "each at_least may appear once"),
])
def test_invalid_terms(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec_of(**change)
