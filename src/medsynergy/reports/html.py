"""The warehouse report: one self-contained HTML file (DESIGN.md, "Surfaces").

Self-contained means it opens offline: plotly.js from the plotly wheel is embedded once
in a <script> in the head, and nothing is fetched from a CDN. The report shows aggregates
only: medical spend by service month, the measures `medsynergy measure` publishes (PMPM
by service category and total cost of care, utilisation per 1,000, readmission rates, the
risk score distribution and attribution: `marts_sections.py`; a note naming
`medsynergy measure` when a mart is missing), where every input row of every load went
(loaded, quarantined, findings) and the row count of each canonical table.

Small-cell suppression (DESIGN.md, "Reliability and privacy"): a cell describing 1 to 10
members is shown as "<11", and so are the amounts of a month whose claims describe fewer
than 11 members (and its PMPM when fewer than 11 are enrolled). Totals cover all members
and are not suppressed.

Money is exact: sums come back from the warehouse as DECIMAL and are formatted from
`Decimal`, never through float (charts alone use floats, for drawing).
"""

from __future__ import annotations

import html
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import ibis
import plotly.graph_objects as go
import plotly.offline

from medsynergy.engine import Warehouse
from medsynergy.ingest import RULES, LoadResult
from medsynergy.ingest.formats import SOURCE_RULES
from medsynergy.schema import (
    DQ_FINDING,
    ELIGIBILITY,
    LOAD_LOG,
    MEDICAL_CLAIM,
    QUARANTINE,
    SOURCE_LOG,
)

SMALL_CELL = 11  # cells describing 1..SMALL_CELL-1 members are suppressed
SUPPRESSED = f"<{SMALL_CELL}"
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Row = Mapping[str, Any]


# -- formatting ---------------------------------------------------------------------------
def _dec(value: object) -> Decimal:
    """A warehouse amount (DECIMAL comes back as Decimal; null is zero) as a Decimal."""
    return value if isinstance(value, Decimal) else Decimal(str(value if value is not None else 0))


def money(value: object) -> str:
    """An exact amount with 2 decimals and thousands separators: 1,234.50."""
    return f"{_dec(value).quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def count(value: int | None) -> str:
    return f"{value or 0:,}"


def members(n: int) -> str:
    """A count of members, suppressed when it describes fewer than SMALL_CELL of them."""
    return SUPPRESSED if 0 < n < SMALL_CELL else f"{n:,}"


def _table(table_id: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
           numeric: Container[int] = range(1, 99), empty: str = "None.") -> str:
    """An HTML table; the `numeric` columns are right-aligned. Cells are escaped."""
    if not rows:
        return f'<p class="empty" id="{table_id}">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "\n".join(
        "<tr>" + "".join(
            f'<td class="num">{html.escape(c)}</td>' if i in numeric else f"<td>{html.escape(c)}</td>"
            for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table>'


def _chart(fig: go.Figure, div_id: str) -> str:
    """The figure as an HTML fragment that uses the plotly.js embedded in the head."""
    fig = go.Figure(fig).update_layout(template="plotly_white",
                                       margin={"l": 60, "r": 20, "t": 50, "b": 50})
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                           default_height="380px",
                           config={"displaylogo": False, "responsive": True}))


# -- the figures the report shows ------------------------------------------------------
@dataclass(frozen=True)
class Month:
    month: str  # YYYY-MM
    claim_lines: int
    members_with_claims: int
    members_enrolled: int
    paid_amount: Decimal
    allowed_amount: Decimal

    @property
    def suppressed(self) -> bool:
        return 0 < self.members_with_claims < SMALL_CELL

    def pmpm(self, amount: Decimal) -> str:
        if self.members_enrolled == 0:
            return "n/a"
        if self.members_enrolled < SMALL_CELL or self.suppressed:
            return SUPPRESSED
        return money(amount / self.members_enrolled)


def monthly_spend(wh: Warehouse) -> list[Month]:
    """Medical paid and allowed by service month, with members with claims and enrolled.

    Enrolled: members with an eligibility span covering any day of the month.
    """
    mc = wh.table(MEDICAL_CLAIM.name)
    spend = mc.group_by(mc.claim_start_date.truncate("M").name("service_month")).aggregate(
        claim_lines=mc.count(),
        members_with_claims=mc.person_id.nunique(),
        paid_amount=mc.paid_amount.sum(),
        allowed_amount=mc.allowed_amount.sum(),
    )
    j = spend.select("service_month").cross_join(wh.table(ELIGIBILITY.name))
    j = j.filter((j.enrollment_start_date < j.service_month + ibis.interval(months=1))
                 & (j.enrollment_end_date >= j.service_month))
    enrolled = j.group_by("service_month").aggregate(members_enrolled=j.person_id.nunique())
    out = spend.left_join(enrolled, "service_month")
    out = out.select(*spend.columns, "members_enrolled").order_by("service_month")
    return [
        Month(month=f"{r['service_month']:%Y-%m}", claim_lines=int(r["claim_lines"] or 0),
              members_with_claims=int(r["members_with_claims"] or 0),
              members_enrolled=int(r["members_enrolled"] or 0),
              paid_amount=_dec(r["paid_amount"]), allowed_amount=_dec(r["allowed_amount"]))
        for r in wh.to_arrow(out).to_pylist()
    ]


def _rows(wh: Warehouse, expr: ibis.Table) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = wh.to_arrow(expr).to_pylist()
    return rows


def load_log(wh: Warehouse) -> list[dict[str, Any]]:
    t = wh.table(LOAD_LOG.name)
    return _rows(wh, t.order_by(["started_at", "load_id"]))


def source_records(wh: Warehouse) -> list[dict[str, Any]]:
    """Records of converted sources (FHIR, Synthea CSV, DE-SynPUF) by format x record type."""
    t = wh.table(SOURCE_LOG.name)
    agg = t.group_by(["source_format", "record_type"]).aggregate(
        files=t.file_name.nunique(), records_in=t.records_in.sum(), converted=t.converted.sum(),
        quarantined=t.quarantined.sum(), skipped=t.skipped.sum(),
        skipped_reason=t.skipped_reason.collect(distinct=True))
    return _rows(wh, agg.order_by(["source_format", "record_type"]))


def rows_by_rule(wh: Warehouse, table: str) -> list[dict[str, Any]]:
    """(target_table, rule, rows) of `quarantine` or `dq_finding`."""
    t = wh.table(table)
    agg = t.group_by(["target_table", "rule"]).aggregate(rows=t.count())
    return _rows(wh, agg.order_by(["target_table", "rule"]))


# -- the sections ---------------------------------------------------------------------------
def _summary(months: Sequence[Month], wh: Warehouse) -> str:
    elig = wh.table(ELIGIBILITY.name)
    n_members = int(_rows(wh, elig.aggregate(n=elig.person_id.nunique()))[0]["n"] or 0)
    paid = sum((m.paid_amount for m in months), ZERO)
    allowed = sum((m.allowed_amount for m in months), ZERO)
    lines = sum(m.claim_lines for m in months)
    rows = [["Members enrolled", members(n_members)],
            ["Medical claim lines (final)", count(lines)],
            ["Medical paid", money(paid)],
            ["Medical allowed", money(allowed)]]
    return _table("summary", ["Measure", "Value"], rows)


def _spend(months: Sequence[Month]) -> str:
    shown = [m for m in months if not m.suppressed]
    fig = go.Figure()
    fig.add_bar(name="paid", x=[m.month for m in shown], y=[float(m.paid_amount) for m in shown])
    fig.add_scatter(name="allowed", mode="lines+markers", x=[m.month for m in shown],
                    y=[float(m.allowed_amount) for m in shown])
    fig.update_layout(title="Medical paid and allowed by service month",
                      yaxis_title="USD", xaxis_type="category")
    rows = [
        [m.month, SUPPRESSED if m.suppressed else members(m.members_with_claims),
         members(m.members_enrolled), count(m.claim_lines),
         SUPPRESSED if m.suppressed else money(m.paid_amount),
         SUPPRESSED if m.suppressed else money(m.allowed_amount),
         m.pmpm(m.paid_amount), m.pmpm(m.allowed_amount)]
        for m in months
    ]
    if months:
        rows.append(["Total", "", "", count(sum(m.claim_lines for m in months)),
                     money(sum((m.paid_amount for m in months), ZERO)),
                     money(sum((m.allowed_amount for m in months), ZERO)), "", ""])
    table = _table("spend", ["Service month", "Members with claims", "Members enrolled",
                             "Claim lines", "Paid", "Allowed", "Paid PMPM", "Allowed PMPM"],
                   rows, empty="No medical claims loaded.")
    return _chart(fig, "chart-spend") + table


def _loads(log: Sequence[Row]) -> str:
    rows = [
        [str(r["file_name"]), str(r["target_table"]), str(r["data_source"]), str(r["status"]),
         count(r["rows_in"]), count(r["rows_loaded"]), count(r["rows_final"]),
         count(r["rows_superseded"]), count(r["rows_quarantined"]), count(r["findings"]),
         "yes" if r["rows_in"] == (r["rows_loaded"] or 0) + (r["rows_quarantined"] or 0) else "NO"]
        for r in log
    ]
    return _table("loads", ["File", "Table", "Source", "Status", "Rows in", "Loaded", "Final",
                            "Superseded", "Quarantined", "Findings", "Reconciled"],
                  rows, numeric=range(4, 10), empty="Nothing loaded yet.")


def _sources(rows: Sequence[Row]) -> str:
    if not rows:
        return ""
    body = [[str(r["source_format"]), str(r["record_type"]), count(r["files"]),
             count(r["records_in"]), count(r["converted"]), count(r["quarantined"]),
             count(r["skipped"]), "; ".join(sorted(str(x) for x in r["skipped_reason"] or [])),
             "yes" if r["records_in"] == r["converted"] + r["quarantined"] + r["skipped"] else "NO"]
            for r in rows]
    return "<h2>Source records</h2>" + _table(
        "sources", ["Format", "Record type", "Files", "Records in", "Converted", "Quarantined",
                    "Skipped", "Why skipped", "Reconciled"], body, numeric=range(2, 7))


def _this_run(loads: Sequence[LoadResult]) -> str:
    def note(r: LoadResult) -> str:
        ignored = f"ignored columns: {', '.join(r.ignored_columns)}" if r.ignored_columns else ""
        return "; ".join(x for x in (r.message, ignored) if x)

    rows = [[r.file_name, r.target_table, r.status, count(r.rows_in), count(r.rows_loaded),
             count(r.rows_quarantined), count(r.findings), note(r)] for r in loads]
    return _table("this-run", ["File", "Table", "Status", "Rows in", "Loaded", "Quarantined",
                               "Findings", "Note"], rows, numeric=range(3, 7))


def _by_rule(table_id: str, rows: Sequence[Row], empty: str) -> str:
    body = [[str(r["target_table"]), str(r["rule"]),
             RULES[str(r["rule"])].description if str(r["rule"]) in RULES
             else SOURCE_RULES.get(str(r["rule"]), ""),
             count(r["rows"])] for r in rows]
    return _table(table_id, ["Table", "Rule", "What it means", "Rows"], body, numeric=(3,),
                  empty=empty)


def _quarantine_chart(rows: Sequence[Row]) -> str:
    if not rows:
        return ""
    fig = go.Figure(go.Bar(orientation="h", x=[int(r["rows"]) for r in rows],
                           y=[f"{r['target_table']}: {r['rule']}" for r in rows]))
    fig.update_layout(title="Quarantined rows by rule", xaxis_title="rows",
                      yaxis={"autorange": "reversed"})
    return _chart(fig, "chart-quarantine")


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1f2933;padding:0 1rem}
h1{margin-bottom:.2rem}h3{margin-top:1.4rem}h2{margin-top:2.2rem;border-bottom:1px solid #d9e2ec;padding-bottom:.3rem}
.meta{color:#52606d;margin:0}.meta code{font-size:.9em}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#52606d;font-style:italic}footer{margin-top:2.5rem;color:#52606d;font-size:.88rem}
"""


def render_report(wh: Warehouse, *, title: str = "medsynergy report",
                  loads: Sequence[LoadResult] = (), contracts: Sequence[Any] = ()) -> str:
    """The report as one HTML document (see the module docstring); `contracts`: the
    reconciled contracts (`contracts.run.Outcome`) to set side by side."""
    # (these import this module)
    from medsynergy.reports.contracts_section import contracts_section
    from medsynergy.reports.marts_sections import measure_sections

    months = monthly_spend(wh)
    quarantine = rows_by_rule(wh, QUARANTINE.name)
    findings = rows_by_rule(wh, DQ_FINDING.name)
    counts = [[name, count(wh.count(name))] for name in wh.tables]
    where = getattr(wh, "path", None) or getattr(wh, "root", "")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    e = html.escape
    sections = [
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">Generated {e(generated)} &middot; engine <code>{e(wh.engine)}</code>'
        f" &middot; warehouse <code>{e(str(where))}</code></p>",
        "<h2>Summary</h2>", _summary(months, wh),
        "<h2>Medical spend by service month</h2>", _spend(months),
        *measure_sections(wh),
        contracts_section(contracts),
    ]
    if loads:
        sections += ["<h2>This run</h2>", _this_run(loads)]
    sections += [
        _sources(source_records(wh)),
        "<h2>Loads</h2>", _loads(load_log(wh)),
        "<h2>Quarantine by rule</h2>",
        _quarantine_chart(quarantine), _by_rule("quarantine", quarantine, "No rows were quarantined."),
        "<h2>Findings by rule</h2>", _by_rule("findings", findings, "No findings."),
        "<h2>Table row counts</h2>", _table("row-counts", ["Table", "Rows"], counts),
        "<footer><p>Cells describing fewer than 11 members are suppressed (shown as "
        f"&quot;{e(SUPPRESSED)}&quot;), and so are the amounts and PMPM of a month whose claims "
        "or enrolment describe fewer than 11 members; totals include every member. "
        "Amounts are in USD, exact to the cent, over the final version of each claim line "
        "(superseded versions and reversals excluded). Service month: the month of "
        "claim_start_date. Members enrolled: an eligibility span covers any day of the month; "
        "PMPM = amount / members enrolled. Measure sections: counts of members, stays, visits "
        "and admissions from 1 to 10 are suppressed with the ratios that would give them "
        "back, and a year with fewer than 11 members enrolled shows no amounts.</p></footer>",
    ]
    plotly_js = plotly.offline.get_plotlyjs()
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{e(title)}</title>\n<style>{CSS}</style>\n"
        f'<script type="text/javascript" id="plotlyjs">{plotly_js}</script>\n'
        "</head>\n<body>\n" + "\n".join(s for s in sections if s) + "\n</body>\n</html>\n"
    )


def write_report(wh: Warehouse, path: Path, *, title: str = "medsynergy report",
                 loads: Sequence[LoadResult] = (), contracts: Sequence[Any] = ()) -> Path:
    """Write the self-contained HTML report of `wh` to `path` (folders created) and return it."""
    path = Path(path)
    text = render_report(wh, title=title, loads=loads, contracts=contracts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
