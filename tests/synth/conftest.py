"""Shared generated populations: generating 20k members takes about a second."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from medsynergy.synth import generate

YEARS = (2023, 2025)


@pytest.fixture(scope="session")
def medicare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("medicare")
    generate(out, members=20_000, years=YEARS, seed=11)
    return out


@pytest.fixture(scope="session")
def mixed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mixed")
    generate(out, members=5_000, years=YEARS, seed=12, population="mixed")
    return out


def query(folder: Path, sql: str) -> list[tuple[object, ...]]:
    """Run `sql` with views `e` (eligibility) and `p` (provider) over the folder's files."""
    con = duckdb.connect()
    con.execute(f"create view e as select * from read_parquet('{folder}/eligibility.parquet')")
    con.execute(f"create view p as select * from read_parquet('{folder}/provider.parquet')")
    return con.execute(sql).fetchall()
