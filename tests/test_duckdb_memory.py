"""DuckDB's memory limit: a share of physical memory unless $MEDSYNERGY_MEMORY_LIMIT says
otherwise (issue "Scale": DuckDB's own 80 % default let a 1M-member contract comparison
reach 17.8 GiB without being faster)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from medsynergy.engine.duckdb_engine import MEMORY_SHARE, DuckDBWarehouse, memory_limit

TENTH_GIB = (1 << 30) // 10


def _setting(wh: DuckDBWarehouse) -> int:
    # DuckDB reports the limit rounded to a tenth of its unit (e.g. "5.8 GiB"): in bytes
    value = wh.raw.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = value.split(" ")
    scale = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}[unit]
    return int(float(number) * scale)


def test_the_default_is_a_share_of_physical_memory(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDSYNERGY_MEMORY_LIMIT", raising=False)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    expected_mb = max(1 << 30, int(total * MEMORY_SHARE)) >> 20
    assert memory_limit() == f"{expected_mb}MiB"
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    try:
        assert abs(_setting(wh) - expected_mb * (1 << 20)) <= TENTH_GIB
    finally:
        wh.close()


def test_the_environment_sets_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEDSYNERGY_MEMORY_LIMIT", "1536MiB")
    assert memory_limit() == "1536MiB"
    wh = DuckDBWarehouse(tmp_path / "w.duckdb")
    try:
        assert abs(_setting(wh) - 1536 * (1 << 20)) <= TENTH_GIB
    finally:
        wh.close()
