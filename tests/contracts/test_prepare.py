"""Every contract model bound to a population (contracts/prepare.py): given the tiny
world's member-months, claims, attribution and KPIs -> to_provider, to_payer and the
ffs_spend / provider_revenue steps that `compare` sets side by side."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.ffs import FfsSpec, prepare_ffs
from medsynergy.contracts.prepare import prepare
from medsynergy.contracts.result import Reconciliation, to_cents
from medsynergy.contracts.spec import AnySpec, load_contract, parse_contract
from medsynergy.errors import UserError

from .test_population import (
    YEAR,
    attributed,
    bh,
    duckdb_run,
    ed,
    em,
    enrolled,
    inpatient,
    kpi,
    lab,
    rx,
    world,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"
#: the models prepare() binds to a population (other examples need more than this world)
MODELS = ("fee_for_service", "capitation", "risk_corridor", "bonus_pool", "transfer_pricing")
MODEL_EXAMPLES = [p for p in sorted(EXAMPLES.glob("*.yaml"))
                  if yaml.safe_load(p.read_text(encoding="utf-8")).get("model") in MODELS]


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


# 2024: three members of 12 months (36 member-months), P1 and P2 attributed to T1, P3 to
# T2; spend 2000.00 in all:
#   professional_em 100 + lab 50 (primary care)             150
#   inpatient_acute 1000 + ed 250 (hospital)               1250
#   pharmacy 40 + 500, behavioral_health 60 (no partner)    600
# 2023: P1 only, 12 months, 1200.00 (100 PMPM)
MEMBERS = [*enrolled("P1", "2023-01", 24), *enrolled("P2", "2024-01", 12),
           *enrolled("P3", "2024-01", 12)]
MEDICAL = [
    em("P1", "2024-01-10", "100.00"), lab("P1", "2024-01-10", "50.00"),
    inpatient("P1", "2024-03-01", "1000.00"), ed("P2", "2024-04-01", "250.00"),
    bh("P3", "2024-05-01", "60.00"), inpatient("P1", "2023-06-01", "1200.00"),
]
PHARMACY = [rx("P2", "2024-02-01", "40.00"), rx("P3", "2024-02-01", "500.00")]
ATTRIBUTION = [attributed("P1", "T1"), attributed("P2", "T1"), attributed("P3", "T2")]
KPIS = [kpi("T1", awv_rate="0.8000", readmission_rate="0.1500"),   # 0.5 x 1 + 0.5 x 0.5
        kpi("T2", awv_rate="0.4000", readmission_rate="0.1200")]   # 0.5 x 0 + 0.5 x 1


@pytest.fixture
def tables() -> Tables:
    return world(MEMBERS, MEDICAL, PHARMACY, attribution=ATTRIBUTION, kpis=KPIS)


def _steps(r: Reconciliation) -> dict[str, object]:
    return {s.name: s.value for s in r.steps}


def _prepare(terms: dict[str, Any], tables: Tables, run: Run) -> Prepared:
    return prepare(parse_contract(terms), tables, run, YEAR)


# -- risk corridor -------------------------------------------------------------------------

REACH_BANDS = [{"up_to": "0.25", "provider_share": "1"}, {"up_to": "0.35", "provider_share": "0.5"},
               {"up_to": "0.50", "provider_share": "0.25"}, {"up_to": None, "provider_share": "0.1"}]


def _corridor(benchmark: dict[str, Any] | None) -> dict[str, Any]:
    terms: dict[str, Any] = {"model": "risk_corridor", "name": "corridor", "bands": REACH_BANDS}
    if benchmark is not None:
        terms["benchmark"] = benchmark
    return terms


def test_corridor_on_a_fixed_benchmark(tables: Tables, run: Run) -> None:
    p = _prepare(_corridor({"pmpm": "100"}), tables, run)
    r = p.reconcile()
    # benchmark 100 x 36 = 3600; savings 1600 (44.4 %): 900 x 100 % + 360 x 50 % +
    # (1600 - 1260) x 25 % = 900 + 180 + 85 = 1165 to the provider, 435 to the payer
    steps = _steps(r)
    assert (steps["benchmark_pmpm"], steps["member_months"], steps["benchmark"]) == (
        D(100), D(36), D(3600))
    assert steps["ffs_spend"] == D("2000.00")
    assert steps["gross_savings"] == D("1600.00")
    assert steps["provider_amount"] == D("1165.00")
    assert steps["provider_revenue"] == D("3165.00")  # claims 2000 + 1165
    assert (r.to_provider, r.to_payer) == (D("1165.00"), D("435.00"))
    assert [s.name for s in r.steps][:4] == ["benchmark_pmpm", "member_months", "benchmark",
                                             "ffs_spend"]
    assert r.steps[-1].name == "provider_revenue"
    assert p.unit == "member-year"
    assert p.units.num_rows == 3


def test_corridor_losses(tables: Tables, run: Run) -> None:
    r = _prepare(_corridor({"pmpm": "50"}), tables, run).reconcile()
    # benchmark 1800, actual 2000: a loss of 200 (11 %), all in the first band
    assert (r.to_provider, r.to_payer) == (D("-200.00"), D("0.00"))
    assert _steps(r)["provider_revenue"] == D("1800.00")


def test_corridor_on_a_trended_baseline(tables: Tables, run: Run) -> None:
    r = _prepare(_corridor({"baseline_years": [2023], "trend": "1.1"}), tables, run).reconcile()
    # 2023: 1200 / 12 = 100 PMPM x 1.1 = 110; x 36 = 3960; savings 1960 (49.5 %):
    # 990 + 396 x 0.5 + (1960 - 1386) x 0.25 = 990 + 198 + 143.5 = 1331.5
    assert _steps(r)["benchmark"] == D(3960)
    assert (r.to_provider, r.to_payer) == (D("1331.50"), D("628.50"))
    assert _steps(r)["provider_revenue"] == D("3331.50")


def test_corridor_baseline_notes_are_kept(tables: Tables, run: Run) -> None:
    r = _prepare(_corridor({"baseline_years": [2022, 2023]}), tables, run).reconcile()
    assert r.notes == ("baseline year 2022 has no member-months: left out, the other years' "
                       "weights rescaled",)
    assert _steps(r)["benchmark_pmpm"] == D(100)


def test_corridor_without_benchmark_is_a_user_error(tables: Tables, run: Run) -> None:
    with pytest.raises(UserError, match="corridor: a risk corridor needs `benchmark` terms"):
        _prepare(_corridor(None), tables, run)


# -- bonus pool ----------------------------------------------------------------------------

POOL: dict[str, Any] = {
    "model": "bonus_pool", "name": "pool", "pool_rate": "0.04",
    "measures": [
        {"kpi": "awv_rate", "weight": "0.5", "threshold": "0.5", "target": "0.8"},
        {"kpi": "readmission_rate", "weight": "0.5", "threshold": "0.18", "target": "0.12"}]}


def test_bonus_pool_groups_from_attribution_and_kpis(tables: Tables, run: Run) -> None:
    r = _prepare(POOL, tables, run).reconcile()
    steps = _steps(r)
    # pool 4 % of 2000 = 80; T1 2 member-years x 0.75, T2 1 x 0.5:
    # T1 80 x 2/3 x 0.75 = 40; T2 80 x 1/3 x 0.5 = 13.333...
    assert steps["ffs_spend"] == D("2000.00")
    assert steps["pool"] == D(80)
    assert (steps["attainment_T1"], steps["attainment_T2"]) == (D("0.75"), D("0.5"))
    assert steps["payment_T1"] == D(40)
    payment_t2 = steps["payment_T2"]
    assert isinstance(payment_t2, D)
    assert to_cents(payment_t2) == D("13.33")
    assert dict(r.allocations) == {"T1": D("40.00"), "T2": D("13.33")}
    assert (r.to_provider, r.to_payer) == (D("53.33"), D("26.67"))
    assert steps["provider_revenue"] == D("2053.33")  # claims + bonuses
    assert dict(r.inputs)["member_years"] == D(3)
    assert r.notes == ()
    assert r.to_provider + r.to_payer == D("80.00")


def test_bonus_pool_redistributed(tables: Tables, run: Run) -> None:
    r = _prepare({**POOL, "redistribute_unearned": True}, tables, run).reconcile()
    # weights T1 2 x 0.75 = 1.5, T2 1 x 0.5 = 0.5: 60 and 20
    assert dict(r.allocations) == {"T1": D("60.00"), "T2": D("20.00")}
    assert (r.to_provider, r.to_payer) == (D("80.00"), D("0.00"))


def test_bonus_pool_group_without_kpis_earns_nothing(run: Run) -> None:
    t = world(MEMBERS, MEDICAL, PHARMACY, attribution=ATTRIBUTION, kpis=KPIS[:1])
    r = prepare(parse_contract(POOL), t, run, YEAR).reconcile()
    assert dict(r.allocations) == {"T1": D("40.00"), "T2": D("0.00")}
    assert r.notes == ("T2: no value for awv_rate; no credit for it",
                       "T2: no value for readmission_rate; no credit for it")


def test_bonus_pool_pays_no_unattributed_group(run: Run) -> None:
    t = world([*MEMBERS, *enrolled("P4", "2024-01", 12)], MEDICAL, PHARMACY,
              attribution=ATTRIBUTION,
              kpis=[*KPIS, kpi(None, awv_rate="0.9000", readmission_rate="0.1000")])
    r = prepare(parse_contract(POOL), t, run, YEAR).reconcile()
    allocations = dict(r.allocations)
    assert allocations.get("unattributed", D(0)) == D(0)
    assert r.to_provider == allocations["T1"] + allocations["T2"]


# -- transfer pricing ----------------------------------------------------------------------

PARTNERS = [
    {"name": "primary_care", "categories": ["professional_em", "lab"], "cost_ratio": "0.9",
     "outcome_score": "1.1"},
    {"name": "hospital", "categories": ["inpatient_acute", "ed"], "cost_ratio": "0.8",
     "outcome_score": "1.0"},
]


def _split(method: str, budget: dict[str, Any], partners: list[dict[str, Any]] | None = None
           ) -> dict[str, Any]:
    return {"model": "transfer_pricing", "name": "split", "method": method,
            "partners": partners or PARTNERS, "budget": budget}


def test_transfer_pricing_percent_of_ffs(tables: Tables, run: Run) -> None:
    r = _prepare(_split("outcome_weighted", {"percent_of_ffs": "0.97"}), tables, run
                 ).reconcile()
    steps = _steps(r)
    assert steps["ffs_spend"] == D("2000.00")
    assert steps["member_months"] == D(36)
    assert steps["partners_ffs_value"] == D("1400.00")  # 150 + 1250
    assert steps["budget_rule"] == D("1358.0000")       # 0.97 x 1400
    assert steps["outside_budget"] == D("600.00")       # pharmacy 540 + behavioral 60
    assert steps["provider_revenue"] == D("1958.00")    # budget + outside
    # weights 150 x 0.9 x 1.1 = 148.5 and 1250 x 0.8 x 1.0 = 1000: 1358 x 148.5 / 1148.5
    # = 175.588... and 1182.411...; the cent left goes to primary care's larger remainder
    assert dict(r.allocations) == {"primary_care": D("175.59"), "hospital": D("1182.41")}
    assert (r.to_provider, r.to_payer) == (D("1358.00"), D("0.00"))
    payment = steps["payment_hospital"]
    assert isinstance(payment, D)
    assert steps["margin_vs_ffs_hospital"] == payment - D(1250)


def test_transfer_pricing_budget_pmpm_cost_share(tables: Tables, run: Run) -> None:
    r = _prepare(_split("cost_share", {"pmpm": "40"}), tables, run).reconcile()
    # 40 x 36 = 1440 by cost 135 : 1000 = 171.277... and 1268.722...
    assert _steps(r)["budget_rule"] == D(1440)
    assert dict(r.allocations) == {"primary_care": D("171.28"), "hospital": D("1268.72")}
    assert (r.to_provider, r.to_payer) == (D("1440.00"), D("0.00"))
    assert _steps(r)["provider_revenue"] == D("2040.00")  # 1440 + 600


def test_transfer_pricing_fixed_split(tables: Tables, run: Run) -> None:
    partners = [{**PARTNERS[0], "share": "0.3"}, {**PARTNERS[1], "share": "0.7"}]
    r = _prepare(_split("fixed_split", {"pmpm": "40"}, partners), tables, run).reconcile()
    assert dict(r.allocations) == {"primary_care": D("432.00"), "hospital": D("1008.00")}


def test_transfer_pricing_partners_without_care_split_evenly(tables: Tables, run: Run) -> None:
    partners = [{"name": "snf", "categories": ["snf"]}, {"name": "hospice", "categories": ["hospice"]}]
    r = _prepare(_split("cost_share", {"pmpm": "40"}, partners), tables, run).reconcile()
    assert dict(r.allocations) == {"snf": D("720.00"), "hospice": D("720.00")}
    assert r.notes == ("no cost (or no weight) to divide by: the budget is split evenly",)
    assert _steps(r)["outside_budget"] == D("2000.00")  # no partner delivers any of it
    assert _steps(r)["partners_ffs_value"] == D(0)


def test_transfer_pricing_without_budget_is_a_user_error(tables: Tables, run: Run) -> None:
    terms = _split("cost_share", {"pmpm": "40"})
    del terms["budget"]
    with pytest.raises(UserError, match="split: transfer pricing needs `budget` terms"):
        _prepare(terms, tables, run)


# -- conservation on any sample of the units -------------------------------------------------

SAMPLES = st.lists(st.integers(min_value=0, max_value=2), min_size=0, max_size=12)


@pytest.fixture
def pool_prepared(tables: Tables, run: Run) -> Prepared:
    return _prepare({**POOL, "pool_rate": "0.037"}, tables, run)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=SAMPLES)
def test_bonus_pool_conserves_the_pool(pool_prepared: Prepared, rows: list[int]) -> None:
    r = pool_prepared.settle(pool_prepared.units.take(pa.array(rows, pa.int64())))
    pool = _steps(r)["pool"]
    assert isinstance(pool, D)
    assert r.to_provider + r.to_payer == to_cents(pool)
    assert sum((a for _, a in r.allocations), D(0)) == r.to_provider


@pytest.fixture
def split_prepared(tables: Tables, run: Run) -> Prepared:
    return _prepare(_split("outcome_weighted", {"percent_of_ffs": "0.97"}), tables, run)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=SAMPLES)
def test_transfer_pricing_allocations_sum_to_the_budget(split_prepared: Prepared,
                                                        rows: list[int]) -> None:
    r = split_prepared.settle(split_prepared.units.take(pa.array(rows, pa.int64())))
    budget = _steps(r)["budget_rule"]
    assert isinstance(budget, D)
    assert sum((a for _, a in r.allocations), D(0)) == to_cents(budget) == r.to_provider
    assert r.to_payer == D("0.00")


# -- every model through prepare() -----------------------------------------------------------


def test_prepare_dispatches_fee_for_service(tables: Tables, run: Run) -> None:
    spec = parse_contract({"model": "fee_for_service", "name": "ffs"})
    assert isinstance(spec, FfsSpec)
    r = prepare(spec, tables, run, YEAR).reconcile()
    assert r == prepare_ffs(spec, tables, run, YEAR).reconcile()
    assert (r.to_provider, r.to_payer) == (D("2000.00"), D("0.00"))


def test_the_examples_of_every_model_are_there() -> None:
    assert sorted({load_contract(p).model for p in MODEL_EXAMPLES}) == sorted(MODELS)


@pytest.mark.parametrize("path", MODEL_EXAMPLES, ids=lambda p: p.stem)
def test_every_example_contract_runs_on_the_tiny_world(tables: Tables, run: Run, path: Path
                                                       ) -> None:
    spec: AnySpec = load_contract(path)
    r = prepare(spec, tables, run, YEAR).reconcile()
    steps = _steps(r)
    # every example covers everyone enrolled, on the paid amounts
    assert steps["ffs_spend"] == D("2000.00")
    revenue = steps["provider_revenue"]
    assert isinstance(revenue, D)
    if spec.model in ("bonus_pool", "risk_corridor"):
        assert revenue == D("2000.00") + r.to_provider
    if spec.model == "transfer_pricing":
        assert r.to_payer == D("0.00")
