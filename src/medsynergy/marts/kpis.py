"""kpis: the contract measures per attributed provider group (TIN) and year.

Issue "Measures", mart 10. Rules and sources are in docs/marts/kpis.md. In short:

* Grain: one row per year x attributed_tin of the `attribution` mart. Members without an
  attributed TIN (attributed_tin null) form their own group, so no member disappears.
* Every measure is first computed per member x year, joined to the member's attribution
  row of that year (person_id, year: never-null keys), then summed per year x TIN. Events of
  a person in a year without an attribution row (not enrolled that year) count nowhere.
* Cost: medical and pharmacy lines, dated by service date, counted when the member has a
  member month (any payer or plan) in the service month: the 'person_year' level of the
  member_spend mart (`cost.member_spend`). member_months counts distinct person x month, so a person
  with two coverages in one month is one member month of the group.
* All rates are exact: counts and money are integers (cents, 10^-k units) divided with
  `cost.rounded_quotient` (half away from zero, once) and turned into DECIMAL by
  `cost.scaled`. No decimal or float division reaches an engine.
* Small cells: `small_cell_flag` = members < 11; each rate with its own denominator has its
  `<measure>_small_cell_flag` = denominator < 11 (CMS cell-size suppression policy).

Set-based Ibis only (joins, windows, group-bys), so the expression compiles for DuckDB and
PySpark. Date arithmetic is DATEDIFF (`delta`) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from medsynergy.marts.cost import (
    COUNT,
    LEVEL_PERSON_YEAR,
    MONEY,
    cents,
    money_sum,
    per_member_month,
    rounded_quotient,
    scaled,
)

RATE = dt.Decimal(18, 4)
PER_1000 = dt.Decimal(18, 1)
SCORE = dt.Decimal(18, 4)
FLAG = dt.Int64()

#: CMS cell-size suppression policy: no cell of 1-10 is published; we flag < 11.
SMALL_CELL = 11
#: Risk model read from the `risk` mart (the payment year's blend, ESRD model for ESRD).
RISK_MODEL = "blend"
#: Decimal places a (DOUBLE) normalised score is read with before the exact mean.
RISK_READ_PLACES = 6
RISK_PLACES = 4
#: 1,000 member-years = 12,000 member months.
PER_THOUSAND_MONTHS = 12_000

#: Follow-up visits: transitional care management (99495, 99496), office / outpatient E/M
#: (99202-99215; 99206-99210 do not exist) and the annual wellness visits (G0438, G0439).
FOLLOW_UP_CODES: tuple[str, ...] = (
    "99495", "99496", *(str(c) for c in range(99202, 99216)), "G0438", "G0439")
#: A follow-up visit counts on day 1..7 after the discharge day (HEDIS FUH / FUM: "within
#: 7 days after discharge", visits on the date of discharge do not count).
FOLLOW_UP_FIRST_DAY = 1
FOLLOW_UP_DAYS = 7
#: Readmissions-mart exclusions that mean "not a live discharge at the end of an episode":
#: no follow-up can be expected for these rows.
NOT_A_DISCHARGE = ("not_last_in_transfer_chain", "invalid_dates", "died_in_hospital")
#: Annual wellness visit, initial and subsequent.
AWV_CODES: tuple[str, ...] = ("G0438", "G0439")
#: PROMIS defaults: Global Physical Health, improved at >= 3 T-score points (the promis
#: mart's minimally important difference).
PROMIS_SCALE = "physical"
PROMIS_THRESHOLD = Decimal("3")

COLUMNS = (
    "year", "attributed_tin", "members", "member_months", "paid_amount", "allowed_amount",
    "paid_pmpm", "members_without_risk_score", "mean_risk_score", "risk_adjusted_paid_pmpm",
    "index_stays", "readmissions", "readmission_rate", "unplanned_readmissions",
    "unplanned_readmission_rate", "ed_visits", "ed_visits_per_1000",
    "discharges_eligible_for_follow_up", "followed_up_7_days", "follow_up_7_day_rate",
    "opioid_users", "high_dose_opioid_users", "high_dose_opioid_rate", "promis_members",
    "promis_improved", "promis_improvement_rate", "awv_members", "awv_rate",
    "small_cell_flag", "risk_score_small_cell_flag", "readmission_small_cell_flag",
    "follow_up_small_cell_flag", "high_dose_opioid_small_cell_flag",
    "promis_small_cell_flag",
)

#: Per member x year counts summed to the group (all BIGINT, 0 when none).
_COUNTS = (
    "member_months", "_has_risk", "_risk_units", "index_stays", "readmissions",
    "unplanned_readmissions", "ed_visits", "discharges_eligible_for_follow_up",
    "followed_up_7_days", "opioid_users", "high_dose_opioid_users", "promis_members",
    "promis_improved", "awv_members",
)


# -- helpers ---------------------------------------------------------------------------------


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 BIGINT; unknown (null) is 0."""
    return cond.fill_null(False).cast(FLAG)


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole days from `earlier` to `later` (DATEDIFF on both engines)."""
    return later.delta(earlier, unit="day")


def _rate(numerator: ir.IntegerValue, denominator: ir.IntegerValue, places: int
          ) -> ir.DecimalValue:
    """numerator / denominator as DECIMAL(18, places), half away from zero, exact; null
    when the denominator is 0."""
    return scaled(rounded_quotient(numerator.cast(COUNT) * 10**places, denominator),
                  places).cast(dt.Decimal(18, places))


def _small(denominator: ir.IntegerValue, threshold: int) -> ir.IntegerValue:
    return _flag(denominator < threshold)


def _code(col: ir.StringValue) -> ir.StringValue:
    return col.strip().upper()


def _attach(base: ir.Table, part: ir.Table, columns: Sequence[str]) -> ir.Table:
    """`base` (person_id, year, ...) with `columns` of `part` (keyed by person_id, year) left
    joined; missing values become 0."""
    p = part.select(_j_person=part.person_id, _j_year=part.year,
                    **{c: part[c] for c in columns})
    j = base.left_join(p, [base.person_id == p._j_person, base.year == p._j_year])
    zero = ibis.literal(0, COUNT)
    return j.select(*base.columns,
                    **{c: j[c].fill_null(zero).cast(COUNT) for c in columns})


def _attach_money(base: ir.Table, part: ir.Table, columns: Sequence[str]) -> ir.Table:
    p = part.select(_j_person=part.person_id, _j_year=part.year,
                    **{c: part[c] for c in columns})
    j = base.left_join(p, [base.person_id == p._j_person, base.year == p._j_year])
    zero = ibis.literal(0, MONEY)
    return j.select(*base.columns,
                    **{c: j[c].fill_null(zero).cast(MONEY) for c in columns})


# -- per member x year -----------------------------------------------------------------------


def _members(attribution: ir.Table) -> ir.Table:
    a = attribution
    return a.select(person_id=a.person_id.cast("string"), year=a.year.cast(COUNT),
                    attributed_tin=a.attributed_tin.cast("string"))


def _months(member_months: ir.Table) -> ir.Table:
    """Enrolled months per person x year, each month once across payers and plans (the
    rows with person_month_flag 1: no distinct over every member month)."""
    mm = member_months.filter(member_months.person_month_flag == 1)
    return mm.group_by(person_id=mm.person_id.cast("string"),
                       year=mm.month_start_date.year().cast(COUNT)).aggregate(
        member_months=mm.count().cast(COUNT))


def _spend(spend: ir.Table) -> ir.Table:
    """paid / allowed per person x year of lines in an enrolled month of the person (any
    payer or plan): the member_spend rows of level 'person_year'."""
    s = spend.filter(spend.level == LEVEL_PERSON_YEAR)
    return s.group_by(person_id=s.person_id.cast("string"), year=s.year.cast(COUNT)
                      ).aggregate(paid_amount=money_sum(s.paid_amount),
                                  allowed_amount=money_sum(s.allowed_amount))


def _risk(risk: ir.Table) -> ir.Table:
    """Per person x payment year with a blend score: _has_risk = 1 and _risk_units (the
    normalised score in 10^-RISK_READ_PLACES units, BIGINT)."""
    r = risk.filter((risk.model == RISK_MODEL) & risk.normalized_score.notnull())
    r = r.group_by(person_id=r.person_id.cast("string"), year=r.payment_year.cast(COUNT)
                   ).aggregate(_score=r.normalized_score.max())
    exact = r._score.cast(dt.Decimal(18, RISK_READ_PLACES))
    return r.select("person_id", "year", _has_risk=ibis.literal(1, COUNT),
                    _risk_units=(exact * 10**RISK_READ_PLACES).cast(COUNT))


def _readmissions(readmissions: ir.Table) -> ir.Table:
    r = readmissions.filter((readmissions.index_flag == 1)
                            & readmissions.discharge_date.notnull())
    return r.group_by(person_id=r.person_id.cast("string"),
                      year=r.discharge_date.year().cast(COUNT)).aggregate(
        index_stays=r.count().cast(COUNT),
        readmissions=_flag(r.readmit_30_flag == 1).sum().cast(COUNT),
        unplanned_readmissions=_flag(r.unplanned_readmit_30_flag == 1).sum().cast(COUNT),
    )


def _ed(ed_visits: ir.Table) -> ir.Table:
    e = ed_visits.filter(ed_visits.visit_date.notnull())
    return e.group_by(person_id=e.person_id.cast("string"),
                      year=e.visit_date.year().cast(COUNT)).aggregate(
        ed_visits=e.count().cast(COUNT))


def _service_days(medical_lines: ir.Table, codes: Sequence[str],
                  persons: ir.Table | None = None) -> ir.Table:
    """Distinct person x service date of medical lines with one of `codes` (of the persons
    in `persons`' person_id only, when given)."""
    s = medical_lines
    s = s.filter(_code(s.hcpcs_code).isin(list(codes)))
    if persons is not None:
        p = persons.select(_only=persons.person_id)
        s = s.semi_join(p, s.person_id.cast("string") == p._only)
    return s.select(person_id=s.person_id.cast("string"),
                    service_date=ibis.coalesce(s.claim_line_start_date, s.claim_start_date
                                               ).cast("date")).distinct()


def _follow_up(readmissions: ir.Table, medical_lines: ir.Table, member_months: ir.Table
               ) -> ir.Table:
    """Per person x discharge year: discharges eligible for 7-day follow-up and those
    followed up (a FOLLOW_UP_CODES visit on day 1..7 after the discharge day)."""
    r = readmissions
    reason = r.exclusion_reason
    live = reason.isnull() | ~reason.isin(list(NOT_A_DISCHARGE)).fill_null(False)
    d = r.filter(r.discharge_date.notnull() & live)
    d = d.select(stay_id=d.stay_id.cast("string"), person_id=d.person_id.cast("string"),
                 discharge_date=d.discharge_date.cast("date"),
                 _readmit_7=_flag((d.readmit_30_flag == 1)
                                  & (d.days_to_readmission <= FOLLOW_UP_DAYS)))
    mm = member_months
    deaths = mm.group_by(_d_person=mm.person_id.cast("string")).aggregate(
        _death=mm.death_date.max())
    d = d.left_join(deaths, d.person_id == deaths._d_person)
    died_7 = _flag(_days(d._death, d.discharge_date).between(0, FOLLOW_UP_DAYS))
    eligible = d.filter((d._readmit_7 == 0) & (died_7 == 0)).select(
        "stay_id", "person_id", "discharge_date")

    # only the visits of persons with an eligible discharge (office visits of everyone are
    # millions of person-days; the semi-join's hash table is the few discharged persons)
    visits = _service_days(medical_lines, FOLLOW_UP_CODES, eligible)
    visits = visits.select(_v_person=visits.person_id, _v_date=visits.service_date)
    hit = eligible.join(visits, [
        eligible.person_id == visits._v_person,
        _days(visits._v_date, eligible.discharge_date).between(FOLLOW_UP_FIRST_DAY,
                                                                FOLLOW_UP_DAYS)])
    hit = hit.select(_h_stay=hit.stay_id).distinct()
    e = eligible.left_join(hit, eligible.stay_id == hit._h_stay)
    e = e.mutate(_followed=_flag(e._h_stay.notnull()))
    return e.group_by(person_id=e.person_id, year=e.discharge_date.year().cast(COUNT)
                      ).aggregate(
        discharges_eligible_for_follow_up=e.count().cast(COUNT),
        followed_up_7_days=e._followed.sum().cast(COUNT),
    )


def _opioids(opioid_members: ir.Table) -> ir.Table:
    o = opioid_members
    g = o.group_by(person_id=o.person_id.cast("string"), year=o.year.cast(COUNT)).aggregate(
        _fills=o.opioid_fill_count.sum(), _high=_flag(o.any_90_flag == 1).max())
    return g.select("person_id", "year", opioid_users=_flag(g._fills > 0),
                    high_dose_opioid_users=_flag((g._fills > 0) & (g._high == 1)))


def _promis(promis: ir.Table, scale: str, threshold: Decimal) -> ir.Table:
    """Per person x year followed up on `scale` (a scored observation after the baseline):
    improved when the change at the latest such observation of the year >= threshold."""
    p = promis.filter((promis.scale == scale) & promis.change_from_baseline.notnull()
                      & (promis.is_baseline == 0))
    p = p.select(person_id=p.person_id.cast("string"),
                 year=p.observation_date.year().cast(COUNT),
                 observation_date=p.observation_date,
                 change=p.change_from_baseline)
    w = ibis.window(group_by=[p.person_id, p.year], order_by=[p.observation_date.desc()])
    p = p.mutate(_rank=ibis.row_number().over(w))
    last = p.filter(p._rank == 0)
    return last.select("person_id", "year", promis_members=ibis.literal(1, COUNT),
                       promis_improved=_flag(last.change >= ibis.literal(threshold)))


def _awv(medical_lines: ir.Table) -> ir.Table:
    v = _service_days(medical_lines, AWV_CODES)
    v = v.filter(v.service_date.notnull())
    v = v.select(person_id=v.person_id, year=v.service_date.year().cast(COUNT)).distinct()
    return v.mutate(awv_members=ibis.literal(1, COUNT))


# -- the mart --------------------------------------------------------------------------------


def kpis(attribution: ir.Table, member_months: ir.Table, medical_lines: ir.Table,
         spend: ir.Table, risk: ir.Table, readmissions: ir.Table,
         ed_visits: ir.Table, opioid_members: ir.Table, promis: ir.Table, *,
         promis_scale: str = PROMIS_SCALE, promis_threshold: Decimal = PROMIS_THRESHOLD,
         small_cell: int = SMALL_CELL) -> ir.Table:
    """One row per year x attributed_tin (null: unattributed members) with the KPIs of
    COLUMNS; see docs/marts/kpis.md for each rule.

    `medical_lines`: medical claim lines (the medical_claim table; only person, dates and
    HCPCS are read, for follow-up and wellness visits); `spend`: the member_spend mart."""
    base = _members(attribution)
    base = _attach(base, _months(member_months), ["member_months"])
    base = _attach_money(base, _spend(spend),
                         ["paid_amount", "allowed_amount"])
    base = _attach(base, _risk(risk), ["_has_risk", "_risk_units"])
    base = _attach(base, _readmissions(readmissions),
                   ["index_stays", "readmissions", "unplanned_readmissions"])
    base = _attach(base, _ed(ed_visits), ["ed_visits"])
    base = _attach(base, _follow_up(readmissions, medical_lines, member_months),
                   ["discharges_eligible_for_follow_up", "followed_up_7_days"])
    base = _attach(base, _opioids(opioid_members), ["opioid_users", "high_dose_opioid_users"])
    base = _attach(base, _promis(promis, promis_scale, promis_threshold),
                   ["promis_members", "promis_improved"])
    base = _attach(base, _awv(medical_lines), ["awv_members"])

    g = base.group_by(["year", "attributed_tin"]).aggregate(
        members=base.count().cast(COUNT),
        paid_amount=money_sum(base.paid_amount),
        allowed_amount=money_sum(base.allowed_amount),
        **{c: base[c].sum().cast(COUNT) for c in _COUNTS},
    )
    g = g.mutate(
        paid_pmpm=per_member_month(g.paid_amount, g.member_months),
        members_without_risk_score=(g.members - g._has_risk).cast(COUNT),
        # mean of 10^-6 units over n members, in 10^-4 units: sum / (n * 100)
        _mean_units=rounded_quotient(
            g._risk_units, g._has_risk * 10 ** (RISK_READ_PLACES - RISK_PLACES)),
    )
    g = g.mutate(
        mean_risk_score=scaled(g._mean_units, RISK_PLACES).cast(SCORE),
        # the published PMPM (cents) over the published mean (10^-4 units), to the cent
        risk_adjusted_paid_pmpm=scaled(
            rounded_quotient(cents(g.paid_pmpm) * 10**RISK_PLACES, g._mean_units), 2
        ).cast(MONEY),
        readmission_rate=_rate(g.readmissions, g.index_stays, 4),
        unplanned_readmission_rate=_rate(g.unplanned_readmissions, g.index_stays, 4),
        ed_visits_per_1000=scaled(rounded_quotient(g.ed_visits * PER_THOUSAND_MONTHS * 10,
                                                   g.member_months), 1).cast(PER_1000),
        follow_up_7_day_rate=_rate(g.followed_up_7_days, g.discharges_eligible_for_follow_up,
                                   4),
        high_dose_opioid_rate=_rate(g.high_dose_opioid_users, g.opioid_users, 4),
        promis_improvement_rate=_rate(g.promis_improved, g.promis_members, 4),
        awv_rate=_rate(g.awv_members, g.members, 4),
        small_cell_flag=_small(g.members, small_cell),
        risk_score_small_cell_flag=_small(g._has_risk, small_cell),
        readmission_small_cell_flag=_small(g.index_stays, small_cell),
        follow_up_small_cell_flag=_small(g.discharges_eligible_for_follow_up, small_cell),
        high_dose_opioid_small_cell_flag=_small(g.opioid_users, small_cell),
        promis_small_cell_flag=_small(g.promis_members, small_cell),
    )
    out = g.select(*COLUMNS)
    return out.order_by([out.year.asc(nulls_first=False),
                         out.attributed_tin.asc(nulls_first=False)])
