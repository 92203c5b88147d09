"""The population a contract pays for, one row per member-year (set-based, Ibis).

A contract covers the members enrolled with its payer (and plans) in its year. For each
member-year the row holds the member-months, the demographics a rate or a risk
adjustment needs, the attributed provider group and the spend of the member's enrolled
months, split as the contract asks (e.g. covered vs carved-out categories). The spend of
a line counts when the person has a member-month of the line's own payer and plan in the
line's month, as in the cost marts: the sums come from the member_spend mart
(`marts.cost.member_spend`, level 'person_category')."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from pydantic import Field

from medsynergy.contracts.bind import Tables
from medsynergy.contracts.terms import Strict
from medsynergy.marts.cost import LEVEL_PERSON_CATEGORY

MONEY = dt.Decimal(18, 2)
RISK = dt.Decimal(18, 6)
#: sums of many lines: wide enough never to overflow
TOTAL = dt.Decimal(38, 2)

#: CCLF/MMR dual status codes of a full or partial dual eligible (00 / NA: not dual;
#: 09, 10, 99: other or unknown, read as not dual)
DUAL_CODES = ("01", "02", "03", "04", "05", "06", "08")
#: Medicare status codes (CMS CCLF): 11 aged with ESRD, 21 disabled with ESRD, 31 ESRD
#: only; 20 disabled without ESRD; 10 aged without ESRD
ESRD_STATUS = ("11", "21", "31")
DISABLED_STATUS = ("20",)

Basis = Literal["paid", "allowed"]
#: an amount the contract sums per member-year, as an expression on categorised spend
#: (columns: service_category, service_category_group, paid_amount, allowed_amount).
#: It must be linear in the amounts within a category: it is applied to the per-category
#: sums of `category_spend`, which then equals applying it line by line.
LineAmount = Callable[[ir.Table], ir.NumericValue]


class Population(Strict):
    """Whom a contract covers: the members with a member-month of `payer` (and, when
    given, of one of `plans`) in the year. No payer: everyone enrolled."""

    payer: str | None = None
    plans: tuple[str, ...] = Field(default=())
    #: which amount of a claim is spend: what the payer paid, or the allowed amount
    basis: Basis = "paid"


def _member_months(tables: Tables, year: int, population: Population) -> ir.Table:
    mm = tables("member_months")
    mm = mm.filter(mm.year == year)
    if population.payer is not None:
        mm = mm.filter(mm.payer == population.payer)
    if population.plans:
        mm = mm.filter(mm.plan.isin(list(population.plans)))
    return mm


def category_spend(tables: Tables, population: Population) -> ir.Table:
    """The enrolled lines of the population summed per person x payer x plan x year x
    service category (paid and allowed): every amount a contract sums per member-year is
    linear in a line's category and its paid or allowed amount, so it sums these rows
    exactly as it would sum the lines.

    These sums are the 'person_category' level of the member_spend mart: `measure` matches
    the lines to the member-months once, and no contract joins them again (at 10M
    member-years that join of 540M lines to 121M member-months is the costliest step of a
    run)."""
    spend = tables("member_spend")
    t = spend.filter(spend.level == LEVEL_PERSON_CATEGORY)
    if population.payer is not None:
        t = t.filter(t.payer == population.payer)
    if population.plans:
        t = t.filter(t.plan.isin(list(population.plans)))
    return t.select("person_id", "payer", "plan", "year", "service_category",
                    "service_category_group", paid_amount=t.paid_amount.cast(TOTAL),
                    allowed_amount=t.allowed_amount.cast(TOTAL))


def line_amount(basis: Basis) -> LineAmount:
    """The spend of a line on `basis`."""
    return lambda t: t.paid_amount if basis == "paid" else t.allowed_amount


def in_categories(basis: Basis, categories: Sequence[str] | None,
                  exclude: Sequence[str] = ()) -> LineAmount:
    """The spend of a line when its category is in `categories` (None: any) and not in
    `exclude`; else 0."""
    def amount(t: ir.Table) -> ir.NumericValue:
        cond = ibis.literal(True)
        if categories is not None:
            cond = cond & t.service_category.isin(list(categories))
        if exclude:
            cond = cond & ~t.service_category.isin(list(exclude))
        value: ir.NumericValue = line_amount(basis)(t)
        return ibis.ifelse(cond, value, ibis.literal(0, MONEY))
    return amount


def member_years(tables: Tables, year: int, population: Population,
                 amounts: Mapping[str, LineAmount]) -> ir.Table:
    """One row per person with a member-month in the population in `year`:

    person_id, member_months (distinct months), age (on 1 February of `year`, the CMS-HCC
    convention), sex, dual_flag (dual in any month), enrollment_type (esrd / disabled /
    aged_dual / aged_nondual, from the latest month's Medicare status, as MSSP's
    per-capita categories; no status: by age), risk_score (the `risk` mart's payment
    score of payment year `year`, null when none), attributed_tin (the `attribution`
    mart's TIN of `year`, null when unattributed), and one DECIMAL column per entry of
    `amounts`: the sum of that per-line amount over the person's enrolled lines."""
    mm = _member_months(tables, year, population)
    latest = mm.mutate(_rank=ibis.row_number().over(
        group_by=mm.person_id, order_by=[ibis.desc(mm.month_start_date),
                                         ibis.desc(mm.person_month_flag)]))
    latest = latest.filter(latest._rank == 0)
    feb1 = ibis.date(year, 2, 1)
    born = latest.birth_date
    age = (feb1.year() - born.year()
           - ibis.ifelse((feb1.month() < born.month())
                         | ((feb1.month() == born.month()) & (feb1.day() < born.day())), 1, 0))
    status = latest.medicare_status_code
    esrd = status.isin(list(ESRD_STATUS))
    disabled = status.isin(list(DISABLED_STATUS)) | (status.isnull() & (age < 65))
    per_person = mm.group_by("person_id").aggregate(
        member_months=mm.month_start_date.nunique().cast("int64"),
        dual_flag=mm.dual_status_code.isin(list(DUAL_CODES)).fill_null(False)
        .cast("int64").max(),
    )
    demo = latest.select(
        _d_person=latest.person_id, age=age.cast("int64"), sex=latest.gender,
        _esrd=esrd.fill_null(False), _disabled=disabled.fill_null(False))
    people = per_person.join(demo, per_person.person_id == demo._d_person)
    people = people.mutate(enrollment_type=ibis.cases(
        (people._esrd, "esrd"), (people._disabled, "disabled"),
        (people.dual_flag == 1, "aged_dual"), else_="aged_nondual"))
    risk = tables("risk")
    risk = risk.filter((risk.payment_year == year) & (risk.model == "blend")).select(
        # scores as exact decimals (CMS publishes 3; normalised and blended scores carry
        # more): products and means of them stay exact
        _r_person=risk.person_id, risk_score=risk.payment_score.cast(RISK))
    attribution = tables("attribution")
    attribution = attribution.filter(attribution.year == year).select(
        _a_person=attribution.person_id, attributed_tin=attribution.attributed_tin)
    people = people.left_join(risk, people.person_id == risk._r_person)
    people = people.left_join(attribution, people.person_id == attribution._a_person)
    out = people.select("person_id", "member_months", "age", "sex", "dual_flag",
                        "enrollment_type", "risk_score", "attributed_tin")
    if not amounts:
        return out
    lines = category_spend(tables, population)
    lines = lines.filter(lines.year == year)
    values = {name: f(lines) for name, f in amounts.items()}
    types = {name: _sum_type(v) for name, v in values.items()}
    sums = lines.group_by(_s_person=lines.person_id).aggregate(
        **{name: v.sum().cast(types[name]) for name, v in values.items()})
    out = out.left_join(sums, out.person_id == sums._s_person)
    return out.select(*[c for c in out.columns if c != "_s_person" and c not in amounts],
                      **{name: out[name].fill_null(ibis.literal(0, types[name]))
                         for name in amounts})


def _sum_type(value: ir.Value) -> dt.DataType:
    """DECIMAL(38, s) keeping every decimal of the per-line amount (a repriced line
    carries more than cents: it is rounded once, at the end)."""
    kind = value.type()
    scale = kind.scale if isinstance(kind, dt.Decimal) and kind.scale is not None else 2
    return dt.Decimal(38, max(scale, 2))
