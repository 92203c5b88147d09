"""Typed Parquet columns: read as they are (issue 7's ingest speed), with the same rules.

A date, integer or decimal Parquet column is not turned into text and parsed back; these
tests pin that the result is the one the text path gives, that a value the column's kind
cannot hold without loss still goes through its text (and its rules), and that the
staging view DuckDB reads the file through leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsynergy import ingest_file
from medsynergy.engine import Warehouse
from medsynergy.errors import UnreadableFileError
from medsynergy.ingest.sources import native_type, open_text

from .conftest import fetch

D = dt.date


def _claims(**columns: pa.Array) -> pa.Table:
    n = len(next(iter(columns.values())))
    base = {
        "claim_id": pa.array([f"C{i + 1}" for i in range(n)]),
        "claim_line_number": pa.array(range(1, n + 1), pa.int32()),
        "person_id": pa.array(["P1"] * n),
        "claim_start_date": pa.array([D(2024, 1, 1)] * n, pa.date32()),
        "claim_end_date": pa.array([D(2024, 1, 2)] * n, pa.date32()),
    }
    base.update(columns)
    return pa.table(base)


def _temp_objects(wh: Warehouse) -> list[str]:
    con = wh.raw  # type: ignore[attr-defined]
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE temporary "
                        "AND NOT internal").fetchall()
    return sorted(r[0] for r in [*tables, *views])


def test_native_types_are_dates_integers_and_decimals() -> None:
    assert native_type(pa.date32()) == pa.date32()
    assert native_type(pa.date64()) == pa.date32()
    assert native_type(pa.int8()) == pa.int8()
    assert native_type(pa.decimal128(10, 4)) == pa.decimal128(10, 4)
    # read as text: the parse rules decide
    assert [native_type(t) for t in (pa.float64(), pa.timestamp("us"), pa.bool_(),
                                     pa.string(), pa.large_string())] == [None] * 5


def test_open_text_keeps_native_columns(tmp_path: Path) -> None:
    pq.write_table(_claims(paid_amount=pa.array([Decimal("1.00")], pa.decimal128(9, 2)),
                           service_unit_quantity=pa.array([1.5], pa.float64())),
                   tmp_path / "medical_claim.parquet")
    text = open_text(tmp_path / "medical_claim.parquet")
    assert text.native == {"claim_line_number": pa.int32(), "claim_start_date": pa.date32(),
                           "claim_end_date": pa.date32(), "paid_amount": pa.decimal128(9, 2)}
    assert text.source_names == ["claim_id", "claim_line_number", "person_id",
                                 "claim_start_date", "claim_end_date", "paid_amount",
                                 "service_unit_quantity"]


def test_native_values_load_as_the_text_path_would(wh: Warehouse, tmp_path: Path) -> None:
    table = _claims(
        paid_amount=pa.array([Decimal("100.25"), Decimal("-3.10"), None], pa.decimal128(9, 2)),
        allowed_amount=pa.array([120, 0, 5], pa.int64()),  # whole dollars
        service_unit_quantity=pa.array([Decimal("1.500"), Decimal("2.000"), None],
                                       pa.decimal128(7, 3)),
        paid_date=pa.array([D(2024, 2, 1), None, D(2024, 2, 3)], pa.date64()),
        in_network_flag=pa.array([1, 0, None], pa.int8()),
    )
    pq.write_table(table, tmp_path / "medical_claim.parquet")
    res = ingest_file(wh, tmp_path / "medical_claim.parquet", source="test")
    assert (res.rows_in, res.rows_final, res.rows_quarantined) == (3, 3, 0)
    assert res.findings_by_rule == {"negative_paid_amount": 1}
    assert fetch(wh, "medical_claim", ["claim_id", "claim_line_number", "paid_amount",
                                       "allowed_amount", "service_unit_quantity", "paid_date",
                                       "in_network_flag", "row_number"]) == [
        {"claim_id": "C1", "claim_line_number": 1, "paid_amount": Decimal("100.25"),
         "allowed_amount": Decimal("120.00"), "service_unit_quantity": Decimal("1.500"),
         "paid_date": D(2024, 2, 1), "in_network_flag": 1, "row_number": 1},
        {"claim_id": "C2", "claim_line_number": 2, "paid_amount": Decimal("-3.10"),
         "allowed_amount": Decimal("0.00"), "service_unit_quantity": Decimal("2.000"),
         "paid_date": None, "in_network_flag": 0, "row_number": 2},
        {"claim_id": "C3", "claim_line_number": 3, "paid_amount": None,
         "allowed_amount": Decimal("5.00"), "service_unit_quantity": None,
         "paid_date": D(2024, 2, 3), "in_network_flag": None, "row_number": 3},
    ]
    assert _temp_objects(wh) == []


def test_values_a_kind_cannot_hold_go_through_their_rules(wh: Warehouse, tmp_path: Path) -> None:
    table = _claims(
        # four places: not native for an amount; the text path rounds and warns
        paid_amount=pa.array([Decimal("10.0050"), Decimal("7.0000")], pa.decimal128(12, 4)),
        # an integer beyond DECIMAL(18,2): null by TRY_CAST, then the parse rule
        allowed_amount=pa.array([10 ** 17, 1], pa.int64()),
    )
    pq.write_table(table, tmp_path / "medical_claim.parquet")
    res = ingest_file(wh, tmp_path / "medical_claim.parquet", source="test")
    assert (res.rows_in, res.rows_final, res.rows_quarantined) == (2, 1, 1)
    assert res.quarantined_by_rule == {"amount_unparsable": 1}
    assert res.findings_by_rule == {}  # the rounded row is the quarantined one
    assert fetch(wh, "medical_claim", ["claim_id", "paid_amount", "allowed_amount"]) == [
        {"claim_id": "C2", "paid_amount": Decimal("7.00"), "allowed_amount": Decimal("1.00")}]
    q = fetch(wh, "quarantine", ["row_number", "rule", "message", "raw_row"])
    assert [(r["row_number"], r["rule"], r["message"]) for r in q] == [
        (1, "amount_unparsable",
         "allowed_amount '100000000000000000' is not a finite amount within DECIMAL(18,2)")]
    # the raw row as read: every value as its text, as from a CSV
    assert json.loads(q[0]["raw_row"]) == {
        "claim_id": "C1", "claim_line_number": "1", "person_id": "P1",
        "claim_start_date": "2024-01-01", "claim_end_date": "2024-01-02",
        "paid_amount": "10.0050", "allowed_amount": "100000000000000000"}


def test_sub_cent_decimal_is_rounded_with_a_finding(wh: Warehouse, tmp_path: Path) -> None:
    pq.write_table(_claims(paid_amount=pa.array([Decimal("10.005")], pa.decimal128(12, 3))),
                   tmp_path / "medical_claim.parquet")
    res = ingest_file(wh, tmp_path / "medical_claim.parquet", source="test")
    assert (res.rows_final, res.findings_by_rule) == (1, {"amount_rounded": 1})
    assert fetch(wh, "medical_claim", ["paid_amount"]) == [{"paid_amount": Decimal("10.01")}]


def test_native_and_text_keys_collapse_alike(wh: Warehouse, tmp_path: Path) -> None:
    """A second file with the same keys takes the general path: versions by paid_date."""
    first = _claims(paid_date=pa.array([D(2024, 2, 1), D(2024, 2, 1)], pa.date32()),
                    paid_amount=pa.array([Decimal("10.00"), Decimal("20.00")], pa.decimal128(9, 2)))
    pq.write_table(first, tmp_path / "a_medical_claim.parquet")
    later = _claims(paid_date=pa.array([D(2024, 3, 1), D(2024, 3, 1)], pa.date32()),
                    paid_amount=pa.array([Decimal("11.00"), Decimal("21.00")], pa.decimal128(9, 2)))
    pq.write_table(later.slice(0, 1), tmp_path / "b_medical_claim.parquet")
    a = ingest_file(wh, tmp_path / "a_medical_claim.parquet", source="test")
    b = ingest_file(wh, tmp_path / "b_medical_claim.parquet", source="test")
    assert (a.rows_final, b.rows_final, b.rows_superseded) == (2, 1, 0)
    assert fetch(wh, "medical_claim", ["claim_id", "paid_amount"]) == [
        {"claim_id": "C1", "paid_amount": Decimal("11.00")},
        {"claim_id": "C2", "paid_amount": Decimal("20.00")}]
    assert fetch(wh, "medical_claim_superseded", ["claim_id", "paid_amount",
                                                  "superseded_reason"]) == [
        {"claim_id": "C1", "paid_amount": Decimal("10.00"), "superseded_reason": "replaced"}]


def test_repeated_key_in_one_file_is_not_fresh(wh: Warehouse, tmp_path: Path) -> None:
    """Two rows of one key in a first load: the general path (duplicate_row), not the
    fresh one that would load both."""
    t = _claims(paid_amount=pa.array([Decimal("5.00"), Decimal("5.00")], pa.decimal128(9, 2)))
    t = t.set_column(0, "claim_id", pa.array(["C1", "C1"]))
    t = t.set_column(1, "claim_line_number", pa.array([1, 1], pa.int32()))
    pq.write_table(t, tmp_path / "medical_claim.parquet")
    res = ingest_file(wh, tmp_path / "medical_claim.parquet", source="test")
    assert (res.rows_final, res.rows_quarantined, res.quarantined_by_rule) == (
        1, 1, {"duplicate_row": 1})


def test_a_lone_reversal_is_not_fresh(wh: Warehouse, tmp_path: Path) -> None:
    t = _claims(adjustment_type_code=pa.array(["reversal"]),
                paid_amount=pa.array([Decimal("-5.00")], pa.decimal128(9, 2)))
    pq.write_table(t, tmp_path / "medical_claim.parquet")
    res = ingest_file(wh, tmp_path / "medical_claim.parquet", source="test")
    assert (res.rows_final, res.rows_superseded) == (0, 1)
    assert fetch(wh, "medical_claim_superseded", ["claim_id", "superseded_reason"]) == [
        {"claim_id": "C1", "superseded_reason": "reversal"}]


def test_a_file_damaged_past_its_footer_is_unreadable(wh: Warehouse, tmp_path: Path) -> None:
    """DuckDB reads the file in place: its error on a damaged data page is reported as the
    file's, and the warehouse is left as it was."""
    path = tmp_path / "medical_claim.parquet"
    pq.write_table(_claims(paid_amount=pa.array([Decimal("1.00")] * 2000, pa.decimal128(9, 2)),
                           claim_id=pa.array([f"C{i}" for i in range(2000)]),
                           claim_line_number=pa.array([1] * 2000, pa.int32()),
                           person_id=pa.array(["P1"] * 2000),
                           claim_start_date=pa.array([D(2024, 1, 1)] * 2000, pa.date32()),
                           claim_end_date=pa.array([D(2024, 1, 2)] * 2000, pa.date32())),
                   path, compression="snappy")
    data = bytearray(path.read_bytes())
    for i in range(8, len(data) // 2):  # the data pages; the footer at the end is intact
        data[i] = 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFileError, match="unreadable Parquet file") as info:
        ingest_file(wh, path, source="test")
    assert info.value.path == str(path)
    assert wh.count("medical_claim") == 0
    assert wh.count("load_log") == 0
    assert _temp_objects(wh) == []
