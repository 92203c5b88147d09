"""Bundled episodes (issue "Payment models", model 3), modelled on CMS CJR (42 CFR part 510)
and BPCI Advanced where the issue is silent; docs/bundles.md has every rule, its source and
worked examples.

Episodes (anchor + post-discharge window, overlaps, spend by service category, initiator)
are built in `bundles_episodes.py`. Here:

* Baseline. Per definition, the episodes of `baseline_years` are capped at the
  high-cost cap of their own distribution (`winsorize`: the 99th percentile by default,
  as BPCI Advanced; any percentile; or mean + 2 SD, CJR's high episode payment ceiling,
  510.300). Their mean capped spend times `trend` times (1 - effective discount) is the
  definition's target price (CJR 510.300: historical episode payments, updated, less
  the discount). The effective discount
  is `discount` less the reduction of the highest quality tier the quality score meets
  (CJR 510.315: the composite quality score lowers the effective discount).
* Case mix (optional). An episode's target is the target price times its case-mix factor
  divided by the mean factor of the baseline episodes, so the baseline averages 1 and a
  sicker or older performance mix raises the target (BPCI Advanced patient case-mix
  adjustment, in a multiplicative form; bundles_episodes.CaseMix).
* Performance. The episodes of the performance `year` are capped the same way, at the cap
  of the performance episodes' own distribution (CJR 510.305: performance-period episode
  payments are capped like the baseline's).
* Reconciliation per initiator, over its definitions with a target: target - capped
  spend, limited to +`stop_gain` x its target (a payment) and -`stop_loss` x its target
  (a repayment) (CJR 510.305: stop-gain and stop-loss limits as a percentage of the
  target amount).

Sign convention (as in corridor.py): gross savings = total target - total capped spend
(negative: losses). `to_provider` is what the payer pays the initiators (negative: what
they repay), the sum of the limited per-initiator amounts; `to_payer` = gross savings -
to_provider (the part of the savings or losses the limits leave with the payer). They add
up to the gross savings, to the cent. Definitions without a target (no baseline episodes)
are reported but not settled.

Money stays exact: spend is DECIMAL(18,2); caps, means and targets are `Decimal`s; the
settlement rounds once, to the cent. The `capped_spend` and `target` columns of the units
are rounded to the cent for display only: `settle` recomputes both from spend and the
case-mix factor exactly (and recomputes the performance cap from the units it is given,
so a bootstrap resample is capped by its own distribution)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Annotated, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from medsynergy.contracts.bind import Prepared, Run, Tables
from medsynergy.contracts.bundles_episodes import (
    CATEGORIES,
    FULL_DUAL,
    PARTIAL_DUAL,
    CaseMix,
    EpisodeDef,
    episodes,
    max_anchors,
)
from medsynergy.contracts.result import (
    CENT,
    Reconciliation,
    Step,
    allocate_cents,
    inputs_of,
    to_cents,
)
from medsynergy.contracts.terms import Strict
from medsynergy.errors import ConfigError

SOURCE_TARGET = "CJR 42 CFR 510.300 (target price, discount); BPCI Advanced target price"
SOURCE_CAP = ("CJR 42 CFR 510.300 (high episode payment ceiling: mean + 2 SD), 510.305; "
              "BPCI Advanced (99th percentile)")
SOURCE_QUALITY = "CJR 42 CFR 510.315 (quality score sets the effective discount)"
SOURCE_CASE_MIX = "BPCI Advanced patient case-mix adjustment (multiplicative here)"
SOURCE_LIMITS = "CJR 42 CFR 510.305 (stop-gain and stop-loss limits)"
SOURCE_TERMS = "contract terms: bundled episodes"

PERCENTILE_99 = Decimal("0.99")
MONEY_TYPE = pa.decimal128(18, 2)
#: exact case-mix factors: three factors of at most 6 decimals (risk part: 9)
FACTOR_TYPE = pa.decimal128(32, 21)
ZERO = Decimal(0)

Percentile = Annotated[Decimal, Field(gt=0, lt=1)]


class QualityTier(Strict):
    """At or above `at_least`, the discount is lowered by `discount_reduction`."""

    at_least: Decimal
    discount_reduction: Decimal = Field(ge=0, le=1)


class Quality(Strict):
    """The contract's quality score and the tiers that lower the discount (the highest
    tier the score meets applies; none met: the full discount)."""

    score: Decimal
    tiers: tuple[QualityTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> Quality:
        levels = [t.at_least for t in self.tiers]
        if len(set(levels)) != len(levels):
            raise ValueError("tiers: each at_least may appear once")
        return self

    def reduction(self) -> Decimal:
        met = [t for t in self.tiers if self.score >= t.at_least]
        return max(met, key=lambda t: t.at_least).discount_reduction if met else ZERO


class BundleSpec(Strict):
    model: Literal["bundled_episodes"]
    name: str
    episodes: tuple[EpisodeDef, ...] = Field(min_length=1)
    baseline_years: tuple[int, ...] = Field(min_length=1)
    #: the factor from the baseline to the performance period, applied once
    trend: Decimal = Field(gt=0)
    discount: Decimal = Field(ge=0, lt=1)
    #: the high-cost cap: 'p99', 'mean_2sd', or a percentile as a fraction (0.95)
    winsorize: Literal["p99", "mean_2sd"] | Percentile = "p99"
    #: fewer baseline episodes: no target for the definition (BPCI Advanced asks 41)
    min_baseline_episodes: int = Field(default=1, ge=1)
    case_mix: CaseMix | None = None
    quality: Quality | None = None
    #: fractions of the initiator's target; null: no limit
    stop_loss: Decimal | None = Field(ge=0, le=1)
    stop_gain: Decimal | None = Field(ge=0, le=1)
    basis: Literal["paid", "allowed"] = "paid"

    @model_validator(mode="after")
    def _unique(self) -> BundleSpec:
        ids = [d.id for d in self.episodes]
        if len(set(ids)) != len(ids):
            raise ValueError("episodes: each id may appear once")
        if len(set(self.baseline_years)) != len(self.baseline_years):
            raise ValueError("baseline_years: each year may appear once")
        return self

    def effective_discount(self) -> Decimal:
        reduction = self.quality.reduction() if self.quality is not None else ZERO
        return max(self.discount - reduction, ZERO)


# -- caps ------------------------------------------------------------------------------------


def winsor_cap(spend: pa.Array | pa.ChunkedArray, rule: str | Decimal) -> Decimal | None:
    """The high-cost cap of a set of episode spends (None when there are none).

    A percentile p is interpolated linearly between the order statistics at rank
    h = (n - 1) p, counted from 0 (Hyndman-Fan type 7, numpy's and Excel PERCENTILE.INC's
    default): exact in Decimal. 'mean_2sd' is the mean plus twice the sample standard
    deviation (divisor n - 1, SAS's default VARDEF=DF); 0 SD for a single episode."""
    n = len(spend)
    if n == 0:
        return None
    if rule == "mean_2sd":
        total = Decimal(pc.sum(spend).as_py())
        squares = Decimal(pc.sum(pc.multiply(spend, spend)).as_py())
        mean = total / n
        if n == 1:
            return mean
        variance = (n * squares - total * total) / (n * (n - 1))
        return mean + 2 * variance.sqrt()
    p = PERCENTILE_99 if rule == "p99" else Decimal(rule)
    ordered = pc.take(spend, pc.sort_indices(spend))
    h = (n - 1) * p
    lo = int(h.to_integral_value(rounding=ROUND_FLOOR))
    x_lo = Decimal(ordered[lo].as_py())
    x_hi = Decimal(ordered[min(lo + 1, n - 1)].as_py())
    return x_lo + (h - lo) * (x_hi - x_lo)


def _over(spend: pa.Array | pa.ChunkedArray, cap: Decimal) -> pa.Array:
    """spend > cap, for spends in whole cents: the same as spend > cap cut down to the
    cent (a scalar that fits the column's type)."""
    floor = cap.quantize(CENT, rounding=ROUND_FLOOR)
    return pc.greater(spend, pa.scalar(floor, pa.decimal128(38, 2)))


def capped_total(spend: pa.Array | pa.ChunkedArray, cap: Decimal | None) -> Decimal:
    """Exact sum of min(spend, cap): the spends up to the cap plus the cap for each one
    above it."""
    total = Decimal(pc.sum(spend).as_py() or 0)
    if cap is None or len(spend) == 0:
        return total
    over = _over(spend, cap)
    n_over = int(pc.sum(over.cast(pa.int64())).as_py() or 0)
    above = Decimal(pc.sum(pc.filter(spend, over)).as_py() or 0)
    return total - above + n_over * cap


def _capped_display(spend: pa.Array | pa.ChunkedArray, cap: Decimal | None) -> pa.Array:
    if cap is None:
        return pc.cast(spend, MONEY_TYPE)
    return pc.if_else(_over(spend, cap), pa.scalar(to_cents(cap), MONEY_TYPE),
                      pc.cast(spend, MONEY_TYPE))


# -- case mix --------------------------------------------------------------------------------


def _dec(value: Decimal, digits: int, scale: int) -> pa.Scalar:
    return pa.scalar(value, pa.decimal128(digits + scale, scale))


def case_mix_factors(table: pa.Table, case_mix: CaseMix | None) -> pa.Array:
    """Each episode's raw case-mix factor (exact, FACTOR_TYPE): age band factor x dual
    factor x ((1 - w) + w x risk score). No band for the age (or no age): 1; no risk
    score: 1 (noted by the caller); 1 for every episode without a case mix."""
    n = table.num_rows
    one = _dec(Decimal(1), 3, 6)
    if case_mix is None or n == 0:
        return pa.array([Decimal(1)] * n, FACTOR_TYPE) if n else pa.array([], FACTOR_TYPE)
    age = table["age"]
    age_f = pa.array([Decimal(1)] * n, pa.decimal128(9, 6))
    for band in case_mix.age_bands:   # bands increase: the last one reached applies
        reached = pc.fill_null(pc.greater_equal(age, band.from_age), False)
        age_f = pc.if_else(reached, _dec(band.factor, 3, 6), age_f)
    dual = table["dual_status_code"]
    dual_f = pc.if_else(pc.fill_null(pc.is_in(dual, pa.array(FULL_DUAL)), False),
                        _dec(case_mix.full_dual, 3, 6),
                        pc.if_else(pc.fill_null(pc.is_in(dual, pa.array(PARTIAL_DUAL)), False),
                                   _dec(case_mix.partial_dual, 3, 6), one))
    w = case_mix.risk_weight
    score = pc.fill_null(pc.cast(table["risk_score"], pa.decimal128(10, 3)),
                         pa.scalar(Decimal(1), pa.decimal128(10, 3)))
    risk_f = pc.add(_dec(1 - w, 1, 6), pc.multiply(_dec(w, 1, 6), score))
    risk_f = pc.cast(risk_f, pa.decimal128(13, 9))
    both = pc.cast(pc.multiply(pc.cast(age_f, pa.decimal128(9, 6)),
                               pc.cast(dual_f, pa.decimal128(9, 6))), pa.decimal128(18, 12))
    return pc.cast(pc.multiply(both, risk_f), FACTOR_TYPE)


# -- baseline --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A definition's target from its baseline: an episode's target is
    price x case-mix factor / normaliser."""

    definition_id: str
    price: Decimal
    normaliser: Decimal
    baseline_cap: Decimal | None


@dataclass(frozen=True)
class Baseline:
    targets: Mapping[str, Target]
    steps: tuple[Step, ...]
    notes: tuple[str, ...]


def _of(table: pa.Table, definition_id: str) -> pa.Table:
    return table.filter(pc.equal(table["definition_id"], definition_id))


def baseline_targets(spec: BundleSpec, base: pa.Table) -> Baseline:
    """Target price per definition from its baseline episodes (`base`: rows of
    `episodes` with a `case_mix_factor` column)."""
    steps: list[Step] = []
    notes: list[str] = []
    eff = spec.effective_discount()
    steps.append(Step("trend", spec.trend, "baseline to performance period, applied once",
                      SOURCE_TARGET))
    steps.append(Step("discount", spec.discount, "discount in the contract", SOURCE_TARGET))
    if spec.quality is not None:
        steps.append(Step("quality_score", spec.quality.score, "quality score in the contract",
                          SOURCE_QUALITY))
        steps.append(Step("discount_reduction", spec.quality.reduction(),
                          "reduction of the highest quality tier the score meets (0: none)",
                          SOURCE_QUALITY))
    steps.append(Step("effective_discount", eff, "discount - quality reduction (at least 0)",
                      SOURCE_QUALITY if spec.quality is not None else SOURCE_TARGET))
    targets: dict[str, Target] = {}
    for d in spec.episodes:   # a few definitions
        rows = _of(base, d.id)
        n = rows.num_rows
        steps.append(Step(f"{d.id}_baseline_episodes", n,
                          f"episodes ending in {_years(spec.baseline_years)}", SOURCE_TARGET))
        if n < spec.min_baseline_episodes:
            notes.append(f"{d.id}: {n} baseline episodes (at least "
                         f"{spec.min_baseline_episodes} needed): no target; its performance "
                         "episodes are shown, not settled")
            continue
        cap = winsor_cap(rows["spend"], spec.winsorize)
        assert cap is not None   # n >= 1
        total = Decimal(pc.sum(rows["spend"]).as_py())
        capped = capped_total(rows["spend"], cap)
        mean = capped / n
        price = mean * spec.trend * (1 - eff)
        normaliser = Decimal(pc.sum(rows["case_mix_factor"]).as_py()) / n
        steps += [
            Step(f"{d.id}_baseline_cap", cap, _cap_rule(spec.winsorize) + " of baseline spend",
                 SOURCE_CAP),
            Step(f"{d.id}_baseline_capped_amount", total - capped,
                 "baseline spend above the cap", SOURCE_CAP),
            Step(f"{d.id}_baseline_mean", mean, "mean capped baseline episode spend",
                 SOURCE_TARGET),
            Step(f"{d.id}_target_price", price, "baseline mean x trend x (1 - effective "
                 "discount)", SOURCE_TARGET),
        ]
        if spec.case_mix is not None:
            steps.append(Step(f"{d.id}_case_mix_normaliser", normaliser,
                              "mean case-mix factor of the baseline episodes (an episode's "
                              "target: price x factor / normaliser)", SOURCE_CASE_MIX))
        targets[d.id] = Target(d.id, price, normaliser, cap)
    return Baseline(targets, tuple(steps), tuple(notes))


def _years(years: Sequence[int]) -> str:
    return ", ".join(str(y) for y in sorted(years))


def _cap_rule(rule: str | Decimal) -> str:
    if rule == "mean_2sd":
        return "mean + 2 sample standard deviations"
    p = PERCENTILE_99 if rule == "p99" else Decimal(rule)
    return f"{(p * 100).normalize():f}th percentile (linear interpolation)"


# -- settlement ------------------------------------------------------------------------------


@dataclass
class _Tally:
    target: Decimal = ZERO
    capped: Decimal = ZERO
    episodes: int = 0


def _limited(spec: BundleSpec, raw: Decimal, target: Decimal) -> Decimal:
    gain = None if spec.stop_gain is None else spec.stop_gain * target
    loss = None if spec.stop_loss is None else spec.stop_loss * target
    if gain is not None and raw > gain:
        return gain
    if loss is not None and raw < -loss:
        return -loss
    return raw


def _pct(x: Decimal | None) -> str:
    return "no limit" if x is None else f"{(x * 100).normalize():f} %"


def settle_bundles(spec: BundleSpec, baseline: Baseline, units: pa.Table,
                   inputs: Mapping[str, Decimal | int | str | bool | None]
                   ) -> Reconciliation:
    """Cap the performance episodes, sum target and capped spend per initiator, apply the
    stop-loss / stop-gain limits, and return the reconciliation (module docstring)."""
    steps = list(baseline.steps)
    notes = list(baseline.notes)
    tallies: dict[tuple[str, str], _Tally] = {}
    total_spend = ZERO
    for d in spec.episodes:   # a few definitions
        rows = _of(units, d.id)
        n = rows.num_rows
        steps.append(Step(f"{d.id}_episodes", n, "performance episodes", SOURCE_TERMS))
        target = baseline.targets.get(d.id)
        if n == 0:
            continue
        if target is None:
            notes.append(f"{d.id}: {n} performance episodes without a target are not settled")
            continue
        spend = rows["spend"]
        cap = winsor_cap(spend, spec.winsorize)
        assert cap is not None
        over = _over(spend, cap)
        under = pc.if_else(over, pa.scalar(ZERO, MONEY_TYPE), pc.cast(spend, MONEY_TYPE))
        g = pa.table({
            "initiator_type": rows["initiator_type"], "initiator": rows["initiator"],
            "under": under, "over": over.cast(pa.int64()), "spend": spend,
            "factor": rows["case_mix_factor"],
        }).group_by(["initiator_type", "initiator"]).aggregate(
            [("under", "sum"), ("over", "sum"), ("spend", "sum"), ("factor", "sum"),
             ("spend", "count")])
        d_spend, d_capped, d_target = ZERO, ZERO, ZERO
        for r in g.to_pylist():   # one row per initiator of the definition
            capped = Decimal(r["under_sum"]) + r["over_sum"] * cap
            tgt = target.price * Decimal(r["factor_sum"]) / target.normaliser
            t = tallies.setdefault((r["initiator_type"], r["initiator"]), _Tally())
            t.target += tgt
            t.capped += capped
            t.episodes += r["spend_count"]
            d_spend += Decimal(r["spend_sum"])
            d_capped += capped
            d_target += tgt
        total_spend += d_spend
        steps += [
            Step(f"{d.id}_cap", cap, _cap_rule(spec.winsorize) + " of performance spend",
                 SOURCE_CAP),
            Step(f"{d.id}_spend", d_spend, f"{spec.basis} spend of the episodes", SOURCE_TERMS),
            Step(f"{d.id}_capped_amount", d_spend - d_capped, "spend above the cap",
                 SOURCE_CAP),
            Step(f"{d.id}_capped_spend", d_capped, "spend with each episode capped",
                 SOURCE_CAP),
            Step(f"{d.id}_target", d_target,
                 "target price x sum of case-mix factors / normaliser"
                 if spec.case_mix is not None else "target price x episodes", SOURCE_TARGET),
        ]
    if units.num_rows == 0:
        notes.append("no performance episodes: nothing to settle")
    parts: list[tuple[str, Decimal]] = []
    total_target, total_capped = ZERO, ZERO
    for (kind, who), t in sorted(tallies.items()):   # one per initiator
        label = f"{kind}:{who}"
        raw = t.target - t.capped
        final = _limited(spec, raw, t.target)
        total_target += t.target
        total_capped += t.capped
        steps += [
            Step(f"initiator_{label}_episodes", t.episodes, "settled episodes", SOURCE_TERMS),
            Step(f"initiator_{label}_target", t.target, "sum of its episodes' targets",
                 SOURCE_TARGET),
            Step(f"initiator_{label}_capped_spend", t.capped, "sum of its capped spend",
                 SOURCE_CAP),
            Step(f"initiator_{label}_before_limits", raw, "target - capped spend",
                 SOURCE_TARGET),
            Step(f"initiator_{label}_reconciliation", final,
                 f"limited to stop-gain {_pct(spec.stop_gain)} and stop-loss "
                 f"{_pct(spec.stop_loss)} of its target (+: paid to it, -: it repays)",
                 SOURCE_LIMITS),
        ]
        parts.append((label, final))
    provider = sum((a for _, a in parts), ZERO)
    gross = total_target - total_capped
    steps += [
        Step("episodes", sum(t.episodes for t in tallies.values()), "settled episodes",
             SOURCE_TERMS),
        Step("target", total_target, "sum of the settled episodes' targets", SOURCE_TARGET),
        Step("spend", total_spend, f"{spec.basis} spend of the settled episodes",
             SOURCE_TERMS),
        Step("capped_spend", total_capped, "spend with each episode capped", SOURCE_CAP),
        Step("gross_savings", gross, "target - capped spend (negative: losses)", SOURCE_TERMS),
        Step("provider_amount", provider,
             "sum of the initiators' limited reconciliation amounts", SOURCE_LIMITS),
        Step("payer_amount", gross - provider, "gross savings - provider amount",
             SOURCE_TERMS),
    ]
    to_provider = to_cents(provider)
    return Reconciliation(spec.name, spec.model, tuple(inputs.items()), tuple(steps),
                          to_provider, to_cents(gross) - to_provider, tuple(notes),
                          allocate_cents(provider, parts))


# -- preparing -------------------------------------------------------------------------------


UNIT_COLUMNS: tuple[str, ...] = (
    "episode_id", "definition_id", "person_id", "year", "initiator_type", "initiator",
    "anchor_start_date", "anchor_end_date", "window_end_date", "spend", "case_mix_factor",
    "capped_spend", "target",
)


def _display(table: pa.Table, spec: BundleSpec, caps: Mapping[str, Decimal | None],
             targets: Mapping[str, Target] | None) -> pa.Table:
    """`table` with cap, capped_spend and (with `targets`) target columns, rounded to the
    cent for display, one definition at a time."""
    out: list[pa.Table] = []
    for d in spec.episodes:
        rows = _of(table, d.id)
        cap = caps.get(d.id)
        capped = _capped_display(rows["spend"], cap)
        rows = rows.append_column("cap", pa.array(
            [None if cap is None else to_cents(cap)] * rows.num_rows, MONEY_TYPE))
        rows = rows.append_column("capped_spend", capped)
        if targets is not None:
            t = targets.get(d.id)
            if t is None:
                target = pa.nulls(rows.num_rows, MONEY_TYPE)
            else:
                per_factor = (t.price / t.normaliser).quantize(Decimal("1e-10"))
                exact = pc.multiply(pc.cast(pc.round(rows["case_mix_factor"], 9,
                                                     round_mode="half_up"),
                                            pa.decimal128(15, 9)),
                                    pa.scalar(per_factor, pa.decimal128(20, 10)))
                target = pc.cast(pc.round(exact, 2, round_mode="half_up"), MONEY_TYPE)
            rows = rows.append_column("target", target)
        out.append(rows)
    return pa.concat_tables(out)


def _spend_by_category(spec: BundleSpec, table: pa.Table) -> pa.Table:
    """Per definition x period x included service category: episodes and spend."""
    cats = [c for c in CATEGORIES if f"spend_{c}" in table.column_names]
    g = table.group_by(["definition_id", "period"]).aggregate(
        [("episode_id", "count"), *((f"spend_{c}", "sum") for c in cats)])
    parts = []
    for d in spec.episodes:   # a few definitions x the fixed list of categories
        rows = _of(g, d.id)
        for c in d.categories():
            parts.append(pa.table({
                "definition_id": rows["definition_id"], "period": rows["period"],
                "service_category": pa.array([c] * rows.num_rows, pa.string()),
                "episodes": rows["episode_id_count"],
                "spend": pc.cast(rows[f"spend_{c}_sum"], pa.decimal128(38, 2)),
            }))
    return pa.concat_tables(parts).sort_by([("definition_id", "ascending"),
                                            ("period", "ascending"),
                                            ("service_category", "ascending")])


def prepare_bundles(spec: BundleSpec, tables: Tables, run: Run, year: int) -> Prepared:
    """The performance episodes of `year` as units (one per episode), the baseline targets
    fixed from `spec.baseline_years`, and the settlement of any sample of the units."""
    if year in spec.baseline_years:
        raise ConfigError(f"{spec.name}: performance year {year} is also a baseline year")
    years = sorted({*spec.baseline_years, year})
    bound = run(max_anchors(spec, tables, max(years)))
    chain = max(int(bound["max_anchors"][0].as_py() or 0), 1)
    ep = run(episodes(spec, tables, years, chain))
    ep = ep.append_column("case_mix_factor", case_mix_factors(ep, spec.case_mix))
    period = pc.if_else(pc.equal(ep["year"], year), "performance", "baseline")
    ep = ep.append_column("period", period)
    base = ep.filter(pc.equal(ep["period"], "baseline"))
    perf = ep.filter(pc.equal(ep["period"], "performance"))
    baseline = baseline_targets(spec, base)
    notes = list(baseline.notes)
    if spec.case_mix is not None and spec.case_mix.risk_weight > 0:
        missing = ep.filter(pc.is_null(ep["risk_score"]))
        if missing.num_rows:
            notes.append(f"{missing.num_rows} episodes have no payment risk score for their "
                         "year: risk factor 1")
    baseline = Baseline(baseline.targets, baseline.steps, tuple(notes))
    perf_caps = {d.id: winsor_cap(_of(perf, d.id)["spend"], spec.winsorize)
                 for d in spec.episodes}
    base_caps = {k: t.baseline_cap for k, t in baseline.targets.items()}
    perf = _display(perf, spec, perf_caps, baseline.targets)
    base = _display(base, spec, base_caps, None)
    units = perf.select(list(UNIT_COLUMNS))
    shown = pa.concat_tables([base.append_column("target", pa.nulls(base.num_rows,
                                                                    MONEY_TYPE)), perf])
    outliers = shown.filter(pc.fill_null(pc.greater(shown["spend"], shown["capped_spend"]),
                                         False))
    outliers = outliers.select(["episode_id", "definition_id", "period", "year",
                                "initiator_type", "initiator", "spend", "cap"])
    outliers = outliers.append_column(
        "amount_capped", pc.subtract(outliers["spend"], outliers["cap"]))
    inputs = inputs_of({
        "year": year, "baseline_years": _years(spec.baseline_years), "basis": spec.basis,
        "winsorize": str(spec.winsorize), "performance_episodes": units.num_rows,
        "baseline_episodes": base.num_rows,
    })

    def settle(sample: pa.Table) -> Reconciliation:
        return settle_bundles(spec, baseline, sample, dict(inputs))

    return Prepared(units=units, unit="episode", settle=settle, detail={
        "episodes": shown, "outliers": outliers, "spend_by_category": _spend_by_category(spec, shown),
    })


__all__ = [
    "Baseline",
    "BundleSpec",
    "CaseMix",
    "EpisodeDef",
    "Quality",
    "QualityTier",
    "Target",
    "baseline_targets",
    "capped_total",
    "case_mix_factors",
    "episodes",
    "prepare_bundles",
    "settle_bundles",
    "winsor_cap",
]
