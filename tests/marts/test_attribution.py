"""attribution mart: given claim lines, providers and member months -> expected rows (exact).

Each test states one rule of docs/marts/attribution.md with the smallest input that shows it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pytest

from medsynergy.marts.attribution import COLUMNS, attribution, attribution_summary

from .conftest import rows, table

D = dt.date.fromisoformat
PCP = [("N1", "T1"), ("N2", "T2"), ("N3", "T1"), ("N5", "T5")]   # primary-care clinicians
SPECIALISTS = [("N8", "T8"), ("N9", "T9")]
_line = 0


def svc(tin: str, npi: str, date: str, allowed: str, cpt: str = "99213", *,
        person: str = "P1", **extra: Any) -> dict[str, Any]:
    """One professional claim line of `person` billed under `tin`, rendered by `npi`."""
    global _line
    _line += 1
    return {"claim_id": f"C{_line}", "claim_line_number": 1, "claim_type": "professional",
            "person_id": person, "claim_start_date": date, "claim_end_date": date,
            "claim_line_start_date": date, "hcpcs_code": cpt, "place_of_service_code": "11",
            "rendering_npi": npi, "billing_tin": tin, "allowed_amount": allowed,
            "data_source": "test", **extra}


def providers(con: ibis.BaseBackend) -> ibis.Table:
    rows_ = [{"npi": n, "tin": t, "primary_care_flag": 1, "specialty": "family medicine",
              "data_source": "test"} for n, t in PCP]
    rows_ += [{"npi": n, "tin": t, "primary_care_flag": 0, "specialty": "cardiology",
               "data_source": "test"} for n, t in SPECIALISTS]
    # no flag, but a primary-care specialty: a primary-care clinician too
    rows_.append({"npi": "N6", "specialty": "Nurse Practitioner", "data_source": "test"})
    return table(con, "provider", rows_)


def enrolled(con: ibis.BaseBackend, *person_years: tuple[str, int]) -> ibis.Table:
    """member_months rows: January of each (person, year)."""
    return ibis.memtable({
        "person_id": [p for p, _ in person_years],
        "month_start_date": [dt.date(y, 1, 1) for _, y in person_years],
        "year": [y for _, y in person_years],
    })


def attributed(con: ibis.BaseBackend, lines: list[dict[str, Any]],
               *person_years: tuple[str, int]) -> list[dict[str, Any]]:
    mc = table(con, "medical_claim", lines)
    py = person_years or (("P1", 2024),)
    return rows(con, attribution(mc, providers(con), enrolled(con, *py)), COLUMNS,
                ["person_id", "year"])


def row(tin: str | None, npi: str | None, step: int | None, allowed: str, total: str,
        count: int, last: str | None, *, person: str = "P1", year: int = 2024
        ) -> dict[str, Any]:
    return {"person_id": person, "year": year, "attributed_tin": tin, "attributed_npi": npi,
            "step": step, "allowed_amount": Decimal(allowed),
            "primary_care_allowed_total": Decimal(total), "service_count": count,
            "last_service_date": D(last) if last else None,
            "attributed_flag": 0 if tin is None else 1}


def test_plurality_of_allowed_wins_over_count(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "200.00"),
             svc("T2", "N2", "2024-03-01", "50.00"), svc("T2", "N2", "2024-04-01", "50.00"),
             svc("T2", "N2", "2024-05-01", "50.00")]
    assert attributed(con, lines) == [row("T1", "N1", 1, "200.00", "350.00", 1, "2024-02-01")]


def test_tie_in_allowed_goes_to_most_recent_service(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "100.00"), svc("T2", "N2", "2024-06-01", "100.00")]
    assert attributed(con, lines) == [row("T2", "N2", 1, "100.00", "200.00", 1, "2024-06-01")]


def test_full_tie_goes_to_lower_tin(con: ibis.BaseBackend) -> None:
    lines = [svc("T2", "N2", "2024-02-01", "100.00"), svc("T1", "N1", "2024-02-01", "100.00")]
    assert attributed(con, lines) == [row("T1", "N1", 1, "100.00", "200.00", 1, "2024-02-01")]


def test_npi_is_the_plurality_within_the_winning_tin(con: ibis.BaseBackend) -> None:
    # T1 wins on its total (N1 + N3); within T1, N3 has more allowed than N1
    lines = [svc("T1", "N1", "2024-02-01", "40.00"), svc("T1", "N3", "2024-03-01", "60.00"),
             svc("T2", "N2", "2024-04-01", "90.00")]
    assert attributed(con, lines) == [row("T1", "N3", 1, "100.00", "190.00", 2, "2024-03-01")]


def test_step_2_only_without_a_primary_care_clinician_service(con: ibis.BaseBackend) -> None:
    # a specialist with far more allowed does not beat the primary-care clinician (step 1)
    lines = [svc("T1", "N1", "2024-02-01", "10.00"), svc("T8", "N8", "2024-03-01", "900.00")]
    assert attributed(con, lines) == [row("T1", "N1", 1, "10.00", "10.00", 1, "2024-02-01")]
    # with specialists only, step 2 picks the plurality among them
    lines = [svc("T8", "N8", "2024-02-01", "300.00"), svc("T9", "N9", "2024-03-01", "200.00")]
    assert attributed(con, lines) == [row("T8", "N8", 2, "300.00", "500.00", 1, "2024-02-01")]


def test_primary_care_specialty_counts_without_flag(con: ibis.BaseBackend) -> None:
    lines = [svc("T6", "N6", "2024-02-01", "10.00"), svc("T8", "N8", "2024-03-01", "900.00")]
    assert attributed(con, lines) == [row("T6", "N6", 1, "10.00", "10.00", 1, "2024-02-01")]


def test_unknown_npi_is_a_step_2_clinician(con: ibis.BaseBackend) -> None:
    lines = [svc("T7", "N7", "2024-02-01", "10.00")]
    assert attributed(con, lines) == [row("T7", "N7", 2, "10.00", "10.00", 1, "2024-02-01")]


def test_member_without_service_is_unattributed_but_present(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "10.00")]
    got = attributed(con, lines, ("P1", 2024), ("P2", 2024))
    assert got == [row("T1", "N1", 1, "10.00", "10.00", 1, "2024-02-01"),
                   row(None, None, None, "0.00", "0.00", 0, None, person="P2")]


def test_years_attribute_separately(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2023-12-31", "100.00"), svc("T2", "N2", "2023-06-01", "20.00"),
             svc("T1", "N1", "2024-01-02", "20.00"), svc("T2", "N2", "2024-02-01", "30.00"),
             # a service in a year without member months attributes nothing
             svc("T1", "N1", "2025-01-02", "20.00")]
    got = attributed(con, lines, ("P1", 2023), ("P1", 2024))
    assert got == [row("T1", "N1", 1, "100.00", "120.00", 1, "2023-12-31", year=2023),
                   row("T2", "N2", 1, "30.00", "50.00", 1, "2024-02-01")]


def test_year_from_claim_start_when_line_date_missing(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2023-12-31", "100.00", claim_line_start_date=None)]
    got = attributed(con, lines, ("P1", 2023))
    assert got == [row("T1", "N1", 1, "100.00", "100.00", 1, "2023-12-31", year=2023)]


def test_non_primary_care_hcpcs_ignored(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "10.00"),
             svc("T2", "N2", "2024-03-01", "5000.00", "27447"),   # knee replacement
             svc("T2", "N2", "2024-03-01", "500.00", "99284"),    # ED visit: not in the list
             svc("T2", "N2", "2024-03-01", "500.00", "99310", place_of_service_code="31"),
             svc("T2", "N2", "2024-03-01", "500.00", None)]
    assert attributed(con, lines) == [row("T1", "N1", 1, "10.00", "10.00", 1, "2024-02-01")]


def test_other_primary_care_codes_count(con: ibis.BaseBackend) -> None:
    # AWV, nursing facility outside a SNF, TCM; billing TIN missing -> rendering TIN
    lines = [svc("T1", "N1", "2024-02-01", "10.00", "G0439"),
             svc("T1", "N1", "2024-03-01", "10.00", "99310", place_of_service_code="32"),
             svc("T1", "N1", "2024-04-01", "10.00", "99496"),
             svc("T2", "N2", "2024-05-01", "25.00", "99214", billing_tin=None,
                 rendering_tin="T5")]
    assert attributed(con, lines) == [row("T1", "N1", 1, "30.00", "55.00", 3, "2024-04-01")]


def test_summary_counts_attributed_and_unattributed(con: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "10.00"),
             svc("T1", "N1", "2024-02-01", "20.00", person="P2"),
             svc("T8", "N8", "2024-02-01", "30.00", person="P3")]
    mc = table(con, "medical_claim", lines)
    a = attribution(mc, providers(con), enrolled(
        con, ("P1", 2024), ("P2", 2024), ("P3", 2024), ("P4", 2024), ("P5", 2024)))
    got = rows(con, attribution_summary(a))
    base = {"year": 2024, "step_1_members": 0, "step_2_members": 0}
    assert got == [
        {**base, "attributed_tin": None, "attributed_members": 0, "unattributed_members": 2,
         "allowed_amount": Decimal("0.00")},
        {**base, "attributed_tin": "T1", "attributed_members": 2, "step_1_members": 2,
         "unattributed_members": 0, "allowed_amount": Decimal("30.00")},
        {**base, "attributed_tin": "T8", "attributed_members": 1, "step_2_members": 1,
         "unattributed_members": 0, "allowed_amount": Decimal("30.00")},
    ]


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    mc = table(con, "medical_claim", [svc("T1", "N1", "2024-02-01", "10.00")])
    a = attribution(mc, providers(con), enrolled(con, ("P1", 2024)))
    for expr in (a, attribution_summary(a)):
        assert "SELECT" in ibis.to_sql(expr, dialect="pyspark")


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    lines = [svc("T1", "N1", "2024-02-01", "100.00"), svc("T2", "N2", "2024-06-01", "100.00"),
             svc("T8", "N8", "2024-02-01", "30.00", person="P3")]
    # ibis 12's PySpark memtable registration cannot convert null decimals: give them all 0
    money = ("paid_amount", "charge_amount", "coinsurance_amount", "copayment_amount",
             "deductible_amount", "total_cost_amount", "service_unit_quantity")
    mc = table(con, "medical_claim", [{c: "0" for c in money} | ln for ln in lines])
    a = attribution(mc, providers(con), enrolled(con, ("P1", 2024), ("P3", 2024),
                                                 ("P4", 2024)))
    for expr, order in ((a, ["person_id", "year"]),
                        (attribution_summary(a), ["year", "attributed_tin"])):
        assert rows(spark, expr, order=order) == rows(con, expr, order=order)
