"""A generated folder loads with `medsynergy ingest` without one quarantined row or finding."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import medsynergy


@pytest.mark.parametrize("which", ["medicare_dir", "mixed_dir"])
def test_generated_folder_loads_clean(which: str, request: pytest.FixtureRequest,
                                      tmp_path: Path) -> None:
    folder: Path = request.getfixturevalue(which)
    with medsynergy.connect(str(tmp_path / "wh.duckdb")) as wh:
        results = medsynergy.ingest_paths(wh, [folder], source="synthetic")
        assert sorted(r.target_table for r in results) == [
            "eligibility", "medical_claim", "observation", "pharmacy_claim", "provider"]
        for r in results:
            assert r.status == "loaded", r.message
            assert r.rows_quarantined == 0, r.quarantined_by_rule
            assert r.findings == 0, r.findings_by_rule  # every NPI passes the Luhn check
            expected = pq.read_metadata(folder / f"{r.target_table}.parquet").num_rows
            assert r.rows_in == r.rows_loaded == expected
        assert wh.count("eligibility") == pq.read_metadata(folder / "eligibility.parquet").num_rows
