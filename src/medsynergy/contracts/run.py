"""Reconcile contract files on the warehouse's population, and compare them side by side
(`medsynergy reconcile`, `medsynergy compare`, the report)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.prepare import prepare
from medsynergy.contracts.result import Reconciliation, to_cents
from medsynergy.contracts.simulate import Simulation, provider_gain, simulate
from medsynergy.contracts.spec import AnySpec, load_contract
from medsynergy.errors import UserError
from medsynergy.marts.cost import LEVEL_PERSON_CATEGORY, LEVEL_PERSON_YEAR


@dataclass(frozen=True)
class Outcome:
    """One contract reconciled on one year's population (and simulated, when asked)."""

    path: str
    spec: AnySpec
    year: int
    result: Reconciliation
    prepared: Prepared
    simulation: Simulation | None

    def as_dict(self) -> dict[str, Any]:
        d = self.result.as_dict()
        d.update(file=self.path, year=self.year, unit=self.prepared.unit,
                 units=self.prepared.units.num_rows)
        if self.simulation is not None:
            d["simulation"] = self.simulation.as_dict()
        d["detail_rows"] = {k: t.num_rows for k, t in self.prepared.detail.items()}
        return d


def check_spend_levels(tables: Tables, run: Run) -> None:
    """Fails when the member_spend mart lacks the per-person category sums the contracts
    read (marts built by a version before that level): every contract would otherwise see
    no spend."""
    spend = tables("member_spend")
    wanted = [LEVEL_PERSON_YEAR, LEVEL_PERSON_CATEGORY]
    found = set(run(spend.filter(spend.level.isin(wanted)).select("level").distinct())
                .column("level").to_pylist())
    if LEVEL_PERSON_YEAR in found and LEVEL_PERSON_CATEGORY not in found:
        raise UserError("the member_spend mart has no 'person_category' rows (marts built by "
                        "an earlier medsynergy): run `medsynergy measure` again")


def latest_year(tables: Tables, run: Run) -> int:
    """The latest year with member-months: the default year of a reconciliation."""
    mm = tables("member_months")
    value = run(mm.aggregate(year=mm.year.max())).column("year")[0].as_py()
    if value is None:
        raise UserError("the warehouse has no member-months: load eligibility and run "
                        "`medsynergy measure` first")
    return int(value)


def reconcile_files(paths: Sequence[str | Path], tables: Tables, run: Run,
                    year: int | None = None, replicates: int = 0, seed: int = 1
                    ) -> list[Outcome]:
    """Load, bind and settle each contract (and bootstrap it `replicates` times)."""
    specs = [(str(p), load_contract(p)) for p in paths]
    check_spend_levels(tables, run)
    y = year if year is not None else latest_year(tables, run)
    outcomes = []
    for path, spec in specs:
        prepared = prepare(spec, tables, run, y)
        result = prepared.reconcile()
        sim = simulate(prepared, replicates, seed) if replicates > 0 else None
        outcomes.append(Outcome(path, spec, y, result, prepared, sim))
    return outcomes


def comparison(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """One row per contract: fee-for-service spend of its population, what the providers
    receive in all under it, the difference, the settlement amounts (and the bootstrap
    distribution of the difference)."""
    rows = []
    for o in outcomes:
        r = o.result
        ffs = _money(r, "ffs_spend")
        revenue = _money(r, "provider_revenue")
        row: dict[str, Any] = {
            "contract": r.contract, "model": r.model, "year": o.year,
            "members": o.prepared.units.num_rows if o.prepared.unit == "member-year" else None,
            "ffs_spend": ffs, "provider_revenue": revenue,
            "difference_from_ffs": to_cents(provider_gain(r)),
            "to_provider": r.to_provider, "to_payer": r.to_payer,
        }
        if o.simulation is not None:
            s = o.simulation
            row.update(gain_p5=s.provider_gain.p5, gain_p50=s.provider_gain.p50,
                       gain_p95=s.provider_gain.p95, p_gain=s.p_gain, p_loss=s.p_loss)
        rows.append(row)
    return rows


def _money(r: Reconciliation, step: str) -> Decimal:
    value = r.step(step).value
    assert isinstance(value, Decimal)
    return to_cents(value)


def warehouse_io(wh: Any) -> tuple[Tables, Run]:
    """The (tables, run) pair of a Warehouse."""
    def run(expr: ibis.Table) -> Any:
        return wh.to_arrow(expr)
    return wh.table, run
