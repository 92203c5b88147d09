"""Reader of the CMS MSSP per-ACO results files ("Performance Year Financial and Quality
Results" public use files), and the recomputation of every ACO's settlement from them.

The layouts differ from year to year (column names, percent or fraction, "%" and "," in
numbers, a BOM, header labels shifted by one column in PY2013). A file's layout is
recognised by the columns it must have (and, to tell neighbours apart, columns it must
not have); added columns are ignored. Units are declared per layout and per field, never
guessed per value; the declared unit of the savings rate is checked by arithmetic against
(benchmark - expenditure) / benchmark, and a file that contradicts it is refused.

    errors: MissingColumnsError   no layout matches (names the closest and what it lacks)
            UnreadableFileError   not a CSV, a row with the wrong number of fields
            PufCellError          a cell that is not what its column holds (file, row,
                                  line, column)
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from medsynergy.contracts.mssp_settle import (
    TERMS,
    SettlementInputs,
    Track,
    one_sided_msr,
    parse_track,
    settle,
)
from medsynergy.errors import InputFileError, MissingColumnsError, UnreadableFileError

#: the MSR/MLR options a two-sided ACO may elect (42 CFR 425.605(b)(2)(i), 425.606(b),
#: 425.610(b)); any other published rate is the size-based (variable) option
ELECTED_MSR = frozenset(Decimal(x) for x in ("0", "0.005", "0.01", "0.015", "0.02"))
ONE_DOLLAR = Decimal(1)
MATCH_SHARE = Decimal("0.0005")  # 0.05 % of |gross savings|
UNIT_SLACK = Decimal("0.000001")


class PufCellError(InputFileError):
    """A cell that cannot be read as what its column holds."""

    def __init__(self, path: str, row: int, line: int, column: str, reason: str) -> None:
        self.row = row
        self.line = line
        self.column = column
        super().__init__(path, f"data row {row} (line {line}), column {column!r}: {reason}")


#: track flag columns (value 1 marks the ACO's track), across the years
TRACK_FLAGS: dict[str, Track] = {
    "Track 2 ACO": Track.TRACK_2, "Track1": Track.TRACK_1, "Track2": Track.TRACK_2,
    "Track3": Track.TRACK_3, "Current_Track_1": Track.TRACK_1,
    "Current_Track_2": Track.TRACK_2, "Current_Track_3": Track.TRACK_3,
    "Current_Track_1_Plus": Track.TRACK_1_PLUS, "Current_BASIC_A": Track.BASIC_A,
    "Current_BASIC_B": Track.BASIC_B, "Current_BASIC_C": Track.BASIC_C,
    "Current_BASIC_D": Track.BASIC_D, "Current_BASIC_E": Track.BASIC_E,
    "Current_ENHANCED": Track.ENHANCED,
}

#: optional fields shared by the layouts from PY2015 on: field -> candidate columns
_COMMON_OPTIONAL: dict[str, tuple[str, ...]] = {
    "gross_savings": ("BnchmkMinExp",),
    "gen_save_loss": ("GenSaveLoss",),
    "savings_rate": ("Sav_rate",),
    "final_share_rate": ("FinalShareRate",),
    "met_qps": ("Met_QPS",),
    "met_alt": ("Met_AltQPS", "Met_Alt_QPS"),
    "met_pctl": ("Met_40pctl", "Met_30pctl"),
    "met_first_year": ("Met_FirstYear",),
    "met_incentive": ("Met_Incentive",),
    "revenue_category": ("Rev_Exp_Cat",),
    "disaster_adjustment": ("DisAdj",),
    "start_date": ("Current_Start_Date", "Start_Date"),
    "risk_model": ("Risk_Model",),
}
_BASE = {"aco_id": "ACO_ID", "n_ab": "N_AB", "benchmark": "ABtotBnchmk",
         "expenditure": "ABtotExp", "msr": "MinSavPerc", "earned": "EarnSaveLoss",
         "quality_score": "QualScore"}
_RATES = ("msr", "mlr", "savings_rate", "quality_score", "final_share_rate")


@dataclass(frozen=True)
class Layout:
    """One year's (or years') file layout: which column holds each field, which fields
    are in percent units (all other rates: fractions)."""

    name: str
    #: field -> column, all required
    columns: Mapping[str, str]
    #: field -> candidate columns, the first present is read
    optional: Mapping[str, tuple[str, ...]]
    percent: frozenset[str]
    #: columns that must be present beyond `columns` (to recognise the layout)
    marks: tuple[str, ...] = ()
    #: columns that must be absent (to tell a neighbouring layout apart)
    absent: tuple[str, ...] = ()
    #: column holding the track as text (None: track flag columns)
    track_text: str | None = None
    #: the track when no flag is set (PY2013: only Track 2 is flagged)
    track_default: Track | None = None
    #: fields added up to make the published earned amount (PY2013: savings + losses)
    earned_parts: tuple[str, ...] = ()
    year: int | None = None
    #: no quality-standard flag in the file: a published final sharing rate of 0 is its
    #: record that the ACO failed the quality standard (e.g. incomplete reporting)
    fail_on_zero_rate: bool = False
    #: header labels do not sit over their values: check the mapping by arithmetic
    shifted: bool = False

    def required(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.columns.values(), *self.marks)))


# PY2013: the labels after "Total benchmark expenditures ($)" are shifted one column to
# the left of their values (a label is missing). Checked by arithmetic on every row:
# the value under "Total savings/losses ($)" is the expenditure, the one under "Shared
# Savings ($)" is benchmark - expenditure, under "Shared Losses ($)" the earned savings,
# under "Total number of assigned beneficiaries" the shared losses and under "Total
# assigned beneficiary person years" the number of assigned beneficiaries. "Minimum
# Savings Rate (%)" holds a fraction followed by a stray "%".
PY2013 = Layout(
    "PY2013 (shifted labels)",
    {"aco_id": "ACO Identifier", "n_ab": "Total assigned beneficiary person years",
     "benchmark": "Total benchmark expenditures ($)",
     "expenditure": "Total savings/losses ($)", "gross_savings": "Shared Savings ($)",
     "earned_savings": "Shared Losses ($)",
     "shared_losses": "Total number of assigned beneficiaries",
     "msr": "Minimum Savings Rate (%)", "quality_score": "Quality Score",
     "final_share_rate": "Final sharing rate"},
    {"mlr": ("Minimum Loss Rate (%)",), "start_date": ("Start Date",)},
    frozenset(), marks=("Track 2 ACO",), track_default=Track.TRACK_1,
    earned_parts=("earned_savings", "shared_losses"), year=2013, fail_on_zero_rate=True,
    shifted=True)
PY2014 = Layout(
    "PY2014 (Track1/Track2 flags, rates in percent)",
    {**_BASE, "aco_id": "ACO_Num", "final_share_rate": "FinalShareRate"},
    {**_COMMON_OPTIONAL, "start_date": ("Start_Date",)},
    frozenset({"msr", "savings_rate"}), marks=("Track1", "Track2"), fail_on_zero_rate=True)
PY2018 = Layout(
    "PY2015-2018 (Current_Track_1/2/3/1_Plus flags, fractions)",
    _BASE, _COMMON_OPTIONAL, frozenset(),
    marks=("Current_Track_1", "Current_Track_2", "Current_Track_3", "QualPerfShare"),
    absent=("Current_BASIC_A", "Current_ENHANCED"))
PY2020 = Layout(
    "PY2019-2020 (BASIC/ENHANCED flags, fractions, quality score in percent)",
    _BASE, _COMMON_OPTIONAL, frozenset({"quality_score"}),
    marks=("Current_BASIC_A", "Current_ENHANCED", "QualPerfShare"), absent=("MaxShareRate",))
PY2021 = Layout(
    "PY2021 (BASIC/ENHANCED flags, rates in percent)",
    _BASE, {**_COMMON_OPTIONAL, "savings_rate": ("Sav_Rate", "Sav_rate")},
    frozenset(_RATES), marks=("Current_BASIC_A", "Current_ENHANCED", "MaxShareRate"),
    absent=("QualPerfShare",))
PY2022 = Layout(
    "PY2022 and later (Current_Track codes, rates in percent)",
    _BASE, {**_COMMON_OPTIONAL, "savings_rate": ("Sav_rate", "Sav_Rate")},
    frozenset(_RATES), track_text="Current_Track")
LAYOUTS: tuple[Layout, ...] = (PY2013, PY2014, PY2018, PY2020, PY2021, PY2022)


@dataclass(frozen=True)
class PufRow:
    """One ACO of a results file: the settlement inputs and the published values."""

    aco_id: str
    row_number: int
    inputs: SettlementInputs
    two_sided: bool
    published_earned: Decimal
    published_gross_savings: Decimal | None
    published_gen_save_loss: Decimal | None
    published_msr: Decimal | None
    published_final_share_rate: Decimal | None
    #: Sav_rate as a fraction (checks the layout's declared unit)
    published_savings_rate: Decimal | None
    #: what the reader decided from the file (e.g. which MSR it used)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PufFile:
    path: str
    layout: str
    year: int
    rows: tuple[PufRow, ...]


# ---------------------------------------------------------------------------- reading


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(str(path), "no such file") from None
    except OSError as exc:
        raise UnreadableFileError(str(path), f"cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # CMS exports are UTF-8 or Windows-1252; only names carry non-ASCII characters
        return data.decode("cp1252", errors="replace")


def _header_key(name: str) -> str:
    return " ".join(name.replace("\ufeff", "").split()).lower()


def detect_layout(header: Sequence[str], path: str = "<file>") -> Layout:
    """The layout whose required columns are all in `header` (and whose excluded ones
    are not); MissingColumnsError naming the closest layout otherwise."""
    keys = {_header_key(h) for h in header}
    for layout in LAYOUTS:
        needed = [c for c in layout.required() if _header_key(c) not in keys]
        banned = [c for c in layout.absent if _header_key(c) in keys]
        if not needed and not banned and _has_track(layout, keys):
            return layout
    closest = min(LAYOUTS, key=lambda lay: sum(_header_key(c) not in keys
                                               for c in lay.required()))
    missing = [c for c in closest.required() if _header_key(c) not in keys]
    if closest.track_text and _header_key(closest.track_text) not in keys:
        missing.append(closest.track_text)
    raise MissingColumnsError(path, f"an MSSP results file (closest layout: {closest.name})",
                              missing or ["(a layout whose excluded columns are absent)"])


def _has_track(layout: Layout, keys: set[str]) -> bool:
    if layout.track_text is not None:
        return _header_key(layout.track_text) in keys
    return layout.track_default is not None or any(_header_key(c) in keys for c in TRACK_FLAGS)


def read_puf(path: str | Path, year: int | None = None) -> PufFile:
    """Every ACO of a results file. `year`: the performance year (default: fixed by the
    layout, else the first 4-digit year 2010-2099 in the file name)."""
    file = Path(path)
    records = _records(file)
    header = records[0][1] if records else []
    if not header:
        raise UnreadableFileError(str(file), "empty file: no header row")
    layout = detect_layout(header, str(file))
    py = _year(file, layout, year)
    index = {_header_key(h): i for i, h in enumerate(header)}
    rows = []
    for n, (line, values) in enumerate(records[1:], start=1):
        if len(values) != len(header):
            raise UnreadableFileError(str(file), f"data row {n} (line {line}): "
                                      f"{len(values)} fields, header has {len(header)}")
        cells = _Cells(str(file), n, line, layout, index, values)
        rows.append(_row(cells, py))
    _check_savings_rate_unit(str(file), layout, rows)
    _check_quality_unit(str(file), layout, rows)
    return PufFile(str(file), layout.name, py, tuple(rows))


def _check_quality_unit(path: str, layout: Layout, rows: Sequence[PufRow]) -> None:
    """Refuse percent quality scores that are all at most 1 %: fractions, not percents."""
    if "quality_score" not in layout.percent:
        return
    scores = [r.inputs.quality_score for r in rows if r.inputs.quality_score is not None]
    if scores and max(scores) <= Decimal("0.01") and max(scores) > 0:
        raise InputFileError(path, f"layout {layout.name!r} reads QualScore in percent, but "
                             "every score is at most 1: fractions? refused, units unknown")


def _check_savings_rate_unit(path: str, layout: Layout, rows: Sequence[PufRow]) -> None:
    """Refuse a file whose savings rates contradict the layout's declared unit: the
    published Sav_rate must be (benchmark - expenditure) / benchmark on most rows."""
    pairs = [(r.published_savings_rate, (r.inputs.benchmark - r.inputs.expenditure)
              / r.inputs.benchmark) for r in rows
             if r.published_savings_rate is not None and r.inputs.benchmark > 0]
    if not pairs:
        return
    fits = sum(abs(s - x) <= last_digit(s) + UNIT_SLACK for s, x in pairs)
    if 2 * fits >= len(pairs):
        return
    declared = "savings_rate" in layout.percent
    factor = Decimal(100) if declared else Decimal("0.01")
    other = sum(abs(s * factor - x) <= last_digit(s * factor) + UNIT_SLACK for s, x in pairs)
    if 2 * other >= len(pairs):
        raise InputFileError(path, f"layout {layout.name!r} reads the savings rate in "
                             f"{'percent' if declared else 'fractions'}, but on {other} of "
                             f"{len(pairs)} rows (benchmark - expenditure) / benchmark says "
                             f"{'fractions' if declared else 'percent'}: refused, units unknown")


def _records(file: Path) -> list[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(_decode(file), newline=""))
    out: list[tuple[int, list[str]]] = []
    try:
        for values in reader:
            if values and any(v.strip() for v in values):
                out.append((reader.line_num, values))
    except csv.Error as exc:
        raise UnreadableFileError(str(file), f"unreadable CSV at line {reader.line_num}: "
                                  f"{exc}") from None
    return out


def _year(file: Path, layout: Layout, year: int | None) -> int:
    if year is not None:
        return year
    if layout.year is not None:
        return layout.year
    # the first year in the name: "PY_..._2024_revised 2026_07_17.csv" is PY2024
    found = re.findall(r"(?<!\d)(20[1-9]\d)(?!\d)", file.name)
    if found:
        return int(found[0])
    raise InputFileError(str(file), "cannot tell the performance year from the file name; "
                         "pass it (year=..., --year)")


#: cells that hold no value (suppressed or not applicable)
_EMPTY = frozenset({"*", "-", ".", "N/A", "NA", "NULL", "NONE"})
_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


@dataclass(frozen=True)
class _Cells:
    """The cells of one data row, read through the layout."""

    path: str
    row: int
    line: int
    layout: Layout
    index: Mapping[str, int]
    values: Sequence[str]

    def column(self, name: str) -> str | None:
        if name in self.layout.columns:
            return self.layout.columns[name]
        for candidate in self.layout.optional.get(name, ()):
            if _header_key(candidate) in self.index:
                return candidate
        return None

    def text(self, name: str) -> str | None:
        column = self.column(name)
        if column is None:
            return None
        value = self.values[self.index[_header_key(column)]].replace("\ufeff", "").strip()
        return value or None

    def fail(self, name: str, reason: str) -> PufCellError:
        return PufCellError(self.path, self.row, self.line, self.column(name) or name, reason)

    def number(self, name: str, *, required: bool = False) -> Decimal | None:
        raw = self.text(name)
        if raw is None or raw.upper() in _EMPTY:
            if required:
                raise self.fail(name, "empty, a number is required")
            return None
        cleaned = raw.replace("$", "").replace(",", "").replace("%", "").replace(" ", "")
        negative = cleaned.startswith("(") and cleaned.endswith(")")
        cleaned = cleaned.strip("()")
        if not _NUMBER.match(cleaned):
            raise self.fail(name, f"{raw!r} is not a number")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            raise self.fail(name, f"{raw!r} is not a number") from None
        return -value if negative else value

    def amount(self, name: str) -> Decimal:
        """A required number."""
        value = self.number(name, required=True)
        if value is None:  # number(required=True) raised already
            raise self.fail(name, "empty, a number is required")
        return value

    def rate(self, name: str, *, required: bool = False) -> Decimal | None:
        value = self.number(name, required=required)
        if value is None or name not in self.layout.percent:
            return value
        return value.scaleb(-2)  # percent -> fraction, keeping the published digits

    def flag(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None or raw.upper() in _EMPTY:
            return None
        word = raw.strip().lower()
        if word in ("y", "yes", "true"):
            return True
        if word in ("n", "no", "false"):
            return False
        value = self.number(name)
        if value not in (0, 1):
            raise self.fail(name, f"{raw!r} is not a 0/1 flag")
        return value == 1


def _row(c: _Cells, year: int) -> PufRow:
    aco_id = c.text("aco_id")
    if aco_id is None:
        raise c.fail("aco_id", "empty, an ACO identifier is required")
    track = _track(c)
    n_ab = _count(c)
    benchmark = c.amount("benchmark")
    expenditure = c.amount("expenditure")
    published_msr = _unit_rate(c, "msr", required=True)
    if published_msr is None:
        raise c.fail("msr", "empty, a rate is required")
    two_sided = TERMS[track].two_sided
    notes: list[str] = []
    msr = _msr_input(two_sided, n_ab, published_msr, notes)
    mlr = _unit_rate(c, "mlr", signed=True)
    quality, first_year = _quality(c)
    published_fsr = c.rate("final_share_rate")
    met = _met(c, published_fsr)
    gross = c.number("gross_savings")
    _check_identity(c, benchmark, expenditure, gross, notes)
    start = _start(c)
    try:
        inputs = SettlementInputs(
            performance_year=year, track=track, assigned_beneficiaries=n_ab,
            benchmark=benchmark, expenditure=expenditure, msr=msr,
            mlr=mlr, variable_msr=two_sided and msr is None, quality_score=quality,
            met_quality_standard=met, met_alternative_standard=c.flag("met_alt"),
            first_year_first_agreement=first_year or c.flag("met_first_year"),
            ecqm_incentive=c.flag("met_incentive"), revenue_category=_revenue(c),
            disaster_adjustment=c.number("disaster_adjustment"),
            agreement_year=None if start is None else _agreement_year(start, year),
            agreement_start_year=None if start is None else start[0])
    except ValueError as exc:  # the cells were checked above: a rule of the inputs
        raise PufCellError(c.path, c.row, c.line, "(row)", str(exc)) from None
    _check_risk_model(c, two_sided, notes)
    return PufRow(aco_id, c.row, inputs, two_sided, _earned(c), gross,
                  c.number("gen_save_loss"), published_msr, published_fsr,
                  c.rate("savings_rate"), tuple(notes))


def _unit_rate(c: _Cells, name: str, *, required: bool = False, signed: bool = False
               ) -> Decimal | None:
    """A rate as a fraction between 0 and 1 (PY2013's MLR is published negative)."""
    value = c.rate(name, required=required)
    if value is None:
        return None
    if signed:
        value = abs(value)
    if not 0 <= value <= 1:
        unit = "percent" if name in c.layout.percent else "a fraction"
        raise c.fail(name, f"{c.text(name)!r} is not a rate between 0 and 100 % "
                     f"(this layout reads it as {unit})")
    return value


def _track(c: _Cells) -> Track:
    if c.layout.track_text is not None:
        text = c.values[c.index[_header_key(c.layout.track_text)]].strip()
        try:
            return parse_track(text)
        except ValueError as exc:
            raise PufCellError(c.path, c.row, c.line, c.layout.track_text, str(exc)) from None
    set_flags = []
    for column, track in TRACK_FLAGS.items():
        key = _header_key(column)
        if key in c.index and c.values[c.index[key]].strip() in ("1", "1.0"):
            set_flags.append((column, track))
    if len(set_flags) == 1:
        return set_flags[0][1]
    if not set_flags and c.layout.track_default is not None:
        return c.layout.track_default
    names = ", ".join(col for col, _ in set_flags) or "none"
    raise PufCellError(c.path, c.row, c.line, "track flags",
                       f"exactly one track flag must be 1 (set: {names})")


def _count(c: _Cells) -> int:
    value = c.amount("n_ab")
    if value != value.to_integral_value() or value < 0:
        raise c.fail("n_ab", f"{value} is not a count of beneficiaries")
    return int(value)


def _msr_input(two_sided: bool, n: int, published: Decimal, notes: list[str]
               ) -> Decimal | None:
    """The MSR to settle with: one-sided ACOs and the variable option of two-sided ones
    use the size table unrounded (the published rate is rounded); an elected rate is
    used as published."""
    if not two_sided:
        return None
    if published in ELECTED_MSR:
        return published
    try:
        table = one_sided_msr(n)
    except ValueError:
        notes.append(f"published MSR {published} used: no size-table rate for {n}")
        return published
    if abs(table - published) <= last_digit(published):
        notes.append(f"published MSR {published} is the size table's rate (variable MSR/MLR "
                     "option): settled with the unrounded table rate")
        return None
    notes.append(f"published MSR {published} is neither an elected rate nor the size table "
                 f"({table}): used as published")
    return published


def last_digit(value: Decimal) -> Decimal:
    """One unit of the last digit `value` was published with: its rounding error (half a
    unit), widened to a whole unit because some files were rounded twice (PY2013
    0.0232137404580... is published as 0.023213741)."""
    exponent = value.as_tuple().exponent
    if not isinstance(exponent, int):
        return Decimal(0)
    return Decimal(1).scaleb(exponent) + Decimal("1e-12")


def _quality(c: _Cells) -> tuple[Decimal | None, bool | None]:
    raw = c.text("quality_score")
    if raw is not None and raw.upper() == "P4R":
        # pay for reporting: first performance year of a first agreement (PY2013-2014)
        return None, True
    return _unit_rate(c, "quality_score"), None


def _met(c: _Cells, published_fsr: Decimal | None) -> bool | None:
    met = c.flag("met_qps")
    if met is None:
        met = c.flag("met_pctl")
    if met is None and c.layout.fail_on_zero_rate and published_fsr == 0:
        return False
    return met


def _revenue(c: _Cells) -> str | None:
    text = c.text("revenue_category")
    if text is None:
        return None
    word = text.split()[0].lower()
    if word not in ("low", "high"):
        raise c.fail("revenue_category", f"{text!r} is neither Low nor High Revenue")
    return word


_MONTHS = {m: i for i, m in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                        "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}


def _start(c: _Cells) -> tuple[int, int] | None:
    """(year, month) of the agreement start: 7/1/2012, 01/01/2016 12:00:00 AM,
    2019-07-01, 01JAN2024, Jan 1, 2024."""
    text = c.text("start_date")
    if text is None:
        return None
    iso = re.match(r"^(\d{4})-(\d{1,2})-\d{1,2}", text)
    if iso:
        return int(iso.group(1)), int(iso.group(2))
    us = re.match(r"^(\d{1,2})/\d{1,2}/(\d{4})", text)
    if us:
        return int(us.group(2)), int(us.group(1))
    named = re.match(r"^(?:\d{1,2}\s*([A-Za-z]{3})[A-Za-z]*\s*|([A-Za-z]{3})[A-Za-z]*\s+"
                     r"\d{1,2},?\s*)(\d{4})", text)
    if named and (named.group(1) or named.group(2) or "").upper() in _MONTHS:
        return int(named.group(3)), _MONTHS[(named.group(1) or named.group(2)).upper()]
    raise c.fail("start_date", f"{text!r} is not a date")


def _agreement_year(start: tuple[int, int], year: int) -> int:
    # ACOs that started in April or July 2012 had a first performance year running to
    # the end of 2013 (42 CFR 425.608); a July 2019 start had a 6-month first year (2019)
    first = 2013 if start == (2012, 4) or start == (2012, 7) else start[0]
    return max(year - first + 1, 1)


def _earned(c: _Cells) -> Decimal:
    if not c.layout.earned_parts:
        return c.amount("earned")
    return sum((c.number(part) or Decimal(0) for part in c.layout.earned_parts), Decimal(0))


def _check_identity(c: _Cells, benchmark: Decimal, expenditure: Decimal,
                    gross: Decimal | None, notes: list[str]) -> None:
    if gross is None or abs(benchmark - expenditure - gross) <= ONE_DOLLAR:
        return
    if c.layout.shifted:
        raise c.fail("gross_savings", f"benchmark - expenditure = {benchmark - expenditure} "
                     f"but the savings column holds {gross}: the layout's shifted labels "
                     "do not check out")
    notes.append(f"published savings {gross} differ from benchmark - expenditure "
                 f"{benchmark - expenditure}")


def _check_risk_model(c: _Cells, two_sided: bool, notes: list[str]) -> None:
    model = c.text("risk_model")
    if model is None:
        return
    says_two = model.lower().startswith("two")
    if says_two != two_sided:
        notes.append(f"Risk_Model {model!r} disagrees with the track")


# ------------------------------------------------------------------------- recompute


def recompute(file: str | Path, year: int | None = None) -> list[dict[str, object]]:
    """Each ACO's earned savings / owed losses computed by `settle` next to the published
    EarnSaveLoss: {aco_id, track, two_sided, n_ab, computed_earned, published_earned,
    difference, match, msr_used, msr_published, msr_disagrees, notes}. match: within $1
    or 0.05 % of |gross savings|, whichever is larger."""
    return compare_rows(read_puf(file, year))


def compare_rows(puf: PufFile) -> list[dict[str, object]]:
    """`recompute` on a file already read."""
    return [_compare(row) for row in puf.rows]


def _compare(row: PufRow) -> dict[str, object]:
    result = settle(row.inputs, name=row.aco_id)
    gross = row.inputs.benchmark - row.inputs.expenditure
    difference = result.to_provider - row.published_earned
    tolerance = max(ONE_DOLLAR, abs(gross) * MATCH_SHARE)
    msr_step = next((s for s in result.steps if s.name == "msr"), None)
    msr_used = msr_step.value if msr_step is not None else None
    return {
        "aco_id": row.aco_id, "track": row.inputs.track.value, "two_sided": row.two_sided,
        "n_ab": row.inputs.assigned_beneficiaries, "computed_earned": result.to_provider,
        "published_earned": row.published_earned, "difference": difference,
        "match": abs(difference) <= tolerance, "msr_used": msr_used,
        "msr_published": row.published_msr,
        "msr_disagrees": _msr_disagrees(row),
        "notes": [*row.notes, *result.notes],
    }


def _msr_disagrees(row: PufRow) -> bool:
    """A one-sided ACO whose published MinSavPerc is not the size table's rate (beyond
    the published precision)."""
    if row.two_sided or row.published_msr is None:
        return False
    try:
        table = one_sided_msr(row.inputs.assigned_beneficiaries)
    except ValueError:
        return True
    return abs(table - row.published_msr) > last_digit(row.published_msr)


def match_rates(rows: Sequence[Mapping[str, object]]) -> dict[str, tuple[int, int]]:
    """(matched, total) for one-sided and two-sided ACOs."""
    out: dict[str, tuple[int, int]] = {}
    for key, two in (("one_sided", False), ("two_sided", True)):
        group = [r for r in rows if r["two_sided"] is two]
        out[key] = (sum(1 for r in group if r["match"] is True), len(group))
    return out


def iter_inputs(file: str | Path, year: int | None = None) -> Iterator[SettlementInputs]:
    """The settlement inputs of every ACO of a results file."""
    for row in read_puf(file, year).rows:
        yield row.inputs
