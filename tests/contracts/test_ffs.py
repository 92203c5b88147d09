"""Fee-for-service on a population: given member-months and claim lines -> what was paid,
or the same lines repriced on a fee schedule (contracts/ffs.py)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.ffs import FfsSpec, prepare_ffs
from medsynergy.contracts.result import Reconciliation
from medsynergy.contracts.spec import parse_contract

from .test_population import YEAR, bh, duckdb_run, em, enrolled, inpatient, rx, world


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


MEMBERS = [*enrolled("P1", "2024-01", 12), *enrolled("P2", "2024-01", 6)]
MEDICAL = [
    em("P1", "2024-01-10", "80.00", "100.00"),
    inpatient("P1", "2024-02-01", "1000.00", "1200.00"),
    # three behavioural-health lines of 0.50 allowed: at 101 % each is 0.505, which
    # rounds to 0.51 line by line (1.53 in all) but to 1.52 once, from the total 1.515
    bh("P2", "2024-03-01", "0.40", "0.50"),
    bh("P2", "2024-03-08", "0.40", "0.50"),
    bh("P2", "2024-03-15", "0.40", "0.50"),
]
PHARMACY = [rx("P2", "2024-04-01", "40.00", "50.00")]
# paid 80 + 1000 + 3 x 0.40 + 40 = 1121.20; allowed 100 + 1200 + 3 x 0.50 + 50 = 1351.50


@pytest.fixture
def tables() -> Tables:
    return world(MEMBERS, MEDICAL, PHARMACY)


def _spec(**terms: Any) -> FfsSpec:
    spec = parse_contract({"model": "fee_for_service", "name": "ffs", **terms})
    assert isinstance(spec, FfsSpec)
    return spec


def _reconcile(spec: FfsSpec, tables: Tables, run: Run, year: int = YEAR) -> Reconciliation:
    return prepare_ffs(spec, tables, run, year).reconcile()


def _steps(r: Reconciliation) -> dict[str, object]:
    return {s.name: s.value for s in r.steps}


def test_paid_baseline(tables: Tables, run: Run) -> None:
    r = _reconcile(_spec(), tables, run)
    assert _steps(r) == {
        "members": D(2), "member_months": D(18), "ffs_spend": D("1121.20"),
        "provider_revenue": D("1121.20"),
        "pmpm": D("1121.20") / 18,  # 62.2888...: steps are not rounded
    }
    assert (r.to_provider, r.to_payer) == (D("1121.20"), D("0.00"))
    assert dict(r.inputs) == {"year": 2024, "payer": None, "basis": "paid"}
    assert r.notes == ()
    assert r.allocations == ()


def test_allowed_basis_baseline(tables: Tables, run: Run) -> None:
    r = _reconcile(_spec(population={"basis": "allowed"}), tables, run)
    assert r.step("ffs_spend").value == D("1351.50")
    assert (r.to_provider, r.to_payer) == (D("1351.50"), D("0.00"))


def test_units_are_member_years_with_spend_and_repriced(tables: Tables, run: Run) -> None:
    spec = _spec(fee_schedule={"base": "allowed", "percent_of_base": "1.00",
                               "categories": {"behavioral_health": "1.01"}})
    p = prepare_ffs(spec, tables, run, YEAR)
    assert p.unit == "member-year"
    got = {r["person_id"]: (r["member_months"], r["spend"], r["repriced"])
           for r in p.units.to_pylist()}
    # P2: 3 x 0.505 (not rounded per line) + 50.00 x 1.00
    assert got == {"P1": (12, D("1080.00"), D("1300.00")),
                   "P2": (6, D("41.20"), D("51.515"))}


def test_repriced_rounds_once_from_the_exact_total(tables: Tables, run: Run) -> None:
    spec = _spec(fee_schedule={"base": "allowed", "percent_of_base": "1.00",
                               "categories": {"behavioral_health": "1.01"}})
    r = _reconcile(spec, tables, run)
    # 100 + 1200 + 50 at 100 % and 3 x 0.50 x 1.01 = 1.515: 1351.515 -> 1351.52 (rounding
    # each line first would give 1351.53)
    assert r.step("repriced").value == D("1351.515")
    assert r.step("ffs_spend").value == D("1121.20")
    assert r.step("provider_revenue").value == D("1351.515")
    assert r.step("pmpm").value == D("1351.515") / 18
    assert r.to_provider == D("1351.52")
    # the schedule pays more than was paid: the payer is out of pocket (negative)
    assert r.to_payer == D("-230.32")  # 1121.20 - 1351.52
    assert "categories {'behavioral_health': Decimal('1.01')}" in r.step("repriced").rule


def test_category_override_and_default_percent(tables: Tables, run: Run) -> None:
    spec = _spec(fee_schedule={"base": "paid", "percent_of_base": "0.90",
                               "categories": {"inpatient_acute": "0.85", "pharmacy": "1"}})
    r = _reconcile(spec, tables, run)
    # em 80 x 0.90 = 72; inpatient 1000 x 0.85 = 850; bh 3 x 0.40 x 0.90 = 1.08;
    # rx 40 x 1 = 40: 963.08
    assert r.step("repriced").value == D("963.08")
    assert (r.to_provider, r.to_payer) == (D("963.08"), D("158.12"))  # 1121.20 - 963.08


def test_repriced_payer_sign_positive_when_schedule_pays_less(tables: Tables, run: Run
                                                               ) -> None:
    r = _reconcile(_spec(fee_schedule={"base": "paid", "percent_of_base": "0.9"}), tables, run)
    assert (r.to_provider, r.to_payer) == (D("1009.08"), D("112.12"))  # 1121.20 x 0.9


def test_payer_population(run: Run) -> None:
    t = world([*enrolled("P1", "2024-01", 1), *enrolled("P2", "2024-01", 1, payer="acme")],
              [em("P1", "2024-01-02", "10.00"), em("P2", "2024-01-02", "20.00", payer="acme")])
    r = _reconcile(_spec(population={"payer": "acme"}), t, run)
    assert (r.step("members").value, r.to_provider) == (D(1), D("20.00"))
    assert dict(r.inputs)["payer"] == "acme"


def test_zero_members(run: Run) -> None:
    # enrolled in 2023 only; a 2024 line without enrollment does not count
    t = world(enrolled("P1", "2023-01", 12), [em("P1", "2024-01-10", "80.00")])
    for spec in (_spec(), _spec(fee_schedule={"base": "allowed", "percent_of_base": "1.1"})):
        r = _reconcile(spec, t, run)
        assert r.step("members").value == D(0)
        assert r.step("member_months").value == D(0)
        assert r.step("provider_revenue").value == D(0)
        with pytest.raises(KeyError):
            r.step("pmpm")  # no member-months: no PMPM
        assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))


def test_settle_of_no_units_is_zero(tables: Tables, run: Run) -> None:
    p = prepare_ffs(_spec(), tables, run, YEAR)
    r = p.settle(p.units.slice(0, 0))
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))
