"""Warehouse.publish on DuckDB: derived tables appear all together or not at all."""

from __future__ import annotations

from pathlib import Path

import ibis
import pytest

from medsynergy.engine.duckdb_engine import STAGE_PREFIX, DuckDBWarehouse


def _tables(wh: DuckDBWarehouse) -> set[str]:
    rows = wh.raw.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'"
                          ).fetchall()
    return {r[0] for r in rows} - set(wh.tables)


def _values(wh: DuckDBWarehouse, name: str) -> list[int]:
    return sorted(r[0] for r in wh.raw.execute(f"SELECT x FROM {name}").fetchall())


def _const(*xs: int) -> ibis.Table:
    return ibis.memtable({"x": list(xs)})


def test_later_tables_read_the_new_version_of_earlier_ones(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        wh.publish([("a", lambda: _const(1))])
        wh.publish([("a", lambda: _const(2, 3)),
                    ("b", lambda: wh.table("a").mutate(x=wh.table("a").x * 10))])
        assert (_values(wh, "a"), _values(wh, "b")) == ([2, 3], [20, 30])
        assert _tables(wh) == {"a", "b"}


def test_a_failure_leaves_every_old_table_and_no_staging(tmp_path: Path) -> None:
    def boom() -> ibis.Table:
        raise RuntimeError("mart failed")

    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        wh.publish([("a", lambda: _const(1))])
        with pytest.raises(RuntimeError, match="mart failed"):
            wh.publish([("a", lambda: _const(7)), ("c", lambda: _const(8)), ("d", boom)])
        assert _values(wh, "a") == [1]
        assert _tables(wh) == {"a"}  # no c, no staging tables
        assert wh.table("a").count().execute() == 1  # reads the committed table again


def test_leftovers_of_an_interrupted_run_are_dropped(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        wh.raw.execute(f"CREATE TABLE {STAGE_PREFIX}a AS SELECT 5 AS x")
        wh.publish([("b", lambda: _const(1))])
        assert _tables(wh) == {"b"}


def test_stored_tables_are_reported_in_order(tmp_path: Path) -> None:
    stored: list[str] = []
    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        wh.publish([("a", lambda: _const(1)),
                    ("b", lambda: wh.table("a").mutate(x=wh.table("a").x + 1)),
                    ("c", lambda: wh.table("b").union(wh.table("a")))],
                   on_stored=stored.append)
        assert stored == ["a", "b", "c"]
        assert _values(wh, "c") == [1, 2]


def test_an_error_while_running_leaves_the_old_tables(tmp_path: Path) -> None:
    # the SQL compiles (in the thread) but fails when DuckDB runs it
    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        wh.publish([("a", lambda: _const(1))])
        bad = ibis.memtable({"t": ["not a number"]})
        with pytest.raises(Exception, match="not a number"):
            wh.publish([("a", lambda: _const(5)),
                        ("b", lambda: bad.select(x=bad.t.cast("int64"))),
                        *((f"z{i}", lambda i=i: _const(i)) for i in range(20))])
        assert _values(wh, "a") == [1]
        assert _tables(wh) == {"a"}
        assert wh.table("a").count().execute() == 1  # the connection answers `table` again


def test_a_canonical_table_cannot_be_published(tmp_path: Path) -> None:
    with DuckDBWarehouse(tmp_path / "w.duckdb") as wh:
        with pytest.raises(Exception, match="medical_claim is a canonical table"):
            wh.publish([("x", lambda: _const(1)), ("medical_claim", lambda: _const(2))])
        assert _tables(wh) == set()
