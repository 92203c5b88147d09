"""The warehouse over an Ibis backend: DuckDB (default) or Apache Spark."""

from __future__ import annotations

import os
from pathlib import Path

from medsynergy.engine.base import Append, DeleteMatching, DeleteWhereIn, Warehouse, Write
from medsynergy.errors import ConfigError

DEFAULT_DB = "medsynergy.duckdb"
ENGINES = ("duckdb", "spark")


def default_db_path() -> str:
    return os.environ.get("MEDSYNERGY_DB", DEFAULT_DB)


def connect(db: str | Path | None = None, engine: str = "duckdb", *,
            spark_remote: str | None = None, read_only: bool = False) -> Warehouse:
    """Open (creating if needed) the warehouse at `db` on `engine`.

    DuckDB: `db` is the database file. Spark: `db` is a folder of Parquet table versions
    (default: the DuckDB path with `.spark` in place of its suffix).
    """
    path = Path(db if db is not None else default_db_path())
    if engine == "duckdb":
        from medsynergy.engine.duckdb_engine import DuckDBWarehouse

        return DuckDBWarehouse(path, read_only=read_only)
    if engine == "spark":
        from medsynergy.engine.spark_engine import SparkWarehouse

        root = path if path.suffix in ("", ".spark") else path.with_suffix(".spark")
        return SparkWarehouse(root, remote=spark_remote)
    raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")


__all__ = [
    "DEFAULT_DB",
    "ENGINES",
    "Append",
    "DeleteMatching",
    "DeleteWhereIn",
    "Warehouse",
    "Write",
    "connect",
    "default_db_path",
]
