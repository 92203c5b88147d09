"""Loading files: refused whole, atomic, idempotent, replaceable; CSV, gzip and Parquet alike."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsynergy import ingest_file
from medsynergy.engine import Warehouse
from medsynergy.errors import InputFileError, MissingColumnsError, UnreadableFileError
from medsynergy.ingest.sources import detect_table
from medsynergy.schema import ALL_TABLES

from .conftest import counts, fetch, medical_row, open_warehouse, snapshot, write_csv

D = dt.date

ROWS = [
    medical_row("C1", rendering_npi="1234567893", diagnosis_code_type="icd-10-cm",
                diagnosis_code_1="E11.9"),
    medical_row("C2", paid_amount="-5.00", rendering_npi="1234567890"),  # two findings
    medical_row("C3", claim_end_date="2023-12-31"),  # quarantined
    medical_row("C4", paid_date="2024-02-01", paid_amount="10.00"),
    medical_row("C4", paid_date="2024-03-01", paid_amount="12.00", adjustment_type_code="2"),
]


def _temp_tables(wh: Warehouse) -> list[str]:
    rows = wh.raw.execute(  # type: ignore[attr-defined]
        "SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    return [r[0] for r in rows]


# -- refused whole ----------------------------------------------------------------------

def test_missing_required_columns_refuse_the_file_whole(wh: Warehouse, tmp_path: Path) -> None:
    before = snapshot(wh)
    rows = [{k: val for k, val in medical_row().items() if k not in ("person_id", "claim_end_date")}]
    path = write_csv(tmp_path / "medical_claim.csv", rows)
    with pytest.raises(MissingColumnsError) as info:
        ingest_file(wh, path, source="test")
    assert info.value.table == "medical_claim"
    assert info.value.missing == ("person_id", "claim_end_date")
    assert str(info.value) == (f"{path}: missing required column(s) for medical_claim: "
                               "person_id, claim_end_date")
    assert snapshot(wh) == before
    assert counts(wh)["load_log"] == 0
    assert _temp_tables(wh) == []


def test_table_named_explicitly_checks_that_tables_columns(wh: Warehouse,
                                                           tmp_path: Path) -> None:
    path = write_csv(tmp_path / "medical_claim.csv", [medical_row()])
    with pytest.raises(MissingColumnsError) as info:
        ingest_file(wh, path, table="eligibility", source="test")
    assert info.value.missing == ("member_id", "enrollment_start_date", "enrollment_end_date",
                                  "payer")
    assert counts(wh) == dict.fromkeys(counts(wh), 0)


def test_without_source_or_data_source_column_the_file_is_refused(wh: Warehouse,
                                                                  tmp_path: Path) -> None:
    path = write_csv(tmp_path / "medical_claim.csv", [medical_row()])
    with pytest.raises(InputFileError, match="no data_source column: pass --source NAME"):
        ingest_file(wh, path)
    assert counts(wh)["load_log"] == 0


# -- idempotent, replaceable -------------------------------------------------------------

def test_reingest_is_a_noop_and_replace_reloads(wh: Warehouse, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "medical_claim.csv", ROWS)
    first = ingest_file(wh, path, source="test")
    assert (first.status, first.rows_in, first.rows_final, first.rows_superseded,
            first.rows_quarantined, first.findings) == ("loaded", 5, 3, 1, 1, 2)
    after_first = snapshot(wh)

    again = ingest_file(wh, path, source="test")
    assert again.status == "skipped"
    assert again.load_id == first.load_id
    assert again.message == (f"already loaded as {first.load_id} (same SHA-256); "
                             "use --replace to load it again")
    assert again.reconciles
    # the same bytes under another name are the same file
    copy = tmp_path / "copy_of_medical_claim.csv"
    copy.write_bytes(path.read_bytes())
    assert ingest_file(wh, copy, source="test").status == "skipped"
    assert snapshot(wh) == after_first

    replaced = ingest_file(wh, path, source="test", replace=True)
    assert replaced.status == "replaced"
    assert replaced.load_id != first.load_id
    assert (replaced.rows_in, replaced.rows_final, replaced.rows_superseded,
            replaced.rows_quarantined, replaced.findings) == (5, 3, 1, 1, 2)
    assert counts(wh) == {t.name: len(rows) for t, rows in
                          zip(ALL_TABLES, after_first.values(), strict=True)} | {"load_log": 2}
    log = fetch(wh, "load_log", ["load_id", "status", "rows_in", "rows_loaded"],
                order_by=["status"])
    assert log == [
        {"load_id": replaced.load_id, "status": "loaded", "rows_in": 5, "rows_loaded": 4},
        {"load_id": first.load_id, "status": "replaced", "rows_in": 5, "rows_loaded": 4},
    ]
    for table in ("medical_claim", "medical_claim_superseded", "quarantine", "dq_finding"):
        ids = {r["load_id"] for r in fetch(wh, table, ["load_id"])}
        assert ids == {replaced.load_id}, table
    assert fetch(wh, "medical_claim", ["claim_id", "paid_amount"]) == [
        {"claim_id": "C1", "paid_amount": Decimal("100.00")},
        {"claim_id": "C2", "paid_amount": Decimal("-5.00")},
        {"claim_id": "C4", "paid_amount": Decimal("12.00")},
    ]
    # the replacement is itself recognised: loading again is a no-op
    assert ingest_file(wh, path, source="test").load_id == replaced.load_id


def test_replace_keeps_versions_from_later_loads(wh: Warehouse, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "medical_claim_1.csv",
                      [medical_row("C1", paid_date="2024-02-01", paid_amount="10.00")])
    second = write_csv(tmp_path / "medical_claim_2.csv",
                       [medical_row("C1", paid_date="2024-03-01", paid_amount="12.00")])
    ingest_file(wh, first, source="test")
    later = ingest_file(wh, second, source="test")
    redo = ingest_file(wh, first, source="test", replace=True)
    assert fetch(wh, "medical_claim", ["paid_amount", "load_id"]) == [
        {"paid_amount": Decimal("12.00"), "load_id": later.load_id}]
    assert fetch(wh, "medical_claim_superseded",
                 ["paid_amount", "load_id", "superseded_reason"]) == [
        {"paid_amount": Decimal("10.00"), "load_id": redo.load_id,
         "superseded_reason": "replaced"}]
    assert (redo.rows_final, redo.rows_superseded) == (0, 1)


# -- formats --------------------------------------------------------------------------------

def _comparable(wh: Warehouse) -> dict[str, list[tuple[object, ...]]]:
    """Every table without the columns that differ between two loads of the same rows."""
    varying = {"load_id", "file_name", "ingest_datetime", "file_sha256", "started_at",
               "finished_at"}
    out = {}
    for t in ALL_TABLES:
        cols = [c for c in t.column_names if c not in varying]
        rows = wh.to_arrow(wh.table(t.name).select(cols)).to_pylist()
        out[t.name] = sorted((tuple(r.values()) for r in rows), key=repr)
    return out


def test_parquet_gives_the_same_tables_as_csv(tmp_path: Path) -> None:
    csv_path = write_csv(tmp_path / "medical_claim.csv", ROWS)
    columns = list(dict.fromkeys(k for r in ROWS for k in r))
    pq.write_table(pa.table({c: [str(r.get(c, "")) for r in ROWS] for c in columns}),
                   tmp_path / "medical_claim.parquet")
    results = {}
    contents = {}
    for path in (csv_path, tmp_path / "medical_claim.parquet"):
        w = open_warehouse(tmp_path / f"{path.suffix[1:]}.duckdb")
        try:
            results[path.suffix] = ingest_file(w, path, source="test")
            contents[path.suffix] = _comparable(w)
        finally:
            w.close()
    assert contents[".parquet"] == contents[".csv"]
    assert contents[".csv"]["medical_claim"]  # the comparison is not of empty tables
    assert len(contents[".csv"]["quarantine"]) == 1
    assert len(contents[".csv"]["dq_finding"]) == 2
    assert results[".parquet"].rows_final == results[".csv"].rows_final == 3


def test_typed_parquet_columns_are_read_as_their_text(wh: Warehouse, tmp_path: Path) -> None:
    table = pa.table({
        "claim_id": pa.array(["C1", "C2"]),
        "claim_line_number": pa.array([1, 2], pa.int64()),
        "person_id": pa.array(["P1", None]),
        "claim_start_date": pa.array([D(2024, 1, 1), D(2024, 1, 2)], pa.date32()),
        "claim_end_date": pa.array([D(2024, 1, 3), D(2024, 1, 2)], pa.date32()),
        "paid_amount": pa.array([Decimal("100.25"), Decimal("7.00")], pa.decimal128(10, 2)),
        "service_unit_quantity": pa.array([1.5, None], pa.float64()),
    })
    pq.write_table(table, tmp_path / "claims.parquet")
    res = ingest_file(wh, tmp_path / "claims.parquet", table="medical_claim", source="test")
    assert (res.rows_in, res.rows_final, res.rows_quarantined) == (2, 1, 1)
    assert fetch(wh, "medical_claim", ["claim_id", "claim_line_number", "claim_start_date",
                                       "claim_end_date", "paid_amount",
                                       "service_unit_quantity"]) == [
        {"claim_id": "C1", "claim_line_number": 1, "claim_start_date": D(2024, 1, 1),
         "claim_end_date": D(2024, 1, 3), "paid_amount": Decimal("100.25"),
         "service_unit_quantity": Decimal("1.500")}]
    q = fetch(wh, "quarantine", ["row_number", "rule", "raw_row"])
    assert [(r["row_number"], r["rule"]) for r in q] == [(2, "required_missing")]
    assert json.loads(q[0]["raw_row"]) == {
        "claim_id": "C2", "claim_line_number": "2", "person_id": None,
        "claim_start_date": "2024-01-02", "claim_end_date": "2024-01-02",
        "paid_amount": "7.00", "service_unit_quantity": None}


def test_gzipped_csv_loads(wh: Warehouse, tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "plain.csv", ROWS[:2])
    gz = tmp_path / "medical_claim.csv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    res = ingest_file(wh, gz, source="test")
    assert (res.target_table, res.rows_in, res.rows_final, res.findings) == (
        "medical_claim", 2, 2, 2)
    assert fetch(wh, "medical_claim", ["claim_id", "paid_amount", "diagnosis_code_1",
                                       "file_name"]) == [
        {"claim_id": "C1", "paid_amount": Decimal("100.00"), "diagnosis_code_1": "E119",
         "file_name": str(gz)},
        {"claim_id": "C2", "paid_amount": Decimal("-5.00"), "diagnosis_code_1": None,
         "file_name": str(gz)},
    ]


def test_tab_separated_file(wh: Warehouse, tmp_path: Path) -> None:
    path = tmp_path / "medical_claim.tsv"
    header = "claim_id\tclaim_line_number\tperson_id\tclaim_start_date\tclaim_end_date\t" \
             "paid_amount\n"
    path.write_text(header + "C1\t1\tP1\t2024-01-01\t2024-01-02\t1,000\n"
                    "C2\t1\tP1\t2024-01-01\t2024-01-02\t5.10\n", encoding="utf-8")
    res = ingest_file(wh, path, source="test")
    assert res.quarantined_by_rule == {"amount_unparsable": 1}
    assert fetch(wh, "medical_claim", ["claim_id", "paid_amount"]) == [
        {"claim_id": "C2", "paid_amount": Decimal("5.10")}]


# -- which table -------------------------------------------------------------------------

REQUIRED = {
    "medical_claim": ["claim_id", "claim_line_number", "person_id", "claim_start_date",
                      "claim_end_date"],
    "pharmacy_claim": ["claim_id", "claim_line_number", "person_id", "dispensing_date"],
    "eligibility": ["person_id", "member_id", "enrollment_start_date", "enrollment_end_date",
                    "payer"],
    "provider": ["npi"],
}


@pytest.mark.parametrize(("name", "table"), [
    ("medical_claim.csv", "medical_claim"),
    ("medical_claim_2024_01.csv.gz", "medical_claim"),
    ("acme_pharmacy_claim.parquet", "pharmacy_claim"),
    ("eligibility.tsv", "eligibility"),
    ("2024_provider.csv", "provider"),
    ("Medical_Claim.CSV", "medical_claim"),
])
def test_table_detected_by_file_name(name: str, table: str) -> None:
    # the name decides even when the columns are those of another table
    assert detect_table(Path(name), ["npi"]).name == table


@pytest.mark.parametrize("table", sorted(REQUIRED))
def test_table_detected_by_columns(table: str) -> None:
    assert detect_table(Path("export.csv"), [*REQUIRED[table], "data_source"]).name == table


def test_table_detection_prefers_the_table_with_more_matching_columns() -> None:
    cols = [*REQUIRED["medical_claim"], "npi"]  # also the provider's required column
    assert detect_table(Path("export.csv"), cols).name == "medical_claim"


def test_undetectable_table_is_refused(tmp_path: Path, wh: Warehouse) -> None:
    with pytest.raises(InputFileError, match="cannot tell which table this file is for"):
        detect_table(Path("export.csv"), ["claim_id", "person_id"])
    path = write_csv(tmp_path / "export.csv", [{"foo": "1", "bar": "2"}])
    with pytest.raises(InputFileError, match="pass --table"):
        ingest_file(wh, path, source="test")
    assert counts(wh)["load_log"] == 0


def test_ingest_detects_the_table_by_columns(wh: Warehouse, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.csv", [
        {"claim_id": "R1", "claim_line_number": "1", "person_id": "P1",
         "dispensing_date": "2024-01-01", "ndc_code": "0123-4567-89", "extra_column": "x"}])
    res = ingest_file(wh, path, source="test")
    assert (res.target_table, res.rows_final, res.ignored_columns) == (
        "pharmacy_claim", 1, ("extra_column",))
    assert fetch(wh, "pharmacy_claim", ["claim_id", "ndc_code"]) == [
        {"claim_id": "R1", "ndc_code": "00123456789"}]


# -- unreadable files leave the warehouse unchanged ------------------------------------------

HEADER = "claim_id,claim_line_number,person_id,claim_start_date,claim_end_date,paid_amount\n"
GOOD_LINE = "C{},1,P1,2024-01-01,2024-01-02,10.00\n"


def _unreadable_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "too_many_fields": (HEADER + GOOD_LINE.format(1)
                            + "C2,1,P1,2024-01-01,2024-01-02,10.00,surplus\n").encode(),
        "invalid_utf8_in_data": (HEADER + GOOD_LINE.format(1)).encode()
        + b"C\xff\xfe2,1,P1,2024-01-01,2024-01-02,10.00\n",
        "invalid_utf8_in_header": b"claim_\xffid" + HEADER[8:].encode(),
        "empty": b"",
        "too_few_fields": (HEADER + "C1,1,P1\n").encode(),
    }
    out = {}
    for name, data in files.items():
        out[name] = tmp_path / name / "medical_claim.csv"
        out[name].parent.mkdir()
        out[name].write_bytes(data)
    out["not_parquet"] = tmp_path / "medical_claim.parquet"
    out["not_parquet"].write_bytes(b"PAR1 this is not parquet")
    out["bad_gzip"] = tmp_path / "medical_claim.csv.gz"
    out["bad_gzip"].write_bytes(b"\x1f\x8b\x08\x00 not really gzip data")
    return out


def test_unreadable_files_raise_and_change_nothing(wh: Warehouse, tmp_path: Path) -> None:
    ingest_file(wh, write_csv(tmp_path / "medical_claim.csv", ROWS), source="test")
    before = snapshot(wh)
    for name, path in _unreadable_files(tmp_path).items():
        with pytest.raises(UnreadableFileError) as info:
            ingest_file(wh, path, source="test")
        assert info.value.path == str(path), name
        assert snapshot(wh) == before, name
        assert _temp_tables(wh) == [], name
    # the warehouse is still usable afterwards
    res = ingest_file(wh, write_csv(tmp_path / "again" / "medical_claim.csv",
                                    [medical_row("C9")]), source="test")
    assert (res.status, res.rows_final) == ("loaded", 1)


# -- a crash mid-write leaves the warehouse as it was -----------------------------------------

CHILD = textwrap.dedent("""
    import os, signal, sys

    import medsynergy
    from medsynergy.engine.duckdb_engine import DuckDBWarehouse

    db, path, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    original = DuckDBWarehouse._statement
    done = []

    def statement(self, w):
        # called just before each write statement: `done` statements have run inside
        # the open transaction
        if len(done) == kill_after:
            print("killing after", [x.table for x in done], flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        done.append(w)
        return original(self, w)

    DuckDBWarehouse._statement = statement
    wh = medsynergy.connect(db)
    medsynergy.ingest_file(wh, path, source="test")
    print("finished", flush=True)
""")


def test_crash_mid_write_leaves_the_warehouse_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    small = tmp_path / "pharmacy_claim_1.csv"
    small.write_text("claim_id,claim_line_number,person_id,dispensing_date,paid_date,"
                     "paid_amount\nR0,1,P1,2024-01-01,2024-01-05,5.00\n"
                     "R1,1,P1,2024-01-01,2024-01-05,6.00\n", encoding="utf-8")
    # more rows than one DuckDB row group (122,880), so the insert writes blocks to the
    # file before the commit; R0 and R1 get a later version, so the first write (a delete
    # of their current rows) touches rows already in the warehouse
    big = tmp_path / "pharmacy_claim_2.csv"
    lines = ["claim_id,claim_line_number,person_id,dispensing_date,paid_date,paid_amount"]
    lines += [f"R{i},1,P{i % 997},2024-01-01,2024-02-01,10.00" for i in range(130_000)]
    big.write_text("\n".join(lines) + "\n", encoding="utf-8")

    w = open_warehouse(db)
    ingest_file(w, small, source="test")
    before = snapshot(w)
    w.close()

    # kill after: the delete from pharmacy_claim, the delete from pharmacy_claim_superseded
    # and the insert of 130,000 rows into pharmacy_claim
    child = subprocess.run([sys.executable, "-c", CHILD, str(db), str(big), "3"],
                           capture_output=True, text=True, timeout=300, check=False)
    assert child.returncode == -signal.SIGKILL, child.stderr
    # (DuckDB draws its progress bar on stdout when a statement runs for over 2 s, as on
    # a busy machine: the child's own lines are the ones that matter)
    lines = [ln for ln in child.stdout.splitlines()
             if ln.strip() and not ln.lstrip()[0].isdigit()]
    assert lines[-1].startswith(
        "killing after ['pharmacy_claim', 'pharmacy_claim_superseded', 'pharmacy_claim']")
    assert "finished" not in child.stdout

    w = open_warehouse(db)
    try:
        assert snapshot(w) == before
        assert counts(w)["pharmacy_claim"] == 2
        assert fetch(w, "pharmacy_claim", ["claim_id", "paid_amount"]) == [
            {"claim_id": "R0", "paid_amount": Decimal("5.00")},
            {"claim_id": "R1", "paid_amount": Decimal("6.00")}]
    finally:
        w.close()

