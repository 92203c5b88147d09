"""Risk corridors (issue "Payment models", model 5).

Savings (benchmark - actual expenditure) or losses are cut into bands by their size as a
fraction of the benchmark; the provider keeps each band's share of the part that falls in
it, marginally, like tax brackets. Losses use the same bands unless `loss_bands` are
given. Example, ACO REACH global risk: first 25 % at 100 %, 25-35 % at 50 %, 35-50 % at
25 %, beyond 50 % at 10 % (CMS, ACO REACH Model Financial Operating Guide, risk
corridors)."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from medsynergy.contracts.benchmark import BenchmarkTerms
from medsynergy.contracts.population import Population
from medsynergy.contracts.result import Reconciliation, Step, inputs_of, to_cents
from medsynergy.contracts.terms import Strict

RULE_SOURCE = "contract terms: risk corridor (marginal bands)"


class Band(Strict):
    """One band: up to `up_to` (a fraction of the benchmark; null for the last, open
    band) the provider keeps `provider_share` of the savings or losses in it."""

    up_to: Decimal | None = Field(default=None, gt=0)
    provider_share: Decimal = Field(ge=0, le=1)


def _check_bands(bands: tuple[Band, ...], field: str) -> None:
    edges = [b.up_to for b in bands]
    if edges[-1] is not None:
        raise ValueError(f"{field}: the last band must be open (up_to: null)")
    closed = [e for e in edges[:-1] if e is not None]
    if len(closed) != len(edges) - 1:
        raise ValueError(f"{field}: only the last band may be open (up_to: null)")
    if any(b <= a for a, b in pairwise(closed)):
        raise ValueError(f"{field}: band edges (up_to) must increase")


class CorridorSpec(Strict):
    model: Literal["risk_corridor"]
    name: str
    bands: tuple[Band, ...] = Field(min_length=1)
    #: bands for losses; default: the savings bands (symmetric)
    loss_bands: tuple[Band, ...] | None = Field(default=None, min_length=1)
    #: on a population (`reconcile`): whom it covers and the benchmark
    population: Population = Field(default_factory=Population)
    benchmark: BenchmarkTerms | None = None

    @model_validator(mode="after")
    def _edges(self) -> CorridorSpec:
        _check_bands(self.bands, "bands")
        if self.loss_bands is not None:
            _check_bands(self.loss_bands, "loss_bands")
        return self


def _pct(x: Decimal | None) -> str:
    return "no limit" if x is None else f"{(x * 100).normalize():f} %"


def reconcile_corridor(spec: CorridorSpec, benchmark: Decimal, actual: Decimal
                       ) -> Reconciliation:
    """What the provider keeps of the savings (or bears of the losses) against
    `benchmark`, and what the payer keeps (or bears): to_provider + to_payer equals the
    gross savings, to the cent."""
    inputs = inputs_of({"benchmark": benchmark, "actual_expenditure": actual})
    steps: list[Step] = []
    gross = benchmark - actual
    steps.append(Step("gross_savings", gross, "benchmark - actual expenditure (negative: losses)",
                      RULE_SOURCE))
    if benchmark <= 0:
        note = ("benchmark is zero or negative (no members or no benchmark given): "
                "no corridor applies, nothing is settled")
        return Reconciliation(spec.name, spec.model, inputs, tuple(steps), Decimal(0),
                              Decimal(0), (note,))
    rate = gross / benchmark
    steps.append(Step("savings_rate", rate, "gross savings / benchmark", RULE_SOURCE))
    losses = gross < 0
    bands = (spec.loss_bands or spec.bands) if losses else spec.bands
    size = abs(gross)
    lower = Decimal(0)
    kept = Decimal(0)
    for i, band in enumerate(bands, start=1):
        upper = None if band.up_to is None else band.up_to * benchmark
        top = size if upper is None else min(size, upper)
        part = max(top - lower, Decimal(0))
        share = part * band.provider_share
        kept += share
        label = f"{_pct(bands[i - 2].up_to) if i > 1 else '0 %'} to {_pct(band.up_to)}"
        steps.append(Step(f"band_{i}_amount", part,
                          f"{'losses' if losses else 'savings'} between {label} of benchmark",
                          RULE_SOURCE))
        steps.append(Step(f"band_{i}_provider", share,
                          f"provider keeps {_pct(band.provider_share)} of band {i}",
                          RULE_SOURCE))
        if upper is None or size <= upper:
            break
        lower = upper
    provider = -kept if losses else kept
    steps.append(Step("provider_amount", provider,
                      "sum of the bands' provider shares (negative: the provider owes)",
                      RULE_SOURCE))
    steps.append(Step("payer_amount", gross - provider, "gross savings - provider amount",
                      RULE_SOURCE))
    to_provider = to_cents(provider)
    return Reconciliation(spec.name, spec.model, inputs, tuple(steps), to_provider,
                          to_cents(gross) - to_provider)
