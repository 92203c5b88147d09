"""attribution: each member, each year, to one TIN and one NPI (MSSP style).

Rule (issue "Measures", mart 8; docs/marts/attribution.md): "each member per year to one TIN
and NPI, MSSP style: step 1, plurality of allowed charges for primary-care services
(documented HCPCS list) from primary-care clinicians; step 2, from specialists for members
with no primary-care-clinician service; ties to the most recent service. Unattributed members
stay visible."

Sources: 42 CFR 425.402 (the two-step assignment methodology) and 42 CFR 425.400(c) (the
primary-care service codes, updated in each year's Physician Fee Schedule rule).

Set-based on purpose, so one expression compiles on DuckDB and on Spark: qualifying lines are
summed per person x year x step x TIN (and x NPI), and every "which one wins" is a
row_number over a total order (allowed desc, most recent service desc, identifier asc).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

MONEY = dt.Decimal(18, 2)
FLAG = "int64"


def _codes(first: int, last: int) -> tuple[str, ...]:
    return tuple(str(c) for c in range(first, last + 1))


#: Primary-care service HCPCS/CPT codes, 42 CFR 425.400(c)(1) as extended by the annual
#: Physician Fee Schedule rules (union of the codes listed for performance years 2019-2025;
#: codes since deleted, e.g. 99201 or 99318, are kept so older claims still count).
NURSING_FACILITY_CODES: tuple[str, ...] = _codes(99304, 99318)  # not at POS 31 (SNF)
PRIMARY_CARE_HCPCS: tuple[str, ...] = (
    *_codes(99201, 99215),       # office / outpatient E/M, new and established patient
    *NURSING_FACILITY_CODES,     # nursing facility E/M (excluded at POS 31, see below)
    *_codes(99324, 99340),       # domiciliary, rest home, custodial care; care plan oversight
    *_codes(99341, 99350),       # home visits
    *_codes(99421, 99423),       # online digital E/M
    *_codes(99424, 99427),       # principal care management
    "99437", "99439",            # chronic care management, additional time
    *_codes(99441, 99443),       # telephone E/M
    "99484",                     # behavioral health integration
    "99487", "99489",            # complex chronic care management
    "99490", "99491",            # chronic care management
    *_codes(99492, 99494),       # psychiatric collaborative care
    "99495", "99496",            # transitional care management
    "99497", "99498",            # advance care planning
    "G0402", "G0438", "G0439",   # welcome to Medicare visit, annual wellness visits
    "G0442", "G0443", "G0444",   # alcohol screening and counselling, depression screening
    "G0506",                     # CCM comprehensive assessment and care planning add-on
    "G2010", "G2012", "G2252",   # remote evaluation, virtual check-ins
    "G2058",                     # CCM additional time
    "G2211",                     # visit complexity add-on
    "G2214",                     # psychiatric collaborative care, 30 minutes
    "G0136",                     # social determinants of health risk assessment
    "G0019", "G0022", "G0023", "G0024",  # community health integration, principal illness nav.
)

#: Place of service excluded for the nursing facility codes: MSSP does not count 99304-99318
#: furnished in a skilled nursing facility (POS 31), 42 CFR 425.400(c)(1)(ii).
SNF_PLACE_OF_SERVICE = "31"

#: Specialties read as primary-care clinicians when provider.primary_care_flag is not 1:
#: the primary-care physician specialties of 42 CFR 425.20 (internal medicine, family
#: practice, general practice, geriatric medicine, pediatric medicine) and the non-physician
#: practitioners 42 CFR 425.402(b)(3) counts in step 1 (NP, PA, CNS). Compared lower case.
PRIMARY_CARE_SPECIALTIES: tuple[str, ...] = (
    "internal medicine",
    "family medicine",
    "family practice",
    "general practice",
    "geriatric medicine",
    "pediatric medicine",
    "pediatrics",
    "nurse practitioner",
    "physician assistant",
    "clinical nurse specialist",
)

COLUMNS = ("person_id", "year", "attributed_tin", "attributed_npi", "step", "allowed_amount",
           "primary_care_allowed_total", "service_count", "last_service_date", "attributed_flag")


def _money_sum(col: ir.NumericColumn) -> ir.NumericScalar:
    """Exact sum: DECIMAL(18,2) widens on both engines, cast back; 0 if none."""
    return col.sum().fill_null(ibis.literal(0, MONEY)).cast(MONEY)


def _primary_care_npis(provider: ir.Table) -> ir.Table:
    """One row per NPI: pcp = 1 when any of its rows is a primary-care clinician."""
    p = provider
    specialty = p.specialty.strip().lower()
    is_pcp = ((p.primary_care_flag == 1).fill_null(False)
              | specialty.isin(PRIMARY_CARE_SPECIALTIES).fill_null(False))
    return (p.filter(p.npi.notnull())
            .group_by(_npi=p.npi)
            .aggregate(_pcp=is_pcp.cast(FLAG).max()))


def primary_care_services(medical_claim: ir.Table, provider: ir.Table) -> ir.Table:
    """Claim lines that are MSSP primary-care services, with year, TIN, NPI and step.

    Columns: person_id, year, service_date, tin (billing_tin, else rendering_tin), npi
    (rendering_npi, else billing_npi), allowed (null as 0), step (1 when the NPI is a
    primary-care clinician, else 2). Lines without a TIN, NPI or service date are left out:
    they cannot be attributed to anyone.
    """
    m = medical_claim
    code = m.hcpcs_code.strip().upper()
    pos = m.place_of_service_code.strip()
    snf_nursing = code.isin(NURSING_FACILITY_CODES) & (pos == SNF_PLACE_OF_SERVICE).fill_null(
        False)
    lines = m.filter(code.isin(PRIMARY_CARE_HCPCS) & ~snf_nursing)
    lines = lines.select(
        person_id=lines.person_id,
        service_date=lines.claim_line_start_date.fill_null(lines.claim_start_date),
        tin=lines.billing_tin.strip().nullif("").fill_null(lines.rendering_tin.strip().nullif("")),
        npi=lines.rendering_npi.strip().nullif("").fill_null(
            lines.billing_npi.strip().nullif("")),
        allowed=lines.allowed_amount.fill_null(ibis.literal(0, MONEY)),
    )
    lines = lines.filter(lines.person_id.notnull() & lines.service_date.notnull()
                         & lines.tin.notnull() & lines.npi.notnull())
    pcp = _primary_care_npis(provider)
    joined = lines.left_join(pcp, lines.npi == pcp._npi)
    step = ibis.ifelse(joined._pcp.fill_null(0) == 1, 1, 2).cast(FLAG)
    return joined.select(
        "person_id",
        year=joined.service_date.year().cast(FLAG),
        service_date=joined.service_date,
        tin=joined.tin,
        npi=joined.npi,
        allowed=joined.allowed,
        step=step,
    )


def attribution(medical_claim: ir.Table, provider: ir.Table, member_months: ir.Table
                ) -> ir.Table:
    """One row per person x year with member months: the attributed TIN and NPI.

    step 1: plurality of allowed primary-care services from primary-care clinicians; step 2
    (only for person-years with no step-1 service): the same over services by any other
    clinician. The winning TIN has the largest allowed sum, ties to the most recent service,
    then the lower TIN; the NPI is chosen the same way within the winning TIN. Person-years
    with no qualifying service have attributed_flag 0 and null TIN, NPI and step.
    """
    lines = primary_care_services(medical_claim, provider)
    # summed per person x year x step x TIN x NPI first: every later step reads these far
    # fewer rows instead of the lines
    s = lines.group_by(["person_id", "year", "step", "tin", "npi"]).aggregate(
        allowed=_money_sum(lines.allowed),
        service_date=lines.service_date.max(),
        _services=lines.count().cast(FLAG),
    )
    # only the deciding step of each person-year: step 1 when there is one
    first_step = ibis.window(group_by=[s.person_id, s.year])
    s = s.mutate(_first_step=s.step.min().over(first_step))
    s = s.filter(s.step == s._first_step).drop("_first_step")

    # Everything below reads these rows once (two readers had DuckDB compute the window
    # above twice): per TIN, its sums as window aggregates and the rank of each NPI within
    # it; the winning NPI's row then carries its TIN's sums, one row per TIN.
    tin_w = ibis.window(group_by=[s.person_id, s.year, s.tin])
    npi_w = ibis.window(group_by=[s.person_id, s.year, s.tin],
                        order_by=[s.allowed.desc(), s.service_date.desc(), s.npi.asc()])
    s = s.mutate(_tin_allowed=s.allowed.sum().over(tin_w),
                 _tin_last=s.service_date.max().over(tin_w),
                 _tin_services=s._services.sum().over(tin_w),
                 _npi_rank=ibis.row_number().over(npi_w))
    by_tin = s.filter(s._npi_rank == 0)
    by_tin = by_tin.select("person_id", "year", "step", "tin",
                           attributed_npi=by_tin.npi,
                           allowed_amount=by_tin._tin_allowed.cast(MONEY),
                           last_service_date=by_tin._tin_last,
                           service_count=by_tin._tin_services.cast(FLAG))
    # the winning TIN: most allowed, then most recent service, then lowest TIN
    py_w = ibis.window(group_by=[by_tin.person_id, by_tin.year])
    tin_rank_w = ibis.window(group_by=[by_tin.person_id, by_tin.year],
                             order_by=[by_tin.allowed_amount.desc(),
                                       by_tin.last_service_date.desc(), by_tin.tin.asc()])
    ranked = by_tin.mutate(
        primary_care_allowed_total=by_tin.allowed_amount.sum().over(py_w).cast(MONEY),
        _tin_rank=ibis.row_number().over(tin_rank_w))
    tin = ranked.filter(ranked._tin_rank == 0)
    won = tin.select(_p="person_id", _y="year", attributed_tin="tin",
                     attributed_npi="attributed_npi", step="step",
                     allowed_amount="allowed_amount",
                     primary_care_allowed_total="primary_care_allowed_total",
                     service_count="service_count", last_service_date="last_service_date")

    mm = member_months
    members = mm.select(person_id=mm.person_id, year=mm.year.cast(FLAG)).distinct()
    out = members.left_join(won, [members.person_id == won._p, members.year == won._y])
    flag = out.attributed_tin.notnull()
    out = out.select(
        "person_id", "year", "attributed_tin", "attributed_npi", "step",
        allowed_amount=out.allowed_amount.fill_null(ibis.literal(0, MONEY)).cast(MONEY),
        primary_care_allowed_total=out.primary_care_allowed_total.fill_null(
            ibis.literal(0, MONEY)).cast(MONEY),
        service_count=out.service_count.fill_null(0).cast(FLAG),
        last_service_date=out.last_service_date,
        attributed_flag=flag.cast(FLAG),
    )
    return out.order_by(["person_id", "year"])


def attribution_summary(attribution_table: ir.Table) -> ir.Table:
    """Per year x attributed TIN: members attributed (in total, by step 1, by step 2).

    Each year also has one row with attributed_tin null whose unattributed_members counts
    the person-years with no attribution; attributed_members is 0 there, and
    unattributed_members is 0 on every TIN row, so both columns add up across rows.
    """
    a = attribution_table
    one = ibis.literal(1, FLAG)
    zero = ibis.literal(0, FLAG)
    out = a.group_by(["year", "attributed_tin"]).aggregate(
        attributed_members=(a.attributed_flag == 1).ifelse(one, zero).sum().cast(FLAG),
        step_1_members=(a.step == 1).fill_null(False).ifelse(one, zero).sum().cast(FLAG),
        step_2_members=(a.step == 2).fill_null(False).ifelse(one, zero).sum().cast(FLAG),
        unattributed_members=(a.attributed_flag == 0).ifelse(one, zero).sum().cast(FLAG),
        allowed_amount=_money_sum(a.allowed_amount),
    )
    return out.order_by([out.year, out.attributed_tin.asc(nulls_first=True)])
