"""The HTML report, on a warehouse loaded from the demo fixture (examples/data).

Expected figures are computed here from the CSV files themselves (row counts, and the
total paid with `Decimal` over each claim line's final version), not read back from the
warehouse the report was made from.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import plotly.offline
import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.ingest import RULES, LoadResult
from medsynergy.reports import SMALL_CELL, write_report
from medsynergy.schema import ALL_TABLES

DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
FILES = ("eligibility", "medical_claim", "pharmacy_claim", "provider")
PLOTLY_SCRIPT = re.compile(r'<script type="text/javascript" id="plotlyjs">.*?</script>', re.S)


class _Tables(HTMLParser):
    """The cell texts of every <table id=...> (data rows only) and <p id=...> placeholder."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("table", "p") and dict(attrs).get("id"):
            self._table = str(dict(attrs)["id"])
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._table and self._row is not None:
            if self._row:
                self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("table", "p"):
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables_of(text: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(PLOTLY_SCRIPT.sub("", text))
    return parser.tables


@dataclass(frozen=True)
class Report:
    wh: Warehouse
    path: Path
    written: Path
    text: str
    loads: list[LoadResult]

    @property
    def tables(self) -> dict[str, list[list[str]]]:
        return tables_of(self.text)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Report]:
    tmp = tmp_path_factory.mktemp("report")
    wh = medsynergy.connect(tmp / "wh.duckdb")
    loads = medsynergy.ingest_paths(wh, [DATA], source="demo")
    path = tmp / "out" / "report.html"
    written = write_report(wh, path, title="demo <report> & co", loads=loads)
    yield Report(wh, path, written, path.read_text(encoding="utf-8"), loads)
    wh.close()


def csv_rows(name: str) -> list[dict[str, str]]:
    with (DATA / f"{name}.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def expected_total_paid() -> Decimal:
    """Sum of paid_amount over the final version of each medical claim line, from the CSV.

    Rows the load must refuse are left out (an amount that is not a plain number, an end
    date before the start date); each (claim_id, claim_line_number) keeps its latest
    version by paid date, then adjustment sequence, then reversal last; a line whose
    latest version is a reversal has no final version.
    """
    latest: dict[tuple[str, str], tuple[tuple[date, int, bool], dict[str, str]]] = {}
    for r in csv_rows("medical_claim"):
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", r["paid_amount"]):
            continue
        if date.fromisoformat(r["claim_end_date"]) < date.fromisoformat(r["claim_start_date"]):
            continue
        version = (date.fromisoformat(r["paid_date"]), int(r["adjustment_sequence_number"] or -1),
                   r["adjustment_type_code"] == "reversal")
        key = (r["claim_id"], r["claim_line_number"])
        if key not in latest or version > latest[key][0]:
            latest[key] = (version, r)
    total = Decimal("0.00")
    for version, r in latest.values():
        if not version[2]:
            total += Decimal(r["paid_amount"])
    return total


# -- the file --------------------------------------------------------------------------------
def test_report_is_written_where_asked(report: Report) -> None:
    assert report.written == report.path
    assert report.path.is_file()
    assert report.text.startswith("<!DOCTYPE html>")
    assert report.text.rstrip().endswith("</html>")


def test_plotly_js_is_embedded_once(report: Report) -> None:
    assert report.text.count(plotly.offline.get_plotlyjs()) == 1
    assert len(PLOTLY_SCRIPT.findall(report.text)) == 1


def test_nothing_is_fetched_from_the_network(report: Report) -> None:
    # plotly.js itself mentions URLs (map tiles, docs); everything else must not.
    rest = PLOTLY_SCRIPT.sub("", report.text).lower()
    assert "cdn" not in rest
    assert "http" not in rest
    assert re.search(r"<script[^>]*\bsrc\s*=", report.text, re.I) is None
    assert re.search(r"<link\b", rest) is None


def test_header_names_title_engine_and_warehouse(report: Report) -> None:
    assert "<title>demo &lt;report&gt; &amp; co</title>" in report.text
    assert "<h1>demo &lt;report&gt; &amp; co</h1>" in report.text
    assert "engine <code>duckdb</code>" in report.text
    assert f"<code>{report.path.parent.parent / 'wh.duckdb'}</code>" in report.text


def test_charts_present(report: Report) -> None:
    assert 'id="chart-spend"' in report.text
    assert 'id="chart-quarantine"' in report.text


# -- loads -----------------------------------------------------------------------------------
def test_loads_table_has_exact_counts_of_each_file(report: Report) -> None:
    rows = {r[0]: r for r in report.tables["loads"]}
    assert len(rows) == len(FILES)
    for name in FILES:
        rows_in = len(csv_rows(name))
        quarantined = 3 if name == "medical_claim" else 0  # the fixture's bad rows
        findings = 4 if name == "medical_claim" else 0
        row = rows[str(DATA / f"{name}.csv")]
        assert row[1:4] == [name, "demo", "loaded"]
        assert row[4] == f"{rows_in:,}"
        assert row[5] == f"{rows_in - quarantined:,}"
        assert row[8] == f"{quarantined:,}"
        assert row[9] == f"{findings:,}"
        assert row[10] == "yes"


def test_loads_table_matches_load_log(report: Report) -> None:
    log = report.wh.to_arrow(report.wh.table("load_log")).to_pylist()
    rows = {r[0]: r for r in report.tables["loads"]}
    for entry in log:
        row = rows[entry["file_name"]]
        assert row[4:10] == [f"{entry[c]:,}" for c in ("rows_in", "rows_loaded", "rows_final",
                                                        "rows_superseded", "rows_quarantined",
                                                        "findings")]


def test_medical_claim_load_splits_final_and_superseded(report: Report) -> None:
    # 6 adjustment chains: 5 re-priced (original, reversal, replacement) and 1 cancelled
    # (original, reversal): 12 superseded rows.
    row = next(r for r in report.tables["loads"] if r[1] == "medical_claim")
    rows_in = len(csv_rows("medical_claim"))
    assert row[6:8] == [f"{rows_in - 3 - 12:,}", "12"]


def test_this_run_lists_the_load_results(report: Report) -> None:
    rows = report.tables["this-run"]
    assert [r[0] for r in rows] == [r.file_name for r in report.loads]
    assert all(r[2] == "loaded" for r in rows)


# -- quarantine and findings -----------------------------------------------------------------
def test_quarantine_by_rule_is_exact(report: Report) -> None:
    assert report.tables["quarantine"] == [
        ["medical_claim", "amount_unparsable", RULES["amount_unparsable"].description, "1"],
        ["medical_claim", "claim_end_before_start", RULES["claim_end_before_start"].description, "2"],
    ]
    assert report.loads[1].quarantined_by_rule == {"amount_unparsable": 1,
                                                    "claim_end_before_start": 2}


def test_findings_by_rule_is_exact(report: Report) -> None:
    assert [r[:2] + r[3:] for r in report.tables["findings"]] == [
        ["medical_claim", "diagnosis_code_shape", "1"],
        ["medical_claim", "npi_invalid", "3"],
    ]


def test_every_canonical_table_is_counted(report: Report) -> None:
    counts = {r[0]: r[1] for r in report.tables["row-counts"]}
    assert list(counts) == [t.name for t in ALL_TABLES]
    for name, shown in counts.items():
        assert shown == f"{report.wh.count(name):,}"
    assert counts["quarantine"] == "3"
    assert counts["medical_claim_superseded"] == "12"


# -- money -----------------------------------------------------------------------------------
def test_total_paid_is_exact(report: Report) -> None:
    expected = f"{expected_total_paid():,.2f}"
    summary = dict((r[0], r[1]) for r in report.tables["summary"])
    assert summary["Medical paid"] == expected
    total_row = report.tables["spend"][-1]
    assert total_row[0] == "Total"
    assert total_row[4] == expected


def test_monthly_paid_adds_up_to_the_total(report: Report) -> None:
    months = report.tables["spend"][:-1]
    assert [m[0] for m in months] == [f"2024-{k:02d}" for k in range(1, 13)]
    total = sum((Decimal(m[4].replace(",", "")) for m in months), Decimal("0.00"))
    assert f"{total:,.2f}" == f"{expected_total_paid():,.2f}"


def test_reversals_net_out_in_the_fixture() -> None:
    # Reversals negate every amount, so all loadable lines sum to the final versions.
    total = Decimal("0.00")
    for r in csv_rows("medical_claim"):
        try:
            paid = Decimal(r["paid_amount"])
        except InvalidOperation:
            continue
        if r["claim_end_date"] >= r["claim_start_date"]:
            total += paid
    assert total == expected_total_paid()


# -- small cells -----------------------------------------------------------------------------
def test_small_cells_are_suppressed(tmp_path: Path) -> None:
    """Three members: member counts and the month's amounts show as <11; the total does not."""
    (tmp_path / "data").mkdir()
    with (tmp_path / "data" / "eligibility.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["person_id", "member_id", "enrollment_start_date", "enrollment_end_date", "payer"])
        for i in range(3):
            w.writerow([f"P{i}", f"M{i}", "2024-01-01", "2024-12-31", "Medicare"])
    with (tmp_path / "data" / "medical_claim.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["claim_id", "claim_line_number", "person_id", "claim_start_date",
                    "claim_end_date", "paid_amount", "allowed_amount", "payer"])
        for i in range(3):
            w.writerow([f"C{i}", 1, f"P{i}", "2024-03-05", "2024-03-05", "100.10", "125.00",
                        "Medicare"])
    wh = medsynergy.connect(tmp_path / "wh.duckdb")
    try:
        medsynergy.ingest_paths(wh, [tmp_path / "data"], source="t")
        text = write_report(wh, tmp_path / "r.html").read_text(encoding="utf-8")
    finally:
        wh.close()
    tables = tables_of(text)
    suppressed = f"<{SMALL_CELL}"
    assert dict((r[0], r[1]) for r in tables["summary"])["Members enrolled"] == suppressed
    month, total = tables["spend"]
    assert month == ["2024-03", suppressed, suppressed, "3", suppressed, suppressed,
                     suppressed, suppressed]
    assert total[4:6] == ["300.30", "375.00"]
    assert "Cells describing fewer than 11 members are suppressed" in text
    assert "this-run" not in tables  # no load results passed


# -- measure sections (marts) ----------------------------------------------------------------
MEASURE_SECTIONS = {"pmpm": "Paid PMPM by service category",
                    "utilisation": "Utilisation per 1,000 member-years",
                    "readmissions": "Readmissions", "risk": "Risk score distribution",
                    "attribution": "Attribution"}
CENT = Decimal("0.01")
TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Measured:
    wh: Warehouse
    text: str

    @property
    def tables(self) -> dict[str, list[list[str]]]:
        return tables_of(self.text)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of `query` run by DuckDB itself on the warehouse's tables."""
        return list(self.wh.raw.execute(query).fetchall())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Measured]:
    """1,000 synthetic members over 2024-2025 (payment year 2025 has risk scores), loaded and
    measured (every mart published), and its report."""
    from medsynergy.marts.registry import MARTS, publish_plan
    from medsynergy.synth import generate

    tmp = tmp_path_factory.mktemp("measured")
    generate(tmp / "data", members=1000, years=(2024, 2025), seed=7)
    wh = medsynergy.connect(tmp / "wh.duckdb")
    medsynergy.ingest_paths(wh, [tmp / "data"], source="synth")
    wh.publish(publish_plan(MARTS, wh.table))
    text = write_report(wh, tmp / "report.html").read_text(encoding="utf-8")
    yield Measured(wh, text)
    wh.close()


def half_up(value: Decimal, unit: Decimal) -> Decimal:
    return value.quantize(unit, rounding=ROUND_HALF_UP)


def num(cell: str) -> Decimal:
    return Decimal(cell.replace(",", "").rstrip("%"))


def test_measure_sections_note_missing_marts(report: Report) -> None:
    """The demo warehouse was never measured: each section says so instead of failing."""
    for section_id, heading in MEASURE_SECTIONS.items():
        assert f"<h2>{heading}</h2>" in report.text
        assert f"{section_id}-missing" in report.tables
        assert section_id not in report.tables
    assert report.text.count("run <code>medsynergy measure</code>") == len(MEASURE_SECTIONS)
    assert 'id="chart-pmpm"' not in report.text


def test_measure_sections_present(measured: Measured) -> None:
    for section_id, heading in MEASURE_SECTIONS.items():
        assert f"<h2>{heading}</h2>" in measured.text
        assert f"{section_id}-missing" not in measured.tables
    assert "<h3>Total cost of care per year</h3>" in measured.text
    assert 'id="chart-pmpm"' in measured.text
    assert 'id="chart-risk"' in measured.text
    assert "medsynergy measure</code>" not in measured.text


def test_pmpm_per_year_is_exact(measured: Measured) -> None:
    """Total paid PMPM of a year = all paid in `cost` / every member month of the year."""
    rows = measured.tables["pmpm"]
    total = rows[-1]
    assert total[0] == "Total"
    for i, year in enumerate((2024, 2025)):
        [(paid,)] = measured.sql(f"select sum(paid_amount) from cost where year = {year}")
        [(months,)] = measured.sql(f"select count(*) from member_months where year = {year}")
        assert total[2 + i] == f"{half_up(paid / months, CENT):,.2f}"
        [(em,)] = measured.sql("select sum(paid_amount) from cost where year = "
                               f"{year} and service_category = 'professional_em'")
        row = next(r for r in rows if r[1] == "professional_em")
        assert row[0] == "professional"
        assert row[2 + i] == f"{half_up(em / months, CENT):,.2f}"
    # every category adds up to the total within the rounding of each cell
    cats = sum((num(r[2]) for r in rows[:-1]), Decimal(0))
    assert abs(cats - num(total[2])) <= CENT * len(rows) / 2


def test_pmpm_denominator_counts_each_month_once(measured: Measured) -> None:
    # member_months repeats on every category row of `cost`: taken once per payer x plan x
    # month it is the member months of the months with claims (every month, here)
    [(from_cost,)] = measured.sql(
        "select sum(member_months) from (select distinct payer, plan, month_start_date, "
        "member_months from cost where year = 2024)")
    [(all_months,)] = measured.sql("select count(*) from member_months where year = 2024")
    assert from_cost == all_months


def test_total_cost_of_care_is_exact(measured: Measured) -> None:
    rows = {r[0]: r for r in measured.tables["cost-totals"]}
    assert list(rows) == ["2024", "2025"]
    for year, row in rows.items():
        [(paid, allowed, months, people)] = measured.sql(
            "select sum(paid_amount), sum(allowed_amount), sum(member_months), "
            f"(select count(distinct person_id) from member_months where year = {year}) "
            f"from cost_totals where year = {year}")
        assert row[1] == f"{people:,}"
        assert row[2] == f"{months:,}"
        assert row[4:6] == [f"{paid:,.2f}", f"{allowed:,.2f}"]
        assert row[6] == f"{half_up(paid / months, CENT):,.2f}"
        assert row[8] == f"{half_up(paid * 12 / months, CENT):,.2f}"
        assert row[6] == measured.tables["pmpm"][-1][1 + len(rows) - (2025 - int(year))]


def test_utilisation_per_thousand_is_exact(measured: Measured) -> None:
    rows = {r[0]: r for r in measured.tables["utilisation"]}
    assert list(rows) == ["2024", "2025"]
    measures = ("admissions", "bed_days", "ed_visits", "office_em_visits", "integrative_visits")
    for year, row in rows.items():
        [got] = measured.sql(
            "select sum(member_months), "
            + ", ".join(f"sum({m})" for m in measures)
            + f" from utilisation where year = {year}")
        months = Decimal(got[0])
        assert row[1] == f"{int(months):,}"
        for i, n in enumerate(got[1:]):
            assert row[2 + 2 * i] == f"{int(n):,}"
            assert row[3 + 2 * i] == f"{half_up(Decimal(n) * 12_000 / months, TENTH):,.1f}"
    # admissions counted independently from the inpatient stays: first stay of each episode
    [(admissions,)] = measured.sql(
        "select count(*) from inpatient_stays where year(admission_date) = 2024 "
        "and (stay_id = episode_id or episode_id is null)")
    assert rows["2024"][2] == f"{admissions:,}"


def test_readmission_rate_is_exact(measured: Measured) -> None:
    rows = {r[0]: r for r in measured.tables["readmissions"]}
    [(index, readmits)] = measured.sql(
        "select count(*), sum(readmit_30_flag) from readmissions "
        "where index_flag = 1 and year(discharge_date) = 2024")
    assert index >= SMALL_CELL
    assert readmits >= SMALL_CELL
    row = rows["2024"]
    assert row[1:3] == [f"{index:,}", f"{readmits:,}"]
    assert row[3] == f"{half_up(Decimal(readmits) * 100 / index, TENTH)}%"
    assert re.fullmatch(r"\d+\.\d%", row[3])


def test_risk_score_distribution(measured: Measured) -> None:
    [(year,)] = measured.sql("select max(payment_year) from risk")
    assert f"Payment year {year}" in measured.text
    stats = {m: (n, mean, median, p90) for m, n, mean, median, p90 in measured.sql(
        "select model, count(distinct person_id), avg(normalized_score), "
        "median(normalized_score), quantile_cont(normalized_score, 0.9) "
        f"from risk where payment_year = {year} group by model")}
    rows = {r[0]: r for r in measured.tables["risk-scores"]}
    assert set(rows) == set(stats)
    for model, (n, mean, median, p90) in stats.items():
        if n < SMALL_CELL:
            assert rows[model][1:] == [f"<{SMALL_CELL}"] * 4
        else:
            assert rows[model][1:] == [f"{n:,}", f"{mean:.3f}", f"{median:.3f}", f"{p90:.3f}"]
    assert rows["blend"][1] != f"<{SMALL_CELL}"
    # the histogram: every blend member in one bin; small bins suppressed
    hist = measured.tables["risk-histogram"]
    shown = [int(num(c)) for _, c in hist if c != f"<{SMALL_CELL}"]
    hidden = [c for _, c in hist if c == f"<{SMALL_CELL}"]
    [(blend, low)] = measured.sql(
        "select count(*), count(*) filter (where normalized_score >= 0.5 "
        f"and normalized_score < 0.75) from risk where payment_year = {year} "
        "and model = 'blend'")
    assert sum(shown) <= blend <= sum(shown) + len(hidden) * (SMALL_CELL - 1)
    assert dict((b, c) for b, c in hist)["0.50-0.75"] == f"{low:,}"


def test_attribution_per_year_and_top_tins(measured: Measured) -> None:
    rows = {r[0]: r for r in measured.tables["attribution"]}
    assert list(rows) == ["2024", "2025"]
    for year, row in rows.items():
        [(att, step1, step2, una)] = measured.sql(
            "select count(*) filter (where attributed_flag = 1), count(*) filter (where step = 1), "
            "count(*) filter (where step = 2), count(*) filter (where attributed_flag = 0) "
            f"from attribution where year = {year}")
        expect = [f"<{SMALL_CELL}" if 0 < n < SMALL_CELL else f"{n:,}"
                  for n in (att, step1, step2, una)]
        assert row[1:5] == expect
        if una >= SMALL_CELL:
            assert row[5] == f"{half_up(Decimal(att) * 100 / (att + una), TENTH)}%"
    assert "<h3>Top 10 TINs by attributed members, 2025</h3>" in measured.text
    tins = measured.tables["attribution-tins"]
    top = measured.sql(
        "select attributed_tin, count(*) n from attribution where year = 2025 "
        "and attributed_flag = 1 group by 1 order by n desc, 1 limit 10")
    assert [r[0] for r in tins] == [t for t, _ in top]
    for row, (_, n) in zip(tins, top, strict=True):
        assert row[1] == (f"<{SMALL_CELL}" if n < SMALL_CELL else f"{n:,}")
        if n < SMALL_CELL:
            assert row[4] == f"<{SMALL_CELL}"


def test_measure_sections_suppress_small_member_counts(measured: Measured) -> None:
    ids = ("readmissions", "risk-scores", "risk-histogram", "attribution", "attribution-tins")
    for table_id in ids:
        for row in measured.tables[table_id]:
            for cell in row[1:]:
                if re.fullmatch(r"[0-9,]+", cell):
                    assert int(cell.replace(",", "")) == 0 or int(cell.replace(",", "")) >= SMALL_CELL
