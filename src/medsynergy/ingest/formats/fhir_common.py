"""What every FHIR R4 (and Blue Button STU3) resource mapper shares: references, codes,
dates and money, on plain dicts from orjson (no per-resource model objects: the issue asks
for one tight streaming pass).

A mapper is a pure function `(resource, ctx) -> list of rows` (dicts of input-layer
column -> text) that raises `RecordError` when the resource cannot be placed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from medsynergy.ingest.formats import RecordError

Resource = dict[str, Any]
Row = dict[str, str | None]

#: FHIR code system URI -> the code type medsynergy stores (lower case, as docs/schema.md).
#: HL7 terminology: https://terminology.hl7.org/external_terminologies.html; CMS Blue
#: Button / CARIN systems: https://bluebutton.cms.gov/resources/codesystem/.
CODE_SYSTEMS: dict[str, str] = {
    "http://snomed.info/sct": "snomed-ct",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd-10-cm",
    "http://hl7.org/fhir/sid/icd-10": "icd-10-cm",
    "http://www.cms.gov/Medicare/Coding/ICD10": "icd-10-pcs",
    "http://www.cms.gov/Medicare/Coding/ICD9": "icd-9-pcs",
    "http://hl7.org/fhir/sid/icd-9-cm": "icd-9-cm",
    "http://hl7.org/fhir/sid/icd-9": "icd-9-cm",
    "http://loinc.org": "loinc",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "rxnorm",
    "http://hl7.org/fhir/sid/ndc": "ndc",
    "http://www.ama-assn.org/go/cpt": "cpt",
    "https://bluebutton.cms.gov/resources/codesystem/hcpcs": "hcpcs",
    "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "hcpcs",
    "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets": "hcpcs",
    "http://unitsofmeasure.org": "ucum",
    "http://hl7.org/fhir/sid/cvx": "cvx",
    "http://www.whocc.no/atc": "atc",
}

#: Currencies an amount may be in; anything else refuses the record (issue 6 acceptance:
#: "amounts in an unknown currency" are quarantined, never converted at a guessed rate).
CURRENCIES = frozenset({"USD"})


def code_type(system: str | None) -> str | None:
    """The stored code type of a FHIR system URI: known systems by name, ICD by the
    Blue Button variants (`.../icd-10-cm`, `.../icd-9-cm`), otherwise the URI itself."""
    if not system:
        return None
    known = CODE_SYSTEMS.get(system)
    if known:
        return known
    lower = system.lower()
    for marker, name in (("icd-10-cm", "icd-10-cm"), ("icd-9-cm", "icd-9-cm"),
                         ("icd-10-pcs", "icd-10-pcs"), ("icd-9-pcs", "icd-9-pcs"),
                         ("rxnorm", "rxnorm"), ("/ndc", "ndc"), ("snomed", "snomed-ct"),
                         ("loinc", "loinc"), ("/cpt", "cpt"), ("hcpcs", "hcpcs")):
        if marker in lower:
            return name
    return system


def first_coding(concept: Mapping[str, Any] | None,
                 prefer: tuple[str, ...] = ()) -> tuple[str | None, str | None, str | None]:
    """(code type, code, display) of a CodeableConcept: the first coding whose type is in
    `prefer` (in that order), else the first coding; the concept's text as display."""
    if not concept:
        return None, None, None
    codings = concept.get("coding") or []
    chosen = None
    for want in prefer:
        for c in codings:
            if code_type(c.get("system")) == want:
                chosen = c
                break
        if chosen is not None:
            break
    if chosen is None and codings:
        chosen = codings[0]
    if chosen is None:
        return None, None, concept.get("text")
    return (code_type(chosen.get("system")), chosen.get("code"),
            chosen.get("display") or concept.get("text"))


def coding_in(concept: Mapping[str, Any] | None, system_suffix: str) -> str | None:
    """The code of the first coding whose system ends with `system_suffix` (Blue Button
    and CARIN put each CMS variable in its own system URI, e.g. `.../variables/clm_freq_cd`)."""
    if not concept:
        return None
    for c in concept.get("coding") or ():
        if str(c.get("system", "")).endswith(system_suffix):
            code = c.get("code")
            return None if code is None else str(code)
    return None


def fhir_date(value: str | None) -> str | None:
    """The calendar date of a FHIR date or dateTime as written (`2011-06-19T02:32:36-04:00`
    -> `2011-06-19`): the local date the source recorded, not shifted to UTC. Partial dates
    (`2011`, `2011-06`) are not a day and give None."""
    if not value or len(value) < 10:
        return None
    return value[:10]


def money(value: Mapping[str, Any] | None) -> str | None:
    """The amount of a FHIR Money as exact decimal text; RecordError for a currency other
    than USD. A missing currency is taken as USD (Synthea and Blue Button always send USD;
    the element is optional in FHIR)."""
    if not value:
        return None
    currency = value.get("currency")
    if currency is None and "urn:iso:std:iso:4217" in str(value.get("system", "")):
        currency = value.get("code")  # STU3 Money is a Quantity: the currency is its code
    if currency is not None and currency not in CURRENCIES:
        raise RecordError("source_currency_unknown",
                          f"amount {value.get('value')} in currency {currency!r}; only USD is accepted")
    v = value.get("value")
    if v is None:
        return None
    return decimal_text(v)


def decimal_text(v: Any) -> str:
    """Exact text of a JSON number. orjson gives floats; their shortest repr (`repr`) is
    the decimal the file wrote (e.g. 129.16 -> "129.16"), so no binary noise gets in."""
    if isinstance(v, bool):
        raise RecordError("source_value_invalid", f"{v!r} is not an amount")
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        text = repr(v)
        try:
            return format(Decimal(text), "f")
        except InvalidOperation:
            raise RecordError("source_value_invalid", f"{v!r} is not an amount") from None
    if isinstance(v, str):
        try:
            return format(Decimal(v), "f")
        except InvalidOperation:
            raise RecordError("source_value_invalid", f"{v!r} is not an amount") from None
    raise RecordError("source_value_invalid", f"{v!r} is not an amount")


def ref_text(reference: Mapping[str, Any] | None) -> str | None:
    """The `reference` string of a FHIR Reference, or None."""
    if not reference:
        return None
    r = reference.get("reference")
    return str(r) if r else None


def ref_id(reference: str | None) -> str | None:
    """The id a reference names without resolving it: `Patient/123` -> `123`,
    `urn:uuid:abc` -> `abc`, `#c1` -> `c1`, an absolute URL -> its last two segments' id."""
    if not reference:
        return None
    if reference.startswith("urn:uuid:"):
        return reference[9:]
    if reference.startswith("#"):
        return reference[1:]
    if "?" in reference:
        # A conditional reference (`Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999`,
        # as Synthea writes them) names its target by identifier: the identifier's value.
        query = reference.split("?", 1)[1]
        for part in query.split("&"):
            if part.startswith("identifier="):
                return part.split("=", 1)[1].rsplit("|", 1)[-1] or None
        return None
    parts = reference.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-1] if parts else None


@dataclass
class Context:
    """What a mapper may look up beyond its own resource.

    `resolve(reference)` returns the referenced resource when the export holds it
    (`urn:uuid:` fullUrls of a Bundle, `Type/id` across the files of a Bulk export),
    else None. `contained` references (`#id`) are resolved by `contained(resource, ref)`.
    """

    file_name: str
    resolve: Callable[[str], Resource | None]
    #: `urn:uuid:` references must resolve inside their Bundle; `Type/id` ones need not
    #: (a Blue Button EOB names `Patient/-1999...` that the response does not include).
    strict_urn: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def patient_id(self, reference: Mapping[str, Any] | None, what: str) -> str:
        """The patient id a resource's subject/patient reference names; RecordError when
        missing, or when a `urn:uuid:` reference resolves to nothing in the bundle."""
        text = ref_text(reference)
        if text is None:
            raise RecordError("source_required_missing", f"{what} has no patient reference")
        return self.required_id(text, what)

    def required_id(self, text: str, what: str) -> str:
        if text.startswith("urn:uuid:"):
            found = self.resolve(text)
            if found is None and self.strict_urn:
                raise RecordError("source_reference_unresolved",
                                  f"{what} refers to {text}, which is not in the bundle")
            if found is not None and found.get("id"):
                return str(found["id"])
        rid = ref_id(text)
        if not rid:
            raise RecordError("source_reference_unresolved", f"{what}: reference {text!r} names no id")
        return rid

    def optional_id(self, reference: Mapping[str, Any] | None) -> str | None:
        """The id of an optional reference (resolved when possible, else its own id)."""
        text = ref_text(reference)
        if text is None:
            return None
        found = self.resolve(text) if text.startswith("urn:uuid:") else None
        if found is not None and found.get("id"):
            return str(found["id"])
        return ref_id(text)


def contained(resource: Mapping[str, Any], reference: str | None) -> Resource | None:
    """The contained resource a `#id` reference names inside `resource`."""
    if not reference or not reference.startswith("#"):
        return None
    want = reference[1:]
    for c in resource.get("contained") or ():
        if c.get("id") == want:
            return dict(c)
    return None


def npi_of(resource: Mapping[str, Any] | None) -> str | None:
    """The NPI among a Practitioner's or Organization's identifiers."""
    if not resource:
        return None
    for ident in resource.get("identifier") or ():
        if str(ident.get("system", "")).endswith("us-npi"):
            value = ident.get("value")
            return None if value is None else str(value)
    return None


def human_name(resource: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """(given, family) of the first (official, when marked) HumanName."""
    if not resource:
        return None, None
    names = resource.get("name") or []
    if not isinstance(names, list):
        return None, None
    chosen = next((n for n in names if n.get("use") == "official"), names[0] if names else None)
    if not chosen:
        return None, None
    given = " ".join(chosen.get("given") or []) or None
    return given, chosen.get("family")
