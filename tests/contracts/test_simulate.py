"""The bootstrap of a contract's units (contracts/simulate.py): determinism, degenerate
samples, P5/P50/P95 and the chance of gains and losses."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from decimal import Decimal as D

import pyarrow as pa
import pytest

from medsynergy.contracts.bind import Prepared, Run
from medsynergy.contracts.prepare import prepare
from medsynergy.contracts.result import Reconciliation, Step, to_cents
from medsynergy.contracts.simulate import Distribution, Simulation, provider_gain, simulate
from medsynergy.contracts.spec import parse_contract

from .test_population import YEAR, duckdb_run, em, enrolled, inpatient, world


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


MEMBERS = [*enrolled("P1", "2024-01", 12), *enrolled("P2", "2024-01", 6),
           *enrolled("P3", "2024-01", 9), *enrolled("P4", "2024-01", 12)]
MEDICAL = [em("P1", "2024-01-10", "80.00"), inpatient("P2", "2024-02-01", "5000.00"),
           em("P3", "2024-03-01", "120.00")]
CAPITATION = {"model": "capitation", "name": "cap", "pmpm": "100"}


@pytest.fixture
def prepared(run: Run) -> Prepared:
    return prepare(parse_contract(CAPITATION), world(MEMBERS, MEDICAL), run, YEAR)


def test_same_seed_same_simulation(prepared: Prepared) -> None:
    a = simulate(prepared, 200, seed=3)
    b = simulate(prepared, 200, seed=3)
    assert a == b
    assert a.as_dict() == b.as_dict()
    assert (a.replicates, a.seed, a.unit, a.units) == (200, 3, "member-year", 4)


def test_same_seed_same_simulation_whatever_the_order_of_the_units(prepared: Prepared
                                                                   ) -> None:
    reordered = dataclasses.replace(prepared,
                                    units=prepared.units.take(pa.array([3, 2, 1, 0])))
    assert simulate(reordered, 200, seed=3) == simulate(prepared, 200, seed=3)


def test_the_quantiles_are_ordered_amounts_that_occurred(prepared: Prepared) -> None:
    s = simulate(prepared, 200, seed=3)
    for d in (s.to_provider, s.provider_gain):
        assert d.p5 <= d.p50 <= d.p95
    # capitation: 100 x the months of 4 draws from {12, 6, 9, 12}: a multiple of 300
    # between 2400 and 4800
    for v in (s.to_provider.p5, s.to_provider.p50, s.to_provider.p95):
        assert v % 300 == 0
        assert D(2400) <= v <= D(4800)
    assert s.p_gain + s.p_loss <= 1


def test_one_replicate_of_one_unit_is_the_reconciliation(run: Run) -> None:
    p = prepare(parse_contract(CAPITATION),
                world(enrolled("P2", "2024-01", 6), [inpatient("P2", "2024-02-01", "5000.00")]),
                run, YEAR)
    s = simulate(p, 1, seed=9)
    # the only draw is P2: 600 capitation against 5000 covered cost
    assert s == Simulation(1, 9, "member-year", 1,
                           Distribution(D("600.00"), D("600.00"), D("600.00"), D("600.00")),
                           Distribution(D("-4400.00"), D("-4400.00"), D("-4400.00"),
                                        D("-4400.00")),
                           D(0), D(1))
    assert s.to_provider.p50 == p.reconcile().to_provider


def test_one_replicate_quantiles_are_that_replicate(prepared: Prepared) -> None:
    s = simulate(prepared, 1, seed=5)
    assert s.replicates == 1
    assert s.to_provider.p5 == s.to_provider.p50 == s.to_provider.p95 == s.to_provider.mean
    g = s.provider_gain
    assert g.p5 == g.p50 == g.p95 == g.mean
    assert (s.p_gain, s.p_loss) == ((D(1), D(0)) if g.p50 > 0 else
                                    (D(0), D(1)) if g.p50 < 0 else (D(0), D(0)))


def test_identical_units_have_no_spread(run: Run) -> None:
    members = [m for p in ("A", "B", "C") for m in enrolled(p, "2024-01", 12)]
    claims = [em(p, "2024-05-01", "700.00") for p in ("A", "B", "C")]
    p = prepare(parse_contract(CAPITATION), world(members, claims), run, YEAR)
    s = simulate(p, 50, seed=1)
    # every draw: 3 x 1200 capitation, 3 x 700 covered cost
    assert s.to_provider == Distribution(D("3600.00"), D("3600.00"), D("3600.00"),
                                         D("3600.00"))
    assert s.provider_gain == Distribution(D("1500.00"), D("1500.00"), D("1500.00"),
                                           D("1500.00"))
    assert (s.p_gain, s.p_loss) == (D(1), D(0))


def _recorder(values: list[str]) -> tuple[Prepared, list[D]]:
    """A Prepared whose units are `x` amounts and whose rule pays a constant 100 to the
    provider while its gain over fee-for-service is the sum of the drawn `x`; the gains
    of every replicate are recorded."""
    units = pa.table({"x": pa.array([D(v) for v in values], pa.decimal128(18, 2))})
    seen: list[D] = []

    def settle(u: pa.Table) -> Reconciliation:
        gain = sum((D(v) for v in u["x"].to_pylist()), D(0))
        seen.append(gain)
        return Reconciliation("r", "test", (), (
            Step("ffs_spend", D(1000), "", ""), Step("provider_revenue", D(1000) + gain, "", "")),
            D(100), D(0))

    return Prepared(units, "unit", settle), seen


@pytest.mark.parametrize(("values", "p_gain", "p_loss"), [
    (["5.00", "5.00"], D(1), D(0)),
    (["-5.00", "-5.00"], D(0), D(1)),
    (["0.00", "0.00"], D(0), D(0)),  # no gain and no loss
])
def test_p_gain_and_p_loss_come_from_provider_gain(values: list[str], p_gain: D, p_loss: D
                                                   ) -> None:
    p, _ = _recorder(values)
    s = simulate(p, 10, seed=2)
    assert (s.p_gain, s.p_loss) == (p_gain, p_loss)
    # to_provider is 100 in every replicate, whatever the gain
    assert s.to_provider == Distribution(D("100.00"), D("100.00"), D("100.00"), D("100.00"))


def test_p_gain_p_loss_and_quantiles_of_mixed_gains() -> None:
    p, seen = _recorder(["-5.00", "0.00", "5.00"])
    s = simulate(p, 40, seed=4)
    assert len(seen) == 40
    assert s.p_gain == D(sum(1 for g in seen if g > 0)) / 40
    assert s.p_loss == D(sum(1 for g in seen if g < 0)) / 40
    ordered = sorted(seen)
    # nearest rank: P5 the 2nd of 40 (ceil(0.05 x 40) = 2), P50 the 20th, P95 the 38th
    assert s.provider_gain == Distribution(to_cents(ordered[1]), to_cents(ordered[19]),
                                           to_cents(ordered[37]),
                                           to_cents(sum(ordered, D(0)) / 40))
    assert {provider_gain(p.settle(p.units))} == {D(0)}  # the observed units: -5 + 0 + 5


def test_zero_units(run: Run) -> None:
    p = prepare(parse_contract(CAPITATION), world(enrolled("P1", "2023-01", 12)), run, YEAR)
    s = simulate(p, 10, seed=1)
    zero = Distribution(D("0.00"), D("0.00"), D("0.00"), D("0.00"))
    assert s == Simulation(10, 1, "member-year", 0, zero, zero, D(0), D(0))


@pytest.mark.parametrize("replicates", [0, -1])
def test_replicates_below_1_are_refused(prepared: Prepared, replicates: int) -> None:
    with pytest.raises(ValueError, match="replicates must be at least 1"):
        simulate(prepared, replicates)


def test_as_dict(prepared: Prepared) -> None:
    d = simulate(prepared, 20, seed=7).as_dict()
    assert list(d) == ["replicates", "seed", "unit", "units", "to_provider", "provider_gain",
                       "p_gain", "p_loss"]
    to_provider = d["to_provider"]
    assert isinstance(to_provider, dict)
    assert list(to_provider) == ["p5", "p50", "p95", "mean"]
