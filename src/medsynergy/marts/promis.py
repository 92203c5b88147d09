"""promis: PROMIS Global Health (Global-10 v1.2) T-scores and change from each member's baseline.

Rule (issue "Measures", mart 9; docs/marts/promis.md): "PROMIS Global Health raw scores to
T-scores (published conversion tables as refdata), change from each member's baseline."

Observations are read by LOINC code (refdata `promis_global_health` README):

| LOINC | scale | what |
|---|---|---|
| 71972-4 | physical | Global Physical Health raw score (4-20) |
| 71971-6 | physical | Global Physical Health T-score |
| 71970-8 | mental | Global Mental Health raw score (4-20) |
| 71969-0 | mental | Global Mental Health T-score |

A raw score is converted with the published table (refdata, PROMIS Global Health scoring
manual); a T-score given without a raw score is kept as reported. Set-based (windows,
grouped aggregates, one small constant lookup table), so it compiles on DuckDB and Spark.
Scores are DECIMAL(18,2): exact, no float arithmetic anywhere.
"""

from __future__ import annotations

from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from medsynergy import refdata

SCORE = dt.Decimal(18, 2)
SHARE = dt.Decimal(18, 4)
PARSED = dt.Decimal(18, 3)
FLAG = "int64"

#: scale -> (raw score LOINC, T-score LOINC)
LOINC: dict[str, tuple[str, str]] = {
    "physical": ("71972-4", "71971-6"),
    "mental": ("71970-8", "71969-0"),
}

#: Minimally important difference in T-score points for the summary's improved/worsened
#: shares. Published estimates for PROMIS T-score measures are about 2 to 3 points (the
#: lower end of the 2-6 point range usually quoted for PROMIS); we use the upper end, 3, by
#: default so an "improved" member has clearly moved. A parameter of `promis_summary`.
MINIMALLY_IMPORTANT_DIFFERENCE = Decimal("3")

COLUMNS = ("person_id", "observation_date", "year", "scale", "source", "raw_result",
           "raw_score", "reported_t_score", "t_score", "out_of_range_flag", "baseline_date",
           "baseline_t_score", "change_from_baseline", "is_baseline")


def conversion_table(version: str | None = None) -> ir.Table:
    """The refdata raw -> T-score table as a constant Ibis table (_scale, _raw, _t).

    T-scores are read from their published text form into exact decimals here, in Python,
    so no engine ever converts a float.
    """
    t = refdata.load("promis_global_health", version).to_pydict()
    return ibis.memtable(pa.table({
        "_scale": pa.array(t["scale"], pa.string()),
        "_raw": pa.array([int(r) for r in t["raw_score"]], pa.int64()),
        "_t": pa.array([Decimal(str(v)).quantize(Decimal("0.01")) for v in t["t_score"]],
                       pa.decimal128(18, 2)),
    }))


def _code_cases(code: ir.StringValue, pick: int) -> ir.StringValue:
    """The scale (pick=0) or the kind, 'raw' / 't' (pick=1), of a PROMIS LOINC code."""
    branches: list[tuple[str, str]] = []
    for scale, (raw, t) in LOINC.items():
        branches += [(raw, scale if pick == 0 else "raw"), (t, scale if pick == 0 else "t")]
    return code.cases(*branches, else_=ibis.null("string"))


def _promis_rows(observation: ir.Table) -> ir.Table:
    """PROMIS Global Health observations, one per person x date x scale x kind.

    The code is normalized_code when given, else source_code. When a person has several
    rows of one code on one date, the latest load wins (ingest_datetime), then the lowest
    data_source and observation_id, so the choice is deterministic.
    """
    o = observation
    code = o.normalized_code.strip().nullif("").fill_null(o.source_code.strip())
    t = o.mutate(_code=code)
    t = t.mutate(scale=_code_cases(t._code, 0), _kind=_code_cases(t._code, 1))
    t = t.filter(t.scale.notnull() & t.person_id.notnull() & t.observation_date.notnull())
    w = ibis.window(group_by=[t.person_id, t.observation_date, t.scale, t._kind],
                    order_by=[t.ingest_datetime.desc(nulls_first=False), t.data_source.asc(),
                              t.observation_id.asc()])
    t = t.mutate(_rank=ibis.row_number().over(w))
    t = t.filter(t._rank == 0)
    text = t.result.strip()
    value = text.try_cast(PARSED)
    integral = value == value.cast("int64").cast(PARSED)
    raw = ibis.ifelse((t._kind == "raw") & integral.fill_null(False), value.cast("int64"),
                      ibis.null("int64"))
    return t.select(
        "person_id", "observation_date", "scale", "_kind",
        _text=text,
        _raw=raw,
        _reported=ibis.ifelse(t._kind == "t", text.try_cast(SCORE), ibis.null(SCORE)),
    )


def promis_scores(observation: ir.Table) -> ir.Table:
    """One row per person x observation_date x scale (physical, mental) with its T-score.

    t_score: from the refdata table when a raw score is given (source 'table'), else the
    reported T-score (source 'reported'). A raw score the table does not have (outside 4-20,
    not a whole number, not a number) is kept: raw_result as given, t_score null,
    out_of_range_flag 1 (also 1 for a reported T-score that is not a number). The baseline
    is the member's first scored observation of the scale; change_from_baseline =
    t_score - baseline_t_score (0 on the baseline, null before it or when unscored).
    """
    r = _promis_rows(observation)
    lookup = conversion_table()
    j = r.left_join(lookup, [r.scale == lookup._scale, r._raw == lookup._raw])
    is_raw = j._kind == "raw"
    s = j.group_by(["person_id", "observation_date", "scale"]).aggregate(
        _has_raw=is_raw.cast(FLAG).max(),
        raw_result=ibis.ifelse(is_raw, j._text, ibis.null("string")).max(),
        raw_score=ibis.ifelse(is_raw, j._raw, ibis.null("int64")).max(),
        _table_t=ibis.ifelse(is_raw, j._t, ibis.null(SCORE)).max(),
        reported_t_score=j._reported.max(),
    )
    from_table = s._has_raw == 1
    s = s.mutate(
        source=ibis.ifelse(from_table, "table", "reported"),
        t_score=ibis.ifelse(from_table, s._table_t, s.reported_t_score).cast(SCORE),
    )
    s = s.mutate(out_of_range_flag=s.t_score.isnull().cast(FLAG))
    member = ibis.window(group_by=[s.person_id, s.scale])
    s = s.mutate(baseline_date=ibis.ifelse(s.t_score.notnull(), s.observation_date,
                                           ibis.null("date")).min().over(member))
    at_baseline = (s.observation_date == s.baseline_date).fill_null(False)
    s = s.mutate(baseline_t_score=ibis.ifelse(at_baseline, s.t_score, ibis.null(SCORE))
                 .max().over(member).cast(SCORE),
                 is_baseline=at_baseline.cast(FLAG))
    s = s.mutate(change_from_baseline=(s.t_score - s.baseline_t_score).cast(SCORE),
                 year=s.observation_date.year().cast(FLAG))
    return s.select(*COLUMNS).order_by(["person_id", "scale", "observation_date"])


def _floor_div(x: ir.IntegerValue, y: ir.IntegerValue) -> ir.IntegerValue:
    """floor(x / y) for x >= 0, y > 0, exact on every engine.

    Spark compiles integer `//` as FLOOR(x / y) in DOUBLE, which can be one off for large
    values; the remainder, computed in integers, corrects it.
    """
    q = x // y
    r = x - q * y
    return (q + ibis.ifelse(r >= y, 1, 0) - ibis.ifelse(r < 0, 1, 0)).cast("int64")


def _ratio(numerator: ir.IntegerValue, denominator: ir.IntegerValue, places: int,
           to: dt.Decimal) -> ir.DecimalValue:
    """numerator / denominator rounded half away from zero to `places` decimals, exactly.

    Computed in integers (units of 10^-places) and turned into a decimal by an exact
    multiplication: no engine divides decimals in DOUBLE here.
    """
    scaled = numerator * (10 ** places)
    units = _floor_div(2 * scaled.abs() + denominator, 2 * denominator)
    signed = ibis.ifelse(scaled < 0, -units, units)
    step = ibis.literal(Decimal(1).scaleb(-places), to)
    return (signed.cast(to) * step).cast(to)


def promis_summary(promis_scores_table: ir.Table,
                   mid: Decimal = MINIMALLY_IMPORTANT_DIFFERENCE) -> ir.Table:
    """Per scale x year: members followed up, their mean change, shares improved / worsened.

    A member counts in a year when they have a scored observation that year after their
    baseline (so at least two scored observations, the baseline included); their latest such
    observation in the year gives their change. mean_change is DECIMAL(18,2) (half away
    from zero); improved: change >= mid, worsened: change <= -mid (mid in T-score points).
    """
    s = promis_scores_table
    follow = s.filter(s.t_score.notnull() & (s.observation_date > s.baseline_date))
    w = ibis.window(group_by=[follow.person_id, follow.scale, follow.year],
                    order_by=[follow.observation_date.desc()])
    follow = follow.mutate(_rank=ibis.row_number().over(w))
    last = follow.filter(follow._rank == 0)
    hundredths = (last.change_from_baseline * 100).cast("int64")
    m = ibis.literal(mid, SCORE)
    one, zero = ibis.literal(1, FLAG), ibis.literal(0, FLAG)
    g = last.mutate(_h=hundredths,
                    _up=ibis.ifelse(last.change_from_baseline >= m, one, zero),
                    _down=ibis.ifelse(last.change_from_baseline <= -m, one, zero))
    out = g.group_by(["scale", "year"]).aggregate(
        members=g.count().cast(FLAG),
        _sum_h=g._h.sum().cast(FLAG),
        improved_members=g._up.sum().cast(FLAG),
        worsened_members=g._down.sum().cast(FLAG),
    )
    out = out.mutate(
        mean_change=_ratio(out._sum_h, out.members * 100, 2, SCORE),
        share_improved=_ratio(out.improved_members, out.members, 4, SHARE),
        share_worsened=_ratio(out.worsened_members, out.members, 4, SHARE),
        minimally_important_difference=m,
    )
    return out.select("scale", "year", "members", "mean_change", "improved_members",
                      "share_improved", "worsened_members", "share_worsened",
                      "minimally_important_difference").order_by(["scale", "year"])
