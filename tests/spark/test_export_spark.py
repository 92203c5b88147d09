"""`--out-parquet` on Spark: the same mart, exported from a Spark and a DuckDB warehouse
loaded from the same files (examples/data), reads back as the same rows, in the same
folders, with decimal money."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner, Result

from medsynergy.cli import app

pytestmark = pytest.mark.spark
DATA = Path(__file__).resolve().parents[2] / "examples" / "data"
MART = "cost"  # by year, with money columns


def ok(*args: str) -> Result:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    return res


def export(root: Path, engine: str) -> Path:
    db, out = root / f"wh.{engine}", root / f"pq_{engine}"
    ok("--engine", engine, "--db", str(db), "ingest", str(DATA), "--source", "demo")
    res = ok("--engine", engine, "--db", str(db), "--out-parquet", str(out), "measure",
             "--only", MART)
    assert f"parquet {MART}: 183 rows, by year -> {out / MART}" in res.stdout.splitlines()
    return out / MART


def test_spark_export_equals_duckdb_export(spark_session: object, tmp_path: Path) -> None:
    spark_dir, duck_dir = export(tmp_path, "spark"), export(tmp_path, "duckdb")
    assert sorted(p.name for p in spark_dir.iterdir() if p.is_dir()) == ["year=2024"]
    assert sorted(p.name for p in duck_dir.iterdir()) == ["year=2024"]

    con = duckdb.connect()
    try:
        def source(folder: Path) -> str:
            return f"read_parquet('{folder}/**/*.parquet', hive_partitioning = true)"

        cols = ", ".join(f'"{c}"' for c in con.sql(f"SELECT * FROM {source(duck_dir)}").columns)
        spark_rows = f"SELECT {cols} FROM {source(spark_dir)}"
        duck_rows = f"SELECT {cols} FROM {source(duck_dir)}"

        def count(sql: str) -> int:
            row = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
            assert row is not None
            return int(row[0])

        assert (count(spark_rows), count(duck_rows)) == (183, 183)
        assert count(f"{spark_rows} EXCEPT ALL {duck_rows}") == 0
        assert count(f"{duck_rows} EXCEPT ALL {spark_rows}") == 0
    finally:
        con.close()

    def money(folder: Path) -> dict[str, str]:
        (file, *_) = sorted(folder.rglob("*.parquet"))
        schema = pq.read_schema(file)
        return {f.name: str(f.type) for f in schema if str(f.type).startswith("decimal")}

    # decimals on both, at the same scale (Spark may pick another precision for a SUM)
    spark_money, duck_money = money(spark_dir), money(duck_dir)
    assert "paid_amount" in duck_money
    assert sorted(spark_money) == sorted(duck_money)
    assert {c: t.split(",")[1] for c, t in spark_money.items()} == \
        {c: t.split(",")[1] for c, t in duck_money.items()}
