"""Invariants over random mixes of good and bad rows (hypothesis).

- every row of a file is accounted for exactly once: in the table, in its superseded
  table, or in quarantine (rows_in = rows loaded + rows quarantined), in the LoadResult,
  in load_log and by counting the warehouse for that load_id; this still holds for an
  earlier load after a later file has adjusted its lines;
- money is conserved: the paid amounts that loaded are those of the rows not quarantined;
- each key has at most one final row;
- loading the same file again changes nothing.
"""

from __future__ import annotations

import decimal
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from medsynergy import LoadResult, ingest_file
from medsynergy.engine import Warehouse

from .conftest import fetch, open_warehouse, snapshot, write_csv

COLUMNS = ("claim_id", "claim_line_number", "person_id", "claim_start_date", "claim_end_date",
           "admission_date", "discharge_date", "paid_date", "paid_amount", "rendering_npi",
           "adjustment_type_code", "adjustment_sequence_number")

GOOD_DATES = ["2024-01-01", "2024-01-15", "20240201"]
BAD_DATES = ["", "2024-02-30", "01/02/2024", "soon"]
GOOD_AMOUNTS = ["0", "10.00", "-10.00", "12.345", "+7.5", ".25"]
BAD_AMOUNTS = ["NaN", "inf", "1e3", "$5", "1,000", "12345678901234567890", "ten"]


ROW = {"claim_id": "A", "claim_line_number": "1", "person_id": "P1",
       "claim_start_date": "2024-01-01", "claim_end_date": "2024-01-15", "admission_date": "",
       "discharge_date": "", "paid_date": "2024-02-01", "paid_amount": "10.00",
       "rendering_npi": "1234567893", "adjustment_type_code": "",
       "adjustment_sequence_number": ""}


def _pick(good: Sequence[str], bad: Sequence[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


@st.composite
def claim_rows(draw: st.DrawFn) -> dict[str, str]:
    start = draw(st.sampled_from(GOOD_DATES[:2] + BAD_DATES[:2]))
    return {
        # a small key space, so that versions, copies and conflicts are frequent
        "claim_id": draw(st.sampled_from(["A", "B", "C", ""])),
        "claim_line_number": draw(st.sampled_from(["1", "2", "x"])),
        "person_id": draw(st.sampled_from(["P1", "P2", ""])),
        "claim_start_date": start,
        # sometimes before the start
        "claim_end_date": draw(st.sampled_from(["2023-12-31", "2024-01-15", start, "2024-13-01"])),
        "admission_date": draw(st.sampled_from(["", "2024-01-05"])),
        "discharge_date": draw(st.sampled_from(["", "2024-01-04", "2024-01-06"])),
        "paid_date": draw(st.sampled_from(["2024-02-01", "2024-03-01", "", "bad"])),
        "paid_amount": draw(_pick(GOOD_AMOUNTS, BAD_AMOUNTS)),
        "rendering_npi": draw(st.sampled_from(["1234567893", "1234567890", "12345", ""])),
        "adjustment_type_code": draw(st.sampled_from(["", "", "reversal", "adjustment", "foo"])),
        "adjustment_sequence_number": draw(st.sampled_from(["", "1", "2", "two"])),
    }


@st.composite
def files(draw: st.DrawFn) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Two files of rows; some rows are exact copies of earlier ones (in either file)."""
    first = draw(st.lists(claim_rows(), min_size=1, max_size=14))
    copies = draw(st.lists(st.integers(0, len(first) - 1), max_size=3))
    first = first + [dict(first[i]) for i in copies]
    first = draw(st.permutations(first))
    second = draw(st.one_of(st.just([]), st.lists(claim_rows(), min_size=1, max_size=8)))
    resent = draw(st.lists(st.integers(0, len(first) - 1), max_size=2))
    return list(first), second + [dict(first[i]) for i in resent]


def _cents(text: str) -> Decimal:
    """The amount a loaded row must hold: the text rounded half away from zero to cents."""
    value = Decimal(text.strip()) if text.strip() else Decimal(0)
    return value.quantize(Decimal("0.01"), rounding=decimal.ROUND_HALF_UP)


def _rows_of_load(wh: Warehouse, load_id: str) -> dict[str, list[dict[str, Any]]]:
    where = {"load_id": load_id}
    return {
        "final": fetch(wh, "medical_claim", ["row_number", "paid_amount"], where=where),
        "superseded": fetch(wh, "medical_claim_superseded", ["row_number", "paid_amount"],
                            where=where),
        "quarantine": fetch(wh, "quarantine", ["row_number"], where=where),
    }


def _check_load(wh: Warehouse, res: LoadResult, rows: list[dict[str, str]]) -> None:
    assert res.status == "loaded"
    assert res.rows_in == len(rows)
    assert res.rows_in == res.rows_loaded + res.rows_quarantined
    assert res.rows_quarantined == sum(res.quarantined_by_rule.values())

    got = _rows_of_load(wh, res.load_id)
    numbers = sorted(r["row_number"] for part in got.values() for r in part)
    assert numbers == list(range(1, len(rows) + 1))  # each row exactly once
    assert len(got["quarantine"]) == res.rows_quarantined

    log = fetch(wh, "load_log", ["rows_in", "rows_loaded", "rows_final", "rows_superseded",
                                 "rows_quarantined", "findings"], where={"load_id": res.load_id})
    assert log == [{"rows_in": res.rows_in, "rows_loaded": res.rows_loaded,
                    "rows_final": res.rows_final, "rows_superseded": res.rows_superseded,
                    "rows_quarantined": res.rows_quarantined, "findings": res.findings}]

    # money conserved: what loaded is what the file said, row by row
    loaded = {r["row_number"]: r["paid_amount"] for r in got["final"] + got["superseded"]}
    for number, paid in loaded.items():
        text = rows[number - 1]["paid_amount"]
        assert (paid if paid is not None else Decimal(0)) == _cents(text), (number, text)


def _check_keys(wh: Warehouse) -> None:
    final = fetch(wh, "medical_claim", ["claim_id", "claim_line_number", "data_source"])
    keys = [tuple(r.values()) for r in final]
    assert len(keys) == len(set(keys))


# Each load compiles a large expression (about a second): few examples, no example
# database (it would write .hypothesis/ into the working directory).
@settings(max_examples=15, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=files())
@example(data=([dict(ROW)], [dict(ROW)]))  # the same bytes again, under another file name
@example(data=([dict(ROW)], [dict(ROW, paid_date="2024-03-01", paid_amount="12.345")]))
def test_every_row_accounted_for_once_and_loads_idempotent(
        tmp_path: Path, data: tuple[list[dict[str, str]], list[dict[str, str]]]) -> None:
    first_rows, second_rows = data
    wh = open_warehouse(":memory:")
    try:
        folder = Path(tempfile.mkdtemp(dir=tmp_path))
        first_path = write_csv(folder / "medical_claim_1.csv", first_rows, COLUMNS)
        first = ingest_file(wh, first_path, source="test")
        _check_load(wh, first, first_rows)
        _check_keys(wh)

        before = snapshot(wh)
        again = ingest_file(wh, first_path, source="test")
        assert (again.status, again.load_id) == ("skipped", first.load_id)
        assert snapshot(wh) == before

        second_path = write_csv(folder / "medical_claim_2.csv", second_rows, COLUMNS)
        if second_path.read_bytes() == first_path.read_bytes():
            # the same bytes under another name are the same file
            assert ingest_file(wh, second_path, source="test").status == "skipped"
            assert snapshot(wh) == before
        elif second_rows:
            second = ingest_file(wh, second_path, source="test")
            _check_load(wh, second, second_rows)
            # the first load's rows are all still there, under its load_id
            _check_load(wh, first, first_rows)
            _check_keys(wh)
            before = snapshot(wh)
            assert ingest_file(wh, second_path, source="test").status == "skipped"
            assert snapshot(wh) == before
    finally:
        wh.close()
