"""Shared savings on a population, MSSP rules (contracts/shared_savings.py): given
member-months, claim lines, risk scores and the attribution mart -> the assigned
beneficiaries, the per capita amounts by enrollment type, the historical and updated
benchmark, the expenditures, and the inputs that reach `mssp_settle.settle` (whose
branches tests/contracts/test_mssp_settle.py covers).

Every expected amount is worked out by hand in a comment. Unless a test says otherwise
the agreement starts in 2024: the benchmark years are 2021, 2022, 2023 (BY1-BY3),
weighted 10 / 30 / 60 %, and the performance year is 2024."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pydantic import ValidationError
from tests.marts.conftest import memtable

from medsynergy.contracts.bind import Run, Tables
from medsynergy.contracts.mssp_settle import SettlementInputs, Track, settle
from medsynergy.contracts.prepare import prepare
from medsynergy.contracts.result import Reconciliation, Step, to_cents
from medsynergy.contracts.shared_savings import (
    TYPES,
    Historical,
    SharedSavingsSpec,
    TypeStats,
    assigned_units,
    benchmark_from,
    historical_benchmark,
    prepare_shared_savings,
    type_stats,
    update_factor,
)
from medsynergy.contracts.spec import load_contract, parse_contract
from medsynergy.errors import ContractError

from .test_population import (
    ATTRIBUTION_T,
    YEAR,
    attributed,
    duckdb_run,
    ed,
    em,
    enrolled,
    inpatient,
    rx,
    score,
    world,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "contracts"

IME_NOTE = ("claims carry no IME, DSH or uncompensated care amounts: expenditures are the "
            "claims' amounts as paid (42 CFR 425.605(a))")
NO_TRUNCATION_NOTE = ("no national 99th percentile given (truncation): beneficiaries' "
                      "expenditures are not truncated (42 CFR 425.601(a)(4))")
NO_ACPT_NOTE = ("agreement starts in 2024 or later but no ACPT given: the update factor is "
                "the national-regional blend alone")
NO_REGIONAL_NOTE = ("no regional adjustment inputs given: the benchmark is not regionally "
                    "adjusted (42 CFR 425.656)")


@pytest.fixture
def run() -> Iterator[Run]:
    yield from duckdb_run()


# -- the attribution mart (its attributed_flag column, which the tiny world's table lacks) -

ATTRIBUTION_MART_T: dict[str, pa.DataType] = {**ATTRIBUTION_T, "attributed_flag": pa.int64()}


def assigned(person: str, tin: str | None = "T1", year: int = YEAR) -> dict[str, Any]:
    """An attribution mart row: attributed_flag 1 with a TIN, 0 without (as the mart)."""
    return {**attributed(person, tin, year), "attributed_flag": 0 if tin is None else 1}


def mssp_world(members: Sequence[dict[str, Any]], medical: Sequence[dict[str, Any]] = (),
               pharmacy: Sequence[dict[str, Any]] = (), risk: Sequence[dict[str, Any]] = (),
               attribution: Sequence[dict[str, Any]] = ()) -> Tables:
    """The tiny world of test_population with an attribution mart carrying attributed_flag."""
    base = world(members, medical, pharmacy, risk)
    mart = memtable(ATTRIBUTION_MART_T, attribution)

    def tables(name: str) -> Any:
        return mart if name == "attribution" else base(name)

    return tables


def spec_of(**terms: Any) -> SharedSavingsSpec:
    base: dict[str, Any] = {"model": "shared_savings", "name": "aco", "track": "BASIC_A",
                            "agreement_start_year": 2024}
    return SharedSavingsSpec.model_validate({**base, **terms})


def _steps(steps: tuple[Step, ...] | list[Step]) -> dict[str, object]:
    return {s.name: s.value for s in steps}


# == 1. assigned_units ======================================================================

# 2024, every member 12 months unless said:
#   A1 aged non-dual, mcare/A, T1: inpatient 1000 + office visit 100 (+ rx 40: Part D)
#   A2 disabled (status 20), mcare/A, T2: ED 250, no risk score
#   A3 attribution row with attributed_flag 0 (no TIN): not assigned
#   A4 attributed to T1 in 2023 only: not assigned in 2024
#   A5 enrolled with acme/X (another payer), T1: office visit 60 of acme/X
#   A6 no attribution row at all: not assigned
#   A7 mcare/B (another plan), T1: office visit 70 of mcare/B
AU_MEMBERS = [
    *enrolled("A1", "2024-01", 12), *enrolled("A2", "2024-01", 12, status="20"),
    *enrolled("A3", "2024-01", 12), *enrolled("A4", "2024-01", 12),
    *enrolled("A5", "2024-01", 12, payer="acme", plan="X"), *enrolled("A6", "2024-01", 12),
    *enrolled("A7", "2024-01", 12, plan="B"),
]
AU_MEDICAL = [
    inpatient("A1", "2024-02-01", "1000.00"), em("A1", "2024-03-01", "100.00"),
    ed("A2", "2024-04-01", "250.00"), em("A3", "2024-04-01", "80.00"),
    em("A4", "2024-04-01", "90.00"), em("A5", "2024-05-01", "60.00", payer="acme", plan="X"),
    em("A6", "2024-05-01", "55.00"), em("A7", "2024-06-01", "70.00", plan="B"),
]
AU_PHARMACY = [rx("A1", "2024-03-20", "40.00")]
AU_RISK = [score("A1", 1.25)]
AU_ATTRIBUTION = [
    assigned("A1", "T1"), assigned("A2", "T2"), assigned("A3", None),
    assigned("A4", "T1", year=2023), assigned("A5", "T1"), assigned("A7", "T1"),
]


@pytest.fixture
def au_tables() -> Tables:
    return mssp_world(AU_MEMBERS, AU_MEDICAL, AU_PHARMACY, AU_RISK, AU_ATTRIBUTION)


def _units(spec: SharedSavingsSpec, tables: Tables, run: Run, year: int = YEAR
           ) -> dict[str, tuple[object, ...]]:
    """person -> (enrollment_type, member_months, spend, truncated_spend, risk_months,
    scored_months)."""
    t = run(assigned_units(spec, tables, year))
    assert t.column_names == ["person_id", "enrollment_type", "member_months", "spend",
                              "truncated_spend_x12", "risk_months", "scored_months"]
    # the truncated spend is kept in twelfths (exact): shown here as the amount itself
    return {r["person_id"]: (r["enrollment_type"], r["member_months"], r["spend"],
                             r["truncated_spend_x12"] / 12, r["risk_months"],
                             r["scored_months"])
            for r in t.to_pylist()}


def test_only_members_attributed_in_the_year_are_assigned(au_tables: Tables, run: Run
                                                          ) -> None:
    got = _units(spec_of(), au_tables, run)
    # A3 (flag 0), A4 (attributed in 2023) and A6 (no row) are not assigned.
    # A1: 1000 + 100 = 1100.00 of Parts A+B, the 40.00 rx line (Part D) left out; score
    #     1.25 x 12 months = 15 risk-months over 12 scored months
    # A2: 250.00, no score: 0 risk-months, 0 scored months
    # no truncation given: truncated_spend = spend
    assert got == {
        "A1": ("aged_nondual", 12, D("1100.00"), D("1100"), D(15), 12),
        "A2": ("disabled", 12, D("250.00"), D("250"), D(0), 0),
        "A5": ("aged_nondual", 12, D("60.00"), D("60"), D(0), 0),
        "A7": ("aged_nondual", 12, D("70.00"), D("70"), D(0), 0),
    }


def test_assigned_in_another_year(au_tables: Tables, run: Run) -> None:
    # in 2023 only A4 is attributed, but nobody is enrolled in 2023: no member-year
    assert _units(spec_of(), au_tables, run, 2023) == {}


@pytest.mark.parametrize(("tins", "persons"), [
    (("T1",), ["A1", "A5", "A7"]),
    (("T2", "T9"), ["A2"]),
    (("T9",), []),
])
def test_aco_tins_filter(au_tables: Tables, run: Run, tins: tuple[str, ...],
                         persons: list[str]) -> None:
    assert sorted(_units(spec_of(aco_tins=list(tins)), au_tables, run)) == persons


def test_population_payer_and_plans_filter(au_tables: Tables, run: Run) -> None:
    # payer mcare: A5 (acme/X only) is not in the population
    assert sorted(_units(spec_of(population={"payer": "mcare"}), au_tables, run)) == [
        "A1", "A2", "A7"]
    # plan A: A7 (mcare/B) is not either
    got = _units(spec_of(population={"payer": "mcare", "plans": ["A"]}), au_tables, run)
    assert sorted(got) == ["A1", "A2"]
    assert got["A1"][2] == D("1100.00")


def test_allowed_basis(run: Run) -> None:
    t = mssp_world(enrolled("X", "2024-01", 12),
                   [em("X", "2024-01-10", "80.00", "100.00")],
                   [rx("X", "2024-01-11", "40.00", "50.00")], attribution=[assigned("X")])
    got = _units(spec_of(population={"basis": "allowed"}), t, run)
    # the allowed amount of the medical line; the rx line (allowed 50) left out
    assert got["X"][2:4] == (D("100.00"), D("100"))


# truncation: aged non-dual at 120,000 and ESRD at 420,000 a year; no disabled threshold
#   T6  aged non-dual, July-December (6 months), 70,000: 120,000 x 6 / 12 = 60,000 < 70,000
#   T12 aged non-dual, 12 months, 70,000: the limit is 120,000, not truncated
#   AT  aged non-dual, 6 months, exactly 60,000: at the limit, unchanged
#   D6  disabled, 6 months, 90,000: no threshold for the type, not truncated
#   E3  ESRD (status 31), January-March, 200,000: 420,000 x 3 / 12 = 105,000
TR_MEMBERS = [
    *enrolled("T6", "2024-07", 6), *enrolled("T12", "2024-01", 12),
    *enrolled("AT", "2024-01", 6), *enrolled("D6", "2024-01", 6, status="20"),
    *enrolled("E3", "2024-01", 3, status="31", born="1980-01-01"),
]
TR_MEDICAL = [
    inpatient("T6", "2024-08-01", "70000.00"), inpatient("T12", "2024-08-01", "70000.00"),
    inpatient("AT", "2024-02-01", "60000.00"), inpatient("D6", "2024-02-01", "90000.00"),
    inpatient("E3", "2024-02-01", "200000.00"),
]
TR_ATTRIBUTION = [assigned(p) for p in ("T6", "T12", "AT", "D6", "E3")]
TRUNCATION = {"esrd": "420000", "aged_nondual": "120000"}


@pytest.fixture
def tr_tables() -> Tables:
    return mssp_world(TR_MEMBERS, TR_MEDICAL, attribution=TR_ATTRIBUTION)


def test_truncation_at_the_threshold_scaled_by_months(tr_tables: Tables, run: Run) -> None:
    got = _units(spec_of(truncation=TRUNCATION), tr_tables, run)
    assert {p: (r[0], r[1], r[2], r[3]) for p, r in got.items()} == {
        "T6": ("aged_nondual", 6, D("70000.00"), D("60000")),
        "T12": ("aged_nondual", 12, D("70000.00"), D("70000")),
        "AT": ("aged_nondual", 6, D("60000.00"), D("60000")),
        "D6": ("disabled", 6, D("90000.00"), D("90000")),
        "E3": ("esrd", 3, D("200000.00"), D("105000")),
    }


@pytest.mark.parametrize("truncation", [None, {}])
def test_no_truncation_given_truncates_nothing(tr_tables: Tables, run: Run,
                                               truncation: dict[str, str] | None) -> None:
    got = _units(spec_of(truncation=truncation), tr_tables, run)
    assert {p: r[3] for p, r in got.items()} == {
        "T6": D(70000), "T12": D(70000), "AT": D(60000), "D6": D(90000), "E3": D(200000)}


def test_part_year_truncation_limit_is_exact(run: Run) -> None:
    t = mssp_world(enrolled("X", "2024-01", 5), [inpatient("X", "2024-02-01", "70000.00")],
                   attribution=[assigned("X")])
    got = _units(spec_of(truncation={"aged_nondual": "100000"}), t, run)
    # 100,000 x 5 / 12 = 41,666.666...: kept exactly, as 12 x the amount = 500,000
    assert got["X"][3] * 12 == D("500000")


def test_risk_months_with_and_without_a_score(run: Run) -> None:
    t = mssp_world([*enrolled("S", "2024-01", 6), *enrolled("N", "2024-01", 9)],
                   risk=[score("S", 0.75), score("N", 2.0, year=2023),
                         score("N", 3.0, model="v24")],
                   attribution=[assigned("S"), assigned("N")])
    got = _units(spec_of(), t, run)
    # S: 6 months x 0.75 = 4.5 risk-months, 6 scored months; N: its 2023 score and its
    # non-blend score do not count: no score, 0 and 0
    assert {p: r[4:] for p, r in got.items()} == {"S": (D("4.5"), 6), "N": (D(0), 0)}


# == 2. type_stats ==========================================================================

UNITS_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("enrollment_type", pa.string()),
    ("member_months", pa.int64()), ("spend", pa.decimal128(38, 2)),
    ("truncated_spend_x12", pa.decimal128(38, 12)), ("risk_months", pa.decimal128(38, 12)),
    ("scored_months", pa.int64())])


def units_table(rows: list[tuple[str, str, int, str, str, str, int]]) -> pa.Table:
    arrays = []
    for i, field in enumerate(UNITS_SCHEMA):
        values: list[Any] = [r[i] for r in rows]
        if pa.types.is_decimal(field.type):
            values = [D(v) for v in values]
        if field.name == "truncated_spend_x12":  # rows give the truncated spend itself
            values = [v * 12 for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=UNITS_SCHEMA)


NO_MEMBERS = TypeStats(D(0), D(0), None, None)


def test_type_stats_per_type() -> None:
    units = units_table([
        # aged non-dual: 12 + 6 = 18 months = 1.5 person-years; truncated 1200 + 900 =
        # 2100; per capita 2100 / 18 x 12 = 1400; mean risk 18 / 12 scored months = 1.5
        ("P1", "aged_nondual", 12, "1500.00", "1200", "18", 12),
        ("P2", "aged_nondual", 6, "900.00", "900", "0", 0),
        # disabled: 3 months = 0.25 person-years, 300 -> 1200 a year; risk 1.5 / 3 = 0.5
        ("P3", "disabled", 3, "300.00", "300", "1.5", 3),
        # aged dual: 6 months, nobody scored: mean risk None
        ("P4", "aged_dual", 6, "450.00", "450", "0", 0),
    ])
    assert type_stats(units) == {
        "esrd": NO_MEMBERS,
        "disabled": TypeStats(D("0.25"), D(300), D(1200), D("0.5")),
        "aged_dual": TypeStats(D("0.5"), D(450), D(900), None),
        "aged_nondual": TypeStats(D("1.5"), D(2100), D(1400), D("1.5")),
    }


def test_type_stats_of_no_units() -> None:
    assert type_stats(units_table([])) == dict.fromkeys(TYPES, NO_MEMBERS)


def test_type_stats_of_assigned_units(tr_tables: Tables, run: Run) -> None:
    stats = type_stats(run(assigned_units(spec_of(truncation=TRUNCATION), tr_tables, YEAR)))
    # aged non-dual: T6 60,000 + T12 70,000 + AT 60,000 = 190,000 over 6 + 12 + 6 = 24
    # months (2 person-years): 95,000 per capita; nobody scored
    assert stats["aged_nondual"] == TypeStats(D(2), D(190000), D(95000), None)
    # ESRD: 105,000 over 3 months: 420,000 per capita (the threshold itself)
    assert stats["esrd"] == TypeStats(D("0.25"), D(105000), D(420000), None)
    assert stats["aged_dual"] == NO_MEMBERS


# == 3. historical_benchmark ================================================================


def per_capita(amount: str | int, risk: str | None = None) -> TypeStats:
    """A type's stats of one benchmark year (one person-year at `amount`)."""
    return TypeStats(D(1), D(amount), D(amount), None if risk is None else D(risk))


def by_year(**types: TypeStats) -> dict[str, TypeStats]:
    return {t: types.get(t, NO_MEMBERS) for t in TYPES}


def test_weights_and_trend_to_by3() -> None:
    spec = spec_of(benchmark_trend="1.1")
    h = historical_benchmark(spec, {2021: by_year(aged_nondual=per_capita(1000)),
                                    2022: by_year(aged_nondual=per_capita(1100)),
                                    2023: by_year(aged_nondual=per_capita(1200))})
    # trended to 2023: 1000 x 1.1^2 = 1210; 1100 x 1.1 = 1210; 1200
    # 0.1 x 1210 + 0.3 x 1210 + 0.6 x 1200 = 121 + 363 + 720 = 1204
    assert h == Historical(
        {"esrd": None, "disabled": None, "aged_dual": None, "aged_nondual": D(1204)},
        dict.fromkeys(TYPES), (
            Step("historical_per_capita_aged_nondual", D(1204),
                 "weighted benchmark-year per capita, trended and risk-restated to the third "
                 "benchmark year", "42 CFR 425.601(a)(5)-(7)"),),
        (NO_REGIONAL_NOTE,))


def test_benchmark_years_restated_for_risk_to_by3() -> None:
    spec = spec_of(benchmark_trend="1.1")
    h = historical_benchmark(spec, {2021: by_year(aged_nondual=per_capita(1000, "0.8")),
                                    2022: by_year(aged_nondual=per_capita(1100, "1.0")),
                                    2023: by_year(aged_nondual=per_capita(1200, "1.2"))})
    # BY1: 1210 x 1.2 / 0.8 = 1815; BY2: 1210 x 1.2 / 1.0 = 1452; BY3: 1200
    # 0.1 x 1815 + 0.3 x 1452 + 0.6 x 1200 = 181.5 + 435.6 + 720 = 1337.1
    assert h.per_capita["aged_nondual"] == D("1337.1")
    assert h.risk_by3 == {"esrd": None, "disabled": None, "aged_dual": None,
                          "aged_nondual": D("1.2")}


def test_a_year_without_a_score_is_not_restated() -> None:
    spec = spec_of(benchmark_trend="1.1")
    h = historical_benchmark(spec, {2021: by_year(aged_nondual=per_capita(1000)),
                                    2022: by_year(aged_nondual=per_capita(1100, "1.0")),
                                    2023: by_year(aged_nondual=per_capita(1200, "1.2"))})
    # BY1 has no score: 1210 as trended; BY2 1452; 121 + 435.6 + 720 = 1276.6
    assert h.per_capita["aged_nondual"] == D("1276.6")


def test_by3_without_a_score_restates_nothing() -> None:
    h = historical_benchmark(spec_of(), {2021: by_year(aged_nondual=per_capita(1000, "0.5")),
                                         2022: by_year(aged_nondual=per_capita(1000, "2.0")),
                                         2023: by_year(aged_nondual=per_capita(1000))})
    assert h.per_capita["aged_nondual"] == D(1000)
    assert h.risk_by3["aged_nondual"] is None


def test_a_year_without_the_type_rescales_the_weights() -> None:
    spec = spec_of(benchmark_trend="1.1")
    h = historical_benchmark(spec, {2021: by_year(aged_nondual=per_capita(1000)),
                                    2022: by_year(aged_nondual=per_capita(1000),
                                                  disabled=per_capita(1000)),
                                    2023: by_year(aged_nondual=per_capita(1000),
                                                  disabled=per_capita(2000))})
    # disabled: no BY1; (0.3 x 1000 x 1.1 + 0.6 x 2000) / 0.9 = (330 + 1200) / 0.9 = 1700
    # aged non-dual: 0.1 x 1210 + 0.3 x 1100 + 0.6 x 1000 = 121 + 330 + 600 = 1051
    assert h.per_capita == {"esrd": None, "disabled": D(1700), "aged_dual": None,
                            "aged_nondual": D(1051)}
    assert h.notes == ("disabled: benchmark years without beneficiaries of this type left "
                       "out, the other years' weights rescaled", NO_REGIONAL_NOTE)
    assert [s.name for s in h.steps] == ["historical_per_capita_disabled",
                                         "historical_per_capita_aged_nondual"]


def test_regional_adjustment_and_its_cap() -> None:
    spec = spec_of(regional={
        "weight": "0.5",  # cap: the default 5 % of national per capita
        "per_capita": {"esrd": "2000", "disabled": "4000", "aged_nondual": "1100"},
        "national_per_capita": {"esrd": "10000", "disabled": "10000",
                                "aged_nondual": "10000"}})
    year = by_year(esrd=per_capita(4000), disabled=per_capita(2000),
                   aged_dual=per_capita(1500), aged_nondual=per_capita(1000))
    h = historical_benchmark(spec, {2021: year, 2022: year, 2023: year})
    # every limit is 5 % x 10,000 = 500
    # esrd: 0.5 x (2000 - 4000) = -1000, capped at -500 -> 3500
    # disabled: 0.5 x (4000 - 2000) = +1000, capped at +500 -> 2500
    # aged dual: no regional inputs: a note, 1500 unadjusted
    # aged non-dual: 0.5 x (1100 - 1000) = 50, within the cap -> 1050
    assert h.per_capita == {"esrd": D(3500), "disabled": D(2500), "aged_dual": D(1500),
                            "aged_nondual": D(1050)}
    assert _steps(h.steps) == {
        "historical_per_capita_esrd": D(4000), "regional_adjustment_esrd": D(-500),
        "historical_per_capita_disabled": D(2000), "regional_adjustment_disabled": D(500),
        "historical_per_capita_aged_dual": D(1500),
        "historical_per_capita_aged_nondual": D(1000),
        "regional_adjustment_aged_nondual": D(50)}
    assert [s.name for s in h.steps][:2] == ["historical_per_capita_esrd",
                                             "regional_adjustment_esrd"]
    step = h.steps[1]
    assert (step.rule, step.source) == (
        "0.5 x (regional - historical), within +/- 0.05 x national per capita",
        "42 CFR 425.656(c)")
    assert h.notes == ("aged_dual: regional adjustment inputs missing; not adjusted",)


def test_regional_cap_is_a_share_of_national_per_capita() -> None:
    spec = spec_of(regional={"weight": "0.35", "cap": "0.02",
                             "per_capita": {"aged_nondual": "13000"},
                             "national_per_capita": {"aged_nondual": "11000"}})
    year = by_year(aged_nondual=per_capita(10000))
    h = historical_benchmark(spec, {2021: year, 2022: year, 2023: year})
    # 0.35 x (13000 - 10000) = 1050 > 2 % x 11,000 = 220: +220 -> 10,220
    assert h.per_capita["aged_nondual"] == D(10220)
    # and the negative side: regional 7000: 0.35 x -3000 = -1050 -> -220 -> 9,780
    spec = spec_of(regional={"weight": "0.35", "cap": "0.02",
                             "per_capita": {"aged_nondual": "7000"},
                             "national_per_capita": {"aged_nondual": "11000"}})
    h = historical_benchmark(spec, {2021: year, 2022: year, 2023: year})
    assert h.per_capita["aged_nondual"] == D(9780)
    assert h.notes == ()


def test_negative_regional_cap_below_the_positive_one() -> None:
    year = by_year(aged_nondual=per_capita(10000))
    terms = {"weight": "0.35", "cap": "0.05", "negative_cap": "0.015",
             "national_per_capita": {"aged_nondual": "11000"}}
    # negative: 0.35 x (7000 - 10000) = -1050, floor -1.5 % x 11,000 = -165 -> 9,835
    spec = spec_of(regional={**terms, "per_capita": {"aged_nondual": "7000"}})
    h = historical_benchmark(spec, {2021: year, 2022: year, 2023: year})
    assert h.per_capita["aged_nondual"] == D(9835)
    # positive: 0.35 x (13000 - 10000) = 1050, ceiling 5 % x 11,000 = 550 -> 10,550
    spec = spec_of(regional={**terms, "per_capita": {"aged_nondual": "13000"}})
    h = historical_benchmark(spec, {2021: year, 2022: year, 2023: year})
    assert h.per_capita["aged_nondual"] == D(10550)


def test_no_benchmark_year_members_at_all() -> None:
    h = historical_benchmark(spec_of(), dict.fromkeys((2021, 2022, 2023), by_year()))
    assert h == Historical(dict.fromkeys(TYPES), dict.fromkeys(TYPES), (), (NO_REGIONAL_NOTE,))


# == 4. update_factor =======================================================================


def test_update_national_only() -> None:
    factor, step = update_factor(spec_of(update={"national": "1.02"}), 2026)
    # three years from BY3 (2023) to 2026: 1.02^3 = 1.061208
    assert factor == D("1.061208")
    assert step == Step("update_factor", D("1.061208"),
                        "(national trend 1.02) ^ years from BY3", "42 CFR 425.652(b)(2)")


def test_update_national_regional_blend() -> None:
    spec = spec_of(agreement_start_year=2023,
                   update={"national": "1.04", "regional": "1.1", "national_weight": "0.25"})
    factor, step = update_factor(spec, 2023)
    # BY3 2022, one year: 0.25 x 1.04 + 0.75 x 1.1 = 0.26 + 0.825 = 1.085
    assert factor == D("1.085")
    assert step.rule == "(0.25 x national 1.04 + 0.75 x regional 1.1) ^ years from BY3"


def test_update_blend_with_the_acpt_from_2024() -> None:
    spec = spec_of(update={"national": "1.04", "regional": "1.1", "national_weight": "0.25",
                           "acpt": "1.04"})
    factor, step = update_factor(spec, 2024)
    # 2/3 x 1.085 + 1/3 x 1.04 = (2.17 + 1.04) / 3 = 3.21 / 3 = 1.07
    assert factor == D("1.07")
    assert step.rule == ("(2/3 x (0.25 x national 1.04 + 0.75 x regional 1.1) + 1/3 x ACPT "
                         "1.04) ^ years from BY3")
    # two years later: 1.07^3
    assert update_factor(spec, 2026)[0] == D("1.225043")


def test_acpt_ignored_for_an_agreement_before_2024() -> None:
    spec = spec_of(agreement_start_year=2023, update={"national": "1.05", "acpt": "1.5"})
    factor, step = update_factor(spec, 2024)
    # BY3 2022, two years, national only: 1.05^2 = 1.1025
    assert factor == D("1.1025")
    assert "ACPT" not in step.rule


def test_update_exponent_follows_the_given_benchmark_years() -> None:
    spec = spec_of(agreement_start_year=2025, benchmark_years=[2023, 2024],
                   benchmark_weights=["0.4", "0.6"], update={"national": "1.1"})
    assert update_factor(spec, 2025)[0] == D("1.1")
    assert update_factor(spec, 2027)[0] == D("1.331")


# == 5. benchmark_from ======================================================================

HIST = Historical(
    {"esrd": None, "disabled": D(2000), "aged_dual": None, "aged_nondual": D(1000)},
    {"esrd": None, "disabled": D("1.0"), "aged_dual": None, "aged_nondual": D("1.0")}, (), ())
PY = {
    # 2 person-years, risk up 5 %: the ratio is capped at 1.03
    "aged_nondual": TypeStats(D(2), D(1800), D(900), D("1.05")),
    # 0.5 person-years, risk down 5 %: 0.95, not capped
    "disabled": TypeStats(D("0.5"), D(500), D(1000), D("0.95")),
    # performance-year members of a type without benchmark-year members
    "esrd": TypeStats(D("0.25"), D(3000), D(12000), D(2)),
    "aged_dual": NO_MEMBERS,
}


def test_benchmark_from_capped_risk_growth_and_uncapped_decrease() -> None:
    spec = spec_of(update={"national": "1.02"})
    bench, spend, steps, notes = benchmark_from(spec, HIST, PY, 2024)
    # disabled: 2000 x 1.02 x 0.95 = 1938 x 0.5 = 969
    # aged non-dual: min(1.05, 1.03) = 1.03; 1000 x 1.02 x 1.03 = 1050.6 x 2 = 2101.2
    # benchmark 969 + 2101.2 = 3070.2; ESRD has no benchmark
    # expenditure: the truncated spend of the types with a benchmark, ESRD's 3000 left
    # out (counted against no benchmark it would read as a loss): 500 + 1800 = 2300
    assert (bench, spend) == (D("3070.2"), D(2300))
    assert [(s.name, s.value) for s in steps] == [
        ("update_factor", D("1.02")),
        ("risk_ratio_disabled", D("0.95")),
        ("benchmark_per_capita_disabled", D(1938)),
        ("person_years_disabled", D("0.5")),
        ("risk_ratio_aged_nondual", D("1.03")),
        ("benchmark_per_capita_aged_nondual", D("1050.6")),
        ("person_years_aged_nondual", D(2)),
        ("benchmark", D("3070.2")),
        ("expenditure", D(2300)),
    ]
    assert steps[-2].rule == "sum over types of per capita benchmark x person-years"
    assert notes == ["esrd: no benchmark-year beneficiaries of this type: their 0.25 "
                     "person-years are left out of the benchmark and of the expenditure"]


def test_risk_growth_cap_is_a_term() -> None:
    spec = spec_of(update={"national": "1.02"}, risk_growth_cap="0.1")
    bench, _, steps, _ = benchmark_from(spec, HIST, PY, 2024)
    # the 5 % growth is now within the cap: 1000 x 1.02 x 1.05 = 1071 x 2 = 2142; + 969
    assert _steps(steps)["risk_ratio_aged_nondual"] == D("1.05")
    assert bench == D(3111)


def test_prior_savings_adjustment_per_capita() -> None:
    spec = spec_of(update={"national": "1.02"}, prior_savings_adjustment="25")
    bench, _, steps, _ = benchmark_from(spec, HIST, PY, 2024)
    # disabled 1938 + 25 = 1963 x 0.5 = 981.5; aged non-dual 1050.6 + 25 = 1075.6 x 2 =
    # 2151.2; 981.5 + 2151.2 = 3132.7
    assert _steps(steps)["benchmark_per_capita_disabled"] == D(1963)
    assert _steps(steps)["benchmark_per_capita_aged_nondual"] == D("1075.6")
    assert bench == D("3132.7")
    assert steps[2].rule == "historical x update factor x risk ratio + prior savings adjustment"


def test_no_risk_scores_no_risk_ratio() -> None:
    hist = Historical({**HIST.per_capita}, {**HIST.risk_by3, "aged_nondual": None}, (), ())
    py = {**PY, "disabled": TypeStats(D("0.5"), D(500), D(1000), None)}
    bench, _, steps, notes = benchmark_from(spec_of(), hist, py, 2024)
    # factor 1 (national 1 by default); both at ratio 1: 2000 x 0.5 + 1000 x 2 = 3000
    assert bench == D(3000)
    assert "risk_ratio_disabled" not in _steps(steps)
    assert "risk_ratio_aged_nondual" not in _steps(steps)
    # in the order of the types: ESRD, disabled, aged dual, aged non-dual
    assert notes == [
        "esrd: no benchmark-year beneficiaries of this type: their 0.25 person-years are "
        "left out of the benchmark and of the expenditure",
        "disabled: risk scores missing for BY3 or the performance year: the benchmark is "
        "not risk-adjusted for this type",
        "aged_nondual: risk scores missing for BY3 or the performance year: the benchmark is "
        "not risk-adjusted for this type"]


def test_no_performance_year_members() -> None:
    bench, spend, steps, notes = benchmark_from(spec_of(), HIST, dict.fromkeys(TYPES, NO_MEMBERS),
                                                2024)
    assert (bench, spend, notes) == (D(0), D(0), [])
    assert [s.name for s in steps] == ["update_factor", "benchmark", "expenditure"]


# == 6. prepare_shared_savings, end to end ==================================================

# B1 aged non-dual, enrolled 2021-2024, attributed to T1 every year:
#   BY1 2021: 10,000; BY2 2022: 11,000; BY3 2023: 12,000 (score 1.0);
#   2024: inpatient 5,000 + office visit 1,000 = 6,000 (+ rx 500: Part D), score 1.25
# B2 aged non-dual, July-December 2024 (6 months), T1, inpatient 14,000, no score;
#   truncated at 20,000 x 6 / 12 = 10,000
# B3 2024, attribution row with attributed_flag 0: inpatient 50,000, not assigned
E2E_MEMBERS = [*enrolled("B1", "2021-01", 48), *enrolled("B2", "2024-07", 6),
               *enrolled("B3", "2024-01", 12)]
E2E_MEDICAL = [
    inpatient("B1", "2021-03-01", "10000.00"), inpatient("B1", "2022-03-01", "11000.00"),
    inpatient("B1", "2023-03-01", "12000.00"), inpatient("B1", "2024-03-01", "5000.00"),
    em("B1", "2024-04-01", "1000.00"), inpatient("B2", "2024-08-01", "14000.00"),
    inpatient("B3", "2024-02-01", "50000.00"),
]
E2E_PHARMACY = [rx("B1", "2024-05-01", "500.00")]
E2E_RISK = [score("B1", 1.0, 2023), score("B1", 1.25, 2024)]
E2E_ATTRIBUTION = [*(assigned("B1", "T1", y) for y in (2021, 2022, 2023, 2024)),
                   assigned("B2", "T1"), assigned("B3", None)]
# the benchmark: (0.1 x 10,000 + 0.3 x 11,000 + 0.6 x 12,000) = 1,000 + 3,300 + 7,200 =
# 11,500 (no trend, BY1/BY2 unscored: not restated); 2024 mean risk 12 x 1.25 / 12 = 1.25
# over BY3's 1.0: +25 %, capped at 1.03; 1.5 person-years; expenditure 6,000 + 10,000
BASIC_A: dict[str, Any] = {
    "model": "shared_savings", "name": "aco-basic-a", "track": "BASIC_A",
    "agreement_start_year": 2024, "truncation": {"aged_nondual": "20000"},
    "update": {"national": "1.02"}, "msr": "0.02", "quality": {"met_standard": True}}
ENHANCED: dict[str, Any] = {
    "model": "shared_savings", "name": "aco-enhanced", "track": "ENHANCED",
    "agreement_start_year": 2024, "truncation": {"aged_nondual": "20000"},
    "update": {"national": "0.8", "acpt": "0.8"}, "msr": "0.02", "mlr": "0.02",
    "quality": {"score": "0.8", "met_standard": True}}


@pytest.fixture
def e2e_tables() -> Tables:
    return mssp_world(E2E_MEMBERS, E2E_MEDICAL, E2E_PHARMACY, E2E_RISK, E2E_ATTRIBUTION)


def _reconcile(terms: dict[str, Any], tables: Tables, run: Run) -> Reconciliation:
    spec = SharedSavingsSpec.model_validate(terms)
    r = prepare_shared_savings(spec, tables, run, YEAR).reconcile()
    # money is conserved to the cent, whatever the branch
    gross = r.step("gross_savings").value
    assert isinstance(gross, D)
    assert r.to_provider + r.to_payer == to_cents(gross)
    return r


def _settled(track: Track, n: int, benchmark: str, expenditure: str, name: str,
             **kw: Any) -> Reconciliation:
    return settle(SettlementInputs(
        performance_year=YEAR, track=track, assigned_beneficiaries=n,
        benchmark=D(benchmark), expenditure=D(expenditure), agreement_year=1,
        agreement_start_year=2024, **kw), name=name)


BENCHMARK_STEPS = ["historical_per_capita_aged_nondual", "update_factor",
                   "risk_ratio_aged_nondual", "benchmark_per_capita_aged_nondual",
                   "person_years_aged_nondual", "benchmark", "expenditure"]


def test_one_sided_basic_a_earns_shared_savings(e2e_tables: Tables, run: Run) -> None:
    p = prepare_shared_savings(SharedSavingsSpec.model_validate(BASIC_A), e2e_tables, run,
                               YEAR)
    assert (p.unit, p.units.num_rows) == ("member-year", 2)
    r = _reconcile(BASIC_A, e2e_tables, run)
    steps = _steps(r.steps)
    # 11,500 x 1.02 x 1.03 = 12,081.9 per capita; x 1.5 = 18,122.85
    assert [s.name for s in r.steps][:7] == BENCHMARK_STEPS
    assert {k: steps[k] for k in BENCHMARK_STEPS} == {
        "historical_per_capita_aged_nondual": D(11500), "update_factor": D("1.02"),
        "risk_ratio_aged_nondual": D("1.03"),
        "benchmark_per_capita_aged_nondual": D("12081.9"),
        "person_years_aged_nondual": D("1.5"), "benchmark": D("18122.85"),
        "expenditure": D(16000)}
    # savings 2,122.85 (11.7 % >= MSR 2 %) x 40 % = 849.14, less 2 % sequestration
    # (16.9828) = 832.1572, under the 10 % limit (1,812.285): 832.16 to the ACO
    expected = _settled(Track.BASIC_A, 2, "18122.85", "16000", "aco-basic-a",
                        msr=D("0.02"), met_quality_standard=True)
    assert (r.to_provider, r.to_payer) == (D("832.16"), D("1290.69"))
    assert (r.to_provider, r.to_payer) == (expected.to_provider, expected.to_payer)
    assert r.steps[7:-2] == expected.steps
    assert r.inputs == (("year", YEAR), ("track", "BASIC A"), ("assigned_beneficiaries", 2),
                        *expected.inputs)
    # claims paid, untruncated Parts A+B: 6,000 + 14,000 (B3 and the rx line left out)
    assert r.steps[-2:] == (
        Step("ffs_spend", D("20000.00"), "Parts A+B claims of the assigned beneficiaries "
             "(before truncation)", "42 CFR 425.605(a); 425.601(a)"),
        Step("provider_revenue", D("20832.16"), "claims paid + shared savings (- shared "
             "losses)", "42 CFR 425.605(a); 425.601(a)"))
    assert (r.contract, r.model) == ("aco-basic-a", "shared_savings")
    assert r.notes == (IME_NOTE, NO_ACPT_NOTE, NO_REGIONAL_NOTE, *expected.notes)
    assert expected.notes == ()


def test_two_sided_enhanced_owes_shared_losses(e2e_tables: Tables, run: Run) -> None:
    r = _reconcile(ENHANCED, e2e_tables, run)
    steps = _steps(r.steps)
    # update: 2/3 x 0.8 + 1/3 x ACPT 0.8 = 0.8; 11,500 x 0.8 x 1.03 = 9,476 x 1.5 = 14,214
    assert {k: steps[k] for k in BENCHMARK_STEPS} == {
        "historical_per_capita_aged_nondual": D(11500), "update_factor": D("0.8"),
        "risk_ratio_aged_nondual": D("1.03"), "benchmark_per_capita_aged_nondual": D(9476),
        "person_years_aged_nondual": D("1.5"), "benchmark": D(14214),
        "expenditure": D(16000)}
    assert r.step("update_factor").rule == ("(2/3 x (national trend 0.8) + 1/3 x ACPT 0.8) "
                                            "^ years from BY3")
    # losses 1,786 (12.6 % >= MLR 2 %) x loss rate 1 - 0.75 x 0.8 = 40 % = 714.40, under
    # the 15 % limit (2,132.10): the ACO owes 714.40; the payer: -1,786 + 714.40
    expected = _settled(Track.ENHANCED, 2, "14214", "16000", "aco-enhanced",
                        msr=D("0.02"), mlr=D("0.02"), quality_score=D("0.8"),
                        met_quality_standard=True)
    assert (r.to_provider, r.to_payer) == (D("-714.40"), D("-1071.60"))
    assert (r.to_provider, r.to_payer) == (expected.to_provider, expected.to_payer)
    assert r.steps[7:-2] == expected.steps
    assert _steps(r.steps)["loss_rate"] == D("0.4")
    assert (steps["ffs_spend"], steps["provider_revenue"]) == (D("20000.00"), D("19285.60"))
    # the ACPT is given: no ACPT note
    assert r.notes == (IME_NOTE, NO_REGIONAL_NOTE, *expected.notes)


def test_without_truncation_the_expenditure_is_the_claims(e2e_tables: Tables, run: Run
                                                          ) -> None:
    terms = {k: v for k, v in BASIC_A.items() if k != "truncation"}
    r = _reconcile(terms, e2e_tables, run)
    # B2 untruncated: 6,000 + 14,000 = 20,000 > 18,122.85: losses of 1,877.15, one-sided:
    # not shared
    assert (r.step("benchmark").value, r.step("expenditure").value) == (D("18122.85"),
                                                                        D(20000))
    expected = _settled(Track.BASIC_A, 2, "18122.85", "20000", "aco-basic-a",
                        msr=D("0.02"), met_quality_standard=True)
    assert r.steps[7:-2] == expected.steps
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("-1877.15"))
    assert r.step("losses_shared").value is False
    assert (r.step("ffs_spend").value, r.step("provider_revenue").value) == (
        D("20000.00"), D("20000.00"))
    assert r.notes == (IME_NOTE, NO_TRUNCATION_NOTE, NO_ACPT_NOTE, NO_REGIONAL_NOTE)


def test_aco_tins_that_assign_nobody(e2e_tables: Tables, run: Run) -> None:
    r = _reconcile({**BASIC_A, "aco_tins": ["T9"]}, e2e_tables, run)
    _assert_nobody_assigned(r)


def test_no_attribution_rows_nobody_assigned(run: Run) -> None:
    t = mssp_world(E2E_MEMBERS, E2E_MEDICAL, E2E_PHARMACY, E2E_RISK)
    p = prepare_shared_savings(SharedSavingsSpec.model_validate(BASIC_A), t, run, YEAR)
    assert p.units.num_rows == 0
    r = _reconcile(BASIC_A, t, run)
    _assert_nobody_assigned(r)


def _assert_nobody_assigned(r: Reconciliation) -> None:
    # no benchmark-year or performance-year beneficiaries: benchmark 0, nothing settled
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))
    assert dict(r.inputs)["assigned_beneficiaries"] == 0
    assert [(s.name, s.value) for s in r.steps] == [
        ("update_factor", D("1.02")), ("benchmark", D(0)), ("expenditure", D(0)),
        ("gross_savings", D(0)), ("provider_amount", D(0)), ("ffs_spend", D(0)),
        ("provider_revenue", D(0))]
    assert r.notes == (IME_NOTE, NO_ACPT_NOTE, NO_REGIONAL_NOTE,
                       "benchmark is zero or negative (no assigned beneficiaries or no "
                       "benchmark given): no savings rate, nothing is settled")


def test_prepare_dispatches_shared_savings(e2e_tables: Tables, run: Run) -> None:
    spec = parse_contract(BASIC_A)
    assert isinstance(spec, SharedSavingsSpec)
    assert prepare(spec, e2e_tables, run, YEAR).reconcile() == prepare_shared_savings(
        spec, e2e_tables, run, YEAR).reconcile()


def test_settles_a_resample_of_the_units(e2e_tables: Tables, run: Run) -> None:
    """A bootstrap draw (here: B2 twice) settles on the draw, the benchmark fixed."""
    p = prepare_shared_savings(SharedSavingsSpec.model_validate(BASIC_A), e2e_tables, run,
                               YEAR)
    b2 = p.units.filter(pc.equal(p.units["person_id"], "B2"))
    r = p.settle(pa.concat_tables([b2, b2]))
    # 12 months, 1 person-year, nobody scored: no risk ratio; 11,500 x 1.02 = 11,730;
    # expenditure 2 x 10,000; ffs spend 2 x 14,000
    assert (r.step("benchmark").value, r.step("expenditure").value) == (D(11730), D(20000))
    assert r.step("ffs_spend").value == D(28000)
    assert dict(r.inputs)["assigned_beneficiaries"] == 2


# -- the spec ------------------------------------------------------------------------------


def _problem(terms: dict[str, Any]) -> str:
    with pytest.raises(ContractError) as e:
        parse_contract({**BASIC_A, **terms}, "aco.yaml")
    return str(e.value)


def test_weights_must_add_up_to_1() -> None:
    assert _problem({"benchmark_weights": ["0.2", "0.3", "0.6"]}) == (
        "aco.yaml: invalid contract: shared_savings: Value error, benchmark_weights must "
        "add up to 1")


@pytest.mark.parametrize("terms", [
    {"benchmark_weights": ["0.4", "0.6"]},           # three default benchmark years
    {"benchmark_years": [2022, 2023]},               # three default weights
])
def test_one_weight_per_benchmark_year(terms: dict[str, Any]) -> None:
    assert _problem(terms) == ("aco.yaml: invalid contract: shared_savings: Value error, "
                               "benchmark_weights: one weight per benchmark year")


def test_unknown_track() -> None:
    with pytest.raises(ValidationError, match=r"unknown MSSP track 'Track 9'"):
        spec_of(track="Track 9")
    assert "shared_savings.track: Value error, unknown MSSP track 'Track 9'" in _problem(
        {"track": "Track 9"})


@pytest.mark.parametrize(("text", "track"), [
    ("BASIC_E", "BASIC E"), ("Track 1+", "Track 1+"), ("EN", "ENHANCED"),
    ("Basic Level C", "BASIC C")])
def test_track_spellings(text: str, track: str) -> None:
    assert spec_of(track=text).track == track


def test_default_benchmark_years_precede_the_agreement() -> None:
    spec = spec_of(agreement_start_year=2026)
    assert spec.years() == (2023, 2024, 2025)
    assert spec.benchmark_weights == (D("0.1"), D("0.3"), D("0.6"))


def test_unknown_term_is_an_error() -> None:
    assert "shared_savings.benchmark_trnd: Extra inputs are not permitted" in _problem(
        {"benchmark_trnd": "1.1"})


def test_example_basic_e_loads() -> None:
    spec = load_contract(EXAMPLES / "mssp_basic_e.yaml")
    assert isinstance(spec, SharedSavingsSpec)
    assert (spec.track, spec.years(), spec.benchmark_weights) == (
        "BASIC E", (2023, 2024), (D("0.4"), D("0.6")))
    # 2025 agreement with an ACPT: 2/3 x (0.35 x 1.045 + 0.65 x 1.05) + 1/3 x 1.04
    # = 2/3 x 1.04825 + 1/3 x 1.04 = (2.0965 + 1.04) / 3 = 1.04550 (one year from 2024)
    assert update_factor(spec, 2025)[0] == D("1.0455")
