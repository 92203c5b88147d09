"""The report's measure sections, read from the marts `medsynergy measure` publishes.

Each section reads its marts with `wh.table(name)`; when one is missing (the warehouse was
never measured, or `measure --only` skipped it) the section is a note saying so, naming
`medsynergy measure`. Sums are taken in the warehouse (exact DECIMAL sums) and every ratio
is computed here from those sums with `Decimal`, rounded half up once: PMPM to the cent,
per 1,000 to 0.1, rates to 0.1 %. Risk scores are floats and stay floats.

Small cells: a count of members (or of stays and visits, which describe members) from 1 to
10 is shown as "<11", and so is any ratio that would give it back; a year whose enrolled
members are fewer than 11 shows "<11" for its amounts and ratios.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ibis
import plotly.graph_objects as go

from medsynergy.engine import Warehouse
from medsynergy.reports.html import (
    SMALL_CELL,
    SUPPRESSED,
    ZERO,
    _chart,
    _table,
    count,
    members,
    money,
)

MONTHS_PER_YEAR = 12
PER_THOUSAND_MONTHS = 12_000  # 1,000 member-years
TENTH = Decimal("0.1")
TOP_TINS = 10
RISK_BIN = 0.25   # width of a histogram bin of the risk score
RISK_TOP = 3.0    # scores from here up share the last bin
RISK_MODELS = ("blend", "v24", "v28", "esrd_v24")
UTILISATION = (("admissions", "Admissions"), ("bed_days", "Bed days"),
               ("ed_visits", "ED visits"), ("office_em_visits", "Office E/M visits"),
               ("integrative_visits", "Integrative visits"))

Rows = list[dict[str, Any]]


# -- helpers ---------------------------------------------------------------------------------
def _rows(wh: Warehouse, expr: ibis.Table) -> Rows:
    rows: Rows = wh.to_arrow(expr).to_pylist()
    return rows


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _dec(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value is not None else 0))


def small(n: int) -> bool:
    return 0 < n < SMALL_CELL


def ratio(numerator: Decimal, denominator: Decimal, unit: Decimal) -> Decimal | None:
    """numerator / denominator rounded half up once to `unit`; None when denominator is 0."""
    if denominator == 0:
        return None
    return (numerator / denominator).quantize(unit, rounding=ROUND_HALF_UP)


def tenth(value: Decimal | None) -> str:
    return "n/a" if value is None else f"{value:,.1f}"


def missing_note(section_id: str, wanted: Sequence[str], wh: Warehouse) -> str | None:
    """A note naming the marts `wanted` that are not in the warehouse, or None."""
    absent = [m for m in wanted if not wh.derived_exists(m)]
    if not absent:
        return None
    names = ", ".join(absent)
    return (f'<p class="empty" id="{section_id}-missing">Not measured yet (no {html.escape(names)}'
            " mart): run <code>medsynergy measure</code>, then write the report again.</p>")


def enrolled_by_year(wh: Warehouse) -> dict[int, int]:
    """Distinct members with a member-month, per year (all payers), for suppression."""
    if not wh.derived_exists("member_months"):
        return {}
    mm = wh.table("member_months")
    agg = mm.group_by("year").aggregate(n=mm.person_id.nunique())
    return {_int(r["year"]): _int(r["n"]) for r in _rows(wh, agg)}


# -- 1. PMPM by service category, and total cost of care -------------------------------------
def cost_section(wh: Warehouse, enrolled: dict[int, int]) -> str:
    note = missing_note("pmpm", ("cost", "cost_totals"), wh)
    if note:
        return note
    c = wh.table("cost")
    sums = c.group_by(["year", "service_category_group", "service_category"]).aggregate(
        paid_amount=c.paid_amount.sum())
    paid = _rows(wh, sums)
    ct = wh.table("cost_totals")
    tot = ct.group_by("year").aggregate(
        member_months=ct.member_months.sum(), person_years=ct.person_years.sum(),
        claim_lines=ct.claim_lines.sum(), paid_amount=ct.paid_amount.sum(),
        allowed_amount=ct.allowed_amount.sum())
    totals = sorted(_rows(wh, tot), key=lambda r: _int(r["year"]))
    # the denominator: every member month of the year (cost_totals has one row per payer x
    # plan x year with member months, claims or not; in `cost` a month without any claim
    # line has no row, and member_months repeats on each category row)
    months = {_int(r["year"]): _dec(r["member_months"]) for r in totals}
    years = sorted(set(months) | {_int(r["year"]) for r in paid})

    def hidden(y: int) -> bool:
        return small(enrolled.get(y, 0))

    def pmpm(amount: Decimal, y: int) -> Decimal | None:
        return ratio(amount, months.get(y, ZERO), Decimal("0.01"))

    def shown(amount: Decimal, y: int) -> str:
        if hidden(y):
            return SUPPRESSED
        p = pmpm(amount, y)
        return "n/a" if p is None else money(p)

    by_cat: dict[tuple[str, str], dict[int, Decimal]] = defaultdict(dict)
    year_paid: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for r in paid:
        key = (str(r["service_category_group"] or ""), str(r["service_category"] or ""))
        y = _int(r["year"])
        by_cat[key][y] = by_cat[key].get(y, ZERO) + _dec(r["paid_amount"])
        year_paid[y] += _dec(r["paid_amount"])
    cats = sorted(by_cat)
    rows = [[g, cat, *(shown(by_cat[(g, cat)].get(y, ZERO), y) for y in years)]
            for g, cat in cats]
    if cats:
        rows.append(["Total", "", *(shown(year_paid[y], y) for y in years)])
    table = _table("pmpm", ["Group", "Service category", *(f"{y} paid PMPM" for y in years)],
                   rows, numeric=range(2, 2 + len(years)), empty="No claims in the cost mart.")

    fig = go.Figure()
    groups = sorted({g for g, _ in cats})
    visible = [y for y in years if not hidden(y) and months.get(y)]
    for g in groups:
        vals = [pmpm(sum((v.get(y, ZERO) for (gg, _), v in by_cat.items() if gg == g), ZERO), y)
                for y in visible]
        fig.add_bar(name=g, x=[str(y) for y in visible], y=[float(v or 0) for v in vals])
    fig.update_layout(barmode="stack", title="Paid PMPM by service category group and year",
                      yaxis_title="USD per member per month", xaxis_type="category")
    chart = _chart(fig, "chart-pmpm") if cats else ""

    trow = []
    for r in totals:
        y = _int(r["year"])
        mm = _dec(r["member_months"])
        paid_y, allowed_y = _dec(r["paid_amount"]), _dec(r["allowed_amount"])
        if hidden(y):
            cells = [SUPPRESSED] * 6
        else:
            cells = [money(paid_y), money(allowed_y),
                     *(("n/a" if (p := ratio(a * k, mm, Decimal("0.01"))) is None else money(p))
                       for k in (1, MONTHS_PER_YEAR) for a in (paid_y, allowed_y))]
        trow.append([str(y), members(enrolled.get(y, 0)), count(_int(mm)),
                     f"{_dec(r['person_years']):,.2f}", *cells])
    total_table = _table(
        "cost-totals", ["Year", "Members enrolled", "Member months", "Person-years", "Paid",
                        "Allowed", "Paid PMPM", "Allowed PMPM", "Paid per member-year",
                        "Allowed per member-year"], trow, empty="No member months.")
    return (chart + table + "<h3>Total cost of care per year</h3>" + total_table
            + '<p class="meta">Medical and pharmacy lines within enrollment, all payers and '
              "plans. PMPM = paid / member months of the year; per member-year = amount x 12 / "
              "member months; each rounded half up to the cent once.</p>")


# -- 2. utilisation per 1,000 ----------------------------------------------------------------
def utilisation_section(wh: Warehouse, enrolled: dict[int, int]) -> str:
    note = missing_note("utilisation", ("utilisation",), wh)
    if note:
        return note
    u = wh.table("utilisation")
    agg = u.group_by("year").aggregate(
        member_months=u.member_months.sum(),
        **{c: u[c].sum() for c, _ in UTILISATION})
    rows = []
    for r in sorted(_rows(wh, agg), key=lambda r: _int(r["year"])):
        y = _int(r["year"])
        mm = _dec(r["member_months"])
        cells = []
        for c, _ in UTILISATION:
            n = _int(r[c])
            if small(enrolled.get(y, 0)) or small(n):
                cells += [SUPPRESSED, SUPPRESSED]
            else:
                cells += [count(n), tenth(ratio(Decimal(n) * PER_THOUSAND_MONTHS, mm, TENTH))]
        rows.append([str(y), count(_int(mm)), *cells])
    heads = [h for _, label in UTILISATION for h in (label, f"{label} per 1,000")]
    return _table("utilisation", ["Year", "Member months", *heads], rows,
                  empty="No rows in the utilisation mart.") + (
        '<p class="meta">Per 1,000 = 12,000 x count / member months (per 1,000 member-years), '
        "all payers and plans, rounded half up to 0.1.</p>")


# -- 3. readmissions -------------------------------------------------------------------------
def percent(numerator: int, denominator: int) -> str:
    p = ratio(Decimal(numerator) * 100, Decimal(denominator), TENTH)
    return "n/a" if p is None else f"{p}%"


def readmission_section(wh: Warehouse) -> str:
    note = missing_note("readmissions", ("readmission_summary",), wh)
    if note:
        return note
    t = wh.table("readmission_summary")
    agg = t.group_by("discharge_year").aggregate(
        index_stays=t.index_stays.sum(), readmissions=t.readmissions.sum(),
        unplanned=t.unplanned_readmissions.sum())
    rows = []
    for r in sorted(_rows(wh, agg), key=lambda r: _int(r["discharge_year"])):
        idx, re_, un = _int(r["index_stays"]), _int(r["readmissions"]), _int(r["unplanned"])
        rows.append([str(_int(r["discharge_year"])), members(idx), members(re_),
                     SUPPRESSED if small(idx) or small(re_) else percent(re_, idx),
                     members(un), SUPPRESSED if small(idx) or small(un) else percent(un, idx)])
    return _table("readmissions", ["Discharge year", "Index stays", "30-day readmissions",
                                   "Readmission rate", "Unplanned readmissions",
                                   "Unplanned rate"], rows,
                  empty="No index stays.") + (
        '<p class="meta">Rate = readmissions within 30 days / index stays, all payers and '
        "plans, by the year of the index discharge.</p>")


# -- 4. risk scores --------------------------------------------------------------------------
def _score(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def risk_section(wh: Warehouse) -> str:
    note = missing_note("risk", ("risk",), wh)
    if note:
        return note
    r = wh.table("risk")
    latest = wh.scalar(r.payment_year.max())
    if latest is None:
        return '<p class="empty" id="risk">No risk scores (no payment year with enrollment).</p>'
    r = r.filter((r.payment_year == int(latest)) & r.normalized_score.notnull())
    stats = r.group_by("model").aggregate(
        members=r.person_id.nunique(), mean=r.normalized_score.mean(),
        median=r.normalized_score.median(), p90=r.normalized_score.quantile(0.9))
    order = {m: i for i, m in enumerate(RISK_MODELS)}
    rows = []
    for s in sorted(_rows(wh, stats), key=lambda s: (order.get(s["model"], 99), s["model"])):
        n = _int(s["members"])
        vals = [SUPPRESSED] * 3 if small(n) else [_score(s[k]) for k in ("mean", "median", "p90")]
        rows.append([str(s["model"]), members(n), *vals])
    table = _table("risk-scores", ["Model", "Members", "Mean", "Median", "90th percentile"],
                   rows, empty="No risk scores.")

    b = r.filter(r.model == "blend")
    top = int(RISK_TOP / RISK_BIN)
    b = b.mutate(bin=ibis.least((b.normalized_score / RISK_BIN).floor().cast("int64"), top))
    hist = {_int(h["bin"]): _int(h["n"])
            for h in _rows(wh, b.group_by("bin").aggregate(n=b.count()))}
    bins = range(min(hist, default=0), max(hist, default=-1) + 1)

    def label(i: int) -> str:
        lo = i * RISK_BIN
        return f"{lo:.2f}+" if i >= top else f"{lo:.2f}-{lo + RISK_BIN:.2f}"

    hrows = [[label(i), members(hist.get(i, 0))] for i in bins]
    fig = go.Figure(go.Bar(x=[label(i) for i in bins],
                           y=[0 if small(hist.get(i, 0)) else hist.get(i, 0) for i in bins]))
    fig.update_layout(title=f"Blend normalized risk score, payment year {int(latest)}",
                      xaxis_title="normalized score", yaxis_title="members",
                      xaxis_type="category", bargap=0.05)
    chart = _chart(fig, "chart-risk") if hist else ""
    return (f"<p class=\"meta\">Payment year {int(latest)}: normalized scores (CMS-HCC; "
            "blend = the payment year's blend, or the ESRD model for ESRD members).</p>"
            + table + chart
            + _table("risk-histogram", ["Blend normalized score", "Members"], hrows,
                     empty="No blend scores.")
            + '<p class="meta">Bins describing fewer than 11 members are drawn as 0.</p>')


# -- 5. attribution --------------------------------------------------------------------------
def attribution_section(wh: Warehouse) -> str:
    note = missing_note("attribution", ("attribution_summary",), wh)
    if note:
        return note
    a = wh.table("attribution_summary")
    agg = a.group_by("year").aggregate(
        attributed=a.attributed_members.sum(), step_1=a.step_1_members.sum(),
        step_2=a.step_2_members.sum(), unattributed=a.unattributed_members.sum())
    rows = []
    years = sorted(_rows(wh, agg), key=lambda r: _int(r["year"]))
    for r in years:
        att, una = _int(r["attributed"]), _int(r["unattributed"])
        rows.append([str(_int(r["year"])), members(att), members(_int(r["step_1"])),
                     members(_int(r["step_2"])), members(una),
                     SUPPRESSED if small(att) or small(una) else percent(att, att + una)])
    by_year = _table("attribution", ["Year", "Attributed members", "Step 1 (primary-care "
                                     "clinicians)", "Step 2 (specialists)",
                                     "Unattributed", "Share attributed"], rows,
                     empty="No rows in the attribution_summary mart.")
    if not years:
        return by_year
    latest = _int(years[-1]["year"])
    t = a.filter((a.year == latest) & a.attributed_tin.notnull())
    t = t.order_by([t.attributed_members.desc(), t.attributed_tin]).limit(TOP_TINS)
    trows = []
    for r in _rows(wh, t):
        n = _int(r["attributed_members"])
        trows.append([str(r["attributed_tin"]), members(n), members(_int(r["step_1_members"])),
                      members(_int(r["step_2_members"])),
                      SUPPRESSED if small(n) else money(r["allowed_amount"])])
    top = _table("attribution-tins", ["TIN", "Attributed members", "Step 1", "Step 2",
                                      "Allowed (primary care)"], trows,
                 empty="No member was attributed.")
    return by_year + f"<h3>Top {TOP_TINS} TINs by attributed members, {latest}</h3>" + top


SECTIONS: tuple[tuple[str, Callable[[Warehouse, dict[int, int]], str]], ...] = (
    ("Paid PMPM by service category", cost_section),
    ("Utilisation per 1,000 member-years", utilisation_section),
    ("Readmissions", lambda wh, _e: readmission_section(wh)),
    ("Risk score distribution", lambda wh, _e: risk_section(wh)),
    ("Attribution", lambda wh, _e: attribution_section(wh)),
)


def measure_sections(wh: Warehouse) -> list[str]:
    """The headings and bodies of the measure sections, in order."""
    enrolled = enrolled_by_year(wh)
    out: list[str] = []
    for title, make in SECTIONS:
        out += [f"<h2>{html.escape(title)}</h2>", make(wh, enrolled)]
    return out
