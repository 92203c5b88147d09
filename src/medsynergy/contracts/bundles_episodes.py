"""Bundled episodes, part 1: the episode terms and how episodes are built (issue "Payment
models", model 3). The target price and the reconciliation are in `bundles.py`;
docs/bundles.md has the rules with their sources and worked examples.

An episode (CJR, 42 CFR 510.2 and 510.210(a)) is an *anchor* and the days after it:

* Anchor. An acute inpatient stay (`inpatient_stays`) whose MS-DRG is in the
  definition's `drg` list (the anchor hospitalization, admission to discharge), or a
  medical claim line with a HCPCS code in its `hcpcs` list dated outside every acute
  stay of the person (the anchor procedure of an outpatient episode, CJR 510.2 /
  BPCI Advanced outpatient Clinical Episodes: an inpatient procedure belongs to its stay,
  which anchors by its DRG or not at all). Stays with impossible dates are not anchors.
* Window. From the anchor's first day to the `post_discharge_days`-th day after it ends,
  the discharge (or procedure) day itself counting as day 1: with 90 days, an episode
  discharged on 1 March ends on 29 May (CJR 510.210(a)(1): "ends on the 90th day after
  the date of discharge, with the day of discharge itself being counted as the first
  day"). So window_end_date = anchor_end_date + (post_discharge_days - 1).
* Overlaps. Anchors of one definition for one person are taken in date order; an anchor
  that begins on or before the window end of the episode in progress does not start an
  episode (its spending is already in that one), and the window is not extended: the
  next episode starts with the first anchor after it (CMS: a readmission for the same
  episode type during the post-discharge period belongs to the first episode; BPCI
  Advanced Clinical Episode Construction Specifications, overlapping Clinical Episodes).
  Definitions are independent: a heart-failure stay during a joint-replacement window
  starts a heart-failure episode and its lines count in both.
* Spend. Every claim line of the person (medical lines, and pharmacy lines when
  'pharmacy' is an included category) whose service date (line start, else claim start;
  dispensing date) falls in the window and whose service category is included: by
  default every category but 'pharmacy' (CJR 510.200(b): Parts A and B items and
  services; Part D is outside), minus `exclude_categories`. A line counts whole by its
  service date (CMS prorates services that straddle the window end; we do not).
* Year. An episode belongs to the year its anchor ends in.
* Initiator (who is reconciled). 'facility': the facility NPI of the anchor stay (CJR
  510.200(c): the participant hospital where the anchor occurs); for an anchor procedure,
  the facility NPI of its line, else its billing NPI (an office or ASC procedure).
  'billing_tin': the TIN that billed the most (basis amount) professional lines dated
  during the anchor stay (ties: the smaller TIN), or the TIN billing the procedure line
  (BPCI Advanced physician group practice initiator, approximated without the attending
  or operating NPI, which the claims input layer lacks).

The overlap rule is sequential (each episode decides where the next may start). It is
resolved set-based in `max_chain` - 1 rounds, one join each over the (small) table of
anchors: round k finds every person's k-th episode of every definition at once. The
caller passes the largest number of anchors one person has for one definition
(`max_anchors`), a bound on the episodes of one chain, so the rounds are always enough.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
from pydantic import Field, field_validator, model_validator

from medsynergy.contracts.bind import Tables
from medsynergy.contracts.terms import Strict
from medsynergy.marts.cost import COUNT, MONEY, PHARMACY, money_sum
from medsynergy.marts.service_category import CATEGORY_GROUP, lines_in_categories

if TYPE_CHECKING:
    from medsynergy.contracts.bundles import BundleSpec

#: every service category a definition may include or exclude (service_category.py)
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_GROUP)
#: the risk model whose score is the payment score (the `risk` mart)
RISK_MODEL = "blend"
RISK_SCORE = idt.Decimal(10, 3)   # CMS publishes risk scores to 3 decimals
FACTOR = idt.Decimal(18, 6)
# Medicare-Medicaid dual status codes (CMS MMCO, as in the CMS-HCC model segments):
# full-benefit duals QMB+ 02, SLMB+ 04, other full 08; partial: QMB only 01, SLMB only
# 03, QDWI 05, QI 06. 00 (not dual), 09 and 99 (unknown) are neither.
FULL_DUAL = ("02", "04", "08")
PARTIAL_DUAL = ("01", "03", "05", "06")
UNKNOWN_INITIATOR = "unknown"

EPISODE_COLUMNS: tuple[str, ...] = (
    "episode_id", "definition_id", "person_id", "year", "anchor_kind", "trigger_code",
    "anchor_start_date", "anchor_end_date", "window_end_date", "initiator_type",
    "initiator",
)
CASE_MIX_COLUMNS: tuple[str, ...] = ("age", "dual_status_code", "risk_score")


# -- terms -----------------------------------------------------------------------------------


class Trigger(Strict):
    """What anchors an episode: an inpatient stay with one of these MS-DRGs, and/or an
    outpatient procedure line with one of these HCPCS codes."""

    drg: tuple[str, ...] = ()
    hcpcs: tuple[str, ...] = ()

    @field_validator("drg", mode="before")
    @classmethod
    def _drg_text(cls, v: object) -> object:
        # YAML reads 470 as an int and 065 as 65: MS-DRGs are 3-digit codes
        if isinstance(v, list | tuple):
            return tuple(f"{x:03d}" if isinstance(x, int) else str(x).strip() for x in v)
        return v

    @field_validator("hcpcs", mode="before")
    @classmethod
    def _hcpcs_text(cls, v: object) -> object:
        if isinstance(v, list | tuple):
            return tuple(str(x).strip().upper() for x in v)
        return v

    @model_validator(mode="after")
    def _some(self) -> Trigger:
        if not self.drg and not self.hcpcs:
            raise ValueError("a trigger needs at least one MS-DRG (drg) or HCPCS code (hcpcs)")
        bad = [c for c in self.drg if len(c) != 3 or not c.isdigit()]
        if bad:
            raise ValueError(f"drg: MS-DRGs are 3 digits (got {', '.join(bad)})")
        return self


class EpisodeDef(Strict):
    """One episode type: its trigger, window, service categories and initiator."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    trigger: Trigger
    #: days after the anchor, the discharge day being day 1 (CJR 510.210(a)(1))
    post_discharge_days: int = Field(default=90, ge=1, le=365)
    #: null: every category but 'pharmacy' (CJR 510.200(b), Parts A and B)
    include_categories: tuple[str, ...] | None = None
    exclude_categories: tuple[str, ...] = ()
    initiator: Literal["facility", "billing_tin"] = "facility"

    @model_validator(mode="after")
    def _categories(self) -> EpisodeDef:
        for name in ("include_categories", "exclude_categories"):
            given = getattr(self, name) or ()
            unknown = [c for c in given if c not in CATEGORIES]
            if unknown:
                raise ValueError(f"{name}: unknown service categories {', '.join(unknown)}; "
                                 f"known: {', '.join(CATEGORIES)}")
        both = set(self.include_categories or ()) & set(self.exclude_categories)
        if both:
            raise ValueError(f"both included and excluded: {', '.join(sorted(both))}")
        return self

    def categories(self) -> tuple[str, ...]:
        """The categories whose lines count, in the order of CATEGORIES."""
        given = (self.include_categories if self.include_categories is not None
                 else tuple(c for c in CATEGORIES if c != PHARMACY))
        return tuple(c for c in CATEGORIES if c in given and c not in self.exclude_categories)


class AgeBand(Strict):
    """From this age (at the anchor's first day) on, until the next band: this factor."""

    from_age: int = Field(ge=0)
    factor: Decimal = Field(gt=0, le=100, decimal_places=6)


class CaseMix(Strict):
    """Multiplicative patient case-mix factors of an episode's target (docs/bundles.md):
    age band x ((1 - risk_weight) + risk_weight x payment risk score) x dual factor;
    `bundles.py` normalises them so the baseline episodes average 1."""

    age_bands: tuple[AgeBand, ...] = ()
    #: 0: no risk adjustment; 1: the target is proportional to the risk score
    risk_weight: Decimal = Field(default=Decimal(0), ge=0, le=1, decimal_places=6)
    full_dual: Decimal = Field(default=Decimal(1), gt=0, le=100, decimal_places=6)
    partial_dual: Decimal = Field(default=Decimal(1), gt=0, le=100, decimal_places=6)

    @model_validator(mode="after")
    def _bands(self) -> CaseMix:
        ages = [b.from_age for b in self.age_bands]
        if any(b <= a for a, b in pairwise(ages)):
            raise ValueError("age_bands: from_age must increase")
        return self


# -- anchors ---------------------------------------------------------------------------------


def _amount(t: ir.Table, basis: str) -> ir.NumericColumn:
    col: ir.NumericColumn = t.paid_amount if basis == "paid" else t.allowed_amount
    return col


def _service_date(t: ir.Table) -> ir.DateValue:
    return ibis.coalesce(t.claim_line_start_date, t.claim_start_date).cast("date")


def _window_end(end: ir.DateValue, days: int) -> ir.DateValue:
    # the discharge day is day 1 (CJR 510.210(a)(1)): N days end N - 1 days after it
    return (end + ibis.interval(days=days - 1)).cast("date")


def _stay_anchors(d: EpisodeDef, stays: ir.Table, through: dt.date) -> ir.Table:
    s = stays
    s = s.filter(s.drg_code.strip().isin(list(d.trigger.drg)),
                 s.date_error_flag.fill_null(0) == 0,
                 s.admission_date.notnull(), s.discharge_date.notnull(),
                 s.discharge_date <= through)
    return s.select(
        definition_id=ibis.literal(d.id), person_id=s.person_id.cast("string"),
        anchor_id=s.stay_id.cast("string"), anchor_kind=ibis.literal("drg"),
        trigger_code=s.drg_code.strip(), anchor_start_date=s.admission_date.cast("date"),
        anchor_end_date=s.discharge_date.cast("date"),
        window_end_date=_window_end(s.discharge_date.cast("date"), d.post_discharge_days),
        initiator_type=ibis.literal(d.initiator), _facility=s.facility_npi.cast("string"),
        _tin=ibis.null("string"))


def _procedure_anchors(d: EpisodeDef, medical_claim: ir.Table, stays: ir.Table,
                       through: dt.date) -> ir.Table:
    """One anchor per person and day with a trigger HCPCS line outside every acute stay.
    Of several lines that day, the initiator comes from the first institutional line
    (facility) or the first professional line (billing_tin), then by claim and line."""
    m = medical_claim
    m = m.mutate(_day=_service_date(m), _code=m.hcpcs_code.strip().upper())
    m = m.filter(m._code.isin(list(d.trigger.hcpcs)), m._day.notnull(), m._day <= through)
    st = stays.select(_sp=stays.person_id.cast("string"), _sa=stays.admission_date,
                      _sd=stays.discharge_date)
    m = m.anti_join(st, [m.person_id == st._sp, m._day >= st._sa, m._day <= st._sd])
    first_kind = "institutional" if d.initiator == "facility" else "professional"
    order = [ibis.ifelse(m.claim_type == first_kind, 0, 1), m.claim_id,
             m.claim_line_number, m.data_source]
    m = m.mutate(_n=ibis.row_number().over(
        ibis.window(group_by=[m.person_id, m._day], order_by=order)))
    m = m.filter(m._n == 0)
    return m.select(
        definition_id=ibis.literal(d.id), person_id=m.person_id.cast("string"),
        anchor_id=(m.person_id + "-" + m.data_source.fill_null("") + "-" + m.claim_id
                   + "-" + m.claim_line_number.cast("string")).cast("string"),
        anchor_kind=ibis.literal("hcpcs"), trigger_code=m._code,
        anchor_start_date=m._day, anchor_end_date=m._day,
        window_end_date=_window_end(m._day, d.post_discharge_days),
        initiator_type=ibis.literal(d.initiator),
        _facility=ibis.coalesce(m.facility_npi, m.billing_npi).cast("string"),
        _tin=m.billing_tin.cast("string"))


def anchors(spec: BundleSpec, tables: Tables, through_year: int) -> ir.Table:
    """Every anchor of every definition ending by 31 December `through_year` (before the
    overlap rule), with its window and initiator."""
    through = dt.date(through_year, 12, 31)
    stays = tables("inpatient_stays")
    parts: list[ir.Table] = []
    for d in spec.episodes:   # a few definitions: one expression each, unioned
        if d.trigger.drg:
            parts.append(_stay_anchors(d, stays, through))
        if d.trigger.hcpcs:
            parts.append(_procedure_anchors(d, tables("medical_claim"), stays, through))
    a = parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]
    if any(d.initiator == "billing_tin" for d in spec.episodes):
        a = _with_stay_tin(a, tables("medical_claim"), spec.basis)
    initiator = ibis.ifelse(a.initiator_type == "facility", a._facility, a._tin)
    return a.mutate(initiator=initiator.fill_null(UNKNOWN_INITIATOR)).drop("_facility", "_tin")


def _with_stay_tin(a: ir.Table, medical_claim: ir.Table, basis: str) -> ir.Table:
    """Stay anchors of 'billing_tin' definitions get the TIN that billed the most
    professional lines dated during the stay (ties: the smaller TIN)."""
    stay = a.filter((a.anchor_kind == "drg") & (a.initiator_type == "billing_tin"))
    stay = stay.select(_d=stay.definition_id, _a=stay.anchor_id, _p=stay.person_id,
                       _s=stay.anchor_start_date, _e=stay.anchor_end_date)
    m = medical_claim
    m = m.filter(m.claim_type == "professional", m.billing_tin.notnull())
    m = m.select(_mp=m.person_id.cast("string"), _day=_service_date(m), _tin2=m.billing_tin,
                 _amt=_amount(m, basis))
    j = stay.join(m, [stay._p == m._mp, m._day >= stay._s, m._day <= stay._e])
    by_tin = j.group_by([j._d, j._a, j._tin2]).aggregate(_sum=money_sum(j._amt))
    by_tin = by_tin.mutate(_n=ibis.row_number().over(ibis.window(
        group_by=[by_tin._d, by_tin._a], order_by=[by_tin._sum.desc(), by_tin._tin2])))
    top = by_tin.filter(by_tin._n == 0).select("_d", "_a", "_tin2")
    out = a.left_join(top, [a.definition_id == top._d, a.anchor_id == top._a])
    return out.mutate(_tin=ibis.coalesce(out._tin, out._tin2)).drop("_d", "_a", "_tin2")


def max_anchors(spec: BundleSpec, tables: Tables, through_year: int) -> ir.Table:
    """One row, `max_anchors`: the most anchors one person has for one definition (0 when
    there are none); an upper bound on the episodes of one chain, for `episodes`."""
    a = anchors(spec, tables, through_year)
    n = a.group_by(["definition_id", "person_id"]).aggregate(_n=a.count())
    return n.aggregate(max_anchors=n._n.max().fill_null(0).cast(COUNT))


# -- overlap rule ----------------------------------------------------------------------------


def _starters(a: ir.Table, max_chain: int) -> ir.Table:
    """The anchors that start an episode: per definition and person, the first anchor,
    then the first anchor beginning after that episode's window end, and so on."""
    w = ibis.window(group_by=[a.definition_id, a.person_id],
                    order_by=[a.anchor_start_date, a.anchor_end_date, a.anchor_id])
    a = a.mutate(_i=ibis.row_number().over(w))
    left = a.select(_d=a.definition_id, _p=a.person_id, _i=a._i, _wend=a.window_end_date)
    right = a.select(_d2=a.definition_id, _p2=a.person_id, _j=a._i,
                     _start=a.anchor_start_date)
    j = left.left_join(right, [left._d == right._d2, left._p == right._p2,
                               right._start > left._wend])
    # anchors are numbered in start order: the first one after the window has the
    # smallest number of those that start after it
    nxt = j.group_by([j._d, j._p, j._i]).aggregate(_next=j._j.min())
    frontier = a.filter(a._i == 0).select(_d=a.definition_id, _p=a.person_id, _k=a._i)
    found = [frontier]
    for _ in range(max_chain - 1):
        step = frontier.join(nxt, [frontier._d == nxt._d, frontier._p == nxt._p,
                                   frontier._k == nxt._i])
        frontier = step.filter(step._next.notnull()).select(
            _d=step._d, _p=step._p, _k=step._next)
        found.append(frontier)
    starts = found[0].union(*found[1:], distinct=False) if len(found) > 1 else found[0]
    out = a.semi_join(starts, [a.definition_id == starts._d, a.person_id == starts._p,
                               a._i == starts._k])
    return out.drop("_i")


# -- episodes and their spend ----------------------------------------------------------------


def _lines(spec: BundleSpec, tables: Tables) -> ir.Table:
    """Claim lines of the categories some definition includes: person, service date,
    category and the basis amount."""
    wanted = sorted({c for d in spec.episodes for c in d.categories()})
    medical = [c for c in wanted if c != PHARMACY]
    parts: list[ir.Table] = []
    if medical:
        s = lines_in_categories(tables("medical_claim"), medical)
        parts.append(s.select(_lp=s.person_id.cast("string"), _day=_service_date(s),
                              service_category=s.service_category.cast("string"),
                              _amt=_amount(s, spec.basis).cast(MONEY)))
    if PHARMACY in wanted:
        p = tables("pharmacy_claim")
        parts.append(p.select(_lp=p.person_id.cast("string"),
                              _day=p.dispensing_date.cast("date"),
                              service_category=ibis.literal(PHARMACY),
                              _amt=_amount(p, spec.basis).cast(MONEY)))
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]


def episode_spend(spec: BundleSpec, tables: Tables, years: Sequence[int],
                  max_chain: int) -> ir.Table:
    """One row per episode x service category with lines in its window: EPISODE_COLUMNS,
    service_category, claim_lines, spend (DECIMAL(18,2), the `basis` amount)."""
    return _spend_of(spec, tables, _episode_anchors(spec, tables, years, max_chain))


def _spend_of(spec: BundleSpec, tables: Tables, ep: ir.Table) -> ir.Table:
    allowed = ibis.memtable({
        "_ad": [d.id for d in spec.episodes for _ in d.categories()],
        "_ac": [c for d in spec.episodes for c in d.categories()],
    }, schema={"_ad": "string", "_ac": "string"})
    lines = _lines(spec, tables)
    j = ep.join(lines, [ep.person_id == lines._lp, lines._day >= ep.anchor_start_date,
                        lines._day <= ep.window_end_date])
    j = j.join(allowed, [j.definition_id == allowed._ad, j.service_category == allowed._ac])
    return j.group_by([*EPISODE_COLUMNS, "service_category"]).aggregate(
        claim_lines=j.count().cast(COUNT), spend=money_sum(j._amt))


def _episode_anchors(spec: BundleSpec, tables: Tables, years: Sequence[int],
                     max_chain: int) -> ir.Table:
    a = _starters(anchors(spec, tables, max(years)), max_chain)
    a = a.mutate(year=a.anchor_end_date.year().cast(COUNT))
    a = a.filter(a.year.isin(sorted(set(years))))
    return a.mutate(episode_id=(a.definition_id + ":" + a.anchor_id).cast("string")
                    ).select(*EPISODE_COLUMNS)


def episodes(spec: BundleSpec, tables: Tables, years: Sequence[int], max_chain: int
             ) -> ir.Table:
    """One row per episode anchored (ending) in `years`: EPISODE_COLUMNS, claim_lines,
    spend and one `spend_<category>` column per category some definition includes (0
    where the category is not included or has no lines), and, with a case mix, the
    patient's age, dual status code and risk score (CASE_MIX_COLUMNS).

    `max_chain`: at least the most anchors one person has for one definition
    (`max_anchors`); fewer rounds would miss later episodes of long chains."""
    ep = _episode_anchors(spec, tables, years, max_chain)
    cats = [c for c in CATEGORIES if any(c in d.categories() for d in spec.episodes)]
    sp = _spend_of(spec, tables, ep)
    zero = ibis.literal(0, MONEY)
    sums = sp.group_by(sp.episode_id.name("_eid")).aggregate(
        _lines=sp.claim_lines.sum().cast(COUNT), _spend=money_sum(sp.spend),
        **{f"_s_{c}": money_sum(ibis.ifelse(sp.service_category == c, sp.spend, zero))
           for c in cats})
    out = ep.left_join(sums, ep.episode_id == sums._eid)
    out = out.select(
        *EPISODE_COLUMNS, claim_lines=out._lines.fill_null(0).cast(COUNT),
        spend=out._spend.fill_null(zero).cast(MONEY),
        **{f"spend_{c}": out[f"_s_{c}"].fill_null(zero).cast(MONEY) for c in cats})
    if spec.case_mix is not None:
        out = _with_case_mix(out, tables, spec.case_mix)
    return out.order_by(["definition_id", "anchor_start_date", "episode_id"])


def _with_case_mix(ep: ir.Table, tables: Tables, case_mix: CaseMix) -> ir.Table:
    """Age at the anchor's first day, dual status code of the enrollment span covering
    it (the highest code when several do), payment risk score of the episode's year."""
    e = tables("eligibility")
    birth = e.group_by(e.person_id.cast("string").name("_bp")).aggregate(
        _birth=e.birth_date.min())
    out = ep.left_join(birth, ep.person_id == birth._bp)
    s, b = out.anchor_start_date, out._birth
    before_birthday = (s.month() < b.month()) | ((s.month() == b.month()) & (s.day() < b.day()))
    out = out.mutate(age=(s.year() - b.year() - ibis.ifelse(before_birthday, 1, 0)).cast(COUNT)
                     ).drop("_bp", "_birth")
    cover = e.select(_ep=e.person_id.cast("string"), _es=e.enrollment_start_date,
                     _ee=e.enrollment_end_date, _dual=e.dual_status_code.strip())
    k = ep.select(_k=ep.episode_id, _kp=ep.person_id, _ks=ep.anchor_start_date)
    j = k.join(cover, [k._kp == cover._ep, k._ks >= cover._es, k._ks <= cover._ee])
    dual = j.group_by(j._k).aggregate(dual_status_code=j._dual.max())
    out = out.left_join(dual, out.episode_id == dual._k).drop("_k")
    if case_mix.risk_weight > 0:
        r = tables("risk")
        r = r.filter(r.model == RISK_MODEL).select(
            _rp=r.person_id.cast("string"), _ry=r.payment_year.cast(COUNT),
            risk_score=r.payment_score.cast(RISK_SCORE))
        out = out.left_join(r, [out.person_id == r._rp, out.year == r._ry]).drop("_rp", "_ry")
    else:
        out = out.mutate(risk_score=ibis.null(RISK_SCORE))
    return out
