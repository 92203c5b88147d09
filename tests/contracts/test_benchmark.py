"""The benchmark of a savings contract: given member-months, claims and risk scores of the
baseline and performance years -> the benchmark PMPM and total (contracts/benchmark.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from medsynergy.contracts.benchmark import Baseline, BenchmarkTerms, baseline, benchmark_total
from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.population import Population, line_amount, member_years
from medsynergy.contracts.result import Step
from medsynergy.contracts.spec import parse_contract
from medsynergy.errors import ContractError

from .test_population import YEAR, duckdb_run, enrolled, inpatient, score, world


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


# P1 enrolled all of 2022-2024; P2 January-April 2024: 16 member-months in 2024
MEMBERS = [*enrolled("P1", "2022-01", 36), *enrolled("P2", "2024-01", 4)]
MEDICAL = [
    inpatient("P1", "2022-05-01", "1200.00"),  # 2022: 1200 / 12 = 100 PMPM
    inpatient("P1", "2023-05-01", "2400.00"),  # 2023: 2400 / 12 = 200 PMPM
    inpatient("P2", "2024-02-01", "500.00"),
]
# binary-exact scores (0.5, 1.0, 1.5): the weighted means are exact
RISK = [score("P1", 0.5, 2022), score("P1", 1.0, 2023), score("P1", 1.5, 2024),
        score("P2", 0.5, 2024)]


@pytest.fixture
def tables() -> Tables:
    return world(MEMBERS, MEDICAL, risk=RISK)


def _terms(**terms: Any) -> BenchmarkTerms:
    return BenchmarkTerms.model_validate(terms)


def _performance_units(tables: Tables, run: Run) -> pa.Table:
    return run(member_years(tables, YEAR, Population(), {"spend": line_amount("paid")}))


def _steps(steps: tuple[Step, ...]) -> dict[str, object]:
    return {s.name: s.value for s in steps}


def test_fixed_pmpm(tables: Tables, run: Run) -> None:
    base = baseline(_terms(pmpm="500"), Population(), tables, run, YEAR)
    assert base == Baseline(D(500), None, (Step("benchmark_pmpm", D(500),
                                                "agreed benchmark PMPM",
                                                "contract terms: benchmark"),), ())
    total, steps = benchmark_total(base, _performance_units(tables, run))
    assert total == D(8000)  # 500 x 16
    assert _steps(steps) == {"member_months": D(16), "benchmark": D(8000)}


def test_baseline_years_weighted_and_trended(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_years=[2022, 2023], weights=["0.4", "0.6"], trend="1.05"),
                    Population(), tables, run, YEAR)
    # 2022: 100 x 1.05^2 = 110.25; 2023: 200 x 1.05 = 210; 0.4 x 110.25 + 0.6 x 210 = 170.1
    assert _steps(base.steps) == {
        "baseline_2022_pmpm": D(100), "baseline_2022_trended": D("110.25"),
        "baseline_2023_pmpm": D(200), "baseline_2023_trended": D(210),
        "benchmark_pmpm": D("170.1")}
    assert (base.pmpm, base.mean_risk, base.notes) == (D("170.1"), None, ())
    total, steps = benchmark_total(base, _performance_units(tables, run))
    assert total == D("2721.6")  # 170.1 x 16
    assert "risk_ratio" not in _steps(steps)


def test_baseline_lookback_with_equal_weights(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_lookback=2, trend="1.05"), Population(), tables, run, YEAR)
    # the two years before 2024, 1/2 each: (110.25 + 210) / 2
    assert base.pmpm == D("160.125")
    assert [s.name for s in base.steps][:4] == [
        "baseline_2022_pmpm", "baseline_2022_trended", "baseline_2023_pmpm",
        "baseline_2023_trended"]
    assert benchmark_total(base, _performance_units(tables, run))[0] == D("2562")  # x 16


def test_lookback_of_one_year_untrended(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_lookback=1), Population(), tables, run, YEAR)
    assert base.pmpm == D(200)
    assert _steps(base.steps)["baseline_2023_trended"] == D(200)


def test_baseline_year_without_member_months_is_left_out(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_years=[2021, 2022, 2023], weights=["0.2", "0.3", "0.5"],
                           trend="1.05"), Population(), tables, run, YEAR)
    # (0.3 x 110.25 + 0.5 x 210) / 0.8 = 138.075 / 0.8
    assert base.pmpm == D("172.59375")
    assert base.notes == ("baseline year 2021 has no member-months: left out, the other "
                          "years' weights rescaled",)
    assert "baseline_2021_pmpm" not in _steps(base.steps)


def test_no_baseline_year_with_member_months(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_years=[2019, 2020]), Population(), tables, run, YEAR)
    assert (base.pmpm, base.mean_risk, base.steps) == (D(0), None, ())
    assert base.notes == (
        "baseline year 2019 has no member-months: left out, the other years' weights rescaled",
        "baseline year 2020 has no member-months: left out, the other years' weights rescaled",
        "no baseline year has member-months: no benchmark")
    assert benchmark_total(base, _performance_units(tables, run))[0] == D(0)


def test_baseline_of_a_payer_population(run: Run) -> None:
    t = world([*enrolled("P1", "2023-01", 12), *enrolled("P2", "2023-01", 12, payer="acme")],
              [inpatient("P1", "2023-03-01", "600.00"),
               inpatient("P2", "2023-03-01", "6000.00", payer="acme")])
    base = baseline(_terms(baseline_years=[2023]), Population(payer="mcare"), t, run, YEAR)
    assert base.pmpm == D(50)  # 600 / 12: acme's member and claim are not in it


def test_risk_adjusted_with_scores_in_every_year(tables: Tables, run: Run) -> None:
    base = baseline(_terms(baseline_years=[2022, 2023], weights=["0.4", "0.6"], trend="1.05",
                           risk_adjust=True), Population(), tables, run, YEAR)
    # baseline mean score 0.4 x 0.5 + 0.6 x 1.0 = 0.8
    assert base.mean_risk == D("0.8")
    assert _steps(base.steps)["baseline_mean_risk"] == D("0.8")
    assert base.notes == ()
    total, steps = benchmark_total(base, _performance_units(tables, run))
    # 2024: (12 x 1.5 + 4 x 0.5) / 16 = 1.25; ratio 1.25 / 0.8 = 1.5625;
    # 170.1 x 1.5625 x 16 = 4252.5
    assert _steps(steps) == {"member_months": D(16), "risk_ratio": D("1.5625"),
                             "benchmark": D("4252.5")}
    assert total == D("4252.5")


def test_members_without_a_score_are_left_out_of_the_mean(run: Run) -> None:
    t = world([*enrolled("P1", "2023-01", 12), *enrolled("P2", "2023-01", 12),
               *enrolled("P1", "2024-01", 6)],
              [inpatient("P2", "2023-03-01", "2400.00")],
              risk=[score("P1", 1.5, 2023), score("P1", 0.75, 2024)])
    base = baseline(_terms(baseline_years=[2023], risk_adjust=True), Population(), t, run,
                    YEAR)
    assert base.mean_risk == D("1.5")  # P2 has no 2023 score
    units = run(member_years(t, YEAR, Population(), {"spend": line_amount("paid")}))
    total, steps = benchmark_total(base, units)
    assert _steps(steps)["risk_ratio"] == D("0.5")
    assert total == D(300)  # 2400 / 24 = 100 PMPM x 0.5 x 6 member-months


def test_baseline_year_lacking_scores_is_not_risk_adjusted(run: Run) -> None:
    t = world(MEMBERS, MEDICAL, risk=[r for r in RISK if r["payment_year"] != 2022])
    base = baseline(_terms(baseline_years=[2022, 2023], weights=["0.4", "0.6"], trend="1.05",
                           risk_adjust=True), Population(), t, run, YEAR)
    assert base.mean_risk is None
    assert base.pmpm == D("170.1")
    assert base.notes == (
        "risk_adjust: no risk scores for baseline year(s) 2022 (the risk mart scores payment "
        "year(s) it has diagnoses for): the benchmark is not risk-adjusted",)
    assert "baseline_mean_risk" not in _steps(base.steps)
    total, steps = benchmark_total(base, _performance_units(t, run))
    assert "risk_ratio" not in _steps(steps)
    assert total == D("2721.6")


def test_performance_year_without_scores_is_not_adjusted(run: Run) -> None:
    t = world(MEMBERS, MEDICAL, risk=[r for r in RISK if r["payment_year"] != 2024])
    base = baseline(_terms(baseline_years=[2022, 2023], weights=["0.4", "0.6"], trend="1.05",
                           risk_adjust=True), Population(), t, run, YEAR)
    assert base.mean_risk == D("0.8")
    total, steps = benchmark_total(base, _performance_units(t, run))
    # said in the steps, not silently skipped
    assert _steps(steps)["risk_ratio"] == "not applied"
    assert total == D("2721.6")


def test_mean_risk_of_a_decimal_score_is_exact(run: Run) -> None:
    t = world(enrolled("P1", "2023-01", 12), risk=[score("P1", 1.2, 2023)])
    base = baseline(_terms(baseline_years=[2023], risk_adjust=True), Population(), t, run,
                    YEAR)
    assert base.mean_risk == D("1.2")


@pytest.mark.parametrize(("terms", "message"), [
    ({"pmpm": "500", "baseline_years": [2022]},
     "give one of pmpm, baseline_years or baseline_lookback"),
    ({"baseline_years": [2022], "baseline_lookback": 1},
     "give one of pmpm, baseline_years or baseline_lookback"),
    ({}, "give one of pmpm, baseline_years or baseline_lookback"),
    ({"baseline_years": [2022, 2023], "weights": ["0.5", "0.6"]}, "weights must add up to 1"),
    ({"baseline_lookback": 2, "weights": ["0.3", "0.3"]}, "weights must add up to 1"),
    ({"baseline_years": [2022, 2023], "weights": ["1"]}, "weights: one per baseline year"),
    ({"baseline_lookback": 0}, "greater than or equal to 1"),
    ({"baseline_lookback": 11}, "less than or equal to 10"),
    ({"pmpm": "0"}, "greater than 0"),
    ({"baseline_years": [2022], "trend": "0"}, "greater than 0"),
])
def test_invalid_terms(terms: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        _terms(**terms)


def test_invalid_benchmark_in_a_contract_names_the_field() -> None:
    with pytest.raises(ContractError) as e:
        parse_contract({"model": "risk_corridor", "name": "c",
                        "bands": [{"up_to": None, "provider_share": "0.5"}],
                        "benchmark": {"pmpm": "500", "baseline_lookback": 2}}, "c.yaml")
    assert str(e.value) == ("c.yaml: invalid contract: risk_corridor.benchmark: Value error, "
                            "give one of pmpm, baseline_years or baseline_lookback")
