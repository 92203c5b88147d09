"""Providers: clinicians and facilities grouped into organisations, some in one ACO.

Sizes scale with the number of members (about one primary-care physician per 1,000).
Every clinician belongs to an organisation and bills under its TIN; each organisation
also has its own organisation NPI (entity type 2). ACO participation is not a provider
column: the participant TINs are written to `aco.json` next to the Parquet files.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from medsynergy.synth.ids import npis, tins

PROVIDER_SCHEMA = pa.schema([
    ("npi", pa.string()), ("tin", pa.string()), ("provider_name", pa.string()),
    ("entity_type", pa.string()), ("specialty", pa.string()), ("taxonomy_code", pa.string()),
    ("primary_care_flag", pa.int8()), ("organization_id", pa.string()),
    ("organization_name", pa.string()),
])

ACO_ID = "A9999"
ACO_NAME = "Riverbend Health ACO"  # fictional
ACO_PRACTICE_SHARE = 0.4


@dataclass(frozen=True)
class Specialty:
    name: str
    taxonomy_code: str  # NUCC Health Care Provider Taxonomy code set
    primary_care: bool
    members_per_clinician: int


@dataclass(frozen=True)
class OrgKind:
    name: str           # suffix of the organisation name
    specialty: str
    taxonomy_code: str
    members_per_org: int
    staff: tuple[Specialty, ...]  # clinicians, each count scaled by members
    aco_eligible: bool


FM = Specialty("family medicine", "207Q00000X", True, 2_000)
IM = Specialty("internal medicine", "207R00000X", True, 2_500)
GER = Specialty("geriatric medicine", "207RG0300X", True, 20_000)
NP = Specialty("nurse practitioner", "363L00000X", True, 4_000)
PA = Specialty("physician assistant", "363A00000X", True, 8_000)
CARD = Specialty("cardiovascular disease", "207RC0000X", False, 8_000)
OPHTH = Specialty("ophthalmology", "207W00000X", False, 15_000)
GI = Specialty("gastroenterology", "207RG0100X", False, 15_000)
DERM = Specialty("dermatology", "207N00000X", False, 15_000)
PATH = Specialty("pathology", "207ZP0102X", False, 25_000)
URO = Specialty("urology", "208800000X", False, 25_000)
NEPH = Specialty("nephrology", "207RN0300X", False, 25_000)
ORTHO = Specialty("orthopaedic surgery", "207X00000X", False, 10_000)
PAIN = Specialty("interventional pain medicine", "208VP0014X", False, 25_000)
RAD = Specialty("diagnostic radiology", "2085R0202X", False, 10_000)
EM = Specialty("emergency medicine", "207P00000X", False, 6_000)
HOSP = Specialty("hospitalist", "208M00000X", False, 6_000)
PSY = Specialty("psychiatry", "2084P0800X", False, 10_000)
PSYCHOL = Specialty("psychologist", "103T00000X", False, 5_000)
LCSW = Specialty("clinical social worker", "1041C0700X", False, 8_000)
ACU = Specialty("acupuncturist", "171100000X", False, 10_000)
PT = Specialty("physical therapist", "225100000X", False, 3_000)
CHIRO = Specialty("chiropractor", "111N00000X", False, 5_000)
RD = Specialty("dietitian, registered", "133V00000X", False, 10_000)
COACH = Specialty("health educator", "174H00000X", False, 20_000)

ORG_KINDS: tuple[OrgKind, ...] = (
    OrgKind("Primary Care", "primary care clinic", "261QP2300X", 6_000, (FM, IM, GER, NP, PA), True),
    OrgKind("Specialty Group", "multi-specialty group", "193200000X", 25_000,
            (CARD, NEPH, ORTHO, PAIN, RAD, OPHTH, GI, DERM, PATH, URO), True),
    OrgKind("Behavioral Health", "single specialty group", "193400000X", 20_000,
            (PSY, PSYCHOL, LCSW), True),
    OrgKind("Integrative Health", "multi-specialty group", "193200000X", 15_000,
            (ACU, PT, CHIRO, RD, COACH), True),
    OrgKind("General Hospital", "general acute care hospital", "282N00000X", 20_000,
            (EM, HOSP), True),
    OrgKind("Skilled Nursing", "skilled nursing facility", "314000000X", 5_000, (), False),
    OrgKind("Home Health", "home health", "251E00000X", 10_000, (), False),
    OrgKind("Hospice", "hospice care, community based", "251G00000X", 20_000, (), False),
    OrgKind("Dialysis Center", "end-stage renal disease (ESRD) treatment", "261QE0700X", 20_000,
            (), False),
    OrgKind("Pharmacy", "community/retail pharmacy", "3336C0003X", 3_000, (), False),
    OrgKind("Ambulance", "ambulance, land transport", "3416L0300X", 50_000, (), False),
)

PLACES = np.array([
    "Riverbend", "Cedar Falls", "Maple Grove", "Oak Ridge", "Pine Hollow", "Lakeview", "Fairmont",
    "Stonebridge", "Willow Creek", "Granite Bay", "Harbor Point", "Elm Park", "Silver Lake",
    "Brookside", "Highland", "Meadowbrook", "Ashford", "Clearwater", "Foxhill", "Sunnyvale",
], dtype=object)
FIRST = np.array(["Avery", "Jordan", "Maria", "Wei", "Aisha", "Samuel", "Priya", "Lucas",
                  "Elena", "Omar", "Grace", "Daniel", "Mei", "Carlos", "Hannah", "Kwame"],
                 dtype=object)
LAST = np.array(["Chen", "Okafor", "Garcia", "Smith", "Patel", "Nguyen", "Johnson", "Kim",
                 "Rossi", "Haddad", "Novak", "Brown", "Silva", "Cohen", "Ito", "Walker"],
                dtype=object)


def _count(members: int, per: int) -> int:
    return max(1, round(members / per))


def providers(rng: np.random.Generator, members: int) -> tuple[pa.Table, list[dict[str, str]]]:
    """The provider table and the ACO participants (organisation id, name, TIN)."""
    org_kind: list[int] = []
    for k, kind in enumerate(ORG_KINDS):
        org_kind += [k] * _count(members, kind.members_per_org)
    n_org = len(org_kind)
    kinds = np.array(org_kind, dtype=np.int64)
    org_ids = np.array([f"O{i + 1:06d}" for i in range(n_org)], dtype=object)
    place = PLACES[rng.integers(0, len(PLACES), size=n_org)]
    org_names = np.array([f"{place[i]} {ORG_KINDS[k].name} {i + 1}" for i, k in enumerate(org_kind)],
                         dtype=object)
    org_tin = np.array(tins(rng, n_org).to_pylist(), dtype=object)
    # clinicians: each specialty's total spread over the organisations of its kind
    clin_org: list[npt.NDArray[np.int64]] = []
    clin_spec: list[Specialty] = []
    for k, kind in enumerate(ORG_KINDS):
        orgs_k = np.flatnonzero(kinds == k)
        for spec in kind.staff:
            c = _count(members, spec.members_per_clinician)
            clin_org.append(orgs_k[rng.integers(0, len(orgs_k), size=c)])
            clin_spec += [spec] * c
    c_org = np.concatenate(clin_org) if clin_org else np.zeros(0, dtype=np.int64)
    n_clin = len(c_org)
    names = (FIRST[rng.integers(0, len(FIRST), n_clin)] + " "
             + LAST[rng.integers(0, len(LAST), n_clin)])
    all_npi = npis(rng, n_org + n_clin).to_pylist()
    table = pa.table({
        "npi": all_npi,
        "tin": [*org_tin, *org_tin[c_org]],
        "provider_name": [*org_names, *names],
        "entity_type": ["organization"] * n_org + ["individual"] * n_clin,
        "specialty": [ORG_KINDS[k].specialty for k in org_kind] + [s.name for s in clin_spec],
        "taxonomy_code": [ORG_KINDS[k].taxonomy_code for k in org_kind]
        + [s.taxonomy_code for s in clin_spec],
        "primary_care_flag": [0] * n_org + [int(s.primary_care) for s in clin_spec],
        "organization_id": [*org_ids, *org_ids[c_org]],
        "organization_name": [*org_names, *org_names[c_org]],
    }, schema=PROVIDER_SCHEMA)
    # ACO: a share of each eligible kind of organisation, at least one primary-care practice
    in_aco = np.array([ORG_KINDS[k].aco_eligible for k in org_kind]) & (
        rng.random(n_org) < ACO_PRACTICE_SHARE)
    in_aco[0] = True  # the first primary-care practice anchors the ACO
    participants = [{"organization_id": str(org_ids[i]), "organization_name": str(org_names[i]),
                     "tin": str(org_tin[i])} for i in np.flatnonzero(in_aco)]
    return table, participants


@dataclass(frozen=True)
class ProviderIndex:
    """Row indices of the provider table by specialty, and each row's organisation row."""

    npi: pa.StringArray
    tin: pa.StringArray
    org_row: npt.NDArray[np.int64]      # the row of the organisation a clinician bills under
    tins: pa.StringArray                # the distinct TINs, sorted
    tin_row: npt.NDArray[np.int64]      # each provider row's index into `tins`
    by_specialty: dict[str, npt.NDArray[np.int64]]

    @classmethod
    def of(cls, table: pa.Table) -> ProviderIndex:
        org_ids = table.column("organization_id").to_numpy(zero_copy_only=False)
        entity = table.column("entity_type").to_numpy(zero_copy_only=False)
        specialty = table.column("specialty").to_numpy(zero_copy_only=False)
        first_row = {o: i for i, (o, e) in enumerate(zip(org_ids, entity, strict=True))
                     if e == "organization"}
        org_row = np.array([first_row[o] for o in org_ids], dtype=np.int64)
        by: dict[str, list[int]] = {}
        for i, s in enumerate(specialty):
            by.setdefault(str(s), []).append(i)
        pcp = np.flatnonzero(table.column("primary_care_flag").to_numpy() == 1)
        groups = {s: np.array(rows, dtype=np.int64) for s, rows in by.items()}
        groups["primary care"] = pcp.astype(np.int64)
        tin = table.column("tin").combine_chunks()
        tins, tin_row = np.unique(tin.to_numpy(zero_copy_only=False), return_inverse=True)
        return cls(npi=table.column("npi").combine_chunks(), tin=tin, org_row=org_row,
                   tins=pa.array(tins, pa.string()), tin_row=tin_row.astype(np.int64),
                   by_specialty=groups)

    def tin_of(self, rows: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """Provider rows (-1 = none) -> indices into `tins` (-1 = none)."""
        out: npt.NDArray[np.int64] = np.where(rows >= 0, self.tin_row[np.maximum(rows, 0)], -1)
        return out

    def rows(self, specialty: str) -> npt.NDArray[np.int64]:
        return self.by_specialty[specialty]

    def pick(self, rng: np.random.Generator, specialty: str, n: int) -> npt.NDArray[np.int64]:
        rows = self.rows(specialty)
        out: npt.NDArray[np.int64] = rows[rng.integers(0, len(rows), size=n)]
        return out
