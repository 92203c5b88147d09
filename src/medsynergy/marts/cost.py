"""cost: paid and allowed PMPM by service category, and the spend outside enrollment.

Issue "Measures", mart 3. Rules and sources are in docs/marts/cost.md. In short:

* Every claim line (medical lines from the `service_category` mart, pharmacy lines with
  category 'pharmacy') is assigned to the member-month of its service date (medical:
  claim_line_start_date, else claim_start_date; pharmacy: dispensing_date) for the same
  person, payer and plan. A null plan matches a null plan: the join uses keys coalesced to
  a sentinel on both sides, and the output keeps the original (null) plan.
* Lines that find a member-month go to `cost` (and `cost_totals`); the others go to
  `cost_outside_enrollment`. Nothing is dropped: the two add up to all lines, to the cent.
* PMPM = amount / member_months of the payer x plan x month (or year), rounded half up to
  the cent ONCE, from the exact sums. All arithmetic is exact: money is turned into whole
  cents (BIGINT) and divided with integer arithmetic (`rounded_quotient`), because DuckDB
  divides decimals in DOUBLE.

Everything is set-based Ibis (joins, unions, group-bys), so the same expressions compile on
DuckDB and on PySpark.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from medsynergy.schema import Kind
from medsynergy.schema._model import IBIS_TYPES

MONEY = IBIS_TYPES[Kind.MONEY]  # DECIMAL(18,2)
COUNT = dt.Int64()
PERSON_YEARS = dt.Decimal(18, 4)
#: Stands for a null payer / plan in join keys only (never in an output column).
NULL_KEY = "~medsynergy:null~"
PHARMACY = "pharmacy"
MONTHS_PER_YEAR = 12
CENTS = 100

#: The columns of one claim line once medical and pharmacy lines are put together.
LINE_COLUMNS = (
    "person_id", "payer", "plan", "service_date", "month_start_date", "year",
    "service_category", "service_category_group", "paid_amount", "allowed_amount",
)


# -- exact arithmetic ------------------------------------------------------------------------


def rounded_quotient(numerator: ir.IntegerValue, denominator: ir.IntegerValue | int
                     ) -> ir.IntegerValue:
    """numerator / denominator rounded half away from zero to a whole number (BIGINT).

    Null when the denominator is 0 or null. Integer arithmetic only:
    q = floor((2|n| + d) / (2d)), with the sign of n. The floor is taken of an exact multiple
    of 2d (2|n| + d minus its remainder), so the division, which both engines do in DOUBLE
    for integers, is exact while that multiple is below 2^53 (about 9.0e15): money sums
    below 45 trillion dollars in cents.
    """
    d = (ibis.literal(denominator, COUNT) if isinstance(denominator, int)
         else denominator.cast(COUNT)).nullif(0)
    n = numerator.cast(COUNT)
    twice = n.abs() * 2 + d
    step = d * 2
    q = ((twice - twice % step) // step).cast(COUNT)
    return ibis.ifelse(n < 0, -q, q).cast(COUNT)


def scaled(units: ir.IntegerValue, scale: int) -> ir.DecimalValue:
    """An integer count of 10^-scale units as DECIMAL(18, scale): 1234, 2 -> 12.34.

    Exact: BIGINT times a DECIMAL literal is a DECIMAL product on both engines (no
    division), then cast (the cast is always in the SQL: Ibis types the product as the
    literal's DECIMAL(scale+1, scale), which differs from the target).
    """
    unit = ibis.literal(Decimal(1).scaleb(-scale), dt.Decimal(scale + 1, scale))
    return (units.cast(COUNT) * unit).cast(dt.Decimal(18, scale))


def cents(amount: ir.DecimalValue) -> ir.IntegerValue:
    """A DECIMAL(p,2) amount as whole cents (exact: the product is integral)."""
    return (amount.cast(MONEY) * CENTS).cast(COUNT)


def per_member_month(amount: ir.DecimalValue, member_months: ir.IntegerValue
                     ) -> ir.DecimalValue:
    """amount / member_months as DECIMAL(18,2), rounded half up once (null when 0 months)."""
    return scaled(rounded_quotient(cents(amount), member_months), 2)


def per_member_year(amount: ir.DecimalValue, member_months: ir.IntegerValue
                    ) -> ir.DecimalValue:
    """amount / (member_months / 12) as DECIMAL(18,2), rounded half up once."""
    return scaled(rounded_quotient(cents(amount) * MONTHS_PER_YEAR, member_months), 2)


def months_to_person_years(member_months: ir.IntegerValue) -> ir.DecimalValue:
    """member_months / 12 as DECIMAL(18,4), rounded half up (same values as person_years)."""
    return scaled(rounded_quotient(member_months.cast(COUNT) * 10_000, MONTHS_PER_YEAR), 4)


def money_sum(col: ir.NumericColumn) -> ir.NumericScalar:
    """Exact sum as DECIMAL(18,2) (sums widen to DECIMAL(38,2); cast back); 0 when none."""
    return col.sum().fill_null(ibis.literal(0, MONEY)).cast(MONEY)


def null_safe(col: ir.StringValue) -> ir.StringValue:
    """A join key for a nullable column: null becomes NULL_KEY, so null matches null."""
    return col.fill_null(NULL_KEY)


# -- lines and their member-month ------------------------------------------------------------


def _month_start(day: ir.DateValue) -> ir.DateValue:
    """First day of the month of `day` (MAKE_DATE on both engines; null stays null)."""
    return ibis.date(day.year(), day.month(), 1)


def claim_lines(service_lines: ir.Table, pharmacy_lines: ir.Table) -> ir.Table:
    """Medical and pharmacy lines in one table of LINE_COLUMNS.

    `service_lines` is the service_category mart; `pharmacy_lines` the pharmacy_claim table
    or the pharmacy_category mart (only person, payer, plan, dispensing_date and money are
    read; the category is always 'pharmacy').
    """
    s = service_lines
    med = s.mutate(service_date=ibis.coalesce(s.claim_line_start_date, s.claim_start_date))
    med = med.select(
        person_id=med.person_id.cast("string"),
        payer=med.payer.cast("string"),
        plan=med.plan.cast("string"),
        service_date=med.service_date.cast("date"),
        service_category=med.service_category.fill_null("other").cast("string"),
        service_category_group=med.service_category_group.fill_null("other").cast("string"),
        paid_amount=med.paid_amount.cast(MONEY),
        allowed_amount=med.allowed_amount.cast(MONEY),
    )
    p = pharmacy_lines
    rx = p.select(
        person_id=p.person_id.cast("string"),
        payer=p.payer.cast("string"),
        plan=p.plan.cast("string"),
        service_date=p.dispensing_date.cast("date"),
        service_category=ibis.literal(PHARMACY),
        service_category_group=ibis.literal(PHARMACY),
        paid_amount=p.paid_amount.cast(MONEY),
        allowed_amount=p.allowed_amount.cast(MONEY),
    )
    both = med.union(rx, distinct=False)
    both = both.mutate(month_start_date=_month_start(both.service_date),
                       year=both.service_date.year().cast(COUNT))
    return both.select(*LINE_COLUMNS)


def enrollment_runs(member_months: ir.Table) -> ir.Table:
    """The member-months as runs of consecutive months: one row per person x payer x plan
    x run (`_r_person`, `_r_payer`, `_r_plan`: null-safe keys; `_r_first`, `_r_last`: the
    first and last month_start_date), disjoint within a key. A line is in a member-month of
    its person, payer and plan exactly when its month falls in one of these runs.

    Why: matching lines to enrollment by a hash join on the member-months builds a hash
    table of every member-month (121M rows at 10M member-years, more than DuckDB's default
    memory limit, which then spilled over 30 GB); almost every person x payer x plan has one
    unbroken run (at 100k member-years: 43,683 runs for 1.2M member-months). The runs come
    without a window: a key whose months fill the span from its first to its last month is
    one run; the months of the few other keys are runs of one month each."""
    mm = member_months.select(
        _r_person=member_months.person_id, _r_payer=null_safe(member_months.payer),
        _r_plan=null_safe(member_months.plan), _r_month=member_months.month_start_date)
    key = ["_r_person", "_r_payer", "_r_plan"]
    # member_months has one row per person x payer x plan x month (its key): count = months
    spans = mm.group_by(key).aggregate(_r_first=mm._r_month.min(), _r_last=mm._r_month.max(),
                                       _r_months=mm.count())
    spanned = ((spans._r_last.year() - spans._r_first.year()) * MONTHS_PER_YEAR
               + spans._r_last.month() - spans._r_first.month() + 1)
    whole = spans.filter(spans._r_months == spanned).select(*key, "_r_first", "_r_last")
    broken = spans.filter(spans._r_months != spanned).select(*key)
    single = mm.semi_join(broken, [mm[k] == broken[k] for k in key])
    single = single.select(*key, _r_first=single._r_month, _r_last=single._r_month)
    return whole.union(single, distinct=False)


SPEND_COLUMNS = (
    "level", "person_id", "payer", "plan", "month_start_date", "year",
    "service_category_group", "service_category", "claim_lines", "pharmacy_lines",
    "paid_amount", "allowed_amount", "enrolled_other_coverage_flag",
)
#: member_spend levels: enrolled spend per payer x plan x month x category (no person);
#: spend outside the payer and plan's enrollment per person; per person x year spend in
#: months the person is enrolled with any payer or plan; enrolled spend per person x payer
#: x plan x year x category (what a contract sums per member-year).
LEVEL_CATEGORY, LEVEL_OUTSIDE, LEVEL_PERSON_YEAR = "category", "outside", "person_year"
LEVEL_PERSON_CATEGORY = "person_category"


def member_spend(service_lines: ir.Table, pharmacy_lines: ir.Table, member_months: ir.Table
                 ) -> ir.Table:
    """Medical and pharmacy lines matched to enrollment once, summed at three levels
    (`level`); the cost marts and `kpis` all read this one table.

    * 'category': lines of a month in which the person has a member-month of the line's
      payer and plan, per payer x plan x month x service category (person_id null).
    * 'outside': the other lines, per person x payer x plan x month x category, with
      enrolled_other_coverage_flag = 1 when the person has a member-month of another payer
      or plan that month (null service date: null month and year).
    * 'person_year': per person x year, the lines of months in which the person has a
      member-month of any payer or plan (what kpis counts); payer, plan, month and
      category null.
    * 'person_category': the lines of 'category', per person x payer x plan x year x
      service category (month null): what a contract sums per member-year
      (`contracts.population.category_spend`), so that no contract joins the lines to
      the member-months again.

    Each level adds up to the lines it covers, to the cent: 'category' + 'outside' is every
    line, and 'person_category' sums to 'category'."""
    lines = claim_lines(service_lines, pharmacy_lines)
    keys = ["person_id", "payer", "plan", "month_start_date", "year",
            "service_category_group", "service_category"]
    # line-level matching: summing first to person x payer x plan x month x category
    # hardly reduces the rows (most such cells hold one or two lines) and costs more than
    # it saves
    agg = lines.mutate(_payer_key=null_safe(lines.payer), _plan_key=null_safe(lines.plan),
                       _pharmacy=(lines.service_category == PHARMACY).cast(COUNT))
    mm = member_months
    # the runs are disjoint within a key: a line matches at most one, as it would match at
    # most one member-month
    runs = enrollment_runs(mm).mutate(_enrolled=ibis.literal(1, COUNT))
    j = agg.left_join(runs, [
        agg.person_id == runs._r_person, agg._payer_key == runs._r_payer,
        agg._plan_key == runs._r_plan, agg.month_start_date >= runs._r_first,
        agg.month_start_date <= runs._r_last,
    ])
    j = j.select(*keys, "_pharmacy", "paid_amount", "allowed_amount",
                 _enrolled=j._enrolled.fill_null(0))

    def sums(t: ir.Table) -> dict[str, ir.Value]:
        return {"claim_lines": t.count().cast(COUNT),
                "pharmacy_lines": t._pharmacy.sum().cast(COUNT),
                "paid_amount": money_sum(t.paid_amount),
                "allowed_amount": money_sum(t.allowed_amount)}

    null_str, null_count = ibis.null("string"), ibis.null(COUNT)
    # the 'category' and 'outside' sums in one pass over the lines: grouped on whether the
    # line is enrolled and on its person only when it is not (a third reader of the joined
    # lines cost more than the few extra groups)
    cells = j.group_by([*keys[1:], "_enrolled",
                        ibis.ifelse(j._enrolled == 1, null_str, j.person_id).name("_who")]
                       ).aggregate(**sums(j))
    in_enrollment = cells.filter(cells._enrolled == 1)
    by_category = in_enrollment.mutate(
        level=ibis.literal(LEVEL_CATEGORY), person_id=null_str,
        enrolled_other_coverage_flag=null_count)
    # A line with a member-month of its own payer and plan is in a month of enrollment
    # with some payer or plan; only the (few) other lines need the second question, so it
    # is asked of their sums, not of every line: is there a member-month of any payer or
    # plan that month? (The person-months are looked up for those persons only: an IN
    # list of the few persons, where a semi-join let DuckDB build its hash table on the
    # 12M member-months.)
    outside = cells.filter(cells._enrolled == 0).rename(person_id="_who")
    asked = outside.select(_q_person=outside.person_id, _q_month=outside.month_start_date)
    candidates = mm.filter(mm.person_id.isin(asked._q_person))
    candidates = candidates.select(_c_person=candidates.person_id,
                                   _c_month=candidates.month_start_date).distinct()
    covered = candidates.join(asked, [candidates._c_person == asked._q_person,
                                      candidates._c_month == asked._q_month])
    covered = covered.select(_pm_person=covered._c_person, _pm_month=covered._c_month,
                             _any=ibis.literal(1, COUNT)).distinct()
    outside = outside.left_join(covered, [outside.person_id == covered._pm_person,
                                          outside.month_start_date == covered._pm_month])
    outside = outside.mutate(level=ibis.literal(LEVEL_OUTSIDE),
                             enrolled_other_coverage_flag=outside._any.fill_null(0).cast(COUNT))
    e = j.filter(j._enrolled == 1)
    by_person = e.group_by(["person_id", *keys[1:3], *keys[4:]]).aggregate(**sums(e))
    person_category = by_person.mutate(
        level=ibis.literal(LEVEL_PERSON_CATEGORY), month_start_date=ibis.null("date"),
        enrolled_other_coverage_flag=null_count)
    # person_year: the enrolled lines (from their per-person sums: one pass over the
    # lines serves both levels), plus the outside sums of months covered otherwise
    year_keys = ["person_id", "year"]
    py_parts = [by_person.group_by(year_keys).aggregate(
                    claim_lines=by_person.claim_lines.sum().cast(COUNT),
                    pharmacy_lines=by_person.pharmacy_lines.sum().cast(COUNT),
                    paid_amount=money_sum(by_person.paid_amount),
                    allowed_amount=money_sum(by_person.allowed_amount)),
                outside.filter(outside.enrolled_other_coverage_flag == 1).select(
                    *year_keys, "claim_lines", "pharmacy_lines", "paid_amount",
                    "allowed_amount")]
    py = py_parts[0].union(py_parts[1], distinct=False)
    person_year = py.group_by(year_keys).aggregate(
        claim_lines=py.claim_lines.sum().cast(COUNT),
        pharmacy_lines=py.pharmacy_lines.sum().cast(COUNT),
        paid_amount=money_sum(py.paid_amount),
        allowed_amount=money_sum(py.allowed_amount),
    ).mutate(
        level=ibis.literal(LEVEL_PERSON_YEAR), payer=null_str, plan=null_str,
        month_start_date=ibis.null("date"), service_category_group=null_str,
        service_category=null_str, enrolled_other_coverage_flag=null_count)
    parts = [t.select(*SPEND_COLUMNS)
             for t in (by_category, outside, person_year, person_category)]
    return parts[0].union(*parts[1:], distinct=False)


def _denominators(member_months: ir.Table, by: list[str]) -> ir.Table:
    """Member months per payer x plan x `by`, with null-safe join keys."""
    mm = member_months
    d = mm.group_by([mm.payer, mm.plan, *(mm[c] for c in by)]).aggregate(
        member_months=mm.count().cast(COUNT))
    return d.mutate(_payer_key=null_safe(d.payer), _plan_key=null_safe(d.plan))


def _order(t: ir.Table, columns: list[str]) -> ir.Table:
    """Sorted with nulls last on both engines (Spark sorts nulls first by default)."""
    return t.order_by([t[c].asc(nulls_first=False) for c in columns])


# -- marts -----------------------------------------------------------------------------------

COST_COLUMNS = (
    "payer", "plan", "month_start_date", "year", "service_category_group",
    "service_category", "claim_lines", "paid_amount", "allowed_amount", "member_months",
    "paid_pmpm", "allowed_pmpm",
)


def cost(service_lines: ir.Table, pharmacy_lines: ir.Table, member_months: ir.Table
         ) -> ir.Table:
    """The `cost` mart from lines (see `cost_of_spend`)."""
    return cost_of_spend(member_spend(service_lines, pharmacy_lines, member_months),
                         member_months)


def cost_of_spend(spend: ir.Table, member_months: ir.Table) -> ir.Table:
    """One row per payer x plan x month_start_date x service_category with claims.

    paid_amount / allowed_amount are exact sums of the lines assigned to a member-month;
    member_months is the denominator of the payer x plan x month (every member of the
    plan that month, with or without claims); *_pmpm = amount / member_months rounded half
    up to the cent once. Months or categories without lines have no row.
    """
    lines = spend.filter(spend.level == LEVEL_CATEGORY)
    sums = lines.group_by(["payer", "plan", "month_start_date", "year",
                           "service_category_group", "service_category"]).aggregate(
        claim_lines=lines.claim_lines.sum().cast(COUNT),
        paid_amount=money_sum(lines.paid_amount),
        allowed_amount=money_sum(lines.allowed_amount),
    )
    sums = sums.mutate(_payer_key=null_safe(sums.payer), _plan_key=null_safe(sums.plan))
    den = _denominators(member_months, ["month_start_date"])
    den = den.select(_d_payer=den._payer_key, _d_plan=den._plan_key,
                     _d_month=den.month_start_date, _d_mm=den.member_months)
    j = sums.left_join(den, [sums._payer_key == den._d_payer, sums._plan_key == den._d_plan,
                             sums.month_start_date == den._d_month])
    j = j.mutate(member_months=j._d_mm.cast(COUNT))
    out = j.mutate(paid_pmpm=per_member_month(j.paid_amount, j.member_months),
                   allowed_pmpm=per_member_month(j.allowed_amount, j.member_months))
    return _order(out.select(*COST_COLUMNS),
                  ["payer", "plan", "month_start_date", "service_category"])


TOTAL_COLUMNS = (
    "payer", "plan", "year", "member_months", "person_years", "claim_lines", "paid_amount",
    "allowed_amount", "paid_pmpm", "allowed_pmpm", "paid_per_member_year",
    "allowed_per_member_year",
)


def cost_totals(service_lines: ir.Table, pharmacy_lines: ir.Table, member_months: ir.Table
                ) -> ir.Table:
    """The `cost_totals` mart from lines (see `cost_totals_of_spend`)."""
    return cost_totals_of_spend(member_spend(service_lines, pharmacy_lines, member_months),
                                member_months)


def cost_totals_of_spend(spend: ir.Table, member_months: ir.Table) -> ir.Table:
    """Total cost of care per payer x plan x year (medical and pharmacy, enrolled lines).

    One row per payer x plan x year with member months (years without claims show 0 spend);
    person_years = member_months / 12 (DECIMAL(18,4)); paid / allowed PMPM and per member-year
    (amount * 12 / member_months) from the exact yearly sums, each rounded half up once.
    """
    lines = spend.filter(spend.level == LEVEL_CATEGORY)
    sums = lines.group_by(["payer", "plan", "year"]).aggregate(
        claim_lines=lines.claim_lines.sum().cast(COUNT),
        paid_amount=money_sum(lines.paid_amount),
        allowed_amount=money_sum(lines.allowed_amount),
    )
    sums = sums.select(_s_payer=null_safe(sums.payer), _s_plan=null_safe(sums.plan),
                       _s_year=sums.year, _s_lines=sums.claim_lines, _s_paid=sums.paid_amount,
                       _s_allowed=sums.allowed_amount)
    den = _denominators(member_months, ["year"])
    j = den.left_join(sums, [den._payer_key == sums._s_payer, den._plan_key == sums._s_plan,
                             den.year == sums._s_year])
    zero = ibis.literal(0, MONEY)
    j = j.mutate(
        year=j.year.cast(COUNT),
        claim_lines=j._s_lines.fill_null(0).cast(COUNT),
        paid_amount=j._s_paid.fill_null(zero).cast(MONEY),
        allowed_amount=j._s_allowed.fill_null(zero).cast(MONEY),
    )
    out = j.mutate(
        person_years=months_to_person_years(j.member_months),
        paid_pmpm=per_member_month(j.paid_amount, j.member_months),
        allowed_pmpm=per_member_month(j.allowed_amount, j.member_months),
        paid_per_member_year=per_member_year(j.paid_amount, j.member_months),
        allowed_per_member_year=per_member_year(j.allowed_amount, j.member_months),
    )
    return _order(out.select(*TOTAL_COLUMNS), ["payer", "plan", "year"])


OUTSIDE_COLUMNS = (
    "person_id", "payer", "plan", "month_start_date", "year", "reason", "claim_lines",
    "pharmacy_lines", "paid_amount", "allowed_amount",
)


def cost_outside_enrollment(service_lines: ir.Table, pharmacy_lines: ir.Table,
                            member_months: ir.Table) -> ir.Table:
    """The `cost_outside_enrollment` mart from lines (see `outside_of_spend`)."""
    return outside_of_spend(member_spend(service_lines, pharmacy_lines, member_months))


def outside_of_spend(spend: ir.Table) -> ir.Table:
    """Lines whose service month has no member-month of their person, payer and plan.

    One row per person x payer x plan x month (payer, plan and month as on the lines, nulls
    kept) with claim_lines (medical and pharmacy), pharmacy_lines, and exact sums. `reason`:
    'no_service_date', 'no_payer', 'enrolled_other_coverage' (the person has a member-month
    that month with another payer or plan: often a plan mapping problem) or 'not_enrolled'.
    """
    lines = spend.filter(spend.level == LEVEL_OUTSIDE)
    lines = lines.mutate(reason=ibis.cases(
        (lines.month_start_date.isnull(), "no_service_date"),
        (lines.payer.isnull(), "no_payer"),
        (lines.enrolled_other_coverage_flag == 1, "enrolled_other_coverage"),
        else_="not_enrolled",
    ))
    out = lines.group_by(["person_id", "payer", "plan", "month_start_date", "year", "reason"]
                         ).aggregate(
        claim_lines=lines.claim_lines.sum().cast(COUNT),
        pharmacy_lines=lines.pharmacy_lines.sum().cast(COUNT),
        paid_amount=money_sum(lines.paid_amount),
        allowed_amount=money_sum(lines.allowed_amount),
    )
    return _order(out.select(*OUTSIDE_COLUMNS),
                  ["person_id", "payer", "plan", "month_start_date"])
