"""`--out-parquet DIR` on DuckDB: marts and contract outcomes as partitioned Parquet.

The warehouse is loaded from the demo fixture (examples/data: one year, 2024, one payer,
Medicare) through the CLI, in process; what is read back from the Parquet files must be
the warehouse's rows exactly (EXCEPT ALL both ways), in the documented layout.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from medsynergy.cli import app
from medsynergy.errors import UserError
from medsynergy.export import _replace_folder, arrow_table, partition_column
from medsynergy.marts.registry import MARTS

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
CONTRACTS = ROOT / "examples" / "contracts"
STORED = [m.name for m in MARTS if m.persist]


def ok(db: Path, *args: str) -> Result:
    res = CliRunner().invoke(app, ["--db", str(db), *args])
    assert res.exit_code == 0, (res.output, res.exception)
    return res


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Result]:
    """(warehouse, Parquet folder, the measure run that wrote it)."""
    root = tmp_path_factory.mktemp("export")
    db, out = root / "w.duckdb", root / "pq"
    ok(db, "ingest", str(DATA), "--source", "demo")
    res = ok(db, "--out-parquet", str(out), "measure")
    return db, out, res


def parquet(folder: Path, table: str) -> str:
    return (f"read_parquet('{folder / table}/**/*.parquet', hive_partitioning = true, "
            "union_by_name = true)")


def differences(con: duckdb.DuckDBPyConnection, table: str, folder: Path
                ) -> tuple[int, int, int, int]:
    """(warehouse rows, Parquet rows, rows only in the warehouse, rows only in Parquet)."""
    cols = ", ".join(f'"{c}"' for c in con.table(table).columns)
    wh = f'SELECT {cols} FROM "{table}"'
    pf = f"SELECT {cols} FROM {parquet(folder, table)}"

    def count(sql: str) -> int:
        row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
        assert row is not None
        return int(row[0])

    return (count(wh), count(pf), count(f"{wh} EXCEPT ALL {pf}"),
            count(f"{pf} EXCEPT ALL {wh}"))


def test_measure_writes_every_stored_mart_exactly(built: tuple[Path, Path, Result]) -> None:
    db, out, _ = built
    assert sorted(p.name for p in out.iterdir()) == sorted(STORED)
    con = duckdb.connect(str(db), read_only=True)
    try:
        for name in STORED:
            rows, read, only_wh, only_pq = differences(con, name, out)
            assert (read, only_wh, only_pq) == (rows, 0, 0), name
    finally:
        con.close()


def test_rows_of_known_marts(built: tuple[Path, Path, Result]) -> None:
    """Row counts the fixture gives (`medsynergy measure` on examples/data), so an export of
    nothing cannot pass as equal to an empty warehouse."""
    _, out, _ = built
    counts = {t: duckdb.sql(f"SELECT count(*) FROM {parquet(out, t)}").fetchall()[0]
              for t in ("member_months", "cost_totals", "attribution", "claims_by_month",
                        "service_category_summary", "cost_outside_enrollment")}
    assert counts == {"member_months": (2338,), "cost_totals": (3,), "attribution": (200,),
                      "claims_by_month": (36,), "service_category_summary": (9,),
                      "cost_outside_enrollment": (0,)}


def test_layout_partitions_by_year_then_payer(built: tuple[Path, Path, Result]) -> None:
    _, out, _ = built

    def entries(table: str) -> list[str]:
        return sorted(p.name for p in (out / table).iterdir())

    assert entries("member_months") == ["year=2024"]
    assert entries("cost") == ["year=2024"]
    assert entries("claims_by_month") == ["payer=Medicare"]  # no year column: by payer
    assert entries("service_category_summary") == ["data.parquet"]  # neither
    assert entries("cost_outside_enrollment") == ["data.parquet"]  # no rows: one file
    # the partition column is in the folder names only, and read back with its value
    (file,) = (out / "cost" / "year=2024").glob("*.parquet")
    assert "year" not in pq.read_schema(file).names
    assert duckdb.sql(f"SELECT DISTINCT year FROM {parquet(out, 'cost')}").fetchall() == [(2024,)]
    # no temporary folder left beside the tables
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_money_stays_decimal(built: tuple[Path, Path, Result]) -> None:
    db, out, _ = built
    con = duckdb.connect(str(db), read_only=True)
    try:
        decimals = con.execute(
            "SELECT table_name, column_name, numeric_precision, numeric_scale "
            "FROM duckdb_columns() WHERE data_type LIKE 'DECIMAL%' AND table_name IN "
            f"({', '.join(repr(n) for n in STORED)}) ORDER BY ALL").fetchall()
    finally:
        con.close()
    assert ("cost_totals", "paid_amount", 18, 2) in decimals
    for table, column, precision, scale in decimals:
        (file, *_) = sorted((out / table).rglob("*.parquet"))
        assert pq.read_schema(file).field(column).type == pa.decimal128(precision, scale), \
            (table, column)


def test_one_line_per_table_after_the_usual_output(built: tuple[Path, Path, Result]) -> None:
    _, out, res = built
    lines = res.stdout.splitlines()
    written = [ln for ln in lines if ln.startswith("parquet ")]
    assert len(written) == len(STORED)
    assert lines[-len(written):] == written  # after the "Marts built" table
    assert f"parquet member_months: 2,338 rows, by year -> {out / 'member_months'}" in written
    assert f"parquet service_category_summary: 9 rows -> {out / 'service_category_summary'}" \
        in written


def test_rerun_replaces_the_table_folder(built: tuple[Path, Path, Result]) -> None:
    db, out, _ = built
    # a stray file in the old folder (say an earlier export's): it must not survive
    stale = out / "cost_totals" / "year=2024" / "stale.parquet"
    pq.write_table(pq.read_table(next((out / "cost_totals" / "year=2024").glob("data_*"))),
                   stale)
    assert duckdb.sql(f"SELECT count(*) FROM {parquet(out, 'cost_totals')}").fetchall() == [(6,)]
    ok(db, "--out-parquet", str(out), "measure", "--only", "cost_totals")
    assert not stale.exists()
    con = duckdb.connect(str(db), read_only=True)
    try:
        assert differences(con, "cost_totals", out) == (3, 3, 0, 0)
    finally:
        con.close()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_without_the_option_nothing_is_written(built: tuple[Path, Path, Result]) -> None:
    db, _, _ = built
    res = ok(db, "measure", "--only", "cost_totals")
    assert "parquet " not in res.stdout


def test_compare_writes_the_contract_outcomes(tmp_path: Path, built: tuple[Path, Path, Result]
                                              ) -> None:
    db, _, _ = built
    out = tmp_path / "contracts"
    files = [str(CONTRACTS / "ffs_baseline.yaml"), str(CONTRACTS / "primary_care_capitation.yaml")]
    res = ok(db, "--out-parquet", str(out), "compare", "--contracts", *files,
             "--format", "json")
    printed = json.loads(res.stdout)  # stdout stays JSON: the lines go to stderr
    assert res.stderr.splitlines() == [
        f"parquet contract_comparison: 2 rows, by year -> {out / 'contract_comparison'}",
        f"parquet contract_settlement: 5 rows, by year -> {out / 'contract_settlement'}",
        f"parquet contract_steps: {sum(len(c['steps']) for c in printed['contracts'])} rows, "
        f"by year -> {out / 'contract_steps'}",
    ]
    assert sorted(p.name for p in (out / "contract_comparison").iterdir()) == ["year=2024"]

    def read(table: str, order: str) -> list[dict[str, Any]]:
        rel = duckdb.sql(f"SELECT * FROM {parquet(out, table)} ORDER BY {order}")
        return [dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()]

    # fee-for-service pays exactly what the claims paid in 2024 (the warehouse's cost_totals)
    con = duckdb.connect(str(db), read_only=True)
    try:
        paid = con.execute("SELECT sum(paid_amount) FROM cost_totals WHERE year = 2024"
                           ).fetchone()
    finally:
        con.close()
    assert paid is not None
    settlement = read("contract_settlement", "contract, line, party")
    # the capitation pays everything to the one "unattributed" allocation (no groups given)
    assert [(r["contract"], r["line"], r["party"], r["amount"]) for r in settlement] == [
        ("ffs-paid", "to_payer", None, D("0.00")),
        ("ffs-paid", "to_provider", None, paid[0]),
        ("global-capitation", "allocation", "unattributed", D("1847378.51")),
        ("global-capitation", "to_payer", None, D("-1510308.91")),
        ("global-capitation", "to_provider", None, D("1847378.51")),
    ]
    assert {(r["model"], r["year"]) for r in settlement} == {("fee_for_service", 2024),
                                                              ("capitation", 2024)}
    by_contract = {c["contract"]: c for c in printed["contracts"]}
    assert [D(by_contract["global-capitation"][k]) for k in ("to_provider", "to_payer")] == [
        D("1847378.51"), D("-1510308.91")]  # what the command printed

    comparison = read("contract_comparison", "contract")
    assert comparison == [{k: (D(v) if isinstance(v, str) and k not in ("contract", "model")
                               else v) for k, v in row.items()}
                          for row in sorted(printed["comparison"], key=lambda r: r["contract"])]
    schema = duckdb.sql(f"DESCRIBE SELECT * FROM {parquet(out, 'contract_comparison')}")
    types = {r[0]: r[1] for r in schema.fetchall()}
    assert [types[c] for c in ("ffs_spend", "to_provider", "to_payer")] == ["DECIMAL(18,2)"] * 3

    steps = read("contract_steps", "contract, step_number")
    expected = [(c["contract"], i, s["name"], as_text(s["value"]), s["rule"]) for c in sorted(printed["contracts"], key=lambda c: c["contract"])
                for i, s in enumerate(c["steps"], 1)]
    assert [(s["contract"], s["step_number"], s["step"], s["value"], s["rule"])
            for s in steps] == expected


def as_text(value: Any) -> str | None:
    """A step value as the export writes it, from its JSON form."""
    if value is None:
        return None
    return json.dumps(value) if isinstance(value, bool) else str(value)


def test_partition_column_rule() -> None:
    assert partition_column(["payer", "year", "x"], 5) == "year"
    assert partition_column(["payer", "x"], 5) == "payer"
    assert partition_column(["x"], 5) is None
    assert partition_column(["year"], 0) is None  # empty: one file that keeps every column


def test_arrow_table_keeps_decimals_exact() -> None:
    t = arrow_table([{"a": D("1.5"), "b": 1},
                     {"a": D("12345678901234567.25"), "c": D("0.3333333333333333333333333333")},
                     {"a": D("0")}], ["z"])
    assert t.column_names == ["z", "a", "b", "c"]
    assert t.schema.field("z").type == pa.string()  # no value: text
    assert t.schema.field("a").type == pa.decimal128(38, 2)  # 17 digits + 2: over (18, 2)
    assert t.schema.field("c").type == pa.decimal128(38, 28)
    assert t.column("a").to_pylist() == [D("1.50"), D("12345678901234567.25"), D("0.00")]
    assert t.column("c").to_pylist() == [None, D("0.3333333333333333333333333333"), None]
    assert arrow_table([{"m": D("0")}]).schema.field("m").type == pa.decimal128(18, 2)


def test_out_parquet_on_a_file_is_a_user_error(tmp_path: Path,
                                               built: tuple[Path, Path, Result]) -> None:
    db, _, _ = built
    (tmp_path / "a_file").write_text("x")
    res = CliRunner().invoke(app, ["--db", str(db), "--out-parquet", str(tmp_path / "a_file"),
                                   "measure", "--only", "cost_totals"])
    assert isinstance(res.exception, UserError)
    assert str(res.exception).startswith(f"cannot write Parquet to {tmp_path / 'a_file'}: ")


def test_failed_write_keeps_the_old_table(tmp_path: Path) -> None:
    old = tmp_path / "t" / "data.parquet"
    old.parent.mkdir()
    old.write_bytes(b"old")

    def half_then_fail(tmp: Path) -> None:
        tmp.mkdir()
        (tmp / "part.parquet").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        _replace_folder(tmp_path, "t", half_then_fail)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no temporary folder left
    assert [p.name for p in (tmp_path / "t").iterdir()] == ["data.parquet"]
    assert old.read_bytes() == b"old"
