"""Pay-for-performance bonus pool: credit, attainment, payments; conservation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsynergy.contracts.bonus_pool import BonusPoolSpec, Group, credit, reconcile_bonus_pool
from medsynergy.contracts.result import to_cents
from medsynergy.contracts.spec import parse_contract
from medsynergy.errors import ContractError

POOL: dict[str, object] = {
    "model": "bonus_pool", "name": "p4p", "pool_rate": "0.04",
    "measures": [
        # higher is better
        {"kpi": "awv_rate", "weight": "0.5", "threshold": "0.5", "target": "0.8"},
        # lower is better: the target is below the threshold
        {"kpi": "readmission_rate", "weight": "0.5", "threshold": "0.18", "target": "0.12"}]}
G1 = Group("G1", D(600), {"awv_rate": D("0.80"), "readmission_rate": D("0.15")})
G2 = Group("G2", D(400), {"awv_rate": D("0.40"), "readmission_rate": D("0.12")})


def _spec(**change: object) -> BonusPoolSpec:
    spec = parse_contract({**POOL, **change})
    assert isinstance(spec, BonusPoolSpec)
    return spec


@pytest.mark.parametrize(("kpi", "value", "expected"), [
    ("awv_rate", D("0.5"), D(0)),         # at the threshold: no credit
    ("awv_rate", D("0.49"), D(0)),        # short of it
    ("awv_rate", D("0.65"), D("0.5")),    # halfway
    ("awv_rate", D("0.8"), D(1)),         # at the target
    ("awv_rate", D("0.95"), D(1)),        # beyond: capped
    ("readmission_rate", D("0.18"), D(0)),
    ("readmission_rate", D("0.15"), D("0.5")),
    ("readmission_rate", D("0.10"), D(1)),
])
def test_credit(kpi: str, value: D, expected: D) -> None:
    (measure,) = [m for m in _spec().measures if m.kpi == kpi]
    assert credit(measure, value) == expected


def test_slices_by_member_years_times_attainment() -> None:
    r = reconcile_bonus_pool(_spec(), D("1000000.00"), [G1, G2])
    assert r.step("pool").value == D("40000.0000")
    assert r.step("attainment_G1").value == D("0.75")   # 0.5 x 1 + 0.5 x 0.5
    assert r.step("attainment_G2").value == D("0.5")    # 0.5 x 0 + 0.5 x 1
    assert dict(r.allocations) == {"G1": D("18000.00"), "G2": D("8000.00")}
    assert (r.to_provider, r.to_payer) == (D("26000.00"), D("14000.00"))


def test_redistributed_pool_is_paid_whole_to_the_cent() -> None:
    r = reconcile_bonus_pool(_spec(redistribute_unearned=True), D("1000000.00"), [G1, G2])
    # 40,000 x 450 / 650 and x 200 / 650: the cent left over goes to the larger remainder
    assert dict(r.allocations) == {"G1": D("27692.31"), "G2": D("12307.69")}
    assert (r.to_provider, r.to_payer) == (D("40000.00"), D("0.00"))


def test_missing_kpi_earns_no_credit_and_says_so() -> None:
    g = Group("G3", D(100), {"awv_rate": D("0.8")})
    r = reconcile_bonus_pool(_spec(), D("1000.00"), [g])
    assert r.step("attainment_G3").value == D("0.5")
    assert r.notes == ("G3: no value for readmission_rate; no credit for it",)
    assert dict(r.allocations) == {"G3": D("20.00")}


def test_zero_members_earn_nothing() -> None:
    r = reconcile_bonus_pool(_spec(), D("1000.00"), [Group("G", D(0), {})])
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("40.00"))
    assert "no attributed member-years" in r.notes[-1]


@pytest.mark.parametrize(("change", "message"), [
    ({"measures": [{"kpi": "a", "weight": "0.6", "threshold": "0", "target": "1"}]},
     "weights must add up to 1"),
    ({"measures": [{"kpi": "a", "weight": "1", "threshold": "1", "target": "1"}]},
     "threshold and target must differ"),
    ({"pool_rate": "5"}, "pool_rate: Input should be less than or equal to 1"),
    ({"measures": [{"kpi": "a", "weight": "1", "threshold": "0", "target": "1", "x": 1}]},
     "measures.0.x: Extra inputs are not permitted"),
])
def test_invalid_pools(change: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match="invalid contract") as err:
        parse_contract({**POOL, **change}, "pool.yaml")
    assert message in str(err.value)


money = st.decimals(min_value=0, max_value=10_000_000, places=2)
rate = st.decimals(min_value=0, max_value=1, places=3)


@settings(max_examples=200, deadline=None)
@given(spend=money, redistribute=st.booleans(),
       groups=st.lists(st.tuples(st.integers(min_value=0, max_value=50_000), rate, rate),
                       min_size=1, max_size=8))
def test_amounts_are_conserved(spend: D, redistribute: bool,
                               groups: list[tuple[int, D, D]]) -> None:
    gs = [Group(f"G{i}", D(n), {"awv_rate": a, "readmission_rate": b})
          for i, (n, a, b) in enumerate(groups)]
    r = reconcile_bonus_pool(_spec(redistribute_unearned=redistribute), spend, gs)
    pool = to_cents(spend * D("0.04"))
    # what the groups receive plus what returns to the payer is the pool, to the cent
    assert sum(a for _, a in r.allocations) == r.to_provider
    assert r.to_provider + r.to_payer == pool
    assert D(0) <= r.to_provider <= pool
    assert all(a >= 0 for _, a in r.allocations)
