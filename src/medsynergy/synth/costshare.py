"""Member cost sharing and payer payment, line by line, in integer cents.

Original Medicare (42 CFR 409.82-85, 410.152, 410.160; amounts from refdata `medicare_rates`):
- Part A inpatient: the Part A deductible once per benefit period (approximated as the first
  stay of each calendar year), on the stay's first line.
- SNF: the daily coinsurance for days 21-100.
- Home health and hospice: none (routine home care has no coinsurance worth modelling).
- Part B: the annual deductible, then 20 % coinsurance; none for the annual wellness visit
  and clinical laboratory tests (42 CFR 410.152(h), (l)).
Medicare Advantage and commercial plans use the copays and deductibles in targets.py
(assumptions, documented in docs/generator.md). Always: allowed = paid + deductible +
coinsurance + copayment, and every part is >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from medsynergy.synth import prices as P
from medsynergy.synth import targets as T
from medsynergy.synth.lines import Block, V, year_of
from medsynergy.synth.people import People, Period

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

PART_A_INPATIENT, PART_A_SNF, PART_A_NO_COST_SHARE, PART_B, PART_B_NO_COST_SHARE = 1, 2, 3, 4, 5
PLAN_FFS, PLAN_MA, PLAN_PPO, PLAN_HMO, PLAN_HDHP, PLAN_POS = 0, 1, 2, 3, 4, 5
_PLAN_CODES = {"Medicare FFS": PLAN_FFS, "Medicare Advantage HMO": PLAN_MA,
               "Medicare Advantage PPO": PLAN_MA, "PPO": PLAN_PPO, "HMO": PLAN_HMO,
               "HDHP": PLAN_HDHP, "POS": PLAN_POS}


@dataclass(frozen=True)
class Amounts:
    allowed: I64
    paid: I64
    deductible: I64
    coinsurance: I64
    copayment: I64
    charge: I64


def plan_codes(people: People) -> npt.NDArray[np.int8]:
    codes = np.vectorize(_PLAN_CODES.__getitem__, otypes=[np.int8])
    out: npt.NDArray[np.int8] = codes(people.plan_by_year)
    return out


def _before_in_group(values: I64, group_start: Bools) -> I64:
    """Sum of the earlier values of the same group (groups are contiguous runs)."""
    c = np.cumsum(values)
    idx = np.flatnonzero(group_start)
    run = np.repeat(idx, np.diff(np.append(idx, len(values))))
    out: I64 = c - values - (c[run] - values[run])
    return out


def _coinsurance(base: I64, rate_pct: I64 | np.int64) -> I64:
    """round(base * rate / 100), half up, in integers."""
    out: I64 = (2 * base * rate_pct + 100) // 200
    return out


def apply(b: Block, people: People, period: Period, plans: npt.NDArray[np.int8]) -> Amounts:
    """Cost sharing for lines sorted by person, claim start, claim, line."""
    c = b.cols
    allowed = c["allowed"].astype(np.int64)
    n = len(allowed)
    person, part = c["person"], c["part"]
    year = year_of(c["claim_start"])
    yi = np.clip(year - period.first_year, 0, period.years - 1)
    plan = plans[person, yi] if n else np.zeros(0, dtype=np.int8)
    ffs, ma = plan == PLAN_FFS, plan == PLAN_MA
    com = plan >= PLAN_PPO
    ded = np.zeros(n, dtype=np.int64)
    coins = np.zeros(n, dtype=np.int64)
    copay = np.zeros(n, dtype=np.int64)
    if not n:
        return Amounts(allowed, allowed.copy(), ded, coins, copay, allowed.copy())
    new_group = np.ones(n, dtype=np.bool_)
    new_group[1:] = (person[1:] != person[:-1]) | (yi[1:] != yi[:-1])
    first_line = c["line"] == 1
    units_days = c["units_milli"] // 1000

    # --- Original Medicare -----------------------------------------------------------
    a_ded = P.rates_by_year("part_a_deductible", period.first_year, period.last_year)[yi]
    b_ded = P.rates_by_year("part_b_deductible", period.first_year, period.last_year)[yi]
    snf_day = P.rates_by_year("snf_coinsurance_day_21_100", period.first_year, period.last_year)[yi]
    ip_first = (part == PART_A_INPATIENT) & first_line
    ip_count_before = _before_in_group(ip_first.astype(np.int64), new_group)
    ded = np.where(ffs & ip_first & (ip_count_before == 0), np.minimum(a_ded, allowed), ded)
    snf = part == PART_A_SNF
    snf_coins = np.minimum(snf_day * np.maximum(np.minimum(units_days, 100) - 20, 0), allowed)
    coins = np.where((ffs | ma) & snf, snf_coins, coins)
    is_b = part == PART_B
    b_before = _before_in_group(np.where(ffs & is_b, allowed, 0), new_group)
    b_ded_line = np.clip(b_ded - b_before, 0, allowed)
    ded = np.where(ffs & is_b, b_ded_line, ded)
    coins = np.where(ffs & is_b, _coinsurance(allowed - ded, np.int64(20)), coins)

    # --- Medicare Advantage (assumptions: a typical HMO/PPO benefit design) ------------
    office = (c["pos"] == V("11")) & first_line
    ed_fac = c["revenue"] == V("0450")
    ip_copay = np.minimum(T.MA_INPATIENT_COPAY_PER_DAY * np.minimum(units_days, 5), allowed)
    copay = np.where(ma & ip_first, ip_copay, copay)
    copay = np.where(ma & is_b & office, np.minimum(T.MA_OFFICE_COPAY, allowed), copay)
    copay = np.where(ma & is_b & ed_fac, np.minimum(T.MA_ED_COPAY, allowed), copay)
    other_b = ma & is_b & ~office & ~ed_fac
    coins = np.where(other_b, _coinsurance(allowed, np.int64(20)), coins)

    # --- Commercial: deductible, then coinsurance; office visits on a copay (not HDHP) --
    plan_ded = np.select([plan == PLAN_PPO, plan == PLAN_HMO, plan == PLAN_HDHP, plan == PLAN_POS],
                         [T.COMMERCIAL_DEDUCTIBLE[k] for k in ("PPO", "HMO", "HDHP", "POS")], 0)
    on_copay = com & office & (plan != PLAN_HDHP)
    shares = com & ~on_copay & (part != PART_B_NO_COST_SHARE)
    c_before = _before_in_group(np.where(shares, allowed, 0), new_group)
    c_ded = np.clip(plan_ded - c_before, 0, allowed)
    ded = np.where(shares, c_ded, ded)
    rate = np.where(plan == PLAN_HMO, T.COMMERCIAL_COINSURANCE_PCT["HMO"],
                    T.COMMERCIAL_COINSURANCE_PCT["other"]).astype(np.int64)
    coins = np.where(shares, _coinsurance(allowed - ded, rate), coins)
    copay = np.where(on_copay, np.minimum(T.COMMERCIAL_OFFICE_COPAY, allowed), copay)

    paid = allowed - ded - coins - copay
    institutional = c["bill_type"] >= 0
    markup = np.where(institutional, T.CHARGE_MARKUP["institutional"],
                      T.CHARGE_MARKUP["professional"])
    charge = np.rint(allowed * markup).astype(np.int64)
    return Amounts(allowed, paid, ded, coins, copay, charge)
