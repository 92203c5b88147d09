"""kpis mart: given attribution, member months, lines, risk, readmissions, ED visits,
opioid members and PROMIS scores -> the expected row per year x TIN (exact values,
docs/marts/kpis.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from medsynergy.marts.cost import member_spend
from medsynergy.marts.kpis import COLUMNS, kpis

from .conftest import memtable, rows, table

M = Decimal
D = dt.date.fromisoformat
MONEY_T = pa.decimal128(18, 2)
S, INT, DATE = pa.string(), pa.int64(), pa.date32()

ATTRIBUTION_T = {"person_id": S, "year": INT, "attributed_tin": S, "attributed_npi": S,
                 "step": INT, "attributed_flag": INT}
MM_T = {"person_id": S, "member_id": S, "payer": S, "plan": S, "month_start_date": DATE,
        "year": INT, "enrolled_days": INT, "death_date": DATE, "person_month_flag": INT}
LINE_T = {"claim_id": S, "person_id": S, "payer": S, "plan": S, "claim_start_date": DATE,
          "claim_line_start_date": DATE, "paid_amount": MONEY_T, "allowed_amount": MONEY_T,
          "hcpcs_code": S, "service_category": S, "service_category_group": S}
RISK_T = {"person_id": S, "payment_year": INT, "model": S, "normalized_score": pa.float64()}
READMIT_T = {"stay_id": S, "person_id": S, "payer": S, "plan": S, "admission_date": DATE,
             "discharge_date": DATE, "index_flag": INT, "exclusion_reason": S,
             "readmit_30_flag": INT, "unplanned_readmit_30_flag": INT, "days_to_readmission": INT}
ED_T = {"person_id": S, "visit_date": DATE, "payer": S, "plan": S, "admitted_flag": INT}
OPIOID_T = {"person_id": S, "payer": S, "year": INT, "opioid_fill_count": INT, "any_90_flag": INT}
PROMIS_T = {"person_id": S, "observation_date": DATE, "year": INT, "scale": S,
            "change_from_baseline": MONEY_T, "is_baseline": INT}


# -- the population ----------------------------------------------------------------------------
# 2024. TIN A: A01..A11 (11 members, 12 months each = 132 member months).
#       TIN B: B01..B10 (10 members, January-June = 60 member months).
#       no TIN: U1 (12 months; also a second coverage in January, still 12 member months).
A = [f"A{i:02d}" for i in range(1, 12)]
B = [f"B{i:02d}" for i in range(1, 11)]
MONTHS = [f"2024-{m:02d}" for m in range(1, 13)]
DEATHS = {"A06": "2024-09-15"}


def attributed(person: str, tin: str | None, year: int = 2024) -> dict[str, Any]:
    return {"person_id": person, "year": year, "attributed_tin": tin,
            "attributed_npi": None if tin is None else f"npi-{tin}", "step": 1 if tin else None,
            "attributed_flag": 1 if tin else 0}


def months(person: str, ms: Sequence[str], payer: str = "mcare", flag: int = 1
           ) -> list[dict[str, Any]]:
    """member_months rows; `flag` is person_month_flag (0 for a second payer's row of a
    month the person already has)."""
    return [{"person_id": person, "member_id": person, "payer": payer, "plan": "P",
             "month_start_date": f"{m}-01", "year": int(m[:4]), "enrolled_days": 28,
             "death_date": DEATHS.get(person), "person_month_flag": flag} for m in ms]


_N = iter(range(1, 100_000))


def line(person: str, date: str, paid: str = "0", allowed: str = "0",
         hcpcs: str | None = None) -> dict[str, Any]:
    return {"claim_id": f"C{next(_N)}", "person_id": person, "payer": "mcare", "plan": "P",
            "claim_start_date": date, "claim_line_start_date": date, "paid_amount": paid,
            "allowed_amount": allowed, "hcpcs_code": hcpcs,
            "service_category": "professional_em", "service_category_group": "professional"}


def score(person: str, value: float, year: int = 2024, model: str = "blend") -> dict[str, Any]:
    return {"person_id": person, "payment_year": year, "model": model,
            "normalized_score": value}


def stay(stay_id: str, person: str, admission: str, discharge: str, *, index: int = 1,
         reason: str | None = None, readmit_days: int | None = None,
         unplanned: int = 1) -> dict[str, Any]:
    readmit = 1 if readmit_days is not None else 0
    return {"stay_id": stay_id, "person_id": person, "payer": "mcare", "plan": "P",
            "admission_date": admission, "discharge_date": discharge, "index_flag": index,
            "exclusion_reason": reason, "readmit_30_flag": readmit,
            "unplanned_readmit_30_flag": readmit * unplanned,
            "days_to_readmission": readmit_days}


def opioid(person: str, fills: int, any_90: int, year: int = 2024,
           payer: str = "mcare") -> dict[str, Any]:
    return {"person_id": person, "payer": payer, "year": year, "opioid_fill_count": fills,
            "any_90_flag": any_90}


def obs(person: str, date: str, change: str | None, baseline: int = 0,
        scale: str = "physical") -> dict[str, Any]:
    return {"person_id": person, "observation_date": date, "year": int(date[:4]),
            "scale": scale, "change_from_baseline": change, "is_baseline": baseline}


ATTRIBUTION = [*(attributed(p, "A") for p in A), *(attributed(p, "B") for p in B),
               attributed("U1", None)]
MEMBER_MONTHS = [*(r for p in A for r in months(p, MONTHS)),
                 *(r for p in B for r in months(p, MONTHS[:6])),
                 *months("U1", MONTHS), *months("U1", MONTHS[:1], payer="mcaid", flag=0)]
LINES = [
    # TIN A spend: 100,000.00 medical + 32,000.00 pharmacy over 132 member months
    line("A01", "2024-02-01", "100000.00", "110000.00"),
    line("A01", "2023-12-15", "5000.00", "5000.00"),   # not enrolled that month: not counted
    line("B01", "2024-03-01", "600.00", "700.00"),
    line("U1", "2024-05-01", "120.00", "150.00"),
    # follow-up visits
    line("A01", "2024-03-17", hcpcs="99214"),           # S1 day 7: counts
    line("A02", "2024-04-18", hcpcs="99213"),           # S2 day 8: does not
    line("A03", "2024-05-10", hcpcs="99215"),           # S3 day 0 (discharge day): does not
    line("A04", "2024-06-13", hcpcs="99214"),           # S4 day 3, but readmitted on day 5
    line("A04", "2024-06-22", hcpcs="99496"),           # S5 day 2 (TCM): counts
    line("A05", "2024-07-11", hcpcs="G0439"),           # S6 day 1 (also an AWV): counts
    line("A06", "2024-09-12", hcpcs="99214"),           # S8 day 2, but died on day 5
    line("A09", "2024-10-03", hcpcs="99213"),           # S11 day 2: counts
    line("A10", "2024-03-12", hcpcs="99214"),           # another person's visit: not S1's
    line("A02", "2024-03-14", hcpcs="99999"),           # not a follow-up code
    # annual wellness visits
    line("A01", "2024-01-20", hcpcs="G0438"),
    line("A02", "2024-02-20", hcpcs="G0439"),
    line("A02", "2024-11-20", hcpcs="g0439 "),         # second AWV of A02: one member
    line("A03", "2023-11-20", hcpcs="G0439"),           # 2023: not counted
]
PHARMACY = [{"claim_id": "R1", "claim_line_number": 1, "data_source": "x",
             "person_id": "A02", "payer": "mcare", "plan": "P",
             "dispensing_date": "2024-03-05", "paid_amount": "32000.00",
             "allowed_amount": "33000.00"}]
RISK = [score("A01", 1.5), score("A02", 1.0), *(score(p, 1.25) for p in A[2:10]),
        score("A01", 9.9, model="v24"),       # another model: ignored
        score("A11", 3.0, year=2025)]         # another payment year: A11 has none for 2024
READMISSIONS = [
    stay("S1", "A01", "2024-03-01", "2024-03-10"),
    stay("S2", "A02", "2024-04-01", "2024-04-10"),
    stay("S3", "A03", "2024-05-01", "2024-05-10"),
    stay("S4", "A04", "2024-06-01", "2024-06-10", readmit_days=5),
    stay("S5", "A04", "2024-06-15", "2024-06-20"),
    stay("S6", "A05", "2024-07-01", "2024-07-10", readmit_days=20, unplanned=0),
    stay("S7", "A05", "2024-07-30", "2024-08-02"),
    stay("S8", "A06", "2024-09-01", "2024-09-10"),
    stay("S9", "A07", "2024-09-01", "2024-09-10", index=0, reason="died_in_hospital"),
    stay("S10", "A08", "2024-09-01", "2024-09-03", index=0,
         reason="not_last_in_transfer_chain"),
    stay("S11", "A09", "2024-09-20", "2024-10-01", index=0,
         reason="psychiatric_principal_diagnosis"),
]
ED = [{"person_id": "A01", "visit_date": "2024-04-01"},
      *({"person_id": "B01", "visit_date": f"2024-0{m}-02"} for m in (1, 2, 3)),
      {"person_id": "Z9", "visit_date": "2024-04-01"}]      # not a member: nowhere
OPIOIDS = [opioid("A01", 2, 1), opioid("A01", 1, 0, payer="mcaid"), opioid("A02", 1, 0),
           opioid("A03", 3, 0), opioid("A04", 1, 1, year=2023)]
PROMIS = [
    obs("A01", "2023-06-01", "0.00", baseline=1),
    obs("A01", "2024-03-01", "5.00"),
    obs("A01", "2024-09-01", "2.00"),      # latest of 2024: not improved
    obs("A02", "2024-02-01", "0.00", baseline=1),
    obs("A02", "2024-08-01", "3.00"),      # exactly 3: improved
    obs("A03", "2024-05-01", "4.00"),
    obs("A03", "2024-06-01", "10.00", scale="mental"),
    obs("A04", "2024-04-01", "0.00", baseline=1),   # baseline only: not followed up
]


def _run(**options: Any) -> ibis.Table:
    lines, mm = memtable(LINE_T, LINES), memtable(MM_T, MEMBER_MONTHS)
    pharmacy = table(None, "pharmacy_claim", PHARMACY)  # type: ignore[arg-type]
    return kpis(
        memtable(ATTRIBUTION_T, ATTRIBUTION), mm, lines, member_spend(lines, pharmacy, mm),
        memtable(RISK_T, RISK), memtable(READMIT_T, READMISSIONS), memtable(ED_T, ED),
        memtable(OPIOID_T, OPIOIDS), memtable(PROMIS_T, PROMIS), **options)


def _by_tin(con: ibis.BaseBackend, **options: Any) -> dict[str | None, dict[str, Any]]:
    out = rows(con, _run(**options))
    return {r["attributed_tin"]: r for r in out}


# -- expected rows -----------------------------------------------------------------------------

EXPECTED_A: dict[str, Any] = {
    "year": 2024, "attributed_tin": "A", "members": 11, "member_months": 132,
    "paid_amount": M("132000.00"), "allowed_amount": M("143000.00"),
    "paid_pmpm": M("1000.00"),
    "members_without_risk_score": 1, "mean_risk_score": M("1.2500"),
    "risk_adjusted_paid_pmpm": M("800.00"),
    "index_stays": 8, "readmissions": 2, "readmission_rate": M("0.2500"),
    "unplanned_readmissions": 1, "unplanned_readmission_rate": M("0.1250"),
    "ed_visits": 1, "ed_visits_per_1000": M("90.9"),       # 12,000 / 132 = 90.909
    "discharges_eligible_for_follow_up": 7, "followed_up_7_days": 4,
    "follow_up_7_day_rate": M("0.5714"),
    "opioid_users": 3, "high_dose_opioid_users": 1, "high_dose_opioid_rate": M("0.3333"),
    "promis_members": 3, "promis_improved": 2, "promis_improvement_rate": M("0.6667"),
    "awv_members": 3, "awv_rate": M("0.2727"),
    "small_cell_flag": 0, "risk_score_small_cell_flag": 1, "readmission_small_cell_flag": 1,
    "follow_up_small_cell_flag": 1, "high_dose_opioid_small_cell_flag": 1,
    "promis_small_cell_flag": 1,
}
EXPECTED_B: dict[str, Any] = {
    "year": 2024, "attributed_tin": "B", "members": 10, "member_months": 60,
    "paid_amount": M("600.00"), "allowed_amount": M("700.00"), "paid_pmpm": M("10.00"),
    "members_without_risk_score": 10, "mean_risk_score": None,
    "risk_adjusted_paid_pmpm": None,
    "index_stays": 0, "readmissions": 0, "readmission_rate": None,
    "unplanned_readmissions": 0, "unplanned_readmission_rate": None,
    "ed_visits": 3, "ed_visits_per_1000": M("600.0"),      # 36,000 / 60
    "discharges_eligible_for_follow_up": 0, "followed_up_7_days": 0,
    "follow_up_7_day_rate": None,
    "opioid_users": 0, "high_dose_opioid_users": 0, "high_dose_opioid_rate": None,
    "promis_members": 0, "promis_improved": 0, "promis_improvement_rate": None,
    "awv_members": 0, "awv_rate": M("0.0000"),
    "small_cell_flag": 1, "risk_score_small_cell_flag": 1, "readmission_small_cell_flag": 1,
    "follow_up_small_cell_flag": 1, "high_dose_opioid_small_cell_flag": 1,
    "promis_small_cell_flag": 1,
}
EXPECTED_UNATTRIBUTED: dict[str, Any] = {
    **EXPECTED_B, "attributed_tin": None, "members": 1, "member_months": 12,
    "paid_amount": M("120.00"), "allowed_amount": M("150.00"), "paid_pmpm": M("10.00"),
    "members_without_risk_score": 1, "ed_visits": 0, "ed_visits_per_1000": M("0.0"),
}


def test_columns_and_order(con: ibis.BaseBackend) -> None:
    out = rows(con, _run())
    assert tuple(out[0]) == COLUMNS
    assert [(r["year"], r["attributed_tin"]) for r in out] == [
        (2024, "A"), (2024, "B"), (2024, None)]


def test_tin_a_every_kpi(con: ibis.BaseBackend) -> None:
    assert _by_tin(con)["A"] == EXPECTED_A


def test_tin_b_ten_members_is_a_small_cell(con: ibis.BaseBackend) -> None:
    assert _by_tin(con)["B"] == EXPECTED_B


def test_unattributed_members_are_their_own_group(con: ibis.BaseBackend) -> None:
    assert _by_tin(con)[None] == EXPECTED_UNATTRIBUTED


def test_promis_scale_and_threshold_are_parameters(con: ibis.BaseBackend) -> None:
    a = _by_tin(con, promis_threshold=M("4"))["A"]
    assert (a["promis_members"], a["promis_improved"], a["promis_improvement_rate"]) == (
        3, 1, M("0.3333"))
    a = _by_tin(con, promis_scale="mental")["A"]
    assert (a["promis_members"], a["promis_improved"], a["promis_improvement_rate"]) == (
        1, 1, M("1.0000"))


def test_small_cell_threshold_is_a_parameter(con: ibis.BaseBackend) -> None:
    out = _by_tin(con, small_cell=10)
    assert (out["A"]["small_cell_flag"], out["B"]["small_cell_flag"],
            out["A"]["risk_score_small_cell_flag"]) == (0, 0, 0)


def test_types_are_exact(con: ibis.BaseBackend) -> None:
    schema = _run().schema()
    assert str(schema["paid_pmpm"]) == "decimal(18, 2)"
    assert str(schema["risk_adjusted_paid_pmpm"]) == "decimal(18, 2)"
    assert str(schema["mean_risk_score"]) == "decimal(18, 4)"
    assert str(schema["ed_visits_per_1000"]) == "decimal(18, 1)"
    for c in ("readmission_rate", "follow_up_7_day_rate", "high_dose_opioid_rate",
              "promis_improvement_rate", "awv_rate"):
        assert str(schema[c]) == "decimal(18, 4)", c


def test_risk_mean_rounds_once_and_half_up(con: ibis.BaseBackend) -> None:
    """Scores 1.1 and 1.2 (DOUBLE) -> mean 1.15 exactly; 1.00005 rounds half up to 1.0001;
    a PMPM of 1000.00 over 1.15 -> 869.565... -> 869.57."""
    mm = memtable(MM_T, [*months("X1", MONTHS), *months("X2", MONTHS),
                         *months("Y1", MONTHS)])
    att = memtable(ATTRIBUTION_T, [attributed("X1", "X"), attributed("X2", "X"),
                                   attributed("Y1", "Y")])
    lines = memtable(LINE_T, [line("X1", "2024-01-05", "24000.00")])
    risk = memtable(RISK_T, [score("X1", 1.1), score("X2", 1.2), score("Y1", 1.00005)])
    empty_pharmacy = table(None, "pharmacy_claim", [])  # type: ignore[arg-type]
    out = rows(con, kpis(att, mm, lines, member_spend(lines, empty_pharmacy, mm), risk, memtable(READMIT_T, []),
                         memtable(ED_T, []), memtable(OPIOID_T, []), memtable(PROMIS_T, [])),
               ["attributed_tin", "paid_pmpm", "mean_risk_score", "risk_adjusted_paid_pmpm"])
    assert out == [
        {"attributed_tin": "X", "paid_pmpm": M("1000.00"), "mean_risk_score": M("1.1500"),
         "risk_adjusted_paid_pmpm": M("869.57")},
        {"attributed_tin": "Y", "paid_pmpm": M("0.00"), "mean_risk_score": M("1.0001"),
         "risk_adjusted_paid_pmpm": M("0.00")},
    ]


def test_compiles_for_pyspark() -> None:
    pytest.importorskip("pyspark")
    assert ibis.pyspark is not None  # loads the backend, which registers its compile options
    sql = ibis.to_sql(_run(), dialect="pyspark")
    assert "SELECT" in sql
    assert "DATEDIFF" in sql.upper()
