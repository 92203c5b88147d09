"""Round trip (issue "FHIR R4 and CMS formats in", acceptance): a Synthea population loaded
from FHIR, and the same population exported as input-layer files and loaded again, give
identical marts. Also: every mart runs on the loaded Synthea data, and the figures the issue
names (PMPM by payer, inpatient stays, readmissions, medication use) come out of it.

A sample of the SMART Synthea bundles (every 20th patient, plus the practitioner and
hospital information bundles their references resolve against) keeps the test to seconds.
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
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


def _raw_sample(folder: Path) -> dict[str, Any]:
    """What the sample's bundles say, read independently (json + Decimal): each EOB's
    payment rounded once to the cent (the warehouse keeps cents), per payer; the inpatient
    (class IMP) encounters; the patients."""
    paid: dict[str, Decimal] = {}
    imp = patients = fills = 0
    for f in sorted(folder.glob("*.json.gz")):
        bundle = json.loads(gzip.decompress(f.read_bytes()), parse_float=Decimal)
        for e in bundle.get("entry", ()):
            r = e["resource"]
            if r["resourceType"] == "ExplanationOfBenefit":
                payer = r["insurer"]["display"]
                amount = Decimal(r["payment"]["amount"]["value"]).quantize(
                    Decimal("0.01"), ROUND_HALF_UP)
                paid[payer] = paid.get(payer, Decimal(0)) + amount
            elif r["resourceType"] == "Encounter" and r["class"]["code"] == "IMP":
                imp += 1
            elif r["resourceType"] == "Patient":
                patients += 1
            elif r["resourceType"] == "Claim" and "prescription" in r:
                fills += 1
    return {"paid": paid, "imp": imp, "patients": patients, "fills": fills}


def test_the_loaded_synthea_sample_feeds_the_marts(from_fhir: Warehouse, sample: Path) -> None:
    raw = _raw_sample(sample)
    assert raw["patients"] == 31  # every 20th of the 615 patients
    # every EOB's payment is on the claim lines, by payer, to the cent
    by_payer = dict(_rows(from_fhir, "SELECT payer, sum(paid_amount) FROM medical_claim "
                                     "GROUP BY payer"))
    assert by_payer == raw["paid"]
    # the eligibility spans derived from the claims cover every claim: the PMPM mart by
    # payer holds every dollar, and nothing is costed outside enrollment
    totals = dict(_rows(from_fhir, "SELECT payer, sum(paid_amount) FROM cost_totals "
                                   "GROUP BY payer"))
    assert totals == raw["paid"]
    assert _rows(from_fhir, "SELECT count(*) FROM cost_outside_enrollment") == [(0,)]
    months = _rows(from_fhir, "SELECT count(*) FROM member_months WHERE payer IS NULL")
    assert months == [(0,)]
    # every inpatient encounter is an acute stay (bill type 111 derived from class IMP),
    # and every stay is in the readmissions mart
    assert _rows(from_fhir, "SELECT count(*) FROM inpatient_stays") == [(raw["imp"],)]
    assert _rows(from_fhir, "SELECT count(*) FROM readmissions") == [(raw["imp"],)]
    assert _rows(from_fhir, "SELECT count(*) FROM encounter WHERE encounter_class_code = 'IMP'"
                 ) == [(raw["imp"],)]
    # medication use: every pharmacy Claim is a fill in the cost mart's pharmacy category
    assert _rows(from_fhir, "SELECT sum(claim_lines) FROM cost WHERE service_category = "
                            "'pharmacy'") == [(raw["fills"],)]
