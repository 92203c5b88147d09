"""Capitation (issue "Payment models", model 2).

The payer pays a fixed amount per member per month for the covered services, instead of
paying their claims:
* the rate is `pmpm`, optionally times the member's risk score (`risk_adjust`; divided by
  the population's mean score when `normalize_risk`, so that risk adjustment moves money
  between groups without changing the total) and an age/sex factor;
* carved-out service categories stay fee-for-service, outside the capitation;
* a `withhold` share of the capitation is kept back and returned in proportion to each
  provider group's attainment on its KPIs (the kpis mart; credit linear from threshold to
  target, as in the bonus pool);
* specific stop-loss: of each member's covered cost in the year above the `attachment`
  point the payer reimburses `coinsurance` (the provider bears the rest).
The provider's margin is what it receives minus the fee-for-service cost of the covered
care. Amount at stake: that covered cost; `to_provider` is what the provider receives for
it (capitation after withhold, withhold returned, stop-loss), `to_payer` the payer's
saving against paying the claims (negative: capitation cost the payer more)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.bonus_pool import Measure, credit
from medsynergy.contracts.population import (
    TOTAL,
    Population,
    in_categories,
    member_years,
)
from medsynergy.contracts.result import Reconciliation, Step, allocate_cents, inputs_of, to_cents
from medsynergy.contracts.terms import Strict
from medsynergy.contracts.units import column_sum, group_sums, member_count
from medsynergy.marts.service_category import CATEGORY_NAMES

RULE_SOURCE = "contract terms: capitation"
#: risk scores (as population.member_years gives them)
FACTOR = "decimal(18,6)"
#: age/sex factors: 6 integer digits, 6 decimals, so that months x risk x factor fits in
#: Arrow's 38 digits (with_weights)
AGE_SEX = "decimal(12,6)"
UNATTRIBUTED = "unattributed"


class AgeSexFactor(Strict):
    """A rate factor for members of `sex` (any when null) aged `age_from`..`age_to`
    (inclusive; open when null) on 1 February of the year. The first matching row
    applies; a member no row matches gets 1."""

    sex: Literal["F", "M"] | None = None
    age_from: int = Field(default=0, ge=0)
    age_to: int | None = Field(default=None, ge=0)
    factor: Decimal = Field(gt=0)


class Withhold(Strict):
    rate: Decimal = Field(gt=0, le=1)
    measures: tuple[Measure, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> Withhold:
        total = sum((m.weight for m in self.measures), Decimal(0))
        if total != 1:
            raise ValueError(f"measures: weights must add up to 1 (they add up to {total})")
        return self


class StopLoss(Strict):
    """Specific stop-loss per member per year."""

    attachment: Decimal = Field(gt=0)
    #: the share of the cost above the attachment point the payer reimburses
    coinsurance: Decimal = Field(ge=0, le=1)


class CapitationSpec(Strict):
    model: Literal["capitation"]
    name: str
    population: Population = Field(default_factory=Population)
    pmpm: Decimal = Field(gt=0)
    risk_adjust: bool = False
    normalize_risk: bool = True
    age_sex: tuple[AgeSexFactor, ...] = ()
    carve_outs: tuple[str, ...] = ()
    withhold: Withhold | None = None
    stop_loss: StopLoss | None = None

    @model_validator(mode="after")
    def _categories(self) -> CapitationSpec:
        unknown = sorted(set(self.carve_outs) - set(CATEGORY_NAMES))
        if unknown:
            raise ValueError(f"carve_outs: unknown service categories {unknown}; known: "
                             f"{', '.join(sorted(CATEGORY_NAMES))}")
        return self


def _age_sex_factor(spec: CapitationSpec, t: ir.Table) -> ir.NumericValue:
    one = ibis.literal(Decimal(1), AGE_SEX)
    if not spec.age_sex:
        return one
    cases = []
    for f in spec.age_sex:
        cond = t.age >= f.age_from
        if f.age_to is not None:
            cond = cond & (t.age <= f.age_to)
        if f.sex is not None:
            cond = cond & (t.sex == f.sex)
        cases.append((cond, ibis.literal(f.factor, AGE_SEX)))
    return ibis.cases(*cases, else_=one)


def capitation_units(spec: CapitationSpec, tables: Tables, year: int) -> ir.Table:
    """One row per member-year: member_months, the rate weight (months x risk x age/sex
    factor), covered and carved-out cost, and the cost above the stop-loss attachment."""
    basis = spec.population.basis
    carve = list(spec.carve_outs)
    amounts = {"covered_cost": in_categories(basis, None, exclude=carve)}
    if carve:
        amounts["carved_out_cost"] = in_categories(basis, carve)
    my = member_years(tables, year, spec.population, amounts)
    if not carve:
        my = my.mutate(carved_out_cost=ibis.literal(0, TOTAL))
    risk = my.risk_score.cast(FACTOR)
    risk_known = my.risk_score.notnull()
    risk_factor = (ibis.ifelse(risk_known, risk, ibis.literal(Decimal(1), FACTOR))
                   if spec.risk_adjust else ibis.literal(Decimal(1), FACTOR))
    attachment = spec.stop_loss.attachment if spec.stop_loss else None
    excess = (ibis.greatest(my.covered_cost - ibis.literal(attachment, TOTAL),
                            ibis.literal(0, TOTAL)).cast(TOTAL)
              if attachment is not None else ibis.literal(0, TOTAL))
    return my.select(
        "person_id", group=my.attributed_tin.fill_null(UNATTRIBUTED),
        member_months=my.member_months, risk_factor=risk_factor.cast(FACTOR),
        age_sex_factor=_age_sex_factor(spec, my).cast(AGE_SEX),
        risk_missing=(~risk_known).cast("int64"),
        covered_cost=my.covered_cost, carved_out_cost=my.carved_out_cost,
        stop_loss_excess=excess)


def with_weights(units: pa.Table) -> pa.Table:
    """`units` with risk_months (months x risk factor) and weight (x the age/sex factor),
    exact, in Arrow: an engine would round the product of three decimals (Spark keeps at
    most 38 digits and drops decimals beyond them), Arrow's DECIMAL(37,12) holds it."""
    months = units["member_months"].cast(pa.int16()).cast(pa.decimal128(5, 0))
    risk_months = pc.multiply(months, units["risk_factor"])
    weight = pc.multiply(risk_months, units["age_sex_factor"])
    return units.append_column("risk_months", risk_months).append_column("weight", weight)


def kpi_values(tables: Tables, run: Run, year: int, names: list[str]
               ) -> dict[str, Mapping[str, Decimal | None]]:
    """The `kpis` mart's values of `names` per attributed TIN of `year` (null TIN:
    the unattributed members)."""
    k = tables("kpis")
    k = k.filter(k.year == year).select("attributed_tin", *names)
    out: dict[str, Mapping[str, Decimal | None]] = {}
    for row in run(k).to_pylist():
        tin = row.pop("attributed_tin")
        out[tin if tin is not None else UNATTRIBUTED] = {
            n: (Decimal(str(v)) if v is not None else None) for n, v in row.items()}
    return out


def prepare_capitation(spec: CapitationSpec, tables: Tables, run: Run, year: int
                       ) -> Prepared:
    units = with_weights(run(capitation_units(spec, tables, year)))
    kpis = (kpi_values(tables, run, year, [m.kpi for m in spec.withhold.measures])
            if spec.withhold else {})
    detail = {}
    if spec.stop_loss is not None:
        excess = units["stop_loss_excess"]
        over = units.filter(pc.greater(excess, pa.scalar(Decimal(0), type=excess.type)))
        # by person: the units come in the engine's order, which is not stable
        detail["stop_loss_members"] = over.sort_by("person_id").select(
            ["person_id", "group", "covered_cost", "stop_loss_excess"])
    return Prepared(units, "member-year",
                    lambda u: settle_capitation(spec, u, year, kpis), detail)


def settle_capitation(spec: CapitationSpec, units: pa.Table, year: int,
                      kpis: Mapping[str, Mapping[str, Decimal | None]]) -> Reconciliation:
    steps: list[Step] = []
    notes: list[str] = []

    def step(name: str, value: Decimal, rule: str) -> None:
        steps.append(Step(name, value, rule, RULE_SOURCE))

    cols = ["member_months", "risk_months", "weight", "covered_cost", "carved_out_cost",
            "stop_loss_excess", "risk_missing"]
    months = column_sum(units, "member_months")
    covered = column_sum(units, "covered_cost")
    carved = column_sum(units, "carved_out_cost")
    step("member_months", months, "member-months of the population")
    step("covered_cost", covered, f"fee-for-service cost of the covered services, {year}")
    if spec.carve_outs:
        step("carved_out_cost", carved,
             f"carved-out categories {list(spec.carve_outs)}: still paid fee-for-service")
    if months <= 0:
        notes.append("no member-months: no capitation is due")
    norm = Decimal(1)
    if spec.risk_adjust:
        missing = column_sum(units, "risk_missing")
        if missing:
            notes.append(f"{missing} member-years have no risk score for {year}: "
                         "their rate is not risk-adjusted (factor 1)")
        if spec.normalize_risk and months > 0:
            norm = column_sum(units, "risk_months") / months
            step("mean_risk_score", norm,
                 "member-month-weighted mean risk score (rates divided by it)")
    groups = group_sums(units, "group", cols)
    rate = spec.pmpm / norm if norm > 0 else Decimal(0)
    parts: list[tuple[str, Decimal]] = []
    totals = {"capitation": Decimal(0), "withheld": Decimal(0), "returned": Decimal(0),
              "stop_loss": Decimal(0)}
    for gid in sorted(groups, key=lambda g: "" if g is None else g):
        g = groups[gid]
        name = gid or UNATTRIBUTED
        cap = g["weight"] * rate
        withheld = cap * spec.withhold.rate if spec.withhold else Decimal(0)
        returned = Decimal(0)
        if spec.withhold:
            values = kpis.get(name)
            if values is None:
                notes.append(f"{name}: no kpis row for {year}; withhold not returned")
            else:
                attainment = _attainment(spec.withhold.measures, values, name, notes)
                returned = withheld * attainment
                step(f"attainment_{name}", attainment, "sum of weight x KPI credit")
        recovered = (g["stop_loss_excess"] * spec.stop_loss.coinsurance
                     if spec.stop_loss else Decimal(0))
        for k, v in (("capitation", cap), ("withheld", withheld), ("returned", returned),
                     ("stop_loss", recovered)):
            totals[k] += v
        received = cap - withheld + returned + recovered
        parts.append((name, received))
        step(f"capitation_{name}", cap, "rate weight (months x risk x age/sex) x PMPM")
        step(f"covered_cost_{name}", g["covered_cost"],
             "fee-for-service cost of the group's members' covered care")
        step(f"margin_{name}", received - g["covered_cost"],
             "capitation - withheld + returned + stop-loss - covered cost")
    step("capitation", totals["capitation"],
         f"PMPM {spec.pmpm}" + (" x risk score" if spec.risk_adjust else "")
         + (" / mean risk score" if spec.risk_adjust and spec.normalize_risk else "")
         + (" x age/sex factor" if spec.age_sex else "") + " x member-months")
    if spec.withhold:
        step("withheld", totals["withheld"], f"withhold {spec.withhold.rate} of capitation")
        step("withhold_returned", totals["returned"], "withheld x KPI attainment per group")
    if spec.stop_loss:
        step("stop_loss_reimbursed", totals["stop_loss"],
             f"{spec.stop_loss.coinsurance} of each member's covered cost above "
             f"{spec.stop_loss.attachment}")
    paid = totals["capitation"] - totals["withheld"] + totals["returned"] + totals["stop_loss"]
    step("ffs_spend", covered + carved, "fee-for-service cost of all the population's care")
    step("paid_to_provider", paid, "capitation - withheld + returned + stop-loss")
    step("provider_margin", paid - covered, "paid to provider - covered cost")
    step("provider_revenue", paid + carved, "paid to provider + carved-out claims")
    to_provider = to_cents(paid)
    return Reconciliation(
        spec.name, spec.model,
        inputs_of({"year": year, "payer": spec.population.payer, "pmpm": spec.pmpm,
                   "members": member_count(units)}),
        tuple(steps), to_provider, to_cents(covered) - to_provider, tuple(notes),
        allocate_cents(paid, parts))


def _attainment(measures: tuple[Measure, ...], values: Mapping[str, Decimal | None],
                group: str, notes: list[str]) -> Decimal:
    a = Decimal(0)
    for m in measures:
        v = values.get(m.kpi)
        if v is None:
            notes.append(f"{group}: no value for {m.kpi}; no credit for it")
            continue
        a += m.weight * credit(m, v)
    return a
