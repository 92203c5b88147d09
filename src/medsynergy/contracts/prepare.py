"""Every contract model bound to a population: `prepare(spec, tables, run, year)`.

The corridor, the bonus pool and transfer pricing are pure rules on totals
(corridor.py, bonus_pool.py, transfer_pricing.py); here they get their totals from the
population's member-years, and each result gains the steps that produced the totals and
a `provider_revenue` step: everything the providers receive for the population's care
under the contract (claims paid fee-for-service included), which `compare` sets against
fee-for-service."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.contracts.benchmark import baseline, benchmark_total
from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.bonus_pool import BonusPoolSpec, Group, reconcile_bonus_pool
from medsynergy.contracts.bundles import BundleSpec, prepare_bundles
from medsynergy.contracts.capitation import (
    CapitationSpec,
    kpi_values,
    prepare_capitation,
)
from medsynergy.contracts.corridor import CorridorSpec, reconcile_corridor
from medsynergy.contracts.ffs import FfsSpec, prepare_ffs
from medsynergy.contracts.population import LineAmount, in_categories, line_amount, member_years
from medsynergy.contracts.result import Reconciliation, Step
from medsynergy.contracts.shared_savings import SharedSavingsSpec, prepare_shared_savings
from medsynergy.contracts.spec import AnySpec
from medsynergy.contracts.transfer_pricing import (
    PartnerResult,
    TransferPricingSpec,
    reconcile_transfer_pricing,
)
from medsynergy.contracts.units import column_sum, group_sums
from medsynergy.errors import UserError

SOURCE = "medsynergy: contract on a population"


def _extend(rec: Reconciliation, before: tuple[Step, ...], after: tuple[Step, ...] = (),
            notes: tuple[str, ...] = ()) -> Reconciliation:
    return dataclasses.replace(rec, steps=(*before, *rec.steps, *after),
                               notes=(*notes, *rec.notes))


def _spend_step(spend: Decimal, basis: str, year: int) -> Step:
    return Step("ffs_spend", spend, f"claims' {basis} amounts in enrolled months, {year}",
                SOURCE)


def prepare_corridor(spec: CorridorSpec, tables: Tables, run: Run, year: int) -> Prepared:
    if spec.benchmark is None:
        raise UserError(f"{spec.name}: a risk corridor needs `benchmark` terms to run on a "
                        "population")
    base = baseline(spec.benchmark, spec.population, tables, run, year)
    units = run(member_years(tables, year, spec.population,
                             {"spend": line_amount(spec.population.basis)}))

    def settle(u: pa.Table) -> Reconciliation:
        benchmark, bsteps = benchmark_total(base, u)
        actual = column_sum(u, "spend")
        rec = reconcile_corridor(spec, benchmark, actual)
        revenue = actual + rec.to_provider
        return _extend(rec, (*base.steps, *bsteps, _spend_step(actual, spec.population.basis,
                                                               year)),
                       (Step("provider_revenue", revenue,
                             "claims paid + the provider's corridor amount", SOURCE),),
                       base.notes)

    return Prepared(units, "member-year", settle)


def prepare_bonus_pool(spec: BonusPoolSpec, tables: Tables, run: Run, year: int
                       ) -> Prepared:
    units = run(member_years(tables, year, spec.population,
                             {"spend": line_amount(spec.population.basis)}))
    kpis = kpi_values(tables, run, year, [m.kpi for m in spec.measures])

    def settle(u: pa.Table) -> Reconciliation:
        spend = column_sum(u, "spend")
        # the pool is shared among provider groups by their attributed member-years:
        # members attributed to no group fund it (their spend counts) but earn no slice
        attributed = u.filter(pc.is_valid(u["attributed_tin"]))
        groups = [Group(str(g), v["member_months"] / 12, kpis.get(str(g), {}))
                  for g, v in sorted(group_sums(attributed, "attributed_tin",
                                                ["member_months"]).items(),
                                     key=lambda kv: str(kv[0]))]
        rec = reconcile_bonus_pool(spec, spend, groups)
        unattributed = u.num_rows - attributed.num_rows
        notes = ((f"{unattributed} member-years attributed to no provider group: their "
                  "spend funds the pool, no group's slice",) if unattributed else ())
        return _extend(rec, (_spend_step(spend, spec.population.basis, year),),
                       (Step("provider_revenue", spend + rec.to_provider,
                             "claims paid + bonuses", SOURCE),), notes)

    return Prepared(units, "member-year", settle)


def prepare_transfer_pricing(spec: TransferPricingSpec, tables: Tables, run: Run,
                             year: int) -> Prepared:
    if spec.budget is None:
        raise UserError(f"{spec.name}: transfer pricing needs `budget` terms to run on a "
                        "population")
    basis = spec.population.basis
    assigned = [c for p in spec.partners for c in p.categories]
    amounts: dict[str, LineAmount] = {"spend": line_amount(basis),
                                      "outside": in_categories(basis, None, exclude=assigned)}
    for i, p in enumerate(spec.partners):
        amounts[f"partner_{i}"] = in_categories(basis, p.categories)
    units = run(member_years(tables, year, spec.population, amounts))
    budget_terms = spec.budget

    def settle(u: pa.Table) -> Reconciliation:
        months = column_sum(u, "member_months")
        partners = []
        for i, p in enumerate(spec.partners):
            ffs = column_sum(u, f"partner_{i}")
            partners.append(PartnerResult(p.name, ffs * p.cost_ratio, ffs, p.outcome_score))
        ffs_total = sum((r.ffs_value for r in partners), Decimal(0))
        if budget_terms.pmpm is not None:
            budget = budget_terms.pmpm * months
            rule = f"PMPM {budget_terms.pmpm} x member-months"
        else:
            assert budget_terms.percent_of_ffs is not None
            budget = budget_terms.percent_of_ffs * ffs_total
            rule = f"{budget_terms.percent_of_ffs} x fee-for-service value of the partners' care"
        rec = reconcile_transfer_pricing(spec, budget, partners)
        outside = column_sum(u, "outside")
        before = (_spend_step(column_sum(u, "spend"), basis, year),
                  Step("member_months", months, "member-months of the population", SOURCE),
                  Step("partners_ffs_value", ffs_total,
                       "fee-for-service value of the partners' categories", SOURCE),
                  Step("budget_rule", budget, rule, SOURCE))
        after = (Step("outside_budget", outside,
                      "claims in categories no partner delivers: paid fee-for-service", SOURCE),
                 Step("provider_revenue", budget + outside, "budget + claims outside it",
                      SOURCE))
        return _extend(rec, before, after)

    return Prepared(units, "member-year", settle)


def _with_revenue(prepared: Prepared, spend_step: str, rule: str) -> Prepared:
    """`prepared` whose results gain the fee-for-service spend they cover (the value of
    step `spend_step`) and the provider revenue (that spend + to_provider)."""
    inner = prepared.settle

    def settle(u: pa.Table) -> Reconciliation:
        rec = inner(u)
        value = rec.step(spend_step).value
        spend = Decimal(value) if isinstance(value, Decimal | int) else Decimal(0)
        return _extend(rec, (), (
            Step("ffs_spend", spend, f"fee-for-service spend covered ({spend_step})", SOURCE),
            Step("provider_revenue", spend + rec.to_provider, rule, SOURCE)))

    return dataclasses.replace(prepared, settle=settle)


def prepare(spec: AnySpec, tables: Tables, run: Run, year: int) -> Prepared:
    """The contract bound to the population of `year`."""
    if isinstance(spec, FfsSpec):
        return prepare_ffs(spec, tables, run, year)
    if isinstance(spec, CapitationSpec):
        return prepare_capitation(spec, tables, run, year)
    if isinstance(spec, BundleSpec):
        return _with_revenue(prepare_bundles(spec, tables, run, year),
                             "spend", "episode spend + reconciliation payment")
    if isinstance(spec, SharedSavingsSpec):
        return prepare_shared_savings(spec, tables, run, year)
    if isinstance(spec, CorridorSpec):
        return prepare_corridor(spec, tables, run, year)
    if isinstance(spec, BonusPoolSpec):
        return prepare_bonus_pool(spec, tables, run, year)
    if isinstance(spec, TransferPricingSpec):
        return prepare_transfer_pricing(spec, tables, run, year)
    raise UserError(f"{spec.name}: model {spec.model} cannot run on a population yet")
