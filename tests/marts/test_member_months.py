"""member_months and person_years: given enrollment spans -> expected rows, exact values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pytest

from medsynergy.marts.member_months import member_months, month_calendar, person_years

from .conftest import rows, table

MONTHS = ["person_id", "payer", "plan", "month_start_date"]
YEARS = ["payer", "year", "level", "plan"]


def span(start: str, end: str, **kw: Any) -> dict[str, Any]:
    """One eligibility row of person P1 with payer X, plan A unless told otherwise."""
    base = {"person_id": "P1", "member_id": "M1", "payer": "X", "plan": "A"}
    return {**base, **kw, "enrollment_start_date": start, "enrollment_end_date": end}


def months(con: ibis.BaseBackend, *spans: dict[str, Any],
           columns: tuple[str, ...] = ("month_start_date", "enrolled_days")) -> list[tuple[Any, ...]]:
    """member_months of the given spans as tuples of `columns`, in key order."""
    got = rows(con, member_months(table(con, "eligibility", spans)), order=MONTHS)
    return [tuple(r[c] for c in columns) for r in got]


def d(iso: str) -> dt.date:
    return dt.date.fromisoformat(iso)


def test_31st_to_1st_counts_two_months(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-01-31", "2024-02-01")) == [
        (d("2024-01-01"), 1), (d("2024-02-01"), 1)]


def test_one_day_span_counts_one_month(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-03-15", "2024-03-15")) == [(d("2024-03-01"), 1)]


def test_span_across_year_boundary(con: ibis.BaseBackend) -> None:
    got = rows(con, member_months(table(con, "eligibility", [span("2023-11-20", "2024-01-10")])),
               ["month_start_date", "year", "enrolled_days"], ["month_start_date"])
    assert got == [
        {"month_start_date": d("2023-11-01"), "year": 2023, "enrolled_days": 11},
        {"month_start_date": d("2023-12-01"), "year": 2023, "enrolled_days": 31},
        {"month_start_date": d("2024-01-01"), "year": 2024, "enrolled_days": 10},
    ]


def test_open_ended_span_stops_at_the_calendar(con: ibis.BaseBackend) -> None:
    # 9999-12-31 is a common "still enrolled" sentinel: its months end with the calendar
    # (2100-12), and a span starting before 1900 starts with it
    got = months(con, span("2100-11-15", "9999-12-31"), span("1899-12-01", "1900-01-02",
                                                              plan="B"))
    assert sorted(got) == [(d("1900-01-01"), 2), (d("2100-11-01"), 16), (d("2100-12-01"), 31)]


def test_overlapping_and_duplicate_spans_count_once(con: ibis.BaseBackend) -> None:
    got = months(con, span("2024-01-01", "2024-02-15"), span("2024-02-10", "2024-03-05"),
                 span("2024-02-10", "2024-03-05"))  # the second span twice
    assert got == [(d("2024-01-01"), 31), (d("2024-02-01"), 29), (d("2024-03-01"), 5)]


def test_span_inside_another_adds_no_days(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-04-01", "2024-04-30"), span("2024-04-10", "2024-04-12")) == [
        (d("2024-04-01"), 30)]


def test_gap_month_not_counted_and_gap_days_not_counted(con: ibis.BaseBackend) -> None:
    got = months(con, span("2024-01-01", "2024-01-31"), span("2024-03-01", "2024-03-10"),
                 span("2024-03-20", "2024-03-31"))
    assert got == [(d("2024-01-01"), 31), (d("2024-03-01"), 22)]  # no February; 10 + 12


def test_spans_alone_and_spans_sharing_a_month_of_one_member(con: ibis.BaseBackend) -> None:
    """A span alone in its months (taken straight from the span) next to spans sharing a
    month (merged): Jan-Feb alone; 2024-05-01..05-10 and 05-20..06-30 share May; the
    October span shares no month with them but another member's span does not matter."""
    got = months(con, span("2024-01-01", "2024-02-29", member_id="M2"),
                 span("2024-05-01", "2024-05-10", member_id="M3", gender="female"),
                 span("2024-05-20", "2024-06-30", member_id="M4", gender="male"),
                 span("2024-10-05", "2024-10-05"),
                 span("2024-10-01", "2024-10-31", person_id="P2"),
                 columns=("person_id", "month_start_date", "enrolled_days", "member_id",
                          "gender"))
    assert got == [
        ("P1", d("2024-01-01"), 31, "M2", None), ("P1", d("2024-02-01"), 29, "M2", None),
        ("P1", d("2024-05-01"), 22, "M3", "male"),  # 10 + 12 days; attributes of 05-20
        ("P1", d("2024-06-01"), 30, "M4", "male"),
        ("P1", d("2024-10-01"), 1, "M1", None),
        ("P2", d("2024-10-01"), 31, "M1", None),
    ]


def test_enrolled_days_leap_and_common_february(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-02-01", "2024-02-29"), span("2023-02-01", "2023-02-28")) == [
        (d("2023-02-01"), 28), (d("2024-02-01"), 29)]


def test_adjacent_spans_make_a_full_month(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-05-16", "2024-05-31"), span("2024-05-01", "2024-05-15")) == [
        (d("2024-05-01"), 31)]


def test_payer_and_plan_change_mid_month_counts_under_both(con: ibis.BaseBackend) -> None:
    got = months(con, span("2024-01-01", "2024-06-14"), span("2024-06-15", "2024-07-31", plan="B"),
                 span("2024-07-20", "2024-08-31", payer="Y"),
                 columns=("payer", "plan", "month_start_date", "enrolled_days"))
    june, july = d("2024-06-01"), d("2024-07-01")
    assert ("X", "A", june, 14) in got
    assert ("X", "B", june, 16) in got
    assert ("X", "B", july, 31) in got
    assert ("Y", "A", july, 12) in got
    assert len(got) == 6 + 2 + 2  # A: Jan-Jun, B: Jun-Jul, Y: Jul-Aug


def test_person_month_flag_marks_one_row_per_person_month(con: ibis.BaseBackend) -> None:
    got = months(
        con,
        span("2024-01-01", "2024-02-14"),  # X/A: Jan alone, Feb shared with Y and X/null
        span("2024-02-10", "2024-03-31", payer="Y"),  # Y: Feb shared, Mar alone
        span("2024-02-20", "2024-02-25", plan=None),  # X/null plan: Feb only
        span("2024-02-01", "2024-02-05"),  # X/A again: merged into its February
        span("2024-06-01", "2024-06-30", person_id="P2"),  # another person, alone
        columns=("person_id", "payer", "plan", "month_start_date", "person_month_flag"))
    jan, feb, mar = d("2024-01-01"), d("2024-02-01"), d("2024-03-01")
    assert sorted(got, key=str) == sorted([
        ("P1", "X", "A", jan, 1), ("P1", "X", "A", feb, 1), ("P1", "X", None, feb, 0),
        ("P1", "Y", "A", feb, 0), ("P1", "Y", "A", mar, 1),
        ("P2", "X", "A", d("2024-06-01"), 1)], key=str)


def test_null_plan_is_its_own_plan(con: ibis.BaseBackend) -> None:
    got = months(con, span("2024-01-01", "2024-01-10", plan=None),
                 span("2024-01-05", "2024-01-20", plan=None), span("2024-01-15", "2024-01-31"),
                 columns=("plan", "enrolled_days"))
    assert got == [("A", 17), (None, 20)]


def test_end_before_start_contributes_nothing(con: ibis.BaseBackend) -> None:
    assert months(con, span("2024-03-01", "2024-02-01")) == []
    assert months(con, span("2024-03-01", "2024-02-01"), span("2024-02-10", "2024-02-11")) == [
        (d("2024-02-01"), 2)]


def test_member_id_min_and_attributes_from_latest_start(con: ibis.BaseBackend) -> None:
    got = months(
        con,
        span("2024-01-01", "2024-12-31", member_id="M9", dual_status_code="00", gender="female",
             birth_date="1950-05-05", medicare_status_code="10"),
        span("2024-03-10", "2024-03-20", member_id="M2", dual_status_code="02",
             original_reason_entitlement_code="1", death_date="2024-03-20"),
        columns=("month_start_date", "member_id", "dual_status_code", "gender",
                 "original_reason_entitlement_code", "death_date"),
    )
    # member_id is the least among the spans of that month; attributes from the latest start
    assert got[1] == (d("2024-02-01"), "M9", "00", "female", None, None)
    assert got[2] == (d("2024-03-01"), "M2", "02", None, "1", d("2024-03-20"))
    assert got[3] == (d("2024-04-01"), "M9", "00", "female", None, None)
    assert len(got) == 12


def test_persons_are_separate(con: ibis.BaseBackend) -> None:
    got = months(con, span("2024-01-01", "2024-01-31"), span("2024-01-01", "2024-01-31",
                                                              person_id="P2", member_id="Z"),
                 columns=("person_id", "member_id", "enrolled_days"))
    assert got == [("P1", "M1", 31), ("P2", "Z", 31)]


def test_month_calendar_covers_1900_to_2100() -> None:
    cal = ibis.duckdb.connect().to_pyarrow(month_calendar().order_by("month_start_date"))
    assert cal.num_rows == 201 * 12
    first, last = cal.slice(0, 1).to_pylist()[0], cal.slice(cal.num_rows - 1).to_pylist()[0]
    assert first == {"month_start_date": d("1900-01-01"), "month_end_date": d("1900-01-31"),
                     "year": 1900}
    assert last["month_end_date"] == d("2100-12-31")


def test_person_years_exact_by_payer_and_plan(con: ibis.BaseBackend) -> None:
    spans = [
        span("2023-12-01", "2024-07-31"),  # P1 X/A: Dec 2023 + 7 months of 2024
        span("2024-07-15", "2024-12-31", plan="B"),  # P1 X/B: Jul-Dec 2024 = 6 months
        span("2024-01-01", "2024-12-31", person_id="P2", plan=None),  # 12 months, null plan
        span("2024-05-01", "2024-05-01", person_id="P3", payer="Y"),  # one day: 1 month
    ]
    got = rows(con, person_years(member_months(table(con, "eligibility", spans))), order=YEARS)
    out = [(r["payer"], r["year"], r["level"], r["plan"], r["member_months"], r["person_years"],
            r["persons"]) for r in got]
    assert out == [
        ("X", 2023, "payer", None, 1, Decimal("0.0833"), 1),
        ("X", 2023, "plan", "A", 1, Decimal("0.0833"), 1),
        ("X", 2024, "payer", None, 25, Decimal("2.0833"), 2),
        ("X", 2024, "plan", "A", 7, Decimal("0.5833"), 1),
        ("X", 2024, "plan", "B", 6, Decimal("0.5000"), 1),
        ("X", 2024, "plan", None, 12, Decimal("1.0000"), 1),
        ("Y", 2024, "payer", None, 1, Decimal("0.0833"), 1),
        ("Y", 2024, "plan", "A", 1, Decimal("0.0833"), 1),
    ]


def test_person_years_rounds_every_twelfth_half_up(con: ibis.BaseBackend) -> None:
    """One person per count of months 1..23: person_years = months / 12 to 4 decimals."""
    spans = [span("2024-01-01", f"{2024 + (n - 1) // 12}-{(n - 1) % 12 + 1:02d}-01",
                  person_id=f"P{n:02d}", payer=f"Y{n:02d}") for n in range(1, 24)]
    mm = member_months(table(con, "eligibility", spans))
    py = person_years(mm.mutate(year=ibis.literal(2024, "int64")))  # fold both years into one
    got = rows(con, py.filter(py.level == "payer"), ["payer", "person_years"], ["payer"])
    expected = [(Decimal(n) / 12).quantize(Decimal("0.0001"), rounding="ROUND_HALF_UP")
                for n in range(1, 24)]
    assert [r["person_years"] for r in got] == expected
    assert expected[0] == Decimal("0.0833")
    assert expected[13] == Decimal("1.1667")


def test_plan_rows_sum_to_payer_rows(con: ibis.BaseBackend) -> None:
    spans = [span("2024-01-01", "2024-03-31"), span("2024-03-15", "2024-05-31", plan="B"),
             span("2024-02-01", "2024-02-29", person_id="P2", plan=None)]
    got = rows(con, person_years(member_months(table(con, "eligibility", spans))), order=YEARS)
    payer = [r for r in got if r["level"] == "payer"]
    plans = [r for r in got if r["level"] == "plan"]
    assert payer[0]["member_months"] == sum(r["member_months"] for r in plans) == 3 + 3 + 1
    assert payer[0]["persons"] == 2
    assert sum(r["persons"] for r in plans) == 3  # P1 is in two plans: persons do not add


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    """The mart compiles and gives identical rows and types on the PySpark backend."""
    spans = [span("2024-01-31", "2024-02-01", gender="male"), span("2024-01-10", "2024-03-05"),
             span("2023-12-20", "2024-01-05", plan=None), span("2024-03-01", "2024-02-01"),
             span("2024-02-01", "2024-02-29", person_id="P2", payer="Y", member_id="Q")]
    mm = member_months(table(con, "eligibility", spans))
    for expr in (mm, person_years(mm)):
        d_out, s_out = con.to_pyarrow(expr), spark.to_pyarrow(expr)
        assert s_out.schema == d_out.schema
        assert s_out.to_pylist() == d_out.to_pylist()
