"""Internal transfer pricing: each method's split, margins versus FFS; conservation."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medsynergy.contracts.spec import parse_contract
from medsynergy.contracts.transfer_pricing import (
    PartnerResult,
    TransferPricingSpec,
    reconcile_transfer_pricing,
)
from medsynergy.errors import ContractError

PARTNERS = [{"name": "primary_care"}, {"name": "behavioural_health"}, {"name": "hospital"}]
RESULTS = [PartnerResult("primary_care", D("200000"), D("180000"), D("1.2")),
           PartnerResult("behavioural_health", D("100000"), D("120000"), D("1.0")),
           PartnerResult("hospital", D("700000"), D("760000"), D("0.8"))]
BUDGET = D("900000.00")


def _spec(method: str, partners: list[dict[str, str]] = PARTNERS) -> TransferPricingSpec:
    spec = parse_contract({"model": "transfer_pricing", "name": "tp", "method": method,
                           "partners": partners})
    assert isinstance(spec, TransferPricingSpec)
    return spec


def test_cost_share() -> None:
    r = reconcile_transfer_pricing(_spec("cost_share"), BUDGET, RESULTS)
    assert dict(r.allocations) == {"primary_care": D("180000.00"),
                                   "behavioural_health": D("90000.00"),
                                   "hospital": D("630000.00")}
    assert r.step("margin_vs_ffs_behavioural_health").value == D("-30000")
    assert r.step("margin_vs_ffs_primary_care").value == D("0")


def test_fixed_split() -> None:
    fixed = [{"name": "primary_care", "share": "0.25"},
             {"name": "behavioural_health", "share": "0.15"},
             {"name": "hospital", "share": "0.60"}]
    r = reconcile_transfer_pricing(_spec("fixed_split", fixed), BUDGET, RESULTS)
    assert dict(r.allocations) == {"primary_care": D("225000.00"),
                                   "behavioural_health": D("135000.00"),
                                   "hospital": D("540000.00")}
    assert r.step("margin_vs_ffs_hospital").value == D("-220000")


def test_outcome_weighted() -> None:
    # weights 240,000 / 100,000 / 560,000 of 900,000: the budget equals the total weight
    r = reconcile_transfer_pricing(_spec("outcome_weighted"), BUDGET, RESULTS)
    assert dict(r.allocations) == {"primary_care": D("240000.00"),
                                   "behavioural_health": D("100000.00"),
                                   "hospital": D("560000.00")}
    assert (r.to_provider, r.to_payer) == (BUDGET, D("0.00"))


def test_thirds_add_up_to_the_cent() -> None:
    even = [PartnerResult(p["name"], D(1), D(0)) for p in PARTNERS]
    r = reconcile_transfer_pricing(_spec("cost_share"), D("100.00"), even)
    assert dict(r.allocations) == {"primary_care": D("33.34"), "behavioural_health": D("33.33"),
                                   "hospital": D("33.33")}


def test_missing_partner_and_zero_cost() -> None:
    r = reconcile_transfer_pricing(_spec("cost_share"), D("90.00"), [])
    assert dict(r.allocations) == {"primary_care": D("30.00"),
                                   "behavioural_health": D("30.00"), "hospital": D("30.00")}
    assert r.notes[-1].startswith("no cost")
    assert r.notes[0] == "primary_care: no results given; counted with zero cost"


@pytest.mark.parametrize(("method", "partners", "message"), [
    ("fixed_split", PARTNERS, "fixed_split needs a share for every partner"),
    ("fixed_split", [{"name": "a", "share": "0.5"}, {"name": "b", "share": "0.4"}],
     "shares must add up to 1"),
    ("cost_share", [{"name": "a", "share": "1"}], "shares are only read by fixed_split"),
    ("cost_share", [{"name": "a"}, {"name": "a"}], "each name may appear once"),
    ("by_vibes", PARTNERS, "method: Input should be"),
])
def test_invalid_specs(method: str, partners: list[dict[str, str]], message: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_contract({"model": "transfer_pricing", "name": "tp", "method": method,
                        "partners": partners}, "tp.yaml")
    assert message in str(err.value)


@settings(max_examples=200, deadline=None)
@given(budget=st.decimals(min_value=0, max_value=10_000_000, places=2),
       method=st.sampled_from(["cost_share", "outcome_weighted"]),
       costs=st.lists(st.tuples(st.decimals(min_value=0, max_value=1_000_000, places=2),
                                st.decimals(min_value=0, max_value=2, places=2)),
                      min_size=3, max_size=3))
def test_budget_is_conserved(budget: D, method: str, costs: list[tuple[D, D]]) -> None:
    results = [PartnerResult(p["name"], c, c, s) for p, (c, s) in zip(PARTNERS, costs,
                                                                       strict=True)]
    r = reconcile_transfer_pricing(_spec(method), budget, results)
    assert sum(a for _, a in r.allocations) == budget   # what partners receive = the budget
    assert all(a >= 0 for _, a in r.allocations)
