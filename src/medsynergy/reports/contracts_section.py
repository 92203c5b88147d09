"""The report's contracts section: every contract side by side on the same population,
a waterfall of each settlement, and the bootstrap distribution of what each pays (issue
"Payment models").

A waterfall shows how a model gets from its starting amount to what it pays, using the
model's own steps (WATERFALLS); amounts are exact Decimals formatted to the cent in the
tables, floats only for drawing."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.contracts.result import Reconciliation
from medsynergy.contracts.run import Outcome, comparison
from medsynergy.reports.html import _chart, _table, money

#: per model: (step, how it enters the waterfall: "absolute" start, "relative" change
#: (sign: +1 as is, -1 negated), "total" running total shown as a bar)
Bar = tuple[str, str, int]
WATERFALLS: dict[str, tuple[Bar, ...]] = {
    "fee_for_service": (("ffs_spend", "absolute", 1), ("repriced_change", "relative", 1),
                        ("provider_revenue", "total", 1)),
    "capitation": (("capitation", "absolute", 1), ("withheld", "relative", -1),
                   ("withhold_returned", "relative", 1), ("stop_loss_reimbursed", "relative", 1),
                   ("paid_to_provider", "total", 1), ("covered_cost", "relative", -1),
                   ("provider_margin", "total", 1)),
    "risk_corridor": (("benchmark", "absolute", 1), ("ffs_spend", "relative", -1),
                      ("gross_savings", "total", 1), ("payer_amount", "relative", -1),
                      ("provider_amount", "total", 1)),
    "bundled_episodes": (("target", "absolute", 1), ("capped_spend", "relative", -1),
                         ("gross_savings", "total", 1), ("payer_amount", "relative", -1),
                         ("provider_amount", "total", 1)),
    "shared_savings": (("benchmark", "absolute", 1), ("expenditure", "relative", -1),
                       ("gross_savings", "total", 1), ("payer_share", "relative", -1),
                       ("provider_amount", "total", 1)),
    "bonus_pool": (("pool", "absolute", 1), ("returned_to_payer", "relative", -1),
                   ("paid_to_groups", "total", 1)),
    "transfer_pricing": (("budget", "absolute", 1), ("partners_ffs_value", "relative", -1),
                         ("budget_margin", "total", 1)),
}


def _value(r: Reconciliation, name: str) -> Decimal | None:
    for s in r.steps:
        if s.name == name and isinstance(s.value, Decimal | int):
            return Decimal(s.value)
    return None


def waterfall_bars(r: Reconciliation) -> list[tuple[str, str, Decimal]]:
    """(label, measure, amount) of the waterfall of `r`; steps a result lacks are left
    out. Models without a waterfall of their own get fee-for-service -> revenue."""
    derived = {}
    ffs, revenue = _value(r, "ffs_spend"), _value(r, "provider_revenue")
    if ffs is not None and revenue is not None:
        derived["repriced_change"] = revenue - ffs
        derived["contract_change"] = revenue - ffs
    gross, provider = _value(r, "gross_savings"), _value(r, "provider_amount")
    if gross is not None and provider is not None:
        derived["payer_share"] = gross - provider
    budget, partners = _value(r, "budget"), _value(r, "partners_ffs_value")
    if budget is not None and partners is not None:
        derived["budget_margin"] = budget - partners
    spec = WATERFALLS.get(r.model, (("ffs_spend", "absolute", 1),
                                    ("contract_change", "relative", 1),
                                    ("provider_revenue", "total", 1)))
    bars = []
    for name, measure, sign in spec:
        v = derived.get(name, _value(r, name))
        if v is None:
            continue
        bars.append((name.replace("_", " "), measure, v * sign))
    return bars


def _waterfall(o: Outcome, i: int) -> str:
    bars = waterfall_bars(o.result)
    if not bars:
        return ""
    fig = go.Figure(go.Waterfall(
        x=[b[0] for b in bars], measure=[b[1] for b in bars],
        y=[float(b[2]) if b[1] != "total" else 0.0 for b in bars],
        text=[money(b[2]) for b in bars], textposition="outside"))
    fig.update_layout(title=f"{o.result.contract} ({o.result.model})", showlegend=False,
                      yaxis_title="USD")
    return _chart(fig, f"contract-waterfall-{i}")


def _distribution_chart(outcomes: Sequence[Outcome]) -> str:
    sims = [o for o in outcomes if o.simulation is not None]
    if not sims:
        return ""
    fig = go.Figure()
    for o in sims:
        s = o.simulation
        assert s is not None
        g = s.provider_gain
        fig.add_trace(go.Box(name=o.result.contract, q1=[float(g.p5)], median=[float(g.p50)],
                             q3=[float(g.p95)], lowerfence=[float(g.p5)],
                             upperfence=[float(g.p95)], mean=[float(g.mean)]))
    fig.update_layout(title="Provider gain versus fee-for-service: bootstrap P5, P50, P95",
                      yaxis_title="USD", showlegend=False)
    return _chart(fig, "contract-distributions")


#: detail tables longer than this are summarised by their row count (the full tables:
#: `medsynergy reconcile --detail-out DIR`)
DETAIL_ROWS = 40


def _cell(value: object) -> str:
    if isinstance(value, Decimal):
        return money(value) if value.as_tuple().exponent == -2 else f"{value:f}"
    return "" if value is None else str(value)


def _detail(o: Outcome, i: int, name: str, table: pa.Table) -> str:
    e = html.escape
    if name == "spend_by_category" and "period" in table.column_names:
        # the performance period's episodes: what the bundle paid for, by category
        table = table.filter(pc.equal(table["period"], "performance"))
    title = f"<h4>{e(name.replace('_', ' '))}</h4>"
    if table.num_rows > DETAIL_ROWS:
        return (f"{title}<p>{table.num_rows:,} rows: <code>medsynergy reconcile --contract "
                f"{e(o.path)} --detail-out DIR</code> writes them.</p>")
    rows = [[_cell(v) for v in r.values()] for r in table.to_pylist()]
    return title + _table(f"contract-{i}-{name}", table.column_names, rows,
                          numeric=range(0), empty="None.")


def contracts_section(outcomes: Sequence[Outcome]) -> str:
    """The section's HTML (empty when no contract was reconciled)."""
    if not outcomes:
        return ""
    e = html.escape
    rows = comparison(outcomes)
    sim = any(o.simulation is not None for o in outcomes)
    headers = ["Contract", "Model", "FFS spend", "Provider revenue", "Difference from FFS",
               "To provider", "To payer"]
    if sim:
        headers += ["Gain P5", "Gain P50", "Gain P95", "P(gain)", "P(loss)"]
    body = []
    for r in rows:
        cells = [str(r["contract"]), str(r["model"]), money(r["ffs_spend"]),
                 money(r["provider_revenue"]), money(r["difference_from_ffs"]),
                 money(r["to_provider"]), money(r["to_payer"])]
        if sim:
            cells += ([money(r[k]) for k in ("gain_p5", "gain_p50", "gain_p95")]
                      + [f"{r['p_gain']:.1%}", f"{r['p_loss']:.1%}"]
                      if "gain_p5" in r else [""] * 5)
        body.append(cells)
    year = outcomes[0].year
    parts = [
        "<h2>Contracts side by side</h2>",
        f"<p>Every example contract settled on the same population, performance year "
        f"{year}. <em>Provider revenue</em> is all the providers receive for the "
        "population's care under the contract (claims still paid fee-for-service "
        "included); the difference from fee-for-service is what the contract moves "
        "between payer and providers. Settlement amounts (to provider, to payer) are "
        "the model's own; their meaning per model is in docs/contracts.md."
        + (f" Gains are bootstrapped over {outcomes[0].simulation.replicates} resamples "
           "of the member-years (episodes for bundles)." if sim and outcomes[0].simulation
           else "") + "</p>",
        _table("contracts-compared", headers, body, numeric=range(2, 99)),
        _distribution_chart(outcomes),
    ]
    for i, o in enumerate(outcomes):
        parts.append(f"<h3>{e(o.result.contract)}</h3>")
        parts.append(_waterfall(o, i))
        parts += [_detail(o, i, name, t) for name, t in o.prepared.detail.items()]
        if o.result.notes:
            parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in o.result.notes)
                         + "</ul>")
    return "\n".join(p for p in parts if p)
