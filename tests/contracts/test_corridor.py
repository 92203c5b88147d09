"""Risk corridors: marginal bands of savings and losses, given rows -> expected amounts."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import orjson
import pytest

from medsynergy.contracts.corridor import CorridorSpec, reconcile_corridor
from medsynergy.contracts.spec import load_contract, parse_contract
from medsynergy.errors import ContractError

#: ACO REACH global risk corridor: 100 % to 25 %, 50 % to 35 %, 25 % to 50 %, 10 % beyond
REACH: dict[str, object] = {"model": "risk_corridor", "name": "reach-global", "bands": [
    {"up_to": "0.25", "provider_share": "1"},
    {"up_to": "0.35", "provider_share": "0.5"},
    {"up_to": "0.50", "provider_share": "0.25"},
    {"up_to": None, "provider_share": "0.10"}]}
BENCHMARK = D("1000000.00")


def _spec(data: dict[str, object] = REACH) -> CorridorSpec:
    spec = parse_contract(data)
    assert isinstance(spec, CorridorSpec)
    return spec


@pytest.mark.parametrize(("actual", "provider", "payer"), [
    (D("1000000.00"), D("0.00"), D("0.00")),            # no savings
    (D("800000.00"), D("200000.00"), D("0.00")),        # 20 %: all in the first band
    (D("750000.00"), D("250000.00"), D("0.00")),        # at the 25 % edge
    (D("749999.99"), D("250000.01"), D("0.00")),        # 0.01 above: 0.005 -> rounded once
    (D("700000.00"), D("275000.00"), D("25000.00")),    # 30 %: 250k + 50k x 50 %
    (D("650000.00"), D("300000.00"), D("50000.00")),    # at the 35 % edge
    (D("400000.00"), D("347500.00"), D("252500.00")),   # 60 %: 250k + 50k + 37.5k + 10k
    (D("1300000.00"), D("-275000.00"), D("-25000.00")),  # 30 % losses, same bands
    (D("1250000.00"), D("-250000.00"), D("0.00")),      # losses at the 25 % edge
])
def test_reach_bands(actual: D, provider: D, payer: D) -> None:
    r = reconcile_corridor(_spec(), BENCHMARK, actual)
    assert (r.to_provider, r.to_payer) == (provider, payer)
    assert r.to_provider + r.to_payer == BENCHMARK - actual  # conserved to the cent


def test_band_steps_are_unrounded() -> None:
    r = reconcile_corridor(_spec(), BENCHMARK, D("749999.99"))
    assert r.step("band_2_amount").value == D("0.01")
    assert r.step("band_2_provider").value == D("0.005")
    assert r.step("provider_amount").value == D("250000.005")
    assert r.step("savings_rate").value == D("0.25000001")


def test_asymmetric_loss_bands() -> None:
    spec = _spec({**REACH, "loss_bands": [{"up_to": "0.05", "provider_share": "0"},
                                          {"up_to": None, "provider_share": "0.5"}]})
    r = reconcile_corridor(spec, BENCHMARK, D("1100000.00"))   # 10 % losses
    assert (r.to_provider, r.to_payer) == (D("-25000.00"), D("-75000.00"))
    r = reconcile_corridor(spec, BENCHMARK, D("900000.00"))    # savings use `bands`
    assert (r.to_provider, r.to_payer) == (D("100000.00"), D("0.00"))


def test_zero_benchmark_settles_nothing_and_says_why() -> None:
    r = reconcile_corridor(_spec(), D("0"), D("0"))
    assert (r.to_provider, r.to_payer) == (D("0"), D("0"))
    assert len(r.notes) == 1
    assert "no corridor applies" in r.notes[0]


def test_result_is_json_with_exact_decimals() -> None:
    r = reconcile_corridor(_spec(), BENCHMARK, D("700000.00"))
    out = orjson.loads(r.to_json())
    assert out["to_provider"] == "275000.00"
    assert out["inputs"] == {"benchmark": "1000000.00", "actual_expenditure": "700000.00"}
    assert [s["name"] for s in out["steps"]][:2] == ["gross_savings", "savings_rate"]
    assert out["steps"][0]["source"].startswith("contract terms")


@pytest.mark.parametrize(("change", "message"), [
    ({"bands": [{"up_to": "0.25", "provider_share": "1.5"}, {"provider_share": "0"}]},
     "bands.0.provider_share: Input should be less than or equal to 1"),
    ({"bands": [{"up_to": "0.25"}, {"provider_share": "0"}]},
     "bands.0.provider_share: Field required"),
    ({"bands": [{"up_to": "0.25", "provider_share": "1"}]},
     "the last band must be open"),
    ({"bands": [{"up_to": "0.35", "provider_share": "1"}, {"up_to": "0.25", "provider_share": "1"},
                {"provider_share": "0"}]},
     "band edges (up_to) must increase"),
    ({"band": []}, "band: Extra inputs are not permitted"),
])
def test_invalid_specs_name_the_field(change: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError) as err:
        parse_contract({**REACH, **change}, "c.yaml")
    assert str(err.value).startswith("c.yaml: invalid contract: ")
    assert message in str(err.value)


def test_unknown_model_and_file_errors(tmp_path: Path) -> None:
    f = tmp_path / "x.yaml"
    f.write_text("model: lottery\nname: x\n")
    with pytest.raises(ContractError, match=r"x\.yaml: invalid contract: .*'risk_corridor'"):
        load_contract(f)
    f.write_text("model: risk_corridor\nname: x\nbands:\n  - up_to: null\n    provider_share: 0.4\n")
    spec = load_contract(f)
    assert isinstance(spec, CorridorSpec)
    assert reconcile_corridor(spec, D("100"), D("90")).to_provider == D("4.00")


EXAMPLES = Path(__file__).parents[2] / "examples" / "contracts"


def test_example_contracts_validate() -> None:
    specs = {p.name: load_contract(p) for p in sorted(EXAMPLES.glob("*.yaml"))}
    reach = specs["reach_global_corridor.yaml"]
    assert isinstance(reach, CorridorSpec)
    assert reach.bands == _spec(REACH).bands
    assert reach.benchmark is not None
    assert reach.benchmark.baseline_lookback == 2
    assert reach.benchmark.weights == (D("0.4"), D("0.6"))
    assert specs["p4p_bonus_pool.yaml"].model == "bonus_pool"
    assert specs["integrated_care_transfer_pricing.yaml"].model == "transfer_pricing"
