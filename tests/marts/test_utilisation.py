"""utilisation mart: given member months, stays, ED visits and lines -> expected counts and
rates per 1,000 member-years (exact values, docs/marts/utilisation.md)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as idt
import pyarrow as pa
import pytest

from medsynergy.marts.utilisation import COLUMNS, utilisation

from .conftest import rows
from .test_cost import line, member_months_of, memtable, mm_rows, service_lines_of

M = Decimal
STAY_TYPES = {"stay_id": pa.string(), "person_id": pa.string(), "payer": pa.string(),
              "plan": pa.string(), "admission_date": pa.date32(),
              "discharge_date": pa.date32(), "length_of_stay": pa.int64(),
              "episode_id": pa.string(), "transfer_in_flag": pa.int64(),
              "transfer_out_flag": pa.int64(), "last_in_episode_flag": pa.int64()}
ED_TYPES = {"person_id": pa.string(), "visit_date": pa.date32(), "payer": pa.string(),
            "plan": pa.string(), "admitted_flag": pa.int64(),
            "treat_and_release_flag": pa.int64(), "stay_id": pa.string()}
ALL_2024 = [f"2024-{m:02d}" for m in range(1, 13)]


def stay(stay_id: str, person: str, admission: str, discharge: str, los: int | None, *,
         episode: str | None = None, transfer_in: int = 0, transfer_out: int = 0,
         payer: str = "mcare", plan: str | None = "A") -> dict[str, Any]:
    return {"stay_id": stay_id, "person_id": person, "payer": payer, "plan": plan,
            "admission_date": admission, "discharge_date": discharge, "length_of_stay": los,
            "episode_id": episode or stay_id, "transfer_in_flag": transfer_in,
            "transfer_out_flag": transfer_out, "last_in_episode_flag": 1 - transfer_out}


def visit(person: str, date: str, admitted: int = 0, *, payer: str = "mcare",
          plan: str | None = "A") -> dict[str, Any]:
    return {"person_id": person, "visit_date": date, "payer": payer, "plan": plan,
            "admitted_flag": admitted, "treat_and_release_flag": 1 - admitted,
            "stay_id": "S" if admitted else None}


def em(person: str, date: str, hcpcs: str, category: str = "professional_em",
       **more: Any) -> dict[str, Any]:
    return line(person, date, category, "10.00", hcpcs=hcpcs, **more)


# mcare / A 2024: P1 12 months + P2 6 months = 18 member months (1.5 person-years)
MM = [*mm_rows("P1", ALL_2024), *mm_rows("P2", ALL_2024[:6])]
# mcaid / null plan 2024: 10 x 12 + 8 = 128 member months
MM_NULL_PLAN = [*(r for i in range(10) for r in mm_rows(f"Q{i}", ALL_2024, "mcaid", None)),
                *mm_rows("Q10", ALL_2024[:8], "mcaid", None)]
STAYS = [
    # a transfer: S1 at one hospital, S2 at another the same day; one admission
    stay("S1", "P1", "2024-03-01", "2024-03-05", 4, transfer_out=1),
    stay("S2", "P1", "2024-03-05", "2024-03-08", 3, episode="S1", transfer_in=1),
    stay("S3", "P2", "2024-06-10", "2024-06-10", 0),  # same day: 1 bed day
    stay("S4", "P2", "2024-07-01", "2024-06-30", None),  # date error: admission, no days
    stay("S5", "P1", "2023-12-30", "2024-01-02", 3),  # 2023: no member months there
]
VISITS = [
    visit("P1", "2024-03-01", admitted=1), visit("P1", "2024-05-01"), visit("P2", "2024-02-02"),
    *(visit("Q1", f"2024-0{m}-01", payer="mcaid", plan=None) for m in (1, 2, 3)),
]
LINES = [
    em("P1", "2024-01-10", "99213"), em("P1", "2024-01-10", "99213"),  # one visit
    em("P1", "2024-01-10", " g0439 "),  # same person and day: still one visit
    em("P2", "2024-01-31", "99214", line_date="2024-02-01"),  # dated by the line: February
    em("P1", "2024-02-10", "99221"),  # hospital E/M: not an office visit
    em("P1", "2024-02-11", "99213", category="ed"),  # E/M in the ED: not an office visit
    em("P1", "2024-04-01", "97810", "acupuncture"), em("P1", "2024-04-01", "97811", "acupuncture"),
    em("P1", "2024-04-01", "90834", "behavioral_health"),  # same day, other category: +1
    em("P2", "2024-04-02", "0591T", "coaching"),
    em("P1", "2024-04-03", "80053", "lab"),  # not integrative
]


def _run(con: ibis.BaseBackend, mm: Sequence[dict[str, Any]] = (*MM, *MM_NULL_PLAN),
         stays: Sequence[dict[str, Any]] = STAYS, visits: Sequence[dict[str, Any]] = VISITS,
         lines: Sequence[dict[str, Any]] = LINES) -> ibis.Table:
    return utilisation(member_months_of(mm), memtable(STAY_TYPES, stays),
                       memtable(ED_TYPES, visits), service_lines_of(lines))


def _zero_row(payer: str, plan: str | None, year: int, mm: int, person_years: str
              ) -> dict[str, Any]:
    counts = ("admissions", "bed_days", "ed_visits", "ed_visits_treat_and_release",
              "office_em_visits", "integrative_visits")
    rate = None if mm == 0 else M("0.0")
    return {"payer": payer, "plan": plan, "year": year, "member_months": mm,
            "person_years": M(person_years), **dict.fromkeys(counts, 0),
            **{f"{c}_per_1000": rate for c in counts}}


def test_counts_and_rates_per_thousand(con: ibis.BaseBackend) -> None:
    got = rows(con, _run(con), order=["payer", "plan", "year"])
    mcare_2024 = _zero_row("mcare", "A", 2024, 18, "1.5000") | {
        "admissions": 3, "admissions_per_1000": M("2000.0"),  # 12000 * 3 / 18
        "bed_days": 8, "bed_days_per_1000": M("5333.3"),  # 4 + 3 + 1; 5333.33...
        "ed_visits": 3, "ed_visits_per_1000": M("2000.0"),
        "ed_visits_treat_and_release": 2, "ed_visits_treat_and_release_per_1000": M("1333.3"),
        "office_em_visits": 2, "office_em_visits_per_1000": M("1333.3"),
        "integrative_visits": 3, "integrative_visits_per_1000": M("2000.0"),
    }
    mcare_2023 = _zero_row("mcare", "A", 2023, 0, "0.0000") | {
        "admissions": 1, "bed_days": 3}  # events without member months: rates null
    # 12000 * 3 / 128 = 281.25 -> 281.3 (half up; half even would give 281.2)
    mcaid_2024 = _zero_row("mcaid", None, 2024, 128, "10.6667") | {
        "ed_visits": 3, "ed_visits_per_1000": M("281.3"),
        "ed_visits_treat_and_release": 3, "ed_visits_treat_and_release_per_1000": M("281.3")}
    assert got == [mcaid_2024, mcare_2023, mcare_2024]
    assert list(got[0]) == list(COLUMNS)


def test_transfer_episode_counted_once(con: ibis.BaseBackend) -> None:
    stays = STAYS[:2]
    got = rows(con, _run(con, MM, stays, [], []), ["admissions", "bed_days"])
    assert got == [{"admissions": 1, "bed_days": 7}]


def test_same_day_stay_is_one_bed_day(con: ibis.BaseBackend) -> None:
    got = rows(con, _run(con, MM, [STAYS[2]], [], []), ["admissions", "bed_days"])
    assert got == [{"admissions": 1, "bed_days": 1}]


def test_types(con: ibis.BaseBackend) -> None:
    schema = _run(con).schema()
    assert schema["person_years"] == idt.Decimal(18, 4)
    assert schema["admissions_per_1000"] == idt.Decimal(18, 1)
    assert schema["admissions"] == idt.int64
    assert schema["member_months"] == idt.int64


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    pytest.importorskip("pyspark")
    assert "SELECT" in ibis.to_sql(_run(con), dialect="pyspark")


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    expr = _run(con).order_by(["payer", "year"])
    d_out, s_out = con.to_pyarrow(expr), spark.to_pyarrow(expr)
    assert s_out.schema == d_out.schema
    assert s_out.to_pylist() == d_out.to_pylist()
