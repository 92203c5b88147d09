"""member_months and person_years: the enrollment denominators of per-capita measures.

Rule (docs/marts/member_months.md): a member counts in a month of a payer and plan when
enrolled there on at least one day of it (Tuva's member months rule); person-years are
member months / 12 (how CMS counts person-years for per-capita expenditures).

Set-based on purpose, so one expression compiles on DuckDB and on Spark: spans are spread
over the month numbers they touch and joined to a small constant month calendar, and everything that must look
at several spans at once (the union of days, the attributes, the member id) is a window
over person x payer x plan x month. No joins on `plan`, because plan may be null and a
plain equi-join would drop those rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt_
import ibis.expr.types as ir
import pyarrow as pa

FIRST_YEAR = 1900
LAST_YEAR = 2100
PERSON_YEARS = dt_.Decimal(18, 4)
MONTHS_PER_YEAR = 12

#: Attributes carried from the span chosen for the month (the latest start).
ATTRIBUTES = (
    "dual_status_code",
    "medicare_status_code",
    "original_reason_entitlement_code",
    "gender",
    "birth_date",
    "death_date",
)
KEYS = ("person_id", "payer", "plan", "month_start_date")


def month_calendar(first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR) -> ir.Table:
    """One row per month of [first_year, last_year]: month_start_date, month_end_date, year.

    Built in Python as a constant table (2,412 rows) rather than with date arithmetic in
    the engine: date ranges and interval arithmetic differ between Ibis backends, constant
    dates do not.
    """
    starts = [dt.date(y, m, 1) for y in range(first_year, last_year + 1) for m in range(1, 13)]
    ends = [_month_end(d) for d in starts]
    return ibis.memtable(pa.table({
        "month_start_date": pa.array(starts, pa.date32()),
        "month_end_date": pa.array(ends, pa.date32()),
        "year": pa.array([d.year for d in starts], pa.int64()),
    }))


def _month_end(first: dt.date) -> dt.date:
    """The last day of the month starting at `first`."""
    nxt = dt.date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def member_months(eligibility: ir.Table) -> ir.Table:
    """One row per person_id x payer x plan x month with at least one enrolled day.

    Columns: person_id, member_id (min), payer, plan (null kept), month_start_date, year,
    enrolled_days (days of the month in the union of the spans), the ATTRIBUTES of the
    covering span with the latest start, and person_month_flag (1 on exactly one row of
    each person x month: the first by payer, then plan; summing it counts a person's
    enrolled months once across payers and plans). Spans ending before they start count
    nothing.

    Most months are touched by one span of their person x payer x plan: those rows come
    straight from the span. Only the spans that share a month with another span of the
    same person x payer x plan (found with windows over the spans, a far smaller table than
    their months) go through the windows over months that merge them.
    """
    e = eligibility
    valid = e.filter(e.enrollment_start_date <= e.enrollment_end_date)  # nulls drop too
    first = month_number(valid.enrollment_start_date)
    last = month_number(valid.enrollment_end_date)
    group = [valid.person_id, valid.payer, valid.plan]
    order = [first, last]
    shares = (last.max().over(ibis.window(group_by=group, order_by=order, rows=(None, -1)))
              >= first) | (first.lead().over(ibis.window(group_by=group, order_by=order))
                           <= last)
    # the same question across payers and plans: does another span of the person touch
    # one of this span's months? (only then can a month have several rows)
    person = [valid.person_id]
    person_shares = (
        last.max().over(ibis.window(group_by=person, order_by=order, rows=(None, -1)))
        >= first) | (first.lead().over(ibis.window(group_by=person, order_by=order)) <= last)
    flagged = valid.mutate(_shares=shares.fill_null(False),
                           _pshares=person_shares.fill_null(False))
    columns = ["person_id", "member_id", "payer", "plan", "month_start_date", "year",
               "enrolled_days", *ATTRIBUTES]

    def alone(spans: ir.Table) -> ir.Table:
        m = _span_months(spans.drop("_shares", "_pshares"))
        return m.select(*columns[:6], enrolled_days=(m.last_day - m.first_day + 1).cast(
            "int64"), **{a: m[a] for a in ATTRIBUTES})

    # person_month_flag: 1 on one row of each person x month. The months of a span that
    # shares no month with another span of the person are the only rows of their month;
    # the others are ranked by payer, then plan (nulls last), within their person x month
    # (a split on the spans, so the 12M month rows are never held twice).
    single = alone(flagged.filter(~flagged._shares & ~flagged._pshares))
    single = single.mutate(person_month_flag=ibis.literal(1, "int64"))
    merged = _merged_months(_span_months(
        flagged.filter(flagged._shares).drop("_shares", "_pshares")))
    several = alone(flagged.filter(~flagged._shares & flagged._pshares)).union(
        merged.select(*columns), distinct=False)
    rank = ibis.row_number().over(ibis.window(
        group_by=[several.person_id, several.month_start_date],
        order_by=[several.payer.asc(nulls_first=False), several.plan.asc(nulls_first=False)]))
    several = several.select(*columns, person_month_flag=(rank == 0).cast("int64"))
    both = single.select(*columns, "person_month_flag").union(several, distinct=False)
    return both.order_by(list(KEYS))


def month_number(day: ir.DateValue) -> ir.IntegerValue:
    """year * 12 + month: consecutive integers for consecutive months (of a date, or of a
    timestamp: DuckDB turns date + interval into one)."""
    return (day.year() * MONTHS_PER_YEAR + day.month()).cast("int64")


def _merged_months(spans: ir.Table) -> ir.Table:
    """One row per person x payer x plan x month from span-months that may overlap: the
    union of their days, the minimum member_id, the attributes of the latest start."""
    group = ibis.window(group_by=[spans[k] for k in KEYS])
    ordered = ibis.window(group_by=[spans[k] for k in KEYS], order_by=_latest_first(spans))
    with_new = _newly_covered_days(spans)
    ranked = with_new.mutate(
        member_id=with_new.member_id.min().over(group),
        enrolled_days=with_new.new_days.sum().over(group).cast("int64"),
        _rank=ibis.row_number().over(ordered),
    )
    return ranked.filter(ranked._rank == 0)


def _span_months(valid: ir.Table) -> ir.Table:
    """Each valid span with one row per calendar month it touches, clipped to that month.

    The months are generated from the span's first and last month numbers (an array of
    consecutive integers, unnested: UNNEST(RANGE) on DuckDB, EXPLODE(SEQUENCE) on Spark),
    clipped to the calendar's years, then given their dates by an equi-join on the month
    number. A range join against the calendar costs several times more (a merge join over
    12M span-months at 1M member-years). The clipped first and last enrolled day are kept
    as day-of-month numbers (1..31): both lie inside one month, so plain integer arithmetic
    on them counts days on any engine.
    """
    cal = month_calendar()
    cal = cal.mutate(_m=month_number(cal.month_start_date))
    lo = ibis.greatest(month_number(valid.enrollment_start_date), FIRST_YEAR * MONTHS_PER_YEAR + 1)
    hi = ibis.least(month_number(valid.enrollment_end_date), LAST_YEAR * MONTHS_PER_YEAR + MONTHS_PER_YEAR)
    spread = valid.mutate(_m=ibis.range(lo, hi + 1).unnest())
    joined = spread.join(cal, "_m").drop("_m")
    first = ibis.greatest(joined.enrollment_start_date, joined.month_start_date)
    last = ibis.least(joined.enrollment_end_date, joined.month_end_date)
    return joined.mutate(first_day=first.day().cast("int64"), last_day=last.day().cast("int64"))


def _newly_covered_days(spans: ir.Table) -> ir.Table:
    """Add new_days: the days of a span-month not covered by the spans sorted before it.

    Spans sorted by first day: every earlier span starts no later, so the earlier ones
    cover [first_day, running max of last_day] without a hole; what this span adds is what
    lies beyond that. Summed over the month this is the size of the union (overlaps and
    duplicates counted once), computed with windows only.
    """
    before = ibis.window(group_by=[spans[k] for k in KEYS],
                         order_by=[spans.first_day, spans.last_day], rows=(None, -1))
    prev_last = spans.last_day.max().over(before).fill_null(0)
    covered_to = ibis.greatest(spans.first_day - 1, prev_last)
    return spans.mutate(new_days=ibis.greatest(spans.last_day - covered_to, 0))


def _latest_first(spans: ir.Table) -> list[ir.Value]:
    """Total order for choosing the span whose attributes describe the month.

    Latest start first (the most recent information), then a tie-break on every column
    that can differ, so the choice never depends on the engine's row order.
    """
    tiebreak = ["enrollment_end_date", "member_id", "data_source", *ATTRIBUTES]
    return [spans.enrollment_start_date.desc(),
            *(spans[c].desc(nulls_first=False) for c in tiebreak)]


def person_years(member_months_table: ir.Table) -> ir.Table:
    """Member months, person-years and distinct persons per payer x year, and per plan.

    `level` says the grain of a row: 'payer' rows (plan null) total a payer's year;
    'plan' rows split it by plan (a null plan is its own plan). Within one level rows are
    disjoint: summing member_months of a payer's 'plan' rows gives its 'payer' row.
    person_years = member_months / 12 rounded half up to 4 decimals (exact DECIMAL(18,4));
    persons is not additive across plans (a person changing plan counts in each).
    """
    t = member_months_table
    by_plan = _year_totals(t, [t.payer, t.plan, t.year]).mutate(level=ibis.literal("plan"))
    by_payer = _year_totals(t, [t.payer, t.year]).mutate(
        plan=ibis.null("string"), level=ibis.literal("payer"))
    columns = ["payer", "plan", "year", "level", "member_months", "person_years", "persons"]
    both = by_payer.select(*columns).union(by_plan.select(*columns), distinct=False)
    return both.order_by(["payer", "year", "level", "plan"])


def _year_totals(t: ir.Table, keys: list[ir.Value]) -> ir.Table:
    totals = t.group_by(keys).aggregate(
        member_months=t.count().cast("int64"), persons=t.person_id.nunique().cast("int64"))
    return totals.mutate(person_years=_months_to_years(totals.member_months))


def _months_to_years(months: ir.IntegerValue) -> ir.DecimalValue:
    """months / 12 as DECIMAL(18,4), rounded half up, without any inexact division.

    DuckDB divides decimals in DOUBLE, so instead: whole years from an exact multiple of
    12, plus the twelfth from a 12-entry table of exact decimals (k/12 never has a tie at
    the 5th decimal, so half up and half even agree).
    """
    rest = months % MONTHS_PER_YEAR
    whole = ((months - rest) // MONTHS_PER_YEAR).cast(PERSON_YEARS)
    twelfths = [(k, ibis.literal(_twelfth(k), PERSON_YEARS)) for k in range(MONTHS_PER_YEAR)]
    frac = rest.cases(*twelfths)
    return (whole + frac).cast(PERSON_YEARS)


def _twelfth(k: int) -> Decimal:
    """k/12 rounded half up to 4 decimals."""
    return (Decimal(k) / MONTHS_PER_YEAR).quantize(Decimal("0.0001"), rounding="ROUND_HALF_UP")
