"""When things happen: Poisson processes over each person's covered days, vectorised.

A person's coverage (first covered day to the last, or the day of death) is cut into
segments where the rates are constant: before and after a pilot's start date (enrolled
members only) and before and after the start of the last months of life (decedents only).
Events of a kind are drawn per segment as Poisson counts with uniform days, so changing a
rate on a segment changes the expected count there by exactly that factor: this is how a
pilot's stated relative effects hold in expectation (docs/generator.md, "Pilots").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
NEVER = np.int64(2**40)  # a day index later than any real date


@dataclass(frozen=True)
class Segments:
    """Pieces of coverage: [start, end) in days since 1970, with their flags."""

    person: I64
    start: I64
    end: I64      # exclusive
    post: Bools   # enrolled in the pilot and on or after its start date
    ramp: Bools   # in the last months of life

    @property
    def length(self) -> I64:
        out: I64 = self.end - self.start
        return out


def segments(start: I64, end_incl: I64, pilot_day: I64, ramp_day: I64) -> Segments:
    """Cut each person's [start, end_incl] at `pilot_day` and `ramp_day` (NEVER = no cut)."""
    n = len(start)
    end = end_incl + 1
    cuts = np.stack([start, np.clip(pilot_day, start, end), np.clip(ramp_day, start, end), end],
                    axis=1)
    cuts.sort(axis=1)
    seg_start, seg_end = cuts[:, :-1].ravel(), cuts[:, 1:].ravel()
    person = np.repeat(np.arange(n, dtype=np.int64), 3)
    keep = seg_end > seg_start
    person, seg_start, seg_end = person[keep], seg_start[keep], seg_end[keep]
    return Segments(person=person, start=seg_start, end=seg_end,
                    post=seg_start >= pilot_day[person], ramp=seg_start >= ramp_day[person])


def poisson(rng: np.random.Generator, seg: Segments,
            rate_per_day: npt.NDArray[np.floating]) -> tuple[I64, I64]:
    """Events on segments with the given per-segment rates: (person, day), sorted."""
    counts = rng.poisson(rate_per_day * seg.length)
    idx = np.repeat(np.arange(len(counts)), counts)
    day = seg.start[idx] + np.floor(rng.random(len(idx)) * seg.length[idx]).astype(np.int64)
    person = seg.person[idx]
    order = np.lexsort((day, person))
    return person[order], day[order]


def group_starts(person: I64) -> Bools:
    """True on the first element of each run of equal persons (input sorted by person)."""
    first = np.ones(len(person), dtype=np.bool_)
    first[1:] = person[1:] != person[:-1]
    return first


def cummax_by_person(person: I64, values: I64) -> I64:
    """Running maximum of `values` within each person (input sorted by person)."""
    if not len(values):
        return values.copy()
    # shift each person's values into a band of its own so one global running max works
    span = int(values.max() - values.min()) + 1
    band = np.cumsum(group_starts(person)).astype(np.int64) * span
    out: I64 = np.maximum.accumulate(values - values.min() + band) - band + values.min()
    return out


def previous_cummax(person: I64, values: I64, empty: int) -> I64:
    """Running max of the *earlier* elements of the same person (`empty` for the first)."""
    run = cummax_by_person(person, values)
    prev = np.empty_like(values)
    if len(values):
        prev[0] = empty
        prev[1:] = run[:-1]
        prev[group_starts(person)] = empty
    return prev


def rank_in_person(person: I64) -> I64:
    """0, 1, 2, ... within each run of equal persons."""
    idx = np.arange(len(person), dtype=np.int64)
    first = np.maximum.accumulate(np.where(group_starts(person), idx, 0))
    out: I64 = idx - first
    return out
