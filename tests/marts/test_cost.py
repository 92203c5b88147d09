"""cost mart: given lines and member months -> expected PMPM rows, totals and the spend
outside enrollment (exact values, docs/marts/cost.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as idt
import pyarrow as pa
import pytest

from medsynergy.marts.cost import (
    cost,
    cost_outside_enrollment,
    cost_totals,
    enrollment_runs,
    member_spend,
    months_to_person_years,
    per_member_month,
    rounded_quotient,
)
from medsynergy.marts.member_months import _months_to_years
from medsynergy.marts.service_category import CATEGORY_GROUP

from .conftest import TABLES, memtable, rows, table

D = dt.date.fromisoformat
M = Decimal
MONEY_T = pa.decimal128(18, 2)

MM_TYPES = {"person_id": pa.string(), "member_id": pa.string(), "payer": pa.string(),
            "plan": pa.string(), "month_start_date": pa.date32(), "year": pa.int64(),
            "enrolled_days": pa.int64()}
LINE_TYPES = {"claim_id": pa.string(), "claim_line_number": pa.int64(),
              "data_source": pa.string(), "person_id": pa.string(), "payer": pa.string(),
              "plan": pa.string(), "claim_start_date": pa.date32(),
              "claim_end_date": pa.date32(), "claim_line_start_date": pa.date32(),
              "paid_amount": MONEY_T, "allowed_amount": MONEY_T, "claim_type": pa.string(),
              "hcpcs_code": pa.string(), "service_category": pa.string(),
              "service_category_group": pa.string(), "service_category_rule": pa.string()}


def mm_rows(person: str, months: Sequence[str], payer: str = "mcare", plan: str | None = "A"
            ) -> list[dict[str, Any]]:
    """Member-month rows of one person (months as 'YYYY-MM')."""
    return [{"person_id": person, "member_id": person, "payer": payer, "plan": plan,
             "month_start_date": f"{m}-01", "year": int(m[:4]), "enrolled_days": 28}
            for m in months]


def member_months_of(data: Sequence[dict[str, Any]]) -> ibis.Table:
    return memtable(MM_TYPES, data)


_N = iter(range(1, 10_000))


def line(person: str, date: str, category: str, paid: str, allowed: str = "0", *,
         payer: str | None = "mcare", plan: str | None = "A", line_date: str | None = None,
         hcpcs: str | None = None) -> dict[str, Any]:
    """One categorised medical line (the service_category mart's shape); `date` is the claim
    start date, `line_date` the line's own start date."""
    return {"claim_id": f"C{next(_N)}", "claim_line_number": 1, "data_source": "test",
            "person_id": person, "payer": payer, "plan": plan, "claim_start_date": date,
            "claim_end_date": date, "claim_line_start_date": line_date,
            "paid_amount": paid, "allowed_amount": allowed, "claim_type": "professional",
            "hcpcs_code": hcpcs, "service_category": category,
            "service_category_group": CATEGORY_GROUP[category], "service_category_rule": "R"}


def service_lines_of(data: Sequence[dict[str, Any]]) -> ibis.Table:
    return memtable(LINE_TYPES, data)


def rx(person: str, date: str, paid: str, allowed: str = "0", *, payer: str | None = "mcare",
       plan: str | None = "A") -> dict[str, Any]:
    """One pharmacy_claim line."""
    return {"claim_id": f"R{next(_N)}", "claim_line_number": 1, "person_id": person,
            "payer": payer, "plan": plan, "dispensing_date": date, "paid_amount": paid,
            "allowed_amount": allowed, "data_source": "test"}


# -- the example: 2 members, 2 months -------------------------------------------------------
# P1 enrolled Jan and Feb 2024, P2 Jan only: Jan has 2 member months, Feb 1.
MM = [*mm_rows("P1", ["2024-01", "2024-02"]), *mm_rows("P2", ["2024-01"])]
LINES = [
    line("P1", "2024-01-15", "professional_em", "100.00", "120.00"),
    line("P2", "2024-01-20", "professional_em", "50.01", "60.00"),  # 150.01 / 2 = 75.005
    line("P1", "2024-02-03", "imaging", "33.33", "40.00"),
    # the line's own date wins: a claim starting in January, a line in February
    line("P1", "2024-01-30", "lab", "10.00", "12.00", line_date="2024-02-01"),
    # P2 is not enrolled in February: outside enrollment, never in cost
    line("P2", "2024-02-10", "professional_em", "20.00", "25.00"),
]
RX = [rx("P2", "2024-01-05", "0.01", "0.03"), rx("P1", "2024-01-06", "-0.04", "0.00")]
COST = ["payer", "plan", "month_start_date", "service_category", "claim_lines",
        "paid_amount", "allowed_amount", "member_months", "paid_pmpm", "allowed_pmpm"]
ORDER = ["payer", "plan", "month_start_date", "service_category"]


def _inputs(con: ibis.BaseBackend, lines: Sequence[dict[str, Any]] = LINES,
            pharmacy: Sequence[dict[str, Any]] = RX, mm: Sequence[dict[str, Any]] = MM
            ) -> tuple[ibis.Table, ibis.Table, ibis.Table]:
    return (service_lines_of(lines), table(con, "pharmacy_claim", pharmacy),
            member_months_of(mm))


def c(month: str, category: str, n: int, paid: str, allowed: str, mm: int, paid_pmpm: str,
      allowed_pmpm: str, payer: str = "mcare", plan: str | None = "A") -> dict[str, Any]:
    return {"payer": payer, "plan": plan, "month_start_date": D(month),
            "service_category": category, "claim_lines": n, "paid_amount": M(paid),
            "allowed_amount": M(allowed), "member_months": mm, "paid_pmpm": M(paid_pmpm),
            "allowed_pmpm": M(allowed_pmpm)}


def test_pmpm_by_category_two_members_two_months(con: ibis.BaseBackend) -> None:
    got = rows(con, cost(*_inputs(con)), COST, ORDER)
    assert got == [
        # pharmacy: 0.01 - 0.04 = -0.03; / 2 = -0.015 -> -0.02 (half away from zero);
        # allowed 0.03 / 2 = 0.015 -> 0.02
        c("2024-01-01", "pharmacy", 2, "-0.03", "0.03", 2, "-0.02", "0.02"),
        # 150.01 / 2 = 75.005 -> 75.01, rounded once from the exact sum
        c("2024-01-01", "professional_em", 2, "150.01", "180.00", 2, "75.01", "90.00"),
        c("2024-02-01", "imaging", 1, "33.33", "40.00", 1, "33.33", "40.00"),
        c("2024-02-01", "lab", 1, "10.00", "12.00", 1, "10.00", "12.00"),
    ]


def test_types_are_exact_decimals(con: ibis.BaseBackend) -> None:
    schema = cost(*_inputs(con)).schema()
    for col in ("paid_amount", "allowed_amount", "paid_pmpm", "allowed_pmpm"):
        assert schema[col] == idt.Decimal(18, 2)
    assert schema["member_months"] == idt.int64
    assert schema["claim_lines"] == idt.int64
    totals = cost_totals(*_inputs(con)).schema()
    assert totals["person_years"] == idt.Decimal(18, 4)
    assert totals["paid_per_member_year"] == idt.Decimal(18, 2)


def test_outside_enrollment_gets_the_unenrolled_month(con: ibis.BaseBackend) -> None:
    got = rows(con, cost_outside_enrollment(*_inputs(con)), order=["person_id"])
    assert got == [{"person_id": "P2", "payer": "mcare", "plan": "A",
                    "month_start_date": D("2024-02-01"), "year": 2024, "reason": "not_enrolled",
                    "claim_lines": 1, "pharmacy_lines": 0, "paid_amount": M("20.00"),
                    "allowed_amount": M("25.00")}]
    # and not in cost: no February professional_em row
    assert not [r for r in rows(con, cost(*_inputs(con)), COST, ORDER)
                if r["month_start_date"] == D("2024-02-01")
                and r["service_category"] == "professional_em"]


def test_null_plan_matches_null_plan(con: ibis.BaseBackend) -> None:
    mm = mm_rows("P3", ["2024-03"], payer="mcaid", plan=None)
    lines = [
        line("P3", "2024-03-02", "behavioral_health", "80.00", "90.00", payer="mcaid", plan=None),
        # same person and month, a plan the member has no month in: outside
        line("P3", "2024-03-03", "lab", "5.00", "6.00", payer="mcaid", plan="X"),
        # no payer on the line: outside, reason no_payer
        line("P3", "2024-03-04", "lab", "1.00", "1.00", payer=None, plan=None),
    ]
    pharmacy = [rx("P3", "2024-03-09", "7.50", "8.00", payer="mcaid", plan=None)]
    inputs = _inputs(con, lines, pharmacy, mm)
    assert rows(con, cost(*inputs), COST, ORDER) == [
        c("2024-03-01", "behavioral_health", 1, "80.00", "90.00", 1, "80.00", "90.00",
          payer="mcaid", plan=None),
        c("2024-03-01", "pharmacy", 1, "7.50", "8.00", 1, "7.50", "8.00",
          payer="mcaid", plan=None),
    ]
    outside = rows(con, cost_outside_enrollment(*inputs),
                   ["payer", "plan", "reason", "claim_lines", "paid_amount"], ["reason"])
    assert outside == [
        {"payer": "mcaid", "plan": "X", "reason": "enrolled_other_coverage", "claim_lines": 1,
         "paid_amount": M("5.00")},
        {"payer": None, "plan": None, "reason": "no_payer", "claim_lines": 1,
         "paid_amount": M("1.00")},
    ]


def test_pharmacy_outside_enrollment_is_counted(con: ibis.BaseBackend) -> None:
    pharmacy = [*RX, rx("P9", "2023-12-31", "4.00", "4.00")]
    got = rows(con, cost_outside_enrollment(*_inputs(con, pharmacy=pharmacy)),
               ["person_id", "month_start_date", "claim_lines", "pharmacy_lines", "paid_amount"],
               ["person_id"])
    assert got[-1] == {"person_id": "P9", "month_start_date": D("2023-12-01"), "claim_lines": 1,
                       "pharmacy_lines": 1, "paid_amount": M("4.00")}


def test_cost_and_outside_reconcile_to_all_lines_exactly(con: ibis.BaseBackend) -> None:
    lines = [*LINES,
             line("P1", "2024-02-28", "ed", "1234.56", "2000.01", plan=None),
             line("P1", "2024-03-01", "snf", "0.07", "0.09")]
    pharmacy = [*RX, rx("P2", "2024-02-29", "12.34", "15.00"), rx("P1", "2024-02-29", "1.11")]
    inputs = _inputs(con, lines, pharmacy)
    for col in ("paid_amount", "allowed_amount"):
        everything = sum(M(r[col]) for r in [*lines, *pharmacy])
        in_cost = sum(r[col] for r in rows(con, cost(*inputs)))
        outside = sum(r[col] for r in rows(con, cost_outside_enrollment(*inputs)))
        totals = sum(r[col] for r in rows(con, cost_totals(*inputs)))
        assert in_cost + outside == everything
        assert totals == in_cost
    n_cost = sum(r["claim_lines"] for r in rows(con, cost(*inputs)))
    n_out = sum(r["claim_lines"] for r in rows(con, cost_outside_enrollment(*inputs)))
    assert n_cost + n_out == len(lines) + len(pharmacy)


def test_person_category_level_sums_enrolled_lines_per_person_year_category(
        con: ibis.BaseBackend) -> None:
    """member_spend's 'person_category' rows (what the contracts sum per member-year): the
    enrolled lines of each person x payer x plan x year x category, month null; the lines
    outside enrollment are not in it, and it sums to the 'category' level exactly."""
    lines = [*LINES,
             line("P1", "2024-02-20", "professional_em", "0.01", "0.02"),
             # no member-month of plan None: outside (P1 has one of plan A that month)
             line("P1", "2024-02-21", "lab", "5.00", "6.00", plan=None)]
    spend = member_spend(*_inputs(con, lines))
    level = spend.filter(spend.level == "person_category")
    got = rows(con, level, ["person_id", "payer", "plan", "month_start_date", "year",
                            "service_category", "claim_lines", "pharmacy_lines",
                            "paid_amount", "allowed_amount", "enrolled_other_coverage_flag"],
               ["person_id", "service_category"])

    def pc(person: str, category: str, n: int, paid: str, allowed: str, rx: int = 0
           ) -> dict[str, Any]:
        return {"person_id": person, "payer": "mcare", "plan": "A", "month_start_date": None,
                "year": 2024, "service_category": category, "claim_lines": n,
                "pharmacy_lines": rx, "paid_amount": M(paid), "allowed_amount": M(allowed),
                "enrolled_other_coverage_flag": None}
    assert got == [
        pc("P1", "imaging", 1, "33.33", "40.00"),
        pc("P1", "lab", 1, "10.00", "12.00"),
        pc("P1", "pharmacy", 1, "-0.04", "0.00", rx=1),
        # January's 100.00 and February's 0.01: one year, summed
        pc("P1", "professional_em", 2, "100.01", "120.02"),
        pc("P2", "pharmacy", 1, "0.01", "0.03", rx=1),
        # P2's February line is outside enrollment: only January's
        pc("P2", "professional_em", 1, "50.01", "60.00"),
    ]
    category = spend.filter(spend.level == "category")
    person_year = spend.filter(spend.level == "person_year")
    # person_year: these, plus the line of a month P1 is enrolled with another plan
    other = {"claim_lines": 1, "paid_amount": M("5.00"), "allowed_amount": M("6.00")}
    for col in ("claim_lines", "paid_amount", "allowed_amount"):
        total = sum(r[col] for r in got)
        assert total == sum(r[col] for r in rows(con, category))
        assert total + other[col] == sum(r[col] for r in rows(con, person_year))


def test_enrollment_runs_of_consecutive_months(con: ibis.BaseBackend) -> None:
    mm = [*mm_rows("P1", ["2023-11", "2023-12", "2024-01"]),  # across the new year: one run
          *mm_rows("P2", ["2024-01", "2024-03", "2024-04"]),  # a gap: runs of one month
          *mm_rows("P2", ["2024-02"], payer="acme", plan=None),  # the gap, elsewhere
          *mm_rows("P3", ["2024-05"], plan=None)]
    got = rows(con, enrollment_runs(member_months_of(mm)),
               order=["_r_person", "_r_payer", "_r_first"])
    null = "~medsynergy:null~"

    def run(person: str, first: str, last: str, payer: str = "mcare", plan: str = "A"
            ) -> dict[str, Any]:
        return {"_r_person": person, "_r_payer": payer, "_r_plan": plan,
                "_r_first": D(first), "_r_last": D(last)}
    assert got == [run("P1", "2023-11-01", "2024-01-01"),
                   run("P2", "2024-02-01", "2024-02-01", payer="acme", plan=null),
                   run("P2", "2024-01-01", "2024-01-01"), run("P2", "2024-03-01", "2024-03-01"),
                   run("P2", "2024-04-01", "2024-04-01"),
                   run("P3", "2024-05-01", "2024-05-01", plan=null)]


def test_a_line_in_a_gap_of_enrollment_is_outside(con: ibis.BaseBackend) -> None:
    mm = [*mm_rows("P2", ["2024-01", "2024-03"]), *mm_rows("P1", ["2023-12", "2024-01"])]
    lines = [line("P2", "2024-01-31", "lab", "1.00"), line("P2", "2024-02-15", "lab", "2.00"),
             line("P2", "2024-03-01", "lab", "4.00"), line("P2", "2024-04-01", "lab", "8.00"),
             line("P1", "2023-12-31", "lab", "16.00"), line("P1", "2024-01-01", "lab", "32.00")]
    inputs = _inputs(con, lines, [], mm)
    assert rows(con, cost(*inputs), ["month_start_date", "paid_amount"],
                ["month_start_date"]) == [
        {"month_start_date": D("2023-12-01"), "paid_amount": M("16.00")},
        {"month_start_date": D("2024-01-01"), "paid_amount": M("33.00")},
        {"month_start_date": D("2024-03-01"), "paid_amount": M("4.00")}]
    assert rows(con, cost_outside_enrollment(*inputs), ["month_start_date", "paid_amount"],
                ["month_start_date"]) == [
        {"month_start_date": D("2024-02-01"), "paid_amount": M("2.00")},
        {"month_start_date": D("2024-04-01"), "paid_amount": M("8.00")}]


def test_totals_per_payer_plan_year(con: ibis.BaseBackend) -> None:
    mm = [*MM, *mm_rows("P1", ["2025-01"])]  # a year with members and no claims
    got = rows(con, cost_totals(*_inputs(con, mm=mm)), order=["year"])
    # 2024: paid 100 + 50.01 + 33.33 + 10 + 0.01 - 0.04 = 193.31 over 3 member months
    assert got == [
        {"payer": "mcare", "plan": "A", "year": 2024, "member_months": 3,
         "person_years": M("0.2500"), "claim_lines": 6, "paid_amount": M("193.31"),
         "allowed_amount": M("232.03"),
         "paid_pmpm": M("64.44"),  # 64.4366... -> 64.44
         "allowed_pmpm": M("77.34"),  # 77.3433... -> 77.34
         "paid_per_member_year": M("773.24"),  # 193.31 * 12 / 3 exactly
         "allowed_per_member_year": M("928.12")},
        {"payer": "mcare", "plan": "A", "year": 2025, "member_months": 1,
         "person_years": M("0.0833"), "claim_lines": 0, "paid_amount": M("0.00"),
         "allowed_amount": M("0.00"), "paid_pmpm": M("0.00"), "allowed_pmpm": M("0.00"),
         "paid_per_member_year": M("0.00"), "allowed_per_member_year": M("0.00")},
    ]


def test_totals_round_once_per_member_year(con: ibis.BaseBackend) -> None:
    """Per member-year is rounded from the exact sum, not 12 x the rounded PMPM."""
    mm = mm_rows("P1", ["2024-01", "2024-02", "2024-03"])
    lines = [line("P1", "2024-01-01", "lab", "100.00")]
    got = rows(con, cost_totals(*_inputs(con, lines, [], mm)),
               ["paid_pmpm", "paid_per_member_year"])
    assert got == [{"paid_pmpm": M("33.33"), "paid_per_member_year": M("400.00")}]


@pytest.mark.parametrize(("numerator", "denominator", "expected"), [
    (7, 2, 4), (5, 2, 3), (-5, 2, -3), (-7, 2, -4), (4, 3, 1), (5, 3, 2), (-4, 3, -1),
    (0, 7, 0), (10**15, 3, 333_333_333_333_333), (1, 0, None), (2, 4, 1), (1, 4, 0),
])
def test_rounded_quotient_is_half_away_from_zero(con: ibis.BaseBackend, numerator: int,
                                                 denominator: int, expected: int | None
                                                 ) -> None:
    t = ibis.memtable(pa.table({"n": pa.array([numerator], pa.int64()),
                                "d": pa.array([denominator], pa.int64())}))
    assert con.to_pyarrow(t.select(q=rounded_quotient(t.n, t.d))).to_pylist() == [
        {"q": expected}]


def test_per_member_month_is_exact_for_large_sums(con: ibis.BaseBackend) -> None:
    t = ibis.memtable(pa.table({"a": pa.array([M("12345678901.23")], MONEY_T),
                                "m": pa.array([7], pa.int64())}))
    got = con.to_pyarrow(t.select(p=per_member_month(t.a, t.m))).to_pylist()
    assert got == [{"p": (M("12345678901.23") / 7).quantize(M("0.01"), "ROUND_HALF_UP")}]


def test_person_years_match_the_person_years_mart(con: ibis.BaseBackend) -> None:
    t = ibis.memtable(pa.table({"m": pa.array(range(40), pa.int64())}))
    expr = t.select(a=months_to_person_years(t.m), b=_months_to_years(t.m))
    got = con.to_pyarrow(expr).to_pylist()
    assert all(r["a"] == r["b"] for r in got)
    assert got[13]["a"] == M("1.0833")


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    pytest.importorskip("pyspark")
    inputs = _inputs(con)
    for expr in (cost(*inputs), cost_totals(*inputs), cost_outside_enrollment(*inputs)):
        assert "SELECT" in ibis.to_sql(expr, dialect="pyspark")


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    # ibis 12's PySpark memtable registration cannot convert null decimals: give them all 0
    decimals = [c for c, kind in TABLES["pharmacy_claim"].ibis_schema().items()
                if kind.is_decimal()]
    pharmacy = [{c: "0" for c in decimals} | r for r in RX]
    inputs = _inputs(con, pharmacy=pharmacy)
    for expr, order in ((cost(*inputs), ORDER), (cost_totals(*inputs), ["year"]),
                        (cost_outside_enrollment(*inputs), ["person_id", "month_start_date"])):
        d_out = con.to_pyarrow(expr.order_by(order))
        s_out = spark.to_pyarrow(expr.order_by(order))
        assert s_out.schema == d_out.schema
        assert s_out.to_pylist() == d_out.to_pylist()
