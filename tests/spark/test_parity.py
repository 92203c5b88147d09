"""Spark parity: the same files loaded on DuckDB and on Spark give the same warehouse.

One load of every input file on each engine (module fixture), then table-by-table
comparisons; then the Spark engine's own guarantees: idempotent re-load, `replace`, and
atomic commits (a failed write leaves every table and the catalog as they were).
Spark jobs cost ~0.3 s each even on tiny data, so the scenarios share warehouses.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyspark
import pytest

import medsynergy
from medsynergy.engine import Warehouse
from medsynergy.engine.duckdb_engine import DuckDBWarehouse
from medsynergy.engine.spark_engine import CATALOG, STAGING_DIR, TABLES_DIR, SparkWarehouse
from medsynergy.ingest.formats.load import ingest_format
from medsynergy.marts import claims_by_month
from medsynergy.schema import ALL_TABLES

pytestmark = pytest.mark.spark

# Columns that legitimately differ between two loads of the same file.
VOLATILE = ("load_id", "ingest_datetime", "started_at", "finished_at", "file_name", "loaded_at")
# eligibility_2 is a later file for keys of eligibility (some with a null plan): rows of
# tables without version columns are replaced by a later load.
LOAD_ORDER = ("eligibility", "medical_claim", "medical_claim_2", "pharmacy_claim", "provider",
              "eligibility_2", "observation", "observation_2")


def _source(key: str) -> str | None:
    return None if key == "provider" else "feed_a"  # provider.csv has a data_source column


# Messages about tables without version columns name the load time (the version of a row).
LOAD_TIME = re.compile(r"ingest_datetime=\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b")


def _stable(value: Any) -> Any:
    return LOAD_TIME.sub("ingest_datetime=<load time>", value) if isinstance(value, str) else value


def _sort_key(row: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    # A total order over all columns; None sorts last in each column.
    return tuple((True, 0) if v is None else (False, v) for v in row)


def rows_of(wh: Warehouse, name: str) -> tuple[pa.Schema, list[tuple[Any, ...]]]:
    data = wh.to_arrow(wh.table(name))
    data = data.drop_columns([c for c in VOLATILE if c in data.column_names])
    rows = [tuple(_stable(v) for v in r.values()) for r in data.to_pylist()]
    return data.schema, sorted(rows, key=_sort_key)


def load_all(wh: Warehouse, files: dict[str, Path]) -> list[medsynergy.LoadResult]:
    return [medsynergy.ingest_file(wh, files[k], source=_source(k)) for k in LOAD_ORDER]


def _fhir_export(folder: Path) -> Path:
    """A small Bulk Data export: every clinical resource type, a claim, and a bad line, so
    the clinical tables, source_log and conversion quarantine are compared too."""
    patient = {"reference": "Patient/p1"}
    enc = {"reference": "Encounter/e1"}
    code = {"coding": [{"system": "http://snomed.info/sct", "code": "44054006",
                        "display": "Diabetes"}]}
    resources = {
        "Patient": [{"resourceType": "Patient", "id": "p1", "gender": "female",
                     "birthDate": "1950-02-03"}],
        "Encounter": [
            {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": patient,
             "class": {"code": "IMP"}, "period": {"start": "2024-03-01T08:00:00Z",
                                                  "end": "2024-03-04T10:00:00Z"}},
            {"resourceType": "Encounter", "id": "e2", "status": "finished", "subject": patient,
             "class": {"code": "AMB"}, "period": {"start": "2024-04-02T08:00:00Z"}}],
        "Condition": [{"resourceType": "Condition", "id": "c1", "subject": patient,
                       "encounter": enc, "code": code, "recordedDate": "2024-03-01"}],
        "Procedure": [{"resourceType": "Procedure", "id": "x1", "subject": patient,
                       "encounter": enc, "code": code, "performedDateTime": "2024-03-02"}],
        "MedicationRequest": [{"resourceType": "MedicationRequest", "id": "m1",
                               "subject": patient, "authoredOn": "2024-03-04",
                               "status": "active", "intent": "order",
                               "medicationCodeableConcept": {"coding": [{
                                   "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                   "code": "860975"}]}}],
        "Observation": [{"resourceType": "Observation", "id": "o1", "status": "final",
                         "subject": patient, "code": {"coding": [
                             {"system": "http://loinc.org", "code": "4548-4"}]},
                         "effectiveDateTime": "2024-03-02",
                         "valueQuantity": {"value": 7.25, "unit": "%"}}],
        "CarePlan": [{"resourceType": "CarePlan", "id": "cp1", "status": "active",
                      "intent": "plan", "subject": patient, "period": {"start": "2024-03-04"},
                      "careTeam": [{"reference": "CareTeam/t1"}]}],
        "CareTeam": [{"resourceType": "CareTeam", "id": "t1", "status": "active",
                      "subject": patient, "period": {"start": "2024-03-04"},
                      "participant": [
                          {"role": [code], "member": {"reference": "Practitioner/d1"}},
                          {"member": {"reference": "Organization/o9"}}]}],
    }
    out = folder / "fhir"
    out.mkdir()
    for rtype, items in resources.items():
        lines = [json.dumps(r) for r in items]
        if rtype == "Condition":
            lines.append('{"resourceType": "Condition", "id": "broken"')  # quarantined
        (out / f"{rtype}.000.ndjson").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def loaded(spark_session: object, input_files: dict[str, Path],
           tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[DuckDBWarehouse, SparkWarehouse, list[Any], list[Any]]]:
    folder = tmp_path_factory.mktemp("parity")
    duck = DuckDBWarehouse(folder / "wh.duckdb")
    spark = SparkWarehouse(folder / "wh.spark")
    try:
        duck_results = load_all(duck, input_files)
        spark_results = load_all(spark, input_files)
        export = _fhir_export(folder)
        for wh in (duck, spark):
            got = ingest_format(wh, [export], source="feed_f", source_format="fhir", workers=1)
            assert (got.records_in, got.quarantined) == (10, 1)
        yield duck, spark, duck_results, spark_results
    finally:
        spark.close()
        duck.close()


def test_load_results_match(loaded: tuple[Any, ...]) -> None:
    _, _, duck_results, spark_results = loaded
    for d, s in zip(duck_results, spark_results, strict=True):
        d_fields, s_fields = asdict(d), asdict(s)
        d_fields.pop("load_id"), s_fields.pop("load_id")
        assert s_fields == d_fields
        assert s.reconciles
    # The fixture exercises what it claims to: every error rule of each kind fired.
    quarantined = set().union(*(r.quarantined_by_rule for r in duck_results))
    assert quarantined == {
        "amount_unparsable", "claim_end_before_start", "discharge_before_admission",
        "duplicate_key", "duplicate_row", "enrollment_end_before_start", "required_missing",
        "required_unparsable",
    }
    warned = set().union(*(r.findings_by_rule for r in duck_results))
    assert warned == {
        "adjustment_type_unknown", "amount_rounded", "diagnosis_code_shape", "ndc_invalid",
        "negative_paid_amount", "npi_invalid", "procedure_code_shape", "value_unparsable",
    }


# Tables the input files leave empty on purpose (no superseded provider rows, nor second
# versions of clinical records).
EMPTY = {"provider_superseded", "encounter_superseded", "condition_superseded",
         "procedure_superseded", "medication_superseded", "care_plan_superseded",
         "care_team_superseded"}


@pytest.mark.parametrize("name", [t.name for t in ALL_TABLES])
def test_table_identical(loaded: tuple[Any, ...], name: str) -> None:
    duck, spark, _, _ = loaded
    d_schema, d_rows = rows_of(duck, name)
    s_schema, s_rows = rows_of(spark, name)
    assert s_schema == d_schema
    assert (len(d_rows) == 0) == (name in EMPTY)
    assert s_rows == d_rows


def test_spot_values(loaded: tuple[Any, ...]) -> None:
    """A few values checked by hand, so that parity is not parity of two wrong answers."""
    _, spark, _, _ = loaded
    claims = spark.to_arrow(spark.table("medical_claim")).to_pylist()
    by_id = {(r["claim_id"], r["claim_line_number"]): r for r in claims}
    assert by_id[("C1", 1)]["paid_amount"] == Decimal("115.00")  # the Parquet file's adjustment
    assert ("C1", 2) not in by_id  # reversed
    assert ("C2", 1) not in by_id
    assert by_id[("C3", 1)]["paid_amount"] == Decimal("30.00")  # highest adjustment sequence
    assert by_id[("W6", 1)]["paid_amount"] == Decimal("10.01")  # rounded half away from zero
    assert by_id[("W6", 1)]["allowed_amount"] == Decimal("-0.13")
    assert by_id[("W9", 1)]["service_unit_quantity"] == Decimal("2.001")
    assert by_id[("W3", 1)]["diagnosis_code_1"] == "25000"
    assert by_id[("C7", 1)]["paid_amount"] == Decimal("70.00")  # a null paid date is oldest
    ndc = {r["claim_id"]: r["ndc_code"] for r in spark.to_arrow(spark.table("pharmacy_claim")).to_pylist()}
    assert {ndc[k] for k in ("R1", "R2", "R3", "R4", "R5", "R8")} == {"00093014901"}
    # Null-safe key match: P2's span (plan null) was replaced by the later file, not doubled.
    p2 = [r for r in spark.to_arrow(spark.table("eligibility")).to_pylist() if r["person_id"] == "P2"]
    assert [(r["plan"], r["gender"]) for r in p2] == [(None, "male")]


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_load_times_are_naive_utc(loaded: tuple[Any, ...], engine: str) -> None:
    """Timestamps are stored as written, on both engines: no time-zone shift."""
    wh = loaded[0] if engine == "duckdb" else loaded[1]
    log = wh.to_arrow(wh.table("load_log")).to_pylist()
    started = {r["load_id"]: r["started_at"] for r in log}
    for load_id, at in started.items():
        assert load_id[1:15] == f"{at:%Y%m%d%H%M%S}"  # load ids embed their start time
    rows = wh.to_arrow(wh.table("medical_claim").select("load_id", "ingest_datetime").distinct())
    for r in rows.to_pylist():
        assert r["ingest_datetime"] == started[r["load_id"]]


def test_mart_identical(loaded: tuple[Any, ...]) -> None:
    duck, spark, _, _ = loaded
    d = duck.to_arrow(claims_by_month(duck.table("medical_claim")))
    s = spark.to_arrow(claims_by_month(spark.table("medical_claim")))
    assert s.schema == d.schema
    assert s.to_pylist() == d.to_pylist()  # ordered, exact decimals
    assert d.num_rows > 3


def test_published_marts_identical(loaded: tuple[Any, ...]) -> None:
    """Derived tables are stored by both engines; a later one reads an earlier one."""
    duck, spark, _, _ = loaded
    for wh in (duck, spark):
        wh.publish([
            ("t_month", lambda wh=wh: claims_by_month(wh.table("medical_claim"))),
            ("t_payer", lambda wh=wh: wh.table("t_month").group_by("payer").aggregate(
                paid=wh.table("t_month").paid_amount.sum(), rows=wh.table("t_month").count())),
        ])
        assert wh.derived_exists("t_month")
        assert wh.derived_exists("t_payer")
        assert not wh.derived_exists("medical_claim")
    d = sorted(rows_of_expr(duck, duck.table("t_payer")), key=str)
    assert sorted(rows_of_expr(spark, spark.table("t_payer")), key=str) == d
    total = duck.to_arrow(duck.table("medical_claim").paid_amount.sum().as_table()).column(0)[0]
    assert sum(r[1] for r in d if r[1] is not None) == total.as_py()


# -- the Spark engine's own guarantees ---------------------------------------------------------

@pytest.fixture(scope="module")
def eligibility_wh(spark_session: object, input_files: dict[str, Path],
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkWarehouse]:
    """A Spark warehouse holding one load of eligibility.csv, shared by the tests below
    (each states its expectations relative to the state it finds)."""
    wh = SparkWarehouse(tmp_path_factory.mktemp("scenario") / "wh.spark")
    try:
        first = medsynergy.ingest_file(wh, input_files["eligibility"], source="feed_a")
        assert first.status == "loaded"
        yield wh
    finally:
        wh.close()


def _snapshot(wh: SparkWarehouse) -> dict[str, Any]:
    return {
        "catalog": (wh.root / CATALOG).read_bytes(),
        "versions": sorted(str(p.relative_to(wh.root)) for p in (wh.root / TABLES_DIR).glob("*/*")),
        "tables": {name: rows_of(wh, name)[1]
                   for name in ("eligibility", "eligibility_superseded", "quarantine",
                                "dq_finding", "load_log")},
    }


def _loaded_ids(wh: SparkWarehouse) -> list[str]:
    log = wh.to_arrow(wh.table("load_log").filter(lambda t: t.status == "loaded"))
    return [str(v) for v in log.column("load_id").to_pylist()]


def test_reload_is_noop(eligibility_wh: SparkWarehouse, input_files: dict[str, Path]) -> None:
    before = _snapshot(eligibility_wh)
    again = medsynergy.ingest_file(eligibility_wh, input_files["eligibility"], source="feed_a")
    assert again.status == "skipped"
    assert [again.load_id] == _loaded_ids(eligibility_wh)
    assert _snapshot(eligibility_wh) == before  # nothing written


def test_replace(eligibility_wh: SparkWarehouse, input_files: dict[str, Path]) -> None:
    wh = eligibility_wh
    [earlier] = _loaded_ids(wh)
    rows_before = rows_of(wh, "eligibility")[1]
    replaced = medsynergy.ingest_file(wh, input_files["eligibility"], source="feed_a",
                                      replace=True)
    assert replaced.status == "replaced"
    assert rows_of(wh, "eligibility")[1] == rows_before  # same rows, under the new load_id
    log = {r["load_id"]: r["status"] for r in wh.to_arrow(wh.table("load_log")).to_pylist()}
    assert log == {earlier: "replaced", replaced.load_id: "loaded"}
    for name in ("eligibility", "quarantine", "dq_finding"):
        ids = wh.to_arrow(wh.table(name).select("load_id").distinct())
        assert ids.column("load_id").to_pylist() == [replaced.load_id], name
    # Superseded versions were garbage-collected: one folder per written table.
    for table_dir in (wh.root / TABLES_DIR).iterdir():
        assert len(list(table_dir.iterdir())) == 1


def test_failed_write_changes_nothing(eligibility_wh: SparkWarehouse,
                                      input_files: dict[str, Path],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    wh = eligibility_wh
    before = _snapshot(wh)
    real_write = SparkWarehouse._write_version
    calls: list[str] = []

    def failing_write(self: SparkWarehouse, name: str, df: Any) -> str:
        calls.append(name)
        if len(calls) == 2:  # the first table's new version is already on disk
            raise OSError("disk full (simulated)")
        return real_write(self, name, df)

    monkeypatch.setattr(SparkWarehouse, "_write_version", failing_write)
    with pytest.raises(OSError, match="simulated"):
        medsynergy.ingest_file(wh, input_files["eligibility_2"], source="feed_a")
    assert len(calls) == 2
    # Catalog, version folders (the first new one collected) and every table's contents,
    # read through the views, which again show the committed versions.
    assert _snapshot(wh) == before
    assert list((wh.root / STAGING_DIR).iterdir()) == []


def test_reopen_collects_orphans(spark_session: object, tmp_path: Path) -> None:
    root = tmp_path / "wh.spark"
    SparkWarehouse(root).close()
    catalog = (root / CATALOG).read_bytes()
    # What a crash between writing versions and swapping the catalog leaves behind.
    orphan = root / TABLES_DIR / "medical_claim" / "v_crashed"
    orphan.mkdir(parents=True)
    (orphan / "part-0.parquet").write_bytes(b"half written")
    (root / STAGING_DIR / "t0_raw").mkdir()
    (root / f".{CATALOG}.x.tmp").write_bytes(b"{")
    with SparkWarehouse(root) as wh:
        assert not orphan.exists()
        assert list((root / STAGING_DIR).iterdir()) == []
        assert not list(root.glob(f".{CATALOG}.*"))
        assert (root / CATALOG).read_bytes() == catalog
        assert wh.count("medical_claim") == 0
        with pytest.raises(medsynergy.MedsynergyError, match="already open"):
            SparkWarehouse(root)
    assert os.path.exists(root / CATALOG)


def test_interrupted_after_swap_keeps_the_commit(spark_wh: SparkWarehouse,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """An error after the catalog swap (here: syncing the folder) must not undo the commit
    by collecting the new versions as garbage: the catalog on disk is the truth."""
    import medsynergy.engine.spark_engine as engine
    from medsynergy.engine import Append

    row = spark_wh.stage_arrow("_one", pa.table({"load_id": ["L1"], "status": ["loaded"]}))
    real_fsync = engine._fsync_file

    def fsync(path: Path) -> None:
        if path == spark_wh.root:
            raise OSError("folder sync failed (simulated)")
        real_fsync(path)

    monkeypatch.setattr(engine, "_fsync_file", fsync)
    with pytest.raises(OSError, match="simulated"):
        spark_wh.apply([Append("load_log", spark_wh.conform(row, "load_log"))])
    version = spark_wh.versions()["load_log"]
    assert isinstance(version, str)
    assert (spark_wh.root / TABLES_DIR / "load_log" / version).is_dir()
    assert spark_wh.count("load_log") == 1
    spark_wh.drop_temporary(["_one"])


# -- Spark Connect ---------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server on loopback, started from the jar that pyspark ships."""
    spark_home = Path(pyspark.__file__).parent
    if not list((spark_home / "jars").glob("spark-connect_*.jar")):
        pytest.fail("this pyspark ships no Spark Connect server jar")
    port = _free_port()
    log = (tmp_path_factory.mktemp("connect") / "server.log").open("w")
    server = subprocess.Popen(
        [str(spark_home / "bin" / "spark-submit"),
         "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
         "--conf", f"spark.connect.grpc.binding.port={port}",
         "--conf", "spark.connect.grpc.binding.address=127.0.0.1",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=4",
         "--driver-memory", "2g", "spark-internal"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(spark_home)},
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Spark Connect server did not start (see {log.name})")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_spark_connect_matches_duckdb(connect_url: str, loaded: tuple[Any, ...],
                                      tmp_path: Path, input_files: dict[str, Path]) -> None:
    """`--spark-remote sc://...`: the same ingest through a Connect server, same tables."""
    duck, _, duck_results, _ = loaded
    remote = SparkWarehouse(tmp_path / "wh.spark", remote=connect_url)
    try:
        results = load_all(remote, input_files)
        ingest_format(remote, [_fhir_export(tmp_path)], source="feed_f", source_format="fhir",
                      workers=1)
        for d, r in zip(duck_results, results, strict=True):
            d_fields, r_fields = asdict(d), asdict(r)
            d_fields.pop("load_id"), r_fields.pop("load_id")
            assert r_fields == d_fields
        for name in ("medical_claim", "medical_claim_superseded", "eligibility", "quarantine",
                     "dq_finding", "pharmacy_claim", "encounter", "care_team", "source_log"):
            (r_schema, r_rows), (d_schema, d_rows) = rows_of(remote, name), rows_of(duck, name)
            assert r_schema == d_schema, name
            assert ([r for r in r_rows if r not in d_rows], [d for d in d_rows if d not in r_rows]) \
                == ([], []), name
            assert r_rows == d_rows, name
        assert rows_of_expr(remote, claims_by_month(remote.table("medical_claim"))) == \
            rows_of_expr(duck, claims_by_month(duck.table("medical_claim")))
    finally:
        remote.close()


def rows_of_expr(wh: Warehouse, expr: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in wh.to_arrow(expr).to_pylist()]
