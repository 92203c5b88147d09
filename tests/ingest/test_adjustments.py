"""Claim adjustments: each line collapses to its final action, in one file and across files.

See the docstring of medsynergy.ingest.adjustments for the rule. The scenarios use
distinct claim ids so that one file can hold them all; the same versions spread over two
files, loaded in order, must give the same final and superseded rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from medsynergy import LoadResult, ingest_file
from medsynergy.engine import Warehouse

from .conftest import counts, fetch, medical_row, open_warehouse, write_csv

D = dt.date


def v(claim_id: str, paid_date: str, paid: str, kind: str = "", seq: str = "",
      line: str = "1") -> dict[str, object]:
    """One version of a claim line."""
    return medical_row(claim_id, claim_line_number=line, paid_date=paid_date, paid_amount=paid,
                       adjustment_type_code=kind, adjustment_sequence_number=seq)


# Versions in the order they reach us: FIRST are in the first file, LATER in the second.
FIRST: list[tuple[str, dict[str, object]]] = [
    # original -> reversal -> replacement (the replacement is listed first in the file)
    ("A_original", v("A", "2024-02-01", "100.00")),
    # reversal as the last version: the line has no final row
    ("B_original", v("B", "2024-02-01", "50.00")),
    # ties on paid_date ordered by adjustment_sequence_number; a missing one is oldest
    ("C_seq3", v("C", "2024-03-01", "30.00", "adjustment", "3")),
    ("C_seq1", v("C", "2024-03-01", "10.00", "adjustment", "1")),
    ("C2_noseq", v("C2", "2024-03-01", "5.00")),
    # paid_date decides before the sequence number
    ("H_late_low_seq", v("H", "2024-03-01", "20.00", "adjustment", "1")),
    # two lines of one claim are two keys
    ("G_line1", v("G", "2024-02-01", "11.00", line="1")),
    ("G_line2", v("G", "2024-02-01", "12.00", line="2")),
    # arrives in the first file; the second file sends an older version of it
    ("K_adjusted", v("K", "2024-04-01", "80.00", "adjustment", "2")),
    # a reversal on the same day without sequence numbers is the later version (rule 2)
    ("T_original", v("T", "2024-03-01", "40.00")),
]
LATER: list[tuple[str, dict[str, object]]] = [
    ("A_replacement", v("A", "2024-03-01", "120.00", "adjustment", "2")),
    ("A_reversal", v("A", "2024-03-01", "-100.00", "reversal", "1")),
    ("B_reversal", v("B", "2024-03-01", "-50.00", "reversal")),
    ("C_seq2", v("C", "2024-03-01", "20.00", "adjustment", "2")),
    ("C2_seq1", v("C2", "2024-03-01", "7.00", "adjustment", "1")),
    ("H_early_high_seq", v("H", "2024-02-01", "10.00", "", "5")),
    ("K_original", v("K", "2024-02-01", "75.00")),
    ("T_reversal", v("T", "2024-03-01", "-40.00", "reversal")),
]
ALL_VERSIONS = FIRST + LATER

# claim_id, line -> (paid_amount, paid_date) of the final row; lines not listed have none
EXPECTED_FINAL = {
    ("A", 1): (Decimal("120.00"), D(2024, 3, 1)),
    ("C", 1): (Decimal("30.00"), D(2024, 3, 1)),
    ("C2", 1): (Decimal("7.00"), D(2024, 3, 1)),
    ("G", 1): (Decimal("11.00"), D(2024, 2, 1)),
    ("G", 2): (Decimal("12.00"), D(2024, 2, 1)),
    ("H", 1): (Decimal("20.00"), D(2024, 3, 1)),
    ("K", 1): (Decimal("80.00"), D(2024, 4, 1)),
}
# (claim_id, line, paid_amount, superseded_reason)
EXPECTED_SUPERSEDED = sorted([
    ("A", 1, Decimal("100.00"), "replaced"),
    ("A", 1, Decimal("-100.00"), "reversal"),
    ("B", 1, Decimal("50.00"), "reversed"),
    ("B", 1, Decimal("-50.00"), "reversal"),
    ("C", 1, Decimal("10.00"), "replaced"),
    ("C", 1, Decimal("20.00"), "replaced"),
    ("C2", 1, Decimal("5.00"), "replaced"),
    ("H", 1, Decimal("10.00"), "replaced"),
    ("K", 1, Decimal("75.00"), "replaced"),
    ("T", 1, Decimal("-40.00"), "reversal"),
    ("T", 1, Decimal("40.00"), "reversed"),
])


def _final(wh: Warehouse) -> dict[tuple[str, int], tuple[Decimal, dt.date]]:
    rows = fetch(wh, "medical_claim", ["claim_id", "claim_line_number", "paid_amount",
                                       "paid_date"])
    out = {(r["claim_id"], r["claim_line_number"]): (r["paid_amount"], r["paid_date"])
           for r in rows}
    assert len(out) == len(rows), "two final rows for one key"
    return out


def _superseded(wh: Warehouse) -> list[tuple[str, int, Decimal, str]]:
    rows = fetch(wh, "medical_claim_superseded",
                 ["claim_id", "claim_line_number", "paid_amount", "superseded_reason"])
    return sorted((r["claim_id"], r["claim_line_number"], r["paid_amount"],
                   r["superseded_reason"]) for r in rows)


def _paid_total(wh: Warehouse, table: str = "medical_claim") -> Decimal:
    total = wh.scalar(wh.table(table).paid_amount.sum())
    return Decimal(0) if total is None else Decimal(str(total))


@dataclass(frozen=True)
class Outcome:
    wh: Warehouse
    results: list[LoadResult]


@pytest.fixture(scope="module")
def one_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    folder = tmp_path_factory.mktemp("one_file")
    wh = open_warehouse(folder / "wh.duckdb")
    # the later versions first: the order of rows in a file does not matter
    rows = [r for _, r in LATER] + [r for _, r in FIRST]
    res = ingest_file(wh, write_csv(folder / "medical_claim.csv", rows), source="test")
    yield Outcome(wh, [res])
    wh.close()


@pytest.fixture(scope="module")
def two_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    folder = tmp_path_factory.mktemp("two_files")
    wh = open_warehouse(folder / "wh.duckdb")
    first = write_csv(folder / "medical_claim_1.csv", [r for _, r in FIRST])
    # the second file also re-sends a version already loaded from the first
    later = [r for _, r in LATER] + [dict(FIRST[0][1])]
    second = write_csv(folder / "medical_claim_2.csv", later)
    results = [ingest_file(wh, first, source="test"), ingest_file(wh, second, source="test")]
    yield Outcome(wh, results)
    wh.close()


# -- one file -------------------------------------------------------------------------

def test_one_file_collapses_each_line_to_its_final_action(one_file: Outcome) -> None:
    assert _final(one_file.wh) == EXPECTED_FINAL


def test_one_file_keeps_every_other_version_superseded_with_its_reason(
        one_file: Outcome) -> None:
    assert _superseded(one_file.wh) == EXPECTED_SUPERSEDED


def test_one_file_counts(one_file: Outcome) -> None:
    (res,) = one_file.results
    assert (res.status, res.rows_in, res.rows_final, res.rows_superseded,
            res.rows_quarantined) == ("loaded", 18, 7, 11, 0)
    log = fetch(one_file.wh, "load_log", ["rows_in", "rows_loaded", "rows_final",
                                          "rows_superseded", "rows_quarantined"])
    assert log == [{"rows_in": 18, "rows_loaded": 18, "rows_final": 7, "rows_superseded": 11,
                    "rows_quarantined": 0}]


def test_reversed_line_has_no_final_row_and_nets_to_zero(one_file: Outcome) -> None:
    assert fetch(one_file.wh, "medical_claim", ["claim_id"], where={"claim_id": "B"}) == []
    sup = fetch(one_file.wh, "medical_claim_superseded",
                ["paid_date", "paid_amount", "adjustment_type_code", "superseded_reason"],
                where={"claim_id": "B"}, order_by=["paid_date"])
    assert sup == [
        {"paid_date": D(2024, 2, 1), "paid_amount": Decimal("50.00"),
         "adjustment_type_code": None, "superseded_reason": "reversed"},
        {"paid_date": D(2024, 3, 1), "paid_amount": Decimal("-50.00"),
         "adjustment_type_code": "reversal", "superseded_reason": "reversal"},
    ]


def test_sum_of_final_paid_is_the_sum_of_final_amounts(one_file: Outcome) -> None:
    assert _paid_total(one_file.wh) == Decimal("280.00")
    assert sum(p for p, _ in EXPECTED_FINAL.values()) == Decimal("280.00")
    # every version is kept: final + superseded hold every dollar that was in the file
    assert _paid_total(one_file.wh) + _paid_total(one_file.wh, "medical_claim_superseded") == \
        sum(Decimal(str(r["paid_amount"])) for _, r in ALL_VERSIONS)


# -- the same versions over two files ----------------------------------------------------

def test_two_files_give_the_same_final_and_superseded_rows(two_files: Outcome) -> None:
    assert _final(two_files.wh) == EXPECTED_FINAL
    assert _superseded(two_files.wh) == EXPECTED_SUPERSEDED
    assert _paid_total(two_files.wh) == Decimal("280.00")


def test_two_files_rows_keep_the_load_they_came_from(two_files: Outcome) -> None:
    first, second = two_files.results
    a_rows = fetch(two_files.wh, "medical_claim_superseded", ["paid_amount", "load_id"],
                   where={"claim_id": "A"}, order_by=["paid_amount"])
    assert a_rows == [{"paid_amount": Decimal("-100.00"), "load_id": second.load_id},
                      {"paid_amount": Decimal("100.00"), "load_id": first.load_id}]
    k_final = fetch(two_files.wh, "medical_claim", ["paid_amount", "load_id"],
                    where={"claim_id": "K"})
    assert k_final == [{"paid_amount": Decimal("80.00"), "load_id": first.load_id}]


def test_two_files_counts_per_load(two_files: Outcome) -> None:
    first, second = two_files.results
    assert (first.rows_in, first.rows_final, first.rows_superseded, first.rows_quarantined) \
        == (10, 9, 1, 0)  # C_seq1 is already superseded by C_seq3
    # second file: A_replacement and C2_seq1 become final; C_seq2 (older than C_seq3),
    # H_early_high_seq, K_original (older) and the reversals of A, B and T are superseded;
    # T's original, final after the first load, becomes superseded (reversed)
    assert (second.rows_in, second.rows_final, second.rows_superseded,
            second.rows_quarantined) == (9, 2, 6, 1)
    assert second.quarantined_by_rule == {"duplicate_key": 1}
    # every row of each load is still somewhere, under its own load_id
    for res in two_files.results:
        where = {"load_id": res.load_id}
        n = sum(len(fetch(two_files.wh, t, ["row_number"], where=where))
                for t in ("medical_claim", "medical_claim_superseded", "quarantine"))
        assert n == res.rows_in


def test_line_resent_with_same_version_is_duplicate_key_already_loaded(
        two_files: Outcome) -> None:
    second = two_files.results[1]
    q = fetch(two_files.wh, "quarantine", ["load_id", "row_number", "rule", "message"])
    assert q == [{
        "load_id": second.load_id, "row_number": len(LATER) + 1, "rule": "duplicate_key",
        "message": "the same version is already loaded: claim_id=A, claim_line_number=1, "
                   "data_source=test, paid_date=2024-02-01, adjustment_sequence_number=",
    }]
    # the version already loaded stays where it was (now superseded by the replacement)
    rows = fetch(two_files.wh, "medical_claim_superseded", ["paid_amount", "superseded_reason"],
                 where={"claim_id": "A", "paid_date": D(2024, 2, 1)})
    assert rows == [{"paid_amount": Decimal("100.00"), "superseded_reason": "replaced"}]


def test_reversal_in_a_later_file_removes_the_final_row(tmp_path: Path) -> None:
    wh = open_warehouse(tmp_path / "wh.duckdb")
    try:
        ingest_file(wh, write_csv(tmp_path / "medical_claim_1.csv",
                                  [v("R", "2024-02-01", "40.00"), v("S", "2024-02-01", "9.00")]),
                    source="test")
        assert _paid_total(wh) == Decimal("49.00")
        res = ingest_file(wh, write_csv(tmp_path / "medical_claim_2.csv",
                                        [v("R", "2024-03-01", "-40.00", "R")]), source="test")
        assert (res.rows_final, res.rows_superseded) == (0, 1)
        assert _final(wh) == {("S", 1): (Decimal("9.00"), D(2024, 2, 1))}
        assert _superseded(wh) == [("R", 1, Decimal("-40.00"), "reversal"),
                                   ("R", 1, Decimal("40.00"), "reversed")]
        assert _paid_total(wh) == Decimal("9.00")
    finally:
        wh.close()


# -- ties that cannot be ordered ------------------------------------------------------------

def test_exact_copies_first_loads_rest_duplicate_row(wh: Warehouse, tmp_path: Path) -> None:
    rows = [v("E", "2024-02-01", "10.00"), v("X", "2024-02-01", "1.00"),
            v("E", "2024-02-01", "10.00"), v("E", "2024-02-01", "10.00"),
            # the same version in different contents (another paid amount): both refused
            v("F", "2024-02-01", "10.00"), v("F", "2024-02-01", "11.00"),
            # a conflicting tie does not block a later version of the line
            v("F2", "2024-02-01", "10.00"), v("F2", "2024-02-01", "11.00"),
            v("F2", "2024-03-01", "12.00", "adjustment"),
            # a copy that differs only in surrounding spaces is an exact copy
            v("X", "2024-02-01", " 1.00 ")]
    res = ingest_file(wh, write_csv(tmp_path / "medical_claim.csv", rows), source="test")
    q = fetch(wh, "quarantine", ["row_number", "rule", "message"])
    conflict = ("conflicting rows with the same key and version: claim_id={}, "
                "claim_line_number=1, data_source=test, paid_date=2024-02-01, "
                "adjustment_sequence_number=")
    assert q == [
        {"row_number": 3, "rule": "duplicate_row",
         "message": "exact copy of row 1 (same key, version and contents)"},
        {"row_number": 4, "rule": "duplicate_row",
         "message": "exact copy of row 1 (same key, version and contents)"},
        {"row_number": 5, "rule": "duplicate_key", "message": conflict.format("F")},
        {"row_number": 6, "rule": "duplicate_key", "message": conflict.format("F")},
        {"row_number": 7, "rule": "duplicate_key", "message": conflict.format("F2")},
        {"row_number": 8, "rule": "duplicate_key", "message": conflict.format("F2")},
        {"row_number": 10, "rule": "duplicate_row",
         "message": "exact copy of row 2 (same key, version and contents)"},
    ]
    assert fetch(wh, "medical_claim", ["claim_id", "row_number", "paid_amount"]) == [
        {"claim_id": "E", "row_number": 1, "paid_amount": Decimal("10.00")},
        {"claim_id": "F2", "row_number": 9, "paid_amount": Decimal("12.00")},
        {"claim_id": "X", "row_number": 2, "paid_amount": Decimal("1.00")},
    ]
    assert counts(wh)["medical_claim_superseded"] == 0
    assert (res.rows_in, res.rows_final, res.rows_superseded, res.rows_quarantined) == \
        (10, 3, 0, 7)
    assert res.quarantined_by_rule == {"duplicate_key": 4, "duplicate_row": 3}


# -- eligibility: a later load replaces the same key ------------------------------------------

def _span(person: str, start: str, end: str, plan: str = "gold",
          gender: str = "female") -> dict[str, object]:
    return {"person_id": person, "member_id": f"M{person}", "payer": "acme", "plan": plan,
            "enrollment_start_date": start, "enrollment_end_date": end, "gender": gender}


def test_eligibility_spans_resent_in_a_later_file_supersede_the_earlier(
        wh: Warehouse, tmp_path: Path) -> None:
    first = ingest_file(wh, write_csv(tmp_path / "eligibility_1.csv", [
        _span("P1", "2024-01-01", "2024-06-30"),
        _span("P2", "2024-01-01", "2024-12-31", plan=""),  # a null plan is still a key
        _span("P3", "2024-01-01", "2024-12-31"),
    ]), source="test")
    second = ingest_file(wh, write_csv(tmp_path / "eligibility_2.csv", [
        _span("P1", "2024-01-01", "2024-12-31"),  # extended
        _span("P2", "2024-01-01", "2024-12-31", plan="", gender="male"),  # corrected
        _span("P1", "2025-01-01", "2025-12-31"),  # a new span
    ]), source="test")
    assert (second.rows_final, second.rows_superseded, second.rows_quarantined) == (3, 0, 0)
    cols = ["person_id", "plan", "enrollment_start_date", "enrollment_end_date", "gender",
            "load_id"]
    assert fetch(wh, "eligibility", cols) == [
        {"person_id": "P1", "plan": "gold", "enrollment_start_date": D(2024, 1, 1),
         "enrollment_end_date": D(2024, 12, 31), "gender": "female", "load_id": second.load_id},
        {"person_id": "P1", "plan": "gold", "enrollment_start_date": D(2025, 1, 1),
         "enrollment_end_date": D(2025, 12, 31), "gender": "female", "load_id": second.load_id},
        {"person_id": "P2", "plan": None, "enrollment_start_date": D(2024, 1, 1),
         "enrollment_end_date": D(2024, 12, 31), "gender": "male", "load_id": second.load_id},
        {"person_id": "P3", "plan": "gold", "enrollment_start_date": D(2024, 1, 1),
         "enrollment_end_date": D(2024, 12, 31), "gender": "female", "load_id": first.load_id},
    ]
    assert fetch(wh, "eligibility_superseded", [*cols, "superseded_reason"]) == [
        {"person_id": "P1", "plan": "gold", "enrollment_start_date": D(2024, 1, 1),
         "enrollment_end_date": D(2024, 6, 30), "gender": "female", "load_id": first.load_id,
         "superseded_reason": "replaced"},
        {"person_id": "P2", "plan": None, "enrollment_start_date": D(2024, 1, 1),
         "enrollment_end_date": D(2024, 12, 31), "gender": "female", "load_id": first.load_id,
         "superseded_reason": "replaced"},
    ]


def test_eligibility_duplicates_within_one_file(wh: Warehouse, tmp_path: Path) -> None:
    res = ingest_file(wh, write_csv(tmp_path / "eligibility.csv", [
        _span("P1", "2024-01-01", "2024-12-31"),
        _span("P1", "2024-01-01", "2024-12-31"),  # exact copy
        _span("P2", "2024-01-01", "2024-06-30"),
        _span("P2", "2024-01-01", "2024-12-31"),  # the same key, other contents
    ]), source="test")
    assert fetch(wh, "quarantine", ["row_number", "rule"]) == [
        {"row_number": 2, "rule": "duplicate_row"},
        {"row_number": 3, "rule": "duplicate_key"},
        {"row_number": 4, "rule": "duplicate_key"},
    ]
    assert fetch(wh, "eligibility", ["person_id", "row_number"]) == [
        {"person_id": "P1", "row_number": 1}]
    assert (res.rows_final, res.rows_superseded, res.rows_quarantined) == (1, 0, 3)
