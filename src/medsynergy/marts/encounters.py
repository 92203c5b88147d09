"""encounters: acute inpatient stays (with transfer episodes) and emergency department visits.

Issue "Measures", mart 2. Rules and their sources are in docs/marts/encounters.md. Everything
is set-based Ibis (window functions for the "gaps and islands" merging), so the same
expressions compile on DuckDB and on Spark; outputs are ordered for reproducible results.

- `acute_claims`: one row per acute inpatient institutional claim (type of bill 11x).
- `inpatient_stays`: claims of one person at one facility merged into stays, stays chained
  by transfers into episodes (CMS Hospital-Wide Readmission measure).
- `ed_visits`: one row per person x service date, linked to the stay it led to, if any.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from medsynergy.marts.codes import ICD9, with_gem_target
from medsynergy.schema import Kind
from medsynergy.schema._model import IBIS_TYPES

MONEY = IBIS_TYPES[Kind.MONEY]
FLAG = IBIS_TYPES[Kind.INTEGER]

#: UB-04 emergency room revenue codes (0450 general, 0451 EMTALA screening, 0452 ER beyond
#: EMTALA, 0456 urgent care, 0459 other ER) and 0981 professional fees - emergency room.
ED_REVENUE_CODES = ("0450", "0451", "0452", "0456", "0459", "0981")
#: CPT emergency department E/M visits, counted from professional claims at POS 23 only.
ED_CPT_CODES = ("99281", "99282", "99283", "99284", "99285")
ED_PLACE_OF_SERVICE = "23"
#: Revenue code 0024 is the IRF PPS HIPPS line: its presence makes an 11x claim an inpatient
#: rehabilitation facility stay, which is not acute.
IRF_REVENUE_CODE = "0024"
#: UB-04 discharge status 30: still a patient (interim bill), the stay continues.
STILL_PATIENT = "30"

_CLAIM_KEY = ("data_source", "claim_id")


# -- helpers -----------------------------------------------------------------------------------


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 integer flag; a null condition (unknown) counts as 0 so flags are never null."""
    return cond.fill_null(False).cast(FLAG)


def _money_sum(col: ir.NumericColumn, where: ir.BooleanValue | None = None) -> ir.NumericScalar:
    """Exact sum: DECIMAL(18,2) widens to DECIMAL(38,2) on both engines, cast back; 0 if none."""
    return col.sum(where=where).fill_null(ibis.literal(0, MONEY)).cast(MONEY)


def _revenue_code(col: ir.StringValue) -> ir.StringValue:
    """Revenue codes are 4 digits; some feeds drop the leading zero ('450')."""
    return col.strip().lpad(4, "0")


def _bill_type(col: ir.StringValue) -> ir.StringValue:
    """Type of bill as 3 characters; some feeds send 4 with a leading zero ('0111')."""
    s = col.strip()
    return ibis.ifelse((s.length() == 4) & s.startswith("0"), s.substr(1), s)


def _days(later: ir.DateValue, earlier: ir.DateValue) -> ir.IntegerValue:
    """Whole days from `earlier` to `later` (DATEDIFF on both engines)."""
    return later.delta(earlier, unit="day")


# -- acute claims ------------------------------------------------------------------------------


def acute_claims(medical_claim: ir.Table) -> ir.Table:
    """One row per acute inpatient institutional claim (type of bill 11x, no IRF line).

    Header fields (person, payer, plan, facility, disposition, DRG, principal diagnosis) come
    from the line with the lowest claim_line_number, so the result does not depend on row
    order. Dates are the widest over the lines (they should agree; when they do not, the
    claim covers all of them). Money is summed over all lines of the claim.
    """
    return _acute_claims(medical_claim).order_by(
        ["person_id", "admission_date", "data_source", "claim_id"])


def _acute_claims(medical_claim: ir.Table) -> ir.Table:
    """`acute_claims` without the final sort (a sort inside a pipeline is a wasted shuffle on
    Spark)."""
    t = medical_claim.filter(
        (medical_claim.claim_type == "institutional")
        & _bill_type(medical_claim.bill_type_code).startswith("11")
    )
    t = t.mutate(
        _rev=_revenue_code(t.revenue_center_code),
        _adm=ibis.coalesce(t.admission_date, t.claim_start_date),
        _dis=ibis.coalesce(t.discharge_date, t.claim_end_date),
        _rn=ibis.row_number().over(
            ibis.window(group_by=list(_CLAIM_KEY), order_by=[t.claim_line_number])
        ),
    )
    first = t._rn == 0
    claims = t.group_by(list(_CLAIM_KEY)).aggregate(
        person_id=t.person_id.max(where=first),
        payer=t.payer.max(where=first),
        plan=t.plan.max(where=first),
        facility_npi=ibis.coalesce(t.facility_npi, t.billing_npi).max(where=first),
        admission_date=t._adm.min(),
        discharge_date=t._dis.max(),
        discharge_disposition_code=t.discharge_disposition_code.max(where=first),
        drg_code=t.drg_code.max(where=first),
        principal_diagnosis_code=t.diagnosis_code_1.max(where=first),
        _dx_type=t.diagnosis_code_type.max(where=first),
        line_count=t.count(),
        paid_amount=_money_sum(t.paid_amount),
        allowed_amount=_money_sum(t.allowed_amount),
        _irf=_flag(t._rev == IRF_REVENUE_CODE).max(),
        ed_revenue_flag=_flag(t._rev.isin(ED_REVENUE_CODES)).max(),
    )
    claims = _principal_in_icd10(claims.filter(claims._irf == 0).drop("_irf"))
    return claims.mutate(date_error_flag=_flag(claims.discharge_date < claims.admission_date))


def _principal_in_icd10(claims: ir.Table) -> ir.Table:
    """An ICD-9-CM principal diagnosis (the claim's diagnosis_code_type) replaced by its
    ICD-10-CM target in the CMS GEMs (`marts.codes.gem_icd9_to_icd10`), so the ICD-10
    rules of the readmission measure classify it; `principal_diagnosis_mapped_from` says
    'icd-9-cm' on those claims. A code without a GEM target is kept as it is (no ICD-10
    rule matches it; `code_coverage` counts such lines). Other code systems are kept."""
    is9 = (claims._dx_type.strip().lower() == ICD9).fill_null(False)
    key = ibis.ifelse(is9, claims.principal_diagnosis_code.strip().upper().replace(".", ""),
                      ibis.null("string"))
    c = with_gem_target(claims, key)
    return c.mutate(
        principal_diagnosis_code=ibis.coalesce(c._gem_icd10, c.principal_diagnosis_code),
        principal_diagnosis_mapped_from=ibis.ifelse(c._gem_icd10.notnull(), ICD9,
                                                    ibis.null("string")),
    ).drop("_dx_type", "_gem_icd10")


# -- stays -------------------------------------------------------------------------------------


def _number_stays(claims: ir.Table) -> ir.Table:
    """Add `_stay_seq`: claims of one person at one facility that belong to one stay share it.

    Gaps and islands: in admission order, a claim starts a new stay unless it is admitted on
    or before the latest discharge so far (overlap or contiguity on the same day), or the day
    after the previous claim's discharge when that claim's disposition is 30 (still a patient:
    interim bills). A discharge before the admission counts as the admission day here (the
    claim is flagged, not dropped, and must not swallow later claims).
    """
    # column names, not expressions: the windows are reused on the mutated table below
    order = ["admission_date", "discharge_date", "data_source", "claim_id"]
    part = ["person_id", "facility_npi"]
    w = ibis.window(group_by=part, order_by=order)
    w_before = ibis.window(group_by=part, order_by=order, rows=(None, -1))
    end = ibis.greatest(claims.discharge_date, claims.admission_date)
    c = claims.mutate(
        _prev_max_end=end.max().over(w_before),
        _prev_end=end.lag().over(w),
        _prev_disp=claims.discharge_disposition_code.lag().over(w),
    )
    overlaps = c.admission_date <= c._prev_max_end
    interim = (_days(c.admission_date, c._prev_end) == 1) & (
        c._prev_disp.fill_null("") == STILL_PATIENT
    )
    c = c.mutate(_new=1 - _flag(overlaps | interim))
    c = c.mutate(_stay_seq=c._new.cumsum(group_by=part, order_by=order))
    return c.drop("_prev_max_end", "_prev_end", "_prev_disp", "_new")


def _collapse_stays(c: ir.Table) -> ir.Table:
    """One row per stay: first claim gives id, payer and plan; last claim gives the outcome.

    The last claim is the one discharged last (ties: later admission, higher claim id): its
    disposition is where the patient went, and its DRG / principal diagnosis are the final
    coding of the stay (interim bills are recoded on the final bill).
    """
    key = [c.person_id, c.facility_npi, c._stay_seq]
    asc = [c.admission_date, c.discharge_date, c.data_source, c.claim_id]
    desc = [c.discharge_date.desc(), c.admission_date.desc(), c.data_source.desc(),
            c.claim_id.desc()]
    c = c.mutate(
        _first=ibis.row_number().over(ibis.window(group_by=key, order_by=asc)) == 0,
        _last=ibis.row_number().over(ibis.window(group_by=key, order_by=desc)) == 0,
    )
    s = c.group_by(["person_id", "facility_npi", "_stay_seq"]).aggregate(
        stay_id=(c.person_id + "-" + c.claim_id).max(where=c._first),
        payer=c.payer.max(where=c._first),
        plan=c.plan.max(where=c._first),
        admission_date=c.admission_date.min(),
        discharge_date=c.discharge_date.max(),
        discharge_disposition_code=c.discharge_disposition_code.max(where=c._last),
        drg_code=c.drg_code.max(where=c._last),
        principal_diagnosis_code=c.principal_diagnosis_code.max(where=c._last),
        principal_diagnosis_mapped_from=c.principal_diagnosis_mapped_from.max(where=c._last),
        claim_count=c.count(),
        paid_amount=_money_sum(c.paid_amount),
        allowed_amount=_money_sum(c.allowed_amount),
        _claim_date_error=c.date_error_flag.max(),
        _ed_on_claim=c.ed_revenue_flag.max(),
    )
    bad = (s._claim_date_error == 1) | (s.discharge_date < s.admission_date)
    s = s.mutate(date_error_flag=_flag(bad))
    # Same-day stays are 0 days (discharge - admission); no length for impossible dates.
    return s.mutate(
        length_of_stay=ibis.ifelse(
            s.date_error_flag == 1, ibis.null(FLAG), _days(s.discharge_date, s.admission_date)
        ).cast(FLAG)
    ).drop("_stay_seq", "_claim_date_error")


def _chain_transfers(s: ir.Table) -> ir.Table:
    """Episodes: a stay followed by an admission at another facility on its discharge day or
    the next is a transfer, whatever the disposition code (CMS HWR); the chained stays share
    `episode_id` (the first stay's id) and the discharge of the last one."""
    order = ["admission_date", "discharge_date", "stay_id"]
    w = ibis.window(group_by="person_id", order_by=order)
    prev_fac, prev_dis = s.facility_npi.lag().over(w), s.discharge_date.lag().over(w)
    next_fac, next_adm = s.facility_npi.lead().over(w), s.admission_date.lead().over(w)
    s = s.mutate(
        transfer_in_flag=_flag(
            (s.facility_npi != prev_fac) & _days(s.admission_date, prev_dis).between(0, 1)
        ),
        transfer_out_flag=_flag(
            (s.facility_npi != next_fac) & _days(next_adm, s.discharge_date).between(0, 1)
        ),
    )
    s = s.mutate(
        last_in_episode_flag=(1 - s.transfer_out_flag).cast(FLAG),
        _episode_seq=(1 - s.transfer_in_flag).cumsum(group_by="person_id", order_by=order),
    )
    ep = ibis.window(group_by=["person_id", "_episode_seq"])
    s = s.mutate(
        # exactly one stay per episode has no transfer in: the first one
        episode_id=ibis.ifelse(s.transfer_in_flag == 0, s.stay_id, ibis.null(str)).max().over(ep),
        episode_discharge_date=ibis.ifelse(
            s.last_in_episode_flag == 1, s.discharge_date, ibis.null("date")
        ).max().over(ep),
    )
    return s.drop("_episode_seq")


STAY_COLUMNS = (
    "stay_id", "person_id", "payer", "plan", "facility_npi", "admission_date",
    "discharge_date", "length_of_stay", "discharge_disposition_code", "drg_code",
    "principal_diagnosis_code", "principal_diagnosis_mapped_from", "claim_count",
    "paid_amount", "allowed_amount", "date_error_flag", "admitted_through_ed_flag", "episode_id", "transfer_in_flag",
    "transfer_out_flag", "last_in_episode_flag", "episode_discharge_date",
)


def inpatient_stays(medical_claim: ir.Table) -> ir.Table:
    """One row per acute inpatient stay of a person at a facility, with transfer episodes.

    `admitted_through_ed_flag` is 1 when the stay's own claims carry an ED revenue line, or an
    ED visit of the person (see `ed_visits`) falls on the admission day or the day before.
    """
    return stays_of(_acute_claims(medical_claim), ed_visit_days(medical_claim))


def stays_of(acute: ir.Table, visit_days: ir.Table) -> ir.Table:
    """`inpatient_stays` from the `acute_claims` and `ed_visit_days` marts: `measure` stores
    both first, because the stay rules read the claims a dozen times, and the ED days are
    read again by `ed_visits` (each read would otherwise go through every claim line)."""
    stays = _chain_transfers(_collapse_stays(_number_stays(acute)))
    linked = _link_visits(visit_days, stays)
    via_ed = linked.filter(linked.stay_id.notnull()).select("stay_id").distinct()
    via_ed = via_ed.mutate(_ed_visit=ibis.literal(1, FLAG))
    stays = stays.left_join(via_ed, "stay_id")
    stays = stays.mutate(
        admitted_through_ed_flag=_flag((stays._ed_on_claim == 1) | (stays._ed_visit == 1))
    )
    return stays.select(*STAY_COLUMNS).order_by(["person_id", "admission_date", "stay_id"])


# -- emergency department visits ------------------------------------------------------------


def ed_visit_days(medical_claim: ir.Table) -> ir.Table:
    """One row per person x service date with ED lines, before linking to stays.

    Institutional ED revenue lines identify the visit; professional ED E/M codes at POS 23
    count only on days without such a line (a facility claim is the better record: the
    professional bill of the same visit would otherwise double the cost or the count).
    """
    t = medical_claim
    t = t.mutate(
        _date=ibis.coalesce(t.claim_line_start_date, t.claim_start_date),
        _rev_ed=_flag((t.claim_type == "institutional")
                      & _revenue_code(t.revenue_center_code).isin(ED_REVENUE_CODES)),
        _prof_ed=_flag((t.claim_type == "professional")
                       & t.hcpcs_code.strip().isin(ED_CPT_CODES)
                       & (t.place_of_service_code.strip() == ED_PLACE_OF_SERVICE)),
    )
    t = t.filter((t._rev_ed == 1) | (t._prof_ed == 1))
    # Within a day, revenue lines outrank professional ones; payer/plan come from the first
    # identifying line in a fixed order.
    day = ["person_id", "_date"]
    has_rev = t._rev_ed.max().over(ibis.window(group_by=day)) == 1
    t = t.mutate(_counts=ibis.ifelse(has_rev, t._rev_ed == 1, t._prof_ed == 1))
    t = t.filter(t._counts)
    t = t.mutate(_rn=ibis.row_number().over(ibis.window(
        group_by=day, order_by=["data_source", "claim_id", "claim_line_number"])))
    first = t._rn == 0
    return t.group_by([t.person_id, t._date.name("visit_date")]).aggregate(
        payer=t.payer.max(where=first),
        plan=t.plan.max(where=first),
        source=ibis.ifelse(t._rev_ed.max() == 1, "revenue", "professional"),
        line_count=t.count(),
        paid_amount=_money_sum(t.paid_amount),
        allowed_amount=_money_sum(t.allowed_amount),
    )


def _link_visits(visits: ir.Table, stays: ir.Table) -> ir.Table:
    """Each visit with the stay it led to: a stay of the person admitted the same day or the
    next; when several qualify, the earliest admission (then the lowest stay_id)."""
    s = stays.select(
        _person=stays.person_id, stay_id=stays.stay_id, _admission=stays.admission_date
    )
    j = visits.left_join(
        s,
        [visits.person_id == s._person,
         _days(s._admission, visits.visit_date).between(0, 1)],
    )
    j = j.mutate(_rn=ibis.row_number().over(ibis.window(
        group_by=[j.person_id, j.visit_date], order_by=[j._admission, j.stay_id])))
    return j.filter(j._rn == 0).drop("_person", "_admission", "_rn")


ED_COLUMNS = (
    "person_id", "visit_date", "payer", "plan", "source", "line_count", "paid_amount",
    "allowed_amount", "admitted_flag", "treat_and_release_flag", "stay_id",
)


def ed_visits(medical_claim: ir.Table, stays: ir.Table) -> ir.Table:
    """One row per person x ED service date; `stays` is the output of `inpatient_stays`.

    A visit followed by an acute stay admitted the same day or the next is absorbed into it:
    `admitted_flag` = 1 and `stay_id` names the stay. Every row is an ED visit for utilisation;
    `treat_and_release_flag` = 1 - admitted_flag.
    """
    return ed_visits_of(ed_visit_days(medical_claim), stays)


def ed_visits_of(visit_days: ir.Table, stays: ir.Table) -> ir.Table:
    """`ed_visits` from the `ed_visit_days` and `inpatient_stays` marts."""
    v = _link_visits(visit_days, stays)
    v = v.mutate(admitted_flag=_flag(v.stay_id.notnull()))
    v = v.mutate(treat_and_release_flag=(1 - v.admitted_flag).cast(FLAG))
    return v.select(*ED_COLUMNS).order_by(["person_id", "visit_date"])
