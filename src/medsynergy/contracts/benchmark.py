"""The benchmark a savings contract measures spend against.

Either a fixed PMPM the parties agreed, or the population's own spend in baseline years:
each year's PMPM trended to the performance year (`trend` per year), the years weighted
(default: equally; MSSP's first agreements used 10 / 30 / 60 %, 42 CFR 425.601(a)(7)),
and, with `risk_adjust`, multiplied by the ratio of the performance year's mean risk
score to the baseline years' (as the MSSP benchmark is adjusted for the change in risk,
42 CFR 425.605(a)). The total is that PMPM x the performance year's member-months."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.population import Population, line_amount, member_years
from medsynergy.contracts.result import Step
from medsynergy.contracts.terms import Strict
from medsynergy.contracts.units import column_sum

SOURCE = "contract terms: benchmark"


class BenchmarkTerms(Strict):
    pmpm: Decimal | None = Field(default=None, gt=0)
    baseline_years: tuple[int, ...] = ()
    #: instead of baseline_years: the N years just before the performance year
    baseline_lookback: int | None = Field(default=None, ge=1, le=10)
    #: one weight per baseline year, adding up to 1; default equal weights
    weights: tuple[Decimal, ...] | None = None
    #: annual trend factor from each baseline year to the performance year
    trend: Decimal = Field(default=Decimal(1), gt=0)
    risk_adjust: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> BenchmarkTerms:
        given = [self.pmpm is not None, bool(self.baseline_years),
                 self.baseline_lookback is not None]
        if sum(given) != 1:
            raise ValueError("give one of pmpm, baseline_years or baseline_lookback")
        if self.weights is not None:
            n = len(self.baseline_years) or self.baseline_lookback
            if len(self.weights) != n:
                raise ValueError("weights: one per baseline year")
            if sum(self.weights, Decimal(0)) != 1:
                raise ValueError("weights must add up to 1")
        return self


@dataclass(frozen=True)
class Baseline:
    """The benchmark PMPM before the performance year's risk ratio, and the baseline
    mean risk score (None: not risk-adjusted)."""

    pmpm: Decimal
    mean_risk: Decimal | None
    steps: tuple[Step, ...]
    notes: tuple[str, ...]


def baseline(terms: BenchmarkTerms, population: Population, tables: Tables, run: Run,
             year: int) -> Baseline:
    """The benchmark PMPM from the terms (reads the baseline years' member-years)."""
    if terms.pmpm is not None:
        return Baseline(terms.pmpm, None, (Step("benchmark_pmpm", terms.pmpm,
                                                "agreed benchmark PMPM", SOURCE),), ())
    steps: list[Step] = []
    notes: list[str] = []
    years = terms.baseline_years or tuple(
        range(year - (terms.baseline_lookback or 0), year))
    n = len(years)
    weights = terms.weights or tuple(Decimal(1) / n for _ in range(n))
    pmpm = Decimal(0)
    risk_num = Decimal(0)
    risk_den = Decimal(0)
    used = Decimal(0)
    missing: list[int] = []
    for by, w in zip(years, weights, strict=True):
        units = run(member_years(tables, by, population,
                                 {"spend": line_amount(population.basis)}))
        months = column_sum(units, "member_months")
        if months <= 0:
            notes.append(f"baseline year {by} has no member-months: left out, the other "
                         "years' weights rescaled")
            continue
        spend = column_sum(units, "spend")
        trended = spend / months * terms.trend ** (year - by)
        steps.append(Step(f"baseline_{by}_pmpm", spend / months,
                          f"spend / member-months, {by}", SOURCE))
        steps.append(Step(f"baseline_{by}_trended", trended,
                          f"x trend {terms.trend} ^ {year - by} years", SOURCE))
        pmpm += w * trended
        used += w
        if terms.risk_adjust:
            mean = _mean_risk(units)
            if mean is None:
                missing.append(by)
            else:
                risk_num += w * mean
                risk_den += w
    if used == 0:
        notes.append("no baseline year has member-months: no benchmark")
        return Baseline(Decimal(0), None, tuple(steps), tuple(notes))
    pmpm /= used
    steps.append(Step("benchmark_pmpm", pmpm, "weighted mean of the trended baseline PMPMs",
                      SOURCE))
    mean_risk = risk_num / risk_den if terms.risk_adjust and risk_den else None
    if missing:
        # a ratio of a scored year to an unscored one would be made up: say so instead
        notes.append(f"risk_adjust: no risk scores for baseline year(s) "
                     f"{', '.join(map(str, missing))} (the risk mart scores payment year(s) "
                     "it has diagnoses for): the benchmark is not risk-adjusted")
        mean_risk = None
    if mean_risk is not None:
        steps.append(Step("baseline_mean_risk", mean_risk,
                          "weighted mean of the baseline years' member-month-weighted risk "
                          "scores", SOURCE))
    return Baseline(pmpm, mean_risk, tuple(steps), tuple(notes))


def _mean_risk(units: pa.Table) -> Decimal | None:
    """The member-month-weighted mean risk score (None: nobody has one)."""
    known = units.filter(pc.is_valid(units["risk_score"]))
    months = column_sum(known, "member_months")
    if months == 0:
        return None
    # exact: scores are DECIMAL(18,6) (population.member_years)
    weighted = pc.sum(pc.multiply(known["risk_score"],
                                  known["member_months"].cast(pa.decimal128(19, 0))))
    return Decimal(weighted.as_py()) / months


def benchmark_total(base: Baseline, units: pa.Table
                    ) -> tuple[Decimal, tuple[Step, ...]]:
    """The performance year's benchmark for `units` (member-years with member_months and
    risk_score): PMPM x risk ratio x member-months."""
    months = column_sum(units, "member_months")
    steps = [Step("member_months", months, "performance-year member-months", SOURCE)]
    pmpm = base.pmpm
    current = _mean_risk(units) if base.mean_risk is not None else None
    if base.mean_risk is not None and base.mean_risk > 0 and current is not None:
        ratio = current / base.mean_risk
        steps.append(Step("risk_ratio", ratio,
                          "performance-year mean risk score / baseline mean risk score",
                          SOURCE))
        pmpm = pmpm * ratio
    elif base.mean_risk is not None:
        steps.append(Step("risk_ratio", "not applied", "no risk scores in the performance "
                          "year: the benchmark is not risk-adjusted", SOURCE))
    total = pmpm * months
    steps.append(Step("benchmark", total, "benchmark PMPM x member-months", SOURCE))
    return total, tuple(steps)


BenchmarkFn = Callable[[pa.Table], tuple[Decimal, tuple[Step, ...]]]
