"""opioids mart: given pharmacy lines -> expected fills, daily MME, members and rates (exact).

Every NDC below is a real one from src/medsynergy/refdata/drug_ndc/2026.csv. Each test states
one rule of docs/marts/opioids.md with the smallest input that shows it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from medsynergy.marts.opioids import (
    benzodiazepine_fills,
    daily_mme,
    ndc_coverage,
    ndc_table,
    normalize_ndc,
    opioid_fills,
    opioid_members,
    opioid_summary,
)

from .conftest import TABLES, rows, table

D = dt.date.fromisoformat
OXY_5 = "00378611201"        # oxycodone HCl 5 mg, factor 1.5
OXY_15 = "00378611301"       # oxycodone HCl 15 mg, factor 1.5
FENTANYL_25 = "00378912116"  # fentanyl transdermal 25 mcg/hr, factor 7.2 (per patch)
MSCONTIN_30 = "00034051510"  # morphine ER 30 mg, factor 1
MSCONTIN_15 = "00034051410"  # morphine ER 15 mg, factor 1
HYDROMORPHONE_2 = "00054439225"  # hydromorphone 2 mg, factor 5
SUBOXONE = "12496120803"     # buprenorphine/naloxone 8-2 mg film (OUD)
BUP_NAL = "00093572156"      # buprenorphine/naloxone 8-2 mg tablet (OUD)
ALPRAZOLAM = "00378400101"   # benzodiazepine
LORAZEPAM = "00093482201"    # benzodiazepine
SERTRALINE = "00093717610"   # not an opioid

_n = 0


def fill(ndc: str | None, date: str, quantity: str | None, days: int | None, *,
         person: str = "P1", payer: str = "X", **extra: Any) -> dict[str, Any]:
    """One pharmacy claim line."""
    global _n
    _n += 1
    return {"claim_id": f"C{_n:05d}", "claim_line_number": 1, "person_id": person, "payer": payer,
            "plan": "A", "dispensing_date": date, "ndc_code": ndc, "quantity": quantity,
            "days_supply": days, "data_source": "test", **extra}


def pipeline(con: ibis.BaseBackend, lines: list[dict[str, Any]]
             ) -> tuple[ibis.Table, ibis.Table, ibis.Table]:
    pc = table(con, "pharmacy_claim", lines)
    ndc = ndc_table()
    fills = opioid_fills(pc, ndc)
    dm = daily_mme(fills)
    return fills, dm, opioid_members(fills, benzodiazepine_fills(pc, ndc))


def members_of(con: ibis.BaseBackend, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return rows(con, pipeline(con, lines)[2], order=["person_id", "payer", "year"])


def fills_of(con: ibis.BaseBackend, lines: list[dict[str, Any]],
             columns: list[str]) -> list[dict[str, Any]]:
    got = rows(con, pipeline(con, lines)[0], ["claim_id", *columns], ["claim_id"])
    return [{c: r[c] for c in columns} for r in got]


def member_months(payer_year_months: list[tuple[str, int, int]]) -> ibis.Table:
    """A minimal member_months table: `months` rows for each (payer, year)."""
    out: dict[str, list[Any]] = {"person_id": [], "payer": [], "year": []}
    for payer, year, months in payer_year_months:
        for i in range(months):
            out["person_id"].append(f"M{i}")
            out["payer"].append(payer)
            out["year"].append(year)
    return ibis.memtable(pa.table({"person_id": pa.array(out["person_id"], pa.string()),
                                   "payer": pa.array(out["payer"], pa.string()),
                                   "year": pa.array(out["year"], pa.int64())}))


# -- reference data ----------------------------------------------------------------------------


def test_ndc_table_is_the_refdata_with_exact_decimals(con: ibis.BaseBackend) -> None:
    got = {r["ndc11"]: r for r in rows(con, ndc_table())}
    assert got[FENTANYL_25]["mme_conversion_factor"] == Decimal("7.2000")
    assert got[FENTANYL_25]["strength"] == Decimal("25.0000")
    assert got[OXY_5]["mme_conversion_factor"] == Decimal("1.5000")
    assert got["00378400101"]["strength"] == Decimal("0.2500")
    assert got[SUBOXONE]["is_opioid"]
    assert got[SUBOXONE]["oud_treatment"]
    assert got[SUBOXONE]["mme_conversion_factor"] is None
    assert {r["drug_ndc_version"] for r in got.values()} == {"2026"}
    schema = ndc_table().schema()
    assert schema["strength"] == ibis.dtype("decimal(9, 4)")
    assert schema["mme_conversion_factor"] == ibis.dtype("decimal(9, 4)")


def test_normalize_ndc(con: ibis.BaseBackend) -> None:
    raw = ["00378-6112-01", "0378-6112-01", "67877-511-90", "00378-6112-1", " 00378611201 ",
           "0378611201", None]
    t = ibis.memtable(pa.table({"i": list(range(len(raw))), "ndc": pa.array(raw, pa.string())}))
    got = rows(con, t.mutate(n=normalize_ndc(t.ndc)), ["i", "n"], ["i"])
    assert [r["n"] for r in got] == [OXY_5, OXY_5, "67877051190", OXY_5, OXY_5, "0378611201",
                                     None]


# -- MME per day -------------------------------------------------------------------------------


MME = ["ndc11", "ingredient", "mme_per_day", "fill_start", "fill_end", "invalid_days_supply_flag"]


def test_oxycodone_and_fentanyl_mme_per_day(con: ibis.BaseBackend) -> None:
    lines = [fill("00378-6112-01", "2024-01-01", "120", 30),  # dashes normalised
             fill(FENTANYL_25, "2024-01-01", "10", 30)]
    assert fills_of(con, lines, MME) == [
        {"ndc11": OXY_5, "ingredient": "oxycodone", "mme_per_day": Decimal("30.000"),
         "fill_start": D("2024-01-01"), "fill_end": D("2024-01-30"),
         "invalid_days_supply_flag": 0},
        {"ndc11": FENTANYL_25, "ingredient": "fentanyl", "mme_per_day": Decimal("60.000"),
         "fill_start": D("2024-01-01"), "fill_end": D("2024-01-30"),
         "invalid_days_supply_flag": 0},
    ]


def test_rounding_is_half_up_to_three_decimals_once(con: ibis.BaseBackend) -> None:
    lines = [fill(HYDROMORPHONE_2, "2024-01-01", "1", 3),    # 2 x 1 / 3 x 5 = 3.3333..
             fill(OXY_5, "2024-01-01", "0.001", 15),         # 0.0075 / 15 = 0.0005: a tie
             fill(HYDROMORPHONE_2, "2024-01-01", "2", 3)]    # 6.6666.. -> 6.667
    got = [r["mme_per_day"] for r in fills_of(con, lines, ["mme_per_day"])]
    assert got == [Decimal("3.333"), Decimal("0.001"), Decimal("6.667")]


def test_oud_buprenorphine_benzodiazepines_and_unknown_ndcs_are_not_opioid_fills(
        con: ibis.BaseBackend) -> None:
    lines = [fill(SUBOXONE, "2024-01-01", "60", 30), fill(BUP_NAL, "2024-01-01", "60", 30),
             fill(ALPRAZOLAM, "2024-01-01", "90", 30), fill(SERTRALINE, "2024-01-01", "30", 30),
             fill("99999999999", "2024-01-01", "30", 30), fill(None, "2024-01-01", "1", 1),
             fill(OXY_5, "2024-01-01", "120", 30)]
    assert [r["ndc11"] for r in fills_of(con, lines, ["ndc11"])] == [OXY_5]


def test_invalid_days_supply_is_flagged_not_dropped(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_5, "2024-01-01", "120", 0), fill(OXY_5, "2024-01-02", "120", None),
             fill(OXY_5, "2024-01-03", "120", -5)]
    got = fills_of(con, lines, MME)
    assert [(r["mme_per_day"], r["fill_end"], r["invalid_days_supply_flag"]) for r in got] == [
        (None, None, 1)] * 3
    assert members_of(con, lines) == [{
        "person_id": "P1", "payer": "X", "year": 2024, "opioid_fill_count": 3,
        "invalid_days_supply_fill_count": 3, "opioid_days": 0, "max_daily_mme": None,
        "days_at_or_above_50": 0, "days_at_or_above_90": 0, "any_50_flag": 0,
        "any_90_flag": 0, "opioid_benzo_overlap_days": 0}]


# -- daily MME and members ---------------------------------------------------------------------


def test_overlapping_fills_are_summed_on_the_overlap_days_only(con: ibis.BaseBackend) -> None:
    lines = [fill(MSCONTIN_30, "2024-03-01", "20", 10),   # 30 x 20 / 10 = 60, Mar 1-10
             fill(MSCONTIN_15, "2024-03-06", "40", 15)]   # 15 x 40 / 15 = 40, Mar 6-20
    _, dm, m = pipeline(con, lines)
    daily = rows(con, dm, ["day", "daily_mme", "fill_count"], ["day"])
    assert len(daily) == 20
    assert [r["daily_mme"] for r in daily] == (
        [Decimal("60.000")] * 5 + [Decimal("100.000")] * 5 + [Decimal("40.000")] * 10)
    assert [r["fill_count"] for r in daily[4:11]] == [1, 2, 2, 2, 2, 2, 1]
    assert rows(con, m) == [{
        "person_id": "P1", "payer": "X", "year": 2024, "opioid_fill_count": 2,
        "invalid_days_supply_fill_count": 0, "opioid_days": 20,
        "max_daily_mme": Decimal("100.000"), "days_at_or_above_50": 10,
        "days_at_or_above_90": 5, "any_50_flag": 1, "any_90_flag": 1,
        "opioid_benzo_overlap_days": 0}]


def test_exactly_90_counts_as_90_and_below_50_does_not_count(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_15, "2024-01-01", "120", 30),                 # 15 x 4 x 1.5 = 90.000
             fill(OXY_5, "2024-01-01", "120", 30, person="P2")]     # 30.000
    got = members_of(con, lines)
    cols = ["person_id", "max_daily_mme", "days_at_or_above_50", "days_at_or_above_90",
            "any_50_flag", "any_90_flag"]
    assert [{c: r[c] for c in cols} for r in got] == [
        {"person_id": "P1", "max_daily_mme": Decimal("90.000"), "days_at_or_above_50": 30,
         "days_at_or_above_90": 30, "any_50_flag": 1, "any_90_flag": 1},
        {"person_id": "P2", "max_daily_mme": Decimal("30.000"), "days_at_or_above_50": 0,
         "days_at_or_above_90": 0, "any_50_flag": 0, "any_90_flag": 0},
    ]


def test_opioid_benzodiazepine_overlap_days(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_5, "2024-03-01", "120", 30),                   # Mar 1-30
             fill(ALPRAZOLAM, "2024-03-25", "30", 10),               # Mar 25 - Apr 3: 6 days
             fill(LORAZEPAM, "2024-03-28", "20", 10, payer="Y"),     # same days count once
             fill(ALPRAZOLAM, "2024-03-01", "30", 30, person="P2")]  # another person
    got = members_of(con, lines)
    assert [(r["person_id"], r["opioid_days"], r["opioid_benzo_overlap_days"]) for r in got] == [
        ("P1", 30, 6)]


def test_year_and_payer_are_those_of_the_fill(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_15, "2024-12-20", "120", 30),                  # 90, Dec 20 - Jan 18
             fill(OXY_5, "2025-01-10", "120", 30, payer="Y")]        # 30, Jan 10 - Feb 8
    got = members_of(con, lines)
    cols = ["payer", "year", "opioid_fill_count", "opioid_days", "max_daily_mme",
            "days_at_or_above_90"]
    assert [{c: r[c] for c in cols} for r in got] == [
        # the payer X fill's days, Jan 10-18 valued at 90 + 30 = 120 (all the person's fills)
        {"payer": "X", "year": 2024, "opioid_fill_count": 1, "opioid_days": 30,
         "max_daily_mme": Decimal("120.000"), "days_at_or_above_90": 30},
        {"payer": "Y", "year": 2025, "opioid_fill_count": 1, "opioid_days": 30,
         "max_daily_mme": Decimal("120.000"), "days_at_or_above_90": 9},
    ]


def test_intervals_equal_counting_day_by_day(con: ibis.BaseBackend) -> None:
    """opioid_members works on intervals; counted day by day from the fills (in Python)
    the values are the same, on 300 seeded fills of 12 people with overlaps, gaps, two
    payers, year ends, invalid and over-cap days supplies and benzodiazepines."""
    import random

    rnd = random.Random(7)
    drugs = [OXY_5, OXY_15, MSCONTIN_30, HYDROMORPHONE_2, FENTANYL_25, ALPRAZOLAM]
    lines = []
    for _ in range(300):
        day = D("2024-10-01") + dt.timedelta(days=rnd.randrange(150))
        supply = rnd.choice([None, 0, 1, 7, 10, 30, 30, 90, 400])
        lines.append(fill(rnd.choice(drugs), day.isoformat(), str(rnd.choice([10, 60, 120])),
                          supply, person=f"P{rnd.randrange(12)}", payer=rnd.choice("XY")))
    fills_t, _, members = pipeline(con, lines)
    fills = rows(con, fills_t)
    benzo = rows(con, benzodiazepine_fills(table(con, "pharmacy_claim", lines), ndc_table()))

    def days(f: dict[str, Any]) -> list[dt.date]:
        if f["invalid_days_supply_flag"]:
            return []
        return [f["fill_start"] + dt.timedelta(days=i)
                for i in range(min(f["days_supply"], 365))]

    level: dict[tuple[str, dt.date], Decimal] = {}
    for f in fills:
        for d in days(f):
            key = (f["person_id"], d)
            level[key] = level.get(key, Decimal(0)) + (f["mme_per_day"] or Decimal(0))
    benzo_days = {(f["person_id"], d) for f in benzo for d in days(f)}
    covered: dict[tuple[str, str, int], set[dt.date]] = {}
    for f in fills:
        covered.setdefault((f["person_id"], f["payer"], f["year"]), set()).update(days(f))
    expected = {}
    for (p, payer, year), ds in covered.items():
        mmes = [level[(p, d)] for d in ds]
        expected[(p, payer, year)] = (
            len(ds), max(mmes) if mmes else None, sum(m >= 50 for m in mmes),
            sum(m >= 90 for m in mmes), sum((p, d) in benzo_days for d in ds))
    got = {(r["person_id"], r["payer"], r["year"]): (
        r["opioid_days"], r["max_daily_mme"], r["days_at_or_above_50"],
        r["days_at_or_above_90"], r["opioid_benzo_overlap_days"]) for r in rows(con, members)}
    assert got == expected
    # the sample exercises high doses and benzodiazepine overlap, not only empty cases
    # (48 person x payer x years; 4,703 days >= 50, 2,894 >= 90, 3,402 with a benzo)
    assert (len(got), sum(v[2] for v in got.values()), sum(v[3] for v in got.values()),
            sum(v[4] for v in got.values())) == (48, 4703, 2894, 3402)


# -- summary and coverage ----------------------------------------------------------------------


def test_summary_per_1000_and_high_dose_rate_exact(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_15, "2024-01-01", "120", 30, person="P1"),   # 90
             fill(OXY_15, "2024-06-01", "120", 30, person="P1"),   # 90
             fill(OXY_15, "2024-01-01", "120", 30, person="P2"),   # 90
             fill(MSCONTIN_30, "2024-01-01", "50", 25, person="P3"),  # 60
             fill(OXY_5, "2024-01-01", "120", 0, person="P4")]     # invalid: counts as a fill
    m = pipeline(con, lines)[2]
    mm = member_months([("X", 2024, 7), ("Z", 2024, 12)])
    assert rows(con, opioid_summary(m, mm)) == [
        {"payer": "X", "year": 2024, "members_with_opioid_fill": 4,
         "members_at_or_above_50": 3, "members_at_or_above_90": 2,
         "members_with_benzo_overlap": 0, "opioid_fills": 5, "member_months": 7,
         "member_years": Decimal("0.5833"),
         "opioid_fills_per_1000": Decimal("8571.4"),   # 5 x 12000 / 7 = 8571.428..
         "high_dose_rate": Decimal("0.5000")},         # 2 / 4
        {"payer": "Z", "year": 2024, "members_with_opioid_fill": 0,
         "members_at_or_above_50": 0, "members_at_or_above_90": 0,
         "members_with_benzo_overlap": 0, "opioid_fills": 0, "member_months": 12,
         "member_years": Decimal("1.0000"), "opioid_fills_per_1000": Decimal("0.0"),
         "high_dose_rate": None},
    ]


def test_summary_rounds_half_up_and_keeps_fills_without_enrollment(
        con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_15, "2024-01-01", "120", 30, person=p) for p in ("P1", "P2")]
    lines += [fill(OXY_5, "2024-01-01", "120", 30, person="P3"),
              fill(OXY_5, "2024-01-01", "120", 30, person="P4", payer="W")]
    m = pipeline(con, lines)[2]
    # 3 fills x 12000 / 16 = 2250.0; 2 / 3 = 0.6667 (half up); payer W: no member months
    got = rows(con, opioid_summary(m, member_months([("X", 2024, 16)])))
    assert [(r["payer"], r["opioid_fills_per_1000"], r["high_dose_rate"], r["member_months"])
            for r in got] == [("W", None, Decimal("0.0000"), 0),
                              ("X", Decimal("2250.0"), Decimal("0.6667"), 16)]


def test_ndc_coverage(con: ibis.BaseBackend) -> None:
    lines = [fill(OXY_5, "2024-01-01", "1", 1), fill("0378-6112-01", "2024-01-01", "1", 1),
             fill(SERTRALINE, "2024-01-01", "1", 1), fill("12345678901", "2024-01-01", "1", 1),
             fill(None, "2024-01-01", "1", 1), fill("1234567890", "2024-01-01", "1", 1),
             fill(ALPRAZOLAM, "2024-01-01", "1", 1)]
    pc = table(con, "pharmacy_claim", lines)
    assert rows(con, ndc_coverage(pc, ndc_table())) == [
        {"pharmacy_lines": 7, "known_ndc_lines": 4, "unknown_ndc_lines": 3,
         "unknown_ndc_share": Decimal("0.4286")}]


# -- engines -----------------------------------------------------------------------------------


def _sample(con: ibis.BaseBackend) -> ibis.Table:
    lines = [fill(MSCONTIN_30, "2024-03-01", "20", 10), fill(MSCONTIN_15, "2024-03-06", "40", 15),
             fill(FENTANYL_25, "2024-12-20", "10", 30, person="P2"),
             fill(ALPRAZOLAM, "2024-03-08", "30", 10), fill(SUBOXONE, "2024-01-01", "60", 30),
             fill("0378-6112-01", "2024-05-01", "120", 0), fill(OXY_5, "2024-01-01", "0.001", 15)]
    # ibis 12's PySpark memtable registration cannot convert null decimals: give them all 0
    decimals = [c for c, kind in TABLES["pharmacy_claim"].ibis_schema().items()
                if kind.is_decimal()]
    return table(con, "pharmacy_claim", [{c: "0" for c in decimals} | ln for ln in lines])


def _exprs(con: ibis.BaseBackend) -> list[tuple[ibis.Table, list[str]]]:
    pc = _sample(con)
    ndc = ndc_table()
    fills = opioid_fills(pc, ndc)
    dm = daily_mme(fills)
    m = opioid_members(fills, benzodiazepine_fills(pc, ndc))
    mm = member_months([("X", 2024, 7)])
    return [(fills, ["claim_id"]), (dm, ["person_id", "day"]),
            (m, ["person_id", "payer", "year"]), (opioid_summary(m, mm), ["payer", "year"]),
            (ndc_coverage(pc, ndc), ["pharmacy_lines"])]


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    for expr, _ in _exprs(con):
        assert "SELECT" in ibis.to_sql(expr, dialect="pyspark")


@pytest.mark.spark
@pytest.mark.slow
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    """Fills, members (which read daily MME and benzodiazepine days) and the summary give the
    same rows and types on PySpark (date + interval days, exact decimals); about 4 minutes."""
    exprs = _exprs(con)
    for expr, order in (exprs[0], exprs[2], exprs[3]):
        assert rows(spark, expr, order=order) == rows(con, expr, order=order)
