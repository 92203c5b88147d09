"""The risk of a contract: bootstrap its units (issue "Payment models", `--simulate N`).

Each replicate draws as many units (member-years, or episodes) as observed, with
replacement, and settles them with the contract's own rule. The spread of the
replicates' payments is the risk a panel of this size carries from random variation in
who is sick: P5, P50 and P95 of what the provider receives, and the share of replicates
in which the provider ends up ahead of fee-for-service (earns savings) or behind (owes
losses). Efron & Tibshirani, An Introduction to the Bootstrap (1993), ch. 6.

Draws use numpy's PCG64 generator with a fixed seed: the same seed, the same result."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow.compute as pc

from medsynergy.contracts.bind import Prepared
from medsynergy.contracts.result import Reconciliation, to_cents


@dataclass(frozen=True)
class Distribution:
    p5: Decimal
    p50: Decimal
    p95: Decimal
    mean: Decimal


@dataclass(frozen=True)
class Simulation:
    replicates: int
    seed: int
    unit: str
    units: int
    to_provider: Distribution
    provider_gain: Distribution
    #: share of replicates in which the provider receives more / less than
    #: fee-for-service would have paid for the same care
    p_gain: Decimal
    p_loss: Decimal

    def as_dict(self) -> dict[str, object]:
        return {"replicates": self.replicates, "seed": self.seed, "unit": self.unit,
                "units": self.units,
                "to_provider": self.to_provider.__dict__,
                "provider_gain": self.provider_gain.__dict__,
                "p_gain": self.p_gain, "p_loss": self.p_loss}


def provider_gain(rec: Reconciliation) -> Decimal:
    """What the provider receives under the contract minus what fee-for-service pays for
    the same care (the `provider_revenue` and `ffs_spend` steps)."""
    revenue = rec.step("provider_revenue").value
    ffs = rec.step("ffs_spend").value
    assert isinstance(revenue, Decimal)
    assert isinstance(ffs, Decimal)
    return revenue - ffs


def _distribution(values: list[Decimal]) -> Distribution:
    ordered = sorted(values)

    def q(p: float) -> Decimal:
        # the order statistic at the nearest rank (no interpolation: an amount that
        # occurred); numpy's "inverted_cdf" definition (Hyndman & Fan type 1)
        k = max(int(np.ceil(p * len(ordered))) - 1, 0)
        return to_cents(ordered[k])

    mean = sum(ordered, Decimal(0)) / len(ordered)
    return Distribution(q(0.05), q(0.50), q(0.95), to_cents(mean))


def simulate(prepared: Prepared, replicates: int, seed: int = 1) -> Simulation:
    """Settle `replicates` bootstrap samples of the prepared units."""
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    rng = np.random.Generator(np.random.PCG64(seed))
    # the draws pick row positions: put the units in an order of their own values first,
    # so that the same seed gives the same result whatever order the engine returned
    # them in (an SQL result has none)
    units = prepared.units
    units = units.take(pc.sort_indices(units, sort_keys=[
        (c, "ascending") for c in units.column_names])) if units.num_rows else units
    n = units.num_rows
    paid: list[Decimal] = []
    gains: list[Decimal] = []
    for _ in range(replicates):
        sample = units.take(rng.integers(0, n, size=n)) if n else units
        rec = prepared.settle(sample)
        paid.append(rec.to_provider)
        gains.append(provider_gain(rec))
    up = sum(1 for g in gains if g > 0)
    down = sum(1 for g in gains if g < 0)
    return Simulation(replicates, seed, prepared.unit, n, _distribution(paid),
                      _distribution(gains), Decimal(up) / replicates,
                      Decimal(down) / replicates)
