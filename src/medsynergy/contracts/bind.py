"""A contract bound to a population (issue "Payment models").

Every model reads the marts set-based into one Arrow table of *units*: the rows a
bootstrap resamples (a member-year, or an episode), each holding the additive amounts the
contract needs (spend, capitation due, excess over a stop-loss attachment, ...). Settling
is then a pure function of the units: it sums them (Arrow compute, exact on DECIMAL) and
applies the contract's rules in `Decimal`. `reconcile` settles the units as observed;
`--simulate N` settles N resamples of them (medsynergy.contracts.simulate)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import ibis
import pyarrow as pa

from medsynergy.contracts.result import Reconciliation

#: reads a warehouse table or mart by name (Warehouse.table)
Tables = Callable[[str], ibis.Table]
#: runs an Ibis expression to Arrow (Warehouse.to_arrow)
Run = Callable[[ibis.Table], pa.Table]


@dataclass(frozen=True)
class Prepared:
    """A contract's units on one population and the rule that settles any sample of
    them. `detail` holds tables a user wants to see beside the result (episodes with
    their spend by category, the outliers capped, the members over a stop-loss ...)."""

    units: pa.Table
    #: what one unit is, for the report: "member-year", "episode"
    unit: str
    settle: Callable[[pa.Table], Reconciliation]
    detail: Mapping[str, pa.Table] = field(default_factory=dict)

    def reconcile(self) -> Reconciliation:
        return self.settle(self.units)
