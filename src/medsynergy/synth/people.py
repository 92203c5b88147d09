"""People and their enrollment spans, one chunk of members at a time, vectorised.

A person is enrolled from an entry month (the first month of the period for the base
population, a later month for new enrollees) until the period ends, they leave, or they
die; the last span ends on the last day of that month (death: the month of death).
Coverage is written as one eligibility row per person per calendar year covered, so a
plan change at open enrolment (FFS <-> Medicare Advantage) starts a new row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.synth import targets as T
from medsynergy.synth.ids import padded

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Dates = npt.NDArray[np.datetime64]
Floats = npt.NDArray[np.float64]

ELIGIBILITY_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("member_id", pa.string()), ("subscriber_id", pa.string()),
    ("gender", pa.string()), ("race", pa.string()), ("birth_date", pa.date32()),
    ("death_date", pa.date32()), ("death_flag", pa.int8()),
    ("enrollment_start_date", pa.date32()), ("enrollment_end_date", pa.date32()),
    ("payer", pa.string()), ("payer_type", pa.string()), ("plan", pa.string()),
    ("original_reason_entitlement_code", pa.string()), ("dual_status_code", pa.string()),
    ("medicare_status_code", pa.string()), ("group_id", pa.string()), ("group_name", pa.string()),
    ("subscriber_relation", pa.string()),
])


@dataclass(frozen=True)
class Period:
    first_year: int
    last_year: int

    @property
    def months(self) -> int:
        return 12 * (self.last_year - self.first_year + 1)

    @property
    def years(self) -> int:
        return self.last_year - self.first_year + 1

    def month_start(self, m: Ints) -> Dates:
        first: np.datetime64 = np.datetime64(f"{self.first_year}-01", "M")
        return (first + m.astype("timedelta64[M]")).astype("datetime64[D]")

    def month_end(self, m: Ints) -> Dates:
        return self.month_start(m + 1) - np.timedelta64(1, "D")


@dataclass(frozen=True)
class People:
    """Per-person attributes of one chunk (arrays of equal length) and their spans."""

    person_id: pa.StringArray
    member_id: pa.StringArray
    subscriber_id: pa.StringArray
    relation: npt.NDArray[np.object_]
    gender: npt.NDArray[np.object_]
    race: npt.NDArray[np.object_]
    birth: Dates
    medicare: Bools
    disabled: Bools
    esrd: Bools
    orec: npt.NDArray[np.object_]
    dual: npt.NDArray[np.object_]
    payer: npt.NDArray[np.object_]
    plan_by_year: npt.NDArray[np.object_]  # (n, years)
    group_id: npt.NDArray[np.object_]
    entry: Ints   # first covered month index
    exit: Ints    # last covered month index
    death: Dates  # NaT when alive at the end of the period


def _choice(rng: np.random.Generator, options: dict[str, float], n: int) -> npt.NDArray[np.object_]:
    keys = np.array(list(options), dtype=object)
    p = np.array(list(options.values()), dtype=np.float64)
    return keys[rng.choice(len(keys), size=n, p=p / p.sum())]


def _aged_age_weights() -> tuple[Ints, Floats]:
    ages = np.arange(65, 105, dtype=np.int64)
    q = np.minimum(T.Q65 * np.exp(T.GOMPERTZ_SLOPE * (ages - 65)), 0.6)
    survival = np.concatenate([[1.0], np.cumprod(1 - q)[:-1]])
    w = survival * T.AGED_COHORT_GROWTH ** (-(ages - 65).astype(np.float64))
    return ages, w / w.sum()


def _disabled_age_weights() -> tuple[Ints, Floats]:
    ages = np.arange(20, 65, dtype=np.int64)
    w = (ages - 15).astype(np.float64) ** 1.5  # disability entitlement rises with age
    return ages, w / w.sum()


def age_on(birth: Dates, on: Dates) -> Ints:
    """Completed years of age on a date (birthday counted on the day)."""
    by, oy = birth.astype("datetime64[Y]"), on.astype("datetime64[Y]")
    years = (oy - by).astype(np.int64)
    # compare (month, day-of-month), not day-of-year, so leap years do not shift birthdays
    bm = (birth.astype("datetime64[M]") - by.astype("datetime64[M]")).astype(np.int64)
    om = (on.astype("datetime64[M]") - oy.astype("datetime64[M]")).astype(np.int64)
    bd = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    od = (on - on.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64)
    before = (om < bm) | ((om == bm) & (od < bd))
    age: Ints = years - before.astype(np.int64)
    return age


def _birth_from_age(rng: np.random.Generator, on: Dates, age: Ints) -> Dates:
    """A birth date that makes the person `age` (plus a random fraction) on `on`."""
    days = np.floor((age + rng.random(len(age))) * 365.25).astype(np.int64)
    birth: Dates = on - days.astype("timedelta64[D]")
    return birth


def _entries(rng: np.random.Generator, n: int, period: Period, new_per_year: float) -> Ints:
    base_share = 1.0 / (1.0 + new_per_year * period.years)
    entrant = rng.random(n) >= base_share
    return np.where(entrant, rng.integers(1, period.months, size=n), 0).astype(np.int64)


def _leaves(rng: np.random.Generator, entry: Ints, period: Period, per_year: float) -> Ints:
    """Last month before leaving (period.months - 1 when the person stays to the end)."""
    monthly = 1.0 - (1.0 - per_year) ** (1.0 / 12.0)
    stay = rng.geometric(monthly, size=len(entry)).astype(np.int64)  # months covered
    last: Ints = np.minimum(entry + stay - 1, period.months - 1)
    return last


def _mortality(age: Ints, disabled: Bools, esrd: Bools) -> Floats:
    q = np.clip(T.Q65 * np.exp(T.GOMPERTZ_SLOPE * (age - 65)), 0.0003, 0.6)
    q = np.where(disabled & (age < 65), np.maximum(q, T.Q_DISABLED), q)
    q_all: Floats = np.where(esrd, np.maximum(q, T.Q_ESRD), q)
    return q_all


def _deaths(rng: np.random.Generator, people_birth: Dates, entry: Ints, leave: Ints,
            disabled: Bools, esrd: Bools, period: Period) -> tuple[Ints, Dates]:
    """Year by year (a handful of steps, each vectorised over members): who dies when."""
    n = len(entry)
    exit_ = leave.copy()
    death: Dates = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
    dead = np.zeros(n, dtype=np.bool_)
    for y in range(period.years):
        ys, ye = 12 * y, 12 * y + 11
        start = np.maximum(entry, ys)
        last = np.minimum(leave, ye)
        alive = (entry <= ye) & (leave >= ys) & ~dead
        months = np.maximum(last - start + 1, 1)
        age = age_on(people_birth, period.month_start(np.full(n, ys, dtype=np.int64)))
        p = 1.0 - (1.0 - _mortality(age, disabled, esrd)) ** (months / 12.0)
        u, v, w = rng.random(n), rng.random(n), rng.random(n)
        dies = alive & (u < p)
        month = start + np.floor(v * months).astype(np.int64)
        first = period.month_start(month)
        length = (period.month_start(month + 1) - first).astype(np.int64)
        day = first + np.floor(w * length).astype(np.int64).astype("timedelta64[D]")
        death = np.where(dies, day, death)
        exit_ = np.where(dies, month, exit_)
        dead |= dies
    return exit_, death


def _plans_by_year(rng: np.random.Generator, n: int, period: Period) -> npt.NDArray[np.object_]:
    ma = rng.random(n) < T.MA_SHARE
    cols = []
    for _ in range(period.years):
        cols.append(ma.copy())
        ma = ma ^ (rng.random(n) < T.MA_SWITCH_PER_YEAR)
    on_ma = np.stack(cols, axis=1)
    kind = _choice(rng, {"Medicare Advantage HMO": 0.6, "Medicare Advantage PPO": 0.4}, n)
    return np.where(on_ma, kind[:, None], "Medicare FFS").astype(object)


def medicare_people(rng: np.random.Generator, n: int, first: int, period: Period) -> People:
    ref = np.full(n, np.datetime64(f"{period.first_year}-01-01"), dtype="datetime64[D]")
    entry = _entries(rng, n, period, T.NEW_ENROLLEES_PER_YEAR)
    entry_day = period.month_start(entry)
    disabled = rng.random(n) < T.DISABLED_UNDER_65_SHARE
    esrd = rng.random(n) < T.ESRD_SHARE
    a_ages, a_w = _aged_age_weights()
    d_ages, d_w = _disabled_age_weights()
    aged_age = a_ages[rng.choice(len(a_ages), size=n, p=a_w)]
    dis_age = d_ages[rng.choice(len(d_ages), size=n, p=d_w)]
    # Base population: an age on the first day of the period. New aged enrollees age in:
    # Medicare starts the month a person turns 65 (born in that month, 65 years earlier).
    base_birth = _birth_from_age(rng, ref, np.where(disabled, dis_age, aged_age))
    dis_entry_birth = _birth_from_age(rng, entry_day, dis_age)
    birth_month = (entry_day.astype("datetime64[M]") - np.timedelta64(65 * 12, "M"))
    aging_in = birth_month.astype("datetime64[D]") + rng.integers(1, 28, size=n).astype(
        "timedelta64[D]")
    birth = np.where(entry == 0, base_birth, np.where(disabled, dis_entry_birth, aging_in))
    leave = _leaves(rng, entry, period, T.LEAVE_PER_YEAR_MEDICARE)
    exit_, death = _deaths(rng, birth, entry, leave, disabled, esrd, period)
    age0 = age_on(birth, np.maximum(ref, entry_day))
    p_female = np.where(disabled, 0.47, np.clip(0.52 + 0.005 * (age0 - 65), 0.45, 0.70))
    gender = np.where(rng.random(n) < p_female, "female", "male").astype(object)
    originally_disabled = ~disabled & (rng.random(n) < T.ORIGINALLY_DISABLED_AGED)
    orec = np.where(disabled | originally_disabled, "1", "0")
    orec = np.where(esrd, np.where(orec == "1", "3", np.where(disabled, "3", "2")), orec)
    orec = np.where(esrd & ~disabled & (age0 >= 65) & (rng.random(n) < 0.7), "0", orec)
    p_dual = np.where(disabled, T.DUAL_SHARE_DISABLED, T.DUAL_SHARE_AGED)
    dual = np.where(rng.random(n) < p_dual, _choice(rng, T.DUAL_CODES, n), "00").astype(object)
    ids = np.arange(first, first + n, dtype=np.int64)
    member = padded(ids, 10, "M")
    return People(
        person_id=padded(ids, 10, "P"), member_id=member, subscriber_id=member,
        relation=np.full(n, "self", dtype=object), gender=gender,
        race=_choice(rng, T.RACE, n), birth=birth, medicare=np.ones(n, dtype=np.bool_),
        disabled=disabled, esrd=esrd, orec=orec.astype(object), dual=dual,
        payer=np.full(n, "Medicare", dtype=object), plan_by_year=_plans_by_year(rng, n, period),
        group_id=np.full(n, None, dtype=object), entry=entry, exit=exit_, death=death,
    )


def commercial_people(rng: np.random.Generator, n: int, first: int, period: Period) -> People:
    sizes = np.array(list(T.FAMILY_SIZES), dtype=np.int64)
    p = np.array(list(T.FAMILY_SIZES.values()))
    fam_size = sizes[rng.choice(len(sizes), size=n, p=p / p.sum())]  # n families always suffice
    ends = np.cumsum(fam_size)
    local = np.arange(n, dtype=np.int64)
    fam = np.searchsorted(ends, local, side="right")
    n_fam = int(fam[-1]) + 1 if n else 0
    fam_start = np.concatenate([[0], ends[:-1]])[fam]
    pos = local - fam_start
    spouse = (pos == 1) & (rng.random(n) < T.SPOUSE_SHARE)
    relation = np.where(pos == 0, "self", np.where(spouse, "spouse", "dependent")).astype(object)
    # family-level draws, mapped to members
    ref = np.full(n, np.datetime64(f"{period.first_year}-01-01"), dtype="datetime64[D]")
    f_entry = _entries(rng, n_fam, period, T.NEW_ENROLLEES_PER_YEAR_COMMERCIAL)
    f_leave = _leaves(rng, f_entry, period, T.LEAVE_PER_YEAR_COMMERCIAL)
    f_self_age = rng.integers(22, 65, size=n_fam)
    f_payer = _choice(rng, T.COMMERCIAL_PAYERS, n_fam)
    f_plan = _choice(rng, T.COMMERCIAL_PLANS, n_fam)
    f_group = rng.integers(0, max(n_fam // 40, 1), size=n_fam)
    entry, leave = f_entry[fam], f_leave[fam]
    self_age = f_self_age[fam]
    spouse_age = np.clip(self_age + np.round(rng.normal(0, 3, n)).astype(np.int64), 18, 64)
    child_age = rng.integers(0, 26, size=n) % np.maximum(self_age - 17, 1)
    age = np.where(pos == 0, self_age, np.where(spouse, spouse_age, child_age))
    birth = _birth_from_age(rng, np.maximum(ref, period.month_start(entry)), age)
    # Coverage through an employer ends when Medicare starts, the month a person turns 65.
    birth_month = birth.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
    turns_65 = birth_month + 65 * 12 - (period.first_year - 1970) * 12
    leave = np.minimum(leave, np.maximum(entry, turns_65 - 1))
    none = np.zeros(n, dtype=np.bool_)
    exit_, death = _deaths(rng, birth, entry, leave, none, none, period)
    ids = np.arange(first, first + n, dtype=np.int64)
    member = padded(ids, 10, "C")
    group_id = np.array(padded(f_group[fam] + first // 40, 7, "G").to_pylist(), dtype=object)
    return People(
        person_id=padded(ids, 10, "P"), member_id=member,
        subscriber_id=padded(ids[fam_start], 10, "C"), relation=relation,
        gender=np.where(rng.random(n) < 0.5, "female", "male").astype(object),
        race=_choice(rng, T.RACE, n), birth=birth, medicare=none, disabled=none, esrd=none,
        orec=np.full(n, None, dtype=object), dual=np.full(n, None, dtype=object),
        payer=f_payer[fam], plan_by_year=np.repeat(f_plan[fam][:, None], period.years, axis=1),
        group_id=group_id, entry=entry, exit=exit_, death=death,
    )


def eligibility_rows(p: People, period: Period) -> pa.Table:
    """One row per person per calendar year covered, in person order."""
    ys = 12 * np.arange(period.years, dtype=np.int64)[None, :]
    covered = (p.entry[:, None] <= ys + 11) & (p.exit[:, None] >= ys)
    who, year = np.nonzero(covered)
    start_m = np.maximum(p.entry[who], ys[0, year])
    end_m = np.minimum(p.exit[who], ys[0, year] + 11)
    start, end = period.month_start(start_m), period.month_end(end_m)
    age_end = age_on(p.birth[who], end)
    med = p.medicare[who]
    esrd = p.esrd[who]
    msc = np.where(age_end >= 65, np.where(esrd, "11", "10"),
                   np.where(p.disabled[who], np.where(esrd, "21", "20"), "31"))
    died = ~np.isnat(p.death[who])
    take = pa.array(who.astype(np.int64))
    group_id = pa.array(p.group_id[who], pa.string())
    return pa.table({
        "person_id": p.person_id.take(take), "member_id": p.member_id.take(take),
        "subscriber_id": p.subscriber_id.take(take),
        "gender": pa.array(p.gender[who], pa.string()), "race": pa.array(p.race[who], pa.string()),
        "birth_date": pa.array(p.birth[who], pa.date32()),
        "death_date": pa.array(p.death[who], pa.date32()),
        "death_flag": pa.array(died.astype(np.int8)),
        "enrollment_start_date": pa.array(start, pa.date32()),
        "enrollment_end_date": pa.array(end, pa.date32()),
        "payer": pa.array(p.payer[who], pa.string()),
        "payer_type": pa.array(np.where(med, "medicare", "commercial"), pa.string()),
        "plan": pa.array(p.plan_by_year[who, year], pa.string()),
        "original_reason_entitlement_code": pa.array(p.orec[who], pa.string()),
        "dual_status_code": pa.array(p.dual[who], pa.string()),
        "medicare_status_code": pa.array(msc, pa.string(), mask=~med),
        "group_id": group_id,
        "group_name": pc.binary_join_element_wise("Employer group ", group_id, ""),
        "subscriber_relation": pa.array(p.relation[who], pa.string()),
    }, schema=ELIGIBILITY_SCHEMA)
