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
    """Run `sql` with views `e` (eligibility), `p` (provider), `m` (medical claims), `r`
    (pharmacy claims) and `o` (observations) over the folder's files."""
    con = duckdb.connect()
    for view, name in (("e", "eligibility"), ("p", "provider"), ("m", "medical_claim"),
                       ("r", "pharmacy_claim"), ("o", "observation")):
        con.execute(f"create view {view} as select * from read_parquet('{folder}/{name}.parquet')")
    return con.execute(sql).fetchall()
