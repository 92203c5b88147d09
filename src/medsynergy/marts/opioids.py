"""opioids: MME per day of every opioid fill, high-dose members, opioid + benzodiazepine overlap.

Issue "Measures", mart 6. Rules, sources and edge cases: docs/marts/opioids.md.

Everything is set-based Ibis, so one expression compiles on DuckDB and on PySpark: the NDC
reference table is a constant memtable, `daily_mme` expands a fill to the days it covers by
a join with a constant table of day offsets (0 .. MAX_DAYS_SUPPLY - 1), `opioid_members`
works on intervals of days (islands and constant-MME runs), and every division
is done on integers with an explicit half-up rounding (DuckDB divides decimals in DOUBLE,
Spark in DECIMAL, so a plain decimal division would not give the same digits on both).

- `ndc_table()`: the versioned `drug_ndc` refdata (real NDCs) with exact decimals.
- `opioid_fills(pharmacy_claim, ndc)`: one row per opioid fill with its MME per day.
- `benzodiazepine_fills(pharmacy_claim, ndc)`: one row per benzodiazepine fill.
- `daily_mme(opioid_fills)`: person x day, MME of the fills covering that day summed.
- `opioid_members(opioid_fills, benzodiazepine_fills)`: person x payer x year.
- `opioid_summary(opioid_members, member_months)`: payer x year rates.
- `ndc_coverage(pharmacy_claim, ndc)`: share of pharmacy lines whose NDC is not in refdata.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from medsynergy import refdata
from medsynergy.marts.member_months import _months_to_years

#: Reference data: strength per unit and MME conversion factor, exact decimals. The
#: precisions are kept small on purpose so that strength x factor x quantity x 1000 fits
#: well inside DECIMAL(38) on Spark, where a wider product would have its scale reduced
#: (that is, rounded).
STRENGTH = dt.Decimal(9, 4)
FACTOR = STRENGTH
#: strength x factor x quantity x 1000 (scale 4 + 4): 20 integer digits, exact on both engines.
EXACT = dt.Decimal(28, 8)
#: Quantities from here on are outside the exact range (quantity x 1000 must fit 32 bits).
QUANTITY_LIMIT = 2_000_000
MME = dt.Decimal(18, 3)
PER_1000 = dt.Decimal(18, 1)
RATE = dt.Decimal(18, 4)
FLAG = dt.Int64()

#: Longest days supply expanded to days (Part D fills are at most 90-102 days; a year is
#: generous). Days past the cap are not expanded; the fill is flagged.
MAX_DAYS_SUPPLY = 365
#: High-dose thresholds, MME/day (CDC 2022 guideline; CMS Part D opioid measures).
MME_50 = Decimal(50)
MME_90 = Decimal(90)
BENZODIAZEPINE = "benzodiazepine"

FILL_COLUMNS = (
    "data_source", "claim_id", "claim_line_number", "person_id", "payer", "plan",
    "dispensing_date", "year", "ndc11", "drug_class", "ingredient", "days_supply", "quantity",
    "fill_start", "fill_end", "invalid_days_supply_flag", "days_supply_over_cap_flag",
)
OPIOID_FILL_COLUMNS = (
    "data_source", "claim_id", "claim_line_number", "person_id", "payer", "plan",
    "dispensing_date", "year", "ndc11", "drug_class", "ingredient", "days_supply", "quantity",
    "strength", "strength_unit", "mme_conversion_factor", "mme_per_day",
    "fill_start", "fill_end", "invalid_days_supply_flag", "days_supply_over_cap_flag",
)


# -- reference data ----------------------------------------------------------------------------


def ndc_table(version: str | None = None) -> ir.Table:
    """The `drug_ndc` refdata (latest version unless `version`) as a constant table.

    Columns: ndc11, drug_class, ingredient, strength DECIMAL(9,4), strength_unit,
    is_opioid, oud_treatment, mme_conversion_factor DECIMAL(7,4), drug_ndc_version. The
    CSV holds decimal text; it is read as float64 by `refdata.load` and turned back into
    the shortest decimal that prints as that float (`str(float)`), which is the CSV text.
    """
    chosen = version if version is not None else refdata.versions("drug_ndc")[-1]
    src = refdata.load("drug_ndc", chosen).to_pylist()

    def dec(v: float | None, kind: dt.Decimal) -> str | None:
        if v is None:
            return None
        return str(Decimal(str(v)).quantize(Decimal(1).scaleb(-(kind.scale or 0))))

    # decimals travel as text and are cast in the expression: ibis 12's PySpark backend
    # cannot register a memtable holding null decimals
    t = ibis.memtable(pa.table({
        "ndc11": pa.array([r["ndc11"] for r in src], pa.string()),
        "drug_class": pa.array([r["drug_class"] for r in src], pa.string()),
        "ingredient": pa.array([r["ingredient"] for r in src], pa.string()),
        "strength": pa.array([dec(r["strength"], STRENGTH) for r in src], pa.string()),
        "strength_unit": pa.array([r["strength_unit"] for r in src], pa.string()),
        "is_opioid": pa.array([bool(r["is_opioid"]) for r in src], pa.bool_()),
        "oud_treatment": pa.array([bool(r["oud_treatment"]) for r in src], pa.bool_()),
        "mme_conversion_factor": pa.array(
            [dec(r["mme_conversion_factor"], FACTOR) for r in src], pa.string()),
        "drug_ndc_version": pa.array([chosen] * len(src), pa.string()),
    }))
    return t.mutate(strength=t.strength.cast(STRENGTH),
                    mme_conversion_factor=t.mme_conversion_factor.cast(FACTOR))


def normalize_ndc(col: ir.StringValue) -> ir.StringValue:
    """NDC as 11 digits without dashes.

    Hyphenated 10-digit forms are padded in the short segment (4-4-2 -> 0xxxx-xxxx-xx,
    5-3-2 -> xxxxx-0xxx-xx, 5-4-1 -> xxxxx-xxxx-0x; 5-4-2 stays); anything else just loses
    dashes and spaces (an unhyphenated 10-digit NDC is ambiguous and is left as is, so it
    does not match the refdata).
    """
    s = col.strip()
    parts = s.split("-")
    hyphenated = s.re_search(r"^[0-9]{4,5}-[0-9]{3,4}-[0-9]{1,2}$")
    padded = parts[0].lpad(5, "0") + parts[1].lpad(4, "0") + parts[2].lpad(2, "0")
    return ibis.ifelse(hyphenated, padded, s.replace("-", "").replace(" ", ""))


# -- exact integer arithmetic ------------------------------------------------------------------


def _div_half_up(a: ir.IntegerValue, b: ir.IntegerValue) -> ir.IntegerValue:
    """a / b rounded half up, for a >= 0 and b > 0, exact on both engines.

    a - a % b is a multiple of b, so the division of the two has no remainder; Spark does
    it in DOUBLE, which is exact for integers below 2**53.
    """
    r = a % b
    q = (a - r) // b
    return (q + ibis.ifelse(2 * r >= b, 1, 0)).cast("int64")


def _mme_per_day(strength: ir.DecimalValue, quantity: ir.DecimalValue,
                 days: ir.IntegerValue, factor: ir.DecimalValue) -> ir.DecimalValue:
    """strength x quantity / days x factor, computed exactly, rounded half up to 3 decimals once.

    x = strength x factor x (quantity x 1000) is an exact decimal product (quantity has 3
    decimals, so quantity x 1000 is a whole number, carried as a 32-bit integer so Spark
    types the product DECIMAL(30,8) and never reduces its scale). With X = floor(x),
    f = x - X, r = X mod days: x / days = (X - r) / days + (r + f) / days, the first part a
    whole number of thousandths of an MME and 0 <= (r + f) / days < 1, so the result rounds
    up exactly when 2 (r + f) >= days. Null when quantity is null, negative or 2,000,000 or
    more (outside the exact range), or when strength or factor is null.
    """
    units = (quantity * 1000).cast("int64")
    ok = (quantity >= 0) & (quantity < QUANTITY_LIMIT)
    x = (strength.cast(STRENGTH) * factor.cast(STRENGTH)
         * ibis.ifelse(ok, units, ibis.null("int64")).cast("int32")).cast(EXACT)
    whole = x.floor().cast(EXACT)
    f = (x - whole).cast(EXACT)
    big_x = whole.cast("int64")
    r = big_x % days
    q = (big_x - r) // days
    thousandths = q + ibis.ifelse(2 * (r + f) >= days, 1, 0)
    return _scaled(thousandths, 3)


def _scaled(units: ir.IntegerValue, places: int) -> ir.DecimalValue:
    """units x 10**-places as DECIMAL(18, places), exactly (a multiplication, no division)."""
    kind = dt.Decimal(18, places)
    return (units.cast(kind) * ibis.literal(Decimal(1).scaleb(-places), kind)).cast(kind)


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 flag; null (unknown) counts as 0."""
    return cond.fill_null(False).cast(FLAG)


# -- fills -------------------------------------------------------------------------------------


def _drug_fills(pharmacy_claim: ir.Table, ndc: ir.Table, keep: ir.BooleanValue) -> ir.Table:
    """Pharmacy lines whose normalised NDC is in `ndc` and satisfies `keep`, with fill dates.

    fill_end = dispensing_date + days_supply - 1; null (and invalid_days_supply_flag 1)
    when days_supply is null or <= 0. Never drops a line for its days supply.
    """
    pc = pharmacy_claim.mutate(ndc11=normalize_ndc(pharmacy_claim.ndc_code))
    kept = ndc.filter(keep)
    ref = kept.select("drug_class", "ingredient", "strength", "strength_unit",
                      "mme_conversion_factor", _ref_ndc11=kept.ndc11)
    j = pc.join(ref, pc.ndc11 == ref._ref_ndc11).drop("_ref_ndc11")
    valid = j.days_supply.notnull() & (j.days_supply > 0)
    return j.mutate(
        year=j.dispensing_date.year().cast("int64"),
        fill_start=j.dispensing_date,
        fill_end=ibis.ifelse(valid, _as_date(
            j.dispensing_date + (j.days_supply - 1).as_interval("D")), ibis.null("date")),
        invalid_days_supply_flag=_flag(~valid),
        days_supply_over_cap_flag=_flag(j.days_supply > MAX_DAYS_SUPPLY),
    )


def opioid_fills(pharmacy_claim: ir.Table, ndc: ir.Table) -> ir.Table:
    """One row per opioid fill (is_opioid and not oud_treatment), with MME per day.

    mme_per_day = strength x quantity / days_supply x mme_conversion_factor as
    DECIMAL(18,3), computed exactly and rounded half up once; null when days_supply is null
    or <= 0 (invalid_days_supply_flag 1; the fill is kept), when quantity is null, or when
    the NDC has no conversion factor. NDCs not in the refdata are not opioid fills.
    """
    fills = _drug_fills(pharmacy_claim, ndc, ndc.is_opioid & ~ndc.oud_treatment)
    mme = _mme_per_day(fills.strength, fills.quantity, fills.days_supply,
                       fills.mme_conversion_factor)
    fills = fills.mutate(
        mme_per_day=ibis.ifelse(fills.invalid_days_supply_flag == 0, mme, ibis.null(MME)))
    return fills.select(*OPIOID_FILL_COLUMNS)


def benzodiazepine_fills(pharmacy_claim: ir.Table, ndc: ir.Table) -> ir.Table:
    """One row per benzodiazepine fill (drug_class 'benzodiazepine'), same columns as
    `opioid_fills` without the MME ones."""
    fills = _drug_fills(pharmacy_claim, ndc, ndc.drug_class == BENZODIAZEPINE)
    return fills.select(*FILL_COLUMNS)


def ndc_coverage(pharmacy_claim: ir.Table, ndc: ir.Table) -> ir.Table:
    """One row: pharmacy lines, lines whose normalised NDC is (not) in the refdata, and the
    unknown share as DECIMAL(18,4) (half up; null without lines). A null NDC is unknown."""
    pc = pharmacy_claim.mutate(ndc11=normalize_ndc(pharmacy_claim.ndc_code))
    known = ndc.select(_known=ndc.ndc11).distinct()
    j = pc.left_join(known, pc.ndc11 == known._known)
    totals = j.aggregate(
        pharmacy_lines=j.count().cast("int64"),
        unknown_ndc_lines=_flag(j._known.isnull()).sum().fill_null(0).cast("int64"),
    )
    share = _ratio(totals.unknown_ndc_lines, totals.pharmacy_lines, 4)
    return totals.mutate(
        known_ndc_lines=totals.pharmacy_lines - totals.unknown_ndc_lines,
        unknown_ndc_share=share,
    ).select("pharmacy_lines", "known_ndc_lines", "unknown_ndc_lines", "unknown_ndc_share")


def _ratio(num: ir.IntegerValue, den: ir.IntegerValue, places: int) -> ir.DecimalValue:
    """num / den rounded half up to `places` decimals as DECIMAL(18, places); null if den 0."""
    kind = dt.Decimal(18, places)
    units = _div_half_up(num * 10**places, ibis.ifelse(den > 0, den, 1))
    value = _scaled(units, places)
    return ibis.ifelse(den > 0, value, ibis.null(kind)).cast(kind)


# -- days --------------------------------------------------------------------------------------


def _offsets() -> ir.Table:
    return ibis.memtable(pa.table({"day_offset": pa.array(range(MAX_DAYS_SUPPLY), pa.int64())}))


def fill_days(fills: ir.Table) -> ir.Table:
    """Each fill with a valid days supply joined to the days it covers (`day`), at most
    MAX_DAYS_SUPPLY days: one row per fill x day."""
    valid = fills.filter(fills.invalid_days_supply_flag == 0)
    off = _offsets()
    j = valid.join(off, off.day_offset < valid.days_supply)
    return j.mutate(day=j.fill_start + j.day_offset.as_interval("D")).drop("day_offset")


def daily_mme(opioid_fills: ir.Table) -> ir.Table:
    """One row per person x day covered by an opioid fill: daily_mme (DECIMAL(18,3), the sum
    of mme_per_day of every fill covering the day, overlapping fills summed; a fill with a
    null mme_per_day adds 0) and fill_count (fills covering the day)."""
    d = fill_days(opioid_fills)
    out = d.group_by(["person_id", "day"]).aggregate(
        daily_mme=d.mme_per_day.sum().fill_null(ibis.literal(0, MME)).cast(MME),
        fill_count=d.count().cast("int64"),
    )
    return out.order_by(["person_id", "day"])


# -- members -----------------------------------------------------------------------------------


def _intervals(fills: ir.Table, *keys: str) -> ir.Table:
    """The days each valid fill covers as integer day numbers [_s, _e] (days since
    1970-01-01), at most MAX_DAYS_SUPPLY days, with `keys` and _mme (null counts 0)."""
    valid = fills.filter(fills.invalid_days_supply_flag == 0)
    start = valid.fill_start.delta(ibis.date(1970, 1, 1), unit="day").cast("int64")
    days = ibis.least(valid.days_supply.cast("int64"), MAX_DAYS_SUPPLY)
    cols = {k: valid[k] for k in keys}
    if "mme_per_day" in valid.columns:
        cols["_mme"] = valid.mme_per_day.fill_null(ibis.literal(0, MME)).cast(MME)
    return valid.select(**cols, _s=start, _e=start + days - 1)


def _islands(iv: ir.Table, keys: list[str]) -> ir.Table:
    """Intervals merged per `keys` into disjoint islands [_s, _e] (gaps and islands: an
    interval opens a new island when it starts after every earlier one has ended)."""
    order = [iv._s, iv._e]
    before = ibis.window(group_by=[iv[k] for k in keys], order_by=order, rows=(None, -1))
    t = iv.mutate(_new=_flag(iv._s > iv._e.max().over(before).fill_null(-(2**40)) + 1))
    t = t.mutate(_island=t._new.cumsum(group_by=[t[k] for k in keys], order_by=[t._s, t._e]))
    return t.group_by([*keys, "_island"]).aggregate(_s=t._s.min(), _e=t._e.max()).drop(
        "_island")


def _mme_segments(iv: ir.Table) -> ir.Table:
    """Per person, runs of days [_seg_s, _seg_e] at a constant daily MME (_level): the sum
    of mme_per_day of the fills covering each day, from a sweep over the days fills start
    (+ MME) and end (- MME the day after)."""
    starts = iv.select("person_id", _day=iv._s, _delta=iv._mme)
    ends = iv.select("person_id", _day=iv._e + 1, _delta=(-iv._mme).cast(MME))
    events = starts.union(ends, distinct=False)
    per_day = events.group_by(["person_id", "_day"]).aggregate(
        _delta=events._delta.sum().cast(MME))
    w = ibis.window(group_by=per_day.person_id, order_by=per_day._day)
    seg = per_day.mutate(
        _level=per_day._delta.sum().over(ibis.window(group_by=per_day.person_id,
                                                     order_by=per_day._day,
                                                     rows=(None, 0))).cast(MME),
        _next=per_day._day.lead().over(w))
    seg = seg.filter(seg._next.notnull())
    return seg.select(_p=seg.person_id, _seg_s=seg._day, _seg_e=seg._next - 1,
                      _level=seg._level)


def opioid_members(opioid_fills: ir.Table, benzodiazepine_fills: ir.Table) -> ir.Table:
    """One row per person x payer x year with at least one opioid fill dispensed that year.

    The year and payer are those of the fills (dispensing year; pharmacy claims carry the
    payer). Day measures look at the days covered by those fills (which may run into the
    next year), valued with the person's daily MME over all their fills (every payer):

    opioid_fill_count, invalid_days_supply_fill_count, opioid_days, max_daily_mme,
    days_at_or_above_50, days_at_or_above_90, any_50_flag, any_90_flag (>= 50 / >= 90
    MME/day on any day; exactly 90 counts), opioid_benzo_overlap_days (covered days on
    which a benzodiazepine fill of the person, any payer, also covers the day).

    Computed on intervals, never one row per day: the payer-year's covered days are its
    fills merged into disjoint islands; the person's daily MME is a set of constant runs
    (a sweep over fill starts and ends); days at a level are the overlaps of the two.
    The same values as counting day by day with `daily_mme` (tested).
    """
    f = opioid_fills
    keys = ["person_id", "payer", "year"]
    counts = f.group_by(keys).aggregate(
        opioid_fill_count=f.count().cast("int64"),
        invalid_days_supply_fill_count=f.invalid_days_supply_flag.sum().cast("int64"),
    )
    iv = _intervals(f, *keys)
    islands = _islands(iv, keys)
    days = islands.group_by(keys).aggregate(opioid_days=(islands._e - islands._s + 1).sum())

    seg = _mme_segments(iv)
    j = islands.join(seg, [islands.person_id == seg._p, seg._seg_s <= islands._e,
                           seg._seg_e >= islands._s])
    overlap = ibis.least(j._e, j._seg_e) - ibis.greatest(j._s, j._seg_s) + 1
    levels = j.group_by(keys).aggregate(
        max_daily_mme=j._level.max().cast(MME),
        days_at_or_above_50=ibis.ifelse(j._level >= MME_50, overlap, 0).sum(),
        days_at_or_above_90=ibis.ifelse(j._level >= MME_90, overlap, 0).sum(),
    )

    bz = _islands(_intervals(benzodiazepine_fills, "person_id"), ["person_id"])
    bz = bz.select(_bp=bz.person_id, _bs=bz._s, _be=bz._e)
    jb = islands.join(bz, [islands.person_id == bz._bp, bz._bs <= islands._e,
                           bz._be >= islands._s])
    benzo = jb.group_by(keys).aggregate(opioid_benzo_overlap_days=(
        ibis.least(jb._e, jb._be) - ibis.greatest(jb._s, jb._bs) + 1).sum())

    out = counts
    for part in (days, levels, benzo):
        p = part.rename({f"_x_{k}": k for k in keys})
        out = out.left_join(p, [out.person_id == p._x_person_id,
                                out.payer.identical_to(p._x_payer), out.year == p._x_year])
        out = out.drop(*(f"_x_{k}" for k in keys))
    zero = ibis.literal(0, "int64")
    out = out.mutate(
        opioid_days=out.opioid_days.fill_null(zero).cast("int64"),
        days_at_or_above_50=out.days_at_or_above_50.fill_null(zero).cast("int64"),
        days_at_or_above_90=out.days_at_or_above_90.fill_null(zero).cast("int64"),
        opioid_benzo_overlap_days=out.opioid_benzo_overlap_days.fill_null(zero).cast("int64"),
    )
    out = out.mutate(any_50_flag=_flag(out.days_at_or_above_50 > 0),
                     any_90_flag=_flag(out.days_at_or_above_90 > 0))
    columns = [*keys, "opioid_fill_count", "invalid_days_supply_fill_count", "opioid_days",
               "max_daily_mme", "days_at_or_above_50", "days_at_or_above_90", "any_50_flag",
               "any_90_flag", "opioid_benzo_overlap_days"]
    return out.select(*columns).order_by(keys)


def opioid_summary(opioid_members: ir.Table, member_months: ir.Table) -> ir.Table:
    """One row per payer x year found in the opioid members or in member_months.

    members_with_opioid_fill, members_at_or_above_50, members_at_or_above_90,
    members_with_benzo_overlap, opioid_fills, member_months (rows of member_months, as
    person_years counts them), member_years (member_months / 12, DECIMAL(18,4)),
    opioid_fills_per_1000 (opioid_fills x 1000 / member_years = opioid_fills x 12000 /
    member_months, DECIMAL(18,1) half up, null without member months) and high_dose_rate
    (members_at_or_above_90 / members_with_opioid_fill, DECIMAL(18,4) half up, null
    without opioid members).
    """
    m = opioid_members
    op = m.group_by(["payer", "year"]).aggregate(
        members_with_opioid_fill=m.person_id.nunique().cast("int64"),
        members_at_or_above_50=m.person_id.nunique(where=m.any_50_flag == 1).cast("int64"),
        members_at_or_above_90=m.person_id.nunique(where=m.any_90_flag == 1).cast("int64"),
        members_with_benzo_overlap=m.person_id.nunique(
            where=m.opioid_benzo_overlap_days > 0).cast("int64"),
        opioid_fills=m.opioid_fill_count.sum().cast("int64"),
    )
    mm = member_months
    den = mm.group_by(["payer", "year"]).aggregate(member_months=mm.count().cast("int64"))
    den = den.mutate(year=den.year.cast("int64"))
    keys = op.select("payer", "year").union(den.select("payer", "year")).distinct()
    o = op.rename({"_o_payer": "payer", "_o_year": "year"})
    d = den.rename({"_d_payer": "payer", "_d_year": "year"})
    j = keys.left_join(o, [keys.payer.identical_to(o._o_payer), keys.year == o._o_year])
    j = j.left_join(d, [j.payer.identical_to(d._d_payer), j.year == d._d_year])
    zero = ibis.literal(0, "int64")
    counts = ["members_with_opioid_fill", "members_at_or_above_50", "members_at_or_above_90",
              "members_with_benzo_overlap", "opioid_fills", "member_months"]
    j = j.mutate(**{c: j[c].fill_null(zero) for c in counts})
    j = j.mutate(
        member_years=_months_to_years(j.member_months),
        opioid_fills_per_1000=_ratio(j.opioid_fills * 12000, j.member_months, 1),
        high_dose_rate=_ratio(j.members_at_or_above_90, j.members_with_opioid_fill, 4),
    )
    j = j.mutate(opioid_fills_per_1000=j.opioid_fills_per_1000.cast(PER_1000),
                 high_dose_rate=j.high_dose_rate.cast(RATE))
    return j.select("payer", "year", *counts, "member_years", "opioid_fills_per_1000",
                    "high_dose_rate").order_by(["payer", "year"])


# -- registry-shaped builds (pure functions of canonical tables / marts) ------------------------


def _as_date(day: ir.DateValue) -> ir.DateValue:
    """A date + interval as a DATE on both engines: DuckDB computes a TIMESTAMP (at
    midnight) where Spark keeps a DATE, and Ibis, typing both as date, drops a plain cast;
    going through the ISO text forces it."""
    return day.cast("string").left(10).cast("date")


def build_opioid_fills(pharmacy_claim: ir.Table) -> ir.Table:
    """`opioid_fills` against the latest refdata, sorted."""
    return opioid_fills(pharmacy_claim, ndc_table()).order_by(
        ["person_id", "dispensing_date", "data_source", "claim_id", "claim_line_number"])


def build_opioid_members(opioid_fills_table: ir.Table, pharmacy_claim: ir.Table) -> ir.Table:
    """`opioid_members` from the opioid_fills mart (read, not recomputed: the day measures
    read the fills several times, each a pass over every pharmacy claim otherwise) and the
    benzodiazepine fills of the pharmacy claims, against the latest refdata."""
    return opioid_members(opioid_fills_table.select(*OPIOID_FILL_COLUMNS),
                          benzodiazepine_fills(pharmacy_claim, ndc_table()))


def build_opioid_summary(opioid_members_table: ir.Table, member_months: ir.Table) -> ir.Table:
    """`opioid_summary` (inputs: the opioid_members mart and member_months)."""
    return opioid_summary(opioid_members_table, member_months)
