"""Internal transfer pricing (issue "Payment models", model 7).

A pooled budget (a capitation or a bundle payment) is divided among the partners that
deliver the care (primary care, behavioural health, integrative services, hospital,
post-acute):
* `cost_share`: in proportion to each partner's cost of the care it delivered;
* `fixed_split`: by the shares the contract fixes (adding up to 1);
* `outcome_weighted`: in proportion to cost x outcome score (a multiplier per partner,
  e.g. 0.8-1.2 from its quality results; 1 = neutral).
Each partner's margin is its payment minus the fee-for-service value of its services.
The payments add up to the budget to the cent (largest remainder)."""

from __future__ import annotations

from collections.abc import Sequence
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
from medsynergy.marts.service_category import CATEGORY_NAMES

RULE_SOURCE = "contract terms: internal transfer pricing"


class PartnerTerms(Strict):
    name: str
    #: the fixed share of the budget (fixed_split only)
    share: Decimal | None = Field(default=None, ge=0, le=1)
    #: on a population: the service categories this partner delivers (its services'
    #: fee-for-service value is their spend)
    categories: tuple[str, ...] = ()
    #: the partner's cost as a fraction of the fee-for-service value of its services
    cost_ratio: Decimal = Field(default=Decimal(1), gt=0)
    #: outcome score (outcome_weighted; 1 = neutral)
    outcome_score: Decimal = Field(default=Decimal(1), gt=0)


class Budget(Strict):
    """The pooled payment: a PMPM x member-months, or a fraction of the fee-for-service
    value of the partners' services."""

    pmpm: Decimal | None = Field(default=None, gt=0)
    percent_of_ffs: Decimal | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> Budget:
        if (self.pmpm is None) == (self.percent_of_ffs is None):
            raise ValueError("give either pmpm or percent_of_ffs")
        return self


class TransferPricingSpec(Strict):
    model: Literal["transfer_pricing"]
    name: str
    method: Literal["cost_share", "fixed_split", "outcome_weighted"]
    partners: tuple[PartnerTerms, ...] = Field(min_length=1)
    #: on a population (`reconcile`): whom the budget covers and how big it is
    population: Population = Field(default_factory=Population)
    budget: Budget | None = None

    @model_validator(mode="after")
    def _categories(self) -> TransferPricingSpec:
        seen: dict[str, str] = {}
        for p in self.partners:
            unknown = sorted(set(p.categories) - set(CATEGORY_NAMES))
            if unknown:
                raise ValueError(f"partners: {p.name}: unknown service categories {unknown}")
            for c in p.categories:
                if c in seen:
                    raise ValueError(f"partners: category {c} is given to both {seen[c]} "
                                     f"and {p.name}")
                seen[c] = p.name
        return self

    @model_validator(mode="after")
    def _shares(self) -> TransferPricingSpec:
        names = [p.name for p in self.partners]
        if len(set(names)) != len(names):
            raise ValueError("partners: each name may appear once")
        shares = [p.share for p in self.partners]
        if self.method == "fixed_split":
            if any(s is None for s in shares):
                raise ValueError("partners: fixed_split needs a share for every partner")
            total = sum((s for s in shares if s is not None), Decimal(0))
            if total != 1:
                raise ValueError(f"partners: shares must add up to 1 (they add up to {total})")
        elif any(s is not None for s in shares):
            raise ValueError(f"partners: shares are only read by fixed_split, not {self.method}")
        return self


@dataclass(frozen=True)
class PartnerResult:
    """What a partner delivered: its cost, the fee-for-service value of its services and
    (outcome_weighted) its outcome score."""

    name: str
    cost: Decimal
    ffs_value: Decimal
    outcome_score: Decimal = Decimal(1)


def reconcile_transfer_pricing(spec: TransferPricingSpec, budget: Decimal,
                               partners: Sequence[PartnerResult]) -> Reconciliation:
    """Each partner's payment out of `budget`, and its margin versus fee-for-service."""
    given = {p.name: p for p in partners}
    missing = [t.name for t in spec.partners if t.name not in given]
    notes = [f"{name}: no results given; counted with zero cost" for name in missing]
    rows = [given.get(t.name, PartnerResult(t.name, Decimal(0), Decimal(0)))
            for t in spec.partners]
    steps = [Step("budget", budget, "the pooled payment to divide", RULE_SOURCE)]
    if spec.method == "fixed_split":
        weights = {t.name: t.share or Decimal(0) for t in spec.partners}
        rule = "budget x the contract's fixed share"
    elif spec.method == "cost_share":
        weights = {r.name: r.cost for r in rows}
        rule = "budget x partner cost / total cost"
    else:
        weights = {r.name: r.cost * r.outcome_score for r in rows}
        rule = "budget x (cost x outcome score) / total of (cost x outcome score)"
    total = sum(weights.values(), Decimal(0))
    if total <= 0:
        notes.append("no cost (or no weight) to divide by: the budget is split evenly")
        weights = {r.name: Decimal(1) for r in rows}
        total = Decimal(len(rows))
        rule = "budget / number of partners"
    parts = [(name, budget * w / total) for name, w in weights.items()]
    for (name, amount), r in zip(parts, rows, strict=True):
        steps.append(Step(f"payment_{name}", amount, rule, RULE_SOURCE))
        steps.append(Step(f"margin_vs_ffs_{name}", amount - r.ffs_value,
                          "payment - fee-for-service value of the partner's services",
                          RULE_SOURCE))
    allocations = allocate_cents(budget, parts)
    return Reconciliation(
        spec.name, spec.model,
        inputs_of({"budget": budget, "method": spec.method, "partners": len(rows)}),
        tuple(steps), to_cents(budget), Decimal("0.00"), tuple(notes), allocations)
