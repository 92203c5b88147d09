"""Shared savings on a population, Medicare Shared Savings Program rules (issue "Payment
models", model 4; 42 CFR part 425, subpart G).

This module computes, from the warehouse, what the program's settlement needs: the
ACO's assigned beneficiaries, their expenditures and the updated benchmark. The
settlement itself (minimum savings rate, sharing rate, quality, sequestration, caps,
losses) is `mssp_settle.settle`, the same rules `medsynergy mssp settle-puf` checks
against CMS's published results.

Expenditures (42 CFR 425.605(a), 425.601(a)): Parts A and B claims of the assigned
beneficiaries (pharmacy lines are Part D and left out); IME, DSH and uncompensated care
payments are excluded, and the canonical claim lines carry none (a note says so).
Each beneficiary's annualised expenditures are truncated at the national 99th
percentile of their enrollment type (`truncation`, 425.601(a)(4)); without it nothing is
truncated, and the result says so. Per capita amounts are kept by enrollment type: ESRD,
disabled, aged dual, aged non-dual.

Benchmark (425.601, 425.652): each benchmark year's per capita expenditure by type,
trended to the third benchmark year (`benchmark_trend` per year) and restated for the
change in risk to it when both years have scores, weighted (10 / 30 / 60 % in first
agreements, 425.601(a)(7)); plus the regional adjustment (425.656) where its inputs are
given: `weight` x (regional - historical) per capita, capped at `cap` x national per
capita FFS expenditure; updated to the performance year by the national-regional trend
blend (425.652(b)(2)), blended with the ACPT for agreements starting in 2024 or later
(2/3 blend, 1/3 ACPT, 425.652(b)(2)(ii)(C)); times the change in risk from the third
benchmark year, positive growth capped at 3 % over the agreement and decreases not
capped (425.605(a)(1)); plus the prior savings adjustment per capita (425.658) when
given. Benchmark total = sum over types of the per capita benchmark x the performance
year's person-years of that type."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator, model_validator

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.mssp_settle import SettlementInputs, parse_track, settle
from medsynergy.contracts.population import Population, in_categories, member_years
from medsynergy.contracts.result import Reconciliation, Step, inputs_of
from medsynergy.contracts.terms import Strict
from medsynergy.marts.cost import PHARMACY

EnrollmentType = Literal["esrd", "disabled", "aged_dual", "aged_nondual"]
TYPES: tuple[EnrollmentType, ...] = ("esrd", "disabled", "aged_dual", "aged_nondual")
SOURCE_EXP = "42 CFR 425.605(a); 425.601(a)"
SOURCE_BENCH = "42 CFR 425.601; 425.652"
RATE = "decimal(20,6)"
EXACT = "decimal(38,12)"


class Regional(Strict):
    """The regional adjustment's inputs (42 CFR 425.656)."""

    weight: Decimal = Field(ge=0, le=1)
    per_capita: dict[EnrollmentType, Decimal]
    national_per_capita: dict[EnrollmentType, Decimal]
    cap: Decimal = Field(default=Decimal("0.05"), ge=0)
    #: cap of a negative adjustment, if lower than `cap` (agreements from 2024 cap
    #: negative regional adjustments lower than positive ones: give CMS's figure)
    negative_cap: Decimal | None = Field(default=None, ge=0)


class UpdateTrend(Strict):
    """The annual update factors from the third benchmark year to the performance year."""

    national: Decimal = Field(gt=0)
    regional: Decimal | None = Field(default=None, gt=0)
    #: the national share of the blend (425.652(b)(2)(ii): share of assigned
    #: beneficiaries in the ACO's regional service area, at most 0.5 ... given here)
    national_weight: Decimal = Field(default=Decimal(1), ge=0, le=1)
    #: the Accountable Care Prospective Trend (agreements starting 2024 or later)
    acpt: Decimal | None = Field(default=None, gt=0)


class Quality(Strict):
    score: Decimal | None = Field(default=None, ge=0, le=1)
    met_standard: bool | None = None
    met_alternative_standard: bool | None = None
    first_year_first_agreement: bool | None = None
    ecqm_incentive: bool | None = None


class SharedSavingsSpec(Strict):
    model: Literal["shared_savings"]
    name: str
    #: Track 1, 1+, 2, 3, ENHANCED, BASIC A-E (any usual spelling: "BASIC_E", "Track 1+")
    track: str
    population: Population = Field(default_factory=Population)
    #: the ACO participants' TINs: beneficiaries attributed to them are assigned; none
    #: given: every attributed beneficiary
    aco_tins: tuple[str, ...] = ()
    agreement_start_year: int
    benchmark_years: tuple[int, ...] = ()
    benchmark_weights: tuple[Decimal, ...] = (Decimal("0.1"), Decimal("0.3"), Decimal("0.6"))
    benchmark_trend: Decimal = Field(default=Decimal(1), gt=0)
    truncation: dict[EnrollmentType, Decimal] | None = None
    regional: Regional | None = None
    update: UpdateTrend = Field(default_factory=lambda: UpdateTrend(national=Decimal(1)))
    risk_growth_cap: Decimal = Field(default=Decimal("0.03"), ge=0)
    prior_savings_adjustment: Decimal | None = None
    msr: Decimal | None = Field(default=None, ge=0, le=Decimal("0.2"))
    mlr: Decimal | None = Field(default=None, ge=0, le=Decimal("0.2"))
    quality: Quality = Field(default_factory=Quality)
    revenue_category: Literal["low", "high"] | None = None
    participant_revenue: Decimal | None = Field(default=None, ge=0)
    disaster_adjustment: Decimal | None = Field(default=None, ge=0)

    @field_validator("track")
    @classmethod
    def _track(cls, value: str) -> str:
        return parse_track(value).value

    @model_validator(mode="after")
    def _years(self) -> SharedSavingsSpec:
        if len(self.benchmark_weights) != len(self.years()):
            raise ValueError("benchmark_weights: one weight per benchmark year")
        if sum(self.benchmark_weights, Decimal(0)) != 1:
            raise ValueError("benchmark_weights must add up to 1")
        return self

    def years(self) -> tuple[int, ...]:
        """The benchmark years: given, or the three years before the agreement start."""
        s = self.agreement_start_year
        return self.benchmark_years or (s - 3, s - 2, s - 1)


def assigned_units(spec: SharedSavingsSpec, tables: Tables, year: int) -> ir.Table:
    """One row per assigned beneficiary of `year`: enrollment_type, member_months,
    Parts A+B spend, 12 x the spend truncated at the national 99th percentile of its
    type (per annualised amount; in twelfths to stay exact), risk_months (months x score, null score: 0) and scored_months."""
    basis = spec.population.basis
    my = member_years(tables, year, spec.population,
                      {"spend": in_categories(basis, None, exclude=[PHARMACY])})
    a = tables("attribution")
    a = a.filter((a.year == year) & (a.attributed_flag == 1))
    if spec.aco_tins:
        a = a.filter(a.attributed_tin.isin(list(spec.aco_tins)))
    assigned = a.select(_a_person=a.person_id)
    my = my.semi_join(assigned, my.person_id == assigned._a_person)
    # every operand of one Ibis type (it cannot mix decimal scales) and the result cast
    # to another, so that the cast is emitted (DuckDB widens products and quotients)
    months = my.member_months.cast(RATE)
    twelve = ibis.literal(12, RATE)
    # 12 x the truncated spend, exact: the part-year limit threshold x months / 12 is a
    # quotient (DuckDB divides decimals in DOUBLE), so the comparison and the sum are kept
    # in twelfths and divided once, in Decimal, per enrollment type (type_stats)
    spend12 = my.spend.cast(RATE) * twelve
    if spec.truncation:
        cap = ibis.cases(*[(my.enrollment_type == t, ibis.literal(v, RATE))
                           for t, v in sorted(spec.truncation.items())], else_=None)
        limit12 = cap * months
        truncated12 = ibis.ifelse(cap.notnull() & (spend12 > limit12), limit12, spend12)
    else:
        truncated12 = spend12
    score = my.risk_score.cast(RATE)
    return my.select(
        "person_id", "enrollment_type", "member_months", "spend",
        truncated_spend_x12=truncated12.cast(EXACT),
        risk_months=ibis.ifelse(score.notnull(), months * score,
                                ibis.literal(0, RATE)).cast(EXACT),
        scored_months=ibis.ifelse(score.notnull(), my.member_months, 0).cast("int64"))


@dataclass(frozen=True)
class TypeStats:
    person_years: Decimal
    #: the truncated expenditures of the type, exact
    total: Decimal
    per_capita: Decimal | None
    mean_risk: Decimal | None


def type_stats(units: pa.Table) -> dict[str, TypeStats]:
    """Per enrollment type: person-years, per capita truncated expenditure, mean risk."""
    out: dict[str, TypeStats] = {}
    if units.num_rows == 0:
        return {t: TypeStats(Decimal(0), Decimal(0), None, None) for t in TYPES}
    g = units.group_by("enrollment_type").aggregate([
        ("member_months", "sum"), ("truncated_spend_x12", "sum"), ("risk_months", "sum"),
        ("scored_months", "sum")])
    rows = {r["enrollment_type"]: r for r in g.to_pylist()}
    for t in TYPES:
        r = rows.get(t)
        if r is None or not r["member_months_sum"]:
            out[t] = TypeStats(Decimal(0), Decimal(0), None, None)
            continue
        months = Decimal(r["member_months_sum"])
        scored = Decimal(r["scored_months_sum"] or 0)
        total = Decimal(r["truncated_spend_x12_sum"]) / 12
        out[t] = TypeStats(months / 12, total, total / months * 12,
                           Decimal(r["risk_months_sum"]) / scored if scored else None)
    return out


@dataclass(frozen=True)
class Historical:
    per_capita: dict[str, Decimal | None]
    risk_by3: dict[str, Decimal | None]
    steps: tuple[Step, ...]
    notes: tuple[str, ...]


def historical_benchmark(spec: SharedSavingsSpec, by_stats: dict[int, dict[str, TypeStats]]
                         ) -> Historical:
    """Per type: the weighted, trended, risk-restated per capita of the benchmark years
    (in third-benchmark-year dollars), with the regional adjustment when given."""
    steps: list[Step] = []
    notes: list[str] = []
    years = spec.years()
    by3 = years[-1]
    per_capita: dict[str, Decimal | None] = {}
    risk_by3: dict[str, Decimal | None] = {t: by_stats[by3][t].mean_risk for t in TYPES}
    for t in TYPES:
        total = Decimal(0)
        weight = Decimal(0)
        for by, w in zip(years, spec.benchmark_weights, strict=True):
            s = by_stats[by][t]
            if s.per_capita is None:
                continue
            v = s.per_capita * spec.benchmark_trend ** (by3 - by)
            r3 = risk_by3[t]
            if by != by3 and s.mean_risk and r3:
                v = v * r3 / s.mean_risk
            total += w * v
            weight += w
        if weight == 0:
            per_capita[t] = None
            continue
        if weight != 1:
            notes.append(f"{t}: benchmark years without beneficiaries of this type left out, "
                         "the other years' weights rescaled")
        pc_value = total / weight
        steps.append(Step(f"historical_per_capita_{t}", pc_value,
                          "weighted benchmark-year per capita, trended and risk-restated to "
                          "the third benchmark year", "42 CFR 425.601(a)(5)-(7)"))
        if spec.regional is not None:
            reg = spec.regional.per_capita.get(t)
            nat = spec.regional.national_per_capita.get(t)
            if reg is None or nat is None:
                notes.append(f"{t}: regional adjustment inputs missing; not adjusted")
            else:
                adj = spec.regional.weight * (reg - pc_value)
                limit = spec.regional.cap * nat
                floor = (spec.regional.negative_cap if spec.regional.negative_cap is not None
                         else spec.regional.cap) * nat
                adj = max(min(adj, limit), -floor)
                steps.append(Step(f"regional_adjustment_{t}", adj,
                                  f"{spec.regional.weight} x (regional - historical), within "
                                  f"+/- {spec.regional.cap} x national per capita",
                                  "42 CFR 425.656(c)"))
                pc_value += adj
        per_capita[t] = pc_value
    if spec.regional is None:
        notes.append("no regional adjustment inputs given: the benchmark is not "
                     "regionally adjusted (42 CFR 425.656)")
    return Historical(per_capita, risk_by3, tuple(steps), tuple(notes))


def update_factor(spec: SharedSavingsSpec, year: int) -> tuple[Decimal, Step]:
    """The factor from the third benchmark year to the performance year."""
    u = spec.update
    annual = u.national
    rule = f"national trend {u.national}"
    if u.regional is not None:
        annual = u.national_weight * u.national + (1 - u.national_weight) * u.regional
        rule = (f"{u.national_weight} x national {u.national} + "
                f"{1 - u.national_weight} x regional {u.regional}")
    if u.acpt is not None and spec.agreement_start_year >= 2024:
        annual = annual * 2 / 3 + u.acpt / 3
        rule = f"2/3 x ({rule}) + 1/3 x ACPT {u.acpt}"
    factor = annual ** (year - spec.years()[-1])
    return factor, Step("update_factor", factor, f"({rule}) ^ years from BY3",
                        "42 CFR 425.652(b)(2)")


def benchmark_from(spec: SharedSavingsSpec, hist: Historical, py: dict[str, TypeStats],
                   year: int) -> tuple[Decimal, Decimal, list[Step], list[str]]:
    """(benchmark total, expenditure total, steps, notes) of the performance year."""
    steps: list[Step] = []
    notes: list[str] = []
    factor, fstep = update_factor(spec, year)
    steps.append(fstep)
    bench = Decimal(0)
    spend = Decimal(0)
    for t in TYPES:
        s = py[t]
        if s.person_years == 0 or s.per_capita is None:
            continue
        h = hist.per_capita[t]
        if h is None:
            # counting their spend against no benchmark would turn them into losses
            notes.append(f"{t}: no benchmark-year beneficiaries of this type: their "
                         f"{s.person_years} person-years are left out of the benchmark "
                         "and of the expenditure")
            continue
        spend += s.total
        ratio = Decimal(1)
        r3 = hist.risk_by3[t]
        if r3 and s.mean_risk:
            ratio = min(s.mean_risk / r3, 1 + spec.risk_growth_cap)
            steps.append(Step(f"risk_ratio_{t}", ratio,
                              f"performance-year / BY3 mean risk score, growth capped at "
                              f"{spec.risk_growth_cap}, decreases not capped",
                              "42 CFR 425.605(a)(1)"))
        else:
            notes.append(f"{t}: risk scores missing for BY3 or the performance year: the "
                         "benchmark is not risk-adjusted for this type")
        per_capita = h * factor * ratio
        if spec.prior_savings_adjustment is not None:
            per_capita += spec.prior_savings_adjustment
        steps.append(Step(f"benchmark_per_capita_{t}", per_capita,
                          "historical x update factor x risk ratio"
                          + (" + prior savings adjustment" if spec.prior_savings_adjustment
                             is not None else ""), SOURCE_BENCH))
        steps.append(Step(f"person_years_{t}", s.person_years,
                          "performance-year person-years of the type", SOURCE_EXP))
        bench += per_capita * s.person_years
    steps.append(Step("benchmark", bench, "sum over types of per capita benchmark x "
                      "person-years", SOURCE_BENCH))
    steps.append(Step("expenditure", spend, "truncated Parts A+B expenditures of the "
                      "assigned beneficiaries", SOURCE_EXP))
    return bench, spend, steps, notes


def prepare_shared_savings(spec: SharedSavingsSpec, tables: Tables, run: Run, year: int
                           ) -> Prepared:
    by_stats = {by: type_stats(run(assigned_units(spec, tables, by))) for by in spec.years()}
    hist = historical_benchmark(spec, by_stats)
    units = run(assigned_units(spec, tables, year))
    base_notes = ["claims carry no IME, DSH or uncompensated care amounts: expenditures "
                  "are the claims' amounts as paid (42 CFR 425.605(a))"]
    if not spec.truncation:
        base_notes.append("no national 99th percentile given (truncation): beneficiaries' "
                          "expenditures are not truncated (42 CFR 425.601(a)(4))")
    if spec.agreement_start_year >= 2024 and spec.update.acpt is None:
        base_notes.append("agreement starts in 2024 or later but no ACPT given: the update "
                          "factor is the national-regional blend alone")

    def settle_units(u: pa.Table) -> Reconciliation:
        py = type_stats(u)
        bench, spend, steps, notes = benchmark_from(spec, hist, py, year)
        q = spec.quality
        inputs = SettlementInputs(
            performance_year=year, track=parse_track(spec.track),
            assigned_beneficiaries=u.num_rows, benchmark=bench, expenditure=spend,
            msr=spec.msr, mlr=spec.mlr, quality_score=q.score,
            met_quality_standard=q.met_standard,
            met_alternative_standard=q.met_alternative_standard,
            first_year_first_agreement=q.first_year_first_agreement,
            ecqm_incentive=q.ecqm_incentive, revenue_category=spec.revenue_category,
            participant_revenue=spec.participant_revenue,
            disaster_adjustment=spec.disaster_adjustment,
            agreement_year=year - spec.agreement_start_year + 1,
            agreement_start_year=spec.agreement_start_year)
        rec = settle(inputs, name=spec.name)
        raw = Decimal(pc.sum(u["spend"]).as_py() or 0) if u.num_rows else Decimal(0)
        before = (*hist.steps, *steps)
        after = (Step("ffs_spend", raw, "Parts A+B claims of the assigned beneficiaries "
                      "(before truncation)", SOURCE_EXP),
                 Step("provider_revenue", raw + rec.to_provider,
                      "claims paid + shared savings (- shared losses)", SOURCE_EXP))
        return Reconciliation(
            spec.name, "shared_savings",
            (*inputs_of({"year": year, "track": spec.track,
                         "assigned_beneficiaries": u.num_rows}), *rec.inputs),
            (*before, *rec.steps, *after), rec.to_provider, rec.to_payer,
            (*base_notes, *hist.notes, *notes, *rec.notes), rec.allocations)

    return Prepared(units, "member-year", settle_units)
