"""Fee-for-service baseline (issue "Payment models", model 1).

What the payer paid for the population's claims, or the same services repriced on a fee
schedule: a percent of a base amount (paid or allowed), with an override per service
category (e.g. behavioural health at 110 % of the base to buy access). Every other
model is compared with this one."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from pydantic import Field

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.population import Basis, LineAmount, Population, member_years
from medsynergy.contracts.result import Reconciliation, Step, inputs_of, to_cents
from medsynergy.contracts.terms import Strict
from medsynergy.contracts.units import column_sum, member_count

RULE_SOURCE = "contract terms: fee-for-service"
RATE = "decimal(20,6)"
REPRICED = "decimal(38,8)"


class FeeSchedule(Strict):
    """Repricing: each line at `percent_of_base` of its `base` amount, or at its
    category's own percent."""

    base: Basis = "allowed"
    percent_of_base: Decimal = Field(gt=0)
    #: service category -> its percent of the base (overrides `percent_of_base`)
    categories: dict[str, Decimal] = Field(default_factory=dict)


class FfsSpec(Strict):
    model: Literal["fee_for_service"]
    name: str
    population: Population = Field(default_factory=Population)
    #: none: what was paid (the population's basis); else repriced on this schedule
    fee_schedule: FeeSchedule | None = None


def repriced(schedule: FeeSchedule) -> LineAmount:
    """A line's amount on the schedule: base x the percent of its category."""
    def amount(t: ir.Table) -> ir.NumericValue:
        base = t.paid_amount if schedule.base == "paid" else t.allowed_amount
        pct: ir.NumericValue = ibis.literal(schedule.percent_of_base, RATE)
        if schedule.categories:
            pct = ibis.cases(*[(t.service_category == c, ibis.literal(p, RATE))
                               for c, p in sorted(schedule.categories.items())],
                             else_=pct)
        # exact: cents x a rate of at most 6 decimals has at most 8 decimals
        return (base.cast(RATE) * pct).cast(REPRICED)
    return amount


def prepare_ffs(spec: FfsSpec, tables: Tables, run: Run, year: int) -> Prepared:
    """Units: member-years with what was paid (`spend`) and the repriced amount."""
    basis = spec.population.basis
    amounts: dict[str, LineAmount] = {
        "spend": (lambda t: t.paid_amount) if basis == "paid" else (lambda t: t.allowed_amount)}
    if spec.fee_schedule is not None:
        amounts["repriced"] = repriced(spec.fee_schedule)
    units = run(member_years(tables, year, spec.population, amounts))

    def settle(u: pa.Table) -> Reconciliation:
        return settle_ffs(spec, u, year)

    return Prepared(units, "member-year", settle)


def settle_ffs(spec: FfsSpec, units: pa.Table, year: int) -> Reconciliation:
    spend = column_sum(units, "spend")
    months = column_sum(units, "member_months")
    steps = [Step("members", Decimal(member_count(units)), "member-years in the population",
                  RULE_SOURCE),
             Step("member_months", months, "member-months in the population", RULE_SOURCE),
             Step("ffs_spend", spend,
                  f"claims' {spec.population.basis} amounts in enrolled months, {year}",
                  RULE_SOURCE)]
    paid = spend
    if spec.fee_schedule is not None:
        paid = column_sum(units, "repriced")
        fs = spec.fee_schedule
        steps.append(Step("repriced", paid,
                          f"each line at {fs.percent_of_base} x its {fs.base} amount"
                          + (f", categories {dict(sorted(fs.categories.items()))}"
                             if fs.categories else ""), RULE_SOURCE))
    steps.append(Step("provider_revenue", paid, "fee-for-service payments", RULE_SOURCE))
    if months > 0:
        steps.append(Step("pmpm", paid / months, "payments / member-months", RULE_SOURCE))
    to_provider = to_cents(paid)
    # the amount at stake is the population's spend: what a schedule pays beyond it
    # comes out of the payer's pocket (to_payer negative)
    return Reconciliation(spec.name, spec.model,
                          inputs_of({"year": year, "payer": spec.population.payer,
                                     "basis": spec.population.basis}),
                          tuple(steps), to_provider, to_cents(spend) - to_provider)
