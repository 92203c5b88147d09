"""PROMIS Global Health (Global-10 v1.2) surveys as `observation` rows.

Each survey has a latent physical and mental T-score: the person's mean (lower for sicker
people, mental lower with depression) plus a per-person and a per-occasion normal term, plus
the pilot's `_t` shift for enrolled members from its start date. The reported raw score
(4-20) is drawn between the two raw scores whose published T-scores bracket the latent
value, with the probability that makes the *expected T-score of the raw score equal the
latent T* (refdata `promis_global_health`). So a pilot's `promis_physical_t=+3` moves the
expected T-score by exactly 3 points, except where the latent value falls outside the
table's range (T 16.2-67.7 physical), which the generator's means keep rare.

LOINC (refdata promis_global_health README): 71972-4 physical raw, 71970-8 mental raw,
71971-6 physical T-score, 71969-0 mental T-score.
"""

from __future__ import annotations

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
from medsynergy.synth.lines import date_array
from medsynergy.synth.pilot import shift

I64 = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

LOINC = {  # scale -> (raw score code, T-score code)
    "physical": ("71972-4", "71971-6"),
    "mental": ("71970-8", "71969-0"),
}
DESCRIPTION = {
    "71972-4": "PROMIS-10 Global Physical Health (GPH) score raw",
    "71971-6": "PROMIS-10 Global Physical Health (GPH) score T-score",
    "71970-8": "PROMIS-10 Global Mental Health (GMH) score raw",
    "71969-0": "PROMIS-10 Global Mental Health (GMH) score T-score",
}
OBSERVATION_SCHEMA = pa.schema([
    ("observation_id", pa.string()), ("person_id", pa.string()),
    ("observation_date", pa.date32()), ("observation_type", pa.string()),
    ("source_code_type", pa.string()), ("source_code", pa.string()),
    ("source_description", pa.string()), ("result", pa.string()),
    ("source_units", pa.string()),
])


@cache
def table(scale: str) -> tuple[I64, Floats]:
    """(raw scores, T-scores) of one scale, ordered by raw score."""
    t = refdata.load("promis_global_health").to_pydict()
    pairs = sorted((int(r), float(s)) for sc, r, s in
                   zip(t["scale"], t["raw_score"], t["t_score"], strict=True) if sc == scale)
    return (np.array([p[0] for p in pairs], dtype=np.int64),
            np.array([p[1] for p in pairs], dtype=np.float64))


def raw_from_latent(rng: np.random.Generator, scale: str, latent: Floats) -> I64:
    """Raw scores whose table T-score equals `latent` in expectation (clipped to the table)."""
    raw, t = table(scale)
    x = np.clip(latent, t[0], t[-1])
    i = np.clip(np.searchsorted(t, x, side="right") - 1, 0, len(t) - 2)
    up = rng.random(len(x)) < (x - t[i]) / (t[i + 1] - t[i])
    out: I64 = raw[i + up]
    return out


def t_of(scale: str, raw_scores: I64) -> Floats:
    raw, t = table(scale)
    out: Floats = t[raw_scores - raw[0]]
    return out


def observation_table(ctx: Ctx, id_base: int) -> pa.Table:
    rng, h = ctx.rng, ctx.health
    who = h.has(*CHRONIC_PAIN) | ctx.enrolled
    # before a pilot's start (or throughout, for members not in it): about twice a year
    rate = (T.PROMIS_SURVEYS_PER_YEAR / 365.25) * who[ctx.seg.person] * ~ctx.seg.post
    p, d = poisson(rng, ctx.seg, rate)
    # enrolled members: a survey at the start of the pilot, then every quarter
    enrolled = np.flatnonzero(ctx.enrolled).astype(np.int64)
    start = ctx.pilot_day[enrolled]
    n_q = np.maximum((ctx.end[enrolled] - start) // T.PROMIS_PILOT_EVERY_DAYS + 1, 0)
    qi = np.repeat(np.arange(len(enrolled)), n_q)
    qp = enrolled[qi]
    qd = start[qi] + T.PROMIS_PILOT_EVERY_DAYS * rank_in_person(qi.astype(np.int64))
    person = np.concatenate([p, qp])
    day = np.concatenate([d, qd])
    order = np.lexsort((day, person))
    person, day = person[order], day[order]
    m = len(person)
    post = day >= ctx.pilot_day[person]
    own_phys = rng.normal(0, T.PROMIS_PERSON_SD, ctx.n)
    own_ment = rng.normal(0, T.PROMIS_PERSON_SD, ctx.n)
    phys = (T.PROMIS_PHYSICAL_MEAN + T.PROMIS_PHYSICAL_Z * h.z[person] + own_phys[person]
            + rng.normal(0, T.PROMIS_OCCASION_SD, m)
            + np.where(post, shift(ctx.pilot, "promis_physical_t"), 0.0))
    ment = (T.PROMIS_MENTAL_MEAN + T.PROMIS_MENTAL_Z * h.z[person] + own_ment[person]
            + T.PROMIS_MENTAL_DEPRESSION * h.flags[person, C["depression"]]
            + rng.normal(0, T.PROMIS_OCCASION_SD, m)
            + np.where(post, shift(ctx.pilot, "promis_mental_t"), 0.0))
    raw_p = raw_from_latent(rng, "physical", phys)
    raw_m = raw_from_latent(rng, "mental", ment)
    # four rows per survey: physical raw, physical T, mental raw, mental T
    codes = [LOINC["physical"][0], LOINC["physical"][1], LOINC["mental"][0], LOINC["mental"][1]]
    results = [raw_p.astype(str), np.char.mod("%.1f", t_of("physical", raw_p)),
               raw_m.astype(str), np.char.mod("%.1f", t_of("mental", raw_m))]
    rows = 4 * m
    survey = np.repeat(np.arange(m), 4)
    k = np.tile(np.arange(4), m)
    result = np.empty(rows, dtype=object)
    for j in range(4):
        result[k == j] = results[j]
    code = np.array(codes, dtype=object)[k]
    pt = pa.array(person[survey], pa.int64())
    return pa.table({
        "observation_id": padded(np.arange(rows, dtype=np.int64) + id_base, 16, "O"),
        "person_id": ctx.people.person_id.take(pt),
        "observation_date": date_array(day[survey]),
        "observation_type": pa.array(np.full(rows, "survey", dtype=object), pa.string()),
        "source_code_type": pa.array(np.full(rows, "loinc", dtype=object), pa.string()),
        "source_code": pa.array(code, pa.string()),
        "source_description": pa.array([DESCRIPTION[c] for c in codes] * m, pa.string()),
        "result": pa.array(result, pa.string()),
        "source_units": pa.array(np.where(k % 2 == 0, "{score}", "{T-score}"), pa.string()),
    }, schema=OBSERVATION_SCHEMA)
