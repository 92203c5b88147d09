"""Medicare Shared Savings Program (MSSP): the settlement of one ACO's performance year
(issue "MSSP settlement rules").

Given the ACO's updated benchmark and its assigned beneficiaries' expenditures (totals,
$), its track and its quality result, `settle` returns what CMS pays the ACO (earned
shared savings) or what the ACO owes (shared losses), step by step:

    savings, savings rate -> MSR (MLR) met? -> quality gate -> final sharing rate
    -> savings x rate (first dollar) -> 2 % sequestration -> performance payment limit
    losses x loss rate -> loss sharing limit -> extreme and uncontrollable circumstances

Rules: 42 CFR 425.604 (Track 1), 425.605 (BASIC), 425.606 (Track 2), 425.610 (ENHANCED,
which includes Track 3), quality 425.502 (to PY2020) and 425.512 (from PY2021), and the
Track 1+ Model (CMS Innovation Center; it settles savings like Track 1 and losses at a
flat 30 %). Rates stay exact and unrounded; only the final amounts are rounded, once, to
the cent. Where a rule needs an input that is not given, the result says so in `notes`
and states what was done instead."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum

from medsynergy.contracts.result import Reconciliation, Step, Value, inputs_of, to_cents

MODEL = "mssp"
ZERO = Decimal(0)
ONE = Decimal(1)
PCT = Decimal("0.01")


class Track(StrEnum):
    TRACK_1 = "Track 1"
    TRACK_1_PLUS = "Track 1+"
    TRACK_2 = "Track 2"
    TRACK_3 = "Track 3"
    ENHANCED = "ENHANCED"
    BASIC_A = "BASIC A"
    BASIC_B = "BASIC B"
    BASIC_C = "BASIC C"
    BASIC_D = "BASIC D"
    BASIC_E = "BASIC E"


#: spellings seen in the CMS files and in contracts, upper-cased, without "TRACK"/"LEVEL"
_TRACK_WORDS: dict[str, Track] = {
    "1": Track.TRACK_1, "ONE": Track.TRACK_1,
    "1+": Track.TRACK_1_PLUS, "1 PLUS": Track.TRACK_1_PLUS, "1PLUS": Track.TRACK_1_PLUS,
    "2": Track.TRACK_2, "TWO": Track.TRACK_2,
    "3": Track.TRACK_3, "THREE": Track.TRACK_3,
    "ENHANCED": Track.ENHANCED, "EN": Track.ENHANCED,
    **{f"BASIC {x}": Track(f"BASIC {x}") for x in "ABCDE"},
    **{x: Track(f"BASIC {x}") for x in "ABCDE"},
}


def parse_track(text: str) -> Track:
    """A track from any of its usual spellings: "Track 1", "1+", "ENHANCED", "EN",
    "BASIC C", "Basic Level C", "C" (a BASIC level, as in the 2022 PUF's Current_Track)."""
    key = " ".join(text.upper().replace("_", " ").replace("-", " ").split())
    for word in ("TRACK ", "LEVEL "):
        key = key.replace(word, "")
    key = key.removeprefix("TRACK").strip()
    if key in _TRACK_WORDS:
        return _TRACK_WORDS[key]
    # "Track 3 / ENHANCED": two names of one track (425.600(a)(3): ENHANCED includes 3)
    parts = {_TRACK_WORDS.get(part.strip()) for part in key.split("/")}
    if parts == {Track.TRACK_3, Track.ENHANCED}:
        return Track.ENHANCED
    raise ValueError(f"unknown MSSP track {text!r}; expected one of "
                     f"{', '.join(t.value for t in Track)}")


@dataclass(frozen=True)
class TrackTerms:
    """The financial terms of a track."""

    max_sharing_rate: Decimal
    #: performance payment limit, a fraction of the updated benchmark
    payment_limit: Decimal
    two_sided: bool
    #: shared loss rate bounds (1 - quality-based rate kept within), or None: flat rate
    loss_rate_bounds: tuple[Decimal, Decimal] | None
    flat_loss_rate: Decimal | None
    #: loss sharing limit: fraction of ACO participants' Parts A and B FFS revenue
    #: (None: not revenue based), capped at a fraction of the updated benchmark
    loss_limit_revenue: Decimal | None
    loss_limit_benchmark: Decimal | None
    savings_source: str
    loss_source: str


def _terms(rate: str, limit: str, source: str, *, two_sided: bool = False,
           bounds: tuple[str, str] | None = None, flat: str | None = None,
           revenue: str | None = None, benchmark: str | None = None,
           loss_source: str = "") -> TrackTerms:
    return TrackTerms(
        Decimal(rate), Decimal(limit), two_sided,
        None if bounds is None else (Decimal(bounds[0]), Decimal(bounds[1])),
        None if flat is None else Decimal(flat),
        None if revenue is None else Decimal(revenue),
        None if benchmark is None else Decimal(benchmark), source, loss_source)


_T1P = "Track 1+ Model (CMS Innovation Center, 2018-2021): savings as 42 CFR 425.604"
_BASIC = "42 CFR 425.605(d)(1)"
#: Track 2's loss sharing limit depends on the year of participation (425.606(g)); it is
#: set in `_loss_limit`, the benchmark fraction here is the third-and-later-year one.
TERMS: dict[Track, TrackTerms] = {
    Track.TRACK_1: _terms("0.50", "0.10", "42 CFR 425.604(d), (e)"),
    Track.TRACK_1_PLUS: _terms("0.50", "0.10", _T1P, two_sided=True, flat="0.30",
                               revenue="0.08", benchmark="0.04", loss_source=_T1P),
    Track.TRACK_2: _terms("0.60", "0.15", "42 CFR 425.606(d), (e)", two_sided=True,
                          bounds=("0.40", "0.60"), benchmark="0.10",
                          loss_source="42 CFR 425.606(f), (g)"),
    Track.TRACK_3: _terms("0.75", "0.20", "42 CFR 425.610(d), (e)", two_sided=True,
                          bounds=("0.40", "0.75"), benchmark="0.15",
                          loss_source="42 CFR 425.610(f), (g)"),
    Track.ENHANCED: _terms("0.75", "0.20", "42 CFR 425.610(d), (e)", two_sided=True,
                           bounds=("0.40", "0.75"), benchmark="0.15",
                           loss_source="42 CFR 425.610(f), (g)"),
    Track.BASIC_A: _terms("0.40", "0.10", f"{_BASIC}(i)(A), (B)"),
    Track.BASIC_B: _terms("0.40", "0.10", f"{_BASIC}(ii)(A), (B)"),
    Track.BASIC_C: _terms("0.50", "0.10", f"{_BASIC}(iii)(A), (B)", two_sided=True,
                          flat="0.30", revenue="0.02", benchmark="0.01",
                          loss_source=f"{_BASIC}(iii)(C), (D)"),
    Track.BASIC_D: _terms("0.50", "0.10", f"{_BASIC}(iv)(A), (B)", two_sided=True,
                          flat="0.30", revenue="0.04", benchmark="0.02",
                          loss_source=f"{_BASIC}(iv)(C), (D)"),
    # Level E: the QPP revenue-based nominal amount standard (8 %, 42 CFR
    # 414.1415(c)(3)(i)(A)), capped at 1 point above the expenditure-based one (3 % + 1)
    Track.BASIC_E: _terms("0.50", "0.10", f"{_BASIC}(v)(A), (B)", two_sided=True,
                          flat="0.30", revenue="0.08", benchmark="0.04",
                          loss_source=f"{_BASIC}(v)(C), (D); 42 CFR 414.1415(c)(3)(i)"),
}
BASIC_TRACKS = frozenset({Track.BASIC_A, Track.BASIC_B, Track.BASIC_C, Track.BASIC_D,
                          Track.BASIC_E})

#: 42 CFR 425.604(b): MSR by assigned beneficiaries, linear from the low to the high end
#: of each band (percent). The bands below 5,000 are not in the regulation's table (an
#: ACO below 5,000 is under 425.110(b), MSR "consistent with the number of assigned
#: beneficiaries"); they were read off the CMS PUFs (e.g. 605 -> 11.46 %, 3,785 ->
#: 4.568 %) and reproduce every one-sided ACO's published MinSavPerc in PY2013-2022.
MSR_BANDS: tuple[tuple[int, int, Decimal, Decimal], ...] = tuple(
    (lo, hi, Decimal(a), Decimal(b)) for lo, hi, a, b in (
        (500, 999, "12.2", "8.7"), (1000, 1999, "8.7", "6.85"), (2000, 2999, "6.85", "5.0"),
        (3000, 4999, "5.0", "3.9"), (5000, 5999, "3.9", "3.6"), (6000, 6999, "3.6", "3.4"),
        (7000, 7999, "3.4", "3.2"), (8000, 8999, "3.2", "3.1"), (9000, 9999, "3.1", "3.0"),
        (10000, 14999, "3.0", "2.7"), (15000, 19999, "2.7", "2.5"),
        (20000, 49999, "2.5", "2.2"), (50000, 59999, "2.2", "2.0")))
MSR_FLOOR_N = 60000
MSR_FLOOR = Decimal("0.02")
MSR_SOURCE = "42 CFR 425.604(b) (size table; BASIC one-sided: 425.605(b)(1))"

SEQUESTRATION = Decimal("0.02")
#: sequestration was suspended for payments made May 2020 - March 2022 (CARES Act
#: s. 3709 and its extensions): PY2020 shared savings, paid in 2021, were not reduced
NO_SEQUESTRATION_YEARS = frozenset({2020})
#: the COVID-19 public health emergency covered every month of these performance years
#: and every county: the extreme and uncontrollable circumstances policy (42 CFR
#: 425.605(f), 425.606(i), 425.610(i)) reduced shared losses to zero
COVID_FULL_YEARS = frozenset({2020, 2021, 2022})
HALF_RATE_MIN_BENEFICIARIES = 5000
#: 42 CFR 425.605(h) (CY 2023 PFS final rule): half the sharing rate below the MSR, and
#: half of the 10 % performance payment limit
HALF_RATE_LIMIT = Decimal("0.05")
HALF_RATE_SOURCE = "42 CFR 425.605(h)"


def one_sided_msr(n: int) -> Decimal:
    """The minimum savings rate (a fraction) for `n` assigned beneficiaries: 42 CFR
    425.604(b), linear inside each band (e.g. 5,000 -> 3.9 %, 60,000 and more -> 2 %).
    Raises ValueError below 500 beneficiaries (no published rate)."""
    if n >= MSR_FLOOR_N:
        return MSR_FLOOR
    for lo, hi, at_lo, at_hi in MSR_BANDS:
        if lo <= n <= hi:
            return (at_lo - (at_lo - at_hi) * (n - lo) / (hi - lo)) * PCT
    raise ValueError(f"no minimum savings rate for {n} assigned beneficiaries "
                     "(the table starts at 500)")


def _money(value: object, name: str) -> Decimal:
    if isinstance(value, bool | float):
        raise TypeError(f"{name} must be a Decimal or an int, not {type(value).__name__}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        return value
    raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")


def _fraction(value: object, name: str) -> Decimal | None:
    if value is None:
        return None
    rate = _money(value, name)
    if not ZERO <= rate <= ONE:
        raise ValueError(f"{name} is a fraction between 0 and 1 (got {rate}; 2 % is 0.02)")
    return rate


@dataclass(frozen=True)
class SettlementInputs:
    """One ACO's performance year. Money is total dollars; rates are fractions (0.02,
    not 2). None means "not given": the rule that needs it says so in the notes."""

    performance_year: int
    track: Track
    assigned_beneficiaries: int
    benchmark: Decimal
    expenditure: Decimal
    #: minimum savings / loss rate; None: the size table (one-sided, or the variable
    #: option of two-sided tracks); mlr None: the MSR (symmetric)
    msr: Decimal | None = None
    mlr: Decimal | None = None
    quality_score: Decimal | None = None
    met_quality_standard: bool | None = None
    met_alternative_standard: bool | None = None
    first_year_first_agreement: bool | None = None
    ecqm_incentive: bool | None = None
    #: "low" or "high" revenue ACO (42 CFR 425.20)
    revenue_category: str | None = None
    #: ACO participants' total Medicare Parts A and B FFS revenue (revenue-based limits)
    participant_revenue: Decimal | None = None
    #: amount by which CMS reduced the shared losses for extreme and uncontrollable
    #: circumstances (the PUF's DisAdj; its sign is ignored)
    disaster_adjustment: Decimal | None = None
    #: year of participation in the current agreement / track (1, 2, 3, ...)
    agreement_year: int | None = None
    # -- beyond the list
    #: a two-sided ACO that elected the size-based (variable) MSR/MLR; None: not known
    variable_msr: bool | None = None
    #: share of the shared losses removed for extreme and uncontrollable circumstances
    #: (months affected x beneficiaries affected); None: 100 % in PY2020-2022 (COVID-19)
    euc_loss_share: Decimal | None = None
    #: first year of the current agreement period (for 425.605(h): 2024 or later)
    agreement_start_year: int | None = None
    #: override of the 2 % sequestration (None: 2 %, 0 in PY2020)
    sequestration_rate: Decimal | None = None

    def __post_init__(self) -> None:
        # frozen: normalise through object.__setattr__, only in the constructor
        object.__setattr__(self, "track", parse_track(str(self.track)))
        object.__setattr__(self, "benchmark", _money(self.benchmark, "benchmark"))
        object.__setattr__(self, "expenditure", _money(self.expenditure, "expenditure"))
        for name in ("msr", "mlr", "quality_score", "euc_loss_share", "sequestration_rate"):
            object.__setattr__(self, name, _fraction(getattr(self, name), name))
        for name in ("participant_revenue", "disaster_adjustment"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _money(value, name))
        if self.revenue_category is not None:
            category = self.revenue_category.strip().lower().removesuffix(" revenue")
            if category not in ("low", "high"):
                raise ValueError(f"revenue_category is 'low' or 'high' "
                                 f"(got {self.revenue_category!r})")
            object.__setattr__(self, "revenue_category", category)
        if self.assigned_beneficiaries < 0:
            raise ValueError("assigned_beneficiaries cannot be negative")

    def as_values(self) -> dict[str, Value]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {name: (value.value if isinstance(value, Track) else value)
                for name, value in values.items()}


@dataclass
class _Book:
    """Steps and notes of one settlement, written in order (local to `settle`)."""

    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def step(self, name: str, value: Value, rule: str, source: str) -> None:
        self.steps.append(Step(name, value, rule, source))

    def note(self, text: str) -> None:
        self.notes.append(text)


def _pct(rate: Decimal) -> str:
    text = f"{(rate * 100).normalize():f}"
    return f"{text} %"


GENERAL = "42 CFR 425.604(a), 425.605(a), 425.606(a), 425.610(a)"


def settle(inputs: SettlementInputs, name: str = MODEL) -> Reconciliation:
    """Earned shared savings (to_provider > 0) or owed shared losses (< 0) of one ACO's
    performance year, with every step and the rule it applied. to_payer is the gross
    savings (benchmark - expenditure, to the cent) less to_provider."""
    book = _Book()
    terms = TERMS[inputs.track]
    gross = inputs.benchmark - inputs.expenditure
    book.step("gross_savings", gross,
              "updated benchmark - assigned beneficiaries' expenditures (negative: losses)",
              GENERAL)
    amount = _settle_amount(inputs, terms, gross, book)
    to_provider = to_cents(amount)
    book.step("provider_amount", amount,
              "earned shared savings (+) or shared losses owed (-), unrounded", GENERAL)
    return Reconciliation(name, MODEL, inputs_of(inputs.as_values()), tuple(book.steps),
                          to_provider, to_cents(gross) - to_provider, tuple(book.notes))


def _settle_amount(i: SettlementInputs, terms: TrackTerms, gross: Decimal,
                   book: _Book) -> Decimal:
    if i.benchmark <= 0:
        book.note("benchmark is zero or negative (no assigned beneficiaries or no "
                  "benchmark given): no savings rate, nothing is settled")
        return ZERO
    rate = gross / i.benchmark
    book.step("savings_rate", rate, "gross savings / updated benchmark (unrounded)", GENERAL)
    msr = _msr(i, terms, book)
    if msr is None:
        return ZERO
    gate = _quality_gate(i, terms, book)
    if gross > 0:
        met = rate >= msr
        book.step("msr_met", met, f"savings rate {'>=' if met else '<'} MSR "
                  "(meet or exceed)", GENERAL)
        if met:
            return _shared_savings(i, terms, gross, gate.sharing_rate, book)
        return _below_msr(i, terms, gross, rate, msr, gate, book)
    if gross < 0 and terms.two_sided:
        mlr = _mlr(i, msr, book)
        met = -rate >= mlr
        book.step("mlr_met", met, f"loss rate {'>=' if met else '<'} MLR (meet or exceed)",
                  GENERAL)
        return -_shared_losses(i, terms, -gross, gate, book) if met else ZERO
    if gross < 0:
        book.step("losses_shared", False, "one-sided model: losses are not shared",
                  terms.savings_source)
    return ZERO


def _msr(i: SettlementInputs, terms: TrackTerms, book: _Book) -> Decimal | None:
    if i.msr is not None:
        rule = ("elected MSR/MLR (0, 0.5, 1, 1.5 or 2 %) or as given" if terms.two_sided
                else "MSR as given")
        book.step("msr", i.msr, rule, _msr_source(terms))
        return i.msr
    started = i.agreement_start_year if i.agreement_start_year is not None \
        else i.performance_year
    if i.track is Track.TRACK_2 and started <= 2015:
        book.step("msr", MSR_FLOOR, "Track 2 agreement periods beginning 2012-2015: fixed "
                  "2 % MSR and MLR", "42 CFR 425.606(b)(1)(i)")
        return MSR_FLOOR
    try:
        msr = one_sided_msr(i.assigned_beneficiaries)
    except ValueError as exc:
        book.note(f"{exc}, and no MSR was given: nothing is settled")
        return None
    if terms.two_sided and not i.variable_msr:
        book.note("MSR/MLR election not given: used the size-based (variable) option")
    book.step("msr", msr, f"size table at {i.assigned_beneficiaries} assigned "
              "beneficiaries, linear within the band (unrounded)", MSR_SOURCE)
    return msr


def _msr_source(terms: TrackTerms) -> str:
    if not terms.two_sided:
        return MSR_SOURCE
    return "42 CFR 425.605(b)(2), 425.606(b)(1)(ii), 425.610(b)(1)"


def _mlr(i: SettlementInputs, msr: Decimal, book: _Book) -> Decimal:
    mlr = msr if i.mlr is None else i.mlr
    book.step("mlr", mlr, "minimum loss rate as given" if i.mlr is not None
              else "minimum loss rate = MSR (symmetric)",
              "42 CFR 425.605(b)(2), 425.606(b), 425.610(b)")
    return mlr


@dataclass(frozen=True)
class _Gate:
    """The quality result: the final sharing rate; for the shared loss rate, the maximum
    rate x the quality score (None: no score given) and whether every standard failed."""

    sharing_rate: Decimal
    loss_product: Decimal | None
    failed: bool = False


QUALITY_OLD = "42 CFR 425.502; 425.604(d), 425.606(d), 425.610(d)"
QUALITY_NEW = "42 CFR 425.512(a); 425.605(d)(1), 425.610(d)"


def _quality_gate(i: SettlementInputs, terms: TrackTerms, book: _Book) -> _Gate:
    top = terms.max_sharing_rate
    book.step("max_sharing_rate", top, f"{i.track.value}: up to {_pct(top)} of savings",
              terms.savings_source)
    gate = _gate_to_2020(i, top, book) if i.performance_year <= 2020 else \
        _gate_from_2021(i, top, book)
    book.step("final_sharing_rate", gate.sharing_rate, "sharing rate after the quality gate",
              QUALITY_OLD if i.performance_year <= 2020 else QUALITY_NEW)
    return gate


def _gate_to_2020(i: SettlementInputs, top: Decimal, book: _Book) -> _Gate:
    # up to PY2020 the sharing rate is the maximum rate x the quality score; an ACO
    # failing the minimum attainment / reporting standard shares nothing
    if i.met_quality_standard is False:
        book.step("quality_gate", "not met", "quality performance standard not met: no "
                  "shared savings; the maximum loss rate applies", QUALITY_OLD)
        return _Gate(ZERO, None, failed=True)
    score = i.quality_score
    if score is None and i.first_year_first_agreement:
        score = ONE
        book.step("quality_gate", "pay for reporting", "first performance year of a first "
                  "agreement: complete reporting earns a 100 % quality score",
                  "42 CFR 425.502(a)")
    elif score is None:
        score = ONE
        book.note("quality score not given (PY2020 or earlier, where the sharing rate is "
                  "the maximum rate x the quality score): settled at 100 %, an upper bound")
        book.step("quality_gate", "multiplied (score assumed)", f"final sharing rate = "
                  f"{_pct(top)} x quality score (not given: 100 %)", QUALITY_OLD)
    else:
        book.step("quality_gate", "multiplied", f"final sharing rate = {_pct(top)} x "
                  "quality score", QUALITY_OLD)
    book.step("quality_score", score, "quality score used (fraction)", QUALITY_OLD)
    return _Gate(top * score, top * score)


def _standard_met(i: SettlementInputs, book: _Book) -> bool | None:
    """The quality performance standard from PY2021: the percentile (30th PY2021-2023,
    40th from PY2024), or the first year of a first agreement, or (from PY2022) the
    eCQM/MIPS CQM reporting incentive."""
    routes = []
    if i.met_quality_standard:
        routes.append("quality score at or above the "
                      f"{'40th' if i.performance_year >= 2024 else '30th'} percentile of "
                      "MIPS quality scores (or as determined by CMS)")
    if i.first_year_first_agreement:
        routes.append("first performance year of a first agreement (pay for reporting)")
    if i.ecqm_incentive and i.performance_year >= 2022:
        routes.append("eCQM/MIPS CQM reporting incentive")
    if routes:
        book.step("quality_gate", "met", "quality performance standard met: "
                  + "; ".join(routes), "42 CFR 425.512(a)(2), (a)(4), (a)(5)")
        return True
    if i.met_quality_standard is None:
        return None
    return False


def _gate_from_2021(i: SettlementInputs, top: Decimal, book: _Book) -> _Gate:
    met = _standard_met(i, book)
    alternative = bool(i.met_alternative_standard) and i.performance_year >= 2023
    if met is None and not alternative:
        book.note("quality performance standard not given: settled as met (full rate)")
        met = True
        book.step("quality_gate", "met (assumed)", "standard not given", QUALITY_NEW)
    elif met is None:
        book.note("quality performance standard not given, the alternative one met: "
                  "settled on the alternative standard")
    if met:
        if i.quality_score is not None:
            book.step("quality_score", i.quality_score, "quality score (fraction): no effect "
                      "on the sharing rate; scales the shared loss rate",
                      "42 CFR 425.606(f), 425.610(f)")
        return _Gate(top, None if i.quality_score is None else top * i.quality_score)
    if alternative and i.quality_score is not None:
        book.step("quality_gate", "alternative", "only the alternative quality performance "
                  f"standard met: final sharing rate = {_pct(top)} x quality score",
                  "42 CFR 425.512(a)(4)(ii), (a)(5)(ii); 425.605(d)(1), 425.610(d)")
        book.step("quality_score", i.quality_score, "quality score used (fraction)",
                  QUALITY_NEW)
        product = top * i.quality_score
        return _Gate(product, product)
    if alternative:
        book.note("alternative quality standard met but no quality score given: the "
                  "sliding scale cannot be applied, nothing is shared")
    if i.met_alternative_standard and i.performance_year < 2023:
        book.note("the alternative quality performance standard applies from PY2023 only")
    book.step("quality_gate", "not met", "no quality standard met: no shared savings; the "
              "maximum loss rate applies", QUALITY_NEW)
    return _Gate(ZERO, None, failed=True)


def _sequestration(i: SettlementInputs) -> tuple[Decimal, str]:
    if i.sequestration_rate is not None:
        return i.sequestration_rate, "sequestration rate as given"
    if i.performance_year in NO_SEQUESTRATION_YEARS:
        return ZERO, ("no sequestration: suspended for payments made May 2020 - March "
                      "2022 (PY2020)")
    return SEQUESTRATION, "2 % sequestration of Medicare payments"


SEQ_SOURCE = ("Balanced Budget and Emergency Deficit Control Act s. 251A (2 % Medicare "
              "sequestration); CARES Act s. 3709")


def _shared_savings(i: SettlementInputs, terms: TrackTerms, savings: Decimal,
                    rate: Decimal, book: _Book, limit: Decimal | None = None,
                    limit_source: str | None = None) -> Decimal:
    shared = savings * rate
    book.step("gross_shared_savings", shared, "savings x final sharing rate, on a first "
              "dollar basis", terms.savings_source)
    seq_rate, seq_rule = _sequestration(i)
    reduced = shared * (ONE - seq_rate)
    book.step("sequestration", shared - reduced, seq_rule, SEQ_SOURCE)
    book.step("after_sequestration", reduced, "gross shared savings - sequestration",
              SEQ_SOURCE)
    fraction = terms.payment_limit if limit is None else limit
    cap = fraction * i.benchmark
    book.step("performance_payment_limit", cap, f"{_pct(fraction)} of the updated "
              "benchmark, applied after sequestration", limit_source or terms.savings_source)
    earned = min(reduced, cap)
    book.step("earned_shared_savings", earned, "lesser of the sequestered shared savings "
              "and the performance payment limit", limit_source or terms.savings_source)
    return earned


def _below_msr(i: SettlementInputs, terms: TrackTerms, savings: Decimal, rate: Decimal,
               msr: Decimal, gate: _Gate, book: _Book) -> Decimal:
    """42 CFR 425.605(h), from PY2024: a low revenue BASIC ACO with at least 5,000
    assigned beneficiaries whose savings are positive but below the MSR, and that meets
    a quality standard, shares at half its final sharing rate (up to 5 % of benchmark)."""
    if i.performance_year < 2024 or i.track not in BASIC_TRACKS or gate.sharing_rate <= 0:
        return ZERO
    if i.assigned_beneficiaries < HALF_RATE_MIN_BENEFICIARIES:
        return ZERO
    if i.revenue_category is None:
        book.note("savings below the MSR: the half-rate branch (42 CFR 425.605(h)) needs "
                  "the revenue category (low/high), not given: not applied")
        return ZERO
    if i.revenue_category != "low":
        return ZERO
    if i.agreement_start_year is not None and i.agreement_start_year < 2024:
        book.note("savings below the MSR: 42 CFR 425.605(h) applies to agreement periods "
                  "beginning in 2024 or later; this one began in "
                  f"{i.agreement_start_year}: not applied")
        return ZERO
    if i.agreement_start_year is None:
        book.note("agreement start not given: assumed 2024 or later for 42 CFR 425.605(h)")
    half = gate.sharing_rate / 2
    book.step("half_rate_below_msr", half, "low revenue BASIC ACO, >= 5,000 beneficiaries, "
              f"0 < savings rate {rate} < MSR {msr}, quality standard met: half the final "
              "sharing rate", HALF_RATE_SOURCE)
    return _shared_savings(i, terms, savings, half, book, HALF_RATE_LIMIT, HALF_RATE_SOURCE)


def _loss_rate(i: SettlementInputs, terms: TrackTerms, gate: _Gate, book: _Book) -> Decimal:
    if terms.flat_loss_rate is not None:
        book.step("loss_rate", terms.flat_loss_rate, f"flat {_pct(terms.flat_loss_rate)} "
                  "shared loss rate, whatever the quality", terms.loss_source)
        return terms.flat_loss_rate
    assert terms.loss_rate_bounds is not None
    low, high = terms.loss_rate_bounds
    # 1 - max rate x quality score, also from PY2021 when the standard is met (425.610(f);
    # the PY2021-2022 PUFs' DisAdj amounts reproduce it exactly)
    if gate.failed:
        raw = ONE
    elif gate.loss_product is None:
        book.note("quality score not given: shared loss rate from the final sharing rate")
        raw = ONE - gate.sharing_rate
    else:
        raw = ONE - gate.loss_product
    rate = min(max(raw, low), high)
    book.step("loss_rate", rate, f"1 - max sharing rate x quality score = {raw}, kept within "
              f"{_pct(low)}-{_pct(high)} (quality standard failed: the maximum)",
              terms.loss_source)
    return rate


def _shared_losses(i: SettlementInputs, terms: TrackTerms, losses: Decimal, gate: _Gate,
                   book: _Book) -> Decimal:
    rate = _loss_rate(i, terms, gate, book)
    shared = losses * rate
    book.step("shared_losses_before_limit", shared, "losses x shared loss rate",
              terms.loss_source)
    limit = _loss_limit(i, terms, book)
    owed = shared if limit is None else min(shared, limit)
    book.step("shared_losses", owed, "lesser of the shared losses and the loss sharing "
              "limit", terms.loss_source)
    owed -= _euc_reduction(i, owed, book)
    book.step("owed_shared_losses", owed, "shared losses - extreme and uncontrollable "
              "circumstances reduction", terms.loss_source)
    return owed


def _loss_limit(i: SettlementInputs, terms: TrackTerms, book: _Book) -> Decimal | None:
    fraction = terms.loss_limit_benchmark
    source = terms.loss_source
    if i.track is Track.TRACK_2:
        fraction, source = _track2_limit(i, book)
    assert fraction is not None
    limit = fraction * i.benchmark
    rule = f"{_pct(fraction)} of the updated benchmark"
    if terms.loss_limit_revenue is not None:
        if i.participant_revenue is None:
            book.note(f"ACO participants' revenue not given: the revenue-based loss "
                      f"sharing limit ({_pct(terms.loss_limit_revenue)} of revenue) was not "
                      f"applied, only its cap of {rule}")
        else:
            by_revenue = terms.loss_limit_revenue * i.participant_revenue
            rule = (f"lesser of {_pct(terms.loss_limit_revenue)} of ACO participants' "
                    f"revenue ({by_revenue}) and {rule}")
            limit = min(limit, by_revenue)
    book.step("loss_sharing_limit", limit, rule, source)
    return limit


def _track2_limit(i: SettlementInputs, book: _Book) -> tuple[Decimal, str]:
    source = "42 CFR 425.606(g)"
    by_year = {1: Decimal("0.05"), 2: Decimal("0.075")}
    if i.agreement_year is None:
        book.note("year of participation in Track 2 not given: used the third-and-later "
                  "year loss sharing limit (10 %; 5 % in year 1, 7.5 % in year 2)")
        return Decimal("0.10"), source
    return by_year.get(i.agreement_year, Decimal("0.10")), source


def _euc_reduction(i: SettlementInputs, owed: Decimal, book: _Book) -> Decimal:
    """42 CFR 425.605(f), 425.606(i), 425.610(i): after the loss rate and the limit, the
    shared losses are reduced by the share of months x beneficiaries affected by an
    extreme and uncontrollable circumstance."""
    source = "42 CFR 425.605(f), 425.606(i), 425.610(i)"
    share = i.euc_loss_share
    rule = "share of shared losses removed as given"
    if share is None and i.performance_year in COVID_FULL_YEARS:
        share = ONE
        rule = ("COVID-19 public health emergency: every month of the performance year and "
                "every county affected, shared losses removed in full")
    reduction = ZERO if share is None else owed * share
    given = None if i.disaster_adjustment is None else min(abs(i.disaster_adjustment), owed)
    if given is not None and given > reduction:
        reduction, rule = given, "extreme and uncontrollable circumstances adjustment as given"
    elif given is not None and abs(abs(i.disaster_adjustment or ZERO) - reduction) > ONE:
        book.note(f"the given disaster adjustment ({abs(i.disaster_adjustment or ZERO)}) "
                  f"differs from the shared losses removed ({reduction}): CMS's loss "
                  "sharing limit may have used inputs not given here (e.g. ACO "
                  "participants' revenue)")
    book.step("euc_reduction", reduction, rule, source)
    return reduction
