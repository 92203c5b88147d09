"""Apache Spark: the canonical tables as versioned Parquet folders and one catalog file.

Layout of a warehouse folder `root`::

    root/_catalog.json            {"format": 1, "tables": {name: version folder or null}}
    root/tables/<table>/<version>/  Parquet files written by Spark, never modified
    root/_staging/                temporary tables (stage_*, materialize) of the open warehouse
    root/_lock                    held (flock) while a warehouse object has the folder open

A commit (`apply`) writes a new version folder for every table it touches, makes those
files durable, and only then replaces `_catalog.json` in one `os.replace`: a crash at any
point before the replace leaves the old catalog, so the warehouse is unchanged, and the
half-written folders are orphans that the next open deletes. This is the same
stage-then-swap idea as Delta Lake or Iceberg, reduced to what one writer needs.

One writer at a time, like DuckDB: opening takes an exclusive lock on `root/_lock`, which
also makes the garbage collection of unreferenced folders safe (nobody else can be in the
middle of writing one).

Spark session: one local session per process (created lazily, or the active one reused,
e.g. a test suite's), and every warehouse works in its own `newSession()` of it, which
shares the JVM and SparkContext but has its own temporary views: two warehouses open in one
process (say two folders) cannot see each other's tables. With a Spark Connect URL the
warehouse gets its own Connect session; `root` must then be a path that the Connect
server and this process see alike (a shared filesystem), since the server writes the
table versions and this process writes staging files and the catalog.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import ibis
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from medsynergy.engine.base import Append, DeleteMatching, DeleteWhereIn, Warehouse, Write
from medsynergy.errors import EngineUnavailableError, WarehouseError
from medsynergy.schema import ALL_TABLES, Kind, Table

CATALOG = "_catalog.json"
CATALOG_FORMAT = 1
TABLES_DIR = "tables"
STAGING_DIR = "_staging"
LOCK = "_lock"

# The local session: 2 cores (this project's reference machine), 6 GiB for the driver,
# which in local mode is also the executor (a quarter of a 24 GiB box, leaving room for
# DuckDB and the Python side). Small shuffle partition counts: a load shuffles little data
# per job, and Spark's default of 200 partitions costs more in task scheduling than the
# work itself (adaptive execution, on by default, coalesces further). Static settings:
# they apply only when this module starts the JVM.
LOCAL_MASTER = "local[2]"
LOCAL_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "6g",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
}
# Runtime settings every warehouse session gets (they are per session, not per JVM).
# UTC: DuckDB runs with TimeZone=UTC too, and naive timestamps must not shift.
# TIMESTAMP_NTZ: `CAST(x AS TIMESTAMP)` in Ibis' SQL then means a naive timestamp, the
# type of DuckDB's TIMESTAMP, rather than an instant in the session time zone.
# ANSI mode stays at Spark 4's default (on): like DuckDB, an invalid cast or an overflow
# is an error rather than a silent null; the ingest parses text with TRY_CAST on both.
# Arrow for toPandas: Ibis' execute() goes through it (to_arrow here uses toArrow).
SESSION_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.execution.arrow.pyspark.fallback.enabled": "true",
}

SPARK_TYPES: dict[Kind, T.DataType] = {
    Kind.STRING: T.StringType(),
    Kind.DATE: T.DateType(),
    Kind.INTEGER: T.LongType(),
    Kind.MONEY: T.DecimalType(18, 2),
    Kind.QUANTITY: T.DecimalType(18, 3),
    # Naive, so a value reads back exactly as DuckDB's TIMESTAMP holds it.
    Kind.TIMESTAMP: T.TimestampNTZType(),
}

_session_lock = threading.Lock()
_open_roots: set[Path] = set()  # roots open in this process (flock does not guard threads)


def spark_struct(table: Table) -> T.StructType:
    """The Spark schema of a canonical table, derived from its column kinds."""
    return T.StructType([T.StructField(c.name, SPARK_TYPES[c.kind], True) for c in table.columns])


def local_session() -> SparkSession:
    """The process-wide local SparkSession: the active one if any, else a new one.

    A session this function starts is stopped when the interpreter exits; one that was
    already running belongs to its creator and is left alone.
    """
    with _session_lock:
        from pyspark import SparkContext

        if SparkContext._active_spark_context is not None:
            return SparkSession.active()
        builder = SparkSession.builder.appName("medsynergy")
        # Under spark-submit (which starts the JVM and hands the Python driver its gateway
        # port) the master, memory and partitions are the submitter's: only the runtime
        # settings results depend on are set. Elsewhere a local session of this machine.
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ
        conf = SESSION_CONF if submitted else {**LOCAL_CONF, **SESSION_CONF}
        if not submitted:
            builder = builder.master(LOCAL_MASTER)
        for key, value in conf.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # no Java, or the JVM failed to start
            raise EngineUnavailableError(f"cannot start a local Spark session: {exc}") from exc
        session.sparkContext.setLogLevel("ERROR")
        atexit.register(session.stop)
        return session


def _warehouse_session(remote: str | None) -> tuple[SparkSession, bool]:
    """A session of its own for one warehouse, and whether closing should stop it."""
    if remote is not None:
        try:
            # create(), not getOrCreate(): a fresh Connect session, so temporary views of
            # two warehouses (or of other code in this process) cannot collide.
            return SparkSession.builder.remote(remote).create(), True
        except Exception as exc:
            raise EngineUnavailableError(f"cannot connect to Spark at {remote}: {exc}") from exc
    # Shares the SparkContext; stopping it would stop the shared context, so never do.
    return local_session().newSession(), False


def _new_version() -> str:
    """A version folder name: sortable by time, unique."""
    return f"v{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:12]}"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    """Make a version folder durable before the catalog points at it."""
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            _fsync_file(Path(dirpath) / f)
        _fsync_file(Path(dirpath))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


class SparkWarehouse(Warehouse):
    engine = "spark"

    def __init__(self, root: str | Path, remote: str | None = None,
                 tables: Sequence[Table] = ALL_TABLES) -> None:
        super().__init__(tables)
        self.root = Path(root).absolute()
        self.remote = remote
        self._temporary: dict[str, Path] = {}  # temp view -> its staging file or folder
        self._row_counts: dict[str, int] = {}  # staged temp view -> rows written
        self._lock_file: IO[bytes] | None = None
        self._closed = False
        try:
            (self.root / TABLES_DIR).mkdir(parents=True, exist_ok=True)
            (self.root / STAGING_DIR).mkdir(exist_ok=True)
        except OSError as exc:
            raise WarehouseError(f"cannot create Spark warehouse folder {self.root}: {exc}") from exc
        self._lock()
        try:
            self._catalog = self._read_catalog()
            self._collect_garbage()
            self.session, self._owns_session = _warehouse_session(remote)
            for key, value in SESSION_CONF.items():
                if remote is not None and key.startswith("spark.sql.execution.arrow.pyspark"):
                    continue  # client-side PySpark settings; a Connect client always uses Arrow
                self.session.conf.set(key, value)
            self.con = ibis.pyspark.connect(self.session)
            for name in self.tables:
                self._register(name)
            for name, version in self._catalog.items():
                if name not in self.tables and version is not None:
                    self._register(name)  # derived tables (marts)
        except BaseException:
            self._unlock()
            raise

    # -- the folder: lock, catalog, garbage ----------------------------------------------
    def _lock(self) -> None:
        if self.root in _open_roots:
            raise WarehouseError(f"Spark warehouse {self.root} is already open in this process")
        f = (self.root / LOCK).open("a+b")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            f.close()
            raise WarehouseError(
                f"Spark warehouse {self.root} is in use by another process"
            ) from exc
        self._lock_file = f
        _open_roots.add(self.root)

    def _unlock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
            _open_roots.discard(self.root)

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG

    def _read_catalog(self) -> dict[str, str | None]:
        path = self.catalog_path
        if not path.exists():
            catalog: dict[str, str | None] = dict.fromkeys(self.tables)
            self._write_catalog(catalog)
            return catalog
        try:
            doc = orjson.loads(path.read_bytes())
            if doc.get("format") != CATALOG_FORMAT or not isinstance(doc.get("tables"), dict):
                raise ValueError(f"unknown catalog format {doc.get('format')!r}")
            tables: dict[str, str | None] = {str(k): (None if v is None else str(v))
                                             for k, v in doc["tables"].items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise WarehouseError(f"unreadable Spark catalog {path}: {exc}") from exc
        for name, version in tables.items():
            if version is not None and not self._version_dir(name, version).is_dir():
                raise WarehouseError(
                    f"Spark catalog {path} names {name} version {version}, which is missing"
                )
        # Tables new in this release start empty; entries of unknown tables are kept.
        return {**dict.fromkeys(self.tables), **tables}

    def _write_catalog(self, catalog: dict[str, str | None]) -> None:
        """Replace the catalog atomically: temp file in the same folder, fsync, rename."""
        doc = {"format": CATALOG_FORMAT, "written_at": datetime.now(UTC).isoformat(),
               "tables": catalog}
        tmp = self.root / f".{CATALOG}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("wb") as f:
                f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.catalog_path)
            # The rename itself is durable only once the folder is.
            _fsync_file(self.root)
        except BaseException:
            _remove(tmp)
            raise

    def _version_dir(self, name: str, version: str) -> Path:
        return self.root / TABLES_DIR / name / version

    def _collect_garbage(self) -> None:
        """Delete what the catalog does not reference: superseded or half-written versions,
        staging files of crashed runs and of temporary tables already dropped."""
        for table_dir in (self.root / TABLES_DIR).iterdir():
            if not table_dir.is_dir():
                continue
            current = self._catalog.get(table_dir.name)
            for version_dir in table_dir.iterdir():
                if version_dir.name != current:
                    _remove(version_dir)
        live = set(self._temporary.values())
        for entry in (self.root / STAGING_DIR).iterdir():
            if entry not in live:
                _remove(entry)
        for tmp in self.root.glob(f".{CATALOG}.*.tmp"):
            _remove(tmp)

    # -- reading -----------------------------------------------------------------------
    def _current(self, name: str) -> DataFrame:
        """The committed contents of table `name`, read with its canonical schema (a
        derived table, which has none, with the schema its files carry)."""
        version = self._catalog.get(name)
        if name not in self.tables:
            if version is None:
                raise WarehouseError(f"no derived table {name}; run `medsynergy measure`")
            return self.session.read.parquet(str(self._version_dir(name, version)))
        struct = spark_struct(self.tables[name])
        if version is None:
            return self.session.createDataFrame([], struct)
        return self.session.read.schema(struct).parquet(str(self._version_dir(name, version)))

    def _register(self, name: str) -> None:
        self._current(name).createOrReplaceTempView(name)

    def table(self, name: str) -> ibis.Table:
        return self.con.table(name)

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        if not isinstance(expr, ibis.Table):
            return super().to_arrow(expr)
        # Spark's own Arrow collection: exact decimals and no detour through pandas (Ibis'
        # to_pyarrow goes through toPandas). Cast to the types Ibis promises, which can
        # be wider than Spark's (SUM of DECIMAL(18,2) is DECIMAL(28,2) on Spark, (38,2) in
        # Ibis) or differ in kind (DATE_TRUNC on a date returns a timestamp on Spark).
        schema = expr.schema().to_pyarrow()
        data = self.dataframe(expr).toArrow()
        return data.rename_columns(schema.names).cast(schema)

    def scalar(self, expr: ibis.Scalar) -> object:
        return self.to_arrow(expr.as_table()).column(0)[0].as_py()

    def count(self, name: str) -> int:
        # Staged Arrow data was counted while it was written: no Spark job needed.
        known = self._row_counts.get(name)
        return known if known is not None else super().count(name)

    def sql(self, expr: ibis.Expr) -> str:
        return str(self.con.compile(expr))

    def dataframe(self, expr: ibis.Table) -> DataFrame:
        """`expr` as a lazy Spark DataFrame (in-memory tables it uses are registered first)."""
        self.con._run_pre_execute_hooks(expr)
        return self.session.sql(self.sql(expr))

    # -- temporary tables --------------------------------------------------------------
    def _staging_path(self, name: str, suffix: str) -> Path:
        # A fresh path on every call: the previous contents of `name` may be what the new
        # contents are computed from, so they cannot be overwritten in place. The "t"
        # prefix: Spark skips files whose names start with "_" or "." as hidden, and the
        # ingest's temporary names start with "_".
        return self.root / STAGING_DIR / f"t{uuid.uuid4().hex[:12]}_{name}{suffix}"

    def _register_temporary(self, name: str, df: DataFrame, path: Path) -> ibis.Table:
        df.createOrReplaceTempView(name)
        self._row_counts.pop(name, None)
        old = self._temporary.get(name)
        self._temporary[name] = path
        if old is not None:
            _remove(old)
        return self.con.table(name)

    def stage_batches(self, name: str, batches: pa.RecordBatchReader) -> ibis.Table:
        self._check_temporary_name(name)
        path = self._staging_path(name, ".parquet")
        rows = 0
        try:
            # Streamed batch by batch: memory stays at one batch whatever the file size.
            with pq.ParquetWriter(str(path), batches.schema) as writer:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
        except BaseException:
            _remove(path)
            raise
        table = self._register_temporary(name, self.session.read.parquet(str(path)), path)
        self._row_counts[name] = rows
        return table

    def materialize(self, name: str, expr: ibis.Table) -> ibis.Table:
        self._check_temporary_name(name)
        path = self._staging_path(name, "")
        df = self.dataframe(expr)
        try:
            df.write.mode("error").parquet(str(path))
        except BaseException:
            _remove(path)
            raise
        # Read back from the files, not the query: the result must not change when a
        # table the query read is rewritten later (base.Warehouse.materialize).
        stored = self.session.read.schema(df.schema).parquet(str(path))
        return self._register_temporary(name, stored, path)

    def _check_temporary_name(self, name: str) -> None:
        if name in self.tables:
            raise WarehouseError(f"{name} is a warehouse table, not a temporary name")

    def drop_temporary(self, names: Iterable[str]) -> None:
        for name in names:
            path = self._temporary.pop(name, None)
            self._row_counts.pop(name, None)
            if path is None:
                continue
            self.session.catalog.dropTempView(name)
            _remove(path)

    # -- writing -----------------------------------------------------------------------
    def apply(self, writes: Sequence[Write]) -> None:
        if not writes:
            return
        for w in writes:
            if w.table not in self.tables:
                raise WarehouseError(f"no warehouse table {w.table}")
        pending: dict[str, DataFrame] = {}
        try:
            for w in writes:
                df = pending.get(w.table)
                if df is None:
                    df = self.session.table(w.table)
                # Later writes that read this table by name see it with this write done,
                # as they would inside one DuckDB transaction.
                self._step(df, w).createOrReplaceTempView(w.table)
                # The view, not the step's DataFrame: a view is resolved when created, while
                # a Spark Connect DataFrame is a plan resolved only when run, and its
                # reference to the table by name would then read this very view (the
                # appended rows twice).
                pending[w.table] = self.session.table(w.table)
            written = self._write_versions(pending)
            catalog = {**self._catalog, **written}
            for name, version in written.items():
                _fsync_tree(self._version_dir(name, version))
            self._write_catalog(catalog)  # the commit point
        except BaseException:
            self._recover(pending)
            raise
        self._catalog = catalog
        for name in pending:
            self._register(name)
        self._collect_garbage()

    def publish(self, derived: Sequence[tuple[str, Callable[[], ibis.Table]]],
                on_stored: Callable[[str], None] | None = None) -> None:
        written: dict[str, str] = {}
        try:
            for name, make in derived:
                if name in self.tables:
                    raise WarehouseError(f"{name} is a canonical table, not a derived one")
                version = _new_version()
                path = self._version_dir(name, version)
                path.parent.mkdir(parents=True, exist_ok=True)
                self.dataframe(make()).write.mode("error").parquet(str(path))
                written[name] = version
                _fsync_tree(path)
                # later marts read this version by name
                self.session.read.parquet(str(path)).createOrReplaceTempView(name)
                if on_stored is not None:
                    on_stored(name)
            catalog = {**self._catalog, **written}
            self._write_catalog(catalog)  # the commit point
        except BaseException:
            self._recover(written)
            raise
        self._catalog = catalog
        self._collect_garbage()

    def _recover(self, names: Iterable[str]) -> None:
        """After a failed write: the catalog on disk is the truth (normally still the old
        one, or the new one if the interruption came just after the swap); version folders
        it does not name are orphans; the views of `names` go back to what it names."""
        with contextlib.suppress(Exception):
            self._catalog = self._read_catalog()
            self._collect_garbage()
            for name in names:
                if name in self.tables or self._catalog.get(name) is not None:
                    self._register(name)
                else:  # a derived table that never existed before this write
                    self.session.catalog.dropTempView(name)

    def derived_exists(self, name: str) -> bool:
        return name not in self.tables and self._catalog.get(name) is not None

    def _step(self, df: DataFrame, w: Write) -> DataFrame:
        if isinstance(w, Append):
            added = self.dataframe(w.expr)
            return df.unionByName(self._conform(added, w.table))
        if isinstance(w, DeleteMatching):
            # Key columns renamed on the keys side: the keys may derive from this very
            # table, and a self-join on identical column lineage is ambiguous in Spark.
            renamed = [f"_key_{i}" for i in range(len(w.key_columns))]
            keys = self.dataframe(w.keys).select(
                *(F.col(k).alias(r) for k, r in zip(w.key_columns, renamed, strict=True))
            )
            cond: SparkColumn | None = None
            for k, r in zip(w.key_columns, renamed, strict=True):
                eq = df[k].eqNullSafe(keys[r])  # IS NOT DISTINCT FROM, as DuckDB's DELETE
                cond = eq if cond is None else cond & eq
            return df.join(keys, on=cond, how="left_anti")
        if isinstance(w, DeleteWhereIn):
            if not w.values:
                return df
            # SQL DELETE removes rows where the predicate is true: a null value stays.
            hit = F.coalesce(F.col(w.column).isin(list(w.values)), F.lit(False))
            return df.filter(~hit)
        raise TypeError(f"unknown write {w!r}")

    def _conform(self, df: DataFrame, name: str) -> DataFrame:
        struct = spark_struct(self.tables[name])
        return df.select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in struct.fields))

    def _write_versions(self, pending: dict[str, DataFrame]) -> dict[str, str]:
        # One after the other: writing them from several threads was measured no faster
        # on 2 cores, and a fixed order keeps failures reproducible.
        return {name: self._write_version(name, df) for name, df in pending.items()}

    def _write_version(self, name: str, df: DataFrame) -> str:
        """Write `df` as a new version folder of `name`; returns the version id."""
        version = _new_version()
        path = self._version_dir(name, version)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conform(df, name).write.mode("error").parquet(str(path))
        return version

    def versions(self) -> dict[str, str | None]:
        """The current version folder of every table (None: never written)."""
        return dict(self._catalog)

    # -- closing -----------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.drop_temporary(list(self._temporary))
            for name in self.tables:
                with contextlib.suppress(Exception):
                    self.session.catalog.dropTempView(name)
            if self._owns_session:
                self.session.stop()
        finally:
            self._unlock()

    def export_parquet(self, name: str, path: str | Path, partition_by: str | None = None
                       ) -> None:
        """Write the current rows of table `name` as Parquet files into the new folder
        `path`, split into Hive-style `<partition_by>=<value>/` folders when given
        (`medsynergy.export`: `--out-parquet`). Decimals stay decimals."""
        writer = self.session.table(name).write.mode("error")
        if partition_by is not None:
            writer = writer.partitionBy(partition_by)
        writer.parquet(str(path))
