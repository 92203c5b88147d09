"""The report's contracts section: waterfalls from each model's steps, the comparison
table and the detail tables (given results -> expected bars and cells)."""

from __future__ import annotations

from decimal import Decimal as D

import pyarrow as pa

from medsynergy.contracts.bind import Prepared
from medsynergy.contracts.result import Reconciliation, Step
from medsynergy.contracts.run import Outcome
from medsynergy.contracts.spec import parse_contract
from medsynergy.reports.contracts_section import DETAIL_ROWS, contracts_section, waterfall_bars


def rec(model: str, steps: dict[str, D], to_provider: str = "0", to_payer: str = "0"
        ) -> Reconciliation:
    return Reconciliation("c", model, (), tuple(Step(k, v, "r", "s") for k, v in steps.items()),
                          D(to_provider), D(to_payer))


def test_corridor_waterfall_from_benchmark_to_the_provider_amount() -> None:
    r = rec("risk_corridor", {"benchmark": D(1000), "ffs_spend": D(900),
                              "gross_savings": D(100), "payer_amount": D(20),
                              "provider_amount": D(80)})
    assert waterfall_bars(r) == [("benchmark", "absolute", D(1000)),
                                 ("ffs spend", "relative", D(-900)),
                                 ("gross savings", "total", D(100)),
                                 ("payer amount", "relative", D(-20)),
                                 ("provider amount", "total", D(80))]


def test_shared_savings_waterfall_derives_the_payer_share() -> None:
    r = rec("shared_savings", {"benchmark": D(1000), "expenditure": D(900),
                               "gross_savings": D(100), "provider_amount": D("49")})
    # payer share = gross savings - provider amount = 51
    assert waterfall_bars(r) == [("benchmark", "absolute", D(1000)),
                                 ("expenditure", "relative", D(-900)),
                                 ("gross savings", "total", D(100)),
                                 ("payer share", "relative", D(-51)),
                                 ("provider amount", "total", D(49))]


def test_capitation_waterfall_leaves_out_missing_steps() -> None:
    # no withhold, no stop-loss: those bars are not drawn
    r = rec("capitation", {"capitation": D(500), "paid_to_provider": D(500),
                           "covered_cost": D(450), "provider_margin": D(50)})
    assert waterfall_bars(r) == [("capitation", "absolute", D(500)),
                                 ("paid to provider", "total", D(500)),
                                 ("covered cost", "relative", D(-450)),
                                 ("provider margin", "total", D(50))]


def test_a_model_without_its_own_waterfall_goes_from_ffs_to_revenue() -> None:
    r = rec("something_new", {"ffs_spend": D(100), "provider_revenue": D(120)})
    assert waterfall_bars(r) == [("ffs spend", "absolute", D(100)),
                                 ("contract change", "relative", D(20)),
                                 ("provider revenue", "total", D(120))]


def _outcome(detail: dict[str, pa.Table]) -> Outcome:
    spec = parse_contract({"model": "fee_for_service", "name": "ffs"})
    r = rec("fee_for_service", {"ffs_spend": D("1234.5"), "provider_revenue": D("1300")},
            "1300.00", "-65.50")
    prepared = Prepared(pa.table({"x": [1]}), "member-year", lambda _: r, detail)
    return Outcome("ffs.yaml", spec, 2025, r, prepared, None)


def test_section_shows_the_comparison_and_small_detail_tables() -> None:
    small = pa.table({"episode_id": ["e1"], "amount_capped": [D("12.30")]})
    big = pa.table({"n": list(range(DETAIL_ROWS + 1))})
    html = contracts_section([_outcome({"outliers": small, "episodes": big})])
    assert "<td class=\"num\">1,234.50</td>" in html  # FFS spend, exact to the cent
    assert "<td class=\"num\">65.50</td>" in html  # difference from FFS: 1300 - 1234.50
    assert "<td>e1</td><td>12.30</td>" in html
    assert f"{DETAIL_ROWS + 1:,} rows" in html
    assert "--detail-out DIR" in html


def test_no_contracts_no_section() -> None:
    assert contracts_section([]) == ""
