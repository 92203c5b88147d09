"""Emergency and hospital care: ED visits, admissions, 30-day readmissions, SNF, home health
and hospice, as claim lines.

The model, chosen so that readmissions and ED visits respond to a pilot *exactly* as stated:
- ED visits are one Poisson process per person; a visit ends in admission with a
  person-specific probability. Direct (mostly elective) admissions are a second process.
- Every admission starts an *episode*: the stay, then with probability p (the person's
  readmission risk, times the pilot factor after its start) a readmission 1-30 days after
  discharge, which can itself be readmitted, and so on.
- An episode that would start within 30 days of the end of an earlier one is dropped (its ED
  visit, if any, stays as a treat-and-release visit). So no admission ever falls within 30
  days of a discharge except a generated readmission, and the share of index stays readmitted
  is p in expectation (less only where death or the end of coverage comes first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsynergy.synth import costshare as CS
from medsynergy.synth import prices as P
from medsynergy.synth import targets as T
from medsynergy.synth.ambulatory import radiology_read
from medsynergy.synth.conditions import C
from medsynergy.synth.context import Ctx
from medsynergy.synth.events import NEVER, previous_cummax, rank_in_person
from medsynergy.synth.lines import Block, V, block, concat, dx_rows, year_of
from medsynergy.synth.pilot import factor

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

ROUTE_ED, ROUTE_DIRECT, ROUTE_READMIT = 0, 1, 2
NON_INDEX = ("02", "07", "20", "50", "51")  # transfer, against advice, died, hospice
DISPOSITIONS = V.many(T.DISPOSITIONS)
DIED = V("20")
ED_LEVELS = V.many(("99281", "99282", "99283", "99284", "99285"))
ED_REASONS = V.many(T.ED_REASON_CODES)


@dataclass(frozen=True)
class Stays:
    """Inpatient stays kept, sorted by person and admission day."""

    person: I64
    admit: I64
    discharge: I64
    drg: I64           # row in prices.drgs()
    route: I64
    disposition: I32   # VOCAB index
    readmission: Bools  # the stay is a 30-day readmission of the previous one


def _drg_weights(ctx: Ctx, person: I64, route: I64) -> Floats:
    d = P.drgs()
    w = np.broadcast_to(d.share, (len(person), len(d.share))).copy()
    elective = np.isin(np.array(d.names), T.ELECTIVE_DRGS)
    w[:, elective] *= np.where(route == ROUTE_DIRECT, T.ELECTIVE_WEIGHT_DIRECT, 0.0)[:, None]
    w[:, ~elective] *= np.where(route == ROUTE_DIRECT, T.MEDICAL_WEIGHT_DIRECT, 1.0)[:, None]
    flags = ctx.health.flags[person]
    for drg, condition in T.DRG_CONDITION.items():
        if drg in d.names:
            has = flags[:, C[condition]]
            w[:, d.index(drg)] *= np.where(has, T.DRG_BOOST_WITH, T.DRG_BOOST_WITHOUT)
    out: Floats = w
    return out


def _stays(ctx: Ctx, person: I64, admit: I64, route: I64) -> tuple[I64, I64, Bools, I32]:
    """DRG, discharge day, died in hospital, disposition for new admissions."""
    rng, d = ctx.rng, P.drgs()
    w = _drg_weights(ctx, person, route)
    cum = w.cumsum(axis=1)
    u = rng.random(len(person))[:, None] * cum[:, -1:]
    drg = (cum < u).sum(axis=1).astype(np.int64)
    drg = np.minimum(drg, len(d.names) - 1)
    gm = np.nan_to_num(d.gmlos[drg], nan=3.0)
    los = np.maximum(1, np.rint(gm * np.exp(T.LOS_SIGMA * rng.standard_normal(len(person)))))
    planned = admit + los.astype(np.int64)
    dies = (ctx.death[person] >= admit) & (ctx.death[person] <= planned)
    discharge = np.minimum(planned, ctx.end[person])
    p = np.array(list(T.DISPOSITIONS.values()))
    disp = DISPOSITIONS[rng.choice(len(p), size=len(person), p=p / p.sum())]
    disp = np.where(dies, DIED, disp).astype(np.int32)
    return drg, discharge, dies, disp


def admissions(ctx: Ctx) -> tuple[Stays, I64, I64, Bools]:
    """Stays, and ED visits (person, day, ended in admission), all sorted by person, day."""
    rng = ctx.rng
    ed_p, ed_d = ctx.events(T.ED_PER_YEAR, T.ED_EXPONENT, "ed", effect="ed_visits",
                            end_of_life=T.END_OF_LIFE_ED)
    near_death = ed_d >= ctx.ramp_day[ed_p]
    q = np.minimum(T.ED_ADMIT_Q * ctx.intensity(T.ED_ADMIT_EXPONENT)[ed_p]
                   * np.where(near_death, T.END_OF_LIFE_ADMIT_Q, 1.0), T.ED_ADMIT_MAX)
    ed_admit = rng.random(len(ed_p)) < q
    dir_p, dir_d = ctx.events(T.DIRECT_ADMITS_PER_YEAR, 1.0, "admit")
    ed_ix = np.flatnonzero(ed_admit)
    person = np.concatenate([ed_p[ed_ix], dir_p])
    admit = np.concatenate([ed_d[ed_ix], dir_d])
    route = np.concatenate([np.full(len(ed_ix), ROUTE_ED), np.full(len(dir_p), ROUTE_DIRECT)])
    ed_ref = np.concatenate([ed_ix, np.full(len(dir_p), -1)])
    order = np.lexsort((route, admit, person))
    person, admit, route, ed_ref = person[order], admit[order], route[order], ed_ref[order]
    n_cand = len(person)
    drg, discharge, died, disp = _stays(ctx, person, admit, route)
    episode = np.arange(n_cand, dtype=np.int64)
    is_readmit = np.zeros(n_cand, dtype=np.bool_)
    # readmission chains, one generation at a time (each vectorised over stays)
    all_ = [(person, admit, discharge, drg, route, disp, episode, is_readmit)]
    cur_p, cur_dis, cur_died, cur_disp, cur_ep = person, discharge, died, disp, episode
    # readmission risk rises with the latent health factor; scaled so the average over the
    # chunk's stays is READMIT_P (stays concentrate among the sick)
    rel = np.exp(T.READMIT_Z * ctx.health.z)
    risk = np.minimum(T.READMIT_P * rel / (rel[person].mean() if len(person) else 1.0),
                      T.READMIT_MAX)
    non_index = V.many(NON_INDEX)
    f = factor(ctx.pilot, "readmissions")
    while len(cur_p):
        eligible = ~cur_died & ~np.isin(cur_disp, non_index)
        post = cur_dis >= ctx.pilot_day[cur_p]
        p = np.minimum(risk[cur_p] * np.where(post, f, 1.0), 1.0)
        gap = 1 + np.floor(30 * rng.random(len(cur_p)) ** T.READMIT_GAP_POWER).astype(np.int64)
        rday = cur_dis + gap
        hit = eligible & (rng.random(len(cur_p)) < p) & (rday <= ctx.end[cur_p])
        n_p, n_a, n_ep = cur_p[hit], rday[hit], cur_ep[hit]
        n_route = np.full(len(n_p), ROUTE_READMIT, dtype=np.int64)
        n_drg, n_dis, n_died, n_disp = _stays(ctx, n_p, n_a, n_route)
        all_.append((n_p, n_a, n_dis, n_drg, n_route, n_disp, n_ep, np.ones(len(n_p), np.bool_)))
        cur_p, cur_dis, cur_died, cur_disp, cur_ep = n_p, n_dis, n_died, n_disp, n_ep
    s_p, s_a, s_dis, s_drg, s_route, s_disp, s_ep, s_re = (np.concatenate(c) for c in zip(*all_, strict=True))
    ep_end = np.full(n_cand, -1, dtype=np.int64)
    np.maximum.at(ep_end, s_ep, s_dis)
    prev_end = previous_cummax(person, ep_end, empty=-(10**9))
    keep_ep = admit - prev_end > 30
    keep = keep_ep[s_ep]
    order = np.lexsort((s_a, s_p))
    order = order[keep[order]]
    stays = Stays(person=s_p[order], admit=s_a[order], discharge=s_dis[order], drg=s_drg[order],
                  route=s_route[order], disposition=s_disp[order].astype(np.int32),
                  readmission=s_re[order])
    # an ED visit whose admission was dropped stays a treat-and-release visit
    admitted = np.zeros(len(ed_p), dtype=np.bool_)
    admitted[ed_ref[(route == ROUTE_ED) & keep_ep]] = True
    ed_p, ed_d, admitted = _out_of_hospital(ctx, stays, ed_p, ed_d, admitted)
    return stays, ed_p, ed_d, admitted


def _out_of_hospital(ctx: Ctx, stays: Stays, p: I64, d: I64, admitted: Bools
                     ) -> tuple[I64, I64, Bools]:
    """Move ED visits that fall inside someone's hospital stay to the day after discharge."""
    if not len(stays.person) or not len(p):
        return p, d, admitted
    big = np.int64(1 << 24)
    skey = stays.person * big + stays.admit
    key = p * big + d
    i = np.searchsorted(skey, key, side="right") - 1
    ok = i >= 0
    i = np.where(ok, i, 0)
    inside = ok & (stays.person[i] == p) & (d <= stays.discharge[i]) & ~admitted
    d = np.where(inside, stays.discharge[i] + 1, d)
    keep = d <= ctx.end[p]
    order = np.lexsort((d[keep], p[keep]))
    return p[keep][order], d[keep][order], admitted[keep][order]


def _split(total: I64, weights: Floats, lines_per: I64) -> I64:
    """Split each claim's total (cents) over its lines by weight, exactly (rest on line 1)."""
    share = np.floor(np.repeat(total, lines_per) * weights).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(lines_per)[:-1]])
    sums = np.add.reduceat(share, starts) if len(share) else share
    share[starts] += total - sums
    return share


def _fy(day: I64) -> I64:
    """Federal fiscal year of a day (FY N runs 1 October N-1 to 30 September N)."""
    dt64 = day.astype("datetime64[D]")
    y = dt64.astype("datetime64[Y]").astype(np.int64) + 1970
    m = (dt64.astype("datetime64[M]") - dt64.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.int64)
    out: I64 = y + (m >= 9)
    return out


def inpatient_claims(ctx: Ctx, stays: Stays) -> Block:
    """One institutional claim per stay (MS-DRG payment), and the hospitalist's claim."""
    d = P.drgs()
    m = len(stays.person)
    if not m:
        return block(0)
    p = stays.person
    base = P.rate_on("ipps_operating_standardized_amount", _fy(stays.discharge)) + P.rate_on(
        "ipps_capital_federal_rate", _fy(stays.discharge))
    allowed = ctx.priced(base * T.IPPS_ADDON_FACTOR * d.weight[stays.drg], p, "facility")
    surgical = d.surgical[stays.drg]
    via_ed = stays.route == ROUTE_ED
    # lines: room and board, pharmacy, laboratory, [emergency room], [operating room, recovery]
    n_lines = 3 + via_ed + 2 * surgical
    claim = np.repeat(ctx.new_claims(m), n_lines)
    idx = np.repeat(np.arange(m), n_lines)
    k = rank_in_person(claim)
    rev_table = np.array([V("0120"), V("0250"), V("0300")], dtype=np.int32)
    rev = np.where(k < 3, rev_table[np.minimum(k, 2)], -1)
    ed_line = via_ed[idx] & (k == 3)
    rev = np.where(ed_line, V("0450"), rev)
    or_k = np.where(via_ed[idx], 4, 3)
    rev = np.where(surgical[idx] & (k == or_k), V("0360"), rev)
    rev = np.where(surgical[idx] & (k == or_k + 1), V("0710"), rev)
    weights = np.select([rev == V("0120"), rev == V("0250"), rev == V("0300"), rev == V("0450"),
                         rev == V("0360")], [0.55, 0.15, 0.10, 0.05, 0.12], 0.03)
    norm = np.zeros(m)
    np.add.at(norm, idx, weights)
    line_allowed = _split(allowed, weights / norm[idx], n_lines)
    los = np.maximum(stays.discharge - stays.admit, 1)
    units = np.where(rev == V("0120"), los[idx], 1)
    dx = dx_rows(p[idx], ctx.health.dx, d.principal_dx[stays.drg][idx])
    hosp = ctx.hospital[p]
    inst = block(
        len(idx), dx=dx, person=p[idx], claim=claim, line=k + 1, claim_type=V("institutional"),
        claim_start=stays.admit[idx], claim_end=stays.discharge[idx],
        line_start=stays.admit[idx], line_end=stays.discharge[idx],
        admission=stays.admit[idx], discharge=stays.discharge[idx],
        admit_source=np.where(stays.route[idx] == ROUTE_DIRECT, V("2"), V("1")),
        admit_type=np.select([via_ed[idx], stays.route[idx] == ROUTE_DIRECT],
                             [V("1"), V("3")], V("2")),
        disposition=stays.disposition[idx], bill_type=V("111"), drg=d.code[stays.drg][idx],
        revenue=rev, hcpcs=np.where(ed_line, V("99285"), -1), units_milli=units * 1000,
        billing=hosp[idx], facility=hosp[idx], allowed=line_allowed, part=CS.PART_A_INPATIENT,
        pcs=np.where(k == 0, d.pcs[stays.drg][idx], -1),
        pcs_date=np.where((k == 0) & (d.pcs[stays.drg][idx] >= 0),
                          np.minimum(stays.admit[idx] + 1, stays.discharge[idx]), -(2**31)),
        poa=1,
    )
    # hospitalist: admission visit, a visit each later day, discharge management
    days_ = los + 1
    pidx = np.repeat(np.arange(m), days_)
    pk = rank_in_person(pidx)
    first, last = pk == 0, pk == days_[pidx] - 1
    code = np.select([first, last], [V("99223"), V("99239")], V("99232"))
    doc = ctx.clinician("hospitalist", m)[pidx]
    fee_of = {V(c): P.fee(c, "facility") for c in ("99223", "99239", "99232")}
    fee = np.select([code == c for c in fee_of], list(fee_of.values()), 0)
    fee = ctx.priced(fee, p[pidx], "professional")
    day = np.minimum(stays.admit[pidx] + pk, stays.discharge[pidx])
    prof = block(
        len(pidx), dx=dx_rows(p[pidx], ctx.health.dx, d.principal_dx[stays.drg][pidx]),
        person=p[pidx], claim=np.repeat(ctx.new_claims(m), days_), line=pk + 1,
        claim_type=V("professional"), claim_start=stays.admit[pidx],
        claim_end=stays.discharge[pidx], line_start=day, line_end=day, pos=V("21"),
        hcpcs=code, units_milli=1000, rendering=doc, billing=ctx.org(doc), allowed=fee,
        part=CS.PART_B,
    )
    # imaging during the stay: its technical part is in the DRG payment, the read is not
    ct = np.flatnonzero(ctx.rng.random(m) < T.INPATIENT_CT_SHARE)
    ct_day = np.minimum(stays.admit[ct] + 1, stays.discharge[ct])
    return concat([inst, prof, _consults(ctx, stays, los), _surgeons(ctx, stays),
                   radiology_read(ctx, p[ct], ct_day, "74177", "21")])


def _surgeons(ctx: Ctx, stays: Stays) -> Block:
    """The surgeon's global fee for surgical stays (PFS facility rate), on the day after
    admission."""
    d = P.drgs()
    names = np.array(d.names)[stays.drg]
    has = np.isin(names, list(T.INPATIENT_SURGERY_CPT))
    i = np.flatnonzero(has)
    m = len(i)
    if not m:
        return block(0)
    cpt = [T.INPATIENT_SURGERY_CPT[str(x)] for x in names[i]]
    code = V.many(cpt)
    fee = np.array([P.fee(c, "facility") for c in cpt], np.int64)
    p = stays.person[i]
    day = np.minimum(stays.admit[i] + 1, stays.discharge[i])
    doc = np.where(np.isin(code, V.many(["92928"])), ctx.clinician("cardiovascular disease", m),
                   ctx.clinician("orthopaedic surgery", m))
    return block(
        m, dx=dx_rows(p, ctx.health.dx, d.principal_dx[stays.drg][i]), person=p,
        claim=ctx.new_claims(m), line=1, claim_type=V("professional"), claim_start=day,
        claim_end=day, line_start=day, line_end=day, pos=V("21"), hcpcs=code,
        units_milli=1000, rendering=doc, billing=ctx.org(doc),
        allowed=ctx.priced(fee, p, "professional"), part=CS.PART_B,
    )


def _consults(ctx: Ctx, stays: Stays, los: I64) -> Block:
    """Specialists seeing the patient in hospital: a first visit, then follow-ups."""
    rng, m = ctx.rng, len(stays.person)
    n_visits = np.floor(T.CONSULTS_PER_STAY_DAY * los + rng.random(m)).astype(np.int64)
    si = np.repeat(np.arange(m), n_visits)
    k = rank_in_person(si.astype(np.int64))
    p = stays.person[si]
    day = np.minimum(stays.admit[si] + k, stays.discharge[si])
    code = np.where(k == 0, V("99223"), V("99233")).astype(np.int32)
    fee = np.where(k == 0, P.fee("99223", "facility"), P.fee("99233", "facility"))
    spec = np.array(list(T.SPECIALTY_BASE))[rng.integers(0, len(T.SPECIALTY_BASE), len(si))]
    doc = np.zeros(len(si), dtype=np.int64)
    for name in np.unique(spec):
        sel = spec == name
        doc[sel] = ctx.clinician(str(name), int(sel.sum()))
    d = P.drgs()
    n = len(si)
    return block(
        n, dx=dx_rows(p, ctx.health.dx, d.principal_dx[stays.drg][si]), person=p,
        claim=ctx.new_claims(n), line=1, claim_type=V("professional"), claim_start=day,
        claim_end=day, line_start=day, line_end=day, pos=V("21"), hcpcs=code,
        units_milli=1000, rendering=doc, billing=ctx.org(doc),
        allowed=ctx.priced(fee.astype(np.int64), p, "professional"), part=CS.PART_B,
    )


def ed_claims(ctx: Ctx, p: I64, d: I64, admitted: Bools) -> Block:
    """The emergency physician's claim for every visit; the hospital's for treat-and-release."""
    rng = ctx.rng
    n = len(p)
    if not n:
        return block(0)
    level_p = np.array(T.ED_LEVEL_MIX)
    level = rng.choice(5, size=n, p=level_p / level_p.sum())
    level = np.where(admitted, 4, level)
    reason = ED_REASONS[rng.integers(0, len(ED_REASONS), size=n)]
    dx = dx_rows(p, ctx.health.dx, reason)
    prof_fee = P.fees(["99281", "99282", "99283", "99284", "99285"], "facility")[level]
    doc = ctx.clinician("emergency medicine", n)
    prof = block(
        n, dx=dx, person=p, claim=ctx.new_claims(n), line=1, claim_type=V("professional"),
        claim_start=d, claim_end=d, line_start=d, line_end=d, pos=V("23"),
        hcpcs=ED_LEVELS[level], units_milli=1000, rendering=doc, billing=ctx.org(doc),
        allowed=ctx.priced(prof_fee, p, "professional"), part=CS.PART_B,
    )
    # facility claim (type of bill 131) for visits that did not end in admission:
    # the ED line, and a lab panel and imaging on some visits
    tr = np.flatnonzero(~admitted)
    m = len(tr)
    lab = rng.random(m) < T.ED_LAB_SHARE
    ct = rng.random(m) < T.ED_CT_SHARE
    n_lines = 1 + lab + ct
    idx = np.repeat(np.arange(m), n_lines)
    k = rank_in_person(np.repeat(np.arange(m, dtype=np.int64), n_lines))
    is_lab = (k == 1) & lab[idx]
    is_ct = ((k == 1) & ~lab[idx] & ct[idx]) | (k == 2)
    fac_fee = P.fees(["99281", "99282", "99283", "99284", "99285"], "opps")[level[tr]][idx]
    fee = np.select([is_lab, is_ct], [P.fee("80053", "clfs"), P.fee("74177", "opps")], fac_fee)
    hosp = ctx.hospital[p[tr]][idx]
    pp, dd = p[tr][idx], d[tr][idx]
    fac = block(
        len(idx), dx=dx[tr][idx], person=pp, claim=np.repeat(ctx.new_claims(m), n_lines),
        line=k + 1, claim_type=V("institutional"), claim_start=dd, claim_end=dd,
        line_start=dd, line_end=dd, bill_type=V("131"),
        revenue=np.select([is_lab, is_ct], [V("0300"), V("0350")], V("0450")),
        hcpcs=np.select([is_lab, is_ct], [V("80053"), V("74177")], ED_LEVELS[level[tr]][idx]),
        units_milli=1000, billing=hosp, facility=hosp,
        allowed=ctx.priced(fee, pp, "facility"),
        part=np.where(is_lab, CS.PART_B_NO_COST_SHARE, CS.PART_B),
    )
    read = np.flatnonzero(ct)  # the CT's read, by a radiologist
    return concat([prof, fac, radiology_read(ctx, p[tr][read], d[tr][read], "74177", "23"),
                   _ambulance(ctx, p, d)])


def _ambulance(ctx: Ctx, p: I64, d: I64) -> Block:
    """Ground ambulance to the ED for some visits: ALS emergency base rate plus mileage."""
    rng = ctx.rng
    go = rng.random(len(p)) < T.AMBULANCE_SHARE_OF_ED
    p, d = p[go], d[go]
    m = len(p)
    if not m:
        return block(0)
    supplier = ctx.prov.pick(rng, "ambulance, land transport", m)
    idx = np.repeat(np.arange(m), 2)
    k = np.tile(np.array([0, 1]), m)
    code = np.where(k == 0, V("A0427"), V("A0425")).astype(np.int32)
    units = np.where(k == 0, 1, T.AMBULANCE_MILES)
    fee = np.where(k == 0, P.fee("A0427", "ambulance"), P.fee("A0425", "ambulance")) * units
    reason = ED_REASONS[rng.integers(0, len(ED_REASONS), size=m)]
    pp = p[idx]
    return block(
        len(idx), dx=dx_rows(p, ctx.health.dx, reason)[idx], person=pp,
        claim=np.repeat(ctx.new_claims(m), 2), line=k + 1, claim_type=V("professional"),
        claim_start=d[idx], claim_end=d[idx], line_start=d[idx], line_end=d[idx], pos=V("41"),
        hcpcs=code, units_milli=units * 1000, billing=supplier[idx],
        allowed=ctx.priced(fee.astype(np.int64), pp, "professional"), part=CS.PART_B,
    )


def post_acute(ctx: Ctx, stays: Stays) -> Block:
    """SNF stays after discharges to a SNF, home health periods, hospice before death."""
    return concat([_snf(ctx, stays), _home_health(ctx, stays), _hospice(ctx)])


def _snf(ctx: Ctx, stays: Stays) -> Block:
    rng = ctx.rng
    go = np.flatnonzero(stays.disposition == V("03"))
    if not len(go):
        return block(0)
    p = stays.person[go]
    start = stays.discharge[go]
    want = np.clip(np.rint(T.SNF_LOS_MEDIAN * np.exp(T.SNF_LOS_SIGMA * rng.standard_normal(len(go)))),
                   1, 100).astype(np.int64)
    # the stay ends at the next admission, the end of coverage or death
    nxt = np.full(len(stays.person), NEVER, dtype=np.int64)
    same = stays.person[1:] == stays.person[:-1]
    nxt[:-1] = np.where(same, stays.admit[1:], NEVER)
    end = np.minimum.reduce([start + want - 1, nxt[go] - 1, ctx.end[p]])
    ok = end >= start
    p, start, end = p[ok], start[ok], end[ok]
    n = len(p)
    days_ = end - start + 1
    years = year_of(start)
    per_day = ctx.priced(P.rate_on("snf_average_payment_per_day", years), p, "facility")
    fac = ctx.prov.pick(rng, "skilled nursing facility", n)
    inst = block(
        n, dx=dx_rows(p, ctx.health.dx), person=p, claim=ctx.new_claims(n), line=1,
        claim_type=V("institutional"), claim_start=start, claim_end=end, line_start=start,
        line_end=end, admission=start, discharge=end, admit_type=V("3"), admit_source=V("4"),
        disposition=V("01"), bill_type=V("211"), revenue=V("0022"), units_milli=days_ * 1000,
        billing=fac, facility=fac, allowed=per_day * days_, part=CS.PART_A_SNF,
    )
    # a clinician's visit about weekly
    visits = 1 + days_ // 7
    vi = np.repeat(np.arange(n), visits)
    vk = rank_in_person(vi)
    day = np.minimum(start[vi] + 7 * vk, end[vi])
    doc = ctx.clinician("geriatric medicine", len(vi))
    prof = block(
        len(vi), dx=dx_rows(p[vi], ctx.health.dx), person=p[vi], claim=ctx.new_claims(len(vi)),
        line=1, claim_type=V("professional"), claim_start=day, claim_end=day, line_start=day,
        line_end=day, pos=V("31"), hcpcs=V("99309"), units_milli=1000, rendering=doc,
        billing=ctx.org(doc),
        allowed=ctx.priced(np.full(len(vi), P.fee("99309", "facility")), p[vi], "professional"),
        part=CS.PART_B,
    )
    return concat([inst, prof])


def _home_health(ctx: Ctx, stays: Stays) -> Block:
    rng = ctx.rng
    after = np.flatnonzero(stays.disposition == V("06"))
    cp, cd = ctx.events(T.HOME_HEALTH_COMMUNITY_PER_YEAR, 1.0, "home_health")
    p = np.concatenate([stays.person[after], cp])
    start = np.concatenate([stays.discharge[after] + 1, cd])
    periods = 1 + (rng.random(len(p)) < T.HOME_HEALTH_SECOND_PERIOD)
    pi = np.repeat(np.arange(len(p)), periods)
    k = rank_in_person(pi)
    s = start[pi] + 30 * k
    e = np.minimum(s + 29, ctx.end[p[pi]])
    ok = s <= e
    pi, s, e = pi[ok], s[ok], e[ok]
    pp = p[pi]
    n = len(pp)
    years = year_of(s)
    pay = ctx.priced(P.rate_on("home_health_30day_base", years), pp, "facility")
    agency = ctx.prov.pick(rng, "home health", n)
    return block(
        n, dx=dx_rows(pp, ctx.health.dx), person=pp, claim=ctx.new_claims(n), line=1,
        claim_type=V("institutional"), claim_start=s, claim_end=e, line_start=s, line_end=e,
        bill_type=V("329"), revenue=V("0023"), units_milli=1000, billing=agency, facility=agency,
        allowed=pay, part=CS.PART_A_NO_COST_SHARE,
    )


def _hospice(ctx: Ctx) -> Block:
    rng = ctx.rng
    dies = np.flatnonzero((ctx.death < NEVER) & (rng.random(ctx.n) < T.HOSPICE_SHARE_OF_DECEDENTS)
                         & ctx.people.medicare)
    if not len(dies):
        return block(0)
    los = np.clip(np.rint(T.HOSPICE_LOS_MEDIAN * np.exp(
        T.HOSPICE_LOS_SIGMA * rng.standard_normal(len(dies)))), 1, 365).astype(np.int64)
    end = ctx.death[dies]
    start = np.maximum(end - los + 1, ctx.start[dies])
    days_ = end - start + 1
    years = year_of(start)
    early = np.minimum(days_, 60)
    pay = (P.rate_on("hospice_rhc_day_1_60", years) * early
           + P.rate_on("hospice_rhc_day_61_plus", years) * (days_ - early))
    agency = ctx.prov.pick(rng, "hospice care, community based", len(dies))
    n = len(dies)
    return block(
        n, dx=dx_rows(dies.astype(np.int64), ctx.health.dx), person=dies.astype(np.int64),
        claim=ctx.new_claims(n), line=1, claim_type=V("institutional"), claim_start=start,
        claim_end=end, line_start=start, line_end=end, disposition=V("40"), bill_type=V("811"),
        revenue=V("0651"), units_milli=days_ * 1000, billing=agency, facility=agency,
        allowed=pay, part=CS.PART_A_NO_COST_SHARE,
    )
