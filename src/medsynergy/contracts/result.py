"""The immutable result every reconciliation returns (issue "Payment models").

A reconciliation lists the inputs it used, each step as (name, value, rule text, source)
and the final amounts: what the provider receives (negative: owes) and what the payer
keeps (negative: pays beyond the baseline). Values stay exact `Decimal`s; steps are not
rounded, only the final amounts are, once, to the cent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

import orjson

#: One value of an input or a step.
Value = Decimal | int | str | bool | None

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """Round once, at the end, to the cent (half away from zero, as on a statement)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Step:
    """One step of a reconciliation: its value and the rule it applied."""

    name: str
    value: Value
    rule: str
    source: str


@dataclass(frozen=True)
class Reconciliation:
    """What a contract pays, and why, step by step."""

    contract: str
    model: str
    inputs: tuple[tuple[str, Value], ...]
    steps: tuple[Step, ...]
    to_provider: Decimal
    to_payer: Decimal
    #: what a rule needed and was not given, and what was done instead
    notes: tuple[str, ...] = field(default=())
    #: the amount of each party (provider group, partner) where the model splits one;
    #: they add up to `to_provider` to the cent
    allocations: tuple[tuple[str, Decimal], ...] = field(default=())

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(f"{self.contract}: no step {name!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "contract": self.contract,
            "model": self.model,
            "inputs": dict(self.inputs),
            "steps": [{"name": s.name, "value": s.value, "rule": s.rule, "source": s.source}
                      for s in self.steps],
            "to_provider": self.to_provider,
            "to_payer": self.to_payer,
            "notes": list(self.notes),
            "allocations": dict(self.allocations),
        }

    def to_json(self) -> bytes:
        """JSON with every Decimal as a string (exact: no binary float on the way)."""
        return orjson.dumps(self.as_dict(), default=_decimal, option=orjson.OPT_INDENT_2)


def allocate_cents(total: Decimal, parts: Sequence[tuple[str, Decimal]]
                   ) -> tuple[tuple[str, Decimal], ...]:
    """`parts` (exact amounts adding up to `total`) rounded to cents that add up to
    `total` rounded to the cent: each part is cut down to the cent, and the cents left
    go one by one to the largest remainders (ties: in the given order)."""
    target = to_cents(total)
    floors = [(name, (amount / CENT).to_integral_value(rounding=ROUND_FLOOR) * CENT)
              for name, amount in parts]
    left = int((target - sum((f for _, f in floors), Decimal(0))) / CENT)
    order = sorted(range(len(parts)), key=lambda i: -(parts[i][1] - floors[i][1]))
    bump = set(order[:left]) if left > 0 else set()
    return tuple((name, f + CENT if i in bump else f) for i, (name, f) in enumerate(floors))


def inputs_of(values: Mapping[str, Value]) -> tuple[tuple[str, Value], ...]:
    return tuple(values.items())


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
