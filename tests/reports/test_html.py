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
from decimal import Decimal, InvalidOperation
from html.parser import HTMLParser
from pathlib import Path

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
