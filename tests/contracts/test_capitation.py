"""Capitation on a population: given member-months, claims, risk scores, attribution and
KPIs -> the capitation, withhold, stop-loss and each group's amount (contracts/capitation.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.capitation import CapitationSpec, prepare_capitation
from medsynergy.contracts.result import Reconciliation
from medsynergy.contracts.spec import parse_contract
from medsynergy.errors import ContractError

from .test_population import (
    YEAR,
    attributed,
    duckdb_run,
    em,
    enrolled,
    inpatient,
    kpi,
    rx,
    score,
    world,
)


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


def _spec(**terms: Any) -> CapitationSpec:
    spec = parse_contract({"model": "capitation", "name": "cap", "pmpm": "100", **terms})
    assert isinstance(spec, CapitationSpec)
    return spec


def _reconcile(spec: CapitationSpec, tables: Tables, run: Run) -> Reconciliation:
    return prepare_capitation(spec, tables, run, YEAR).reconcile()


def _allocations_add_up(r: Reconciliation) -> None:
    assert sum((a for _, a in r.allocations), D(0)) == r.to_provider


# P1 12 months, P2 6 months: 18 member-months
TWO = [*enrolled("P1", "2024-01", 12), *enrolled("P2", "2024-01", 6)]
TWO_CLAIMS = [em("P1", "2024-01-10", "80.00"), inpatient("P1", "2024-02-01", "1000.00")]
TWO_RX = [rx("P2", "2024-03-01", "40.00")]


def test_flat_pmpm(run: Run) -> None:
    r = _reconcile(_spec(), world(TWO, TWO_CLAIMS, TWO_RX), run)
    steps = {s.name: s.value for s in r.steps}
    assert steps == {
        "member_months": D(18),
        "covered_cost": D("1120.00"),  # 80 + 1000 + 40: no carve-out
        "capitation_unattributed": D("1800"),  # 18 x 100
        "covered_cost_unattributed": D("1120.00"),
        "margin_unattributed": D("680"),  # 1800 - 1120
        "capitation": D("1800"),
        "ffs_spend": D("1120.00"),
        "paid_to_provider": D("1800"),
        "provider_margin": D("680"),
        "provider_revenue": D("1800"),
    }
    assert (r.to_provider, r.to_payer) == (D("1800.00"), D("-680.00"))
    assert dict(r.allocations) == {"unattributed": D("1800.00")}
    assert dict(r.inputs) == {"year": 2024, "payer": None, "pmpm": D(100), "members": 2}
    assert r.notes == ()


RISK = [score("P1", 1.2), score("P2", 0.9)]
ATTRIBUTION = [attributed("P1", "T1"), attributed("P2", "T2")]


def test_risk_adjusted_without_normalisation(run: Run) -> None:
    t = world(TWO, TWO_CLAIMS, TWO_RX, RISK, ATTRIBUTION)
    r = _reconcile(_spec(risk_adjust=True, normalize_risk=False), t, run)
    # T1: 12 x 1.2 x 100 = 1440; T2: 6 x 0.9 x 100 = 540
    assert r.step("capitation").value == D("1980")
    assert dict(r.allocations) == {"T1": D("1440.00"), "T2": D("540.00")}
    assert (r.to_provider, r.to_payer) == (D("1980.00"), D("-860.00"))  # 1120 - 1980
    with pytest.raises(KeyError):
        r.step("mean_risk_score")
    assert r.notes == ()


def test_risk_adjusted_normalised_keeps_the_total(run: Run) -> None:
    t = world(TWO, TWO_CLAIMS, TWO_RX, RISK, ATTRIBUTION)
    r = _reconcile(_spec(risk_adjust=True), t, run)
    # mean score (12 x 1.2 + 6 x 0.9) / 18 = 19.8 / 18 = 1.1; rate 100 / 1.1
    assert r.step("mean_risk_score").value == D("1.1")
    # T1 14.4 x 90.9090... = 1309.0909...; T2 5.4 x 90.9090... = 490.9090...: the cent
    # left after cutting both down (1309.09 + 490.90) goes to T2's larger remainder
    assert dict(r.allocations) == {"T1": D("1309.09"), "T2": D("490.91")}
    assert r.to_provider == D("1800.00")
    assert r.to_payer == D("-680.00")
    _allocations_add_up(r)


def test_member_without_risk_score_gets_factor_1_and_a_note(run: Run) -> None:
    t = world([*TWO, *enrolled("P3", "2024-01", 6)], TWO_CLAIMS, TWO_RX, RISK,
              [*ATTRIBUTION, attributed("P3", "T2")])
    r = _reconcile(_spec(risk_adjust=True, normalize_risk=False), t, run)
    # T1 1440; T2 540 + P3 6 x 1 x 100 = 1140
    assert dict(r.allocations) == {"T1": D("1440.00"), "T2": D("1140.00")}
    assert r.to_provider == D("2580.00")
    assert r.notes == ("1 member-years have no risk score for 2024: their rate is not "
                       "risk-adjusted (factor 1)",)
    # normalised: the unscored member counts at 1 in the mean: (14.4 + 5.4 + 6) / 24
    r = _reconcile(_spec(risk_adjust=True), t, run)
    assert r.step("mean_risk_score").value == D("1.075")
    assert r.to_provider == D("2400.00")  # 25.8 x 100 / 1.075
    _allocations_add_up(r)


def test_no_risk_adjustment_ignores_scores_and_says_nothing(run: Run) -> None:
    t = world([*TWO, *enrolled("P3", "2024-01", 6)], TWO_CLAIMS, TWO_RX, RISK)
    r = _reconcile(_spec(), t, run)
    assert r.to_provider == D("2400.00")
    assert r.notes == ()


def test_age_sex_factor_first_matching_row(run: Run) -> None:
    members = [
        *enrolled("A", "2024-01", 12, sex="F", born="1953-06-01"),  # F 70: row 1, 1.2
        *enrolled("B", "2024-01", 12, sex="M", born="1953-06-01"),  # M 70: row 2, 0.9
        *enrolled("C", "2024-01", 12, sex="F", born="1963-06-01"),  # F 60: no row, 1
        *enrolled("D", "2024-01", 12, sex="F", born="1943-06-01"),  # F 80: row 2, 0.9
        *enrolled("E", "2024-01", 12, sex="F", born="1949-06-01"),  # F 74: age_to inclusive
        *enrolled("G", "2024-01", 12, sex="F", born="1949-01-31"),  # F 75: row 2, 0.9
    ]
    t = world(members, attribution=[attributed(p, p) for p in "ABCDEG"])
    r = _reconcile(_spec(age_sex=[
        {"sex": "F", "age_from": 65, "age_to": 74, "factor": "1.2"},
        {"age_from": 65, "factor": "0.9"},
    ]), t, run)
    assert dict(r.allocations) == {"A": D("1440.00"), "B": D("1080.00"), "C": D("1200.00"),
                                   "D": D("1080.00"), "E": D("1440.00"), "G": D("1080.00")}
    assert r.to_provider == D("7320.00")
    assert r.step("capitation").rule == "PMPM 100 x age/sex factor x member-months"


def test_age_sex_factor_times_risk(run: Run) -> None:
    t = world(enrolled("A", "2024-01", 10, sex="M", born="1990-01-01"),
              risk=[score("A", 1.5)])
    r = _reconcile(_spec(risk_adjust=True, normalize_risk=False,
                         age_sex=[{"sex": "M", "age_to": 64, "factor": "1.10"}]), t, run)
    assert r.to_provider == D("1650.00")  # 10 x 1.5 x 1.10 x 100


CARVE_MEMBERS = TWO
CARVE_CLAIMS = TWO_CLAIMS
CARVE_RX = [rx("P1", "2024-05-01", "40.00"), rx("P2", "2024-03-01", "500.00")]


def test_carve_outs_stay_fee_for_service(run: Run) -> None:
    t = world(CARVE_MEMBERS, CARVE_CLAIMS, CARVE_RX)
    r = _reconcile(_spec(carve_outs=["pharmacy"]), t, run)
    steps = {s.name: s.value for s in r.steps}
    assert steps["covered_cost"] == D("1080.00")     # 80 + 1000
    assert steps["carved_out_cost"] == D("540.00")   # 40 + 500 pharmacy
    assert steps["ffs_spend"] == D("1620.00")
    assert steps["paid_to_provider"] == D("1800")
    assert steps["provider_margin"] == D("720")      # 1800 - 1080
    assert steps["provider_revenue"] == D("2340")    # 1800 + 540
    assert (r.to_provider, r.to_payer) == (D("1800.00"), D("-720.00"))
    units = {u["person_id"]: (u["covered_cost"], u["carved_out_cost"])
             for u in prepare_capitation(_spec(carve_outs=["pharmacy"]), t, run, YEAR
                                         ).units.to_pylist()}
    assert units == {"P1": (D("1080.00"), D("40.00")), "P2": (D("0.00"), D("500.00"))}


def test_no_carve_outs_has_no_carved_out_step(run: Run) -> None:
    r = _reconcile(_spec(), world(CARVE_MEMBERS, CARVE_CLAIMS, CARVE_RX), run)
    with pytest.raises(KeyError):
        r.step("carved_out_cost")
    assert r.step("covered_cost").value == D("1620.00")


WITHHOLD = {"rate": "0.10", "measures": [
    {"kpi": "awv_rate", "weight": "0.5", "threshold": "0.50", "target": "0.80"},
    {"kpi": "follow_up_7_day_rate", "weight": "0.5", "threshold": "0.40", "target": "0.70"}]}


def test_withhold_returned_by_attainment(run: Run) -> None:
    members = [m for p in ("P1", "P2", "P3", "P4", "P5") for m in enrolled(p, "2024-01", 12)]
    t = world(members,
              attribution=[attributed("P1", "T1"), attributed("P2", "T2"),
                           attributed("P3", "T3"), attributed("P4", "T4")],
              kpis=[kpi("T1", awv_rate="0.4000", follow_up_7_day_rate="0.3000"),  # none
                    kpi("T2", awv_rate="0.6500", follow_up_7_day_rate="0.7000"),  # 0.75
                    kpi("T3", awv_rate="0.9000", follow_up_7_day_rate="0.8000"),  # full
                    kpi("T4", awv_rate="0.8000", follow_up_7_day_rate=None),      # 0.5
                    kpi("T3", year=2023, awv_rate="0", follow_up_7_day_rate="0")])
    r = _reconcile(_spec(withhold=WITHHOLD), t, run)
    # every group 12 x 100 = 1200 capitation, 120 withheld
    assert {s.name: s.value for s in r.steps if s.name.startswith("attainment_")} == {
        "attainment_T1": D(0), "attainment_T2": D("0.75"), "attainment_T3": D(1),
        "attainment_T4": D("0.5")}
    assert r.step("withheld").value == D("600.00")          # 5 x 120
    assert r.step("withhold_returned").value == D("270.00")  # 0 + 90 + 120 + 60 + 0
    assert r.step("paid_to_provider").value == D("5670.00")  # 6000 - 600 + 270
    assert dict(r.allocations) == {"T1": D("1080.00"), "T2": D("1170.00"),
                                   "T3": D("1200.00"), "T4": D("1140.00"),
                                   "unattributed": D("1080.00")}
    assert (r.to_provider, r.to_payer) == (D("5670.00"), D("-5670.00"))  # no claims
    assert r.notes == ("T4: no value for follow_up_7_day_rate; no credit for it",
                       "unattributed: no kpis row for 2024; withhold not returned")
    _allocations_add_up(r)


def test_withhold_of_the_unattributed_uses_the_null_tin_kpis_row(run: Run) -> None:
    t = world(enrolled("P1", "2024-01", 12),
              kpis=[kpi(None, awv_rate="0.8000", follow_up_7_day_rate="0.5500")])
    r = _reconcile(_spec(withhold=WITHHOLD), t, run)
    # attainment 0.5 x 1 + 0.5 x 0.5 = 0.75: 1200 - 120 + 90
    assert r.step("attainment_unattributed").value == D("0.75")
    assert r.to_provider == D("1170.00")


def test_stop_loss_below_at_and_above_the_attachment(run: Run) -> None:
    members = [m for p in ("S1", "S2", "S3", "S4") for m in enrolled(p, "2024-01", 12)]
    t = world(members,
              [inpatient("S1", "2024-03-01", "999.99"),    # below: nothing
               inpatient("S2", "2024-03-01", "1000.00"),   # at: nothing
               inpatient("S3", "2024-03-01", "1000.01"),   # 0.01 above: 0.009
               inpatient("S4", "2024-03-01", "1500.00")],  # 500 above: 450
              # carved-out pharmacy does not count toward the attachment
              [rx("S1", "2024-04-01", "5000.00")])
    spec = _spec(carve_outs=["pharmacy"],
                 stop_loss={"attachment": "1000", "coinsurance": "0.9"})
    p = prepare_capitation(spec, t, run, YEAR)
    r = p.reconcile()
    assert r.step("stop_loss_reimbursed").value == D("450.009")
    assert r.step("covered_cost").value == D("4500.00")
    assert r.step("carved_out_cost").value == D("5000.00")
    assert r.step("paid_to_provider").value == D("5250.009")  # 4 x 1200 + 450.009
    assert (r.to_provider, r.to_payer) == (D("5250.01"), D("-750.01"))
    assert p.detail["stop_loss_members"].to_pylist() == [  # by person
        {"person_id": "S3", "group": "unattributed", "covered_cost": D("1000.01"),
         "stop_loss_excess": D("0.01")},
        {"person_id": "S4", "group": "unattributed", "covered_cost": D("1500.00"),
         "stop_loss_excess": D("500.00")}]


def test_withhold_and_stop_loss_per_group(run: Run) -> None:
    t = world([*enrolled("P1", "2024-01", 12), *enrolled("P2", "2024-01", 12)],
              [inpatient("P1", "2024-02-01", "3000.00")],
              attribution=[attributed("P1", "T1"), attributed("P2", "T2")],
              kpis=[kpi("T1", awv_rate="0.65", follow_up_7_day_rate="0.40"),  # 0.25
                    kpi("T2", awv_rate="0.80", follow_up_7_day_rate="0.70")])  # 1
    r = _reconcile(_spec(withhold=WITHHOLD,
                         stop_loss={"attachment": "2000", "coinsurance": "0.5"}), t, run)
    # T1: 1200 - 120 + 30 + (3000 - 2000) x 0.5 = 1610; T2: 1200 - 120 + 120 = 1200
    assert dict(r.allocations) == {"T1": D("1610.00"), "T2": D("1200.00")}
    assert (r.to_provider, r.to_payer) == (D("2810.00"), D("190.00"))  # 3000 - 2810


def test_allocations_add_up_with_uneven_cents(run: Run) -> None:
    # three groups of 7 member-months with scores 1.1, 1.2, 1.3, normalised: each group's
    # 700 x score / 1.2 has a repeating decimal
    members = [m for p in ("A", "B", "C") for m in enrolled(p, "2024-01", 7)]
    t = world(members, risk=[score("A", 1.1), score("B", 1.2), score("C", 1.3)],
              attribution=[attributed(p, p) for p in "ABC"])
    r = _reconcile(_spec(risk_adjust=True), t, run)
    assert r.step("mean_risk_score").value == D("1.2")
    # A 641.666..., B 700, C 758.333...: floors 641.66 + 700 + 758.33 = 2099.99; the cent
    # goes to A's larger remainder (0.00666 vs 0.00333)
    assert dict(r.allocations) == {"A": D("641.67"), "B": D("700.00"), "C": D("758.33")}
    assert r.to_provider == D("2100.00")
    _allocations_add_up(r)


def test_zero_members(run: Run) -> None:
    t = world(enrolled("P1", "2023-01", 12), [em("P1", "2024-01-10", "80.00")],
              risk=[score("P1", 1.2)], kpis=[kpi("T1", awv_rate="1", follow_up_7_day_rate="1")])
    spec = _spec(risk_adjust=True, carve_outs=["pharmacy"], withhold=WITHHOLD,
                 stop_loss={"attachment": "1000", "coinsurance": "0.9"})
    p = prepare_capitation(spec, t, run, YEAR)
    r = p.reconcile()
    assert p.units.num_rows == 0
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))
    assert r.allocations == ()
    assert r.notes == ("no member-months: no capitation is due",)
    assert r.step("capitation").value == D(0)
    assert r.step("member_months").value == D(0)
    assert p.detail["stop_loss_members"].num_rows == 0


def test_unknown_carve_out_category_is_rejected() -> None:
    with pytest.raises(ContractError, match=r"carve_outs.*unknown service categories "
                       r"\['massage'\]") as e:
        parse_contract({"model": "capitation", "name": "c", "pmpm": "100",
                        "carve_outs": ["pharmacy", "massage"]}, "cap.yaml")
    assert str(e.value).startswith("cap.yaml: invalid contract: ")


@pytest.mark.parametrize(("terms", "problem"), [
    ({"pmpm": "0"}, "pmpm: Input should be greater than 0"),
    ({"withhold": {"rate": "0.05", "measures": [
        {"kpi": "awv_rate", "weight": "0.6", "threshold": "0.5", "target": "0.8"}]}},
     "weights must add up to 1 (they add up to 0.6)"),
    ({"stop_loss": {"attachment": "1000", "coinsurance": "1.5"}},
     "stop_loss.coinsurance: Input should be less than or equal to 1"),
])
def test_invalid_terms(terms: dict[str, Any], problem: str) -> None:
    with pytest.raises(ContractError) as e:
        parse_contract({"model": "capitation", "name": "c", "pmpm": "100", **terms})
    assert problem in str(e.value)
