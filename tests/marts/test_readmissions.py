"""readmissions mart: given stays, member months (and ED visits, claims) -> expected rows.

Each test states one rule of docs/marts/readmissions.md with the smallest input that shows it.
Stays are given as `inpatient_stays` rows directly (that mart is tested on its own).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import ibis
import pyarrow as pa
import pytest

from medsynergy.errors import ConfigError
from medsynergy.marts.encounters import STAY_COLUMNS
from medsynergy.marts.readmissions import (
    COLUMNS,
    EXCLUSION_REASONS,
    SUMMARY_COLUMNS,
    default_paid_through,
    readmission_summary,
    readmissions,
    runout_warning,
)

from .conftest import TABLES, rows, table

D = dt.date.fromisoformat
THROUGH = D("2025-06-30")
OUT = ["stay_id", "discharge_date", "index_flag", "exclusion_reason", "readmit_30_flag",
       "unplanned_readmit_30_flag", "planned_flag", "days_to_readmission", "readmit_stay_id"]
STAY_TYPES = {
    "length_of_stay": pa.int64(), "claim_count": pa.int64(), "date_error_flag": pa.int64(),
    "admitted_through_ed_flag": pa.int64(), "transfer_in_flag": pa.int64(),
    "transfer_out_flag": pa.int64(), "last_in_episode_flag": pa.int64(),
    "paid_amount": pa.decimal128(18, 2), "allowed_amount": pa.decimal128(18, 2),
    "admission_date": pa.date32(), "discharge_date": pa.date32(),
    "episode_discharge_date": pa.date32(),
}


def st(stay_id: str, admission: str, discharge: str, *, person: str = "P1",
       facility: str = "F1", disposition: str = "01", drg: str = "291", dx: str = "I509",
       ed: int = 0, episode: str | None = None, transfer_in: int = 0, transfer_out: int = 0,
       episode_discharge: str | None = None, date_error: int = 0,
       payer: str = "medicare", plan: str | None = "A") -> dict[str, Any]:
    """One `inpatient_stays` row; by default a stay that is its own episode."""
    a, d = D(admission), D(discharge)
    return {
        "stay_id": stay_id, "person_id": person, "payer": payer, "plan": plan,
        "facility_npi": facility, "admission_date": a, "discharge_date": d,
        "length_of_stay": (d - a).days, "discharge_disposition_code": disposition,
        "drg_code": drg, "principal_diagnosis_code": dx,
        "principal_diagnosis_mapped_from": None, "claim_count": 1,
        "paid_amount": Decimal("100.00"), "allowed_amount": Decimal("120.00"),
        "date_error_flag": date_error, "admitted_through_ed_flag": ed,
        "episode_id": episode or stay_id, "transfer_in_flag": transfer_in,
        "transfer_out_flag": transfer_out, "last_in_episode_flag": 1 - transfer_out,
        "episode_discharge_date": D(episode_discharge) if episode_discharge else d,
    }


def stays_table(stays: list[dict[str, Any]]) -> ibis.Table:
    return ibis.memtable(pa.table({
        c: pa.array([s[c] for s in stays], STAY_TYPES.get(c, pa.string()))
        for c in STAY_COLUMNS
    }))


def months(person: str, first: str = "2024-01", last: str = "2025-06", *,
           birth: str = "1950-06-15", death: str | None = None,
           payer: str = "medicare") -> list[dict[str, Any]]:
    """Member-month rows of `person` for every month from `first` to `last` (YYYY-MM)."""
    y, m = map(int, first.split("-"))
    ly, lm = map(int, last.split("-"))
    out = []
    while (y, m) <= (ly, lm):
        out.append({"person_id": person, "payer": payer, "plan": "A",
                    "month_start_date": dt.date(y, m, 1), "birth_date": D(birth),
                    "death_date": D(death) if death else None})
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def mm_table(mm: list[dict[str, Any]]) -> ibis.Table:
    types = {"month_start_date": pa.date32(), "birth_date": pa.date32(),
             "death_date": pa.date32()}
    cols = ["person_id", "payer", "plan", "month_start_date", "birth_date", "death_date"]
    return ibis.memtable(pa.table({c: pa.array([r[c] for r in mm], types.get(c, pa.string()))
                                   for c in cols}))


def ed_table(visits: list[tuple[str, str, str | None]]) -> ibis.Table:
    return ibis.memtable(pa.table({
        "person_id": pa.array([v[0] for v in visits], pa.string()),
        "visit_date": pa.array([D(v[1]) for v in visits], pa.date32()),
        "stay_id": pa.array([v[2] for v in visits], pa.string()),
    }))


def run(con: ibis.BaseBackend, stays: list[dict[str, Any]], mm: list[dict[str, Any]],
        columns: list[str] = OUT, **kw: Any) -> list[dict[str, Any]]:
    kw.setdefault("paid_through", THROUGH)
    expr = readmissions(stays_table(stays), mm_table(mm), **kw)
    return rows(con, expr, columns, ["stay_id"])


def out(stay_id: str, discharge: str, reason: str | None = None, readmit: str | None = None,
        days: int | None = None, planned: int | None = None) -> dict[str, Any]:
    """An expected row (OUT columns)."""
    hit = readmit is not None
    return {"stay_id": stay_id, "discharge_date": D(discharge),
            "index_flag": int(reason is None), "exclusion_reason": reason,
            "readmit_30_flag": int(hit), "unplanned_readmit_30_flag": int(hit and planned == 0),
            "planned_flag": planned, "days_to_readmission": days, "readmit_stay_id": readmit}


# -- readmission window ------------------------------------------------------------------------


def test_day_30_counts_and_day_31_does_not(con: ibis.BaseBackend) -> None:
    stays = [
        st("A1", "2024-01-01", "2024-01-05", person="P1"),
        st("A2", "2024-02-04", "2024-02-06", person="P1"),   # 30 days after Jan 5
        st("B1", "2024-01-01", "2024-01-05", person="P2"),
        st("B2", "2024-02-05", "2024-02-07", person="P2"),   # 31 days
    ]
    mm = months("P1") + months("P2")
    assert run(con, stays, mm) == [
        out("A1", "2024-01-05", readmit="A2", days=30, planned=0),
        out("A2", "2024-02-06"),
        out("B1", "2024-01-05"),
        out("B2", "2024-02-07"),
    ]


def test_day_1_at_the_same_facility_is_a_readmission(con: ibis.BaseBackend) -> None:
    # Day 0 is the same stay (merged) or a transfer (chained) in inpatient_stays; day 1 at
    # the same facility without disposition 30 is a new episode, hence a readmission.
    stays = [st("A1", "2024-03-01", "2024-03-04"), st("A2", "2024-03-05", "2024-03-06")]
    assert run(con, stays, months("P1")) == [
        out("A1", "2024-03-04", readmit="A2", days=1, planned=0),
        out("A2", "2024-03-06"),
    ]


def test_only_the_first_readmission_counts_and_a_readmission_is_an_index_stay(
    con: ibis.BaseBackend,
) -> None:
    stays = [
        st("A1", "2024-01-01", "2024-01-03"),
        st("A2", "2024-01-10", "2024-01-12"),
        st("A3", "2024-01-20", "2024-01-22"),
    ]
    assert run(con, stays, months("P1")) == [
        out("A1", "2024-01-03", readmit="A2", days=7, planned=0),
        out("A2", "2024-01-12", readmit="A3", days=8, planned=0),
        out("A3", "2024-01-22"),
    ]


def test_transfer_chain_only_last_is_index_and_clock_starts_at_chain_discharge(
    con: ibis.BaseBackend,
) -> None:
    stays = [
        st("A1", "2024-01-01", "2024-01-05", facility="F1", transfer_out=1,
           episode_discharge="2024-01-08"),
        st("A2", "2024-01-05", "2024-01-08", facility="F2", transfer_in=1, episode="A1"),
        # 30 days after the chain's discharge (Jan 8), 33 after the first stay's
        st("A3", "2024-02-07", "2024-02-09", facility="F1"),
    ]
    assert run(con, stays, months("P1")) == [
        out("A1", "2024-01-08", "not_last_in_transfer_chain", readmit="A3", days=30,
            planned=0),
        out("A2", "2024-01-08", readmit="A3", days=30, planned=0),
        out("A3", "2024-02-09"),
    ]


# -- index exclusions --------------------------------------------------------------------------


def test_every_exclusion_reason_in_order(con: ibis.BaseBackend) -> None:
    stays = [
        st("E01", "2024-01-01", "2024-01-05", person="Q01", transfer_out=1,
           episode_discharge="2024-01-07"),
        st("E01b", "2024-01-05", "2024-01-07", person="Q01", facility="F2", transfer_in=1,
           episode="E01"),
        st("E02", "2024-01-05", "2024-01-01", person="Q02", date_error=1),
        st("E03", "2024-01-01", "2024-01-05", person="Q03", disposition="20", dx="F329"),
        st("E04", "2024-01-01", "2024-01-05", person="Q04", disposition="41"),
        st("E05", "2024-01-01", "2024-01-05", person="Q05", disposition="07"),
        st("E06", "2024-01-01", "2024-01-05", person="Q06", dx="F32.9"),
        st("E07", "2024-01-01", "2024-01-05", person="Q07", dx="Z5189"),
        st("E08", "2024-01-01", "2024-01-05", person="Q08", dx="Z5111"),
        st("E09", "2024-01-01", "2024-01-20", person="Q09"),   # needs Feb, enrolled to Jan
        st("E10", "2024-01-01", "2024-01-20", person="Q10"),   # same, but died Feb 1
        st("E11", "2025-05-01", "2025-06-10", person="Q11"),   # 20 days before paid-through
        st("E12", "2025-05-01", "2025-05-31", person="Q12"),   # exactly 30 days: kept
    ]
    mm = (months("Q01") + months("Q02") + months("Q03") + months("Q04") + months("Q05")
          + months("Q06") + months("Q07") + months("Q08") + months("Q09", last="2024-01")
          + months("Q10", last="2024-01", death="2024-02-01") + months("Q11")
          + months("Q12"))
    got = {r["stay_id"]: r["exclusion_reason"] for r in run(con, stays, mm)}
    assert got == {
        "E01": "not_last_in_transfer_chain",
        "E01b": None,
        "E02": "invalid_dates",
        "E03": "died_in_hospital",                    # before its psychiatric diagnosis
        "E04": "died_in_hospital",
        "E05": "against_medical_advice",
        "E06": "psychiatric_principal_diagnosis",     # dotted code matches too
        "E07": "rehabilitation_principal_diagnosis",
        "E08": "cancer_treatment_principal_diagnosis",
        "E09": "not_enrolled_30_days_after_discharge",
        "E10": None,                                  # died in the window: enrolment ends
        "E11": "insufficient_runout",
        "E12": None,
    }
    # age_under_65 is the only reason not shown here (cms-hwr mode, below)
    assert set(got.values()) - {None} == set(EXCLUSION_REASONS) - {"age_under_65"}


def test_enrolment_window_can_touch_three_months(con: ibis.BaseBackend) -> None:
    # discharged Jan 30 2023: days 1..30 are Jan 31 .. Mar 1, so Jan, Feb and Mar count
    stays = [st("A1", "2023-01-20", "2023-01-30")]
    full = months("P1", "2023-01", "2023-03")
    no_march = months("P1", "2023-01", "2023-02")
    assert run(con, stays, full)[0]["exclusion_reason"] is None
    assert run(con, stays, no_march)[0]["exclusion_reason"] == (
        "not_enrolled_30_days_after_discharge")


def test_enrolment_with_any_payer_counts(con: ibis.BaseBackend) -> None:
    stays = [st("A1", "2024-01-01", "2024-01-20")]
    mm = months("P1", "2024-01", "2024-01") + months("P1", "2024-02", "2024-03", payer="mcaid")
    assert run(con, stays, mm)[0]["exclusion_reason"] is None


def test_cms_hwr_spec_adds_age_65_at_admission(con: ibis.BaseBackend) -> None:
    stays = [
        st("A1", "2024-06-14", "2024-06-20", person="P1"),   # 64 on admission (65 next day)
        st("B1", "2024-06-15", "2024-06-20", person="P2"),   # 65 on admission
        st("C1", "2024-06-15", "2024-06-20", person="P3"),   # no birth date
    ]
    mm = (months("P1", birth="1959-06-15") + months("P2", birth="1959-06-15")
          + [{**r, "birth_date": None} for r in months("P3")])
    cols = ["stay_id", "exclusion_reason", "spec"]
    assert run(con, stays, mm, cols) == [
        {"stay_id": "A1", "exclusion_reason": None, "spec": "default"},
        {"stay_id": "B1", "exclusion_reason": None, "spec": "default"},
        {"stay_id": "C1", "exclusion_reason": None, "spec": "default"},
    ]
    assert run(con, stays, mm, cols, spec="cms-hwr") == [
        {"stay_id": "A1", "exclusion_reason": "age_under_65", "spec": "cms-hwr"},
        {"stay_id": "B1", "exclusion_reason": None, "spec": "cms-hwr"},
        {"stay_id": "C1", "exclusion_reason": "age_under_65", "spec": "cms-hwr"},
    ]


def test_unknown_spec_is_refused() -> None:
    with pytest.raises(ConfigError, match="cms-hwr"):
        readmissions(stays_table([]), mm_table([]), paid_through=THROUGH, spec="hrrp")


# -- planned readmissions ----------------------------------------------------------------------


def test_planned_and_unplanned_readmissions(con: ibis.BaseBackend) -> None:
    stays = [
        st("A1", "2024-01-01", "2024-01-05", person="P1"),
        st("A2", "2024-01-15", "2024-01-16", person="P1", dx="Z51.11"),   # chemotherapy
        st("B1", "2024-01-01", "2024-01-05", person="P2"),
        st("B2", "2024-01-15", "2024-01-25", person="P2", drg="652", dx="N186"),  # transplant
        st("C1", "2024-01-01", "2024-01-05", person="P3"),
        st("C2", "2024-01-15", "2024-01-17", person="P3", drg="470", dx="M1712"),  # elective
        st("D1", "2024-01-01", "2024-01-05", person="P4"),
        st("D2", "2024-01-15", "2024-01-20", person="P4", drg="470", dx="S72001A"),  # fracture
    ]
    mm = months("P1") + months("P2") + months("P3") + months("P4")
    assert run(con, stays, mm) == [
        out("A1", "2024-01-05", readmit="A2", days=10, planned=1),
        out("A2", "2024-01-16", "cancer_treatment_principal_diagnosis"),
        out("B1", "2024-01-05", readmit="B2", days=10, planned=1),
        out("B2", "2024-01-25"),
        out("C1", "2024-01-05", readmit="C2", days=10, planned=1),
        out("C2", "2024-01-17"),
        out("D1", "2024-01-05", readmit="D2", days=10, planned=0),
        out("D2", "2024-01-20"),
    ]


# -- LACE --------------------------------------------------------------------------------------


def _dx_line(claim_id: str, person: str, date: str, *codes: str) -> dict[str, Any]:
    line: dict[str, Any] = {
        "claim_id": claim_id, "claim_line_number": 1, "claim_type": "institutional",
        "person_id": person, "bill_type_code": "111", "facility_npi": "F1",
        "claim_start_date": date, "admission_date": date, "paid_date": "2025-06-30",
        "data_source": "test"}
    for i, c in enumerate(codes, start=1):
        line[f"diagnosis_code_{i}"] = c
    return line


def test_lace_examples(con: ibis.BaseBackend) -> None:
    stays = [
        st("A1", "2024-03-01", "2024-03-01", person="P1"),            # 0 days, nothing
        st("B1", "2024-03-01", "2024-03-06", person="P2", ed=1),      # 5 days via the ED
        st("C1", "2024-03-01", "2024-03-15", person="P3"),            # 14 days
        st("D1", "2024-03-01", "2024-03-04", person="P4", transfer_out=1,
           episode_discharge="2024-03-08"),                            # chain: 7 days
        st("D2", "2024-03-04", "2024-03-08", person="P4", facility="F2", transfer_in=1,
           episode="D1"),
    ]
    mm = months("P1") + months("P2") + months("P3") + months("P4")
    claims = [
        # P2: CHF 1 + diabetes with complications 2 (without: dropped) + metastatic 6
        # (malignancy: dropped) = 9 -> 5 points
        _dx_line("C2", "P2", "2024-03-01", "I50.9", "E1122", "E119", "C7800", "C3490"),
        # P3: COPD 1 + renal 2 = 3 -> 3 points; the claim outside the stay does not count
        _dx_line("C3", "P3", "2024-03-02", "J449", "N184"),
        _dx_line("C3x", "P3", "2024-04-01", "C7800"),
        # P4: diagnoses of both stays of the chain count: MI 1 + dementia 1 = 2
        _dx_line("C4", "P4", "2024-03-01", "I214"),
        {**_dx_line("C4b", "P4", "2024-03-04", "G309"), "facility_npi": "F2"},
    ]
    visits = ed_table(
        [("P2", d, None) for d in
         ("2024-02-29", "2024-02-01", "2024-01-15", "2023-12-01", "2023-09-01")]
        + [("P2", "2023-08-31", None),   # 183 days before: outside the 6 months
           ("P2", "2024-03-01", "B1")]   # the visit that led to the stay
        + [("P3", "2024-01-01", None)]
    )
    got = run(con, stays, mm, ["stay_id", "lace_score"], ed_visits=visits,
              medical_claim=table(con, "medical_claim", claims))
    assert got == [
        {"stay_id": "A1", "lace_score": 0},
        {"stay_id": "B1", "lace_score": 4 + 3 + 5 + 4},
        {"stay_id": "C1", "lace_score": 7 + 0 + 3 + 1},
        {"stay_id": "D1", "lace_score": 5 + 0 + 2 + 0},
        {"stay_id": "D2", "lace_score": 5 + 0 + 2 + 0},
    ]
    # without claims and ED visits, C and E are 0
    bare = run(con, stays, mm, ["stay_id", "lace_score"])
    assert [r["lace_score"] for r in bare] == [0, 4 + 3, 7, 5, 5]


def test_charlson_maps_icd9_diagnoses_by_the_gems(con: ibis.BaseBackend) -> None:
    stays = [st("E1", "2010-03-01", "2010-03-04", person="P5"),
             st("F1", "2010-03-01", "2010-03-04", person="P6")]
    mm = months("P5", "2010-01", "2010-12") + months("P6", "2010-01", "2010-12")
    claims = [
        # ICD-9-CM: 428.0 -> I509 (CHF 1), 250.40 -> E1129 (diabetes with complications 2),
        # 491.21 -> J441 (COPD 1): Charlson 4 -> 5 points; typed ICD-10 they match nothing
        {**_dx_line("E2", "P5", "2010-03-01", "428.0", "25040", "49121"),
         "diagnosis_code_type": "icd-9-cm"},
        {**_dx_line("F2", "P6", "2010-03-01", "428.0", "25040", "49121"),
         "diagnosis_code_type": "icd-10-cm"},
    ]
    got = run(con, stays, mm, ["stay_id", "lace_score"],
              medical_claim=table(con, "medical_claim", claims))
    # L: 3 days = 3; A: not through the ED = 0; E: no visits = 0
    assert got == [{"stay_id": "E1", "lace_score": 3 + 0 + 5 + 0},
                   {"stay_id": "F1", "lace_score": 3 + 0 + 0 + 0}]


# -- paid-through date and run-out -------------------------------------------------------------


def test_paid_through_defaults_to_latest_paid_date(con: ibis.BaseBackend) -> None:
    claims = [_dx_line("C1", "P1", "2024-01-01", "I509"),
              {**_dx_line("C2", "P1", "2024-01-01", "I509"), "paid_date": "2024-02-20"}]
    mc = table(con, "medical_claim", claims)
    assert con.to_pyarrow(default_paid_through(mc)).as_py() == D("2025-06-30")
    stays = [st("A1", "2024-01-01", "2024-01-05")]
    expr = readmissions(stays_table(stays), mm_table(months("P1")), medical_claim=mc)
    got = rows(con, expr, ["paid_through_date", "exclusion_reason"])
    assert got == [{"paid_through_date": D("2025-06-30"), "exclusion_reason": None}]


def test_paid_through_without_any_paid_date_is_the_latest_claim_end(con: ibis.BaseBackend) -> None:
    # DE-SynPUF, Synthea and most FHIR exports carry no paid dates: the data then holds no
    # run-out after its last service, and a stay discharged in its last 30 days lacks run-out
    claims = [{**_dx_line("C1", "P1", "2024-01-01", "I509"), "paid_date": None,
               "claim_end_date": "2024-01-05"},
              {**_dx_line("C2", "P1", "2024-03-01", "I509"), "paid_date": None,
               "claim_end_date": "2024-03-10"}]
    mc = table(con, "medical_claim", claims)
    assert con.to_pyarrow(default_paid_through(mc)).as_py() == D("2024-03-10")
    stays = [st("A1", "2024-01-01", "2024-01-05"), st("A2", "2024-03-01", "2024-03-10")]
    expr = readmissions(stays_table(stays), mm_table(months("P1")), medical_claim=mc)
    got = rows(con, expr, ["stay_id", "paid_through_date", "exclusion_reason"])
    assert got == [
        {"stay_id": "A1", "paid_through_date": D("2024-03-10"), "exclusion_reason": None},
        {"stay_id": "A2", "paid_through_date": D("2024-03-10"),
         "exclusion_reason": "insufficient_runout"}]
    with pytest.raises(ConfigError, match="paid_through"):
        readmissions(stays_table(stays), mm_table(months("P1")))


def test_runout_warning_under_three_months() -> None:
    assert runout_warning(D("2025-03-31"), D("2024-12-31")) is None
    # one day short of 3 months warns, naming both dates
    assert runout_warning(D("2025-03-30"), D("2024-12-31")) == (
        "claims run-out is under 3 months: paid through 2025-03-30, last discharge "
        "2024-12-31; readmissions of recent stays may be missing")
    message = str(runout_warning(D("2025-01-15"), D("2024-12-31")))
    assert message.startswith("claims run-out is under 3 months: paid through 2025-01-15,")
    assert "last discharge 2024-12-31" in message
    assert runout_warning(D("2025-01-15"), None) is None
    # month ends clip: Nov 30 + 3 months is Feb 28
    assert runout_warning(D("2025-02-28"), D("2024-11-30")) is None


# -- summary and columns -----------------------------------------------------------------------


def test_summary_per_payer_plan_year(con: ibis.BaseBackend) -> None:
    stays = [
        st("A1", "2024-01-01", "2024-01-03", person="P1"),
        st("A2", "2024-01-10", "2024-01-12", person="P1"),
        st("A3", "2024-01-20", "2024-01-22", person="P1", dx="Z5111"),   # planned, excluded
        st("B1", "2024-05-01", "2024-05-03", person="P2", plan=None),
        st("C1", "2023-12-20", "2023-12-31", person="P3", payer="mcaid"),
    ]
    mm = months("P1") + months("P2") + months("P3", "2023-12", "2024-02", payer="mcaid")
    r = readmissions(stays_table(stays), mm_table(mm), paid_through=THROUGH)
    got = rows(con, readmission_summary(r), order=["payer", "plan", "discharge_year"])
    assert got == [
        {"payer": "mcaid", "plan": "A", "discharge_year": 2023, "index_stays": 1,
         "readmissions": 0, "unplanned_readmissions": 0, "readmission_rate": Decimal("0.0000"),
         "unplanned_readmission_rate": Decimal("0.0000")},
        {"payer": "medicare", "plan": "A", "discharge_year": 2024, "index_stays": 2,
         "readmissions": 2, "unplanned_readmissions": 1,
         "readmission_rate": Decimal("1.0000"), "unplanned_readmission_rate": Decimal("0.5000")},
        {"payer": "medicare", "plan": None, "discharge_year": 2024, "index_stays": 1,
         "readmissions": 0, "unplanned_readmissions": 0, "readmission_rate": Decimal("0.0000"),
         "unplanned_readmission_rate": Decimal("0.0000")},
    ]


def test_columns_and_types(con: ibis.BaseBackend) -> None:
    expr = readmissions(stays_table([st("A1", "2024-01-01", "2024-01-05")]),
                        mm_table(months("P1")), paid_through=THROUGH)
    assert tuple(expr.columns) == COLUMNS
    assert tuple(readmission_summary(expr).columns) == SUMMARY_COLUMNS
    got = rows(con, expr, ["payer", "plan", "admission_date", "lace_score",
                           "paid_through_date"])
    assert got == [{"payer": "medicare", "plan": "A", "admission_date": D("2024-01-01"),
                    "lace_score": 4, "paid_through_date": THROUGH}]


def test_compiles_for_spark(con: ibis.BaseBackend) -> None:
    stays = stays_table([st("A1", "2024-01-01", "2024-01-05")])
    mc = table(con, "medical_claim", [_dx_line("C1", "P1", "2024-01-01", "I509")])
    visits = ed_table([("P1", "2023-12-01", None)])
    expr = readmissions(stays, mm_table(months("P1")), visits, mc,
                        paid_through=default_paid_through(mc), spec="cms-hwr")
    for e in (expr, readmission_summary(expr)):
        assert "SELECT" in ibis.to_sql(e, dialect="pyspark")


@pytest.mark.spark
def test_same_rows_on_spark(con: ibis.BaseBackend, spark: ibis.BaseBackend) -> None:
    stays = stays_table([
        st("A1", "2024-01-01", "2024-01-05", facility="F1", transfer_out=1,
           episode_discharge="2024-01-08", ed=1),
        st("A2", "2024-01-05", "2024-01-08", facility="F2", transfer_in=1, episode="A1"),
        st("A3", "2024-02-07", "2024-02-09", drg="470", dx="M1712"),
        st("A4", "2024-02-20", "2024-02-22", dx="F329"),
        st("B1", "2024-06-14", "2024-06-20", person="P2", disposition="07"),
    ])
    mm = mm_table(months("P1") + months("P2", birth="1959-06-15"))
    # ibis 12's PySpark memtable registration cannot convert null decimals: give them all 0
    decimals = [c for c, kind in TABLES["medical_claim"].ibis_schema().items()
                if kind.is_decimal()]
    mc = table(con, "medical_claim", [{c: "0" for c in decimals} | _dx_line(
        "C1", "P1", "2024-01-02", "I50.9", "E1122", "C7800")])
    visits = ed_table([("P1", "2023-12-01", None), ("P1", "2024-01-01", "A1")])
    expr = readmissions(stays, mm, visits, mc, paid_through=THROUGH, spec="cms-hwr")
    for e, order in ((expr, ["stay_id"]),
                     (readmission_summary(expr), ["payer", "plan", "discharge_year"])):
        assert rows(spark, e, order=order) == rows(con, e, order=order)
