"""MSSP settlement rules: given inputs -> expected amounts, one test per branch.

Unless a test says otherwise: updated benchmark $100,000,000, 20,000 assigned
beneficiaries (size-table MSR exactly 2.5 %, the low end of the 20,000-49,999 band),
and 2 % sequestration. Every expected amount is worked out by hand in a comment."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from medsynergy.contracts.mssp_settle import (
    SettlementInputs,
    Track,
    one_sided_msr,
    parse_track,
    settle,
)
from medsynergy.contracts.result import Reconciliation, to_cents

B = D("100000000")
N = 20000


def run(year: int, track: str, expenditure: str, *, n: int = N, benchmark: D = B,
        **kw: Any) -> Reconciliation:
    result = settle(SettlementInputs(year, parse_track(track), n, benchmark, D(expenditure),
                                     **kw))
    # money is conserved to the cent, whatever the branch
    gross = result.step("gross_savings").value
    assert isinstance(gross, D)
    assert result.to_provider + result.to_payer == to_cents(gross)
    return result


def value(result: Reconciliation, step: str) -> object:
    return result.step(step).value


# ------------------------------------------------------------------ the MSR size table

@pytest.mark.parametrize(("n", "percent"), [
    (500, D("12.2")), (999, D("8.7")), (1000, D("8.7")), (2000, D("6.85")),
    (3000, D("5.0")), (5000, D("3.9")), (5999, D("3.6")), (6000, D("3.6")),
    (10000, D("3.0")), (20000, D("2.5")), (49999, D("2.2")), (50000, D("2.2")),
    (59999, D("2.0")), (60000, D("2.0")), (250000, D("2.0")),
    # inside a band, linear from its low to its high end, unrounded:
    # 3,785: 5.0 - 1.1 x 785 / 1,999 = 4.5680340170... % (the README's 4.568 %)
    (3785, D("5.0") - D("1.1") * 785 / 1999),
    # 7,500: 3.4 - 0.2 x 500 / 999 = 3.2998998998... %
    (7500, D("3.4") - D("0.2") * 500 / 999),
    # 605: 12.2 - 3.5 x 105 / 499 = 11.4635... % (the README's 11.46 %)
    (605, D("12.2") - D("3.5") * 105 / 499),
])
def test_one_sided_msr_table(n: int, percent: D) -> None:
    assert one_sided_msr(n) == percent * D("0.01")


def test_msr_table_has_no_rate_below_500() -> None:
    with pytest.raises(ValueError, match="499 assigned beneficiaries"):
        one_sided_msr(499)


# ------------------------------------------------------------ MSR: below / at / above

def test_savings_just_below_the_msr_earn_nothing() -> None:
    # savings 2,499,999 = 2.499999 % < MSR 2.5 %
    r = run(2018, "Track 1", "97500001", quality_score=D(1))
    assert value(r, "msr") == D("0.025")
    assert value(r, "msr_met") is False
    assert r.to_provider == D("0.00")
    assert r.to_payer == D("2499999.00")


def test_savings_at_the_msr_are_shared_from_the_first_dollar() -> None:
    # savings 2,500,000 = 2.5 % = MSR (meet or exceed): 2,500,000 x 50 % = 1,250,000,
    # less 2 % sequestration (25,000) = 1,225,000
    r = run(2018, "Track 1", "97500000", quality_score=D(1))
    assert value(r, "msr_met") is True
    assert value(r, "sequestration") == D("25000")
    assert r.to_provider == D("1225000.00")
    assert r.to_payer == D("1275000.00")


def test_savings_above_the_msr() -> None:
    # 3,000,000 x 50 % = 1,500,000 x 0.98 = 1,470,000
    assert run(2018, "Track 1", "97000000", quality_score=D(1)).to_provider == D("1470000.00")


def test_unrounded_rates_round_once_half_up() -> None:
    # 3,000,000.50 x 50 % x quality 0.98 = 1,470,000.245 (unrounded), x 0.98 seq:
    # 1,470,000.245 x 0.98 = 1,440,600.2401 -> 1,440,600.24; payer 3,000,000.50 - that
    r = run(2018, "Track 1", "96999999.50", quality_score=D("0.98"))
    assert value(r, "gross_shared_savings") == D("1470000.245")
    assert r.to_provider == D("1440600.24")
    assert r.to_payer == D("1559400.26")


def test_half_cent_rounds_up_once() -> None:
    # savings 2,500,000.50 (2.50000005 % >= MSR), PY2020 (no sequestration), BASIC B
    # quality 0.99: rate 40 % x 0.99 = 39.6 %: 2,500,000.50 x 0.396 = 990,000.198
    # -> 990,000.20
    r = run(2020, "BASIC B", "97499999.50", quality_score=D("0.99"))
    assert r.to_provider == D("990000.20")


# --------------------------------------------------------- each track's sharing rate

@pytest.mark.parametrize(("year", "track", "expected"), [
    # savings 10,000,000 (10 %), quality met / score 100 %, less 2 % sequestration
    (2018, "Track 1", D("4900000.00")),     # 10M x 50 % x 0.98
    (2018, "Track 1+", D("4900000.00")),    # 10M x 50 % x 0.98
    (2018, "Track 2", D("5880000.00")),     # 10M x 60 % x 0.98
    (2018, "Track 3", D("7350000.00")),     # 10M x 75 % x 0.98
    (2022, "ENHANCED", D("7350000.00")),    # 10M x 75 % x 0.98
    (2022, "BASIC A", D("3920000.00")),     # 10M x 40 % x 0.98
    (2022, "BASIC B", D("3920000.00")),
    (2022, "BASIC C", D("4900000.00")),     # 10M x 50 % x 0.98
    (2022, "BASIC D", D("4900000.00")),
    (2022, "BASIC E", D("4900000.00")),
])
def test_sharing_rate_by_track(year: int, track: str, expected: D) -> None:
    r = run(year, track, "90000000", msr=D("0.02"), quality_score=D(1),
            met_quality_standard=True)
    assert r.to_provider == expected


@pytest.mark.parametrize("text", ["Track 1+", "1+", "track_1_plus", "1 Plus"])
def test_track_spellings(text: str) -> None:
    assert parse_track(text) is Track.TRACK_1_PLUS


@pytest.mark.parametrize(("text", "track"), [
    ("EN", Track.ENHANCED), ("Enhanced", Track.ENHANCED), ("C", Track.BASIC_C),
    ("BASIC Level E", Track.BASIC_E), ("Track 3", Track.TRACK_3), ("2", Track.TRACK_2)])
def test_more_track_spellings(text: str, track: Track) -> None:
    assert parse_track(text) is track


def test_unknown_track_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown MSSP track 'Track 9'"):
        parse_track("Track 9")


# ------------------------------------------------------------- quality, by regime

def test_to_2020_rate_is_max_times_quality_score() -> None:
    # 10M x (50 % x 0.9 = 45 %) = 4,500,000 x 0.98 = 4,410,000
    r = run(2018, "Track 1", "90000000", quality_score=D("0.9"))
    assert value(r, "final_sharing_rate") == D("0.45")
    assert value(r, "quality_gate") == "multiplied"
    assert r.to_provider == D("4410000.00")


def test_py2020_has_no_sequestration() -> None:
    # 10M x 40 % x 0.9 = 3,600,000, not reduced (sequestration suspended)
    r = run(2020, "BASIC B", "90000000", quality_score=D("0.9"))
    assert value(r, "sequestration") == D(0)
    assert r.to_provider == D("3600000.00")


def test_to_2020_failed_quality_standard_earns_nothing() -> None:
    r = run(2018, "Track 1", "90000000", quality_score=D("0.9"), met_quality_standard=False)
    assert value(r, "final_sharing_rate") == D(0)
    assert r.to_provider == D("0.00")


def test_to_2020_pay_for_reporting_first_year() -> None:
    # P4R: quality score 100 % -> 10M x 50 % x 0.98 = 4,900,000
    r = run(2014, "Track 1", "90000000", first_year_first_agreement=True)
    assert value(r, "quality_gate") == "pay for reporting"
    assert r.to_provider == D("4900000.00")
    assert r.notes == ()


def test_from_2021_meeting_the_standard_gives_the_full_rate() -> None:
    # quality score 0.6 does not reduce the rate: 10M x 40 % x 0.98 = 3,920,000
    r = run(2021, "BASIC B", "90000000", quality_score=D("0.6"), met_quality_standard=True)
    assert value(r, "quality_gate") == "met"
    assert r.to_provider == D("3920000.00")


def test_from_2021_failing_the_standard_earns_nothing() -> None:
    r = run(2021, "BASIC B", "90000000", quality_score=D("0.6"), met_quality_standard=False)
    assert value(r, "quality_gate") == "not met"
    assert r.to_provider == D("0.00")


def test_first_year_of_a_first_agreement_meets_the_standard() -> None:
    r = run(2021, "BASIC B", "90000000", met_quality_standard=False,
            first_year_first_agreement=True)
    assert r.to_provider == D("3920000.00")


def test_ecqm_incentive_meets_the_standard_from_2022() -> None:
    r = run(2022, "BASIC B", "90000000", met_quality_standard=False, ecqm_incentive=True)
    assert r.to_provider == D("3920000.00")
    # PY2021: no such incentive yet
    r = run(2021, "BASIC B", "90000000", met_quality_standard=False, ecqm_incentive=True)
    assert r.to_provider == D("0.00")


def test_from_2023_alternative_standard_is_a_sliding_scale() -> None:
    # 40 % x quality 0.6 = 24 %: 10M x 24 % = 2,400,000 x 0.98 = 2,352,000
    r = run(2023, "BASIC B", "90000000", quality_score=D("0.6"), met_quality_standard=False,
            met_alternative_standard=True)
    assert value(r, "quality_gate") == "alternative"
    assert value(r, "final_sharing_rate") == D("0.24")
    assert r.to_provider == D("2352000.00")


def test_enhanced_alternative_standard_2024() -> None:
    # 75 % x 0.7 = 52.5 %: 10M x 52.5 % = 5,250,000 x 0.98 = 5,145,000
    r = run(2024, "ENHANCED", "90000000", msr=D(0), quality_score=D("0.7"),
            met_quality_standard=False, met_alternative_standard=True)
    assert r.to_provider == D("5145000.00")


def test_alternative_standard_does_not_exist_before_2023() -> None:
    r = run(2022, "BASIC B", "90000000", quality_score=D("0.6"), met_quality_standard=False,
            met_alternative_standard=True)
    assert r.to_provider == D("0.00")
    assert any("from PY2023 only" in n for n in r.notes)


def test_from_2023_meeting_no_standard_earns_nothing() -> None:
    r = run(2024, "BASIC B", "90000000", quality_score=D("0.6"), met_quality_standard=False,
            met_alternative_standard=False)
    assert value(r, "quality_gate") == "not met"
    assert r.to_provider == D("0.00")


# ------------------------------------- PY2024: low revenue BASIC ACO below the MSR

LOW: dict[str, Any] = {"revenue_category": "low", "met_quality_standard": True}


def test_half_rate_below_the_msr() -> None:
    # savings 2,000,000 = 2 %, below the 2.5 % MSR; BASIC A low revenue, 20,000
    # beneficiaries: half of 40 % = 20 %: 2M x 20 % = 400,000 x 0.98 = 392,000
    r = run(2024, "BASIC A", "98000000", agreement_start_year=2024, **LOW)
    assert value(r, "msr_met") is False
    assert value(r, "half_rate_below_msr") == D("0.20")
    assert value(r, "performance_payment_limit") == D("5000000.00")  # 5 % of benchmark
    assert "425.605(h)" in r.step("half_rate_below_msr").source
    assert r.to_provider == D("392000.00")
    assert r.notes == ()


def test_half_rate_with_the_alternative_standard() -> None:
    # 40 % x 0.8 = 32 %, halved: 16 %: 2M x 16 % = 320,000 x 0.98 = 313,600
    r = run(2024, "BASIC A", "98000000", revenue_category="low", quality_score=D("0.8"),
            met_quality_standard=False, met_alternative_standard=True)
    assert r.to_provider == D("313600.00")


def test_half_rate_cap_is_5_percent_of_benchmark() -> None:
    # only reachable with an (unusual) MSR above 25 %: savings 25M (25 %) < MSR 30 %,
    # half of 50 % = 25 %: 25M x 25 % = 6,250,000 x 0.98 = 6,125,000 > 5 % cap 5,000,000
    r = run(2024, "BASIC C", "75000000", msr=D("0.30"), **LOW)
    assert r.to_provider == D("5000000.00")


@pytest.mark.parametrize(("change", "note"), [
    ({"revenue_category": "high"}, None),
    ({"n": 4999}, None),                   # fewer than 5,000 beneficiaries
    ({"year": 2023}, None),                # from PY2024 only
    ({"track": "ENHANCED"}, None),         # BASIC track only
    ({"revenue_category": None}, "needs the revenue category"),
    ({"agreement_start_year": 2022}, "beginning in 2024 or later"),
    ({"met_quality_standard": False}, None),
])
def test_half_rate_conditions(change: dict[str, Any], note: str | None) -> None:
    kw: dict[str, Any] = {**LOW, "msr": D("0.025")}
    kw.update(change)
    year = kw.pop("year", 2024)
    track = kw.pop("track", "BASIC A")
    r = run(year, track, "98000000", **kw)
    assert r.to_provider == D("0.00")
    if note:
        assert any(note in n for n in r.notes)


# ---------------------------------------------------------- performance payment limit

@pytest.mark.parametrize(("track", "expenditure", "limit"), [
    # 25M x 50 % = 12.5M x 0.98 = 12.25M > 10 % of benchmark
    ("Track 1", "75000000", D("10000000.00")),
    # 40M x 60 % = 24M x 0.98 = 23.52M > 15 %
    ("Track 2", "60000000", D("15000000.00")),
    # 30M x 75 % = 22.5M x 0.98 = 22.05M > 20 %
    ("Track 3", "70000000", D("20000000.00")),
    ("BASIC E", "70000000", D("10000000.00")),   # 30M x 50 % x 0.98 = 14.7M > 10 %
])
def test_performance_payment_limit_binds(track: str, expenditure: str, limit: D) -> None:
    r = run(2018 if track.startswith("Track") else 2022, track, expenditure, msr=D("0.02"),
            quality_score=D(1), met_quality_standard=True)
    assert r.to_provider == limit


def test_limit_applies_after_sequestration() -> None:
    # 20.2M x 50 % = 10.1M, sequestered: 9,898,000 < 10M limit (before sequestration
    # the limit would bind and give 9.8M)
    r = run(2018, "Track 1", "79800000", quality_score=D(1))
    assert r.to_provider == D("9898000.00")


def test_sequestration_rate_can_be_given() -> None:
    r = run(2018, "Track 1", "90000000", quality_score=D(1), sequestration_rate=D(0))
    assert r.to_provider == D("5000000.00")


# ---------------------------------------------------------------------- shared losses

LOSS = "110000000"  # losses 10,000,000 (10 % of benchmark)


@pytest.mark.parametrize(("kw", "rate", "owed"), [
    # ENHANCED: 1 - 75 % x 0.9 = 32.5 % -> kept at the 40 % floor: 10M x 40 %
    ({"quality_score": D("0.9")}, D("0.40"), D("-4000000.00")),
    # 1 - 75 % x 0.4 = 70 %
    ({"quality_score": D("0.4")}, D("0.70"), D("-7000000.00")),
    # failed quality standard: the 75 % maximum
    ({"quality_score": D("0.9"), "met_quality_standard": False}, D("0.75"), D("-7500000.00")),
])
def test_enhanced_loss_rate_bounds(kw: dict[str, Any], rate: D, owed: D) -> None:
    r = run(2018, "ENHANCED", LOSS, msr=D("0.02"), **kw)
    assert value(r, "loss_rate") == rate
    assert r.to_provider == owed
    assert r.to_payer == D("-10000000.00") - owed


def test_loss_rate_scales_with_quality_even_when_the_standard_is_met() -> None:
    # PY2024 ENHANCED, standard met, quality 0.5: 1 - 75 % x 0.5 = 62.5 %
    r = run(2024, "ENHANCED", LOSS, msr=D("0.02"), quality_score=D("0.5"),
            met_quality_standard=True)
    assert value(r, "loss_rate") == D("0.625")
    assert r.to_provider == D("-6250000.00")


@pytest.mark.parametrize(("quality", "rate", "owed"), [
    (D("0.5"), D("0.60"), D("-6000000.00")),   # 1 - 60 % x 0.5 = 70 % -> 60 % cap
    (D(1), D("0.40"), D("-4000000.00")),       # 1 - 60 % = 40 %
])
def test_track_2_loss_rate_bounds(quality: D, rate: D, owed: D) -> None:
    r = run(2018, "Track 2", LOSS, msr=D("0.02"), quality_score=quality, agreement_year=3)
    assert value(r, "loss_rate") == rate
    assert r.to_provider == owed


@pytest.mark.parametrize("track", ["Track 1+", "BASIC C", "BASIC D", "BASIC E"])
def test_flat_30_percent_loss_rate(track: str) -> None:
    # 30 % whatever the quality: losses of 1,000,000 (1 %) x 30 % = 300,000; limits
    # (1-4 % of benchmark) do not bind
    r = run(2022 if track.startswith("BASIC") else 2018, track, "101000000", msr=D(0),
            quality_score=D("0.2"), met_quality_standard=False, euc_loss_share=D(0))
    assert value(r, "loss_rate") == D("0.30")
    assert r.to_provider == D("-300000.00")


@pytest.mark.parametrize(("track", "revenue", "owed"), [
    # losses 10M x 30 % = 3M; BASIC C: 1 % of benchmark = 1M binds
    ("BASIC C", None, D("-1000000.00")),
    ("BASIC C", D("40000000"), D("-800000.00")),    # 2 % of revenue 40M
    ("BASIC D", None, D("-2000000.00")),            # 2 % of benchmark
    ("BASIC D", D("30000000"), D("-1200000.00")),   # 4 % of revenue 30M
    ("BASIC E", None, D("-3000000.00")),            # 4 % of benchmark = 4M: no bind
    ("BASIC E", D("20000000"), D("-1600000.00")),   # 8 % of revenue 20M
    ("BASIC E", D("900000000"), D("-3000000.00")),  # 8 % of 900M capped at 4 % of B
    ("Track 1+", None, D("-3000000.00")),           # 4 % of benchmark: no bind
    ("Track 1+", D("25000000"), D("-2000000.00")),  # 8 % of revenue 25M
])
def test_loss_sharing_limit(track: str, revenue: D | None, owed: D) -> None:
    r = run(2024 if track.startswith("BASIC") else 2018, track, LOSS, msr=D(0),
            participant_revenue=revenue)
    assert r.to_provider == owed
    assert any("revenue not given" in n for n in r.notes) == (revenue is None)


@pytest.mark.parametrize(("year_of_track", "owed"), [
    # losses 30M x 40 % = 12M; limit 5 % / 7.5 % / 10 % of benchmark
    (1, D("-5000000.00")), (2, D("-7500000.00")), (3, D("-10000000.00")),
    (7, D("-10000000.00")), (None, D("-10000000.00")),
])
def test_track_2_loss_limit_by_year(year_of_track: int | None, owed: D) -> None:
    r = run(2018, "Track 2", "130000000", msr=D("0.02"), quality_score=D(1),
            agreement_year=year_of_track)
    assert r.to_provider == owed
    assert any("year of participation" in n for n in r.notes) == (year_of_track is None)


def test_enhanced_loss_limit_15_percent() -> None:
    # 40M x 75 % (failed quality) = 30M > 15 % of benchmark
    r = run(2018, "ENHANCED", "140000000", msr=D("0.02"), met_quality_standard=False)
    assert r.to_provider == D("-15000000.00")


def test_minimum_loss_rate() -> None:
    # MSR 2 %, MLR 1 %: losses 1.5 % are shared: 1.5M x 40 % = 600,000
    r = run(2018, "ENHANCED", "101500000", msr=D("0.02"), mlr=D("0.01"), quality_score=D(1))
    assert r.to_provider == D("-600000.00")
    # symmetric MLR (= MSR 2 %): losses of 1.999999 % are not shared
    r = run(2018, "ENHANCED", "101999999", msr=D("0.02"), quality_score=D(1))
    assert value(r, "mlr_met") is False
    assert r.to_provider == D("0.00")


def test_one_sided_tracks_share_no_losses() -> None:
    r = run(2018, "Track 1", LOSS, quality_score=D(1))
    assert value(r, "losses_shared") is False
    assert r.to_provider == D("0.00")
    assert r.to_payer == D("-10000000.00")


def test_disaster_adjustment_reduces_the_losses() -> None:
    # 10M x 40 % = 4,000,000 - 1,500,000 (DisAdj, published negative) = 2,500,000
    r = run(2018, "ENHANCED", LOSS, msr=D("0.02"), quality_score=D("0.9"),
            disaster_adjustment=D("-1500000"))
    assert value(r, "euc_reduction") == D("1500000")
    assert r.to_provider == D("-2500000.00")
    # an adjustment above the losses removes them, never pays
    r = run(2018, "ENHANCED", LOSS, msr=D("0.02"), quality_score=D("0.9"),
            disaster_adjustment=D("9000000"))
    assert r.to_provider == D("0.00")


def test_euc_share_of_losses() -> None:
    # PY2023: 25 % of the losses removed: 4,000,000 x 75 % = 3,000,000
    r = run(2023, "ENHANCED", LOSS, msr=D("0.02"), quality_score=D("0.9"),
            met_quality_standard=True, euc_loss_share=D("0.25"))
    assert r.to_provider == D("-3000000.00")


@pytest.mark.parametrize("year", [2020, 2021, 2022])
def test_covid_years_remove_all_shared_losses(year: int) -> None:
    r = run(year, "ENHANCED", LOSS, msr=D("0.02"), quality_score=D("0.9"),
            met_quality_standard=True)
    assert value(r, "shared_losses") == D("4000000.00")
    assert "COVID-19" in r.step("euc_reduction").rule
    assert r.to_provider == D("0.00")


def test_a_published_adjustment_that_differs_is_noted() -> None:
    # CMS's revenue-based limit gave 154,250; without the revenue we compute 1 % of B
    r = run(2021, "BASIC C", LOSS, msr=D(0), disaster_adjustment=D("-154250"),
            met_quality_standard=True)
    assert r.to_provider == D("0.00")
    assert any("differs from the shared losses removed" in n for n in r.notes)


# ---------------------------------------------- zero beneficiaries, missing inputs

def test_zero_benchmark_settles_nothing() -> None:
    r = run(2022, "BASIC A", "0", n=0, benchmark=D(0))
    assert (r.to_provider, r.to_payer) == (D("0.00"), D("0.00"))
    assert any("benchmark is zero" in n for n in r.notes)


def test_zero_beneficiaries_without_an_msr_settles_nothing() -> None:
    r = run(2022, "BASIC A", "90000000", n=0)
    assert r.to_provider == D("0.00")
    assert r.to_payer == D("10000000.00")
    assert any("0 assigned beneficiaries" in n for n in r.notes)


@pytest.mark.parametrize(("year", "track", "kw", "note"), [
    (2022, "ENHANCED", {"met_quality_standard": True}, "MSR/MLR election not given"),
    (2018, "Track 1", {}, "quality score not given"),
    (2022, "BASIC B", {}, "quality performance standard not given"),
    (2024, "BASIC A", {"met_quality_standard": False, "met_alternative_standard": True},
     "no quality score given"),
])
def test_missing_inputs_are_noted(year: int, track: str, kw: dict[str, Any],
                                  note: str) -> None:
    r = run(year, track, "90000000", **kw)
    assert any(note in n for n in r.notes), r.notes


def test_variable_msr_election_is_not_a_missing_input() -> None:
    r = run(2022, "ENHANCED", "90000000", variable_msr=True, met_quality_standard=True)
    assert value(r, "msr") == D("0.025")
    assert r.notes == ()


# ------------------------------------------------------------------ inputs, output

def test_steps_cite_the_regulation() -> None:
    r = run(2022, "BASIC C", "90000000", msr=D("0.02"), met_quality_standard=True)
    assert r.step("performance_payment_limit").source == "42 CFR 425.605(d)(1)(iii)(A), (B)"
    assert r.step("msr").source.startswith("42 CFR 425.605(b)(2)")
    doc = orjson.loads(r.to_json())
    assert doc["to_provider"] == "4900000.00"
    assert doc["inputs"]["track"] == "BASIC C"


def test_money_must_not_be_float() -> None:
    with pytest.raises(TypeError, match="benchmark must be a Decimal"):
        SettlementInputs(2022, Track.BASIC_A, N, 1.5e8, D(1))  # type: ignore[arg-type]


def test_rates_are_fractions() -> None:
    with pytest.raises(ValueError, match="quality_score is a fraction"):
        SettlementInputs(2022, Track.BASIC_A, N, B, B, quality_score=D("85"))


def test_inputs_are_normalised() -> None:
    i = SettlementInputs(2022, "EN", N, 100, 90, revenue_category="Low Revenue")  # type: ignore[arg-type]
    assert (i.track, i.benchmark, i.revenue_category) == (Track.ENHANCED, D(100), "low")
