"""FHIR R4 clinical resources -> the clinical input tables (docs/formats_fhir_clinical.md).

One pure function per resource type, `(resource, ctx) -> list of rows`, over plain orjson
dicts: Encounter -> encounter, Condition -> condition, Procedure -> procedure,
MedicationRequest -> medication, Observation -> observation (one row per value: a
component is a row of its own), CarePlan -> care_plan, CareTeam -> care_team (one row per
participant). `MAPPERS` is the registry the FHIR reader dispatches on.

A resource that cannot be placed raises `RecordError` (no patient, no date to place it,
a `urn:uuid:` patient reference that is not in the bundle, a required date that is not a
day); an optional value that is missing or odd never costs the resource its row.

Every row carries every input column of its table (None when the source has no value),
so a caller or a test sees exactly what was and was not filled.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from medsynergy.ingest.formats import RecordError
from medsynergy.ingest.formats.fhir_common import (
    Context,
    Resource,
    Row,
    code_type,
    contained,
    decimal_text,
    fhir_date,
    first_coding,
    human_name,
    npi_of,
    ref_id,
    ref_text,
)
from medsynergy.schema import table as canonical_table

Mapper = Callable[[Resource, Context], list[Row]]

#: `ctx.extra` key a reader may fill with {member Observation id: panel Observation id}
#: (from the panels' `hasMember`, see `panel_members`), so the members of a panel sent as
#: separate Observations get the panel's id in panel_id.
PANEL_OF = "observation_panel_of"

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}\Z")


@cache
def _columns(name: str) -> tuple[str, ...]:
    """The input columns of canonical table `name` (lineage columns are the loader's)."""
    return tuple(c.name for c in canonical_table(name).columns if c.role.value == "input")


def _row(name: str, **values: str | None) -> Row:
    """A row of `name` with every input column (None unless given); a name that is not an
    input column raises, so a typo cannot silently lose a value."""
    row: Row = dict.fromkeys(_columns(name))
    for k, v in values.items():
        if k not in row:
            raise KeyError(f"{name}: not an input column: {k}")
        row[k] = v
    return row


# --- dates -------------------------------------------------------------------------------

def _day(value: Any) -> str | None:
    """The calendar day of a FHIR date/dateTime/instant as written (fhir_date: the local
    date, not shifted to UTC); None for a partial date (`2011`, `2011-06`)."""
    if not isinstance(value, str):
        return None
    return fhir_date(value)


def _required_day(candidates: Sequence[tuple[str, Any]], what: str) -> str:
    """The first candidate element that holds a day, else RecordError: missing when none of
    the elements is there (source_required_missing), unreadable when one is there but is
    not a day (a partial date or junk: source_value_invalid)."""
    present: list[str] = []
    for element, value in candidates:
        if value is None or value == "":
            continue
        day = _day(value)
        if day is not None and _DAY.match(day):
            return day
        present.append(f"{element}={value!r}")
    names = " / ".join(e for e, _ in candidates)
    if present:
        raise RecordError("source_value_invalid",
                          f"{what}: no day in {', '.join(present)} (a date needs year, month and day)")
    raise RecordError("source_required_missing", f"{what} has no {names}")


def _period(resource: Mapping[str, Any], key: str = "period") -> Mapping[str, Any]:
    p = resource.get(key)
    return p if isinstance(p, Mapping) else {}


def _days_between(start: str | None, end: str | None) -> str | None:
    if not start or not end:
        return None
    try:
        return str((date.fromisoformat(end) - date.fromisoformat(start)).days)
    except ValueError:
        return None  # a junk optional date: the loader flags it; no length is derived


# --- patients, parties and codes ---------------------------------------------------------

def _type_of(reference: str) -> str | None:
    """The resource type a literal reference names: `Practitioner/1`, `http://x/fhir/
    Practitioner/1/_history/2`, `Practitioner?identifier=...` -> Practitioner."""
    if reference.startswith(("urn:", "#")):
        return None
    if "?" in reference:
        head = reference.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return head or None
    parts = reference.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-2] if len(parts) >= 2 else None


def _patient(resource: Resource, ctx: Context, element: str = "subject") -> str:
    """The Patient id of the resource's subject/patient: RecordError when there is none,
    when a `urn:uuid:` reference is not in the bundle (ctx.patient_id), or when the subject
    is not a patient (an Observation about a Device or a Group cannot be placed on a
    person)."""
    what = f"{resource.get('resourceType', 'resource')} {resource.get('id', '')}".strip()
    ref = resource.get(element)
    if not isinstance(ref, Mapping):
        ref = None
    pid = ctx.patient_id(ref, f"{what} ({element})")
    text = ref_text(ref) or ""
    kind = _type_of(text) or (ref or {}).get("type")
    if kind is None and text.startswith("urn:"):
        found = ctx.resolve(text)
        kind = found.get("resourceType") if found else None
    if kind is not None and kind != "Patient":
        raise RecordError("source_required_missing",
                          f"{what}: {element} is a {kind}, not a Patient")
    return pid


@dataclass(frozen=True)
class Party:
    """Who a reference names: resource type, id, NPI (when known) and name."""

    kind: str | None
    id: str | None
    npi: str | None
    name: str | None

    @property
    def provider_id(self) -> str | None:
        """The provider as medsynergy keys providers: the NPI when known, else the id."""
        return self.npi or self.id


def _name_of(found: Mapping[str, Any]) -> str | None:
    if found.get("resourceType") in ("Practitioner", "Patient", "RelatedPerson"):
        given, family = human_name(found)
        full = " ".join(p for p in (given, family) if p)
        return full or None
    name = found.get("name")
    return name if isinstance(name, str) and name else None


def _party(ref: Any, ctx: Context, owner: Mapping[str, Any]) -> Party | None:
    """Resolve a Reference to a Practitioner / Organization / Patient / ...: through the
    export (`urn:uuid:`, `Type/id`), the owner's contained resources (`#id`), or, for a
    conditional reference (`Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|NPI`,
    as Synthea writes them), the identifier it names. A PractitionerRole is followed to
    its practitioner (the person is the provider). None when there is no reference."""
    if not isinstance(ref, Mapping):
        return None
    text = ref_text(ref)
    display = ref.get("display") if isinstance(ref.get("display"), str) else None
    ident = ref.get("identifier") if isinstance(ref.get("identifier"), Mapping) else None
    if text is None:
        if ident is None and display is None:
            return None
        value = None if ident is None else ident.get("value")
        is_npi = ident is not None and str(ident.get("system", "")).endswith("us-npi")
        return Party(ref.get("type"), None if value is None else str(value),
                     str(value) if is_npi and value is not None else None, display)
    found = contained(owner, text) if text.startswith("#") else ctx.resolve(text)
    if found is not None and found.get("resourceType") == "PractitionerRole":
        pr = found.get("practitioner")
        inner = _party(pr, ctx, found) if isinstance(pr, Mapping) else None
        if inner is not None:
            return Party(inner.kind, inner.id, inner.npi, display or inner.name)
    if found is not None:
        fid = found.get("id")
        return Party(found.get("resourceType"), str(fid) if fid else ref_id(text),
                     npi_of(found), _name_of(found) or display)
    npi = None
    if "?" in text and "us-npi|" in text:
        npi = ref_id(text)  # the conditional reference's identifier value
    return Party(_type_of(text) or ref.get("type"), ref_id(text), npi, display)


def _codes(concept: Any, prefix: str = "source_") -> dict[str, str | None]:
    """code_type / code / description of a CodeableConcept's first coding (the source code
    as given)."""
    kind, code, display = first_coding(concept if isinstance(concept, Mapping) else None)
    return {f"{prefix}code_type": kind, f"{prefix}code": _text(code),
            f"{prefix}description": display}


def _coding_of(concept: Any, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    """The first coding (in `kinds` order) whose system is one of the code types `kinds`."""
    if not isinstance(concept, Mapping):
        return None
    codings = [c for c in concept.get("coding") or () if isinstance(c, Mapping)]
    for want in kinds:
        for c in codings:
            if code_type(c.get("system")) == want and c.get("code") is not None:
                return dict(c)
    return None


def _normalized(concept: Any, kinds: tuple[str, ...]) -> dict[str, str | None]:
    """normalized_* from the concept's coding in a standard system (`kinds`), when it has
    one: the source code stays as given; the standard coding, when the source sent one
    alongside (or as the only coding), is what downstream code lookups read."""
    c = _coding_of(concept, kinds)
    if c is None:
        return {}
    text = concept.get("text") if isinstance(concept, Mapping) else None
    return {"normalized_code_type": code_type(c.get("system")),
            "normalized_code": _text(c.get("code")),
            "normalized_description": c.get("display") or text}


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _code(concept: Any) -> str | None:
    """The code of a CodeableConcept's first coding (status, category, ...)."""
    if not isinstance(concept, Mapping):
        return None
    for c in concept.get("coding") or ():
        if isinstance(c, Mapping) and c.get("code") is not None:
            return str(c["code"])
    text = concept.get("text")
    return text if isinstance(text, str) and text else None


def _first(items: Any) -> Any:
    """The first element of a FHIR list element (None when empty or not a list)."""
    if isinstance(items, list) and items:
        return items[0]
    return None


def _what(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType', 'resource')} {resource.get('id', '')}".strip()


def _id(resource: Mapping[str, Any]) -> str:
    """The resource id: the key of every table (a resource without one cannot be keyed)."""
    rid = resource.get("id")
    if rid is None or rid == "":
        raise RecordError("source_required_missing", f"{_what(resource)} has no id")
    return str(rid)


# --- Encounter ---------------------------------------------------------------------------

#: The FHIR R4 Encounter.class codes (v3 ActEncounterCode value set,
#: http://terminology.hl7.org/ValueSet/v3-ActEncounterCode).
ACT_ENCOUNTER_CODES = frozenset(
    {"AMB", "EMER", "FLD", "HH", "IMP", "ACUTE", "NONAC", "OBSENC", "PRENC", "SS", "VR"})

#: Class names -> ActCode: the v3 ActCode displays (`inpatient encounter`, `home health`,
#: ...), the short forms sources write (`inpatient`), and Synthea's encounter classes
#: (EncounterType: wellness, ambulatory, outpatient and urgentcare are all AMB in its FHIR
#: exporter; home is HH; virtual VR). snf / hospice are left unmapped (no single ActCode).
ENCOUNTER_CLASS_NAMES: dict[str, str] = {
    "ambulatory": "AMB", "emergency": "EMER", "field": "FLD", "home health": "HH",
    "inpatient encounter": "IMP", "inpatient": "IMP", "inpatient acute": "ACUTE",
    "inpatient non-acute": "NONAC", "observation encounter": "OBSENC",
    "pre-admission": "PRENC", "short stay": "SS", "virtual": "VR",
    "wellness": "AMB", "outpatient": "AMB", "urgentcare": "AMB", "urgent care": "AMB",
    "home": "HH", "telemedicine": "VR",
}

#: Inpatient classes whose start-to-end days are a length of stay (IMP and its v3
#: specialisations ACUTE / NONAC).
INPATIENT_CLASSES = frozenset({"IMP", "ACUTE", "NONAC"})


def encounter_class_code(value: str | None) -> str | None:
    """The v3 ActCode of an encounter class given as a code (`IMP`, `imp`) or a name
    (`inpatient`, `Inpatient Encounter`); None when it is neither."""
    if not value:
        return None
    v = value.strip()
    if v.upper() in ACT_ENCOUNTER_CODES:
        return v.upper()
    return ENCOUNTER_CLASS_NAMES.get(v.lower())


def _encounter_class(resource: Mapping[str, Any]) -> str | None:
    """Encounter.class as given: its code (R4 Coding), else its display. R5 made class a
    list of CodeableConcepts; the first is read the same way."""
    cls = resource.get("class")
    if isinstance(cls, list):
        cls = _first(cls)
        if isinstance(cls, Mapping) and "coding" in cls:
            cls = _first(cls.get("coding"))
    if not isinstance(cls, Mapping):
        return None
    code = cls.get("code")
    if code is not None and code != "":
        return str(code)
    display = cls.get("display")
    return display if isinstance(display, str) and display else None


def _participant_type(p: Mapping[str, Any]) -> set[str]:
    return {str(c.get("code")) for t in p.get("type") or () if isinstance(t, Mapping)
            for c in t.get("coding") or () if isinstance(c, Mapping)}


def _attending(resource: Resource, ctx: Context) -> Party | None:
    """The attending (ATND) participant, else the primary performer (PPRF), else the
    first participant with an individual: Synthea's older exports send one untyped
    participant, the clinician who saw the patient (v3 ParticipationType)."""
    parts = [p for p in resource.get("participant") or ()
             if isinstance(p, Mapping) and isinstance(p.get("individual"), Mapping)]
    for want in ("ATND", "PPRF"):
        for p in parts:
            if want in _participant_type(p):
                return _party(p["individual"], ctx, resource)
    return _party(parts[0]["individual"], ctx, resource) if parts else None


def _rank(diagnosis: Mapping[str, Any]) -> int:
    """Encounter.diagnosis.rank (1 = principal); an unranked diagnosis sorts after ranked
    ones, in the order given."""
    rank = diagnosis.get("rank")
    return rank if isinstance(rank, int) and not isinstance(rank, bool) else 1 << 30


def _primary_diagnosis(resource: Resource, ctx: Context) -> dict[str, str | None]:
    """The encounter's primary diagnosis: the diagnosis of lowest rank (rank 1 is the
    principal; Encounter.diagnosis.rank), read from the Condition it references (resolved
    in the export or contained); else the first reasonCode; else the first reasonReference
    Condition. An ICD-10-CM coding is preferred when the concept has one."""
    concepts: list[Any] = []
    diagnoses = [d for d in resource.get("diagnosis") or () if isinstance(d, Mapping)]
    diagnoses.sort(key=_rank)
    for d in diagnoses:
        cond = d.get("condition")
        text = ref_text(cond) if isinstance(cond, Mapping) else None
        if text:
            found = contained(resource, text) if text.startswith("#") else ctx.resolve(text)
            if found is not None and isinstance(found.get("code"), Mapping):
                concepts.append(found["code"])
        elif isinstance(cond, Mapping) and isinstance(cond.get("concept"), Mapping):
            concepts.append(cond["concept"])  # R5 CodeableReference
    concepts.extend(c for c in resource.get("reasonCode") or () if isinstance(c, Mapping))
    for r in resource.get("reasonReference") or ():
        text = ref_text(r) if isinstance(r, Mapping) else None
        found = None
        if text:
            found = contained(resource, text) if text.startswith("#") else ctx.resolve(text)
        if found is not None and isinstance(found.get("code"), Mapping):
            concepts.append(found["code"])
    for concept in concepts:
        kind, code, display = first_coding(concept, prefer=("icd-10-cm",))
        if code is not None or display is not None:
            return {"primary_diagnosis_code_type": kind, "primary_diagnosis_code": _text(code),
                    "primary_diagnosis_description": display}
    return {}


def encounter_rows(resource: Resource, ctx: Context) -> list[Row]:
    """Encounter -> one `encounter` row. RecordError without a patient or period.start."""
    eid = _id(resource)
    pid = _patient(resource, ctx)
    period = _period(resource)
    start = _required_day([("period.start", period.get("start"))], _what(resource))
    end = _day(period.get("end"))
    cls = _encounter_class(resource)
    norm = encounter_class_code(cls)
    hosp = resource.get("hospitalization")
    hosp = hosp if isinstance(hosp, Mapping) else {}
    admit = first_coding(hosp.get("admitSource"))
    disch = first_coding(hosp.get("dischargeDisposition"))
    att = _attending(resource, ctx)
    fac = _party(resource.get("serviceProvider"), ctx, resource)
    etype = first_coding(_first(resource.get("type")))
    row = _row(
        "encounter",
        encounter_id=eid, person_id=pid, patient_id=pid,
        encounter_type=cls, encounter_class_code=norm,
        encounter_start_date=start, encounter_end_date=end,
        length_of_stay=_days_between(start, end) if norm in INPATIENT_CLASSES else None,
        admit_source_code=_text(admit[1]), admit_source_description=admit[2],
        discharge_disposition_code=_text(disch[1]), discharge_disposition_description=disch[2],
        attending_provider_id=att.provider_id if att else None,
        attending_provider_name=att.name if att else None,
        facility_id=fac.provider_id if fac else None,
        facility_name=fac.name if fac else None,
        reason_code_type=etype[0], reason_code=_text(etype[1]), reason_description=etype[2],
    )
    row.update(_primary_diagnosis(resource, ctx))
    return [row]


# --- Condition ---------------------------------------------------------------------------

def condition_rows(resource: Resource, ctx: Context) -> list[Row]:
    """Condition -> one `condition` row. recorded_date = recordedDate, else the onset day;
    RecordError when neither gives a day or there is no patient."""
    cid = _id(resource)
    pid = _patient(resource, ctx)
    onset = resource.get("onsetDateTime") or _period(resource, "onsetPeriod").get("start")
    recorded = _required_day([("recordedDate", resource.get("recordedDate")),
                              ("onset[x]", onset)], _what(resource))
    abate_period = _period(resource, "abatementPeriod")
    # abatementPeriod: resolved some time in the period; its end is when it is known resolved
    abated = resource.get("abatementDateTime") or abate_period.get("end") or abate_period.get("start")
    code = resource.get("code")
    row = _row(
        "condition",
        condition_id=cid, person_id=pid, patient_id=pid,
        encounter_id=ctx.optional_id(resource.get("encounter")),
        recorded_date=recorded, onset_date=_day(onset), resolved_date=_day(abated),
        status=_code(resource.get("clinicalStatus")),
        condition_type=_code(_first(resource.get("category"))),
        **_codes(code),
        **_normalized(code, ("icd-10-cm",)),
    )
    return [row]


# --- Procedure ---------------------------------------------------------------------------

#: Claims procedure systems a Procedure may carry beside SNOMED CT; the first present is
#: the normalized code (what claims-based code lists read).
PROCEDURE_STANDARD = ("icd-10-pcs", "cpt", "hcpcs", "icd-9-pcs")


def procedure_rows(resource: Resource, ctx: Context) -> list[Row]:
    """Procedure -> one `procedure` row: procedure_date = performedDateTime, else
    performedPeriod.start (else its end); RecordError without a patient or such a date."""
    prid = _id(resource)
    pid = _patient(resource, ctx)
    perf = _period(resource, "performedPeriod")
    day = _required_day([("performedDateTime", resource.get("performedDateTime")),
                         ("performedPeriod.start", perf.get("start")),
                         ("performedPeriod.end", perf.get("end"))], _what(resource))
    performer = None
    for p in resource.get("performer") or ():
        if isinstance(p, Mapping):
            performer = _party(p.get("actor"), ctx, resource)
            if performer is not None:
                break
    code = resource.get("code")
    row = _row(
        "procedure",
        procedure_id=prid, person_id=pid, patient_id=pid,
        encounter_id=ctx.optional_id(resource.get("encounter")),
        procedure_date=day,
        **_codes(code), **_normalized(code, PROCEDURE_STANDARD),
        practitioner_id=performer.provider_id if performer else None,
    )
    return [row]


# --- MedicationRequest -------------------------------------------------------------------

def _medication_concept(resource: Resource, ctx: Context) -> Any:
    """medicationCodeableConcept, or the code of the Medication that medicationReference
    names (contained `#id` or in the export); None when neither is available (the row is
    kept without a drug code)."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, Mapping):
        return concept
    ref = resource.get("medicationReference")
    text = ref_text(ref) if isinstance(ref, Mapping) else None
    if not text:
        return None
    found = contained(resource, text) if text.startswith("#") else ctx.resolve(text)
    if found is not None and isinstance(found.get("code"), Mapping):
        return found["code"]
    display = ref.get("display") if isinstance(ref, Mapping) else None
    return {"text": display} if isinstance(display, str) else None


#: UCUM duration units -> days (expectedSupplyDuration is a Duration: UCUM `d`, `wk`).
#: Months and years are not a whole number of days, so they give no days_supply.
_DAYS_PER = {"d": 1, "day": 1, "days": 1, "wk": 7, "week": 7, "weeks": 7}


def _days_supply(duration: Any) -> str | None:
    if not isinstance(duration, Mapping):
        return None
    value = duration.get("value")
    unit = str(duration.get("code") or duration.get("unit") or "").strip().lower()
    per = _DAYS_PER.get(unit)
    if per is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    days = value * per
    if days != int(days):
        return None  # a fraction of a day is no days supply (the INT column would refuse it)
    return str(int(days))


def _route(resource: Resource) -> str | None:
    for dose in resource.get("dosageInstruction") or ():
        if isinstance(dose, Mapping) and isinstance(dose.get("route"), Mapping):
            _, code, display = first_coding(dose["route"])
            return display or _text(code)
    return None


def medication_request_rows(resource: Resource, ctx: Context) -> list[Row]:
    """MedicationRequest -> one `medication` row; prescribing_date = authoredOn (RecordError
    without it or without a patient)."""
    mid = _id(resource)
    pid = _patient(resource, ctx)
    day = _required_day([("authoredOn", resource.get("authoredOn"))], _what(resource))
    concept = _medication_concept(resource, ctx)
    rx = _coding_of(concept, ("rxnorm",))
    ndc = _coding_of(concept, ("ndc",))
    atc = _coding_of(concept, ("atc",))
    dispense = resource.get("dispenseRequest")
    dispense = dispense if isinstance(dispense, Mapping) else {}
    qty = dispense.get("quantity") if isinstance(dispense.get("quantity"), Mapping) else {}
    qvalue = qty.get("value") if qty else None
    requester = _party(resource.get("requester"), ctx, resource)
    row = _row(
        "medication",
        medication_id=mid, person_id=pid, patient_id=pid,
        encounter_id=ctx.optional_id(resource.get("encounter")),
        prescribing_date=day,
        status=_text(resource.get("status")),
        **_codes(concept), **_normalized(concept, ("rxnorm", "ndc")),
        ndc_code=_text(ndc.get("code")) if ndc else None,
        ndc_description=ndc.get("display") if ndc else None,
        rxnorm_code=_text(rx.get("code")) if rx else None,
        rxnorm_description=rx.get("display") if rx else None,
        atc_code=_text(atc.get("code")) if atc else None,
        atc_description=atc.get("display") if atc else None,
        route=_route(resource),
        quantity=_quantity_text(qvalue),
        quantity_unit=_text(qty.get("unit") or qty.get("code")) if qty else None,
        days_supply=_days_supply(dispense.get("expectedSupplyDuration")),
        practitioner_id=requester.provider_id if requester else None,
    )
    return [row]


def _quantity_text(value: Any) -> str | None:
    """Exact decimal text of an optional number; a value that is not a number is kept as
    given (the loader flags it) rather than losing the row."""
    if value is None:
        return None
    try:
        return decimal_text(value)
    except RecordError:
        return _text(value)


# --- Observation -------------------------------------------------------------------------

def _value(element: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(result, source units, UCUM units) of an Observation's or component's value[x]:
    valueQuantity (exact decimal text, a comparator `<` / `>=` kept in front so a censored
    lab value is not read as exact), valueCodeableConcept (its code, else its text),
    valueString, valueInteger, valueBoolean (`true`/`false`), valueDateTime / valueTime
    (as written). Other forms (Range, Ratio, SampledData, Period) and a dataAbsentReason
    give no result; the row is kept."""
    q = element.get("valueQuantity")
    if isinstance(q, Mapping):
        result = _quantity_text(q.get("value"))
        comparator = q.get("comparator")
        if result is not None and isinstance(comparator, str) and comparator:
            result = comparator + result
        unit = _text(q.get("unit") or q.get("code"))
        ucum = _text(q.get("code")) if code_type(q.get("system")) == "ucum" else None
        return result, unit, ucum
    cc = element.get("valueCodeableConcept")
    if isinstance(cc, Mapping):
        _, code, display = first_coding(cc)
        return _text(code) if code is not None else display, None, None
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime", "valueTime"):
        if key in element and element[key] is not None:
            return _text(element[key]), None, None
    return None, None, None


def _range(element: Mapping[str, Any], ucum: str | None) -> dict[str, str | None]:
    """The first referenceRange's low / high; normalized_* too when the result's units are
    UCUM and the range is in the same units (or does not say)."""
    rr = _first(element.get("referenceRange"))
    if not isinstance(rr, Mapping):
        return {}
    out: dict[str, str | None] = {}
    same = ucum is not None
    for end in ("low", "high"):
        q = rr.get(end)
        if not isinstance(q, Mapping):
            continue
        out[f"source_reference_range_{end}"] = _quantity_text(q.get("value"))
        code = q.get("code")
        same = same and (code is None or code == ucum)
    if same:
        for end in ("low", "high"):
            out[f"normalized_reference_range_{end}"] = out.get(f"source_reference_range_{end}")
    return out


def _observation_type(resource: Resource) -> str | None:
    """The first category's code (observation-category: laboratory, vital-signs, survey,
    ...), as given."""
    return _code(_first(resource.get("category")))


def panel_members(resource: Resource, ctx: Context) -> dict[str, str]:
    """{member Observation id: this panel's id} for an Observation with `hasMember`, for a
    reader to put in `ctx.extra[PANEL_OF]` before it maps the members."""
    pid = resource.get("id")
    if not pid:
        return {}
    out: dict[str, str] = {}
    for m in resource.get("hasMember") or ():
        mid = ctx.optional_id(m) if isinstance(m, Mapping) else None
        if mid:
            out[mid] = str(pid)
    return out


def observation_rows(resource: Resource, ctx: Context) -> list[Row]:
    """Observation -> `observation` rows: one for its own value[x] (observation_id = the
    id), one per component (`<id>:<n>`, n from 1, panel_id = the id). An Observation with
    neither a value nor components (a panel of `hasMember`, a dataAbsentReason) still gives
    its row (result null), so nothing is lost. observation_date = effectiveDateTime /
    effectivePeriod.start / effectiveInstant, else issued; RecordError without one."""
    oid = _id(resource)
    pid = _patient(resource, ctx)
    period = _period(resource, "effectivePeriod")
    day = _required_day([("effectiveDateTime", resource.get("effectiveDateTime")),
                         ("effectivePeriod.start", period.get("start")),
                         ("effectiveInstant", resource.get("effectiveInstant")),
                         ("effectivePeriod.end", period.get("end")),
                         ("issued", resource.get("issued"))], _what(resource))
    common = {
        "person_id": pid, "patient_id": pid,
        "encounter_id": ctx.optional_id(resource.get("encounter")),
        "observation_date": day,
        "observation_type": _observation_type(resource),
    }
    components = [c for c in resource.get("component") or () if isinstance(c, Mapping)]
    panel: str | None
    if components or resource.get("hasMember"):
        panel = oid
    else:
        panel = (ctx.extra.get(PANEL_OF) or {}).get(oid)
    rows: list[Row] = []
    result, units, ucum = _value(resource)
    if result is not None or not components:
        rows.append(_observation_row(oid, panel, common, resource, result, units, ucum))
    for n, comp in enumerate(components, start=1):
        r, u, uc = _value(comp)
        rows.append(_observation_row(f"{oid}:{n}", oid, common, comp, r, u, uc))
    return rows


def _observation_row(oid: str, panel: str | None, common: Mapping[str, str | None],
                     element: Mapping[str, Any], result: str | None, units: str | None,
                     ucum: str | None) -> Row:
    code = element.get("code")
    # normalized_* = the LOINC coding (docs/schema.md: the code in a standard system); the
    # PROMIS mart reads normalized_code, else source_code, so a LOINC-coded PROMIS score
    # is found whichever coding the source put first.
    return _row(
        "observation",
        observation_id=oid, panel_id=panel, **common,
        **_codes(code), **_normalized(code, ("loinc",)),
        result=result, source_units=units, normalized_units=ucum,
        **_range(element, ucum),
    )


# --- CarePlan ----------------------------------------------------------------------------

#: US Core's required CarePlan category slice (`assess-plan`) says only that the resource
#: is a care plan; the clinical category is the next one (newer Synthea sends both).
_US_CORE_CAREPLAN = "http://hl7.org/fhir/us/core/CodeSystem/careplan-category"


def _care_plan_category(resource: Resource) -> Any:
    cats = [c for c in resource.get("category") or () if isinstance(c, Mapping)]
    for c in cats:
        coding = _first(c.get("coding"))
        if not (isinstance(coding, Mapping) and coding.get("system") == _US_CORE_CAREPLAN):
            return c
    return cats[0] if cats else None


def care_plan_rows(resource: Resource, ctx: Context) -> list[Row]:
    """CarePlan -> one `care_plan` row; RecordError without a patient or period.start."""
    cpid = _id(resource)
    pid = _patient(resource, ctx)
    period = _period(resource)
    start = _required_day([("period.start", period.get("start"))], _what(resource))
    addresses = [a for a in (ctx.optional_id(r) for r in resource.get("addresses") or ()
                             if isinstance(r, Mapping)) if a]
    activities: list[str] = []
    for act in resource.get("activity") or ():
        detail = act.get("detail") if isinstance(act, Mapping) else None
        code = detail.get("code") if isinstance(detail, Mapping) else None
        coding = _first(code.get("coding")) if isinstance(code, Mapping) else None
        if isinstance(coding, Mapping) and coding.get("code") is not None:
            activities.append(f"{code_type(coding.get('system')) or ''}|{coding['code']}")
    team = _first(resource.get("careTeam"))
    row = _row(
        "care_plan",
        care_plan_id=cpid, person_id=pid, patient_id=pid,
        encounter_id=ctx.optional_id(resource.get("encounter")),
        status=_text(resource.get("status")), intent=_text(resource.get("intent")),
        start_date=start, end_date=_day(period.get("end")),
        **_codes(_care_plan_category(resource), "category_"),
        addresses=",".join(addresses) or None,
        activities=",".join(activities) or None,
        care_team_id=ctx.optional_id(team) if isinstance(team, Mapping) else None,
    )
    return [row]


# --- CareTeam ----------------------------------------------------------------------------

def care_team_rows(resource: Resource, ctx: Context) -> list[Row]:
    """CareTeam -> one `care_team` row per participant (participant_number 1..n); a team
    with no participant gives one row with no member, so the team is not lost. The patient
    is `subject` (RecordError without it)."""
    tid = _id(resource)
    pid = _patient(resource, ctx)
    period = _period(resource)
    org = _party(_first(resource.get("managingOrganization")), ctx, resource)
    enc = resource.get("encounter") or resource.get("context")  # STU3 named it context
    common: dict[str, str | None] = {
        "care_team_id": tid, "person_id": pid, "patient_id": pid,
        "encounter_id": ctx.optional_id(enc) if isinstance(enc, Mapping) else None,
        "status": _text(resource.get("status")),
        "start_date": _day(period.get("start")), "end_date": _day(period.get("end")),
        "managing_organization": (org.name or org.id) if org else None,
    }
    parts = [p for p in resource.get("participant") or () if isinstance(p, Mapping)]
    if not parts:
        return [_row("care_team", participant_number="1", **common)]
    rows: list[Row] = []
    for n, p in enumerate(parts, start=1):
        member = _party(p.get("member"), ctx, resource)
        rows.append(_row(
            "care_team", participant_number=str(n), **common,
            **_codes(_first(p.get("role")), "role_"),
            member_type=member.kind if member else None,
            member_id=member.id if member else None,
            member_npi=member.npi if member and member.kind in (None, "Practitioner",
                                                                  "Organization") else None,
            member_name=member.name if member else None,
        ))
    return rows


MAPPERS: dict[str, tuple[str, Mapper]] = {
    "Encounter": ("encounter", encounter_rows),
    "Condition": ("condition", condition_rows),
    "Procedure": ("procedure", procedure_rows),
    "MedicationRequest": ("medication", medication_request_rows),
    "Observation": ("observation", observation_rows),
    "CarePlan": ("care_plan", care_plan_rows),
    "CareTeam": ("care_team", care_team_rows),
}

__all__ = [
    "ACT_ENCOUNTER_CODES",
    "ENCOUNTER_CLASS_NAMES",
    "MAPPERS",
    "PANEL_OF",
    "Mapper",
    "Party",
    "care_plan_rows",
    "care_team_rows",
    "condition_rows",
    "encounter_class_code",
    "encounter_rows",
    "medication_request_rows",
    "observation_rows",
    "panel_members",
    "procedure_rows",
]
