"""Office and outpatient care: primary care, specialists, wellness visits, labs, imaging,
procedures, care management, Part B drugs, equipment, dialysis and integrative services.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from medsynergy.synth import costshare as CS
from medsynergy.synth import prices as P
from medsynergy.synth import targets as T
from medsynergy.synth.conditions import CHRONIC_PAIN, C
from medsynergy.synth.context import Ctx
from medsynergy.synth.events import rank_in_person
from medsynergy.synth.lines import N_DX, Block, V, block, concat, dx_rows, year_of

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]
OFFICE_REASONS = V.many(T.OFFICE_REASON_CODES)


def claims(ctx: Ctx, p: I64, day: I64, codes: I32, fees: I64,
           parts: npt.NDArray[np.integer] | np.integer,
           rendering: I64, pos: str, dx: I32, units: npt.NDArray[np.integer] | None = None,
           billing: I64 | None = None) -> Block:
    """Professional claims: one per row of `codes` (m, L), a line per code that is not -1."""
    m = len(p)
    if not m:
        return block(0)
    codes = codes.reshape(m, -1)
    mask = codes >= 0
    row, col = np.nonzero(mask)
    claim = ctx.new_claims(m)
    line = rank_in_person(row.astype(np.int64)) + 1
    u = np.ones_like(codes, dtype=np.int64) if units is None else units.reshape(m, -1)
    fee = ctx.priced(fees.reshape(m, -1)[row, col], p[row], "professional")
    bill = ctx.org(rendering) if billing is None else billing
    return block(
        len(row), dx=dx[row], person=p[row], claim=claim[row], line=line,
        claim_type=V("professional"), claim_start=day[row], claim_end=day[row],
        line_start=day[row], line_end=day[row], pos=V(pos), hcpcs=codes[row, col],
        units_milli=u[row, col] * 1000, rendering=rendering[row], billing=bill[row],
        allowed=fee * u[row, col],
        part=np.broadcast_to(np.asarray(parts, dtype=np.int32), codes.shape)[row, col],
    )


def radiology_read(ctx: Ctx, p: I64, day: I64, code: str, pos: str) -> Block:
    """The radiologist's read of an imaging study done in a hospital: the professional
    component (modifier 26) on the radiologist's own claim."""
    m = len(p)
    doc = ctx.clinician("diagnostic radiology", m)
    read = claims(ctx, p, day, np.full(m, V(code), np.int32),
                  np.full(m, P.fee(code, "facility_26"), np.int64), np.int64(CS.PART_B), doc,
                  pos, dx_rows(p, ctx.health.dx))
    read.cols["modifier"][:] = V("26")
    return read


def _pick(rng: np.random.Generator, options: dict[str, float], n: int) -> tuple[I32, I64]:
    keys = list(options)
    p = np.array(list(options.values()))
    i = rng.choice(len(keys), size=n, p=p / p.sum())
    return V.many(keys)[i], i.astype(np.int64)


def _fee_of(codes: I32, setting: str) -> I64:
    """Fees for an array of VOCAB code indices (-1 -> 0)."""
    out = np.zeros(len(codes), dtype=np.int64)
    for code in np.unique(codes[codes >= 0]):
        out[codes == code] = P.fee(V.codes[code], setting)
    return out


def primary_care(ctx: Ctx) -> Block:
    """Office visits to primary care, with lab panels ordered at some of them."""
    rng, h = ctx.rng, ctx.health
    p, d = ctx.events(T.PCP_VISITS_PER_YEAR, T.PCP_EXPONENT, "pcp", effect="pcp_visits")
    m = len(p)
    em, _ = _pick(rng, T.PCP_EM_MIX, m)
    labs = rng.random(m) < T.LAB_SHARE_OF_PCP_VISITS
    cols = [em,
            np.where(labs, V("80053"), -1), np.where(labs, V("85025"), -1),
            np.where(labs & h.has("diabetes")[p], V("83036"), -1),
            np.where(labs & (rng.random(m) < T.LIPID_SHARE), V("80061"), -1),
            np.where(labs & h.has("ckd")[p], V("82043"), -1),
            np.where(labs & (rng.random(m) < T.TSH_SHARE), V("84443"), -1),
            np.where(labs & (rng.random(m) < T.URINALYSIS_SHARE), V("81001"), -1)]
    codes = np.stack(cols, axis=1).astype(np.int32)
    fees = np.stack([_fee_of(em, "office")] + [_fee_of(c, "clfs") for c in cols[1:]], axis=1)
    parts = np.where(np.arange(codes.shape[1]) == 0, CS.PART_B, CS.PART_B_NO_COST_SHARE)
    parts = np.broadcast_to(parts, codes.shape)
    # most visits are with the person's own clinician; some with another (MSSP plurality)
    own = rng.random(m) < T.OWN_PCP_SHARE
    doc = np.where(own, ctx.pcp[p], ctx.clinician("primary care", m))
    reason = OFFICE_REASONS[rng.integers(0, len(OFFICE_REASONS), size=m)]
    dx = np.where((h.dx[p, 0] >= 0)[:, None], dx_rows(p, h.dx), dx_rows(p, h.dx, reason))
    return claims(ctx, p, d, codes, fees, parts, doc, "11", dx)


def wellness(ctx: Ctx) -> Block:
    """Annual wellness visits (Medicare) / preventive visits (commercial), no cost sharing."""
    p, d = ctx.events(T.AWV_PER_YEAR, 0.0, "awv")
    m = len(p)
    code = np.where(ctx.commercial[p], V("99397"), V("G0439")).astype(np.int32)
    # commercial preventive visits (99397) are priced like the Medicare wellness visit
    fee = np.full(m, P.fee("G0439", "office"), np.int64)
    dx = dx_rows(p, ctx.health.dx, np.full(m, V("Z0000"), dtype=np.int32))
    return claims(ctx, p, d, code, fee, np.int64(CS.PART_B_NO_COST_SHARE),
                  ctx.pcp[p], "11", dx)


def specialists(ctx: Ctx) -> Block:
    """Specialist office visits, the specialty following the person's conditions."""
    rng, h = ctx.rng, ctx.health
    p, d = ctx.events(T.SPECIALIST_VISITS_PER_YEAR, T.SPECIALIST_EXPONENT, "specialist")
    m = len(p)
    names = list(T.SPECIALTY_BASE)
    w = np.tile(np.array(list(T.SPECIALTY_BASE.values())), (m, 1))
    for k, spec in enumerate(names):
        for cond, boost in T.SPECIALTY_CONDITION.get(spec, {}).items():
            w[:, k] += boost * h.flags[p, C[cond]]
    cum = w.cumsum(axis=1)
    spec = (cum < rng.random(m)[:, None] * cum[:, -1:]).sum(axis=1)
    doc = np.zeros(m, dtype=np.int64)
    for k, name in enumerate(names):
        sel = spec == k
        doc[sel] = ctx.clinician(name, int(sel.sum()))
    em, _ = _pick(rng, T.SPECIALIST_EM_MIX, m)
    # tests and procedures done at the visit, on the same claim: one column per add-on
    codes, fees, parts = [em], [_fee_of(em, "office")], [np.full(m, CS.PART_B, np.int32)]
    for k, name in enumerate(names):
        for code, setting, share in T.SPECIALIST_ADD_ONS.get(name, ()):
            on = (spec == k) & (rng.random(m) < share)
            codes.append(np.where(on, V(code), -1).astype(np.int32))
            fees.append(np.where(on, P.fee(code, setting), 0).astype(np.int64))
            lab = setting == "clfs"  # no cost sharing for clinical lab tests
            parts.append(np.full(m, CS.PART_B_NO_COST_SHARE if lab else CS.PART_B, np.int32))
    return claims(ctx, p, d, np.stack(codes, axis=1), np.stack(fees, axis=1),
                  np.stack(parts, axis=1), doc, "11", dx_rows(p, h.dx))


def imaging_and_procedures(ctx: Ctx) -> Block:
    rng, h = ctx.rng, ctx.health
    out = []
    # CT and MRI in the hospital outpatient department (type of bill 131)
    for code, rev, per_year in (("74177", "0350", T.CT_PER_YEAR), ("72148", "0610", T.MRI_PER_YEAR)):
        p, d = ctx.events(per_year, T.IMAGING_EXPONENT, "imaging")
        m = len(p)
        hosp = ctx.hospital[p]
        fee = ctx.priced(np.full(m, P.fee(code, "opps"), np.int64), p, "facility")
        out.append(block(
            m, dx=dx_rows(p, h.dx), person=p, claim=ctx.new_claims(m), line=1,
            claim_type=V("institutional"), claim_start=d, claim_end=d, line_start=d, line_end=d,
            bill_type=V("131"), revenue=V(rev), hcpcs=V(code), units_milli=1000, billing=hosp,
            facility=hosp, allowed=fee, part=CS.PART_B))
        out.append(radiology_read(ctx, p, d, code, "22"))
    # office tests and procedures: (code, per year, who, specialty)
    rules: list[tuple[str, float, Bools, str]] = [
        ("71046", T.CHEST_XRAY_PER_YEAR, np.ones(ctx.n, np.bool_), "diagnostic radiology"),
        ("93000", T.ECG_PER_YEAR, np.ones(ctx.n, np.bool_), "primary care"),
        ("93306", T.ECHO_PER_YEAR, h.has("heart_failure", "atrial_fibrillation"),
         "cardiovascular disease"),
        ("77067", T.MAMMOGRAPHY_PER_YEAR, ctx.people.gender == "female", "diagnostic radiology"),
        ("20610", T.JOINT_INJECTION_PER_YEAR, h.has("osteoarthritis"), "orthopaedic surgery"),
        ("64483", T.EPIDURAL_PER_YEAR, h.has("chronic_low_back_pain"),
         "interventional pain medicine"),
        ("99490", T.CCM_PER_YEAR, h.flags[:, :C["esrd"]].sum(axis=1) >= 2, "primary care"),
    ]
    for code, per_year, _exp, spec, cond in T.OTHER_PROFESSIONAL:
        who = (np.ones(ctx.n, np.bool_) if not cond else
               ctx.people.gender == "female" if cond == "female" else h.has(cond))
        rules.append((code, per_year, who, spec))
    for code, per_year, who, spec in rules:
        p, d = ctx.events(per_year, 0.5, "imaging", who=who.astype(np.float64))
        m = len(p)
        doc = ctx.pcp[p] if spec == "primary care" else ctx.clinician(spec, m)
        out.append(claims(ctx, p, d, np.full(m, V(code), np.int32),
                          np.full(m, P.fee(code, "office"), np.int64), np.int64(CS.PART_B), doc,
                          "11", dx_rows(p, h.dx)))
    del rng
    return concat(out)


def outpatient_facility(ctx: Ctx) -> Block:
    """Hospital outpatient department: clinic visits, observation, outpatient surgery (and
    the surgeon's claim for it), each a type-of-bill 131 claim paid at its OPPS rate."""
    h, out = ctx.health, []
    for code_text, per_year, exponent, rev in T.OUTPATIENT_FACILITY:
        code = code_text
        p, d = ctx.events(per_year, exponent, "imaging")
        m = len(p)
        hosp = ctx.hospital[p]
        fee = ctx.priced(np.full(m, P.fee(code, "opps"), np.int64), p, "facility")
        dx = dx_rows(p, h.dx)
        out.append(block(
            m, dx=dx, person=p, claim=ctx.new_claims(m), line=1, claim_type=V("institutional"),
            claim_start=d, claim_end=d, line_start=d, line_end=d, bill_type=V("131"),
            revenue=V(rev), hcpcs=V(code), units_milli=1000, billing=hosp, facility=hosp,
            allowed=fee, part=CS.PART_B))
    p, d = ctx.events(T.OUTPATIENT_PROCEDURES_PER_YEAR, T.OUTPATIENT_PROCEDURE_EXPONENT, "imaging")
    m = len(p)
    codes = list(T.OUTPATIENT_PROCEDURES)
    share = np.array([T.OUTPATIENT_PROCEDURES[c][0] for c in codes])
    pick = ctx.rng.choice(len(codes), size=m, p=share / share.sum())
    picked = V.many(codes)[pick]
    hosp = ctx.hospital[p]
    fac_fee = np.array([P.fee(c, "opps") for c in codes], np.int64)[pick]
    dx = dx_rows(p, h.dx)
    out.append(block(
        m, dx=dx, person=p, claim=ctx.new_claims(m), line=1, claim_type=V("institutional"),
        claim_start=d, claim_end=d, line_start=d, line_end=d, bill_type=V("131"),
        revenue=V("0360"), hcpcs=picked, units_milli=1000, billing=hosp, facility=hosp,
        allowed=ctx.priced(fac_fee, p, "facility"), part=CS.PART_B))
    doc = np.zeros(m, dtype=np.int64)
    for k, c in enumerate(codes):
        sel = pick == k
        doc[sel] = ctx.clinician(T.OUTPATIENT_PROCEDURES[c][1], int(sel.sum()))
    sur_fee = np.array([P.fee(c, "facility") for c in codes], np.int64)[pick]
    out.append(claims(ctx, p, d, picked, sur_fee, np.int64(CS.PART_B), doc, "22", dx))
    return concat(out)


def part_b_drugs(ctx: Ctx) -> Block:
    """Physician-administered drugs (ASP + 6 % per billing unit): few people, high cost."""
    rng = ctx.rng
    out = []
    for drug in T.PART_B_DRUGS:
        who = (rng.random(ctx.n) < drug.share) & ctx.people.medicare
        if drug.female_only:
            who &= ctx.people.gender == "female"
        p, d = ctx.events(365.25 / drug.every_days, 0.0, "part_b_drug", who=who.astype(np.float64))
        m = len(p)
        doc = ctx.clinician("internal medicine", m)
        dx = dx_rows(p, ctx.health.dx, np.full(m, V(drug.dx), dtype=np.int32))
        if drug.setting == "opps":  # infused in the hospital outpatient department
            hosp = ctx.hospital[p]
            out.append(block(
                m, dx=dx, person=p, claim=ctx.new_claims(m), line=1,
                claim_type=V("institutional"), claim_start=d, claim_end=d, line_start=d,
                line_end=d, bill_type=V("131"), revenue=V("0636"), hcpcs=V(drug.hcpcs),
                units_milli=drug.units * 1000, billing=hosp, facility=hosp,
                allowed=np.full(m, P.fee(drug.hcpcs, "asp") * drug.units, np.int64),
                part=CS.PART_B))
            continue
        out.append(claims(ctx, p, d, np.full(m, V(drug.hcpcs), np.int32),
                          np.full(m, P.fee(drug.hcpcs, "asp"), np.int64), np.int64(CS.PART_B),
                          doc, "11", dx, units=np.full(m, drug.units, np.int64)))
    return concat(out)


def equipment(ctx: Ctx) -> Block:
    """Monthly equipment rentals and supplies (T.DME_MONTHLY): home oxygen, CPAP, CGM."""
    out = []
    for code, who_share, cond in T.DME_MONTHLY:
        who = ctx.rng.random(ctx.n) < who_share
        if cond:
            who &= ctx.health.has(cond)
        p, d = ctx.events(12.0, 0.0, "dme", who=who.astype(np.float64))
        m = len(p)
        supplier = ctx.prov.pick(ctx.rng, "community/retail pharmacy", m)
        out.append(claims(ctx, p, d, np.full(m, V(code), np.int32),
                          np.full(m, P.fee(code, "dmepos"), np.int64), np.int64(CS.PART_B),
                          supplier, "12", dx_rows(p, ctx.health.dx), billing=supplier))
    return concat(out)


def dialysis(ctx: Ctx) -> Block:
    """Outpatient dialysis for ESRD: a monthly facility claim (type of bill 721, revenue
    0821, ~13 treatments, ESRD PPS base rate each) and the nephrologist's monthly 90960."""
    esrd = np.flatnonzero(ctx.health.has("esrd")).astype(np.int64)
    first = ctx.people.entry[esrd]
    months = ctx.people.exit[esrd] - first + 1
    p = np.repeat(esrd, months)
    mi = first[np.repeat(np.arange(len(esrd)), months)] + rank_in_person(p)
    start = np.maximum((ctx.period.month_start(mi) - np.datetime64("1970-01-01")).astype(np.int64),
                       ctx.start[p])
    end = np.minimum((ctx.period.month_end(mi) - np.datetime64("1970-01-01")).astype(np.int64),
                     ctx.end[p])
    ok = end >= start
    p, start, end = p[ok], start[ok], end[ok]
    m = len(p)
    if not m:
        return block(0)
    treatments = np.maximum(1, np.rint(13 * (end - start + 1) / 30.4)).astype(np.int64)
    years = year_of(start)
    rate = P.rate_on("esrd_pps_base_rate", years)
    center = ctx.prov.pick(ctx.rng, "end-stage renal disease (ESRD) treatment", m)
    dx = dx_rows(p, ctx.health.dx)
    fac = block(
        m, dx=dx, person=p, claim=ctx.new_claims(m), line=1, claim_type=V("institutional"),
        claim_start=start, claim_end=end, line_start=start, line_end=end, bill_type=V("721"),
        revenue=V("0821"), units_milli=treatments * 1000, billing=center, facility=center,
        allowed=rate * treatments, part=CS.PART_B,
    )
    doc = ctx.clinician("nephrology", m)
    prof = claims(ctx, p, end, np.full(m, V("90960"), np.int32),
                  np.full(m, P.fee("90960", "office"), np.int64), np.int64(CS.PART_B), doc,
                  "11", dx)
    return concat([fac, prof])


# --- integrative care --------------------------------------------------------------------

def _courses(ctx: Ctx, p: I64, d: I64, visits: int, every_days: int) -> tuple[I64, I64]:
    """Expand course starts into `visits` visits `every_days` apart, inside coverage."""
    pi = np.repeat(np.arange(len(p)), visits)
    k = rank_in_person(pi.astype(np.int64))
    day = d[pi] + every_days * k
    pp = p[pi]
    ok = day <= ctx.end[pp]
    return pp[ok], day[ok]


def _visits(ctx: Ctx, p: I64, d: I64, codes: tuple[str, ...], specialty: str,
            setting: str = "office") -> Block:
    m = len(p)
    if not m:
        return block(0)
    code = np.tile(V.many(codes), (m, 1))
    fee = np.tile(np.array([P.fee(c, setting) for c in codes], np.int64), (m, 1))
    doc = ctx.clinician(specialty, m)
    return claims(ctx, p, d, code, fee, np.int64(CS.PART_B), doc, "11", dx_rows(p, ctx.health.dx))


def integrative(ctx: Ctx) -> Block:
    """Baseline integrative care for people with the matching conditions, and the pilot's
    programme for enrolled members from its start date (see targets.PILOT_SERVICES)."""
    h, out = ctx.health, []
    pain = h.has(*CHRONIC_PAIN).astype(np.float64)
    for name, (per_year, visits, every, codes, spec, cond) in T.INTEGRATIVE_BASELINE.items():
        who = pain if cond == "chronic_pain" else h.has(cond).astype(np.float64)
        p, d = ctx.events(per_year, 0.3, "integrative", who=who)
        p, d = _courses(ctx, p, d, visits, every)
        out.append(_visits(ctx, p, d, codes, spec))
        del name
    if ctx.pilot is not None:
        enrolled = np.flatnonzero(ctx.enrolled).astype(np.int64)
        start = ctx.pilot_day[enrolled]
        for svc in T.PILOT_SERVICES[ctx.pilot.cohort]:
            takes = ctx.rng.random(len(enrolled)) < svc.uptake
            p = enrolled[takes]
            d = start[takes] + ctx.rng.integers(0, svc.within_days, size=len(p))
            p, d = _courses(ctx, p, d, svc.visits, svc.every_days)
            if svc.first_codes:
                first = np.ones(len(p), dtype=np.bool_)
                first[1:] = p[1:] != p[:-1]
                out.append(_visits(ctx, p[first], d[first], svc.first_codes, svc.specialty,
                                   svc.setting))
                p, d = p[~first], d[~first]
            out.append(_visits(ctx, p, d, svc.codes, svc.specialty, svc.setting))
    return concat(out)


__all__ = ["N_DX", "claims", "dialysis", "equipment", "imaging_and_procedures",
           "integrative", "part_b_drugs", "primary_care", "specialists", "wellness"]
