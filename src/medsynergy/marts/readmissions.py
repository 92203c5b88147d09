"""readmissions: 30-day all-cause readmissions of acute inpatient stays, planned or not.

Issue "Measures", mart 5. Rules, their order and their sources are in
docs/marts/readmissions.md; the code lists are the versioned reference table
``refdata/readmission_rules`` (a documented subset of the CMS Planned Readmission Algorithm
v4.0, the CMS Hospital-Wide Readmission index exclusions, and Quan's ICD-10 Charlson codes).

- `readmissions`: one row per stay of `inpatient_stays` with index_flag, exclusion_reason,
  the first readmission within 30 days of the episode's discharge (planned or not) and LACE.
- `readmission_summary`: index stays, readmissions and rates per payer x plan x year.
- `default_paid_through` / `runout_warning`: the paid-through date and the run-out check.

Everything is set-based Ibis (joins, windows, prefix matching as equi-joins on substrings),
so the same expressions compile on DuckDB and on Spark. Date arithmetic uses only DATEDIFF
(`delta`), never intervals, which differ between backends.
"""

from __future__ import annotations

import datetime as dt

import ibis
import ibis.expr.datatypes as dt_
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy import refdata
from medsynergy.errors import ConfigError
from medsynergy.marts.codes import ICD9, with_gem_target
from medsynergy.marts.member_months import month_number
from medsynergy.schema import Kind
from medsynergy.schema._model import IBIS_TYPES

FLAG = IBIS_TYPES[Kind.INTEGER]
RATE = dt_.Decimal(18, 4)

RULES = "readmission_rules"
SPECS = ("default", "cms-hwr")
#: Readmission window: admitted on day 1..30 after the (episode's) discharge day.
WINDOW_FIRST_DAY = 1
WINDOW_DAYS = 30
#: UB-04 discharge status: expired (20), expired at home / in a facility / place unknown
#: (40, 41, 42; hospice claims) -- died in hospital; 07 left against medical advice.
DIED = ("20", "40", "41", "42")
AGAINST_MEDICAL_ADVICE = "07"
CMS_HWR_MIN_AGE = 65
#: LACE "E": emergency department visits in the 6 months (182 days) before admission.
LACE_ED_LOOKBACK_DAYS = 182
RUNOUT_MONTHS = 3

#: Exclusion reasons in the order they are tested; the first failing one is reported.
EXCLUSION_REASONS = (
    "not_last_in_transfer_chain",
    "invalid_dates",
    "died_in_hospital",
    "against_medical_advice",
    "psychiatric_principal_diagnosis",
    "rehabilitation_principal_diagnosis",
    "cancer_treatment_principal_diagnosis",
    "age_under_65",
    "insufficient_runout",
    "not_enrolled_30_days_after_discharge",
)

#: Charlson hierarchy: when both are present only the more severe condition counts.
CHARLSON_HIERARCHY = (
    ("mild_liver_disease", "moderate_or_severe_liver_disease"),
    ("diabetes_without_complication", "diabetes_with_complication"),
    ("malignancy", "metastatic_solid_tumor"),
)

COLUMNS = (
    "stay_id", "person_id", "payer", "plan", "admission_date", "discharge_date",
    "index_flag", "exclusion_reason", "readmit_30_flag", "unplanned_readmit_30_flag",
    "planned_flag", "days_to_readmission", "readmit_stay_id", "lace_score",
    "paid_through_date", "spec",
)
SUMMARY_COLUMNS = (
    "payer", "plan", "discharge_year", "index_stays", "readmissions",
    "unplanned_readmissions", "readmission_rate", "unplanned_readmission_rate",
)


# -- helpers -----------------------------------------------------------------------------------


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 integer flag; a null condition (unknown) counts as 0 so flags are never null."""
    return cond.fill_null(False).cast(FLAG)


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole days from `earlier` to `later` (DATEDIFF on both engines)."""
    return later.delta(earlier, unit="day")


def _rules(list_name: str, version: str | None = None, *, group: str | None = None
           ) -> pa.Table:
    """One code list of `readmission_rules`: columns code, group, weight (int, 0 if none).
    `group` replaces the group of every row (to match several lists in one join)."""
    t = refdata.load(RULES, version)
    t = t.filter(pc.equal(t.column("list"), list_name))
    weight = pc.fill_null(t.column("weight"), 0).cast(pa.int64())
    groups = t.column("group") if group is None else pa.array([group] * t.num_rows, pa.string())
    return pa.table({"code": t.column("code"), "group": groups, "weight": weight})


def _codes(rules: pa.Table) -> list[str]:
    return [str(c) for c in rules.column("code").to_pylist()]


def _dx(col: ir.StringValue) -> ir.StringValue:
    """ICD-10-CM code as matched: upper case, no dot, no surrounding spaces."""
    return col.strip().upper().replace(".", "")


def _prefix_match(codes: ir.Table, key: str, rules: pa.Table) -> ir.Table:
    """(key, group, weight) for every rule whose code is a prefix of a code of `codes`.

    `codes` has columns `key` and `_code` (normalised with `_dx`). Set-based: each code is
    cut to every prefix length the rules use and equi-joined to the rules, so this is a
    plain hash join on both engines (no LIKE / startswith over a list).
    """
    lengths = sorted({len(c) for c in _codes(rules)})
    cut = [codes.select(codes[key], _prefix=codes._code.substr(0, n)) for n in lengths]
    prefixes = cut[0].union(*cut[1:], distinct=True) if len(cut) > 1 else cut[0].distinct()
    # One chunk: `rules` may be concatenated lists (several chunks), and PySpark's Arrow
    # conversion of a multi-chunk string column fails under pandas 3 (local Spark then
    # falls back to a slow row-by-row path; Spark Connect has no fallback and fails).
    r = ibis.memtable(pa.table({"_rule_code": rules.column("code"),
                                "_group": rules.column("group"),
                                "_weight": rules.column("weight")}).combine_chunks())
    j = prefixes.join(r, prefixes._prefix == r._rule_code)
    return j.select(j[key], j._group, j._weight).distinct()


def _dx_groups(t: ir.Table, key: str, code_col: str, rules: pa.Table,
               flags: dict[str, str]) -> ir.Table:
    """`key` and one 0/1 column per entry of `flags` (column name -> rule group): 1 when
    `code_col` starts with a code of that group. Only keys with a match are returned; one
    prefix join for all the groups, so the expression stays flat."""
    codes = t.select(t[key], _code=_dx(t[code_col]))
    codes = codes.filter(codes._code.notnull() & (codes._code != ""))
    hits = _prefix_match(codes, key, rules)
    return hits.group_by(key).aggregate(
        **{name: _flag(hits._group == group).max() for name, group in flags.items()})


def _with_flags(t: ir.Table, key: str, flags: ir.Table, names: tuple[str, ...]) -> ir.Table:
    """`t` left-joined to a `_dx_groups` result; missing flags are 0."""
    j = t.left_join(flags, key).drop(f"{key}_right")
    return j.mutate(**{n: j[n].fill_null(0).cast(FLAG) for n in names})


def _drg(col: ir.StringValue) -> ir.StringValue:
    """MS-DRG as 3 characters ('1' and '001' are the same DRG)."""
    return col.strip().lpad(3, "0")


def _paid_through_value(paid_through: dt.date | ir.DateScalar) -> ir.DateScalar:
    if isinstance(paid_through, dt.date):
        return ibis.literal(paid_through, "date")
    return paid_through.as_scalar() if hasattr(paid_through, "as_scalar") else paid_through


# -- paid-through date and run-out -------------------------------------------------------------


def default_paid_through(medical_claim: ir.Table) -> ir.DateScalar:
    """The default paid-through date: the latest `paid_date` of the medical claims; when no
    claim has a paid date (DE-SynPUF, Synthea and many FHIR exports carry none), the latest
    `claim_end_date`: the data then holds no run-out after its last service, so a stay
    discharged in its last 30 days is `insufficient_runout` rather than counted as not
    readmitted."""
    return ibis.coalesce(medical_claim.paid_date.max(), medical_claim.claim_end_date.max())


def _add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, clipped to the end of the target month."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    last = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last))


def runout_warning(paid_through: dt.date, last_discharge: dt.date | None) -> str | None:
    """A warning when the claims run-out after the last discharge is under 3 months.

    Run-out is the time from the last discharge in the data to the paid-through date; claims
    for recent stays keep arriving for months, so readmissions of late index stays are
    undercounted until it reaches 3 months. None when there is no discharge or enough run-out.
    """
    if last_discharge is None:
        return None
    if paid_through < _add_months(last_discharge, RUNOUT_MONTHS):
        return (f"claims run-out is under {RUNOUT_MONTHS} months: paid through "
                f"{paid_through.isoformat()}, last discharge {last_discharge.isoformat()}; "
                "readmissions of recent stays may be missing")
    return None


# -- the mart ----------------------------------------------------------------------------------


def _episodes(stays: ir.Table) -> ir.Table:
    """Each stay with its episode's admission day, discharge day (`_dis`) and ED admission."""
    ep = ibis.window(group_by="episode_id")
    first = stays.transfer_in_flag == 0
    return stays.mutate(
        _eadm=stays.admission_date.min().over(ep),
        _dis=stays.episode_discharge_date,
        _ed_adm=ibis.ifelse(first, stays.admitted_through_ed_flag, ibis.null(FLAG)).max().over(ep),
    )


def _planned_stays(stays: ir.Table, version: str | None) -> ir.Table:
    """stay_id, planned_flag for the stays that can be readmissions (first of an episode).

    Planned (documented subset of the CMS Planned Readmission Algorithm v4.0): an
    always-planned principal diagnosis (maintenance chemotherapy, rehabilitation) or
    always-planned DRG (transplants); or a potentially planned procedure DRG when the
    principal diagnosis is not acute.
    """
    r = stays.filter(stays.transfer_in_flag == 0)
    rules = pa.concat_tables([_rules("always_planned_dx", version, group="always_planned"),
                              _rules("acute_dx", version, group="acute")])
    flags = _dx_groups(r, "stay_id", "principal_diagnosis_code", rules,
                       {"_ap_dx": "always_planned", "_acute": "acute"})
    r = r.select("stay_id", _drg_code=_drg(r.drg_code))
    r = _with_flags(r, "stay_id", flags, ("_ap_dx", "_acute"))
    always_drg = r._drg_code.isin(_codes(_rules("always_planned_drg", version)))
    maybe_drg = r._drg_code.isin(_codes(_rules("potentially_planned_drg", version)))
    planned = (r._ap_dx == 1) | always_drg.fill_null(False) | (
        maybe_drg.fill_null(False) & (r._acute == 0))
    return r.select("stay_id", planned_flag=_flag(planned))


def _first_readmissions(stays: ir.Table, version: str | None) -> ir.Table:
    """stay_id -> the first stay starting an episode admitted 1-30 days after `_dis`."""
    cand = stays.filter(stays.transfer_in_flag == 0).select(
        _r_person=stays.person_id, readmit_stay_id=stays.stay_id, _r_adm=stays.admission_date)
    idx = stays.select("stay_id", "person_id", _dis=stays.episode_discharge_date)
    j = idx.join(cand, [idx.person_id == cand._r_person,
                        _days(cand._r_adm, idx._dis).between(WINDOW_FIRST_DAY, WINDOW_DAYS)])
    j = j.mutate(
        days_to_readmission=_days(j._r_adm, j._dis).cast(FLAG),
        _rn=ibis.row_number().over(ibis.window(
            group_by="stay_id", order_by=["_r_adm", "readmit_stay_id"])),
    )
    first = j.filter(j._rn == 0).select("stay_id", "readmit_stay_id", "days_to_readmission")
    planned = _planned_stays(stays, version).rename(readmit_stay_id="stay_id")
    return first.left_join(planned, "readmit_stay_id").drop("readmit_stay_id_right")


def _enrolled_after(stays: ir.Table, member_months: ir.Table, people: ir.Table) -> ir.Table:
    """stay_id, _enrolled: every month touching [discharge+1, discharge+30] has a member
    month of the person (any payer or plan), or the person died within those days."""
    c = stays.select("stay_id", "person_id", _dis=stays.episode_discharge_date)
    c = c.filter(c._dis.notnull())
    # the months touching the window, as month numbers from the window's first to its last
    # day (up to three: 31 Jan + 1..30 reaches 1 Mar), spread with UNNEST(RANGE) / EXPLODE
    first = month_number(c._dis + ibis.interval(days=WINDOW_FIRST_DAY))
    last = month_number(c._dis + ibis.interval(days=WINDOW_DAYS))
    need = c.mutate(_m=ibis.range(first, last + 1).unnest())
    # the member months of those persons and months only (a semi-join on the small side),
    # not a distinct over every member month
    mm = member_months.select(_mm_person=member_months.person_id,
                              _mm_month=month_number(member_months.month_start_date))
    mm = mm.semi_join(need, [mm._mm_person == need.person_id, mm._mm_month == need._m])
    mm = mm.distinct().mutate(_have=ibis.literal(1, FLAG))
    need = need.left_join(mm, [need.person_id == mm._mm_person, need._m == mm._mm_month])
    cover = need.group_by("stay_id").aggregate(
        _months=need.count(), _covered=need._have.sum().fill_null(0))
    out = c.left_join(cover, "stay_id").drop("stay_id_right")
    out = out.left_join(people, out.person_id == people._p_person)
    died = _days(out._death, out._dis).between(WINDOW_FIRST_DAY, WINDOW_DAYS)
    enrolled = (out._months.notnull() & (out._covered == out._months)) | died
    return out.select("stay_id", _enrolled=_flag(enrolled))


def _ed_points(stays: ir.Table, ed_visits: ir.Table | None) -> ir.Table:
    """stay_id, _ed_visits: ED visits of the person in the 182 days before the episode's
    admission day, not counting a visit that led to this episode."""
    base = _episodes(stays).select("stay_id", "person_id", "episode_id", "_eadm")
    if ed_visits is None:
        return base.select("stay_id", _ed_visits=ibis.literal(0, FLAG))
    v = ed_visits.select(_v_person=ed_visits.person_id, _v_date=ed_visits.visit_date,
                         _v_stay=ed_visits.stay_id)
    j = base.join(v, [base.person_id == v._v_person,
                      _days(base._eadm, v._v_date).between(1, LACE_ED_LOOKBACK_DAYS)])
    j = j.filter(j._v_stay.isnull() | (j._v_stay != j.episode_id))
    counts = j.group_by("stay_id").aggregate(_n=j.count())
    out = base.left_join(counts, "stay_id").drop("stay_id_right")
    return out.select("stay_id", _ed_visits=out._n.fill_null(0).cast(FLAG))


def _charlson(stays: ir.Table, medical_claim: ir.Table | None, version: str | None
              ) -> ir.Table:
    """stay_id, _charlson: Charlson index of the diagnoses on the claims of the episode.

    A claim line belongs to a stay when it is institutional, of the same person and facility
    (`coalesce(facility_npi, billing_npi)`), and its admission (or start) date lies within
    the stay. Every diagnosis_code_1..25 counts (ICD-9-CM lines mapped to ICD-10-CM by the
    GEMs). Quan's ICD-10 codes, Charlson's weights, with the hierarchy (only the severe form
    of liver disease, diabetes, cancer counts).
    """
    if medical_claim is None:
        return stays.select("stay_id", _charlson=ibis.literal(0, FLAG))
    rules = _rules("charlson", version)
    mc = medical_claim.filter(medical_claim.claim_type == "institutional")
    mc = mc.mutate(_fac=ibis.coalesce(mc.facility_npi, mc.billing_npi),
                   _start=ibis.coalesce(mc.admission_date, mc.claim_start_date))
    s = stays.select(_s_episode=stays.episode_id, _s_person=stays.person_id,
                     _s_fac=stays.facility_npi, _s_adm=stays.admission_date,
                     _s_dis=stays.discharge_date)
    j = mc.join(s, [mc.person_id == s._s_person, mc._fac == s._s_fac,
                    mc._start >= s._s_adm, mc._start <= s._s_dis])
    dx_cols = [c for c in medical_claim.columns
               if c.startswith("diagnosis_code_") and c[len("diagnosis_code_"):].isdigit()]
    # one row per diagnosis: UNNEST of an array / EXPLODE, one scan of the join, of
    # the distinct diagnosis sets (the lines of a claim repeat its diagnoses)
    is9 = (j.diagnosis_code_type.strip().lower() == ICD9).fill_null(False)
    wide = j.select(episode_id=j._s_episode, _is9=is9, **{c: j[c] for c in dx_cols}
                    ).distinct()
    long = wide.select("episode_id", "_is9",
                       _raw=ibis.array([wide[c] for c in dx_cols]).unnest())
    codes = long.select("episode_id", "_is9", _code=_dx(long._raw))
    codes = codes.filter(codes._code.notnull() & (codes._code != "")).distinct()
    # ICD-9-CM codes (e.g. DE-SynPUF) are mapped to ICD-10-CM by the GEMs, as the
    # principal diagnosis of the stay is; a code without a GEM target stays as it is (no
    # ICD-10 rule matches it; code_coverage counts such lines)
    codes = with_gem_target(codes, ibis.ifelse(codes._is9, codes._code, ibis.null("string")))
    codes = codes.select("episode_id",
                         _code=ibis.coalesce(codes._gem_icd10, codes._code)).distinct()
    hits = _prefix_match(codes, "episode_id", rules)
    groups = sorted({str(g) for g in rules.column("group").to_pylist()})
    weights = {str(g): int(w) for g, w in zip(rules.column("group").to_pylist(),
                                              rules.column("weight").to_pylist(), strict=True)}
    per = hits.group_by("episode_id").aggregate(
        **{f"_c_{g}": _flag(hits._group == g).max() for g in groups})
    score: ir.IntegerValue = ibis.literal(0, FLAG)
    for g in groups:
        score = score + per[f"_c_{g}"] * weights[g]
    for mild, severe in CHARLSON_HIERARCHY:
        if mild in weights and severe in weights:
            score = score - per[f"_c_{mild}"] * per[f"_c_{severe}"] * weights[mild]
    per = per.select("episode_id", _score=score.cast(FLAG))
    out = stays.select("stay_id", "episode_id").left_join(per, "episode_id")
    return out.select("stay_id", _charlson=out._score.fill_null(0).cast(FLAG))


def _lace(t: ir.Table) -> ir.IntegerValue:
    """LACE (van Walraven 2010) from episode length, ED admission, Charlson and ED visits."""
    los = _days(t._dis, t._eadm)
    length = (ibis.cases((los < 1, 0), (los == 1, 1), (los == 2, 2), (los == 3, 3),
                         (los <= 6, 4), (los <= 13, 5), else_=7))
    acute = ibis.ifelse(t._ed_adm.fill_null(0) == 1, 3, 0)
    c = t._charlson
    comorbid = ibis.cases((c >= 4, 5), else_=c)
    ed = ibis.least(t._ed_visits, 4)
    return (length + acute + comorbid + ed).cast(FLAG)


def readmissions(
    stays: ir.Table,
    member_months: ir.Table,
    ed_visits: ir.Table | None = None,
    medical_claim: ir.Table | None = None,
    *,
    paid_through: dt.date | ir.DateScalar | None = None,
    spec: str = "default",
    rules_version: str | None = None,
) -> ir.Table:
    """One row per stay of `inpatient_stays`: index status, first 30-day readmission, LACE.

    `member_months` gives enrolment, birth and death dates; `ed_visits` (the `ed_visits`
    mart) and `medical_claim` (for the Charlson part) feed LACE and may be omitted (E or C
    is then 0). `paid_through` defaults to the latest paid_date of `medical_claim`.
    `spec`: "default", or "cms-hwr" (CMS hospital-wide mode: also age >= 65 at admission).
    """
    if spec not in SPECS:
        raise ConfigError(f"unknown readmission spec {spec!r}; specs: {', '.join(SPECS)}")
    if paid_through is None:
        if medical_claim is None:
            raise ConfigError("readmissions needs paid_through or medical_claim (its latest "
                              "paid_date is the default paid-through date)")
        paid_through = default_paid_through(medical_claim)
    through = _paid_through_value(paid_through)

    ep = _episodes(stays)
    people = member_months.group_by(_p_person=member_months.person_id).aggregate(
        _birth=member_months.birth_date.min(), _death=member_months.death_date.max())
    excluded = _dx_groups(stays, "stay_id", "principal_diagnosis_code",
                          _rules("index_exclusion_dx", rules_version),
                          {"_psych": "psychiatric", "_rehab": "rehabilitation",
                           "_cancer": "cancer_treatment"})
    ep = _with_flags(ep, "stay_id", excluded, ("_psych", "_rehab", "_cancer"))
    t = ep.left_join(_enrolled_after(stays, member_months, people), "stay_id").drop(
        "stay_id_right")
    t = t.left_join(people, t.person_id == people._p_person)
    t = t.left_join(_first_readmissions(stays, rules_version), "stay_id").drop(
        "stay_id_right")
    t = t.left_join(_ed_points(stays, ed_visits), "stay_id").drop("stay_id_right")
    t = t.left_join(_charlson(stays, medical_claim, rules_version), "stay_id").drop(
        "stay_id_right")

    # age in whole years on the episode's admission day
    md = t._eadm.month() * 100 + t._eadm.day()
    bmd = t._birth.month() * 100 + t._birth.day()
    age = t._eadm.year() - t._birth.year() - ibis.ifelse(md < bmd, 1, 0)
    disp = t.discharge_disposition_code.strip()
    too_young = ibis.literal(spec == "cms-hwr") & ~(age >= CMS_HWR_MIN_AGE).fill_null(False)
    reason = ibis.cases(
        (t.last_in_episode_flag != 1, "not_last_in_transfer_chain"),
        ((t.date_error_flag == 1) | t._dis.isnull(), "invalid_dates"),
        (disp.isin(DIED).fill_null(False), "died_in_hospital"),
        ((disp == AGAINST_MEDICAL_ADVICE).fill_null(False), "against_medical_advice"),
        (t._psych == 1, "psychiatric_principal_diagnosis"),
        (t._rehab == 1, "rehabilitation_principal_diagnosis"),
        (t._cancer == 1, "cancer_treatment_principal_diagnosis"),
        (too_young, "age_under_65"),
        # run-out before enrolment: months after the paid-through date may not be loaded yet
        (~(_days(through, t._dis) >= WINDOW_DAYS).fill_null(False), "insufficient_runout"),
        (t._enrolled.fill_null(0) != 1, "not_enrolled_30_days_after_discharge"),
        else_=ibis.null(str),
    )
    readmit = _flag(t.readmit_stay_id.notnull())
    out = t.mutate(
        discharge_date=t._dis,
        index_flag=_flag(reason.isnull()),
        exclusion_reason=reason,
        readmit_30_flag=readmit,
        unplanned_readmit_30_flag=_flag((readmit == 1) & (t.planned_flag == 0)),
        planned_flag=t.planned_flag.cast(FLAG),
        days_to_readmission=t.days_to_readmission.cast(FLAG),
        lace_score=_lace(t),
        paid_through_date=through,
        spec=ibis.literal(spec),
    )
    return out.select(*COLUMNS).order_by(["person_id", "admission_date", "stay_id"])


def readmission_summary(readmissions: ir.Table) -> ir.Table:
    """Per payer x plan x year of (episode) discharge: index stays, readmissions, unplanned
    readmissions and both rates (readmissions / index stays, DECIMAL(18,4))."""
    t = readmissions.filter(readmissions.index_flag == 1)
    t = t.mutate(discharge_year=t.discharge_date.year().cast(FLAG))
    s = t.group_by(["payer", "plan", "discharge_year"]).aggregate(
        index_stays=t.count().cast(FLAG),
        readmissions=t.readmit_30_flag.sum().cast(FLAG),
        unplanned_readmissions=t.unplanned_readmit_30_flag.sum().cast(FLAG),
    )
    s = s.mutate(
        readmission_rate=(s.readmissions / s.index_stays).cast(RATE),
        unplanned_readmission_rate=(s.unplanned_readmissions / s.index_stays).cast(RATE),
    )
    return s.select(*SUMMARY_COLUMNS).order_by(["payer", "plan", "discharge_year"])
