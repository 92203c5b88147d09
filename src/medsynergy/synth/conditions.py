"""Chronic conditions and each person's health: who has what, coded with real ICD-10-CM.

Conditions co-occur through one latent health factor `z` (a Gaussian copula): a person has
condition k when `b_k * z + sqrt(1 - b_k**2) * e_k` exceeds the normal quantile of the
target prevalence, so each prevalence lands on its target (refdata
`chronic_condition_prevalence`, CMS CCW) while sicker, older, disabled and dual people, and
people who are about to die, carry more conditions together. `z` also drives how much care a
person uses (see `intensity`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from medsynergy import refdata
from medsynergy.synth import targets as T
from medsynergy.synth.lines import I32, V
from medsynergy.synth.people import People, Period, age_on

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

CONDITIONS: tuple[str, ...] = (
    "hypertension", "diabetes", "ckd", "depression", "heart_failure", "copd", "osteoarthritis",
    "atrial_fibrillation", "chronic_low_back_pain", "opioid_use_disorder", "esrd",
)
C = {name: k for k, name in enumerate(CONDITIONS)}
CHRONIC_PAIN = ("chronic_low_back_pain", "osteoarthritis")


@dataclass(frozen=True)
class Health:
    """Per person: condition flags (n, K), the latent health factor, and ICD-10 codes."""

    flags: Bools          # (n, K)
    z: Floats             # standardised latent health factor (higher = sicker)
    intensity: Floats     # relative use of care, mean about 1 (heavy right tail)
    dx: I32               # (n, K) VOCAB indices of the person's codes, present first, -1 pad

    def has(self, *names: str) -> Bools:
        out: Bools = np.zeros(len(self.z), dtype=np.bool_)
        for name in names:
            out |= self.flags[:, C[name]]
        return out


@cache
def _codes() -> dict[str, I32]:
    table = refdata.load("chronic_condition_codes").to_pydict()
    out: dict[str, list[str]] = {}
    for cond, code in zip(table["condition"], table["icd10cm_code"], strict=True):
        out.setdefault(cond, []).append(code)
    return {cond: V.many(codes) for cond, codes in out.items()}


def prevalence(population: str) -> dict[str, float]:
    """Target prevalence (share of people) per condition for a population."""
    ccw = refdata.load("chronic_condition_prevalence").to_pydict()
    base = {c: p / 100 for c, p in zip(ccw["condition"], ccw["prevalence_pct"], strict=True)}
    base |= T.PREVALENCE_NOT_IN_CCW_TABLE
    if population == "medicare":
        return base
    return {c: p * T.COMMERCIAL_PREVALENCE_FACTOR[c] for c, p in base.items()}


def health(rng: np.random.Generator, people: People, period: Period) -> Health:
    """Conditions, latent health and care intensity for one chunk of one population."""
    n = len(people.birth)
    population = "medicare" if people.medicare.all() else "commercial"
    ref = np.full(n, np.datetime64(f"{period.first_year}-07-01"), dtype="datetime64[D]")
    age = age_on(people.birth, ref).astype(np.float64)
    dual = np.array([d not in (None, "00") for d in people.dual], dtype=np.bool_)
    dies = ~np.isnat(people.death)
    raw = (T.Z_AGE_PER_YEAR * age + T.Z_DISABLED * people.disabled + T.Z_DUAL * dual
           + T.Z_DECEDENT * dies + T.Z_ESRD * people.esrd + rng.standard_normal(n))
    z = (raw - raw.mean()) / (raw.std() or 1.0)
    prev = prevalence(population)
    k_all = len(CONDITIONS)
    flags = np.zeros((n, k_all), dtype=np.bool_)
    for k, name in enumerate(CONDITIONS):
        if name == "esrd":
            flags[:, k] = people.esrd
            continue
        b = T.CONDITION_LOADING[name]
        latent = b * z + np.sqrt(1 - b * b) * rng.standard_normal(n)
        factor = T.DISABLED_PREVALENCE_FACTOR.get(name, 1.0)
        cut = np.array([NormalDist().inv_cdf(1 - min(prev[name] * f, 0.999)) for f in (1.0, factor)])
        flags[:, k] = latent > np.where(people.disabled, cut[1], cut[0])
    flags[:, C["ckd"]] |= people.esrd
    # one code per condition present, chosen among the condition's codes
    codes = _codes()
    dx = np.full((n, k_all), -1, dtype=np.int32)
    for k, name in enumerate(CONDITIONS):
        options = codes[name]
        pick = options[rng.integers(0, len(options), size=n)]
        dx[:, k] = np.where(flags[:, k], pick, -1)
    order = np.argsort(dx < 0, axis=1, kind="stable")
    dx = np.take_along_axis(dx, order, axis=1)
    # intensity: log-linear in health and conditions, times gamma frailty (the skew)
    log_u = T.INTENSITY_Z * z + flags.astype(np.float64) @ np.array(
        [T.CONDITION_INTENSITY.get(c, 0.0) for c in CONDITIONS])
    frailty = rng.gamma(T.FRAILTY_SHAPE, 1.0 / T.FRAILTY_SHAPE, size=n)
    u = np.exp(log_u) * frailty
    u = u / u.mean()
    return Health(flags=flags, z=z, intensity=u, dx=dx)
