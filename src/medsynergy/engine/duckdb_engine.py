"""The embedded default: a DuckDB file, no server to start."""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import cast

import duckdb
import ibis
import pyarrow as pa

from medsynergy.engine.base import Append, DeleteMatching, DeleteWhereIn, Warehouse, Write
from medsynergy.errors import WarehouseError
from medsynergy.schema import ALL_TABLES, Table

#: Name prefix of the tables `publish` writes before swapping them in.
STAGE_PREFIX = "_staged_"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


#: Share of physical memory DuckDB may use before it spills to disk (`<db>.tmp`). DuckDB's
#: own default is 80 %, which the hash joins of a 1M-member contract comparison filled
#: (17.8 GiB peak here) without being faster than at 25 % (issue "Scale": 8 GiB budget).
MEMORY_SHARE = 0.25


def memory_limit() -> str:
    """DuckDB's memory limit: $MEDSYNERGY_MEMORY_LIMIT (e.g. `6GB`), else MEMORY_SHARE of
    physical memory (at least 1 GiB), in MiB."""
    configured = os.environ.get("MEDSYNERGY_MEMORY_LIMIT")
    if configured:
        return configured
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1 << 30, int(total * MEMORY_SHARE)) >> 20}MiB"


class DuckDBWarehouse(Warehouse):
    engine = "duckdb"

    def __init__(self, path: str | Path, tables: Sequence[Table] = ALL_TABLES,
                 *, read_only: bool = False) -> None:
        super().__init__(tables)
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = ibis.duckdb.connect(self.path, read_only=read_only)
        except Exception as exc:  # duckdb raises IOException for a locked or corrupt file
            raise WarehouseError(f"cannot open DuckDB warehouse {self.path}: {exc}") from exc
        self.raw = self.con.con  # the duckdb connection, for DDL and transactions
        # while publish compiles ahead: what `table` answers from (see _CompileAhead)
        self._ahead: _CompileAhead | None = None
        self.raw.execute("SET TimeZone = 'UTC'")
        self.raw.execute(f"SET memory_limit = '{memory_limit()}'")
        if not read_only:
            self.ensure_tables()

    def ensure_tables(self) -> None:
        for t in self.tables.values():
            self.raw.execute(t.ddl(_quote(t.name)))

    def table(self, name: str) -> ibis.Table:
        ahead = self._ahead
        if ahead is not None:
            return ahead.table(name)
        return self.con.table(name)

    def sql(self, expr: ibis.Expr) -> str:
        """The SQL of `expr`, with the in-memory tables it uses (memtables) registered, so
        the SQL can run on the raw connection."""
        self.con._run_pre_execute_hooks(expr)
        return str(self.con.compile(expr))

    def stage_batches(self, name: str, batches: pa.RecordBatchReader) -> ibis.Table:
        view = f"_arrow_{name}"
        self.raw.register(view, batches)
        try:
            self.raw.execute(
                f"CREATE OR REPLACE TEMP TABLE {_quote(name)} AS SELECT * FROM {_quote(view)}"
            )
        finally:
            self.raw.unregister(view)
        return self.con.table(name)

    def stage_parquet(self, name: str, path: str, columns: Sequence[tuple[str, str, bool]],
                      batches: Callable[[], pa.RecordBatchReader]) -> ibis.Table:
        # A view over the file, not a copy: DuckDB reads Parquet in parallel with
        # projection pushdown, so each later pass reads just the columns it needs, and a
        # file larger than memory is never held as a temporary table.
        if any(n == "file_row_number" for _, n, _ in columns):
            return self.stage_batches(name, batches())
        cols = ", ".join(
            f"CAST({_quote(src)} AS VARCHAR) AS {_quote(n)}" if as_text else f"{_quote(src)} AS {_quote(n)}"
            for src, n, as_text in columns)
        self.raw.execute(
            f"CREATE OR REPLACE TEMP VIEW {_quote(name)} AS SELECT CAST(file_row_number + 1 AS "
            f"BIGINT) AS row_number{', ' if cols else ''}{cols} FROM "
            f"read_parquet({_literal(path)}, file_row_number = true)")
        return self.con.table(name)

    def materialize(self, name: str, expr: ibis.Table) -> ibis.Table:
        self.raw.execute(f"CREATE OR REPLACE TEMP TABLE {_quote(name)} AS {self.sql(expr)}")
        return self.con.table(name)

    def drop_temporary(self, names: Iterable[str]) -> None:
        views = {r[0] for r in self.raw.execute(
            "SELECT view_name FROM duckdb_views() WHERE database_name = 'temp'").fetchall()}
        for n in names:
            kind = "VIEW" if n in views else "TABLE"
            self.raw.execute(f"DROP {kind} IF EXISTS temp.main.{_quote(n)}")

    def apply(self, writes: Sequence[Write]) -> None:
        # One transaction: a crash or Ctrl-C before COMMIT leaves the file as it was
        # (DuckDB replays only committed transactions from its write-ahead log).
        self.raw.execute("BEGIN TRANSACTION")
        try:
            for w in writes:
                self.raw.execute(self._statement(w))
            self.raw.execute("COMMIT")
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise

    def publish(self, derived: Sequence[tuple[str, Callable[[], ibis.Table]]],
                on_stored: Callable[[str], None] | None = None) -> None:
        # Each table is first written and committed under a staging name, then all are
        # swapped in by one transaction of renames (metadata only), so readers see all the
        # new tables or all the old ones. Building every table inside that one transaction
        # instead kept them all uncommitted in memory: 20.7 GB and 164 s for the marts of
        # 1M member-years, against 101 s when each is committed on its own.
        # Derived tables have no row order (readers order what they read), so DuckDB need
        # not keep the order rows are produced in: measured 10-20 % faster on large marts.
        self.raw.execute("SET preserve_insertion_order = false")
        self._disable_partitioned_execution()
        self._drop_staged()  # leftovers of an interrupted run
        staged: dict[str, str] = {}
        ahead: _CompileAhead | None = None
        try:
            ahead = _CompileAhead(self, derived)
            for name, expr, sql in ahead:
                stage = STAGE_PREFIX + name
                self.con._run_pre_execute_hooks(expr)  # its memtables, on this thread
                self.raw.execute(f"CREATE OR REPLACE TABLE {_quote(stage)} AS {sql}")
                staged[name] = stage
                if on_stored is not None:
                    on_stored(name)
            self.raw.execute("BEGIN TRANSACTION")
            try:
                for name, stage in staged.items():
                    self.raw.execute(f"DROP TABLE IF EXISTS {_quote(name)}")
                    self.raw.execute(f"ALTER TABLE {_quote(stage)} RENAME TO {_quote(name)}")
                self.raw.execute("COMMIT")
            except BaseException:
                self.raw.execute("ROLLBACK")
                raise
        finally:
            if ahead is not None:
                ahead.stop()
            # cleanup must not hide the error that brought us here
            with contextlib.suppress(duckdb.Error):
                self._drop_staged()
                self.raw.execute("RESET preserve_insertion_order")
                self.raw.execute("RESET disabled_optimizers")

    def _disable_partitioned_execution(self) -> None:
        # DuckDB 2.0's partitioned_execution optimizer splits a GROUP BY or window over a
        # column the table happens to be sorted by (claim_id, as loaded) into key ranges and
        # rescans the whole table once per range: six filtered scans of 47M claim lines for
        # acute_claims at 1M member-years (4.4 s, 1.7 s without it). No mart measured
        # faster with it. Skipped on a DuckDB that does not have the optimizer.
        known = self.raw.execute("SELECT count(*) FROM duckdb_optimizers() "
                                 "WHERE name = 'partitioned_execution'").fetchone()
        if known is not None and known[0]:
            self.raw.execute("SET disabled_optimizers = 'partitioned_execution'")

    def _drop_staged(self) -> None:
        rows = self.raw.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
            "AND starts_with(table_name, ?)", [STAGE_PREFIX]).fetchall()
        for (name,) in rows:
            self.raw.execute(f"DROP TABLE IF EXISTS {_quote(name)}")

    def derived_exists(self, name: str) -> bool:
        # (Ibis' list_tables does not run on DuckDB 2.0: STACK.md)
        # fetchall: DuckDB 2.0 refuses new work while a result is unfinished
        rows = self.raw.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
            [name]).fetchall()
        return name not in self.tables and rows[0][0] > 0

    def _statement(self, w: Write) -> str:
        target = _quote(w.table)
        if isinstance(w, Append):
            cols = ", ".join(_quote(c) for c in self.tables[w.table].column_names)
            return f"INSERT INTO {target} ({cols}) {self.sql(w.expr)}"
        if isinstance(w, DeleteMatching):
            cond = " AND ".join(
                f"{target}.{_quote(k)} IS NOT DISTINCT FROM _k.{_quote(k)}" for k in w.key_columns
            )
            return f"DELETE FROM {target} USING ({self.sql(w.keys)}) AS _k WHERE {cond}"
        if isinstance(w, DeleteWhereIn):
            if not w.values:
                return "SELECT 1"
            values = ", ".join(_literal(v) for v in w.values)
            return f"DELETE FROM {target} WHERE {_quote(w.column)} IN ({values})"
        raise TypeError(f"unknown write {w!r}")

    def checkpoint(self) -> None:
        self.raw.execute("CHECKPOINT")

    def close(self) -> None:
        self.con.disconnect()


class _CompileAhead:
    """The (name, expression, SQL) of each derived table of a `publish`, made and compiled
    in a thread while DuckDB runs the ones before: Ibis takes 0.1-0.3 s of Python per mart
    to build and compile, about 4 s for the 28 marts of `measure`, which DuckDB (it
    releases the GIL while a query runs) otherwise waited for.

    The thread never touches the connection: every existing table is looked up here
    first, and a table staged by this publish is read as an unbound table of the staging
    name with the schema of its expression. Memtables are registered by the caller, on
    its own thread, before each statement."""

    _DONE = object()

    def __init__(self, wh: DuckDBWarehouse,
                 derived: Sequence[tuple[str, Callable[[], ibis.Table]]]) -> None:
        self._wh = wh
        names = [r[0] for r in wh.raw.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main'").fetchall()]
        self._known = {n: wh.con.table(n) for n in names}
        self._planned: dict[str, ibis.Table] = {}
        self._items: queue.Queue[object] = queue.Queue()
        self._stopped = threading.Event()
        for name, _ in derived:
            if name in wh.tables:
                raise WarehouseError(f"{name} is a canonical table, not a derived one")
        self._derived = list(derived)
        wh._ahead = self
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def table(self, name: str) -> ibis.Table:
        if name in self._planned:
            return self._planned[name]
        if name in self._known:
            return self._known[name]
        raise WarehouseError(f"no table {name!r} in this warehouse")

    def _run(self) -> None:
        try:
            for name, make in self._derived:
                if self._stopped.is_set():
                    return
                expr = make()
                self._planned[name] = ibis.table(expr.schema(), name=STAGE_PREFIX + name)
                self._items.put((name, expr, str(self._wh.con.compile(expr))))
            self._items.put(self._DONE)
        except BaseException as exc:  # raised again on the publishing thread
            self._items.put(exc)

    def __iter__(self) -> Iterator[tuple[str, ibis.Table, str]]:
        while True:
            item = self._items.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield cast(tuple[str, ibis.Table, str], item)

    def stop(self) -> None:
        """No further tables (after an error, or at the end); `table` reads the connection
        again once the thread is done."""
        self._stopped.set()
        self._thread.join()
        self._wh._ahead = None
