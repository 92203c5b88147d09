"""Reading FHIR files for `medsynergy.ingest.formats.fhir`: what the input is (files,
folders, Bulk Data manifests), the first-pass reference index, reference resolution, and
the conversion of whole files to column-oriented results (what a worker process runs).

A `.json[.gz]` file holds a Bundle (each `entry[].resource`, with its `fullUrl`) or one
resource; an `.ndjson[.gz]` file one resource a line (Bulk Data `$export`). `log.ndjson`
(the export's log events) and a `manifest.json` (the `$export` status response) are not
data: they are counted as skipped with the reason.
"""

from __future__ import annotations

import gc
import gzip
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from medsynergy.ingest.formats import RecordError, Rejected, columns_to_table
from medsynergy.ingest.formats.fhir_common import Context, Resource, Row
from medsynergy.ingest.formats.fhir_people import (
    DEMOGRAPHIC_COLUMNS,
    NO_NPI,
    PROVIDER_COLUMNS,
    ROLE_COLUMNS,
    SPAN_COLUMNS,
    coverage_span,
    patient_row,
    provider_row,
    role_row,
)

#: Resource types a mapper may look up in another file: the first pass indexes them.
INDEX_TYPES = frozenset({"Patient", "Practitioner", "PractitionerRole", "Organization",
                         "Location", "Encounter", "Condition", "Coverage", "Medication"})
#: Types conditional references (`Type?identifier=system|value`) name by identifier.
IDENTIFIER_TYPES = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location"})

#: FHIR R4 resource types (http://hl7.org/fhir/R4/resourcelist.html) and the STU3 ones
#: Blue Button v1 still sends; auto-detection accepts a JSON file whose resourceType is one.
FHIR_TYPES = frozenset((
    "Account", "ActivityDefinition", "AdverseEvent", "AllergyIntolerance", "Appointment",
    "AppointmentResponse", "AuditEvent", "Basic", "Binary", "BiologicallyDerivedProduct",
    "BodyStructure", "Bundle", "CapabilityStatement", "CarePlan", "CareTeam", "CatalogEntry",
    "ChargeItem", "ChargeItemDefinition", "Claim", "ClaimResponse", "ClinicalImpression",
    "CodeSystem", "Communication", "CommunicationRequest", "CompartmentDefinition", "Composition",
    "ConceptMap", "Condition", "Consent", "Contract", "Coverage", "CoverageEligibilityRequest",
    "CoverageEligibilityResponse", "DetectedIssue", "Device", "DeviceDefinition", "DeviceMetric",
    "DeviceRequest", "DeviceUseStatement", "DiagnosticReport", "DocumentManifest",
    "DocumentReference", "EffectEvidenceSynthesis", "Encounter", "Endpoint", "EnrollmentRequest",
    "EnrollmentResponse", "EpisodeOfCare", "EventDefinition", "Evidence", "EvidenceVariable",
    "ExampleScenario", "ExplanationOfBenefit", "FamilyMemberHistory", "Flag", "Goal",
    "GraphDefinition", "Group", "GuidanceResponse", "HealthcareService", "ImagingStudy",
    "Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation", "ImplementationGuide",
    "InsurancePlan", "Invoice", "Library", "Linkage", "List", "Location", "Measure",
    "MeasureReport", "Media", "Medication", "MedicationAdministration", "MedicationDispense",
    "MedicationKnowledge", "MedicationRequest", "MedicationStatement", "MedicinalProduct",
    "MessageDefinition", "MessageHeader", "MolecularSequence", "NamingSystem", "NutritionOrder",
    "Observation", "ObservationDefinition", "OperationDefinition", "OperationOutcome",
    "Organization", "OrganizationAffiliation", "Parameters", "Patient", "PaymentNotice",
    "PaymentReconciliation", "Person", "PlanDefinition", "Practitioner", "PractitionerRole",
    "Procedure", "Provenance", "Questionnaire", "QuestionnaireResponse", "RelatedPerson",
    "RequestGroup", "ResearchDefinition", "ResearchElementDefinition", "ResearchStudy",
    "ResearchSubject", "RiskAssessment", "RiskEvidenceSynthesis", "Schedule", "SearchParameter",
    "ServiceRequest", "Slot", "Specimen", "SpecimenDefinition", "StructureDefinition",
    "StructureMap", "Subscription", "Substance", "SupplyDelivery", "SupplyRequest", "Task",
    "TerminologyCapabilities", "TestReport", "TestScript", "ValueSet", "VerificationResult",
    "VisionPrescription", "EligibilityRequest", "EligibilityResponse", "ProcedureRequest",
    "ReferralRequest", "ProcessRequest", "ProcessResponse", "DataElement",
))

_NDJSON_NAME = re.compile(r"^([A-Z][A-Za-z]+)(?:[._-]\d+)*\.ndjson(?:\.gz)?$")
_RESOURCE_TYPE = re.compile(rb'"resourceType"\s*:\s*"([A-Za-z]+)"')
_ENTRY = re.compile(rb'"entry"\s*:\s*\[')
_SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz")

SKIP_REASONS = {
    "OperationOutcome": "OperationOutcome: export errors / diagnostics, not data",
    "Bundle": "a Bundle inside a Bundle entry is not read",
}


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def _open(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def _head(path: Path, n: int = 65536) -> bytes:
    try:
        with _open(path) as f:
            data: bytes = f.read(n)
            return data
    except (OSError, EOFError):
        return b""


def is_fhir(path: Path) -> bool:
    """A `.json[.gz]` whose top-level resourceType is a FHIR type (or a Bulk Data
    manifest), an `.ndjson[.gz]`, or a folder holding any of them."""
    path = Path(path)
    if path.is_dir():
        checked = 0
        for f in sorted(path.rglob("*")):
            if not f.is_file() or _suffix(f) is None:
                continue
            if is_fhir(f):
                return True
            checked += 1
            if checked >= 20:
                return False
        return False
    kind = _suffix(path)
    if kind is None or not path.is_file():
        return False
    if kind.startswith(".ndjson"):
        return True
    head = _head(path)
    m = _RESOURCE_TYPE.search(head)
    if m is not None:
        return m.group(1).decode() in FHIR_TYPES
    return b'"output"' in head and b'"transactionTime"' in head  # an $export manifest


# --- the input: files, manifests ---------------------------------------------------------

@dataclass
class _Plan:
    files: list[tuple[Path, str]] = field(default_factory=list)  # (path, display name)
    notes: list[str] = field(default_factory=list)


def _manifest_outputs(path: Path) -> tuple[list[Path], list[str]] | None:
    """The output files a Bulk Data `$export` manifest lists (those that exist beside it,
    matched by file name) and the ones missing; None when the file is not a manifest."""
    try:
        with _open(path) as f:
            doc = orjson.loads(f.read())
    except (OSError, EOFError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or "resourceType" in doc or not isinstance(doc.get("output"), list):
        return None
    found: list[Path] = []
    missing: list[str] = []
    for out in doc["output"]:
        url = out.get("url") if isinstance(out, dict) else None
        if not isinstance(url, str):
            continue
        name = url.rstrip("/").rsplit("/", 1)[-1]
        candidates = [path.parent / name, path.parent / f"{name}.gz"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            missing.append(name)
        else:
            found.append(hit)
    return found, missing


def _plan(paths: Sequence[Path]) -> _Plan:
    plan = _Plan()
    seen: set[Path] = set()
    ignored = 0

    def add(p: Path, display: str) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            plan.files.append((p, display))

    for given in paths:
        given = Path(given)
        if given.is_dir():
            for f in sorted(given.rglob("*")):
                if not f.is_file() or f.name.startswith("."):
                    continue
                if _suffix(f) is None:
                    ignored += 1
                    continue
                add(f, f.relative_to(given).as_posix())
        elif given.is_file():
            add(given, given.name)
        else:
            raise FileNotFoundError(f"{given}: no such file or folder")
    for p, _ in list(plan.files):
        if "manifest" in p.name.lower() and _suffix(p) in (".json", ".json.gz"):
            listed = _manifest_outputs(p)
            if listed is None:
                continue
            found, missing = listed
            for f in found:
                add(f, f.name)
            if missing:
                plan.notes.append(f"{p.name}: the manifest lists {len(missing)} output files "
                                  f"that are not there: {', '.join(missing[:10])}")
    if ignored:
        plan.notes.append(f"{ignored} files that are not .json/.ndjson (plain or .gz) ignored")
    return plan


# --- first pass: the reference index -----------------------------------------------------

Index = tuple[dict[str, bytes], dict[str, str]]  # Type/id -> slim JSON; identifier -> Type/id


def _needs_index(path: Path) -> bool:
    """Whether the first pass reads `path`: NDJSON of an INDEX_TYPES type (by its
    `Type.000.ndjson` name; any NDJSON otherwise named), and every JSON file but a
    per-patient Bundle (its first entry a Patient: self-contained, as Synthea writes)."""
    kind = _suffix(path)
    if kind is None:
        return False
    if kind.startswith(".ndjson"):
        if path.name == "log.ndjson":
            return False
        m = _NDJSON_NAME.match(path.name)
        return m is None or m.group(1) in INDEX_TYPES
    head = _head(path)
    entry = _ENTRY.search(head)
    if entry is not None:
        first = _RESOURCE_TYPE.search(head, entry.end())
        if first is not None and first.group(1) == b"Patient" \
                and not path.name.startswith(("practitionerInformation", "hospitalInformation")):
            return False
    return True


def _slim(resource: Resource) -> bytes:
    """The resource without narrative and meta, as compact JSON (what mappers read)."""
    return orjson.dumps({k: v for k, v in resource.items() if k not in ("text", "meta")})


def _index_resource(r: Any, url: str | None, out: Index) -> None:
    if not isinstance(r, dict):
        return
    rtype = r.get("resourceType")
    rid = r.get("id")
    if rtype not in INDEX_TYPES or not rid:
        return
    key = f"{rtype}/{rid}"
    docs, idents = out
    if key in docs:
        return
    docs[key] = _slim(r) if rtype != "Patient" else orjson.dumps(
        {"resourceType": "Patient", "id": rid})
    if url and not url.startswith("urn:"):
        idents.setdefault(url, key)
    if rtype in IDENTIFIER_TYPES:
        for ident in r.get("identifier") or ():
            if isinstance(ident, dict) and ident.get("value") is not None:
                value = str(ident["value"])
                idents.setdefault(f"{rtype}?{ident.get('system', '')}|{value}", key)
                idents.setdefault(f"{rtype}?{value}", key)


def _index_file(path: str) -> Index:
    out: Index = ({}, {})
    p = Path(path)
    try:
        if str(_suffix(p)).startswith(".ndjson"):
            with _open(p) as f:
                for line in f:
                    if b'"resourceType"' not in line:
                        continue
                    try:
                        _index_resource(orjson.loads(line), None, out)
                    except orjson.JSONDecodeError:
                        continue
        else:
            with _open(p) as f:
                doc = orjson.loads(f.read())
            if isinstance(doc, dict) and doc.get("resourceType") == "Bundle":
                for e in doc.get("entry") or ():
                    if isinstance(e, dict):
                        _index_resource(e.get("resource"), e.get("fullUrl"), out)
            else:
                _index_resource(doc, None, out)
    except (OSError, EOFError, orjson.JSONDecodeError):
        pass  # the main pass reports the file
    return out


_INDEX: Index = ({}, {})


def _set_index(index: Index) -> None:
    global _INDEX
    _INDEX = index
    _parsed.cache_clear()


@cache
def _parsed(key: str) -> Resource | None:
    raw = _INDEX[0].get(key)
    return None if raw is None else dict(orjson.loads(raw))


def _type_id(ref: str) -> str | None:
    """`Type/id` of a relative or absolute literal reference (version dropped)."""
    parts = ref.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


class _Resolver:
    """ctx.resolve for one file: the Bundle's fullUrls first, then the index."""

    def __init__(self, entries: Mapping[str, Resource] | None = None,
                 resources: Sequence[Resource] = ()) -> None:
        self.by_url: Mapping[str, Resource] = entries or {}
        self.resources = resources
        self._local: dict[str, Resource] | None = None

    def _local_map(self) -> dict[str, Resource]:
        if self._local is None:
            local: dict[str, Resource] = {}
            for r in self.resources:
                rtype, rid = r.get("resourceType"), r.get("id")
                if rtype and rid:
                    local.setdefault(f"{rtype}/{rid}", r)
                if rtype in IDENTIFIER_TYPES:
                    for ident in r.get("identifier") or ():
                        if isinstance(ident, dict) and ident.get("value") is not None:
                            local.setdefault(
                                f"{rtype}?{ident.get('system', '')}|{ident['value']}", r)
                            local.setdefault(f"{rtype}?{ident['value']}", r)
            self._local = local
        return self._local

    def __call__(self, ref: str) -> Resource | None:
        found = self.by_url.get(ref)
        if found is not None:
            return found
        if ref.startswith(("urn:", "#")) or not ref:
            return None
        if "?" in ref:
            head, query = ref.split("?", 1)
            rtype = head.rstrip("/").rsplit("/", 1)[-1]
            for part in query.split("&"):
                if part.startswith("identifier="):
                    key = f"{rtype}?{part[len('identifier='):]}"
                    hit = self._local_map().get(key) if self.resources else None
                    if hit is not None:
                        return hit
                    target = _INDEX[1].get(key)
                    return None if target is None else _parsed(target)
            return None
        tid = _type_id(ref)
        if tid is None:
            return None
        if self.resources:
            hit = self._local_map().get(tid)
            if hit is not None:
                return hit
        return _parsed(_INDEX[1].get(ref) or tid)


# --- the main pass -----------------------------------------------------------------------

@dataclass
class _Part:
    """What the files of one task converted to: columns, counts and rejects."""

    rows: dict[str, list[Row]] = field(default_factory=dict)
    #: (file number, record type, skip reason) -> [in, converted, quarantined, skipped]
    counts: dict[tuple[int, str, str | None], list[int]] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    patients: list[Row] = field(default_factory=list)
    spans: list[Row] = field(default_factory=list)
    providers: list[Row] = field(default_factory=list)
    roles: list[Row] = field(default_factory=list)
    panels: list[tuple[str, str]] = field(default_factory=list)

    def count(self, f: int, rtype: str, what: int, reason: str | None = None) -> None:
        c = self.counts.setdefault((f, rtype, reason), [0, 0, 0, 0])
        c[0] += 1
        c[what] += 1


@dataclass
class _Result:
    tables: dict[str, pa.Table]
    counts: dict[tuple[int, str, str | None], list[int]]
    rejected: list[Rejected]
    patients: pa.Table
    spans: pa.Table
    providers: pa.Table
    roles: pa.Table
    panels: list[tuple[str, str]]


CONVERTED, QUARANTINED, SKIPPED = 1, 2, 3


@cache
def _clinical() -> dict[str, tuple[str, Callable[[Resource, Context], list[Row]]]]:
    from medsynergy.ingest.formats.fhir_clinical import MAPPERS
    return dict(MAPPERS)


@cache
def _eob() -> tuple[Callable[..., Any], Callable[..., Any]]:
    mod = importlib.import_module("medsynergy.ingest.formats.fhir_eob")
    return mod.eob_rows, mod.claim_rows


def _convert_resource(r: Resource, loc: int, fno: int, fname: str, ctx: Context,
                      part: _Part) -> None:
    rtype = str(r.get("resourceType"))
    try:
        clinical = _clinical()
        if rtype in clinical:
            table, mapper = clinical[rtype]
            rows = mapper(r, ctx)
            if rtype == "Observation" and r.get("hasMember"):
                from medsynergy.ingest.formats.fhir_clinical import panel_members
                part.panels.extend(panel_members(r, ctx).items())
        elif rtype == "ExplanationOfBenefit":
            table, rows = _eob()[0](r, ctx)
            for c in r.get("contained") or ():
                if isinstance(c, dict) and c.get("resourceType") == "Coverage":
                    try:
                        span = coverage_span(c, ctx, contained_in=str(r.get("id")))
                    except RecordError:
                        span = None  # the claim names its payer; no span of its own
                    if span is not None:
                        span.update(_file=str(fno), _loc=str(loc))
                        part.spans.append(span)
        elif rtype == "Claim":
            got = _eob()[1](r, ctx)
            if got is None:
                part.count(fno, rtype, SKIPPED, "institutional/professional Claim: billed "
                           "through its ExplanationOfBenefit")
                return
            table, rows = got
        elif rtype == "Patient":
            row = patient_row(r)
            row["_ord"] = str(fno * 1_000_000_000 + loc)
            part.patients.append(row)
            part.count(fno, rtype, CONVERTED)
            return
        elif rtype == "Coverage":
            span = coverage_span(r, ctx)
            assert span is not None
            span.update(_file=str(fno), _loc=str(loc))
            if span["enrollment_start_date"] is None and span["_ref_year"] is None:
                span["_raw"] = orjson.dumps(r).decode()
            part.spans.append(span)
            part.count(fno, rtype, CONVERTED)
            return
        elif rtype in ("Practitioner", "Organization"):
            try:
                prow = provider_row(r)
            except LookupError:
                part.count(fno, rtype, SKIPPED, NO_NPI)
                return
            prow.update(_file=str(fno), _loc=str(loc), _type=rtype)
            part.providers.append(prow)
            part.count(fno, rtype, CONVERTED)
            return
        elif rtype == "PractitionerRole":
            role = role_row(r, ctx)
            if role is None:
                part.count(fno, rtype, SKIPPED, "PractitionerRole names no practitioner NPI")
                return
            role.update(_file=str(fno), _loc=str(loc))
            part.roles.append(role)
            part.count(fno, rtype, CONVERTED)
            return
        else:
            part.count(fno, rtype, SKIPPED,
                       SKIP_REASONS.get(rtype, f"resource type not mapped: {rtype}"))
            return
    except RecordError as e:
        part.count(fno, rtype, QUARANTINED)
        part.rejected.append(Rejected(fname, loc, rtype, e.rule, e.message,
                                      orjson.dumps(r).decode()))
        return
    except Exception as e:  # a resource shaped in a way no mapper expects
        part.count(fno, rtype, QUARANTINED)
        part.rejected.append(Rejected(
            fname, loc, rtype, "source_value_invalid",
            f"unexpected error converting {rtype} {r.get('id', '')}: {type(e).__name__}: {e}",
            orjson.dumps(r).decode()))
        return
    if not rows:
        part.count(fno, rtype, SKIPPED, "no rows: nothing to place")
        return
    part.rows.setdefault(table, []).extend(rows)
    part.count(fno, rtype, CONVERTED)


def _bad_json(part: _Part, fno: int, fname: str, loc: int, raw: bytes, err: str,
              kind: str) -> None:
    part.count(fno, "unparsable JSON", QUARANTINED)
    part.rejected.append(Rejected(fname, loc, kind, "source_unparsable", err,
                                  raw[:100_000].decode("utf-8", "replace")))


def _not_a_resource(part: _Part, fno: int, fname: str, loc: int, doc: Any) -> None:
    part.count(fno, "not a FHIR resource", QUARANTINED)
    part.rejected.append(Rejected(fname, loc, "JSON value", "source_required_missing",
                                  "not a FHIR resource (no resourceType)",
                                  orjson.dumps(doc).decode()[:100_000]))


def _read_ndjson(path: Path, fno: int, fname: str, part: _Part) -> None:
    if path.name.lower() in ("log.ndjson", "log.ndjson.gz"):
        n = 0
        with _open(path) as f:
            for line in f:
                n += bool(line.strip())
        for _ in range(n):
            part.count(fno, "Bulk Data export log", SKIPPED,
                       "Bulk Data export log events, not data")
        return
    # a `urn:uuid:` names an entry of its own Bundle: outside one it resolves to nothing
    ctx = Context(fname, _Resolver(), strict_urn=True)
    with _open(path) as f:
        for loc, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                _bad_json(part, fno, fname, loc, line.rstrip(b"\r\n"),
                          f"line {loc} is not JSON: {e}", "NDJSON line")
                continue
            if not isinstance(doc, dict) or not doc.get("resourceType"):
                _not_a_resource(part, fno, fname, loc, doc)
                continue
            _convert_resource(doc, loc, fno, fname, ctx, part)


def _read_json(path: Path, fno: int, fname: str, part: _Part) -> None:
    with _open(path) as f:
        raw = f.read()
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        _bad_json(part, fno, fname, 1, raw, f"the file is not JSON: {err}", "JSON file")
        return
    del raw
    if isinstance(doc, dict) and "resourceType" not in doc and isinstance(doc.get("output"), list):
        part.count(fno, "Bulk Data manifest", SKIPPED,
                   "Bulk Data $export manifest, not data (the files it lists are read)")
        return
    if not isinstance(doc, dict) or not doc.get("resourceType"):
        _not_a_resource(part, fno, fname, 1, doc)
        return
    if doc["resourceType"] != "Bundle":
        ctx = Context(fname, _Resolver(), strict_urn=True)  # as in NDJSON
        _convert_resource(doc, 1, fno, fname, ctx, part)
        return
    entries = [x if isinstance(x, dict) else {} for x in doc.get("entry") or ()]
    by_url: dict[str, Resource] = {}
    resources: list[Resource] = []
    for x in entries:
        r = x.get("resource")
        if isinstance(r, dict):
            resources.append(r)
            url = x.get("fullUrl")
            if isinstance(url, str) and url:
                by_url[url] = r
    ctx = Context(fname, _Resolver(by_url, resources), strict_urn=True)
    for loc, e in enumerate(entries, start=1):
        r = e.get("resource")
        if not isinstance(r, dict):
            part.count(fno, "Bundle entry", SKIPPED,
                       "Bundle entry without a resource (a response or a deletion)")
        elif not r.get("resourceType"):
            _not_a_resource(part, fno, fname, loc, r)
        else:
            _convert_resource(r, loc, fno, fname, ctx, part)


def _columns(rows: list[Row], extra: Sequence[str]) -> pa.Table:
    return pa.table({c: pa.array([r.get(c) for r in rows], pa.string()) for c in extra})


def _convert_files(job: Sequence[tuple[int, str, str]]) -> _Result:
    """Convert whole files (a worker's task): column-oriented tables and the account.

    The cyclic garbage collector is paused meanwhile: parsing creates millions of dicts
    and lists (none in a cycle), and each collection it would trigger walks every object
    alive, which doubled the time of orjson.loads in a process with the analytics stack
    imported. Cycles made meanwhile are collected when it resumes."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _convert_job(job)
    finally:
        if was_enabled:
            gc.enable()


def _convert_job(job: Sequence[tuple[int, str, str]]) -> _Result:
    part = _Part()
    for fno, path, fname in job:
        p = Path(path)
        try:
            if str(_suffix(p)).startswith(".ndjson"):
                _read_ndjson(p, fno, fname, part)
            else:
                _read_json(p, fno, fname, part)
        except (OSError, EOFError) as e:  # unreadable / truncated gzip
            _bad_json(part, fno, fname, 1, b"", f"the file cannot be read: {e}", "file")
    tables: dict[str, pa.Table] = {}
    for name, rows in part.rows.items():
        keys: dict[str, None] = dict.fromkeys(rows[0])
        first = rows[0].keys()
        if any(r.keys() != first for r in rows):
            for r in rows:
                keys.update(dict.fromkeys(r))
        # Arrow's converter reads the dicts in C++ (3-4x faster than a comprehension per
        # column); columns_to_table then refuses a key that is not an input column.
        structs = pa.array(rows, pa.struct([(k, pa.string()) for k in keys]))
        tables[name] = columns_to_table(name, dict(zip(keys, structs.flatten(), strict=True)))
    return _Result(
        tables, part.counts, part.rejected,
        _columns(part.patients, (*DEMOGRAPHIC_COLUMNS, "_ord")),
        _columns(part.spans, SPAN_COLUMNS),
        _columns(part.providers, (*PROVIDER_COLUMNS, "_file", "_loc", "_type")),
        _columns(part.roles, (*ROLE_COLUMNS, "_file", "_loc")),
        part.panels)


__all__ = ["FHIR_TYPES", "IDENTIFIER_TYPES", "INDEX_TYPES", "Index", "is_fhir"]
