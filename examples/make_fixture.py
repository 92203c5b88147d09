"""Write the small demo fixture in examples/data/ (run: python examples/make_fixture.py).

A deterministic, hand-shaped Medicare population for 2024, in the input-layer layout
(docs/schema.md): ~200 members, ~40 providers, medical and pharmacy claim lines. It stands
in for the synthetic generator until that exists; `make demo` ingests it.

Everything is drawn from one seeded `random.Random`, so rerunning the script rewrites the
same bytes. Amounts are `Decimal` rounded to cents. Fee levels follow the 2024 Medicare
fee schedules loosely (E/M, acupuncture, psychotherapy, PT, OPPS ED visits, MS-DRG
payments, the Part A and Part B deductibles); codes are real code-set values, NDC product
segments are illustrative.

A few rows are deliberately bad, so the demo shows quarantine and findings:

    medical_claim  2 rows  claim_end_date before claim_start_date   -> quarantine
                   1 row   paid_amount "$..." (currency sign)       -> quarantine
                   3 rows  an invalid rendering NPI                 -> dq_finding (warn)
                   1 row   ICD-9-shaped code under icd-10-cm        -> dq_finding (warn)

Every other row loads clean: no other rule fires.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import cast

SEED = 20240101
YEAR_START, YEAR_END = date(2024, 1, 1), date(2024, 12, 31)
OUT = Path(__file__).resolve().parent / "data"
CENT = Decimal("0.01")
PAYER = "Medicare"
FFS, MA_HMO, MA_PPO = "FFS", "MA HMO", "MA PPO"
PART_B_DEDUCTIBLE = Decimal("240.00")  # 2024
PART_A_DEDUCTIBLE = Decimal("1632.00")  # 2024, per benefit period

rng = random.Random(SEED)
Share = tuple[Decimal, Decimal, Decimal, Decimal]  # paid, coinsurance, copayment, deductible
Drug = tuple[str, str, float, float, bool]  # name, NDC 5-4-2 or 4-4-2, units a day, $ / 30 days, brand


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def day_between(start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, (end - start).days))


def month_end(d: date) -> date:
    nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


# --------------------------------------------------------------------------- providers
def npi_check_digit(base9: str) -> int:
    """Luhn check digit of the 9 digits with the 80840 prefix (CMS NPI check digit spec).

    The same computation as medsynergy.ingest.parse.npi_is_valid: double digits 1, 3, 5,
    7, 9, add the digits of the products and digits 2, 4, 6, 8, add 24 for the prefix.
    """
    total = 24
    for i, ch in enumerate(base9):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return (10 - total % 10) % 10


_used_npis: set[str] = set()


def new_npi(first_digit: str) -> str:
    while True:
        base = first_digit + "".join(str(rng.randint(0, 9)) for _ in range(8))
        npi = base + str(npi_check_digit(base))
        if npi not in _used_npis:
            _used_npis.add(npi)
            return npi


@dataclass
class Provider:
    npi: str
    tin: str
    name: str
    entity_type: str
    specialty: str
    taxonomy: str
    primary_care: int
    org_id: str
    org_name: str


ORGS = [  # id, name, specialty, NUCC taxonomy
    ("ORG01", "Riverside Primary Care", "primary care clinic", "261QP2300X"),
    ("ORG02", "Oakwood Family Medicine", "primary care clinic", "261QP2300X"),
    ("ORG03", "Harbor Integrative Health", "multi-specialty group", "193200000X"),
    ("ORG04", "Lakeside Physical Therapy", "physical therapy clinic", "261QP2000X"),
    ("ORG05", "St. Brigid Regional Hospital", "general acute care hospital", "282N00000X"),
    ("ORG06", "Bayview Heart and Kidney Specialists", "multi-specialty group", "193200000X"),
    ("ORG07", "Corner Drug Pharmacy", "community/retail pharmacy", "3336C0003X"),
    ("ORG08", "MailRx Pharmacy", "mail order pharmacy", "3336M0002X"),
]
CLINICIANS = [  # org, name, specialty, taxonomy, primary care
    ("ORG01", "Alvarez, Maria", "family medicine", "207Q00000X", 1),
    ("ORG01", "Chen, David", "family medicine", "207Q00000X", 1),
    ("ORG01", "Okafor, Ngozi", "internal medicine", "207R00000X", 1),
    ("ORG01", "Brennan, Thomas", "internal medicine", "207R00000X", 1),
    ("ORG01", "Larsen, Kari", "nurse practitioner, family", "363LF0000X", 1),
    ("ORG01", "Duarte, Ana", "nurse practitioner, adult health", "363LA2200X", 1),
    ("ORG02", "Whitaker, James", "family medicine", "207Q00000X", 1),
    ("ORG02", "Nakamura, Yuki", "geriatric medicine", "207RG0300X", 1),
    ("ORG02", "Haddad, Sami", "internal medicine", "207R00000X", 1),
    ("ORG02", "Moreau, Claire", "physician assistant, medical", "363AM0700X", 1),
    ("ORG03", "Lin, Mei", "acupuncture", "171100000X", 0),
    ("ORG03", "Forsythe, Evan", "acupuncture", "171100000X", 0),
    ("ORG03", "Park, Ji-woo", "acupuncture", "171100000X", 0),
    ("ORG03", "Sandoval, Rosa", "clinical psychology", "103TC0700X", 0),
    ("ORG03", "Abernathy, Paul", "clinical psychology", "103TC0700X", 0),
    ("ORG03", "Greene, Tamika", "clinical social work", "1041C0700X", 0),
    ("ORG03", "Quinn, Dana", "clinical social work", "1041C0700X", 0),
    ("ORG03", "Rahman, Farid", "psychiatry", "2084P0800X", 0),
    ("ORG04", "Kowalski, Peter", "physical therapy", "225100000X", 0),
    ("ORG04", "Osei, Abena", "physical therapy", "225100000X", 0),
    ("ORG04", "Hughes, Laura", "physical therapy", "225100000X", 0),
    ("ORG04", "Rossi, Marco", "physical therapy", "225100000X", 0),
    ("ORG05", "Fitzgerald, Sean", "emergency medicine", "207P00000X", 0),
    ("ORG05", "Adeyemi, Tolu", "emergency medicine", "207P00000X", 0),
    ("ORG05", "Novak, Irena", "emergency medicine", "207P00000X", 0),
    ("ORG05", "Patel, Rohan", "hospitalist", "208M00000X", 0),
    ("ORG05", "Morgan, Elise", "hospitalist", "208M00000X", 0),
    ("ORG06", "Castillo, Hector", "cardiovascular disease", "207RC0000X", 0),
    ("ORG06", "Weiss, Hannah", "cardiovascular disease", "207RC0000X", 0),
    ("ORG06", "Oyelaran, Kemi", "nephrology", "207RN0300X", 0),
    ("ORG06", "Sorensen, Nils", "pulmonary disease", "207RP1001X", 0),
    ("ORG06", "Iyer, Lakshmi", "endocrinology, diabetes and metabolism", "207RE0101X", 0),
]


def make_providers() -> tuple[list[Provider], dict[str, Provider]]:
    orgs: dict[str, Provider] = {}
    out: list[Provider] = []
    for org_id, name, specialty, taxonomy in ORGS:
        tin = str(rng.randint(200_000_000, 999_999_999))
        p = Provider(new_npi("1"), tin, name, "organization", specialty, taxonomy, 0, org_id, name)
        orgs[org_id] = p
        out.append(p)
    for org_id, name, specialty, taxonomy, pc in CLINICIANS:
        org = orgs[org_id]
        out.append(Provider(new_npi("1"), org.tin, name, "individual", specialty, taxonomy,
                            pc, org_id, org.name))
    return out, orgs


# --------------------------------------------------------------------------- members
MBI_LETTERS = "ACDEFGHJKMNPQRTUVWXY"  # CMS MBI format: no S, L, O, I, B, Z
MBI_ALNUM = MBI_LETTERS + "0123456789"


def new_mbi() -> str:
    """A Medicare Beneficiary Identifier shape: C A AN N A AN N A A N N."""
    d, a, an = "123456789", MBI_LETTERS, MBI_ALNUM
    pattern = [d, a, an, "0123456789", a, an, "0123456789", a, a, "0123456789", "0123456789"]
    return "".join(rng.choice(p) for p in pattern)


CONDITIONS = {  # ICD-10-CM (no dot): prevalence in a Medicare population, roughly
    "I10": 0.58, "E785": 0.45, "E119": 0.27, "M5450": 0.20, "F329": 0.15,
    "J449": 0.11, "N183": 0.10, "I509": 0.10, "I4891": 0.08,
}


@dataclass
class Span:
    start: date
    end: date
    plan: str


@dataclass
class Member:
    person_id: str
    member_id: str
    gender: str
    race: str
    birth_date: date
    spans: list[Span]
    conditions: list[str]
    pcp: Provider
    death_date: date | None = None
    disabled: bool = False
    dual: str = "00"
    state_zip: tuple[str, str] = ("OR", "97201")
    services: list[dict[str, object]] = field(default_factory=list)

    def plan_on(self, d: date) -> str | None:
        for s in self.spans:
            if s.start <= d <= s.end:
                return s.plan
        return None

    @property
    def first(self) -> date:
        return self.spans[0].start

    @property
    def last(self) -> date:
        return self.spans[-1].end


RACES = ["white"] * 70 + ["black"] * 10 + ["asian"] * 6 + ["hispanic"] * 9 + \
    ["american indian or alaska native"] * 2 + ["other"] * 2 + ["unknown"]
ZIPS = [("OR", "97201"), ("OR", "97214"), ("OR", "97223"), ("OR", "97035"), ("WA", "98660"),
        ("OR", "97301"), ("OR", "97005"), ("WA", "98682")]


def make_members(pcps: Sequence[Provider]) -> list[Member]:
    members: list[Member] = []
    for i in range(1, 201):
        plan = rng.choices([FFS, MA_HMO, MA_PPO], weights=[84, 10, 6])[0]
        disabled = rng.random() < 0.08
        age = rng.randint(45, 64) if disabled else min(96, 65 + int(rng.expovariate(1 / 11)))
        birth = date(2024 - age, rng.randint(1, 12), rng.randint(1, 28))
        conditions = [c for c, p in CONDITIONS.items() if rng.random() < p]
        m = Member(
            person_id=f"P{i:04d}", member_id=new_mbi(), gender=rng.choice(["female", "male"]),
            race=rng.choice(RACES), birth_date=birth, spans=[Span(YEAR_START, YEAR_END, plan)],
            conditions=conditions, pcp=rng.choice(pcps), disabled=disabled,
            dual=rng.choices(["00", "02", "04", "08"], weights=[85, 5, 3, 7])[0],
            state_zip=rng.choice(ZIPS),
        )
        members.append(m)
    # Mid-year starts: members who turn 65 in 2024 enrol on the 1st of their birthday month.
    for m, month in zip(members[10:18], (2, 3, 4, 5, 6, 7, 9, 10), strict=True):
        m.birth_date = date(1959, month, rng.randint(1, 28))
        m.disabled = False
        m.spans = [Span(date(2024, month, 1), YEAR_END, m.spans[0].plan)]
    # Mid-year ends: moved out of the service area.
    for m, month in zip(members[20:24], (3, 6, 8, 11), strict=True):
        m.spans = [Span(YEAR_START, month_end(date(2024, month, 1)), m.spans[0].plan)]
    # Two members switch from Original Medicare to Medicare Advantage on April 1.
    for m in members[30:32]:
        m.spans = [Span(YEAR_START, date(2024, 3, 31), FFS), Span(date(2024, 4, 1), YEAR_END, MA_HMO)]
    # One death: coverage ends on the last day of the month of death.
    dead = members[40]
    dead.death_date = date(2024, 8, 17)
    dead.birth_date = date(1938, 2, 11)
    dead.conditions = sorted(set(dead.conditions) | {"I509", "N183", "I10"})
    dead.spans = [Span(YEAR_START, month_end(dead.death_date), dead.spans[0].plan)]
    return members


def eligibility_rows(members: Sequence[Member]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for m in members:
        for s in m.spans:
            rows.append({
                "person_id": m.person_id, "member_id": m.member_id, "gender": m.gender,
                "race": m.race, "birth_date": m.birth_date,
                "death_date": m.death_date or "", "death_flag": 1 if m.death_date else 0,
                "enrollment_start_date": s.start, "enrollment_end_date": s.end,
                "payer": PAYER, "payer_type": "medicare", "plan": s.plan,
                "original_reason_entitlement_code": "1" if m.disabled else "0",
                "dual_status_code": m.dual, "medicare_status_code": "20" if m.disabled else "10",
                "state": m.state_zip[0], "zip_code": m.state_zip[1],
            })
    return rows


# --------------------------------------------------------------------------- medical claims
MEDICAL_COLUMNS = [
    "claim_id", "claim_line_number", "claim_type", "person_id", "payer", "plan",
    "claim_start_date", "claim_end_date", "admission_date", "discharge_date",
    "admit_source_code", "admit_type_code", "discharge_disposition_code",
    "place_of_service_code", "bill_type_code", "drg_code_type", "drg_code",
    "revenue_center_code", "service_unit_quantity", "hcpcs_code", "rendering_npi",
    "billing_npi", "facility_npi", "paid_date", "paid_amount",
    "allowed_amount", "charge_amount", "coinsurance_amount", "copayment_amount",
    "deductible_amount", "diagnosis_code_type", "diagnosis_code_1", "diagnosis_code_2",
    "diagnosis_code_3", "diagnosis_poa_1", "diagnosis_poa_2", "diagnosis_poa_3",
    "procedure_code_type", "procedure_code_1", "procedure_date_1", "adjustment_type_code",
    "adjustment_sequence_number",
]

FEES = {  # 2024 Medicare physician fee schedule / OPPS, national, roughly
    "99213": 92.0, "99214": 130.0, "99215": 183.0, "G0439": 136.0, "83036": 9.7,
    "80053": 10.6, "97810": 35.0, "97811": 27.0, "90834": 108.0, "90837": 159.0,
    "97110": 30.0, "99284": 120.0, "99285": 176.0, "99223": 205.0, "99232": 94.0,
    "99238": 96.0, "71046": 28.0,
}
OPPS_ED = {"99283": 240.0, "99284": 430.0, "99285": 620.0}  # APC 5023-5025, facility
MA_COPAY = {"pcp": 10, "specialist": 40, "acupuncture": 20, "therapy": 30, "ed": 90,
            "inpatient": 350, "lab": 0}
# MS-DRG: (principal dx, secondary dx, payment, typical length of stay, PCS procedure)
DRGS = {
    "291": ("I5023", "N183", 9800.0, 5, ""),
    "190": ("J441", "J9601", 7400.0, 4, ""),
    "470": ("M1611", "I10", 13500.0, 2, "0SR9019"),
    "683": ("N179", "N183", 7200.0, 4, ""),
    "638": ("E1165", "I10", 7000.0, 3, ""),
    "871": ("A419", "N179", 12800.0, 6, ""),
    "193": ("J189", "J449", 8100.0, 4, ""),
}
ED_DX = ["R079", "R0600", "N390", "R55", "S0990XA", "J189", "R1084"]


class Claims:
    def __init__(self, providers: dict[str, list[Provider]], orgs: dict[str, Provider]):
        self.rows: list[dict[str, object]] = []
        self.next_id = 1
        self.by_spec = providers
        self.orgs = orgs

    def claim_id(self) -> str:
        cid = f"MC{self.next_id:06d}"
        self.next_id += 1
        return cid

    def cost_sharing(self, m: Member, plan: str, allowed: Decimal, kind: str,
                     part_b: bool = True) -> Share:
        """(paid, coinsurance, copayment, deductible) for one line."""
        zero = Decimal("0.00")
        if allowed == 0:
            return zero, zero, zero, zero
        if plan != FFS:
            copay = min(money(MA_COPAY[kind]), allowed)
            return allowed - copay, zero, copay, zero
        if not part_b:
            return allowed, zero, zero, zero
        return allowed, zero, zero, zero  # Part B: set by apply_part_b, in date order

    def add(self, m: Member, start: date, end: date, lines: Sequence[Mapping[str, object]],
            common: Mapping[str, object], kind: str, part_b: bool = True) -> str | None:
        plan = m.plan_on(start)
        if plan is None or (m.death_date and start > m.death_date):
            return None
        cid = self.claim_id()
        paid_date = end + timedelta(days=rng.randint(9, 40))
        for n, given in enumerate(lines, start=1):
            line = dict(given)
            allowed = money(cast(float, line.pop("allowed")))
            charge = money(cast(float, line.pop("charge", float(allowed) * rng.uniform(1.8, 3.0))))
            paid, coins, copay, ded = self.cost_sharing(m, plan, allowed, kind, part_b)
            if "paid_override" in line:
                paid, coins, copay, ded = cast(Share, line.pop("paid_override"))
            row: dict[str, object] = {
                "claim_id": cid, "claim_line_number": n, "person_id": m.person_id,
                "member_id": m.member_id, "payer": PAYER, "plan": plan,
                "claim_start_date": start, "claim_end_date": end, "paid_date": paid_date,
                "paid_amount": paid, "allowed_amount": allowed, "charge_amount": charge,
                "coinsurance_amount": coins, "copayment_amount": copay, "deductible_amount": ded,
                "diagnosis_code_type": "icd-10-cm",
                **common, **line,
            }
            self.rows.append(row)
        return cid

    def professional(self, m: Member, d: date, clinician: Provider, codes: Sequence[tuple[str, int]],
                     dx: Sequence[str], kind: str, pos: str = "11") -> str | None:
        lines: list[dict[str, object]] = []
        for code, units in codes:
            fee = FEES[code] * units * rng.uniform(0.96, 1.06)
            lines.append({"hcpcs_code": code, "service_unit_quantity": units, "allowed": fee})
        org = self.orgs[clinician.org_id]
        common = {"claim_type": "professional", "place_of_service_code": pos,
                  "rendering_npi": clinician.npi, "billing_npi": org.npi, "billing_tin": org.tin,
                  **{f"diagnosis_code_{i}": c for i, c in enumerate(dx[:3], start=1)}}
        return self.add(m, d, d, lines, common, kind)

    def ed_visit(self, m: Member, d: date) -> None:
        level = rng.choices(["99283", "99284", "99285"], weights=[3, 5, 2])[0]
        dx = [rng.choice(ED_DX), *m.conditions[:2]]
        hospital = self.orgs["ORG05"]
        lines: list[dict[str, object]] = [
            {"revenue_center_code": "0450", "hcpcs_code": level, "service_unit_quantity": 1,
             "allowed": OPPS_ED[level] * rng.uniform(0.97, 1.04)},
        ]
        if rng.random() < 0.6:  # a metabolic panel: packaged under OPPS, so nothing paid
            lines.append({"revenue_center_code": "0300", "hcpcs_code": "80053",
                          "service_unit_quantity": 1, "allowed": 0.0,
                          "charge": rng.choice([145.0, 162.0, 188.0])})
        if rng.random() < 0.35:
            lines.append({"revenue_center_code": "0324", "hcpcs_code": "71046",
                          "service_unit_quantity": 1, "allowed": 62.0 * rng.uniform(0.97, 1.04)})
        common = {"claim_type": "institutional", "bill_type_code": "131",
                  "billing_npi": hospital.npi, "billing_tin": hospital.tin,
                  "facility_npi": hospital.npi,
                  **{f"diagnosis_code_{i}": c for i, c in enumerate(dx[:3], start=1)}}
        self.add(m, d, d, lines, common, "ed")
        doc = rng.choice(self.by_spec["emergency medicine"])
        self.professional(m, d, doc, [(level if level != "99283" else "99284", 1)], dx,
                          "specialist", pos="23")

    def inpatient(self, m: Member, admit: date, drg: str, disposition: str = "01",
                  los: int | None = None) -> date | None:
        principal, secondary, payment, typical, pcs = DRGS[drg]
        los = los if los is not None else max(1, typical + rng.randint(-1, 2))
        discharge = admit + timedelta(days=los)
        if m.death_date and disposition == "20":
            discharge = m.death_date
            los = (discharge - admit).days
        if m.plan_on(admit) is None or m.plan_on(discharge) is None:
            return None
        hospital = self.orgs["ORG05"]
        allowed = money(payment * rng.uniform(0.95, 1.08))
        plan = m.plan_on(admit)
        if plan == FFS:
            ded = min(PART_A_DEDUCTIBLE, allowed)
            share = (allowed - ded, Decimal("0.00"), Decimal("0.00"), ded)
        else:
            copay = money(MA_COPAY["inpatient"] * min(los, 5))
            share = (allowed - copay, Decimal("0.00"), copay, Decimal("0.00"))
        elective = drg == "470"
        lines: list[dict[str, object]] = [
            {"revenue_center_code": "0120", "service_unit_quantity": los, "allowed": allowed,
             "charge": 2850.0 * los, "paid_override": share},
            {"revenue_center_code": "0250", "service_unit_quantity": los, "allowed": 0.0,
             "charge": rng.uniform(900, 4200)},
            {"revenue_center_code": "0300", "service_unit_quantity": los * 2, "allowed": 0.0,
             "charge": rng.uniform(600, 2400)},
        ]
        if not elective:
            lines.append({"revenue_center_code": "0450", "service_unit_quantity": 1,
                          "allowed": 0.0, "charge": rng.uniform(1800, 3600)})
        dx = [principal, secondary, *[c for c in m.conditions if c not in (principal, secondary)]]
        common: dict[str, object] = {
            "claim_type": "institutional", "bill_type_code": "111", "drg_code_type": "ms-drg",
            "drg_code": drg, "admission_date": admit, "discharge_date": discharge,
            "admit_source_code": "1", "admit_type_code": "3" if elective else "1",
            "discharge_disposition_code": disposition,
            "billing_npi": hospital.npi, "billing_tin": hospital.tin, "facility_npi": hospital.npi,
            **{f"diagnosis_code_{i}": c for i, c in enumerate(dx[:3], start=1)},
            **{f"diagnosis_poa_{i}": "Y" for i in range(1, min(3, len(dx)) + 1)},
        }
        if pcs:
            common |= {"procedure_code_type": "icd-10-pcs", "procedure_code_1": pcs,
                       "procedure_date_1": admit}
        self.add(m, admit, discharge, lines, common, "inpatient", part_b=False)
        # The hospitalist's visits (POS 21, inpatient hospital): admission, one subsequent
        # day on longer stays, discharge; one claim each.
        doc = rng.choice(self.by_spec["hospitalist"])
        days = [(0, "99223"), *([(los // 2, "99232")] if los >= 3 else []), (los, "99238")]
        for k, code in days:
            self.professional(m, admit + timedelta(days=k), doc, [(code, 1)], dx, "specialist",
                              pos="21")
        return discharge


def visits(m: Member, n: int) -> list[date]:
    end = min(m.last, m.death_date or m.last)
    return sorted(day_between(m.first, end) for _ in range(n))


def course(m: Member, sessions: int, every_days: int) -> list[date]:
    """A course of weekly-ish sessions starting on a random day in the member's coverage."""
    end = min(m.last, m.death_date or m.last)
    if (end - m.first).days < sessions * every_days:
        return []
    start = day_between(m.first, end - timedelta(days=sessions * every_days))
    return [start + timedelta(days=k * every_days + rng.randint(0, 2)) for k in range(sessions)]


def make_medical(members: Sequence[Member], providers: Sequence[Provider],
                 orgs: dict[str, Provider]) -> Claims:
    by_spec: dict[str, list[Provider]] = {}
    for p in providers:
        if p.entity_type == "individual":
            by_spec.setdefault(p.specialty, []).append(p)
    claims = Claims(by_spec, orgs)
    for m in members:
        dx = m.conditions or ["Z0000"]
        # Primary care: E/M visits, an HbA1c with the visit for diabetics, a wellness visit.
        for d in visits(m, 1 + min(5, int(rng.expovariate(1 / 0.6)))):
            level = rng.choices(["99213", "99214", "99215"], weights=[58, 37, 5])[0]
            codes = [(level, 1)]
            if "E119" in m.conditions and rng.random() < 0.5:
                codes.append(("83036", 1))
            claims.professional(m, d, m.pcp, codes, dx, "pcp")
        if rng.random() < 0.25:
            claims.professional(m, visits(m, 1)[0], m.pcp, [("G0439", 1)], ["Z0000", *dx], "pcp")
        # Specialists for the chronic conditions they manage.
        for cond, spec, n in (("I509", "cardiovascular disease", 3),
                              ("I4891", "cardiovascular disease", 2),
                              ("N183", "nephrology", 2), ("J449", "pulmonary disease", 2),
                              ("E119", "endocrinology, diabetes and metabolism", 1)):
            if cond in m.conditions and (cond != "E119" or rng.random() < 0.3):
                doc = rng.choice(by_spec[spec])
                for d in visits(m, n):
                    claims.professional(m, d, doc, [("99214", 1)], [cond, *dx], "specialist")
        # Chronic low back pain: acupuncture (Medicare NCD 30.3.3), physical therapy.
        if "M5450" in m.conditions:
            if rng.random() < 0.4:
                acu = rng.choice(by_spec["acupuncture"])
                for d in course(m, rng.randint(4, 8), 7):
                    codes = [("97810", 1)] + ([("97811", 1)] if rng.random() < 0.3 else [])
                    claims.professional(m, d, acu, codes, ["M5450", *dx], "acupuncture")
            if rng.random() < 0.3:
                pt = rng.choice(by_spec["physical therapy"])
                for d in course(m, rng.randint(4, 8), 5):
                    claims.professional(m, d, pt, [("97110", rng.randint(2, 3))],
                                        ["M5450", *dx], "therapy")
        # Depression: psychotherapy.
        if "F329" in m.conditions and rng.random() < 0.45:
            therapist = rng.choice(by_spec[rng.choice(["clinical psychology", "clinical social work"])])
            for d in course(m, rng.randint(4, 8), 10):
                code = "90834" if rng.random() < 0.8 else "90837"
                claims.professional(m, d, therapist, [(code, 1)], ["F329", *dx], "therapy",
                                    pos=rng.choice(["11", "11", "11", "10"]))
        # Emergency department: sicker members visit more.
        for d in visits(m, sum(rng.random() < 0.07 + 0.035 * len(m.conditions) for _ in range(2))):
            claims.ed_visit(m, d)
    # Inpatient stays, including a readmission within 30 days and the member who died.
    stays = [(m, drg) for m, drg in zip(members[50:80], list(DRGS) * 5, strict=False)]
    for m, drg in stays:
        admit = day_between(m.first, min(m.last, m.death_date or m.last) - timedelta(days=10))
        disposition = rng.choice(["01", "01", "06", "03"])
        claims.inpatient(m, admit, drg, disposition)
    hf = members[45]
    hf.conditions = sorted(set(hf.conditions) | {"I509"})
    first = claims.inpatient(hf, date(2024, 3, 3), "291", "06", los=5)
    assert first is not None
    claims.inpatient(hf, first + timedelta(days=19), "291", "01", los=4)
    claims.inpatient(members[40], date(2024, 8, 9), "871", "20")
    return claims


LAB_CODES = ("83036", "80053")  # clinical lab: no Part B deductible or coinsurance


def apply_part_b(claims: Claims) -> None:
    """Original Medicare Part B cost sharing, in date order per member.

    The annual deductible falls on the earliest services, then 20% coinsurance; clinical
    lab tests have neither. Inpatient (Part A) lines keep their own deductible.
    """
    part_b = [r for r in claims.rows if r["plan"] == FFS and r.get("bill_type_code") != "111"
              and Decimal(str(r["allowed_amount"])) > 0]
    part_b.sort(key=lambda r: (str(r["person_id"]), cast(date, r["claim_start_date"]),
                               str(r["claim_id"]), cast(int, r["claim_line_number"])))
    left: dict[str, Decimal] = {}
    for r in part_b:
        allowed = Decimal(str(r["allowed_amount"]))
        if r.get("hcpcs_code") in LAB_CODES:
            deductible = coinsurance = Decimal("0.00")
        else:
            remaining = left.setdefault(str(r["person_id"]), PART_B_DEDUCTIBLE)
            deductible = min(remaining, allowed)
            left[str(r["person_id"])] = remaining - deductible
            coinsurance = money((allowed - deductible) * Decimal("0.2"))
        r.update(deductible_amount=deductible, coinsurance_amount=coinsurance,
                 paid_amount=allowed - deductible - coinsurance)


def apply_adjustments(claims: Claims) -> None:
    """Adjustment chains on a few paid professional lines.

    Five lines are re-priced: the original, a reversal with negated amounts, then the
    replacement ("adjustment"), paid later. One more line is cancelled: original and
    reversal only. Reversals negate every amount, so the lines of a chain sum to the
    final version (docs/ingest.md, claim adjustments).
    """
    candidates = [r for r in claims.rows
                  if r["claim_type"] == "professional" and r["hcpcs_code"] in ("99213", "99214")
                  and Decimal(str(r["paid_amount"])) > 0 and r["claim_line_number"] == 1]
    picked = rng.sample(candidates, 6)
    amounts = ("paid_amount", "allowed_amount", "charge_amount", "coinsurance_amount",
               "copayment_amount", "deductible_amount")
    for k, original in enumerate(picked):
        original["adjustment_type_code"] = "original"
        original["adjustment_sequence_number"] = 1
        reversal = dict(original)
        reversal.update({a: -Decimal(str(original[a])) if Decimal(str(original[a])) else
                         Decimal("0.00") for a in amounts})
        reversal["paid_date"] = cast(date, original["paid_date"]) + timedelta(days=rng.randint(20, 45))
        reversal["adjustment_type_code"] = "reversal"
        reversal["adjustment_sequence_number"] = 2
        chain = [reversal]
        if k < 5:  # re-priced: the visit was billed 99213 and corrected to 99214, or back
            replacement = dict(original)
            code = "99214" if original["hcpcs_code"] == "99213" else "99213"
            allowed = money(FEES[code] * rng.uniform(0.96, 1.06))
            ratio = allowed / Decimal(str(original["allowed_amount"]))
            paid = money(Decimal(str(original["paid_amount"])) * ratio)
            replacement.update({
                "hcpcs_code": code, "allowed_amount": allowed, "paid_amount": paid,
                "charge_amount": money(float(allowed) * 2.2),
                "paid_date": reversal["paid_date"], "adjustment_type_code": "adjustment",
                "adjustment_sequence_number": 3,
            })
            rest = allowed - paid
            if Decimal(str(original["copayment_amount"])) > 0:
                replacement.update(copayment_amount=rest, coinsurance_amount=Decimal("0.00"),
                                   deductible_amount=Decimal("0.00"))
            else:
                replacement.update(coinsurance_amount=rest, copayment_amount=Decimal("0.00"),
                                   deductible_amount=Decimal("0.00"))
            chain.append(replacement)
        at = claims.rows.index(original) + 1
        claims.rows[at:at] = chain


def add_bad_rows(claims: Claims) -> None:
    """The deliberately bad rows listed in the module docstring, each a one-line claim."""
    pcp_rows = [r for r in claims.rows if r["claim_type"] == "professional"
                and r["hcpcs_code"] == "99213" and not r.get("adjustment_type_code")
                and r["claim_line_number"] == 1 and Decimal(str(r["paid_amount"])) > 0]
    templates = rng.sample(pcp_rows, 7)
    bad: list[dict[str, object]] = []
    for t in templates:
        row = dict(t)
        row["claim_id"] = claims.claim_id()
        row["claim_line_number"] = 1
        bad.append(row)
    # 1-2: the end date typed before the start date.
    for row in bad[0:2]:
        row["claim_end_date"] = cast(date, row["claim_start_date"]) - timedelta(days=10)
    # 3: a currency sign in the paid amount.
    bad[2]["paid_amount"] = f"${bad[2]['paid_amount']}"
    # 4-6: invalid rendering NPIs: a wrong check digit, 9 digits, and a made-up number.
    good = str(bad[3]["rendering_npi"])
    bad[3]["rendering_npi"] = good[:9] + str((int(good[9]) + 1) % 10)
    bad[4]["rendering_npi"] = str(bad[4]["rendering_npi"])[:9]
    bad[5]["rendering_npi"] = "1234567890"
    # 7: an ICD-9-CM code (428.0, heart failure) sent under icd-10-cm.
    bad[6]["diagnosis_code_1"] = "4280"
    for row in bad:
        at = rng.randint(0, len(claims.rows))
        claims.rows.insert(at, row)


# --------------------------------------------------------------------------- pharmacy
PHARMACY_COLUMNS = [
    "claim_id", "claim_line_number", "person_id", "payer", "plan", "prescribing_provider_npi",
    "dispensing_provider_npi", "dispensing_date", "ndc_code",
    "quantity", "days_supply", "refills", "paid_date", "paid_amount", "allowed_amount",
    "copayment_amount",
]
# condition -> (drug, NDC 5-4-2, units per day, allowed per 30 days, brand)
DRUGS: dict[str, list[Drug]] = {
    "E119": [("metformin 500 mg tablet", "00093-1048-01", 2, 9.0, False),
             ("sitagliptin 100 mg tablet", "0006-0277-31", 1, 560.0, True),
             ("insulin glargine 100 unit/mL pen", "0088-2220-33", 0.5, 320.0, True)],
    "I10": [("lisinopril 10 mg tablet", "68180-0514-01", 1, 6.0, False),
            ("amlodipine 5 mg tablet", "00378-5208-77", 1, 7.0, False)],
    "E785": [("atorvastatin 40 mg tablet", "60505-2579-09", 1, 9.5, False)],
    "I509": [("furosemide 40 mg tablet", "00054-4299-25", 1, 5.0, False),
             ("carvedilol 12.5 mg tablet", "65862-0143-05", 2, 8.0, False)],
    "I4891": [("apixaban 5 mg tablet", "0003-0894-21", 2, 565.0, True)],
    "F329": [("sertraline 50 mg tablet", "16729-0089-01", 1, 7.5, False)],
    "J449": [("tiotropium 18 mcg inhalation capsule", "0597-0075-41", 1, 520.0, True),
             ("albuterol 90 mcg inhaler", "00093-3174-31", 0.6, 28.0, False)],
    "M5450": [("naproxen 500 mg tablet", "00093-0149-01", 2, 8.5, False)],
}


TREATED = 0.32  # share of members with a condition who fill a drug for it in the fixture


def ndc11(hyphenated: str) -> str:
    a, b, c = hyphenated.split("-")
    return a.zfill(5) + b.zfill(4) + c.zfill(2)


def make_pharmacy(members: Sequence[Member], orgs: dict[str, Provider]) -> list[dict[str, object]]:
    """Refills of one drug per treated condition; generics mostly as 90-day fills."""
    rows: list[dict[str, object]] = []
    pharmacies = [orgs["ORG07"], orgs["ORG08"]]
    for m in members:
        end = min(m.last, m.death_date or m.last)
        for cond in m.conditions:
            if cond not in DRUGS or rng.random() > TREATED:
                continue
            drug, ndc, per_day, per_30, brand = rng.choice(DRUGS[cond])
            mail = not brand and rng.random() < 0.35
            supply = 30 if brand or rng.random() < 0.2 else 90
            d = m.first + timedelta(days=rng.randint(0, 150))
            refill = 0
            while d <= end and (plan := m.plan_on(d)) is not None:
                allowed = money(per_30 * supply / 30 * rng.uniform(0.97, 1.05))
                # Insulin: $35 a month (Inflation Reduction Act cap); brands: a tier-3 copay.
                copay = money(35 * supply / 30 if "insulin" in drug else 47.0 if brand
                              else 0.0 if mail else rng.choice([0.0, 2.0, 5.0]))
                copay = min(copay, allowed)
                # A few NDCs arrive hyphenated, as printed on the package (5-4-2, 4-4-2).
                shown = ndc if rng.random() < 0.04 else ndc11(ndc)
                rows.append({
                    "person_id": m.person_id, "payer": PAYER, "plan": plan,
                    "prescribing_provider_npi": m.pcp.npi,
                    "dispensing_provider_npi": pharmacies[1 if mail else 0].npi,
                    "dispensing_date": d, "ndc_code": shown,
                    "quantity": format(Decimal(str(per_day * supply)).normalize(), "f"),
                    "days_supply": supply, "refills": refill,
                    "paid_date": d + timedelta(days=rng.randint(1, 14)),
                    "paid_amount": allowed - copay, "allowed_amount": allowed,
                    "copayment_amount": copay,
                })
                refill += 1
                d += timedelta(days=supply + rng.randint(0, 12))
    rows.sort(key=lambda r: (cast(date, r["dispensing_date"]), cast(str, r["person_id"])))
    for n, row in enumerate(rows, start=1):
        row["claim_id"], row["claim_line_number"] = f"RX{n:06d}", 1
    return rows


# --------------------------------------------------------------------------- output
PROVIDER_COLUMNS = ["npi", "tin", "provider_name", "entity_type", "specialty", "taxonomy_code",
                    "primary_care_flag", "organization_id", "organization_name"]
ELIGIBILITY_COLUMNS = [
    "person_id", "member_id", "gender", "race", "birth_date", "death_date", "death_flag",
    "enrollment_start_date", "enrollment_end_date", "payer", "payer_type", "plan",
    "original_reason_entitlement_code", "dual_status_code", "medicare_status_code", "state",
    "zip_code",
]


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict[str, object]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({c: r.get(c, "") for c in columns})


def main() -> None:
    providers, orgs = make_providers()
    pcps = [p for p in providers if p.primary_care == 1]
    members = make_members(pcps)
    claims = make_medical(members, providers, orgs)
    apply_part_b(claims)
    apply_adjustments(claims)
    add_bad_rows(claims)
    pharmacy = make_pharmacy(members, orgs)

    OUT.mkdir(parents=True, exist_ok=True)
    write_csv(OUT / "eligibility.csv", ELIGIBILITY_COLUMNS, eligibility_rows(members))
    write_csv(OUT / "provider.csv", PROVIDER_COLUMNS, [
        {"npi": p.npi, "tin": p.tin, "provider_name": p.name, "entity_type": p.entity_type,
         "specialty": p.specialty, "taxonomy_code": p.taxonomy,
         "primary_care_flag": p.primary_care, "organization_id": p.org_id,
         "organization_name": p.org_name} for p in providers])
    write_csv(OUT / "medical_claim.csv", MEDICAL_COLUMNS, claims.rows)
    write_csv(OUT / "pharmacy_claim.csv", PHARMACY_COLUMNS, pharmacy)


if __name__ == "__main__":
    main()
