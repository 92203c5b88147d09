"""promis mart: given observation rows -> expected T-scores, baselines and changes (exact).

Each test states one rule of docs/marts/promis.md with the smallest input that shows it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pytest

from medsynergy.marts.promis import COLUMNS, LOINC, promis_scores, promis_summary

from .conftest import rows, table

D = dt.date.fromisoformat
_id = 0


def obs(scale: str, kind: str, date: str, result: str | None, *, person: str = "P1",
        **extra: Any) -> dict[str, Any]:
    """One PROMIS Global Health observation: kind 'raw' or 't'."""
    global _id
    _id += 1
    code = LOINC[scale][0 if kind == "raw" else 1]
    return {"observation_id": f"O{_id:04d}", "person_id": person, "observation_date": date,
            "observation_type": "survey", "source_code_type": "loinc", "source_code": code,
            "result": result, "data_source": "test", **extra}


def scores(con: ibis.BaseBackend, observations: list[dict[str, Any]],
           columns: tuple[str, ...] = COLUMNS) -> list[dict[str, Any]]:
    o = table(con, "observation", observations)
    return rows(con, promis_scores(o), list(columns), ["person_id", "scale", "observation_date"])


def brief(got: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(date, scale, source, raw_score, t_score, flag, baseline_t, change, is_baseline)."""
    return [(str(r["observation_date"]), r["scale"], r["source"], r["raw_score"],
             r["t_score"], r["out_of_range_flag"], r["baseline_t_score"],
             r["change_from_baseline"], r["is_baseline"]) for r in got]


def dec(v: str) -> Decimal:
    return Decimal(v)


def test_raw_scores_look_up_the_published_table(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("physical", "raw", "2024-01-01", "4"),
                       obs("physical", "raw", "2024-02-01", "13"),
                       obs("physical", "raw", "2024-03-01", "20"),
                       obs("mental", "raw", "2024-01-01", "4"),
                       obs("mental", "raw", "2024-02-01", " 17.0 ")])
    assert [(r["scale"], r["raw_score"], r["t_score"], r["source"]) for r in got] == [
        ("mental", 4, dec("21.20"), "table"), ("mental", 17, dec("56.00"), "table"),
        ("physical", 4, dec("16.20"), "table"), ("physical", 13, dec("42.30"), "table"),
        ("physical", 20, dec("67.70"), "table")]


def test_baseline_and_change(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("physical", "raw", "2024-06-01", "14"),     # 44.9
                       obs("physical", "raw", "2024-01-01", "12"),     # 39.8 baseline
                       obs("physical", "raw", "2025-01-01", "11")])    # 37.4
    assert brief(got) == [
        ("2024-01-01", "physical", "table", 12, dec("39.80"), 0, dec("39.80"), dec("0.00"), 1),
        ("2024-06-01", "physical", "table", 14, dec("44.90"), 0, dec("39.80"), dec("5.10"), 0),
        ("2025-01-01", "physical", "table", 11, dec("37.40"), 0, dec("39.80"), dec("-2.40"), 0)]
    assert [(r["year"], r["baseline_date"]) for r in got] == [
        (2024, D("2024-01-01")), (2024, D("2024-01-01")), (2025, D("2024-01-01"))]


def test_scales_and_members_have_their_own_baselines(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("physical", "raw", "2024-03-01", "12"),
                       obs("mental", "raw", "2024-01-01", "12"),
                       obs("physical", "raw", "2024-01-01", "10", person="P2")])
    assert [(r["person_id"], r["scale"], r["baseline_date"], r["baseline_t_score"])
            for r in got] == [("P1", "mental", D("2024-01-01"), dec("43.50")),
                              ("P1", "physical", D("2024-03-01"), dec("39.80")),
                              ("P2", "physical", D("2024-01-01"), dec("34.90"))]


def test_out_of_range_raw_is_kept_flagged_and_not_a_baseline(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("mental", "raw", "2024-01-01", "25"),
                       obs("mental", "raw", "2024-02-01", "3"),
                       obs("mental", "raw", "2024-03-01", "12.5"),
                       obs("mental", "raw", "2024-04-01", "n/a"),
                       obs("mental", "raw", "2024-05-01", "10"),       # 38.8 baseline
                       obs("mental", "raw", "2024-06-01", "21")])
    assert brief(got) == [
        ("2024-01-01", "mental", "table", 25, None, 1, dec("38.80"), None, 0),
        ("2024-02-01", "mental", "table", 3, None, 1, dec("38.80"), None, 0),
        ("2024-03-01", "mental", "table", None, None, 1, dec("38.80"), None, 0),
        ("2024-04-01", "mental", "table", None, None, 1, dec("38.80"), None, 0),
        ("2024-05-01", "mental", "table", 10, dec("38.80"), 0, dec("38.80"), dec("0.00"), 1),
        ("2024-06-01", "mental", "table", 21, None, 1, dec("38.80"), None, 0)]
    assert [r["raw_result"] for r in got] == ["25", "3", "12.5", "n/a", "10", "21"]


def test_reported_t_score_kept_when_no_raw(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("physical", "t", "2024-01-01", "45.2"),
                       obs("physical", "t", "2024-02-01", "48.75"),
                       obs("physical", "t", "2024-03-01", "high")])
    assert brief(got) == [
        ("2024-01-01", "physical", "reported", None, dec("45.20"), 0, dec("45.20"),
         dec("0.00"), 1),
        ("2024-02-01", "physical", "reported", None, dec("48.75"), 0, dec("45.20"),
         dec("3.55"), 0),
        ("2024-03-01", "physical", "reported", None, None, 1, dec("45.20"), None, 0)]


def test_raw_wins_over_a_reported_t_score_of_the_same_survey(con: ibis.BaseBackend) -> None:
    got = scores(con, [obs("physical", "raw", "2024-01-01", "16"),
                       obs("physical", "t", "2024-01-01", "50.8"),
                       obs("physical", "t", "2024-01-01", "50.8", normalized_code="other"),
                       obs("physical", "raw", "2024-04-01", "30"),
                       obs("physical", "t", "2024-04-01", "61.9")])
    assert [(r["source"], r["raw_score"], r["reported_t_score"], r["t_score"],
             r["out_of_range_flag"]) for r in got] == [
        ("table", 16, dec("50.80"), dec("50.80"), 0),
        ("table", 30, dec("61.90"), None, 1)]


def test_normalized_code_and_duplicates(con: ibis.BaseBackend) -> None:
    # the normalized code is read first; of two rows for one code and date, the latest load
    got = scores(con, [
        obs("mental", "raw", "2024-01-01", "10", source_code="local-1",
            normalized_code="71970-8"),
        obs("mental", "raw", "2024-01-01", "11", ingest_datetime=dt.datetime(2024, 2, 1)),
        obs("mental", "raw", "2024-01-01", "12", ingest_datetime=dt.datetime(2024, 3, 1)),
        obs("mental", "raw", "2024-01-01", "13", source_code="1234-5")])   # not PROMIS
    assert [(r["raw_score"], r["t_score"]) for r in got] == [(12, dec("43.50"))]


def summary_rows(con: ibis.BaseBackend, observations: list[dict[str, Any]],
                 **kw: Any) -> list[dict[str, Any]]:
    o = table(con, "observation", observations)
    return rows(con, promis_summary(promis_scores(o), **kw))


def test_summary_mean_change_and_share_improved(con: ibis.BaseBackend) -> None:
    got = summary_rows(con, [
        # P1: baseline 39.8, 2024 follow-ups 44.9 then 42.3 (last: +2.5), 2025: 47.7 (+7.9)
        obs("physical", "raw", "2024-01-01", "12"), obs("physical", "raw", "2024-03-01", "14"),
        obs("physical", "raw", "2024-06-01", "13"), obs("physical", "raw", "2025-01-01", "15"),
        # P2: baseline 34.9, follow-up 39.8 (+4.9)
        obs("physical", "raw", "2024-01-01", "10", person="P2"),
        obs("physical", "raw", "2024-05-01", "12", person="P2"),
        # P3: baseline 42.3, follow-up 34.9 (-7.4)
        obs("physical", "raw", "2024-01-01", "13", person="P3"),
        obs("physical", "raw", "2024-02-01", "10", person="P3"),
        # P4: baseline only: not counted
        obs("physical", "raw", "2024-01-01", "13", person="P4"),
    ])
    mid = Decimal("3.00")
    assert got == [
        # 2024: changes +2.5, +4.9, -7.4 -> mean 0.00, 1 improved, 1 worsened of 3
        {"scale": "physical", "year": 2024, "members": 3, "mean_change": dec("0.00"),
         "improved_members": 1, "share_improved": dec("0.3333"), "worsened_members": 1,
         "share_worsened": dec("0.3333"), "minimally_important_difference": mid},
        {"scale": "physical", "year": 2025, "members": 1, "mean_change": dec("7.90"),
         "improved_members": 1, "share_improved": dec("1.0000"), "worsened_members": 0,
         "share_worsened": dec("0.0000"), "minimally_important_difference": mid},
    ]


def test_summary_mean_rounds_half_away_from_zero(con: ibis.BaseBackend) -> None:
    # reported T-scores: changes -0.01 and -0.02 -> mean -0.015 -> -0.02; mid 2
    got = summary_rows(con, [
        obs("mental", "t", "2024-01-01", "50.00"), obs("mental", "t", "2024-02-01", "49.99"),
        obs("mental", "t", "2024-01-01", "50.00", person="P2"),
        obs("mental", "t", "2024-02-01", "49.98", person="P2"),
        obs("mental", "t", "2024-01-01", "40", person="P3"),
        obs("mental", "t", "2024-02-01", "42", person="P3"),
    ], mid=Decimal("2"))
    assert [(r["members"], r["mean_change"], r["improved_members"], r["share_improved"])
            for r in got] == [(3, dec("0.66"), 1, dec("0.3333"))]
    got = summary_rows(con, [
        obs("mental", "t", "2024-01-01", "50.00"), obs("mental", "t", "2024-02-01", "49.99"),
        obs("mental", "t", "2024-01-01", "50.00", person="P2"),
        obs("mental", "t", "2024-02-01", "49.98", person="P2")])
    assert [(r["members"], r["mean_change"]) for r in got] == [(2, dec("-0.02"))]


def _sample(con: ibis.BaseBackend) -> ibis.Table:
    return table(con, "observation", [
        obs("physical", "raw", "2024-01-01", "12"), obs("physical", "raw", "2024-06-01", "14"),
        obs("mental", "t", "2024-01-01", "45.2"), obs("mental", "raw", "2024-06-01", "25"),
        obs("mental", "raw", "2024-09-01", "16")])


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    s = promis_scores(_sample(con))
    for expr in (s, promis_summary(s)):
        assert "SELECT" in ibis.to_sql(expr, dialect="pyspark")


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    s = promis_scores(_sample(con))
    for expr, order in ((s, ["person_id", "scale", "observation_date"]),
                        (promis_summary(s), ["scale", "year"])):
        assert rows(spark, expr, order=order) == rows(con, expr, order=order)
