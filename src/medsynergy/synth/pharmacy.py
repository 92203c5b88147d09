"""Pharmacy claims: regular fills of chronic-disease drugs, and opioid fills.

Drugs and their NDCs come from refdata `drug_ndc` (a class with no NDC shipped is simply
not generated). Chronic drugs are filled every `days_supply / adherence` days from a random
first fill. Opioid fills are Poisson processes (long-term users about monthly, everybody
else rarely, short supplies), so a pilot's `opioid_fills` effect scales them exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from medsynergy import refdata
from medsynergy.synth import targets as T
from medsynergy.synth.conditions import CHRONIC_PAIN, C
from medsynergy.synth.context import Ctx
from medsynergy.synth.events import poisson, rank_in_person
from medsynergy.synth.ids import padded
from medsynergy.synth.lines import date_array, decimal_array, year_of
from medsynergy.synth.pilot import factor
from medsynergy.synth.prices import cents

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Floats = npt.NDArray[np.float64]

PHARMACY_SCHEMA = pa.schema([
    ("claim_id", pa.string()), ("claim_line_number", pa.int32()), ("person_id", pa.string()),
    ("member_id", pa.string()), ("payer", pa.string()), ("plan", pa.string()),
    ("prescribing_provider_npi", pa.string()), ("dispensing_provider_npi", pa.string()),
    ("dispensing_date", pa.date32()), ("ndc_code", pa.string()),
    ("quantity", pa.decimal128(18, 3)), ("days_supply", pa.int32()), ("refills", pa.int32()),
    ("paid_date", pa.date32()), ("paid_amount", pa.decimal128(18, 2)),
    ("allowed_amount", pa.decimal128(18, 2)), ("coinsurance_amount", pa.decimal128(18, 2)),
    ("copayment_amount", pa.decimal128(18, 2)), ("deductible_amount", pa.decimal128(18, 2)),
    ("in_network_flag", pa.int8()),
])


@dataclass(frozen=True)
class Drugs:
    ndc: pa.StringArray
    drug_class: npt.NDArray[np.object_]
    units_per_day_milli: I64
    unit_cost_mills: I64      # tenths of a cent per unit (unit costs are often < 1 cent x 10)
    opioid_for_pain: Bools
    chronic_opioid: Bools     # used for long-term therapy
    acute_opioid: Bools       # used for short courses

    def rows(self, drug_class: str) -> I64:
        return np.flatnonzero(self.drug_class == drug_class).astype(np.int64)


@cache
def drugs() -> Drugs:
    t = refdata.load("drug_ndc").to_pydict()
    n = len(t["ndc11"])
    cls = np.array(t["drug_class"], dtype=object)
    upd = t.get("typical_units_per_day") or [None] * n
    cost = t.get("approx_unit_cost_usd") or [None] * n
    units = np.array([u if u is not None else T.RX_UNITS_PER_DAY_DEFAULT for u in upd])
    unit_cost = np.array([c if c is not None else T.RX_UNIT_COST_ASSUMPTION.get(k, 1.0)
                          for c, k in zip(cost, cls, strict=True)])
    is_opioid = np.array(t["is_opioid"], dtype=np.bool_)
    oud = np.array(t["oud_treatment"], dtype=np.bool_)
    ingredient = np.array(t["ingredient"], dtype=object)
    return Drugs(
        ndc=pa.array(t["ndc11"], pa.string()), drug_class=cls,
        units_per_day_milli=np.rint(units * 1000).astype(np.int64),
        unit_cost_mills=np.rint(unit_cost * 1000).astype(np.int64),
        opioid_for_pain=is_opioid & ~oud,
        chronic_opioid=is_opioid & ~oud & np.isin(ingredient, T.CHRONIC_OPIOIDS),
        acute_opioid=is_opioid & ~oud & np.isin(ingredient, T.ACUTE_OPIOIDS),
    )


@dataclass
class Fills:
    person: I64
    day: I64
    drug: I64
    days_supply: I64
    refill: I64


def _regular(ctx: Ctx, d: Drugs) -> Fills:
    rng, h = ctx.rng, ctx.health
    parts: list[Fills] = []
    for drug_class, (conditions, share) in T.RX_REGIMENS.items():
        rows = d.rows(drug_class)
        if not len(rows):
            continue
        who = np.ones(ctx.n, dtype=np.bool_) if not conditions else h.has(*conditions)
        on = np.flatnonzero(who & (rng.random(ctx.n) < share * np.where(
            ctx.commercial, T.COMMERCIAL_USE["rx"], 1.0))).astype(np.int64)
        if not len(on):
            continue
        drug = rows[rng.integers(0, len(rows), size=len(on))]
        ds = np.where(rng.random(len(on)) < T.RX_90_DAY_SHARE, 90, 30).astype(np.int64)
        ds = np.where(d.drug_class[drug] == "oud_treatment", np.minimum(ds, 30), ds)
        adherence = rng.beta(T.RX_ADHERENCE_BETA[0], T.RX_ADHERENCE_BETA[1], size=len(on))
        interval = np.maximum(ds, np.rint(ds / np.maximum(adherence, 0.2))).astype(np.int64)
        first = ctx.start[on] + np.floor(rng.random(len(on)) * interval).astype(np.int64)
        count = np.where(first <= ctx.end[on], (ctx.end[on] - first) // interval + 1, 0)
        i = np.repeat(np.arange(len(on)), count)
        k = rank_in_person(i.astype(np.int64))
        parts.append(Fills(on[i], first[i] + k * interval[i], drug[i], ds[i], k))
    return _cat(parts)


def _opioids(ctx: Ctx, d: Drugs) -> Fills:
    rng, h = ctx.rng, ctx.health
    chronic_rows = np.flatnonzero(d.chronic_opioid).astype(np.int64)
    acute_rows = np.flatnonzero(d.acute_opioid).astype(np.int64)
    if not len(acute_rows) or not len(chronic_rows):
        return _cat([])
    p_long = (T.LONG_TERM_OPIOID_SHARE["chronic_pain"] * h.has(*CHRONIC_PAIN)
              + T.LONG_TERM_OPIOID_SHARE["opioid_use_disorder"] * h.flags[:, C["opioid_use_disorder"]]
              + T.LONG_TERM_OPIOID_SHARE["other"])
    long_term = rng.random(ctx.n) < np.minimum(p_long, 0.9) * np.where(
        ctx.commercial, T.COMMERCIAL_USE["opioid"], 1.0)
    f = factor(ctx.pilot, "opioid_fills")
    seg = ctx.seg
    post = np.where(seg.post, f, 1.0)
    rate_long = T.LONG_TERM_OPIOID_FILLS_PER_YEAR / 365.25 * long_term[seg.person] * post
    lp, ld = poisson(rng, seg, rate_long)
    own = chronic_rows[rng.integers(0, len(chronic_rows), size=ctx.n)]
    rate_acute = (T.ACUTE_OPIOID_FILLS_PER_YEAR / 365.25 * ctx.intensity(0.5)[seg.person]
                  * np.where(ctx.commercial[seg.person], T.COMMERCIAL_USE["opioid"], 1.0) * post)
    ap, ad = poisson(rng, seg, rate_acute)
    acute_drug = acute_rows[rng.integers(0, len(acute_rows), size=len(ap))]
    acute_ds = rng.integers(T.ACUTE_OPIOID_DAYS[0], T.ACUTE_OPIOID_DAYS[1] + 1, size=len(ap))
    return _cat([Fills(lp, ld, own[lp], np.full(len(lp), 30, np.int64), rank_in_person(lp)),
                 Fills(ap, ad, acute_drug, acute_ds.astype(np.int64), np.zeros(len(ap), np.int64))])


def _cat(parts: list[Fills]) -> Fills:
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        return Fills(z, z, z, z, z)
    return Fills(*(np.concatenate([getattr(f, k) for f in parts])
                   for k in ("person", "day", "drug", "days_supply", "refill")))


def pharmacy_table(ctx: Ctx, claim_base: int) -> pa.Table:
    """Pharmacy claims of one chunk, sorted by person and dispensing date."""
    d = drugs()
    f = _cat([_regular(ctx, d), _opioids(ctx, d)])
    ok = f.day <= ctx.end[f.person]
    order = np.lexsort((f.drug[ok], f.day[ok], f.person[ok]))
    person, day = f.person[ok][order], f.day[ok][order]
    drug, ds, refill = f.drug[ok][order], f.days_supply[ok][order], f.refill[ok][order]
    m = len(person)
    # whole units (tablets, patches, pens), at least one
    qty_milli = np.maximum((d.units_per_day_milli[drug] * ds + 500) // 1000, 1) * 1000
    # allowed = quantity x unit cost + dispensing fee, rounded once to the cent
    cost_mills = (qty_milli * d.unit_cost_mills[drug] + 500) // 1000
    allowed = (cost_mills + 5) // 10 + cents(T.RX_DISPENSING_FEE_USD)
    brand = d.unit_cost_mills[drug] >= cents(T.RX_BRAND_UNIT_COST_USD) * 10
    com = ctx.commercial[person]
    copay_generic = np.where(com, T.RX_COPAY_CENTS["commercial_generic"], T.RX_COPAY_CENTS["generic"])
    copay_brand = np.where(com, T.RX_COPAY_CENTS["commercial_brand"], 0)
    coins = np.where(brand & ~com, (allowed * T.RX_BRAND_COINSURANCE_PCT + 50) // 100, 0)
    copay = np.minimum(np.where(brand, copay_brand, copay_generic), allowed - coins)
    paid = allowed - copay - coins
    pt = pa.array(person, pa.int64())
    year = year_of(day)
    yi = np.clip(year - ctx.period.first_year, 0, ctx.period.years - 1)
    pharmacy = ctx.prov.pick(ctx.rng, "community/retail pharmacy", ctx.n)[person]
    prescriber = ctx.pcp[person]
    lag = ctx.rng.integers(1, 15, size=m)
    zero = np.zeros(m, dtype=np.int64)
    return pa.table({
        "claim_id": padded(np.arange(m, dtype=np.int64) + claim_base, 16, "R"),
        "claim_line_number": pa.array(np.ones(m, dtype=np.int32)),
        "person_id": ctx.people.person_id.take(pt),
        "member_id": ctx.people.member_id.take(pt),
        "payer": pa.array(ctx.people.payer, pa.string()).take(pt),
        "plan": pa.array(ctx.people.plan_by_year[person, yi], pa.string()),
        "prescribing_provider_npi": ctx.prov.npi.take(pa.array(prescriber)),
        "dispensing_provider_npi": ctx.prov.npi.take(pa.array(pharmacy)),
        "dispensing_date": date_array(day),
        "ndc_code": d.ndc.take(pa.array(drug)),
        "quantity": decimal_array(qty_milli, 3),
        "days_supply": pa.array(ds.astype(np.int32)),
        "refills": pa.array(np.minimum(refill, 11).astype(np.int32)),
        "paid_date": date_array(day + lag),
        "paid_amount": decimal_array(paid), "allowed_amount": decimal_array(allowed),
        "coinsurance_amount": decimal_array(coins), "copayment_amount": decimal_array(copay),
        "deductible_amount": decimal_array(zero),
        "in_network_flag": pa.array(np.ones(m, dtype=np.int8)),
    }, schema=PHARMACY_SCHEMA)
