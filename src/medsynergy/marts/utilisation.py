"""utilisation: admissions, bed days and visits per payer x plan x year, and per 1,000.

Issue "Measures", mart 4. Rules and sources are in docs/marts/utilisation.md. In short:

* Denominator: member months of the payer x plan x year (member_months mart);
  person_years = member_months / 12 (exact DECIMAL(18,4)).
* Events are attributed to the payer, plan and year of their own row: stays by admission
  date, ED visits by visit date, claim lines by service date (claim_line_start_date, else
  claim_start_date). Events are not matched to enrollment: a payer x plan x year with
  events but no member months has a row with member_months 0 and null rates.
* admissions: acute transfer episodes, counted once, at the first stay of the episode
  (stay_id = episode_id) and its admission date. bed_days: every stay's length_of_stay,
  a same-day stay counting 1 day, in the year of the stay's admission.
* ed_visits: every ed_visits row (admitted or not); ed_visits_treat_and_release.
* office_em_visits: distinct person x date of 'professional_em' lines with HCPCS 99202-99215
  or G0438/G0439 (primary-care clinicians need the provider table; not used here).
* integrative_visits: distinct person x date x category among the integrative categories.
* <measure>_per_1000 = 12,000 x count / member_months as DECIMAL(18,1), rounded half up
  once with integer arithmetic (`cost.rounded_quotient`).

Set-based: every measure is aggregated on its own, the partial rows are put together with
UNION ALL and summed per payer x plan x year (no join, so a null plan is simply a group).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from medsynergy.marts.cost import COUNT, months_to_person_years, rounded_quotient, scaled
from medsynergy.marts.service_category import lines_in_categories

#: Office / outpatient E/M (new 99202-99205, established 99211-99215; 99206-99210 do not
#: exist, so the range is the same) and the Medicare annual wellness visits.
OFFICE_EM_CODES = (*(str(c) for c in range(99202, 99216)), "G0438", "G0439")
OFFICE_EM_CATEGORY = "professional_em"
INTEGRATIVE_CATEGORIES = ("acupuncture", "behavioral_health", "nutrition", "pt_chiropractic",
                          "coaching")
PER_THOUSAND_MONTHS = 12_000  # 1,000 member-years = 12,000 member months

COUNTS = (
    "admissions", "bed_days", "ed_visits", "ed_visits_treat_and_release", "office_em_visits",
    "integrative_visits",
)
KEYS = ("payer", "plan", "year")
COLUMNS = (
    *KEYS, "member_months", "person_years", *COUNTS, *(f"{c}_per_1000" for c in COUNTS),
)


def per_thousand(count: ir.IntegerValue, member_months: ir.IntegerValue) -> ir.DecimalValue:
    """12,000 x count / member_months as DECIMAL(18,1), rounded half up; null for 0 months."""
    return scaled(rounded_quotient(count.cast(COUNT) * (PER_THOUSAND_MONTHS * 10),
                                   member_months), 1)


def _partial(t: ir.Table, year: ir.IntegerValue, **measures: ir.IntegerScalar) -> ir.Table:
    """Aggregate `measures` of `t` per payer x plan x year, the other measures 0."""
    agg = t.group_by([t.payer.cast("string").name("payer"), t.plan.cast("string").name("plan"),
                      year.cast(COUNT).name("year")]).aggregate(
        **{k: v.cast(COUNT) for k, v in measures.items()})
    zero = ibis.literal(0, COUNT)
    return agg.select(*KEYS, **{c: agg[c] if c in measures else zero
                                for c in ("member_months", *COUNTS)})


def _visit_date(lines: ir.Table) -> ir.DateValue:
    return ibis.coalesce(lines.claim_line_start_date, lines.claim_start_date)


def utilisation_of_claims(member_months: ir.Table, stays: ir.Table, ed_visits: ir.Table,
                          medical_claim: ir.Table) -> ir.Table:
    """`utilisation` reading only the claim lines of the visit categories (what `measure`
    builds: categorising every line to keep a third of them cost twice as much)."""
    lines = lines_in_categories(medical_claim, (OFFICE_EM_CATEGORY, *INTEGRATIVE_CATEGORIES))
    return utilisation(member_months, stays, ed_visits, lines)


def utilisation(member_months: ir.Table, stays: ir.Table, ed_visits: ir.Table,
                service_lines: ir.Table) -> ir.Table:
    """One row per payer x plan x year with member months or events: counts and per 1,000.

    `stays` is the inpatient_stays mart, `ed_visits` the ed_visits mart, `service_lines` the
    service_category mart (or its lines of the visit categories: `utilisation_of_claims`).
    """
    mm = member_months
    parts = [_partial(mm, mm.year, member_months=mm.count())]

    s = stays
    first_of_episode = (s.stay_id == s.episode_id).fill_null(True)
    # same-day stay = 1 day; no length (date error) = 0 days. Not GREATEST: it skips nulls.
    los = s.length_of_stay.cast(COUNT)
    days = ibis.cases((los.isnull(), 0), (los < 1, 1), else_=los)
    parts.append(_partial(
        s, s.admission_date.year(),
        admissions=first_of_episode.cast(COUNT).sum().fill_null(0),
        bed_days=days.sum().fill_null(0),
    ))

    v = ed_visits
    parts.append(_partial(
        v, v.visit_date.year(),
        ed_visits=v.count(),
        ed_visits_treat_and_release=v.treat_and_release_flag.sum().fill_null(0),
    ))

    sl = service_lines
    sl = sl.mutate(_date=_visit_date(sl), _hcpcs=sl.hcpcs_code.strip().upper())
    em = sl.filter((sl.service_category == OFFICE_EM_CATEGORY)
                   & sl._hcpcs.isin(OFFICE_EM_CODES))
    em = em.select("person_id", "payer", "plan", "_date").distinct()
    parts.append(_partial(em, em._date.year(), office_em_visits=em.count()))

    ic = sl.filter(sl.service_category.isin(INTEGRATIVE_CATEGORIES))
    ic = ic.select("person_id", "payer", "plan", "_date", "service_category").distinct()
    parts.append(_partial(ic, ic._date.year(), integrative_visits=ic.count()))

    both = parts[0].union(*parts[1:], distinct=False)
    totals = both.group_by(list(KEYS)).aggregate(
        **{c: both[c].sum().cast(COUNT) for c in ("member_months", *COUNTS)})
    out = totals.mutate(
        person_years=months_to_person_years(totals.member_months),
        **{f"{c}_per_1000": per_thousand(totals[c], totals.member_months) for c in COUNTS},
    )
    return out.select(*COLUMNS).order_by(
        [out[c].asc(nulls_first=False) for c in KEYS])
