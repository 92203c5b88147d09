"""FHIR Patient, Coverage, Practitioner and Organization -> eligibility and provider
(docs/formats_fhir.md), and the eligibility spans derived from claims when an export has
no Coverage (Synthea).

Per-resource mappers are pure functions over plain orjson dicts. The spans themselves are
finished set-based (DuckDB over the Arrow tables) once every file is read, because an open
Coverage period and the claims-derived spans need the dates of the whole export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from medsynergy.ingest.formats import Derived, RecordError
from medsynergy.ingest.formats.fhir_common import (
    Context,
    Resource,
    Row,
    fhir_date,
    human_name,
    npi_of,
    ref_text,
)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_YEAR = re.compile(r"\d{4}")

#: Blue Button / BFD Coverage extensions (CCW variables,
#: https://bluebutton.cms.gov/resources/variables/<name>) -> eligibility columns.
BB_VARIABLES = "https://bluebutton.cms.gov/resources/variables/"
#: Medicare status code (ms_cd: 10 aged, 11 aged with ESRD, 20 disabled, 21, 31 ESRD only).
MS_CD = BB_VARIABLES + "ms_cd"
#: Original reason for entitlement (orec: 0 old age, 1 disability, 2 ESRD, 3 both).
OREC = BB_VARIABLES + "orec"
#: Monthly Medicare-Medicaid dual status of the reference year (dual_01 .. dual_12).
DUAL_PREFIX = BB_VARIABLES + "dual_"
#: The reference year of the beneficiary's enrollment data.
RFRNC_YR = BB_VARIABLES + "rfrnc_yr"

US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
BB_RACE = BB_VARIABLES + "race"

#: Internal span columns beyond the eligibility ones: the Coverage's reference year (for
#: an open period), where it came from (file number, entry/line, record type) and, only
#: when the start is unknown, the raw text (to quarantine it if no date can be derived).
SPAN_EXTRA = ("_ref_year", "_file", "_loc", "_type", "_raw")
SPAN_COLUMNS = (
    "person_id", "member_id", "subscriber_id", "subscriber_relation", "payer", "payer_type",
    "plan", "group_id", "group_name", "enrollment_start_date", "enrollment_end_date",
    "medicare_status_code", "dual_status_code", "original_reason_entitlement_code",
    "derived_columns", *SPAN_EXTRA,
)
DEMOGRAPHIC_COLUMNS = (
    "person_id", "gender", "race", "birth_date", "death_date", "death_flag", "first_name",
    "last_name", "social_security_number", "address", "city", "state", "zip_code", "phone",
)
PROVIDER_COLUMNS = ("npi", "tin", "provider_name", "entity_type", "specialty",
                    "taxonomy_code", "organization_id", "organization_name")

NO_NPI = "no NPI (provider rows are keyed by NPI)"


def _day(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    d = fhir_date(value)
    return d if d is not None and _DAY.match(d) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# --- Patient -----------------------------------------------------------------------------

#: FHIR AdministrativeGender -> eligibility.gender (male, female or unknown).
GENDERS = {"male": "male", "female": "female", "other": "unknown", "unknown": "unknown"}


def _race(resource: Mapping[str, Any]) -> str | None:
    """Race as the source codes it: the US Core race extension's `text` (what Synthea and
    US Core senders fill, e.g. "White"), else its OMB category displays; the Blue Button
    race variable's display (else code)."""
    for ext in resource.get("extension") or ():
        if not isinstance(ext, Mapping):
            continue
        url = ext.get("url")
        if url == US_CORE_RACE:
            parts = [e for e in ext.get("extension") or () if isinstance(e, Mapping)]
            for e in parts:
                if e.get("url") == "text" and e.get("valueString"):
                    return str(e["valueString"])
            omb = [(e.get("valueCoding") or {}) for e in parts if e.get("url") == "ombCategory"]
            names = [str(c.get("display") or c.get("code")) for c in omb
                     if c.get("display") or c.get("code")]
            if names:
                return ", ".join(names)
        elif url == BB_RACE:
            c = ext.get("valueCoding") or {}
            return _str(c.get("display")) or _str(c.get("code"))
    return None


def _address(resource: Mapping[str, Any]) -> Mapping[str, Any]:
    """The current home address (no period end), else the first one."""
    addresses = [a for a in resource.get("address") or () if isinstance(a, Mapping)]
    for a in addresses:
        if a.get("use") in (None, "home") and not (a.get("period") or {}).get("end"):
            return a
    return addresses[0] if addresses else {}


def _phone(resource: Mapping[str, Any]) -> str | None:
    phones = [t for t in resource.get("telecom") or ()
              if isinstance(t, Mapping) and t.get("system") == "phone" and t.get("value")]
    home = [t for t in phones if t.get("use") == "home"]
    chosen = home or phones
    return str(chosen[0]["value"]) if chosen else None


def patient_row(resource: Resource) -> Row:
    """Patient -> the demographics that go on the person's eligibility rows."""
    pid = _str(resource.get("id"))
    if pid is None:
        raise RecordError("source_required_missing", "Patient has no id")
    gender = resource.get("gender")
    death_date = _day(resource.get("deceasedDateTime"))
    deceased = death_date is not None or resource.get("deceasedBoolean") is True
    given, family = human_name(resource)
    addr = _address(resource)
    lines = [str(x) for x in addr.get("line") or () if x]
    ssn = None
    for ident in resource.get("identifier") or ():
        if isinstance(ident, Mapping) and str(ident.get("system", "")).endswith("us-ssn"):
            ssn = _str(ident.get("value"))
            break
    return {
        "person_id": pid,
        "gender": GENDERS.get(gender) if isinstance(gender, str) else None,
        "race": _race(resource),
        "birth_date": _day(resource.get("birthDate")),
        "death_date": death_date,
        "death_flag": "1" if deceased else "0",
        "first_name": given,
        "last_name": family,
        "social_security_number": ssn,
        "address": ", ".join(lines) or None,
        "city": _str(addr.get("city")),
        "state": _str(addr.get("state")),
        "zip_code": _str(addr.get("postalCode")),
        "phone": _phone(resource),
    }


# --- Coverage ----------------------------------------------------------------------------

def payer_type_of(payer: str | None) -> str:
    """payer_type from a payer name, as Synthea names its payers (medicare, medicaid,
    dual_eligible, no_insurance, else a private insurer): dual_eligible -> dual,
    no_insurance -> self-pay (uninsured spend stays visible under payer "no_insurance"),
    anything else -> commercial."""
    p = (payer or "").strip().lower()
    if "dual" in p:
        return "dual"
    if "medicare" in p:
        return "medicare"
    if "medicaid" in p:
        return "medicaid"
    if p in ("no_insurance", "no insurance", "self-pay", "self pay", "uninsured"):
        return "self-pay"
    return "commercial"


#: Source of Payment Typology (PHDSC/NAHDO, the US Core Coverage.type value set) by
#: leading digits: 1 Medicare (14 dual eligible), 2 Medicaid, 3/4 other government,
#: 5/6/7 private / BCBS / managed care, 8 no payment (self-pay).
_SOPT = (("14", "dual"), ("1", "medicare"), ("2", "medicaid"), ("3", "other government"),
         ("4", "other government"), ("5", "commercial"), ("6", "commercial"),
         ("7", "commercial"), ("8", "self-pay"))


#: The payor identifier BFD v2 (CARIN) Coverage names.
CMS = "Centers for Medicare and Medicaid Services"


def _is_blue_button(resource: Mapping[str, Any]) -> bool:
    """A Blue Button / BFD Medicare Part A/B/C/D Coverage: CCW-variable extensions, the
    STU3 `grouping.subGroup` "Medicare", `type` system "Medicare", or (v2, CARIN) the
    class group "Medicare" with the payor CMS."""
    for ext in resource.get("extension") or ():
        if isinstance(ext, Mapping) and str(ext.get("url", "")).startswith(BB_VARIABLES):
            return True
    grouping = resource.get("grouping")
    if isinstance(grouping, Mapping) and grouping.get("subGroup") == "Medicare":
        return True
    for coding in _mapping(resource.get("type")).get("coding") or ():
        if isinstance(coding, Mapping) and coding.get("system") == "Medicare":
            return True
    group = _classes(resource).get("group", (None, None))[0]
    payors = [_mapping(p) for p in resource.get("payor") or ()]
    cms = any(_mapping(p.get("identifier")).get("value") == CMS for p in payors)
    return group == "Medicare" and cms


def _classes(resource: Mapping[str, Any]) -> dict[str, tuple[str | None, str | None]]:
    """R4 Coverage.class by type code (plan, group, subgroup, ...) -> (value, name)."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for c in resource.get("class") or ():
        if not isinstance(c, Mapping):
            continue
        for coding in (c.get("type") or {}).get("coding") or ():
            code = coding.get("code") if isinstance(coding, Mapping) else None
            if code and code not in out:
                out[str(code)] = (_str(c.get("value")), _str(c.get("name")))
    return out


def _payer(resource: Mapping[str, Any], ctx: Context) -> str | None:
    """Coverage.payor: its display, the resolved Organization's name, the identifier
    value (BFD v2: "Centers for Medicare and Medicaid Services"), else the reference id."""
    for payor in resource.get("payor") or ():
        if not isinstance(payor, Mapping):
            continue
        if payor.get("display"):
            return str(payor["display"])
        text = ref_text(payor)
        if text:
            found = ctx.resolve(text)
            if found is not None and found.get("name"):
                return str(found["name"])
            if found is not None and found.get("resourceType") == "Patient":
                return "self-pay"  # the beneficiary pays (FHIR: payor may be a Patient)
        ident = payor.get("identifier")
        if isinstance(ident, Mapping) and ident.get("value"):
            return str(ident["value"])
        if text:
            return ctx.optional_id(payor)
    return None


def _bb_extensions(resource: Mapping[str, Any]) -> dict[str, str | None]:
    """medicare_status_code (ms_cd), original_reason_entitlement_code (orec) and
    dual_status_code: the latest month of the reference year with a dual_NN value."""
    out: dict[str, str | None] = {}
    duals: dict[str, str] = {}
    for ext in resource.get("extension") or ():
        if not isinstance(ext, Mapping):
            continue
        url = str(ext.get("url", ""))
        code = (ext.get("valueCoding") or {}).get("code") if isinstance(
            ext.get("valueCoding"), Mapping) else None
        if url == MS_CD and code is not None:
            out["medicare_status_code"] = str(code)
        elif url == OREC and code is not None:
            out["original_reason_entitlement_code"] = str(code)
        elif url.startswith(DUAL_PREFIX) and code is not None:
            duals[url[len(DUAL_PREFIX):]] = str(code)
        elif url == RFRNC_YR:
            year = ext.get("valueDate") or ext.get("valueString")
            if isinstance(year, str) and _YEAR.match(year):
                out["_ref_year"] = year[:4]
    if duals:
        out["dual_status_code"] = duals[max(duals)]
    return out


#: FHIR subscriber-relationship -> eligibility.subscriber_relation (self, spouse,
#: dependent); other codes are kept as given.
RELATIONS = {"self": "self", "spouse": "spouse", "child": "dependent"}


def coverage_span(resource: Resource, ctx: Context, *, contained_in: str | None = None
                  ) -> Row | None:
    """Coverage -> one eligibility span (SPAN_COLUMNS without the location columns).

    beneficiary -> person_id; subscriberId, else the first identifier, else the person ->
    member_id; payor -> payer (Blue Button Part A/B/C/D: medicare); class plan / group (R4)
    or grouping plan/subPlan, group/subGroup (STU3) -> plan, group_id, group_name;
    period -> enrollment dates (an open end, or a start from the reference year or the
    export, is filled in later: `finish_eligibility`). A Coverage contained in an EOB
    without a period only names the claim's payer: None (no span of its own).
    """
    period = _mapping(resource.get("period"))
    start = _day(period.get("start"))
    end = _day(period.get("end"))
    if contained_in is not None and start is None:
        return None
    what = f"Coverage {resource.get('id', '')}".strip()
    beneficiary = resource.get("beneficiary")
    if not isinstance(beneficiary, Mapping):
        raise RecordError("source_required_missing", f"{what} has no beneficiary")
    person = ctx.patient_id(beneficiary, f"{what} (beneficiary)")
    bb = _is_blue_button(resource)
    member = _str(resource.get("subscriberId"))
    if member is None:
        for ident in resource.get("identifier") or ():
            if isinstance(ident, Mapping) and ident.get("value"):
                member = str(ident["value"])
                break
    payer = _payer(resource, ctx)
    derived: list[str] = []
    if member is None:
        member = person
        derived.append("member_id")
    if bb:
        payer = "medicare"  # Blue Button serves Medicare (CMS) enrollment only
    if payer is None:
        raise RecordError("source_required_missing", f"{what} names no payor")
    classes = _classes(resource)
    grouping = _mapping(resource.get("grouping"))
    plan = (classes.get("plan", (None, None))[0] or _str(grouping.get("plan"))
            or _str(grouping.get("subPlan")))
    if bb and plan is not None:
        # `Part A` (BCDA, BFD) -> `part a`: one spelling of the Medicare parts across the
        # claims (fhir_eob) and DE-SynPUF, so claims and spans meet on plan
        plan = " ".join(plan.lower().replace("-", " ").split())
    group_id = (classes.get("group", (None, None))[0] or _str(grouping.get("group"))
                or _str(grouping.get("subGroup")))
    group_name = classes.get("group", (None, None))[1] or _str(grouping.get("groupDisplay"))
    payer_type = "medicare" if bb else None
    if payer_type is None:
        for coding in (resource.get("type") or {}).get("coding") or ():
            code = str(coding.get("code") or "") if isinstance(coding, Mapping) else ""
            if "nahdo" in str(coding.get("system", "")) or code.isdigit():
                payer_type = next((t for p, t in _SOPT if code.startswith(p)), None)
                if payer_type:
                    break
    if payer_type is None:
        payer_type = payer_type_of(payer)
        derived.append("payer_type")
    relation = None
    rel = resource.get("relationship")
    if isinstance(rel, Mapping):
        for coding in rel.get("coding") or ():
            if isinstance(coding, Mapping) and coding.get("code"):
                relation = RELATIONS.get(str(coding["code"]), str(coding["code"]))
                break
    subscriber = ctx.optional_id(resource.get("subscriber")) if isinstance(
        resource.get("subscriber"), Mapping) else None
    row: Row = dict.fromkeys(SPAN_COLUMNS)
    row.update({
        "person_id": person, "member_id": member,
        "subscriber_id": subscriber or _str(resource.get("subscriberId")),
        "subscriber_relation": relation, "payer": payer, "payer_type": payer_type,
        "plan": plan, "group_id": group_id, "group_name": group_name,
        "enrollment_start_date": start, "enrollment_end_date": end,
        "_type": "ExplanationOfBenefit" if contained_in else "Coverage",
    })
    row.update(_bb_extensions(resource))
    row["derived_columns"] = ",".join(derived) or None
    return row


# --- Practitioner / Organization ---------------------------------------------------------

def provider_row(resource: Resource) -> Row:
    """Practitioner / Organization -> provider, keyed by NPI (the us-npi identifier); a
    resource without one cannot be keyed: RecordError is not raised, the caller skips it
    (`NO_NPI`) because nothing is wrong with the record."""
    npi = npi_of(resource)
    if npi is None:
        raise LookupError(NO_NPI)
    kind = resource.get("resourceType")
    tin = None
    for ident in resource.get("identifier") or ():
        if not isinstance(ident, Mapping):
            continue
        system = str(ident.get("system", ""))
        codes = [c.get("code") for c in (ident.get("type") or {}).get("coding") or ()
                 if isinstance(c, Mapping)]
        if system.endswith(("us-tin", "/tax", "us-ein")) or "TAX" in codes:
            tin = _str(ident.get("value"))
            break
    if kind == "Practitioner":
        given, family = human_name(resource)
        name = " ".join(p for p in (given, family) if p) or None
        entity = "individual"
    else:
        name = _str(resource.get("name"))
        entity = "organization"
    row: Row = dict.fromkeys(PROVIDER_COLUMNS)
    row.update({"npi": npi, "tin": tin, "provider_name": name, "entity_type": entity})
    return row


ROLE_COLUMNS = ("npi", "specialty", "taxonomy_code", "organization_id", "organization_name")
#: NUCC Health Care Provider Taxonomy (US Core PractitionerRole.specialty binding).
NUCC = "http://nucc.org/provider-taxonomy"


def role_row(resource: Resource, ctx: Context) -> Row | None:
    """PractitionerRole -> what it adds to its practitioner's provider row: specialty (the
    first specialty's text or display, else the role code's), taxonomy_code (a NUCC
    coding of specialty or code), organization_id / organization_name. The practitioner
    is found by its NPI: the reference's identifier (US Core / Synthea write it so), else
    the resolved Practitioner. None when no NPI can be found."""
    prac = _mapping(resource.get("practitioner"))
    npi = None
    ident = _mapping(prac.get("identifier"))
    if str(ident.get("system", "")).endswith("us-npi"):
        npi = _str(ident.get("value"))
    if npi is None and ref_text(prac):
        npi = npi_of(ctx.resolve(str(ref_text(prac))))
    if npi is None:
        return None
    concepts = [c for key in ("specialty", "code") for c in resource.get(key) or ()
                if isinstance(c, Mapping)]
    specialty = taxonomy = None
    for c in concepts:
        codings = [x for x in c.get("coding") or () if isinstance(x, Mapping)]
        specialty = specialty or _str(c.get("text")) or next(
            (_str(x.get("display")) for x in codings if x.get("display")), None)
        taxonomy = taxonomy or next((_str(x.get("code")) for x in codings
                                     if x.get("system") == NUCC and x.get("code")), None)
    org = _mapping(resource.get("organization"))
    org_ident = _mapping(org.get("identifier"))
    found = ctx.resolve(str(ref_text(org))) if ref_text(org) else None
    org_name = _str(org.get("display")) or (_str(found.get("name")) if found else None)
    org_id = (_str(org_ident.get("value")) or (_str(found.get("id")) if found else None)
              or (ctx.optional_id(org) if ref_text(org) else None))
    return {"npi": npi, "specialty": specialty, "taxonomy_code": taxonomy,
            "organization_id": org_id, "organization_name": org_name}


# --- eligibility, set-based --------------------------------------------------------------

ELIGIBILITY_COLUMNS = (
    "person_id", "member_id", "subscriber_id", "gender", "race", "birth_date", "death_date",
    "death_flag", "enrollment_start_date", "enrollment_end_date", "payer", "payer_type",
    "plan", "original_reason_entitlement_code", "dual_status_code", "medicare_status_code",
    "group_id", "group_name", "first_name", "last_name", "social_security_number",
    "subscriber_relation", "address", "city", "state", "zip_code", "phone", "derived_columns",
)

#: (table, date columns) whose dates bound a person's history in the export: an open
#: Coverage ends at the end of the month of the person's latest date.
PERSON_DATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("medical_claim", ("claim_start_date", "claim_end_date")),
    ("pharmacy_claim", ("dispensing_date",)),
    ("encounter", ("encounter_start_date", "encounter_end_date")),
    ("condition", ("recorded_date",)),
    ("procedure", ("procedure_date",)),
    ("medication", ("prescribing_date",)),
    ("observation", ("observation_date",)),
)

#: The claims-derived spans, in DuckDB SQL over `claims(person_id, member_id, payer, plan,
#: day)` and `deaths(person_id, death_date)`; docs/formats_fhir.md states the rule.
DERIVE_SQL = """
WITH c AS (
  SELECT person_id, member_id, payer, plan, day,
         row_number() OVER (PARTITION BY person_id, plan ORDER BY day, payer,
                            member_id NULLS FIRST) AS n
  FROM claims),
k AS (
  SELECT *, CASE WHEN lag(payer) OVER w IS NOT DISTINCT FROM payer THEN 0 ELSE 1 END AS brk
  FROM c WINDOW w AS (PARTITION BY person_id, plan ORDER BY n)),
r AS (
  SELECT *, sum(brk) OVER (PARTITION BY person_id, plan ORDER BY n) AS run FROM k),
runs AS (
  SELECT person_id, plan, run, any_value(payer) AS payer, min(member_id) AS member_id,
         min(day) AS first_day, max(day) AS last_day
  FROM r GROUP BY person_id, plan, run),
spans AS (
  SELECT runs.person_id, member_id, payer, plan,
         date_trunc('month', first_day)::DATE AS s,
         CASE WHEN lead(first_day) OVER w IS NULL THEN
                CASE WHEN d.death_date IS NOT NULL AND d.death_date >= last_day
                          AND d.death_date <= last_day(last_day) THEN d.death_date
                     ELSE last_day(last_day) END
              ELSE greatest(date_trunc('month', lead(first_day) OVER w)::DATE - 1,
                            last_day(last_day)) END AS e
  FROM runs LEFT JOIN deaths d USING (person_id)
  WINDOW w AS (PARTITION BY runs.person_id, plan ORDER BY run)),
isl AS (
  SELECT *, CASE WHEN s <= max(e) OVER (PARTITION BY person_id, payer, plan ORDER BY s, e
                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) + 1 THEN 0 ELSE 1
            END AS brk FROM spans),
grp AS (
  SELECT *, sum(brk) OVER (PARTITION BY person_id, payer, plan ORDER BY s, e) AS g FROM isl)
SELECT person_id, coalesce(min(member_id), person_id) AS member_id, payer, plan,
       strftime(min(s), '%Y-%m-%d') AS enrollment_start_date,
       strftime(max(e), '%Y-%m-%d') AS enrollment_end_date
FROM grp GROUP BY person_id, payer, plan, g
ORDER BY person_id, min(s), payer, plan NULLS FIRST
"""


def derive_spans(claims: pa.Table, deaths: pa.Table) -> pa.Table:
    """Eligibility spans from claims, set-based (DuckDB over Arrow).

    `claims`: person_id, member_id, payer, plan, day (text dates); `deaths`: person_id,
    death_date. Each plan of a person is a coverage line of its own (Blue Button bills
    Parts A, B and D side by side; Synthea names no plan: one line). Along a line, claims
    are ordered by day; a run of consecutive claims with the same payer is one span from
    the first day of the month of its first claim to the day before the month the next
    run begins in, or, when the next run begins in the month of this run's last claim,
    to the end of that month, so every claim lies in a span of its payer; the last run
    ends on the last day of the month of its last claim, or on the death date when the
    person died in that month. Spans of one person, payer and plan that then overlap or
    touch are merged (a payer that comes back in the same month is one span). Claims
    without a payer or an unreadable day are left out.
    """
    con = duckdb.connect()
    try:
        con.register("raw_claims", claims)
        con.register("raw_deaths", deaths)
        con.execute("""CREATE TEMP TABLE claims AS
            SELECT person_id, member_id, payer, plan, TRY_CAST(day AS DATE) AS day
            FROM raw_claims WHERE person_id IS NOT NULL AND payer IS NOT NULL
              AND TRY_CAST(day AS DATE) IS NOT NULL""")
        con.execute("""CREATE TEMP TABLE deaths AS
            SELECT person_id, min(TRY_CAST(death_date AS DATE)) AS death_date
            FROM raw_deaths GROUP BY person_id""")
        return con.sql(DERIVE_SQL).to_arrow_table()
    finally:
        con.close()


_PAYER_TYPE_SQL = """CASE
  WHEN lower(payer) LIKE '%dual%' THEN 'dual'
  WHEN lower(payer) LIKE '%medicare%' THEN 'medicare'
  WHEN lower(payer) LIKE '%medicaid%' THEN 'medicaid'
  WHEN lower(trim(payer)) IN ('no_insurance', 'no insurance', 'self-pay', 'self pay',
                              'uninsured') THEN 'self-pay'
  ELSE 'commercial' END"""


@dataclass(frozen=True)
class Eligibility:
    """The finished eligibility table and what was derived to build it."""

    table: pa.Table
    derived: tuple[Derived, ...]
    notes: tuple[str, ...]
    #: Coverage spans whose start could not be placed (SPAN_COLUMNS): the caller
    #: quarantines them (source_required_missing).
    unplaced: pa.Table


def _person_dates_sql(tables: Mapping[str, pa.Table], con: duckdb.DuckDBPyConnection) -> str:
    parts: list[str] = []
    for name, cols in PERSON_DATES:
        t = tables.get(name)
        if t is None or t.num_rows == 0:
            continue
        con.register(f"t_{name}", t.select(["person_id", *cols]))
        for c in cols:
            parts.append(f"SELECT person_id, TRY_CAST({c} AS DATE) AS day FROM t_{name}")
    parts.append("SELECT person_id, TRY_CAST(enrollment_start_date AS DATE) AS day FROM spans_in")
    parts.append("SELECT person_id, TRY_CAST(enrollment_end_date AS DATE) AS day FROM spans_in")
    return " UNION ALL ".join(parts)


def finish_eligibility(spans: pa.Table, patients: pa.Table,
                       tables: Mapping[str, pa.Table]) -> Eligibility:
    """Eligibility from the Coverage spans, the claims (persons without Coverage) and the
    Patients' demographics, set-based in DuckDB.

    A Coverage without a start begins on 1 January of its Blue Button reference year, else
    on the first day of the month of the person's earliest date in the export; one
    without an end ends on the last day of the month of the latest of: the person's latest
    date in the export, 31 December of the reference year, its start; or on the person's
    death date when the person died (on or after its start). Persons with no Coverage get
    `derive_spans` from their claims. Spans with the same key (person, member, payer,
    plan, start) are one (the latest end).
    """
    con = duckdb.connect()
    try:
        con.register("spans_in", spans)
        con.register("patients_in", patients)
        con.execute(f"CREATE TEMP TABLE ext AS SELECT person_id, min(day) AS first_day, "
                    f"max(day) AS last_day FROM ({_person_dates_sql(tables, con)}) "
                    f"WHERE day IS NOT NULL GROUP BY person_id")
        con.execute("""CREATE TEMP TABLE demo AS SELECT * EXCLUDE (_ord) FROM patients_in
            QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY _ord) = 1""")
        con.execute("""CREATE TEMP TABLE cov AS
            WITH s AS (
              SELECT s.*, TRY_CAST(enrollment_start_date AS DATE) AS s0,
                     TRY_CAST(enrollment_end_date AS DATE) AS e0,
                     TRY_CAST(_ref_year AS INTEGER) AS ry, ext.first_day, ext.last_day,
                     TRY_CAST(demo.death_date AS DATE) AS dd
              FROM spans_in s LEFT JOIN ext USING (person_id)
              LEFT JOIN demo USING (person_id)),
            f AS (
              SELECT *, coalesce(s0, make_date(ry, 1, 1),
                                 date_trunc('month', first_day)::DATE) AS s1 FROM s),
            g AS (
              SELECT *, CASE WHEN e0 IS NOT NULL OR s1 IS NULL THEN e0
                             WHEN dd IS NOT NULL AND dd >= s1 THEN dd
                             ELSE last_day(greatest(last_day, make_date(ry, 12, 31), s1))
                        END AS e1 FROM f)
            SELECT * EXCLUDE (s0, e0, ry, first_day, last_day, dd, s1, e1,
                              enrollment_start_date, enrollment_end_date, derived_columns),
                   strftime(s1, '%Y-%m-%d') AS enrollment_start_date,
                   strftime(e1, '%Y-%m-%d') AS enrollment_end_date,
                   NULLIF(concat_ws(',', derived_columns,
                     CASE WHEN s0 IS NULL THEN 'enrollment_start_date' END,
                     CASE WHEN e0 IS NULL THEN 'enrollment_end_date' END), '') AS derived_columns,
                   s0 IS NULL AS start_filled, e0 IS NULL AS end_filled
            FROM g""")
        unplaced = con.sql(f"SELECT {', '.join(SPAN_COLUMNS)} FROM cov "
                           "WHERE enrollment_start_date IS NULL "
                           "ORDER BY TRY_CAST(_file AS INTEGER), TRY_CAST(_loc AS INTEGER)"
                           ).to_arrow_table()
        filled = con.execute("""SELECT count(*) FILTER (start_filled), count(*) FILTER (end_filled),
            count(*) FILTER (derived_columns LIKE '%member_id%'),
            count(*) FILTER (derived_columns LIKE '%payer_type%')
            FROM cov WHERE enrollment_start_date IS NOT NULL""").fetchall()[0]
        claim_parts: list[str] = []
        for name, day in (("medical_claim", "claim_start_date"),
                          ("pharmacy_claim", "dispensing_date")):
            t = tables.get(name)
            if t is not None and t.num_rows:
                con.register(f"c_{name}", t.select(["person_id", "member_id", "payer", "plan", day]))
                claim_parts.append(f"SELECT person_id, member_id, payer, plan, {day} AS day "
                                   f"FROM c_{name} WHERE person_id NOT IN "
                                   "(SELECT person_id FROM cov)")
        if claim_parts:
            claims = con.sql(" UNION ALL ".join(claim_parts)).to_arrow_table()
        else:
            claims = pa.table({c: pa.array([], pa.string())
                               for c in ("person_id", "member_id", "payer", "plan", "day")})
        deaths = con.sql("SELECT person_id, death_date FROM demo WHERE death_date IS NOT NULL"
                         ).to_arrow_table()
        derived_spans = derive_spans(claims, deaths)
        con.register("dspans", derived_spans)
        n_derived = derived_spans.num_rows
        n_persons = len(set(derived_spans.column("person_id").to_pylist()))
        cols = ", ".join(c for c in ELIGIBILITY_COLUMNS if c in DEMOGRAPHIC_COLUMNS
                         and c != "person_id")
        table = con.sql(f"""
            WITH allspans AS (
              SELECT person_id, member_id, subscriber_id, subscriber_relation, payer,
                     payer_type, plan, group_id, group_name, enrollment_start_date,
                     enrollment_end_date, medicare_status_code, dual_status_code,
                     original_reason_entitlement_code, derived_columns,
                     0 AS src, TRY_CAST(_file AS INTEGER) AS f, TRY_CAST(_loc AS INTEGER) AS l
              FROM cov WHERE enrollment_start_date IS NOT NULL
              UNION ALL
              SELECT person_id, member_id, NULL, NULL, payer, {_PAYER_TYPE_SQL}, plan,
                     NULL, NULL, enrollment_start_date, enrollment_end_date, NULL, NULL, NULL,
                     'enrollment_start_date,enrollment_end_date,payer,payer_type', 1, 0, 0
              FROM dspans),
            one AS (
              SELECT * FROM allspans QUALIFY row_number() OVER (
                PARTITION BY person_id, member_id, payer, plan, enrollment_start_date
                ORDER BY enrollment_end_date DESC, src, f, l) = 1)
            SELECT one.person_id, {cols},
                   one.* EXCLUDE (person_id, src, f, l)
            FROM one LEFT JOIN demo USING (person_id)
            ORDER BY one.person_id, enrollment_start_date, payer, plan NULLS FIRST, member_id
            """).to_arrow_table()
        without = con.execute("""SELECT count(*) FROM demo WHERE person_id NOT IN
            (SELECT person_id FROM cov) AND person_id NOT IN (SELECT person_id FROM dspans)
            """).fetchall()
    finally:
        con.close()
    table = table.select(list(ELIGIBILITY_COLUMNS)).cast(
        pa.schema([(c, pa.string()) for c in ELIGIBILITY_COLUMNS]))
    derived: list[Derived] = []
    notes: list[str] = []
    starts, ends, members, ptypes = filled
    if starts:
        derived.append(Derived("eligibility", "enrollment_start_date",
                               "Coverage without period.start: 1 January of its Blue Button "
                               "reference year (rfrnc_yr), else the first day of the month of "
                               "the person's earliest date in the export", starts))
    if ends:
        derived.append(Derived("eligibility", "enrollment_end_date",
                               "Coverage without period.end (open): the last day of the month "
                               "of the person's latest date in the export (or of 31 December "
                               "of the reference year, or of its start, when later); the "
                               "death date when the person died", ends))
    if members:
        derived.append(Derived("eligibility", "member_id",
                               "Coverage without subscriberId or identifier: the person id",
                               members))
    if ptypes:
        derived.append(Derived("eligibility", "payer_type",
                               "Coverage.type not a Source of Payment Typology code: from the "
                               "payer name (medicare, medicaid, dual, self-pay, else "
                               "commercial)", ptypes))
    if n_derived:
        how = ("from the person's claims (no Coverage), per plan: one span per run of "
               "consecutive claims with the same payer, from the first day of the month of its "
               "first claim to the day before the month of the next run (at least to the end "
               "of the month of its last claim); the last run to the end of the month of its "
               "last claim or the death date (docs/formats_fhir.md)")
        for col in ("enrollment_start_date", "enrollment_end_date", "payer"):
            derived.append(Derived("eligibility", col, how, n_derived))
        derived.append(Derived("eligibility", "payer_type",
                               "from the payer name: medicare, medicaid, dual_eligible -> dual, "
                               "no_insurance -> self-pay, else commercial", n_derived))
        notes.append(f"eligibility spans derived from claims for {n_persons} persons "
                     f"(no Coverage): {n_derived} spans")
    n_without = int(without[0][0]) if without else 0
    if n_without:
        notes.append(f"{n_without} persons have a Patient but neither Coverage nor claims: "
                     "no eligibility span (their demographics are not loaded)")
    return Eligibility(table, tuple(derived), tuple(notes), unplaced)


__all__ = [
    "DEMOGRAPHIC_COLUMNS",
    "ELIGIBILITY_COLUMNS",
    "NO_NPI",
    "PERSON_DATES",
    "PROVIDER_COLUMNS",
    "ROLE_COLUMNS",
    "SPAN_COLUMNS",
    "Eligibility",
    "coverage_span",
    "derive_spans",
    "finish_eligibility",
    "patient_row",
    "payer_type_of",
    "provider_row",
    "role_row",
]
