"""Prices from the shipped reference tables, in integer cents.

Medicare national amounts (refdata `service_prices`, `medicare_rates`, `ms_drg`); the
generator scales them for commercial members (targets.COMMERCIAL_PRICE_FACTOR).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cache

import numpy as np
import numpy.typing as npt

from medsynergy import refdata
from medsynergy.errors import ConfigError
from medsynergy.synth.lines import I32, V

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def cents(usd: float | str) -> int:
    """Dollars (as published, e.g. 92.03) -> integer cents, rounded half up once."""
    return int((Decimal(str(usd)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@cache
def _fees() -> dict[tuple[str, str], int]:
    t = refdata.load("service_prices").to_pydict()
    return {(code, setting): cents(usd) for code, setting, usd in
            zip(t["hcpcs_code"], t["setting"], t["approx_allowed_usd"], strict=True)}


def fee(hcpcs: str, setting: str) -> int:
    """The allowed amount of one unit of `hcpcs` in `setting`, in cents."""
    try:
        return _fees()[(hcpcs, setting)]
    except KeyError:
        raise ConfigError(f"refdata service_prices has no price for {hcpcs} ({setting})") from None


def fees(codes: list[str], setting: str) -> I64:
    return np.array([fee(c, setting) for c in codes], dtype=np.int64)


@cache
def _rates() -> dict[tuple[str, int], int]:
    t = refdata.load("medicare_rates").to_pydict()
    return {(item, int(year)): cents(usd) for item, year, usd in
            zip(t["item"], t["year"], t["amount_usd"], strict=True)}


def rate(item: str, year: int) -> int:
    """A Medicare rate for a year in cents; the nearest published year when one is missing."""
    table = _rates()
    years = sorted(y for (i, y) in table if i == item)
    if not years:
        raise ConfigError(f"refdata medicare_rates has no {item}")
    nearest = min(years, key=lambda y: (abs(y - year), -y))
    return table[(item, nearest)]


def rates_by_year(item: str, first_year: int, last_year: int) -> I64:
    return np.array([rate(item, y) for y in range(first_year, last_year + 1)], dtype=np.int64)


def rate_on(item: str, years: I64) -> I64:
    """The rate of each element's year, in cents (years given per element)."""
    if not len(years):
        return np.zeros(0, dtype=np.int64)
    lo = int(years.min())
    out: I64 = rates_by_year(item, lo, int(years.max()))[years - lo]
    return out


@dataclass(frozen=True)
class Drgs:
    code: I32            # VOCAB index of the 3-digit MS-DRG
    mdc: list[str]
    surgical: npt.NDArray[np.bool_]
    weight: F64
    gmlos: F64
    share: F64           # share of Medicare discharges
    principal_dx: I32    # VOCAB index of a typical principal diagnosis
    pcs: I32             # VOCAB index of a typical ICD-10-PCS procedure (-1 for medical)
    names: list[str]

    def index(self, drg: str) -> int:
        return self.names.index(drg)


@cache
def drgs() -> Drgs:
    t = refdata.load("ms_drg").to_pydict()
    names = [str(c) for c in t["drg_code"]]
    discharges = np.array([float(x) if x is not None else np.nan
                           for x in t["medicare_discharges"]], dtype=np.float64)
    if np.isnan(discharges).all():  # no published counts shipped: the documented assumption
        from medsynergy.synth.targets import DRG_RELATIVE_FREQUENCY
        discharges = np.array([DRG_RELATIVE_FREQUENCY.get(n, 20) for n in names], np.float64)
    elif np.isnan(discharges).any():
        discharges = np.where(np.isnan(discharges), np.nanmin(discharges), discharges)
    pcs = [p if p else None for p in t["principal_pcs"]]
    return Drgs(
        code=V.many(names), mdc=[str(m) for m in t["mdc"]],
        surgical=np.array([d == "SURG" for d in t["drg_type"]]),
        weight=np.array(t["relative_weight"], dtype=np.float64),
        gmlos=np.array(t["geometric_mean_los"], dtype=np.float64),
        share=discharges / discharges.sum(), principal_dx=V.many(t["principal_dx_icd10"]),
        pcs=np.array([V(p) if p else -1 for p in pcs], dtype=np.int32), names=names,
    )
