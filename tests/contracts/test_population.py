"""The population a contract pays for: given member-months, claim lines and marts ->
expected member-years (contracts/population.py).

This module also holds the tiny-world builders the other contract-on-a-population tests
import (`world`, `enrolled`, the claim-line makers): a few dicts become the warehouse
tables and marts the contracts read, on in-memory DuckDB through Ibis."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from itertools import count
from typing import Any

import ibis
import pyarrow as pa
import pytest
from tests.marts.conftest import TABLES, memtable

from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.population import (
    Population,
    in_categories,
    line_amount,
    member_years,
)
from medsynergy.contracts.run import check_spend_levels
from medsynergy.errors import UserError
from medsynergy.marts.registry import build, mart

YEAR = 2024

#: the member_months mart's columns the contracts read (types as in the real mart)
MM_T: dict[str, pa.DataType] = {
    "person_id": pa.string(), "member_id": pa.string(), "payer": pa.string(),
    "plan": pa.string(), "month_start_date": pa.date32(), "year": pa.int64(),
    "person_month_flag": pa.int64(), "dual_status_code": pa.string(),
    "medicare_status_code": pa.string(), "gender": pa.string(), "birth_date": pa.date32()}
#: the risk mart (payment_year is INTEGER in the real mart, payment_score DOUBLE)
RISK_T: dict[str, pa.DataType] = {
    "person_id": pa.string(), "payment_year": pa.int32(), "model": pa.string(),
    "payment_score": pa.float64()}
ATTRIBUTION_T: dict[str, pa.DataType] = {
    "person_id": pa.string(), "year": pa.int64(), "attributed_tin": pa.string()}
RATE_T = pa.decimal128(18, 4)
KPIS_T: dict[str, pa.DataType] = {
    "year": pa.int64(), "attributed_tin": pa.string(), "awv_rate": RATE_T,
    "follow_up_7_day_rate": RATE_T, "readmission_rate": RATE_T}


# -- the tiny world ------------------------------------------------------------------------


def duckdb_run() -> Iterator[Run]:
    """An in-memory DuckDB's `to_pyarrow` (the `run` the contracts take); a fixture body."""
    backend = ibis.duckdb.connect()
    try:
        yield backend.to_pyarrow
    finally:
        backend.disconnect()


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


def enrolled(person: str, first: str, months: int = 1, *, payer: str | None = "mcare",
             plan: str | None = "A", sex: str = "F", born: str = "1950-06-15",
             dual: str | None = "00", status: str | None = "10", flag: int = 1
             ) -> list[dict[str, Any]]:
    """Member-month rows of `person`: `months` consecutive months from `first` ('YYYY-MM')."""
    y, m = int(first[:4]), int(first[5:7])
    out = []
    for i in range(months):
        yy, mm = y + (m - 1 + i) // 12, (m - 1 + i) % 12 + 1
        out.append({"person_id": person, "member_id": person, "payer": payer, "plan": plan,
                    "month_start_date": dt.date(yy, mm, 1), "year": yy,
                    "person_month_flag": flag, "dual_status_code": dual,
                    "medicare_status_code": status, "gender": sex, "birth_date": born})
    return out


_ids = count(1)


def _line(person: str, date: str, paid: str, allowed: str | None, payer: str | None,
          plan: str | None, **codes: str) -> dict[str, Any]:
    return {"claim_id": f"C{next(_ids)}", "claim_line_number": 1, "data_source": "test",
            "person_id": person, "payer": payer, "plan": plan, "claim_start_date": date,
            "claim_end_date": date, "paid_amount": paid,
            "allowed_amount": allowed if allowed is not None else paid, **codes}


def em(person: str, date: str, paid: str, allowed: str | None = None, *,
       payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """An office visit (professional, 99213 at POS 11): professional_em (rule R14)."""
    return _line(person, date, paid, allowed, payer, plan, claim_type="professional",
                 hcpcs_code="99213", place_of_service_code="11")


def lab(person: str, date: str, paid: str, allowed: str | None = None, *,
        payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """A metabolic panel (professional, 80053): lab (R16)."""
    return _line(person, date, paid, allowed, payer, plan, claim_type="professional",
                 hcpcs_code="80053", place_of_service_code="81")


def bh(person: str, date: str, paid: str, allowed: str | None = None, *,
       payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """Psychotherapy, 45 minutes (professional, 90834): behavioral_health (R09)."""
    return _line(person, date, paid, allowed, payer, plan, claim_type="professional",
                 hcpcs_code="90834", place_of_service_code="11")


def inpatient(person: str, date: str, paid: str, allowed: str | None = None, *,
              payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """A hospital inpatient room-and-board line (bill type 111, revenue 0120):
    inpatient_acute (R02)."""
    return _line(person, date, paid, allowed, payer, plan, claim_type="institutional",
                 bill_type_code="111", revenue_center_code="0120")


def ed(person: str, date: str, paid: str, allowed: str | None = None, *,
       payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """An emergency-room line on an outpatient hospital claim (13x, revenue 0450): ed (R06)."""
    return _line(person, date, paid, allowed, payer, plan, claim_type="institutional",
                 bill_type_code="131", revenue_center_code="0450")


def rx(person: str, date: str, paid: str, allowed: str | None = None, *,
       payer: str | None = "mcare", plan: str | None = "A") -> dict[str, Any]:
    """A pharmacy_claim line: pharmacy."""
    return {"claim_id": f"R{next(_ids)}", "claim_line_number": 1, "data_source": "test",
            "person_id": person, "payer": payer, "plan": plan, "dispensing_date": date,
            "paid_amount": paid, "allowed_amount": allowed if allowed is not None else paid}


def score(person: str, value: float, year: int = YEAR, model: str = "blend"
          ) -> dict[str, Any]:
    return {"person_id": person, "payment_year": year, "model": model, "payment_score": value}


def attributed(person: str, tin: str | None, year: int = YEAR) -> dict[str, Any]:
    return {"person_id": person, "year": year, "attributed_tin": tin}


def kpi(tin: str | None, year: int = YEAR, **values: str | None) -> dict[str, Any]:
    return {"year": year, "attributed_tin": tin, **values}


def canonical(name: str, data: Sequence[dict[str, Any]]) -> ibis.Table:
    """A canonical table (medical_claim, pharmacy_claim) holding `data`."""
    schema = TABLES[name].ibis_schema()
    return memtable({c: kind.to_pyarrow() for c, kind in schema.items()}, data)


def world(members: Sequence[dict[str, Any]], medical: Sequence[dict[str, Any]] = (),
          pharmacy: Sequence[dict[str, Any]] = (), risk: Sequence[dict[str, Any]] = (),
          attribution: Sequence[dict[str, Any]] = (), kpis: Sequence[dict[str, Any]] = ()
          ) -> Tables:
    """The name -> table lookup of a tiny warehouse."""
    t = {"member_months": memtable(MM_T, members),
         "medical_claim": canonical("medical_claim", medical),
         "pharmacy_claim": canonical("pharmacy_claim", pharmacy),
         "risk": memtable(RISK_T, risk),
         "attribution": memtable(ATTRIBUTION_T, attribution),
         "kpis": memtable(KPIS_T, kpis)}
    return with_spend(t)


def with_spend(t: dict[str, ibis.Table]) -> Tables:
    """The lookup of `t` plus the member_spend mart built from its lines and member-months
    (the contracts read their spend from it), as `measure` stores it."""
    def lines(name: str) -> ibis.Table:
        return build(mart(name), t.__getitem__) if name == "service_category" else t[name]
    return {**t, "member_spend": build(mart("member_spend"), lines)}.__getitem__


# -- the population ------------------------------------------------------------------------

# P1: aged (65 on 1 February: born on 1 February 1959), enrolled with mcare/A Jan-Mar,
# and in February also with acme/X (a second coverage: two rows of one month)
MEMBERS = [
    *enrolled("P1", "2023-12", 1, born="1959-02-01"),  # the year before: not counted
    *enrolled("P1", "2024-01", 3, born="1959-02-01"),
    *enrolled("P1", "2024-02", 1, payer="acme", plan="X", born="1959-02-01", flag=0),
    # P2: 64 (born 2 February 1959), no Medicare status: disabled by age; mcare/B Jan-Jun
    *enrolled("P2", "2024-01", 6, plan="B", sex="M", born="1959-02-02", status=None),
    # P3: 83, no status, dual in January only: aged_dual; no claims at all
    *enrolled("P3", "2024-01", 1, born="1940-07-01", status=None, dual="02"),
    *enrolled("P3", "2024-02", 1, born="1940-07-01", status=None, dual="00"),
    # P4: ESRD only (31), 44
    *enrolled("P4", "2024-01", 12, sex="M", born="1980-01-01", status="31"),
    # P5: disabled (20), 53
    *enrolled("P5", "2024-01", 2, born="1970-03-01", status="20"),
    # P6: aged, full dual (01)
    *enrolled("P6", "2024-01", 2, sex="M", born="1945-01-01", status="10", dual="01"),
    # P7: disabled in January, aged from February: the latest month decides
    *enrolled("P7", "2024-01", 1, born="1958-12-01", status="20"),
    *enrolled("P7", "2024-02", 1, born="1958-12-01", status="10"),
    # P8: 74, no status, not dual: aged_nondual by age
    *enrolled("P8", "2024-03", 1, sex="M", born="1949-06-30", status=None),
]
MEDICAL = [
    em("P1", "2024-01-15", "80.00", "100.00"),          # counted
    inpatient("P1", "2024-02-10", "1000.00", "1200.00"),  # counted
    ed("P1", "2024-03-03", "250.00", "300.00"),           # counted
    em("P1", "2024-04-02", "70.00", "90.00"),             # April: not enrolled
    em("P1", "2024-02-20", "60.00", "75.00", plan="B"),   # no mcare/B month for P1
    em("P1", "2024-02-25", "30.00", "35.00", payer="acme", plan="X"),  # the acme month
    em("P1", "2023-12-10", "500.00", "600.00"),           # another year
    bh("P2", "2024-05-05", "120.00", "150.00", plan="B"),
    lab("P4", "2024-07-01", "15.00", "20.00"),
]
PHARMACY = [
    rx("P1", "2024-03-20", "40.00", "50.00"),
    rx("P4", "2024-11-30", "200.00", "210.00"),
    rx("P5", "2024-03-01", "9.99", "12.00"),  # March: P5 is enrolled Jan-Feb only
]
RISK = [
    score("P1", 1.25),
    score("P1", 9.9, model="v24"),  # not the blend
    score("P2", 2.0, year=2023),    # another payment year
    score("P4", 3.5),
]
ATTRIBUTION = [attributed("P1", "T1"), attributed("P2", "T2", year=2023),
               attributed("P4", "T2"), attributed("P5", None)]


@pytest.fixture
def tables() -> Tables:
    return world(MEMBERS, MEDICAL, PHARMACY, RISK, ATTRIBUTION)


def _by_person(run: Run, tables: Tables, population: Population,
               amounts: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    out = run(member_years(tables, YEAR, population, amounts or {})).to_pylist()
    return {r.pop("person_id"): r for r in out}


def test_member_years_of_everyone_enrolled(run: Run, tables: Tables) -> None:
    got = _by_person(run, tables, Population(), {"spend": line_amount("paid")})
    base = {"dual_flag": 0, "risk_score": None, "attributed_tin": None}
    assert got == {
        # months Jan, Feb (two rows: mcare/A and acme/X), Mar = 3; spend 80 + 1000 + 250
        # + 30 (the acme line in the acme month) + 40 (rx) = 1400.00; April, the mcare/B
        # line and 2023 not counted
        "P1": {**base, "member_months": 3, "age": 65, "sex": "F",
               "enrollment_type": "aged_nondual", "risk_score": 1.25,
               "attributed_tin": "T1", "spend": D("1400.00")},
        # 64 on 1 Feb (birthday on the 2nd), no status: disabled; 2023 attribution and
        # 2023 risk do not count
        "P2": {**base, "member_months": 6, "age": 64, "sex": "M",
               "enrollment_type": "disabled", "spend": D("120.00")},
        # 83, no status, dual in one of two months; enrolled with no claims: 0 spend
        "P3": {**base, "member_months": 2, "age": 83, "sex": "F", "dual_flag": 1,
               "enrollment_type": "aged_dual", "spend": D("0.00")},
        "P4": {**base, "member_months": 12, "age": 44, "sex": "M", "enrollment_type": "esrd",
               "risk_score": 3.5, "attributed_tin": "T2", "spend": D("215.00")},
        # the March rx falls outside P5's enrollment; attributed to a null TIN
        "P5": {**base, "member_months": 2, "age": 53, "sex": "F",
               "enrollment_type": "disabled", "spend": D("0.00")},
        "P6": {**base, "member_months": 2, "age": 79, "sex": "M", "dual_flag": 1,
               "enrollment_type": "aged_dual", "spend": D("0.00")},
        # January says disabled (20), February (the latest) aged (10)
        "P7": {**base, "member_months": 2, "age": 65, "sex": "F",
               "enrollment_type": "aged_nondual", "spend": D("0.00")},
        "P8": {**base, "member_months": 1, "age": 74, "sex": "M",
               "enrollment_type": "aged_nondual", "spend": D("0.00")},
    }


def test_allowed_basis_sums_the_allowed_amounts(run: Run, tables: Tables) -> None:
    got = _by_person(run, tables, Population(basis="allowed"), {"spend": line_amount("allowed")})
    # P1: 100 + 1200 + 300 + 35 + 50; P2: 150; P4: 20 + 210
    assert {p: r["spend"] for p, r in got.items() if r["spend"]} == {
        "P1": D("1685.00"), "P2": D("150.00"), "P4": D("230.00")}


def test_payer_filter_drops_the_other_payers_months_and_lines(run: Run, tables: Tables
                                                               ) -> None:
    got = _by_person(run, tables, Population(payer="mcare"), {"spend": line_amount("paid")})
    # P1 still has 3 mcare months; the acme line (30.00) no longer counts: 1370.00
    assert (got["P1"]["member_months"], got["P1"]["spend"]) == (3, D("1370.00"))
    assert sorted(got) == ["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8"]


def test_payer_with_no_members_is_an_empty_population(run: Run, tables: Tables) -> None:
    assert _by_person(run, tables, Population(payer="nobody"), {"spend": line_amount("paid")}
                      ) == {}


def test_plans_filter(run: Run, tables: Tables) -> None:
    got = _by_person(run, tables, Population(payer="mcare", plans=("B",)),
                     {"spend": line_amount("paid")})
    # only P2 has mcare/B months; P1's mcare/B line has no mcare/B month of P1
    assert {p: (r["member_months"], r["spend"]) for p, r in got.items()} == {
        "P2": (6, D("120.00"))}
    got = _by_person(run, tables, Population(payer="mcare", plans=("A",)),
                     {"spend": line_amount("paid")})
    assert "P2" not in got
    assert (got["P1"]["member_months"], got["P1"]["spend"]) == (3, D("1370.00"))


def test_in_categories_include_and_exclude(run: Run, tables: Tables) -> None:
    got = _by_person(run, tables, Population(), {
        "acute": in_categories("paid", ["inpatient_acute", "ed"]),
        "not_rx": in_categories("paid", None, exclude=["pharmacy"]),
        "rx_allowed": in_categories("allowed", ["pharmacy"]),
        # included and excluded: excluded wins
        "none": in_categories("paid", ["professional_em"], exclude=["professional_em"]),
    })
    assert {p: (r["acute"], r["not_rx"], r["rx_allowed"], r["none"])
            for p, r in got.items() if p in ("P1", "P2", "P3", "P4")} == {
        "P1": (D("1250.00"), D("1360.00"), D("50.00"), D("0.00")),  # 1000 + 250; 1400 - 40
        "P2": (D("0.00"), D("120.00"), D("0.00"), D("0.00")),
        "P3": (D("0.00"), D("0.00"), D("0.00"), D("0.00")),
        "P4": (D("0.00"), D("15.00"), D("210.00"), D("0.00")),
    }


def test_no_amounts_gives_the_demographics_only(run: Run, tables: Tables) -> None:
    got = run(member_years(tables, YEAR, Population(), {}))
    assert got.column_names == ["person_id", "member_months", "age", "sex", "dual_flag",
                                "enrollment_type", "risk_score", "attributed_tin"]
    assert got.num_rows == 8


@pytest.mark.parametrize(("born", "age"), [
    ("1959-02-01", 65),  # the birthday on 1 February counts
    ("1959-02-02", 64),  # one day later: not yet
    ("1959-01-31", 65),
    ("1958-12-31", 65),
    ("1960-02-29", 63),
])
def test_age_on_1_february(run: Run, born: str, age: int) -> None:
    t = world(enrolled("X", "2024-06", 1, born=born))
    (row,) = run(member_years(t, YEAR, Population(), {})).to_pylist()
    assert row["age"] == age


@pytest.mark.parametrize(("status", "dual", "born", "expected"), [
    ("11", "02", "1940-01-01", "esrd"),       # aged with ESRD: ESRD first
    ("21", "00", "1970-01-01", "esrd"),
    ("31", "00", "1970-01-01", "esrd"),
    ("20", "02", "1970-01-01", "disabled"),   # disabled before dual
    ("10", "04", "1940-01-01", "aged_dual"),
    ("10", "08", "1940-01-01", "aged_dual"),
    ("10", "09", "1940-01-01", "aged_nondual"),  # 09: other, read as not dual
    ("10", "00", "1940-01-01", "aged_nondual"),
    (None, "00", "1959-02-02", "disabled"),   # no status, 64: disabled
    (None, "00", "1959-02-01", "aged_nondual"),  # no status, 65: aged
    (None, "02", "1959-02-01", "aged_dual"),
])
def test_enrollment_type(run: Run, status: str | None, dual: str, born: str, expected: str
                         ) -> None:
    t = world(enrolled("X", "2024-01", 1, status=status, dual=dual, born=born))
    (row,) = run(member_years(t, YEAR, Population(), {})).to_pylist()
    assert row["enrollment_type"] == expected


def test_dual_flag_is_0_when_no_dual_status_is_known(run: Run) -> None:
    t = world(enrolled("X", "2024-01", 2, dual=None, born="1940-01-01"))
    (row,) = run(member_years(t, YEAR, Population(), {})).to_pylist()
    assert (row["dual_flag"], row["enrollment_type"]) == (0, "aged_nondual")


def test_member_months_without_claims_tables_rows(run: Run) -> None:
    """An empty claims world: every member-year has 0 spend."""
    t = world(enrolled("X", "2024-01", 12))
    assert run(member_years(t, YEAR, Population(), {"spend": line_amount("paid")})
               ).to_pylist() == [
        {"person_id": "X", "member_months": 12, "age": 73, "sex": "F", "dual_flag": 0,
         "enrollment_type": "aged_nondual", "risk_score": None, "attributed_tin": None,
         "spend": D("0.00")}]


def test_marts_without_person_category_spend_are_refused(run: Run, tables: Tables) -> None:
    """A member_spend built before its 'person_category' level would give every contract no
    spend: the run stops and asks for `measure`, rather than settle on zeros."""
    check_spend_levels(tables, run)  # the current mart: accepted
    spend = tables("member_spend")
    old = spend.filter(spend.level != "person_category")
    stale = {n: tables(n) for n in ("member_months", "risk", "attribution", "kpis")}
    with pytest.raises(UserError, match="run `medsynergy measure` again"):
        check_spend_levels({**stale, "member_spend": old}.__getitem__, run)
    # an empty warehouse (no member-years at all) is not stale
    check_spend_levels({"member_spend": old.filter(old.level == "none")}.__getitem__, run)
