"""The warehouse: one small interface over an Ibis backend (DuckDB by default, or Spark).

Everything above this layer builds Ibis expressions, which compile to either engine, so
there is one definition of every rule. An engine adds only what differs between them:
staging Arrow data, materialising an intermediate result, and applying a list of writes
atomically (DuckDB: one transaction; Spark: new table versions, then one catalog swap).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import pyarrow as pa

from medsynergy.schema import ALL_TABLES, Table


@dataclass(frozen=True)
class Append:
    """Insert the rows of `expr` (which has exactly the table's columns) into `table`."""

    table: str
    expr: ibis.Table


@dataclass(frozen=True)
class DeleteMatching:
    """Delete the rows of `table` whose `key_columns` equal a row of `keys`.

    Null-safe equality (IS NOT DISTINCT FROM): an optional key column such as `plan`
    may be null and still identify a row.
    """

    table: str
    keys: ibis.Table
    key_columns: tuple[str, ...]


@dataclass(frozen=True)
class DeleteWhereIn:
    """Delete the rows of `table` whose `column` is one of `values`."""

    table: str
    column: str
    values: tuple[str, ...]


Write = Append | DeleteMatching | DeleteWhereIn


class Warehouse(abc.ABC):
    """The canonical tables on one engine. Construct with `medsynergy.engine.connect`."""

    engine: str
    con: ibis.BaseBackend

    def __init__(self, tables: Sequence[Table] = ALL_TABLES) -> None:
        self.tables = {t.name: t for t in tables}

    # -- reading ---------------------------------------------------------------------
    @abc.abstractmethod
    def table(self, name: str) -> ibis.Table:
        """The current contents of a warehouse or staged table."""

    def to_arrow(self, expr: ibis.Expr) -> pa.Table:
        result = expr.to_pyarrow()
        return result if isinstance(result, pa.Table) else pa.table({"value": [result]})

    def scalar(self, expr: ibis.Scalar) -> Any:
        return expr.to_pyarrow().as_py()

    def count(self, name: str) -> int:
        return int(self.scalar(self.table(name).count()))

    def schema_of(self, name: str) -> Table:
        return self.tables[name]

    # -- writing ---------------------------------------------------------------------
    @abc.abstractmethod
    def stage_batches(self, name: str, batches: pa.RecordBatchReader) -> ibis.Table:
        """Copy streamed Arrow batches into a temporary table called `name`."""

    def stage_parquet(self, name: str, path: str, columns: Sequence[tuple[str, str, bool]],
                      batches: Callable[[], pa.RecordBatchReader]) -> ibis.Table:
        """A Parquet file as the temporary table `name`: row_number (1, 2, ... in file
        order), then each (file column, name, as_text) column, cast to text when as_text.

        By default the file is copied through `batches` (which yields exactly that); an
        engine that reads Parquet itself may instead define a view over the file, which
        saves copying a large file once more."""
        del path, columns
        return self.stage_batches(name, batches())

    def stage_arrow(self, name: str, data: pa.Table) -> ibis.Table:
        return self.stage_batches(name, pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))

    @abc.abstractmethod
    def materialize(self, name: str, expr: ibis.Table) -> ibis.Table:
        """Compute `expr` once into a temporary table `name`, which later steps read.

        Results are fixed at this point: a later write to a table `expr` read does not
        change them (the writes of one load are computed first, then applied).
        """

    @abc.abstractmethod
    def drop_temporary(self, names: Iterable[str]) -> None:
        """Forget temporary tables made by stage_* and materialize."""

    @abc.abstractmethod
    def apply(self, writes: Sequence[Write]) -> None:
        """Apply the writes in order, atomically: all of them or none."""

    @abc.abstractmethod
    def publish(self, derived: Sequence[tuple[str, Callable[[], ibis.Table]]],
                on_stored: Callable[[str], None] | None = None) -> None:
        """Compute and store derived tables (marts) in order, atomically: an expression may
        read (through `table`) the derived tables listed before it; readers see either all
        the new versions or all the old ones. `on_stored(name)` is called as each table is
        written (before the swap that publishes them all)."""

    @abc.abstractmethod
    def derived_exists(self, name: str) -> bool:
        """Whether a derived table `name` has been published."""

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers shared by the engines --------------------------------------------------
    def empty(self, name: str) -> ibis.Table:
        """An empty relation with the canonical columns of `name` (for unions)."""
        return self.table(name).limit(0)

    def conform(self, expr: ibis.Table, name: str) -> ibis.Table:
        """`expr` with exactly the columns of table `name`, in order and of its types."""
        schema = self.tables[name]
        cols = []
        for c in schema.columns:
            if c.name in expr.columns:
                cols.append(expr[c.name].cast(c.ibis_type).name(c.name))
            else:
                cols.append(ibis.null(c.ibis_type).name(c.name))
        return expr.select(cols)
