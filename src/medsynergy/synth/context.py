"""What every care generator of one chunk needs: people, health, coverage, providers, rates."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from medsynergy.synth import targets as T
from medsynergy.synth.conditions import Health
from medsynergy.synth.events import NEVER, Segments, poisson, segments
from medsynergy.synth.lines import EPOCH
from medsynergy.synth.people import People, Period
from medsynergy.synth.pilot import Pilot, factor
from medsynergy.synth.providers import ProviderIndex

I64 = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def day_of(d: np.datetime64 | npt.NDArray[np.datetime64]) -> I64:
    out: I64 = np.asarray((np.asarray(d).astype("datetime64[D]") - EPOCH).astype(np.int64))
    return out


@dataclass
class Ctx:
    rng: np.random.Generator
    people: People
    health: Health
    period: Period
    prov: ProviderIndex
    pilot: Pilot | None
    enrolled: Bools
    _claims: int = field(default=0)

    # --- coverage ---------------------------------------------------------------------
    @cached_property
    def n(self) -> int:
        return len(self.people.birth)

    @cached_property
    def start(self) -> I64:
        return day_of(self.period.month_start(self.people.entry))

    @cached_property
    def death(self) -> I64:
        alive = np.isnat(self.people.death)
        d = np.where(alive, np.datetime64("1970-01-01"), self.people.death)
        return np.where(alive, NEVER, day_of(d))

    @cached_property
    def end(self) -> I64:
        """Last covered day (the day of death for decedents)."""
        return np.minimum(day_of(self.period.month_end(self.people.exit)), self.death)

    @cached_property
    def pilot_day(self) -> I64:
        if self.pilot is None:
            return np.full(self.n, NEVER, dtype=np.int64)
        return np.where(self.enrolled, day_of(np.datetime64(self.pilot.start)), NEVER)

    @cached_property
    def ramp_day(self) -> I64:
        """Start of the last months of life, when care intensifies (decedents only)."""
        return np.where(self.death < NEVER, self.death - T.END_OF_LIFE_DAYS, NEVER)

    @cached_property
    def seg(self) -> Segments:
        return segments(self.start, self.end, self.pilot_day, self.ramp_day)

    @cached_property
    def commercial(self) -> Bools:
        return ~self.people.medicare

    # --- intensity and rates ------------------------------------------------------------
    def intensity(self, exponent: float) -> Floats:
        """Care intensity to a power, renormalised to mean 1 (less or more skew by service)."""
        u = self.health.intensity ** exponent
        out: Floats = u / u.mean()
        return out

    def rate(self, per_year: float, exponent: float, service: str, *,
             effect: str | None = None, end_of_life: float = 1.0,
             who: Bools | None = None) -> Floats:
        """Per-segment daily rates of a service."""
        p = self.seg.person
        per_person = (per_year / 365.25) * self.intensity(exponent)
        per_person = per_person * np.where(self.commercial, T.COMMERCIAL_USE[service], 1.0)
        if who is not None:
            per_person = per_person * who
        r = per_person[p] * np.where(self.seg.ramp, end_of_life, 1.0)
        if effect is not None:
            r = r * np.where(self.seg.post, factor(self.pilot, effect), 1.0)
        out: Floats = r
        return out

    def events(self, per_year: float, exponent: float, service: str, **kw: object) -> tuple[I64, I64]:
        return poisson(self.rng, self.seg, self.rate(per_year, exponent, service, **kw))  # type: ignore[arg-type]

    def priced(self, fee: npt.NDArray[np.integer] | Floats, person: I64, kind: str) -> I64:
        """Medicare fees (cents) for these people: commercial members pay the commercial
        price level of `kind` (facility or professional), rounded to the cent."""
        factor = np.where(self.commercial[person], T.COMMERCIAL_PRICE_FACTOR[kind], 1.0)
        out: I64 = np.rint(fee * factor).astype(np.int64)
        return out

    def new_claims(self, count: int) -> I64:
        out = np.arange(self._claims, self._claims + count, dtype=np.int64)
        self._claims += count
        return out

    # --- providers ----------------------------------------------------------------------
    @cached_property
    def pcp(self) -> I64:
        return self.prov.pick(self.rng, "primary care", self.n)

    @cached_property
    def hospital(self) -> I64:
        return self.prov.pick(self.rng, "general acute care hospital", self.n)

    def clinician(self, specialty: str, count: int) -> I64:
        return self.prov.pick(self.rng, specialty, count)

    def org(self, rows: I64) -> I64:
        out: I64 = self.prov.org_row[rows]
        return out
