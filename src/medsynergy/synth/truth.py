"""The known truth of a pilot, written to `pilot_truth.json` for evaluations to check."""

from __future__ import annotations

from typing import Any

from medsynergy.synth import targets as T
from medsynergy.synth.pilot import ABSOLUTE_EFFECTS, COHORTS, RELATIVE_EFFECTS, Pilot


class Truth:
    def __init__(self, pilot: Pilot | None) -> None:
        self.pilot = pilot
        self.eligible: list[str] = []
        self.enrolled: list[str] = []

    def document(self) -> dict[str, Any]:
        pilot = self.pilot
        assert pilot is not None
        effects = {}
        for name, value in pilot.effects.items():
            relative = name in RELATIVE_EFFECTS
            effects[name] = {
                "kind": "relative" if relative else "absolute",
                "value": value,
                "definition": (RELATIVE_EFFECTS if relative else ABSOLUTE_EFFECTS)[name],
            }
        return {
            "spec": pilot.spec,
            "cohort": pilot.cohort,
            "eligibility": f"members with any of {', '.join(COHORTS[pilot.cohort])} "
                           f"(a chronic condition of the generator) covered on {pilot.start}",
            "start": pilot.start.isoformat(),
            "share": pilot.share,
            "selection": pilot.selection,
            "selection_model": (
                "enrolment probability proportional to exp(tilt * z), z the latent health "
                f"factor (higher = sicker), tilt = {T.PILOT_SELECTION_TILT} for 'sicker', "
                f"-{T.PILOT_SELECTION_TILT} for 'healthier', 0 for 'none'"),
            "effects": effects,
            "services": [{"codes": list(s.codes), "specialty": s.specialty, "uptake": s.uptake,
                          "visits": s.visits}
                         for s in T.PILOT_SERVICES[pilot.cohort]],
            "eligible_count": len(self.eligible),
            "enrolled_count": len(self.enrolled),
            "enrolled_person_ids": self.enrolled,
            "eligible_person_ids": self.eligible,
        }
