"""Pilots of known effect: parse `--pilot SPEC`, enrol members, write the truth.

    chronic-pain:share=0.1,start=2024-07-01,readmissions=-0.18,opioid_fills=-0.22,
                 ed_visits=-0.15,promis_physical_t=+3[,selection=sicker]

The cohort (before the colon) names who is eligible; `share` of the eligible members
covered on the start date are enrolled (at random, or favouring healthier or sicker members
with `selection`). From `start` on, enrolled members' rates are multiplied by (1 + effect)
for relative effects, and PROMIS T-scores move by the stated points for `_t` effects.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from medsynergy.errors import ConfigError

#: cohort -> the conditions that make a member eligible (any of them)
COHORTS: dict[str, tuple[str, ...]] = {
    "chronic-pain": ("chronic_low_back_pain", "osteoarthritis"),
    "depression": ("depression",),
    "diabetes": ("diabetes",),
    "heart-failure": ("heart_failure",),
    "copd": ("copd",),
}
#: effect name -> what it changes (the definitions are repeated in pilot_truth.json)
RELATIVE_EFFECTS: dict[str, str] = {
    "ed_visits": "emergency department visits (treat-and-release and those ending in "
                 "admission) per member-month: rate multiplied by (1 + effect)",
    "readmissions": "probability that an index stay (discharged alive, not against medical "
                    "advice, not transferred) is followed by an admission within 30 days: "
                    "multiplied by (1 + effect) for index stays discharged on or after start",
    "opioid_fills": "opioid prescription fills per member-month: rate multiplied by "
                    "(1 + effect)",
    "pcp_visits": "primary-care office visits per member-month: rate multiplied by (1 + effect)",
}
ABSOLUTE_EFFECTS: dict[str, str] = {
    "promis_physical_t": "PROMIS Global Physical Health T-score: expected value moved by "
                         "the effect (points) for surveys on or after start",
    "promis_mental_t": "PROMIS Global Mental Health T-score: expected value moved by the "
                       "effect (points) for surveys on or after start",
}
SELECTIONS = ("none", "healthier", "sicker")


@dataclass(frozen=True)
class Pilot:
    cohort: str
    share: float
    start: dt.date
    effects: dict[str, float] = field(default_factory=dict)
    selection: str = "none"
    spec: str = ""


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_pilot(spec: str) -> Pilot:
    """Parse a pilot spec; any problem raises ConfigError naming the part at fault."""
    text = spec.strip()
    cohort, sep, rest = text.partition(":")
    cohort = cohort.strip()
    if not sep or not cohort:
        raise ConfigError(f"--pilot {spec!r}: expected COHORT:key=value,... "
                          f"e.g. chronic-pain:share=0.1,start=2024-07-01,ed_visits=-0.15")
    if cohort not in COHORTS:
        raise ConfigError(f"--pilot {spec!r}: unknown cohort {cohort!r}; "
                          f"one of {', '.join(COHORTS)}")
    values: dict[str, str] = {}
    for part in rest.split(","):
        key, eq, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise ConfigError(f"--pilot {spec!r}: {part.strip()!r} is not key=value")
        if key in values:
            raise ConfigError(f"--pilot {spec!r}: {key} given twice")
        values[key] = value
    for required in ("share", "start"):
        if required not in values:
            raise ConfigError(f"--pilot {spec!r}: {required}= is required")
    share = _number(spec, "share", values.pop("share"))
    if not 0 < share <= 1:
        raise ConfigError(f"--pilot {spec!r}: share must be in (0, 1], got {share}")
    start_text = values.pop("start")
    try:
        start = dt.date.fromisoformat(start_text)
    except ValueError:
        raise ConfigError(f"--pilot {spec!r}: start {start_text!r} is not a date "
                          f"like 2024-07-01") from None
    selection = values.pop("selection", "none")
    if selection not in SELECTIONS:
        raise ConfigError(f"--pilot {spec!r}: selection must be one of {', '.join(SELECTIONS)}")
    effects: dict[str, float] = {}
    for key, value in values.items():
        if key not in RELATIVE_EFFECTS and key not in ABSOLUTE_EFFECTS:
            known = ", ".join([*RELATIVE_EFFECTS, *ABSOLUTE_EFFECTS])
            raise ConfigError(f"--pilot {spec!r}: unknown effect {key!r}; known: {known}")
        effect = _number(spec, key, value)
        if key in RELATIVE_EFFECTS and effect <= -1:
            raise ConfigError(f"--pilot {spec!r}: {key}={value} would make a rate negative; "
                              f"relative effects must be above -1")
        if key in ABSOLUTE_EFFECTS and abs(effect) > 20:
            raise ConfigError(f"--pilot {spec!r}: {key}={value} is beyond +-20 T-score points")
        effects[key] = effect
    return Pilot(cohort=cohort, share=share, start=start, effects=effects,
                 selection=selection, spec=text)


def _number(spec: str, key: str, value: str) -> float:
    if not _NUMBER.match(value):
        raise ConfigError(f"--pilot {spec!r}: {key}={value!r} is not a number")
    return float(value)


def factor(pilot: Pilot | None, effect: str) -> float:
    """The rate multiplier (1 + relative effect); 1 when the pilot does not set it."""
    if pilot is None:
        return 1.0
    return 1.0 + pilot.effects.get(effect, 0.0)


def shift(pilot: Pilot | None, effect: str) -> float:
    """The absolute shift of an `_t` effect; 0 when the pilot does not set it."""
    if pilot is None:
        return 0.0
    return pilot.effects.get(effect, 0.0)
