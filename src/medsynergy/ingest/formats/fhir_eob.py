"""ExplanationOfBenefit (and Synthea pharmacy Claim) -> medical_claim / pharmacy_claim rows.

Three dialects, told apart from the resource itself (no configuration):

* **Blue Button** (CMS BFD): an EOB whose `type.coding` has the system
  `https://bluebutton.cms.gov/resources/codesystem/eob-type` (CARRIER, DME, HHA, HOSPICE,
  INPATIENT, OUTPATIENT, PDE, SNF). v2 is CARIN Blue Button R4 (`productOrService`,
  `supportingInfo`, `careTeamSequence`, Money `currency`), v1 is STU3 as BCDA / AB2D export
  it (`service`, `information`, `careTeamLinkId`, `hospitalization`, Money `code`). Every
  CMS variable is named by its Blue Button URI (`.../resources/variables/<ccw name>`), in
  both versions, so one reader per concept keyed by the CCW variable name serves both
  (BFD `TransformerUtilsV2` / `TransformerUtils`, `CcwCodebookVariable`; data dictionary
  https://bluebutton.cms.gov/resources/variables/).
* **Synthea R4** (and any other R4 EOB): items that point at their `encounter`; the
  Encounter's class (IMP / EMER / AMB) tells the setting, since Synthea writes no type of
  bill, revenue code or DRG. What is derived from it is listed in `derived_columns`
  (docs/formats_fhir_eob.md).
* **Synthea pharmacy Claim**: a `Claim` with `prescription` (or type `pharmacy`): one
  pharmacy_claim row, coded from the MedicationRequest it points to (`claim_rows`).

Pure functions over orjson dicts: `eob_rows(eob, ctx)`, `claim_rows(claim, ctx)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
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
    money,
    npi_of,
    ref_id,
    ref_text,
)
from medsynergy.schema import table as canonical_table

CENT = Decimal("0.01")

BB_VAR = "https://bluebutton.cms.gov/resources/variables/"
EOB_TYPE = "https://bluebutton.cms.gov/resources/codesystem/eob-type"

#: Blue Button eob-type -> (claim_type, plan). Institutional vs professional as the CARIN BB
#: profiles split them (C4BB-ExplanationOfBenefit-Inpatient-/Outpatient-Institutional for
#: IP, OP, SNF, HHA, hospice; -Professional-NonClinician for carrier and DME). The plan is
#: the Medicare part that pays the claim type (CMS Medicare Claims Processing Manual:
#: IP, SNF, hospice Part A; carrier, DME, OP Part B; HHA mostly Part A); an insurance
#: Coverage reference (`Coverage/part-a-...`) names it and wins over this default.
BB_TYPES: dict[str, tuple[str, str]] = {
    "CARRIER": ("professional", "part b"),
    "DME": ("professional", "part b"),
    "HHA": ("institutional", "part a"),
    "HOSPICE": ("institutional", "part a"),
    "INPATIENT": ("institutional", "part a"),
    "OUTPATIENT": ("institutional", "part b"),
    "SNF": ("institutional", "part a"),
    "PDE": ("pharmacy", "part d"),
}

#: Amount column -> the Blue Button adjudication variables that fill it, in order of
#: preference (the first one a line carries wins). Read by variable name, not by the HL7
#: category beside it: BFD v2 files the revenue-center *payment* `rev_cntr_pmt_amt_amt`
#: under category `submitted` (OutpatientClaimTransformerV2), so the HL7 code would put a
#: payment in the charge column.
#: * paid: line_nch_pmt_amt (carrier/DME "Line NCH Medicare Payment Amount", all that
#:   Medicare paid for the line), rev_cntr_pmt_amt_amt (institutional "Revenue Center
#:   Payment Amount"), cvrd_d_plan_pd_amt (PDE "Amount paid by Part D plan for covered
#:   drugs"), line_prvdr_pmt_amt (what Synthea writes; the provider's part elsewhere).
#: * charge: line_sbmtd_chrg_amt, rev_cntr_tot_chrg_amt.
#: * allowed: line_alowd_chrg_amt; PDE tot_rx_cst_amt (gross drug cost: ingredient cost
#:   + dispensing fee + sales tax + vaccine fee, the price the plan recognises).
#: * deductible / coinsurance: line_bene_ptb_ddctbl_amt, rev_cntr_cash_ddctbl_amt;
#:   line_coinsrnc_amt, rev_cntr_coinsrnc_wge_adjstd_c.
#: * copayment: PDE ptnt_pay_amt (what the patient paid at the pharmacy; the PDE does not
#:   split it into copay, coinsurance and deductible).
LINE_VARS: dict[str, tuple[str, ...]] = {
    "paid_amount": ("line_nch_pmt_amt", "rev_cntr_pmt_amt_amt", "cvrd_d_plan_pd_amt",
                    "line_prvdr_pmt_amt"),
    "charge_amount": ("line_sbmtd_chrg_amt", "rev_cntr_tot_chrg_amt"),
    "allowed_amount": ("line_alowd_chrg_amt", "tot_rx_cst_amt"),
    "deductible_amount": ("line_bene_ptb_ddctbl_amt", "rev_cntr_cash_ddctbl_amt"),
    "coinsurance_amount": ("line_coinsrnc_amt", "rev_cntr_coinsrnc_wge_adjstd_c"),
    "copayment_amount": ("ptnt_pay_amt",),
}

#: When an adjudication names no Blue Button variable (a payer's own CARIN BB feed): the
#: HL7 adjudication codes (http://terminology.hl7.org/CodeSystem/adjudication) and the
#: C4BB ones (http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication).
LINE_CODES: dict[str, tuple[str, ...]] = {
    "paid_amount": ("benefit", "paidtoprovider"),
    "charge_amount": ("submitted",),
    "allowed_amount": ("eligible", "drugcost"),
    "deductible_amount": ("deductible",),
    "coinsurance_amount": ("coinsurance",),
    "copayment_amount": ("copay", "paidbypatient"),
}

#: Header amounts (BFD claim-level variables, in `total`, `benefitBalance.financial`
#: or an extension), used only where no line carries the column (see `_spread`).
HEADER_VARS: dict[str, tuple[str, ...]] = {
    "paid_amount": ("clm_pmt_amt",),
    "charge_amount": ("clm_tot_chrg_amt", "nch_carr_clm_sbmtd_chrg_amt"),
    "allowed_amount": ("nch_carr_clm_alowd_amt",),
    "deductible_amount": ("nch_bene_ip_ddctbl_amt", "nch_bene_ptb_ddctbl_amt",
                          "carr_clm_cash_ddctbl_apld_amt"),
    "coinsurance_amount": ("nch_bene_pta_coinsrnc_lblty_amt", "nch_bene_ptb_coinsrnc_amt"),
}

AMOUNTS = tuple(LINE_VARS)


def _empty_row(name: str) -> Row:
    """Every input column of a canonical table, None (rows carry all of them, as the
    other FHIR mappers' rows do)."""
    return {c.name: None for c in canonical_table(name).columns if c.role.value == "input"}


EMPTY_MEDICAL = _empty_row("medical_claim")
EMPTY_PHARMACY = _empty_row("pharmacy_claim")

DIAG_MAX = 25
PROC_MAX = 25
#: Diagnosis codes preferred when a concept has several codings (BFD v2 writes each ICD
#: code twice: `icd-10-cm` and `icd-10`).
DX_PREFER = ("icd-10-cm", "icd-9-cm", "snomed-ct")
PX_PREFER = ("icd-10-pcs", "icd-9-pcs", "cpt", "hcpcs", "snomed-ct")
#: Care-team roles of the provider who rendered a line: C4BB ClaimCareTeamRole
#: performing / rendering (v2); STU3 claimcareteamrole `primary` is what BFD v1 and
#: Synthea write for the performing provider (CarrierClaimTransformer: "primary" =
#: prf_physn_npi).
RENDERING_ROLES = ("performing", "rendering", "primary")


# --- small readers ---------------------------------------------------------------

def _str(v: Any) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return decimal_text(v)
    return str(v)


def _int_text(v: Any) -> str | None:
    """A count as digits (BIGINT columns): JSON `30.0` -> `30`; anything else as text."""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return _str(v)


def _first(values: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present (0 is a value: a PDE may have 0 days supply)."""
    for k in keys:
        if values.get(k) is not None:
            return values[k]
    return None


def _map(v: Any) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: Any) -> list[Any]:
    if isinstance(v, list):
        return v
    return [] if v is None else [v]  # STU3 EOB.insurance is a single element


def _var(system_or_code: Any) -> str | None:
    """The CCW variable a Blue Button URI names (`.../variables/clm_drg_cd` -> clm_drg_cd)."""
    s = str(system_or_code or "")
    if s.startswith(BB_VAR):
        return s[len(BB_VAR):]
    return None


def _money(value: Any) -> str | None:
    """FHIR Money as decimal text. R4 names the currency in `currency` (checked by
    `fhir_common.money`); STU3 Money is a Quantity whose `code` is the ISO 4217 currency
    (`{"code": "USD", "system": "urn:iso:std:iso:4217"}`), which `money` does not read, so
    it is checked here: another currency refuses the record."""
    m = _map(value)
    if not m:
        return None
    if "currency" not in m and m.get("code") is not None and m.get("code") != "USD":
        raise RecordError("source_currency_unknown",
                          f"amount {m.get('value')} in currency {m.get('code')!r}; only USD is accepted")
    return money(m)


def _concept_code(concept: Any) -> str | None:
    for c in _map(concept).get("coding") or ():
        if c.get("code") is not None:
            return str(c["code"])
    return None


def _period(obj: Mapping[str, Any], period_key: str, date_key: str) -> tuple[str | None, str | None]:
    p = _map(obj.get(period_key))
    start, end = fhir_date(p.get("start")), fhir_date(p.get("end"))
    d = fhir_date(obj.get(date_key)) if obj.get(date_key) else None
    if d is not None:
        return start or d, end or d
    return start, end


# --- header codes ------------------------------------------------------------------

def _header_codes(eob: Mapping[str, Any]) -> dict[str, Any]:
    """Every coded header value the EOB carries, keyed by CCW variable name (Blue Button)
    and by C4BB supportingInfo category code (CARIN: `admissionperiod`, `typeofbill`,
    `discharge-status`, `dayssupply`, `refillnum`, ...). Read from: the resource's and the
    facility's extensions (clm_fac_type_cd, clm_srvc_clsfctn_type_cd in v2), `type.coding`
    (v1 puts clm_srvc_clsfctn_type_cd there), and `supportingInfo` (v2) / `information`
    (STU3) entries: their code, date, period or quantity."""
    out: dict[str, Any] = {}

    def put(key: str | None, value: Any) -> None:
        if key and value is not None and key not in out:
            out[key] = value

    for ext in [*_list(eob.get("extension")), *_list(_map(eob.get("facility")).get("extension"))]:
        ext = _map(ext)
        key = _var(ext.get("url"))
        if key is None:
            continue
        if "valueCoding" in ext:
            put(key, _map(ext["valueCoding"]).get("code"))
        elif "valueMoney" in ext:
            put(key, ext["valueMoney"])
        elif "valueIdentifier" in ext:
            put(key, _map(ext["valueIdentifier"]).get("value"))
        elif "valueQuantity" in ext:
            put(key, _map(ext["valueQuantity"]).get("value"))
        else:
            put(key, ext.get("valueDate") or ext.get("valueString"))
    for c in _map(eob.get("type")).get("coding") or ():
        put(_var(c.get("system")), c.get("code"))
    for info in [*_list(eob.get("supportingInfo")), *_list(eob.get("information"))]:
        info = _map(info)
        if "code" in info:
            value: Any = _concept_code(info["code"])
        elif "timingPeriod" in info:
            value = info["timingPeriod"]
        elif "timingDate" in info:
            value = info["timingDate"]
        elif "valueQuantity" in info:
            value = _map(info["valueQuantity"]).get("value")
        else:
            value = None
        for c in _map(info.get("category")).get("coding") or ():
            put(_var(c.get("code")) or str(c.get("code") or ""), value)
        # The variable the value is coded in names it too (v2 typeofbill holds clm_freq_cd).
        for c in _map(info.get("code")).get("coding") or ():
            put(_var(c.get("system")), c.get("code"))
    return out


def _header_money(eob: Mapping[str, Any]) -> dict[str, str]:
    """Claim-level amounts by CCW variable (and `payment` for EOB.payment.amount, which BFD
    fills with clm_pmt_amt and Synthea with what the payer paid; `submitted` for an HL7
    `total` of that category; `totalCost` for STU3 EOB.totalCost, = clm_tot_chrg_amt)."""
    out: dict[str, str] = {}
    pay = _money(_map(eob.get("payment")).get("amount"))
    if pay is not None:
        out["payment"] = pay
    for t in _list(eob.get("total")):
        t = _map(t)
        amt = _money(t.get("amount"))
        if amt is None:
            continue
        for c in _map(t.get("category")).get("coding") or ():
            key = _var(c.get("code")) or str(c.get("code") or "")
            out.setdefault(key, amt)
    if eob.get("totalCost") is not None:
        tc = _money(eob.get("totalCost"))
        if tc is not None:
            out.setdefault("totalCost", tc)
    for bb in _list(eob.get("benefitBalance")):
        for fin in _list(_map(bb).get("financial")):
            fin = _map(fin)
            if "usedMoney" not in fin:
                continue
            amt = _money(fin["usedMoney"])
            for c in _map(fin.get("type")).get("coding") or ():
                key = _var(c.get("code")) or str(c.get("code") or "")
                if amt is not None:
                    out.setdefault(key, amt)
    for ext in _list(eob.get("extension")):
        ext = _map(ext)
        ext_key = _var(ext.get("url"))
        if ext_key and "valueMoney" in ext:
            amt = _money(ext["valueMoney"])
            if amt is not None:
                out.setdefault(ext_key, amt)
    return out


def _header_amount(col: str, hm: Mapping[str, str]) -> str | None:
    if col == "paid_amount" and "payment" in hm:
        return hm["payment"]
    for v in HEADER_VARS.get(col, ()):
        if v in hm:
            return hm[v]
    if col == "charge_amount":
        return hm.get("submitted") or hm.get("totalCost")
    # A payer's own CARIN feed: EOB.total by HL7 / C4BB adjudication category.
    return next((hm[c] for c in LINE_CODES[col] if c in hm and c != "submitted"), None)


def _line_amounts(item: Mapping[str, Any]) -> dict[str, str]:
    by_var: dict[str, str] = {}
    by_code: dict[str, str] = {}
    for adj in _list(item.get("adjudication")):
        adj = _map(adj)
        if "amount" not in adj:
            continue
        amt = _money(adj.get("amount"))
        if amt is None:
            continue
        for c in _map(adj.get("category")).get("coding") or ():
            v = _var(c.get("code"))
            if v is not None:
                by_var.setdefault(v, amt)
            elif c.get("code") is not None:
                by_code.setdefault(str(c["code"]), amt)
    out: dict[str, str] = {}
    for col in AMOUNTS:
        found = next((by_var[v] for v in LINE_VARS[col] if v in by_var), None)
        if found is None and not by_var:
            found = next((by_code[c] for c in LINE_CODES[col] if c in by_code), None)
        if found is not None:
            out[col] = found
    return out


def _spread(rows: list[Row], header: Mapping[str, str | None], derived: list[set[str]],
            anchor: int) -> None:
    """Put header amounts on the lines so that the lines add up to the header, without
    altering a value a line carries beyond its cents: for each amount column, the header
    minus what the lines carry goes to the first line that carries no value of its own
    (`anchor` when it has none: the line of the encounter itself in Synthea, whose visit
    cost is only in the header). When every line carries the column, the lines stand as
    read (a difference to the header is the source's, and stays visible).

    The sum is made in cents: the warehouse keeps DECIMAL(18,2), and Synthea writes its
    amounts as binary floating-point residue (`112.41600000000001`). Each line's amount and
    the header are rounded half away from zero to the cent, as ingest rounds (docs/ingest.md,
    Values), and the remainder line takes header cents minus the other lines' cents, so a
    claim's loaded lines add up to its header amount to the cent. Money is rounded once per
    claim, never summed from rounded parts of the header."""
    for col, h in header.items():
        if h is None or not rows:
            continue
        empty = [i for i, r in enumerate(rows) if r.get(col) is None]
        if not empty:
            continue
        carried = Decimal(0)
        for r in rows:
            if r.get(col) is not None:
                cents = _cents(Decimal(str(r[col])))
                r[col] = format(cents, "f")
                carried += cents
        target = anchor if anchor in empty else empty[0]
        rows[target][col] = format(_cents(Decimal(h)) - carried, "f")
        derived[target].add(col)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# --- who ---------------------------------------------------------------------------

def _ident_npi(ident: Any) -> str | None:
    """An Identifier that is an NPI: system us-npi, or typed `npi` (C4BBIdentifierType /
    v2-0203 NPI), or BFD's billing-NPI variables (carr_clm_blg_npi_num, org_npi_num)."""
    i = _map(ident)
    value = i.get("value")
    if value is None:
        return None
    system = str(i.get("system", ""))
    if system.endswith("us-npi") or (_var(system) or "").endswith("npi_num"):
        return str(value)
    for c in _map(i.get("type")).get("coding") or ():
        if str(c.get("code", "")).lower() == "npi":
            return str(value)
    return None


def _ref_npi(ref: Any, eob: Mapping[str, Any], ctx: Context) -> str | None:
    """The NPI of a Reference: its identifier, else the contained (`#id`) or resolved
    resource's NPI identifier."""
    r = _map(ref)
    if not r:
        return None
    npi = _ident_npi(r.get("identifier"))
    if npi is not None:
        return npi
    text = ref_text(r)
    if text is None:
        return None
    target = contained(eob, text) if text.startswith("#") else ctx.resolve(text)
    if target is None:
        return None
    npi = npi_of(target)
    if npi is None:  # C4BB Organization: the NPI identifier is typed, its system optional
        for ident in target.get("identifier") or ():
            npi = _ident_npi(ident)
            if npi is not None:
                break
    return npi


def _roles(member: Mapping[str, Any]) -> set[str]:
    return {str(c.get("code")) for c in _map(member.get("role")).get("coding") or ()}


def _care_team(eob: Mapping[str, Any], ctx: Context) -> list[tuple[int | None, set[str], str | None]]:
    out = []
    for m in _list(eob.get("careTeam")):
        m = _map(m)
        seq = m.get("sequence")
        out.append((seq if isinstance(seq, int) else None, _roles(m),
                    _ref_npi(m.get("provider"), eob, ctx)))
    return out


def _npi_by_role(team: list[tuple[int | None, set[str], str | None]], roles: Iterable[str],
                 seqs: Iterable[Any] | None = None) -> str | None:
    wanted = None if seqs is None else set(seqs)
    for role in roles:
        for seq, rs, npi in team:
            if npi and role in rs and (wanted is None or seq in wanted):
                return npi
    return None


# --- diagnoses, procedures ------------------------------------------------------------

def _diagnoses(eob: Mapping[str, Any], ctx: Context) -> tuple[str | None, list[tuple[str, str | None]], str | None]:
    """(code type, [(code, poa)], DRG) in claim order: the principal diagnosis first, then
    the others by `sequence` (CARIN C4BBClaimDiagnosisType / ex-diagnosistype / BB
    diagnosis-type codes). A diagnosis typed only `admitting` is not one of the claim's
    coded diagnoses (CCW keeps it apart: ADMTG_DGNS_CD) and is left out. Synthea names its
    Condition by `diagnosisReference`: resolved, its SNOMED code is taken. STU3 BFD puts
    the DRG in a diagnosis' `packageCode` (clm_drg_cd)."""
    entries: list[tuple[int, int, str, str, str | None]] = []
    drg: str | None = None
    for n, d in enumerate(_list(eob.get("diagnosis"))):
        d = _map(d)
        pkg = _map(d.get("packageCode"))
        for c in pkg.get("coding") or ():
            if str(c.get("system", "")).endswith("clm_drg_cd") and drg is None:
                drg = _str(c.get("code"))
        types = {str(c.get("code")) for t in _list(d.get("type"))
                 for c in _map(t).get("coding") or ()}
        if types == {"admitting"}:
            continue
        concept = d.get("diagnosisCodeableConcept")
        if concept is None and d.get("diagnosisReference") is not None:
            text = ref_text(d["diagnosisReference"])
            found = ctx.resolve(text) if text else None
            concept = (found or {}).get("code")
        ctype, code, _ = first_coding(concept, DX_PREFER)
        if not code:
            continue
        poa = None
        for ext in _list(d.get("extension")):
            if str(_map(ext).get("url", "")).startswith(BB_VAR + "clm_poa_ind_sw"):
                poa = _str(_map(_map(ext).get("valueCoding")).get("code"))
        for c in _map(d.get("onAdmission")).get("coding") or ():  # R4 onAdmission
            poa = poa or _str(c.get("code"))
        raw_seq = d.get("sequence")
        seq = raw_seq if isinstance(raw_seq, int) else n + 1
        entries.append((0 if "principal" in types else 1, seq, ctype or "", str(code), poa))
    entries.sort(key=lambda e: (e[0], e[1]))
    ctype = entries[0][2] or None if entries else None
    seen: set[str] = set()
    codes: list[tuple[str, str | None]] = []
    for _, _, _, code, poa in entries:
        if code not in seen:
            seen.add(code)
            codes.append((code, poa))
    return ctype, codes[:DIAG_MAX], drg


def _procedures(eob: Mapping[str, Any], ctx: Context) -> tuple[str | None, list[tuple[str, str | None]]]:
    out: list[tuple[int, str, str, str | None]] = []
    for n, p in enumerate(_list(eob.get("procedure"))):
        p = _map(p)
        concept = p.get("procedureCodeableConcept")
        if concept is None and p.get("procedureReference") is not None:
            text = ref_text(p["procedureReference"])
            found = ctx.resolve(text) if text else None
            concept = (found or {}).get("code")
        ctype, code, _ = first_coding(concept, PX_PREFER)
        if code:
            raw_seq = p.get("sequence")
            seq = raw_seq if isinstance(raw_seq, int) else n + 1
            out.append((seq, ctype or "", str(code), fhir_date(p.get("date"))))
    out.sort(key=lambda e: e[0])
    # fhir_common reads the generic ICD URIs (`.../sid/icd-10`, `icd-9`) as the diagnosis
    # code sets; in EOB.procedure they hold procedure codes (BFD v1 TransformerUtils writes
    # ICD-10-PCS / ICD-9 vol. 3 codes there), so CM becomes PCS here.
    ptype = out[0][1] or None if out else None
    ptype = {"icd-10-cm": "icd-10-pcs", "icd-9-cm": "icd-9-pcs"}.get(ptype or "", ptype)
    return ptype, [(c, d) for _, _, c, d in out][:PROC_MAX]


# --- the EOB -----------------------------------------------------------------------

def _bb_type(eob: Mapping[str, Any]) -> str | None:
    for c in _map(eob.get("type")).get("coding") or ():
        if c.get("system") == EOB_TYPE and c.get("code"):
            return str(c["code"]).upper()
    return None


def _claim_id(eob: Mapping[str, Any]) -> str:
    """clm_id (Part A/B) or pde_id (Part D) identifier (BFD; Synthea writes clm_id = its
    Claim's id); else the resource id."""
    for ident in _list(eob.get("identifier")):
        ident = _map(ident)
        if _var(ident.get("system")) in ("clm_id", "pde_id") and ident.get("value"):
            return str(ident["value"])
    rid = eob.get("id")
    if not rid:
        raise RecordError("source_required_missing", "ExplanationOfBenefit has no id nor claim identifier")
    return str(rid)


def _plan_of(eob: Mapping[str, Any], default: str | None) -> str | None:
    """`Coverage/part-a-567834` (BFD's Coverage ids are `part-<x>-<bene>`) -> `part a`,
    the spelling eligibility uses for the Medicare parts (fhir_people, desynpuf), so the
    claims and the enrollment spans meet on plan."""
    for ins in _list(eob.get("insurance")):
        text = ref_text(_map(_map(ins).get("coverage"))) or ""
        rid = ref_id(text) or ""
        for part in ("part-a", "part-b", "part-c", "part-d"):
            if rid.startswith(part):
                return part.replace("-", " ")
    return default


def _synthea_payer(eob: Mapping[str, Any]) -> str | None:
    """Synthea names the payer in insurer.display and in the contained Coverage's payor
    display (`private`, `medicare`, `medicaid`, `dual_eligible`, `no_insurance`, or a
    payer's name), as fhir_people reads the Coverage for eligibility."""
    for ins in _list(eob.get("insurance")):
        cov = _map(_map(ins).get("coverage"))
        found = contained(eob, ref_text(cov))
        for p in _list((found or {}).get("payor")):
            if _map(p).get("display"):
                return str(_map(p)["display"])
        if cov.get("display"):
            return str(cov["display"])
    ins_display = _map(eob.get("insurer")).get("display")
    return _str(ins_display)


def _bill_type(codes: Mapping[str, Any]) -> str | None:
    """UB-04 type of bill = facility type (clm_fac_type_cd) + service classification
    (clm_srvc_clsfctn_type_cd) + frequency (clm_freq_cd): BFD carries the three CCW
    variables apart (CcwCodebookVariable; CARIN `typeofbill` holds only clm_freq_cd)."""
    fac, cls, freq = (codes.get("clm_fac_type_cd"), codes.get("clm_srvc_clsfctn_type_cd"),
                      codes.get("clm_freq_cd"))
    if fac is None or cls is None or freq is None:
        return None
    return f"{fac}{cls}{freq}"


def _item_code(item: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(code type, code, display) of a line: R4 productOrService, STU3 service."""
    concept = item.get("productOrService") or item.get("service")
    return first_coding(concept, ("hcpcs", "cpt", "ndc", "rxnorm", "snomed-ct"))


def _modifiers(item: Mapping[str, Any]) -> list[str]:
    out = []
    for m in _list(item.get("modifier")):
        code = _concept_code(m)
        if code:
            out.append(code)
    return out[:5]


def _pos(item: Mapping[str, Any]) -> str | None:
    """CMS place of service: BB line_place_of_srvc_cd or HL7 ex-serviceplace (whose codes
    are the CMS POS codes; Synthea writes 19/20/21 there)."""
    return _concept_code(item.get("locationCodeableConcept"))


def _ndc(item: Mapping[str, Any]) -> str | None:
    concept = _map(item.get("productOrService") or item.get("service"))
    for c in concept.get("coding") or ():
        if code_type(c.get("system")) == "ndc" and c.get("code"):
            return str(c["code"])
    return None


def eob_rows(eob: Resource, ctx: Context) -> tuple[str, list[Row]]:
    """("medical_claim" | "pharmacy_claim", rows): one row per EOB item (claim line)."""
    what = f"ExplanationOfBenefit {eob.get('id', '')}".strip()
    person = ctx.patient_id(eob.get("patient"), what)
    claim_id = _claim_id(eob)
    bb = _bb_type(eob)
    codes = _header_codes(eob)
    hm = _header_money(eob)
    team = _care_team(eob, ctx)
    items = [_map(i) for i in _list(eob.get("item"))]
    bp_start, bp_end = _period(eob, "billablePeriod", "")
    line_dates = [_period(i, "servicedPeriod", "servicedDate") for i in items]
    starts = [s for s, _ in line_dates if s]
    ends = [e for _, e in line_dates if e]

    if bb == "PDE":
        return "pharmacy_claim", _pde_rows(eob, ctx, person, claim_id, items, codes, hm,
                                          team, bp_start, line_dates)

    encounters = [_encounter(i, ctx) for i in items]
    enc = next((e for e in encounters if e is not None), None)
    # Synthea-style: the lines name their Encounter (resolved or not: an export may lack it).
    synthea = bb is None and any(item.get("encounter") for item in items)
    if bb is not None:
        claim_type: str | None = BB_TYPES.get(bb, (None, None))[0]
        payer: str | None = "medicare"  # Blue Button serves Medicare claims only
        plan = _plan_of(eob, BB_TYPES.get(bb, (None, None))[1])
    else:
        claim_type = _concept_code(eob.get("type"))
        if claim_type not in ("institutional", "professional"):
            claim_type = None
        payer = _synthea_payer(eob)
        plan = None

    # Claim dates: BFD's billablePeriod is clm_from_dt / clm_thru_dt, the claim's own
    # span. Synthea's billablePeriod is not the visit (it can start years after the
    # serviced dates: a coverage year), so its claims span their lines and the Encounter
    # period (an inpatient encounter line is dated by its first hour only; the stay ends
    # at the Encounter's end).
    if synthea:
        enc_start, enc_end = _period(enc or {}, "period", "")
        span_s = [d for d in (*starts, enc_start) if d]
        span_e = [d for d in (*ends, enc_end) if d]
        c_start = min(span_s) if span_s else bp_start
        c_end = max(span_e) if span_e else bp_end
    else:
        c_start = bp_start or (min(starts) if starts else None)
        c_end = bp_end or (max(ends) if ends else None)
    if c_start is None and c_end is None:
        raise RecordError("source_required_missing",
                          f"{what} has no billablePeriod and no serviced date")
    c_start = c_start or c_end
    c_end = c_end or c_start

    dx_type, dxs, drg_pkg = _diagnoses(eob, ctx)
    px_type, pxs = _procedures(eob, ctx)
    admission = codes.get("admissionperiod")
    hosp = _map(eob.get("hospitalization"))  # STU3
    adm_start, adm_end = (_period({"p": admission}, "p", "") if isinstance(admission, Mapping)
                          else (fhir_date(hosp.get("start")), fhir_date(hosp.get("end"))))
    bill_type = _bill_type(codes)
    drg = _str(codes.get("clm_drg_cd")) or drg_pkg
    header_derived: set[str] = set()

    enc_class = None
    if synthea and enc is not None:
        enc_class = str(_map(enc.get("class")).get("code") or "").upper() or None
        # Synthea writes no type of bill, revenue code or POS for the setting; the
        # Encounter's class says it (HL7 v3 ActEncounterCode: IMP inpatient, EMER
        # emergency, AMB ambulatory). docs/formats_fhir_eob.md lists each derivation.
        if enc_class == "IMP":
            claim_type, bill_type = "institutional", "111"
            header_derived.update({"claim_type", "bill_type_code"})
            adm_start, adm_end = _period(enc, "period", "")
            header_derived.update({"admission_date", "discharge_date"})
        elif enc_class == "EMER":
            # an ED visit without admission is billed by the hospital on an outpatient
            # claim, type of bill 131 (NUBC: hospital, outpatient, admit through discharge);
            # the Synthea CSV converter derives the same
            claim_type, bill_type = "institutional", "131"
            header_derived.update({"claim_type", "bill_type_code"})
        else:
            claim_type = "professional"
            header_derived.add("claim_type")

    billing = _ref_npi(eob.get("provider"), eob, ctx) or _ref_npi(eob.get("organization"), eob, ctx)
    facility = _ref_npi(eob.get("facility"), eob, ctx)
    if facility is None and enc is not None:
        facility = _ref_npi(enc.get("serviceProvider"), eob, ctx)
    if facility is None and claim_type == "institutional" and bb is not None:
        facility = billing  # BFD institutional: the billing provider is the facility (org_npi_num)
    header_rendering = _npi_by_role(team, RENDERING_ROLES)
    discharge = _str(_first(codes, "ptnt_dschrg_stus_cd", "discharge-status"))

    base: Row = {
        "claim_id": claim_id, "claim_type": claim_type, "person_id": person,
        "member_id": person, "payer": payer, "plan": plan,
        "claim_start_date": c_start, "claim_end_date": c_end,
        "admission_date": adm_start, "discharge_date": adm_end,
        "admit_source_code": _str(codes.get("clm_src_ip_admsn_cd")),
        "admit_type_code": _str(_first(codes, "clm_ip_admsn_type_cd", "admtype")),
        "discharge_disposition_code": discharge,
        "bill_type_code": bill_type,
        "drg_code_type": "ms-drg" if drg else None, "drg_code": drg,
        "billing_npi": billing, "facility_npi": facility,
        "diagnosis_code_type": dx_type, "procedure_code_type": px_type,
        "encounter_id": _encounter_id(items, ctx),
    }
    for n, (code, poa) in enumerate(dxs, 1):
        base[f"diagnosis_code_{n}"] = code
        base[f"diagnosis_poa_{n}"] = poa
    for n, (code, day) in enumerate(pxs, 1):
        base[f"procedure_code_{n}"] = code
        base[f"procedure_date_{n}"] = day

    rows: list[Row] = []
    derived: list[set[str]] = []
    anchor: int | None = None  # the line that takes the header remainder (see _spread)
    for n, item in enumerate(items):
        seq = item.get("sequence")
        row: Row = dict(base)
        d = set(header_derived)
        row["claim_line_number"] = str(seq) if isinstance(seq, int) else str(n + 1)
        ls, le = line_dates[n]
        row["claim_line_start_date"], row["claim_line_end_date"] = ls, le
        row["revenue_center_code"] = _concept_code(item.get("revenue"))
        ctype, line_code, _ = _item_code(item)
        # Only HCPCS / CPT go to hcpcs_code: Synthea's SNOMED / CVX line codes are not
        # HCPCS and would be misread by the service-category rules (its procedures reach
        # the procedure table from the Procedure resources).
        row["hcpcs_code"] = line_code if ctype in ("hcpcs", "cpt") else None
        for m, mod in enumerate(_modifiers(item), 1):
            row[f"hcpcs_modifier_{m}"] = mod
        row["place_of_service_code"] = _pos(item)
        qty = _map(item.get("quantity")).get("value")
        row["service_unit_quantity"] = _str(qty)
        seqs = item.get("careTeamSequence") or item.get("careTeamLinkId")
        row["rendering_npi"] = (_npi_by_role(team, RENDERING_ROLES, seqs) if seqs else None) \
            or header_rendering
        row.update(_line_amounts(item))
        if synthea and item.get("encounter") and anchor is None:
            anchor = n
            if enc_class == "EMER":
                # NUBC revenue code 0450 (emergency room, general): what the marts read as
                # an ED visit on an institutional line (service_category R13, encounters
                # "ED visits"). Only the line of the encounter itself.
                row["revenue_center_code"] = "0450"
                d.add("revenue_center_code")
            elif enc_class not in (None, "IMP", "EMER") and row["place_of_service_code"] is None:
                row["place_of_service_code"] = "11"  # office (CMS POS) when Synthea says none
                d.add("place_of_service_code")
        rows.append(row)
        derived.append(d)
    if not rows:
        # An EOB without items (header-only): one line carries the claim.
        row = dict(base)
        row["claim_line_number"] = "1"
        row["claim_line_start_date"], row["claim_line_end_date"] = c_start, c_end
        row["rendering_npi"] = header_rendering
        rows.append(row)
        derived.append(set(header_derived))
    header = {col: _header_amount(col, hm) for col in AMOUNTS}
    _spread(rows, header, derived, anchor or 0)
    for row, d in zip(rows, derived, strict=True):
        row["derived_columns"] = ",".join(sorted(d)) or None
    return "medical_claim", [{**EMPTY_MEDICAL, **row} for row in rows]


def _encounter_id(items: list[Mapping[str, Any]], ctx: Context) -> str | None:
    """The id of the Encounter the lines point to (resolved when the export has it)."""
    for item in items:
        for e in _list(item.get("encounter")):
            found = ctx.optional_id(_map(e))
            if found:
                return found
    return None


def _encounter(item: Mapping[str, Any], ctx: Context) -> Resource | None:
    for e in _list(item.get("encounter")):
        text = ref_text(_map(e))
        if text:
            found = ctx.resolve(text)
            if found is not None:
                return found
    return None


def _pde_rows(eob: Mapping[str, Any], ctx: Context, person: str, claim_id: str,
              items: list[Mapping[str, Any]], codes: Mapping[str, Any], hm: Mapping[str, str],
              team: list[tuple[int | None, set[str], str | None]], bp_start: str | None,
              line_dates: list[tuple[str | None, str | None]]) -> list[Row]:
    """Part D event -> pharmacy_claim: NDC (productOrService / service), quantity
    (quantity_dspnsd_num), days supply (days_suply_num / C4BB `dayssupply`), fill number
    (fill_num / `refillnum`), prescriber (careTeam prescribing, v1 primary: prscrbr_id),
    pharmacy (facility / provider / organization identifier: srvc_prvdr_id)."""
    what = f"ExplanationOfBenefit {eob.get('id', '')}".strip()
    prescriber = _npi_by_role(team, ("prescribing", "primary"))
    pharmacy = (_ref_npi(eob.get("facility"), eob, ctx) or _ref_npi(eob.get("provider"), eob, ctx)
                or _ref_npi(eob.get("organization"), eob, ctx))
    rows: list[Row] = []
    for n, item in enumerate(items or [{}]):
        # v1 (PartDEventTransformer) puts days_suply_num / fill_num as extensions of
        # item.quantity; v2 in supportingInfo `dayssupply` / `refillnum`.
        line_codes = {**_header_codes({"extension": [
            *_list(item.get("extension")), *_list(_map(item.get("quantity")).get("extension"))]}),
                      **codes}
        days = _first(line_codes, "days_suply_num", "dayssupply")
        refills = _first(line_codes, "fill_num", "refillnum")
        seq = item.get("sequence")
        day = line_dates[n][0] if n < len(line_dates) else None
        day = day or bp_start
        if day is None:
            raise RecordError("source_required_missing",
                              f"{what} has no billablePeriod and no serviced date")
        row: Row = {
            "claim_id": claim_id,
            "claim_line_number": str(seq) if isinstance(seq, int) else str(n + 1),
            "person_id": person, "member_id": person, "payer": "medicare",
            "plan": _plan_of(eob, "part d"),
            "prescribing_provider_npi": prescriber, "dispensing_provider_npi": pharmacy,
            "dispensing_date": day, "ndc_code": _ndc(item),
            "quantity": _str(_map(item.get("quantity")).get("value")),
            "days_supply": _int_text(days), "refills": _int_text(refills),
            "paid_date": fhir_date(_str(codes.get("pd_dt"))),
        }
        row.update(_line_amounts(item))
        rows.append(row)
    derived: list[set[str]] = [set() for _ in rows]
    header = {"paid_amount": _header_amount("paid_amount", hm)}
    _spread(rows, header, derived, 0)
    for row, d in zip(rows, derived, strict=True):
        row["derived_columns"] = ",".join(sorted(d)) or None
    return [{**EMPTY_PHARMACY, **row} for row in rows]


# --- Synthea pharmacy Claim -------------------------------------------------------------

def claim_rows(claim: Resource, ctx: Context) -> tuple[str, list[Row]] | None:
    """A Synthea pharmacy Claim (one with `prescription` / type pharmacy) -> pharmacy_claim
    rows; None for a Claim that is not a pharmacy claim (the caller counts it as skipped:
    institutional/professional Claims are billed through their ExplanationOfBenefit).

    One row per Claim. The drug is the MedicationRequest's `medicationCodeableConcept` (or
    its Medication's code): RxNorm; Synthea's Claim item holds the *encounter's* SNOMED
    code, not the drug, so an item code is used only when it is RxNorm or NDC.
    charge_amount is `total` (Synthea: the cost of the dispense). Synthea writes no EOB for
    a pharmacy Claim (its EOBs are one per encounter Claim, and their totals equal the
    encounter Claim's total, which holds no medication): nothing says what was paid, so
    paid_amount stays null, never invented."""
    if claim.get("prescription") is None and _concept_code(claim.get("type")) != "pharmacy":
        return None
    what = f"Claim {claim.get('id', '')}".strip()
    person = ctx.patient_id(claim.get("patient"), what)
    if not claim.get("id"):
        raise RecordError("source_required_missing", f"{what} has no id")
    presc_ref = ref_text(_map(claim.get("prescription")))
    request = ctx.resolve(presc_ref) if presc_ref else None
    concept: Any = None
    med_id = None
    prescriber = None
    if request is not None:
        med_id = _str(request.get("id"))
        concept = request.get("medicationCodeableConcept")
        if concept is None and request.get("medicationReference") is not None:
            mref = ref_text(_map(request["medicationReference"]))
            med = (contained(request, mref) if mref and mref.startswith("#")
                   else ctx.resolve(mref) if mref else None)
            concept = (med or {}).get("code")
        prescriber = _ref_npi(request.get("requester"), request, ctx)
    elif presc_ref:
        med_id = ref_id(presc_ref)
    rx_type, rx_code, rx_display = first_coding(concept, ("rxnorm", "ndc"))
    ndc = rx_code if rx_type == "ndc" else None
    if rx_type != "rxnorm":
        rx_code = None
    if rx_code is None and ndc is None:
        for item in _list(claim.get("item")):
            t, c, disp = _item_code(_map(item))
            if t == "rxnorm":
                rx_code, rx_display = c, disp
            elif t == "ndc":
                ndc = c
    bp_start, _ = _period(claim, "billablePeriod", "")
    day = bp_start or fhir_date(_str(claim.get("created"))) or fhir_date(
        _str((request or {}).get("authoredOn")))
    if day is None:
        raise RecordError("source_required_missing", f"{what} has no billablePeriod nor created date")
    payer = None
    for ins in _list(claim.get("insurance")):
        payer = _str(_map(_map(ins).get("coverage")).get("display"))
        if payer:
            break
    derived = []
    if not bp_start:
        derived.append("dispensing_date")
    total = _money(claim.get("total")) if isinstance(claim.get("total"), Mapping) else None
    row: Row = {
        "claim_id": str(claim["id"]), "claim_line_number": "1",
        "person_id": person, "member_id": person, "payer": payer, "plan": None,
        "prescribing_provider_npi": prescriber,
        "dispensing_provider_npi": _ref_npi(claim.get("provider"), claim, ctx),
        "dispensing_date": day, "ndc_code": ndc,
        "charge_amount": total, "paid_amount": None,
        "rxnorm_code": rx_code, "drug_description": rx_display,
        "medication_id": med_id,
        "derived_columns": ",".join(derived) or None,
    }
    return "pharmacy_claim", [{**EMPTY_PHARMACY, **row}]
