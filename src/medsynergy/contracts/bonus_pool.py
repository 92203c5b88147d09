"""Pay-for-performance bonus pool (issue "Payment models", model 6).

The payer funds a pool of `pool_rate` of spend. Each provider group's attainment is the
weighted sum of its measures' credit: no credit at or short of the threshold, full credit
at or beyond the target, linear in between (a measure is lower-is-better when its target
is below its threshold, e.g. a readmission rate). Each group's slice of the pool is its
share of the attributed member-years; it earns its slice times its attainment. The
unearned part goes back to the payer, or, with `redistribute_unearned`, the whole pool is
shared in proportion to member-years x attainment among the groups that earned anything.
What the groups receive plus what returns to the payer is the pool, to the cent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from medsynergy.contracts.population import Population
from medsynergy.contracts.result import (
    Reconciliation,
    Step,
    allocate_cents,
    inputs_of,
    to_cents,
)
from medsynergy.contracts.terms import Strict

RULE_SOURCE = "contract terms: pay-for-performance bonus pool"


class Measure(Strict):
    """One KPI of the pool: credit from `threshold` (none) to `target` (full)."""

    kpi: str
    weight: Decimal = Field(gt=0, le=1)
    threshold: Decimal
    target: Decimal

    @model_validator(mode="after")
    def _distinct(self) -> Measure:
        if self.threshold == self.target:
            raise ValueError(f"{self.kpi}: threshold and target must differ")
        return self


class BonusPoolSpec(Strict):
    model: Literal["bonus_pool"]
    name: str
    #: the pool as a fraction of spend (typically 0.03-0.05)
    pool_rate: Decimal = Field(gt=0, le=1)
    measures: tuple[Measure, ...] = Field(min_length=1)
    redistribute_unearned: bool = False
    #: on a population (`reconcile`): whose spend funds the pool
    population: Population = Field(default_factory=Population)

    @model_validator(mode="after")
    def _weights(self) -> BonusPoolSpec:
        total = sum((m.weight for m in self.measures), Decimal(0))
        if total != 1:
            raise ValueError(f"measures: weights must add up to 1 (they add up to {total})")
        names = [m.kpi for m in self.measures]
        if len(set(names)) != len(names):
            raise ValueError("measures: each kpi may appear once")
        return self


@dataclass(frozen=True)
class Group:
    """A provider group: its attributed member-years and its KPI values."""

    group_id: str
    member_years: Decimal
    kpis: Mapping[str, Decimal | None]


def credit(measure: Measure, value: Decimal) -> Decimal:
    """0 at or short of the threshold, 1 at or beyond the target, linear in between."""
    share = (value - measure.threshold) / (measure.target - measure.threshold)
    return min(max(share, Decimal(0)), Decimal(1))


def reconcile_bonus_pool(spec: BonusPoolSpec, spend: Decimal, groups: Sequence[Group]
                         ) -> Reconciliation:
    """The pool, each group's attainment and payment, and what returns to the payer."""
    steps: list[Step] = []
    notes: list[str] = []
    pool = spend * spec.pool_rate
    steps.append(Step("pool", pool, f"spend x pool rate {spec.pool_rate}", RULE_SOURCE))
    members = sum((g.member_years for g in groups), Decimal(0))
    attainment: dict[str, Decimal] = {}
    for g in groups:
        a = Decimal(0)
        for m in spec.measures:
            value = g.kpis.get(m.kpi)
            if value is None:
                notes.append(f"{g.group_id}: no value for {m.kpi}; no credit for it")
                continue
            a += m.weight * credit(m, value)
        attainment[g.group_id] = a
        steps.append(Step(f"attainment_{g.group_id}", a,
                          "sum of weight x credit (credit linear from threshold to target)",
                          RULE_SOURCE))
    if members <= 0:
        notes.append("no attributed member-years: nothing is earned, the pool stays with "
                     "the payer")
        parts: list[tuple[str, Decimal]] = [(g.group_id, Decimal(0)) for g in groups]
    elif spec.redistribute_unearned:
        weights = {g.group_id: g.member_years * attainment[g.group_id] for g in groups}
        total_weight = sum(weights.values(), Decimal(0))
        parts = [(gid, pool * w / total_weight if total_weight > 0 else Decimal(0))
                 for gid, w in weights.items()]
    else:
        parts = [(g.group_id, pool * g.member_years / members * attainment[g.group_id])
                 for g in groups]
    for gid, amount in parts:
        steps.append(Step(f"payment_{gid}", amount,
                          "pool share by member-years x attainment"
                          + (" (unearned shares redistributed)"
                             if spec.redistribute_unearned else ""), RULE_SOURCE))
    paid = sum((amount for _, amount in parts), Decimal(0))
    steps.append(Step("paid_to_groups", paid, "sum of the group payments", RULE_SOURCE))
    steps.append(Step("returned_to_payer", pool - paid, "pool - paid to groups", RULE_SOURCE))
    allocations = allocate_cents(paid, parts)
    to_provider = to_cents(paid)
    return Reconciliation(
        spec.name, spec.model,
        inputs_of({"spend": spend, "groups": len(groups), "member_years": members}),
        tuple(steps), to_provider, to_cents(pool) - to_provider, tuple(notes), allocations)
