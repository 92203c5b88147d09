"""The observation input table: detected by name, loaded with the generic rules only.

PROMIS Global Health scores (LOINC-coded) are the first observations medsynergy loads.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medsynergy import ingest_file, ingest_paths
from medsynergy.engine import Warehouse
from medsynergy.ingest.sources import detect_table
from medsynergy.schema import INPUT_TABLES, OBSERVATION, SUPERSEDED_TABLES, table

from .conftest import counts, fetch, write_csv

D = dt.date
COLUMNS = ("observation_id", "person_id", "observation_date", "observation_type",
           "source_code_type", "source_code", "source_description", "result", "source_units")


def promis_row(observation_id: str, **overrides: object) -> dict[str, object]:
    """A PROMIS Global Health observation that breaks no rule, with `overrides` applied."""
    row: dict[str, object] = {
        "observation_id": observation_id, "person_id": "P1", "observation_date": "2024-03-01",
        "observation_type": "survey", "source_code_type": "LOINC", "source_code": "61578-7",
        "source_description": "PROMIS Global Health - physical health T-score",
        "result": "45.2", "source_units": "{score}",
    }
    row.update(overrides)
    return row


CSV_ROWS = [
    promis_row("O1"),
    promis_row("O2", person_id="P2", source_code="61577-9",
               source_description="PROMIS Global Health - mental health T-score", result="51.8"),
    promis_row("O3", observation_date="20240315", source_code="61580-3",
               source_description="In general, would you say your health is",
               result="Very good", source_units=""),
    promis_row("O4", observation_date=""),  # required_missing
    promis_row("O5", observation_date="2024-02-30"),  # required_unparsable
]


# -- detection ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "observation.csv", "observation.parquet", "observation_2024_q1.csv.gz",
    "promis_observation.parquet", "Observation.CSV",
])
def test_observation_detected_by_file_name(name: str) -> None:
    # the name decides even when the columns are those of another table
    assert detect_table(Path(name), ["npi"]).name == "observation"


def test_observation_detected_by_columns() -> None:
    cols = ["observation_id", "person_id", "observation_date", "result", "data_source"]
    assert detect_table(Path("export.csv"), cols).name == "observation"


def test_observation_is_an_input_table_with_a_superseded_companion() -> None:
    assert OBSERVATION in INPUT_TABLES
    assert table("observation_superseded") in SUPERSEDED_TABLES
    assert OBSERVATION.key == ("observation_id", "data_source")
    assert OBSERVATION.version_order == ()
    assert OBSERVATION.required_input_columns == (
        "observation_id", "person_id", "observation_date")
    assert OBSERVATION.column("observation_date").sql_type == "DATE"
    assert OBSERVATION.column("result").sql_type == "VARCHAR"


# -- CSV: 3 good rows, 2 quarantined -----------------------------------------------------------

def test_csv_loads_good_rows_and_quarantines_the_rest(wh: Warehouse, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "observation.csv", CSV_ROWS, COLUMNS)
    res = ingest_file(wh, path, source="promis")

    assert (res.target_table, res.status) == ("observation", "loaded")
    assert (res.rows_in, res.rows_final, res.rows_superseded, res.rows_quarantined,
            res.findings) == (5, 3, 0, 2, 0)
    assert res.rows_in == res.rows_loaded + res.rows_quarantined
    assert res.quarantined_by_rule == {"required_missing": 1, "required_unparsable": 1}
    assert res.findings_by_rule == {}

    assert fetch(wh, "observation",
                 ["observation_id", "person_id", "observation_date", "source_code_type",
                  "source_code", "result", "source_units"]) == [
        {"observation_id": "O1", "person_id": "P1", "observation_date": D(2024, 3, 1),
         "source_code_type": "loinc", "source_code": "61578-7", "result": "45.2",
         "source_units": "{score}"},
        {"observation_id": "O2", "person_id": "P2", "observation_date": D(2024, 3, 1),
         "source_code_type": "loinc", "source_code": "61577-9", "result": "51.8",
         "source_units": "{score}"},
        {"observation_id": "O3", "person_id": "P1", "observation_date": D(2024, 3, 15),
         "source_code_type": "loinc", "source_code": "61580-3", "result": "Very good",
         "source_units": None},
    ]
    q = fetch(wh, "quarantine", ["target_table", "row_number", "rule", "rules", "message"])
    assert q == [
        {"target_table": "observation", "row_number": 4, "rule": "required_missing",
         "rules": "required_missing", "message": "observation_date is empty"},
        {"target_table": "observation", "row_number": 5, "rule": "required_unparsable",
         "rules": "required_unparsable",
         "message": "observation_date '2024-02-30' is not a date (YYYY-MM-DD or YYYYMMDD)"},
    ]
    raw = fetch(wh, "quarantine", ["raw_row"], where={"row_number": 5})
    assert json.loads(raw[0]["raw_row"])["observation_id"] == "O5"

    log = fetch(wh, "load_log", ["target_table", "data_source", "rows_in", "rows_loaded",
                                 "rows_quarantined", "findings"])
    assert log == [{"target_table": "observation", "data_source": "promis", "rows_in": 5,
                    "rows_loaded": 3, "rows_quarantined": 2, "findings": 0}]
    assert counts(wh)["dq_finding"] == 0
    assert counts(wh)["observation_superseded"] == 0


def test_lineage_columns_are_filled(wh: Warehouse, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "observation.csv", CSV_ROWS, COLUMNS)
    res = ingest_file(wh, path, source="promis")
    rows = fetch(wh, "observation", ["observation_id", "data_source", "file_name", "load_id",
                                     "row_number", "file_date"])
    assert rows == [
        {"observation_id": oid, "data_source": "promis", "file_name": str(path),
         "load_id": res.load_id, "row_number": n, "file_date": None}
        for oid, n in (("O1", 1), ("O2", 2), ("O3", 3))
    ]
    stamps = {r["ingest_datetime"] for r in fetch(wh, "observation", ["ingest_datetime"])}
    assert len(stamps) == 1
    (stamp,) = stamps
    assert isinstance(stamp, dt.datetime)
    assert abs(dt.datetime.now(dt.UTC).replace(tzinfo=None) - stamp) < dt.timedelta(minutes=5)


# -- no claim rules ---------------------------------------------------------------------------

def test_claim_rules_never_fire_on_observations(wh: Warehouse, tmp_path: Path) -> None:
    # Values that would break claim rules elsewhere (a negative amount, a bad NPI, a
    # result that is no number) are plain text here: nothing is quarantined or flagged.
    rows = [
        promis_row("O1", result="-5.00", paid_amount="-5.00", rendering_npi="1234567890",
                   adjustment_type_code="bogus", source_units="$"),
        promis_row("O2", result="not a number", source_reference_range_low="abc",
                   normalized_code_type="LOINC", normalized_code="61578-7"),
    ]
    path = write_csv(tmp_path / "observation.csv", rows)
    res = ingest_file(wh, path, source="promis")
    assert (res.rows_in, res.rows_final, res.rows_quarantined, res.findings) == (2, 2, 0, 0)
    assert res.ignored_columns == ("paid_amount", "rendering_npi", "adjustment_type_code")
    assert fetch(wh, "observation", ["observation_id", "result", "source_reference_range_low",
                                     "normalized_code_type"]) == [
        {"observation_id": "O1", "result": "-5.00", "source_reference_range_low": None,
         "normalized_code_type": None},
        {"observation_id": "O2", "result": "not a number", "source_reference_range_low": "abc",
         "normalized_code_type": "loinc"},
    ]


def test_a_later_load_replaces_an_observation_with_the_same_key(
        wh: Warehouse, tmp_path: Path) -> None:
    first = ingest_file(wh, write_csv(tmp_path / "a" / "observation.csv",
                                      [promis_row("O1", result="40.1"), promis_row("O2")]),
                        source="promis")
    second = ingest_file(wh, write_csv(tmp_path / "b" / "observation.csv",
                                       [promis_row("O1", result="42.3")]),
                         source="promis")
    assert (second.rows_in, second.rows_final, second.rows_quarantined) == (1, 1, 0)
    assert fetch(wh, "observation", ["observation_id", "result", "load_id"]) == [
        {"observation_id": "O1", "result": "42.3", "load_id": second.load_id},
        {"observation_id": "O2", "result": "45.2", "load_id": first.load_id},
    ]
    assert fetch(wh, "observation_superseded",
                 ["observation_id", "result", "load_id", "superseded_reason"]) == [
        {"observation_id": "O1", "result": "40.1", "load_id": first.load_id,
         "superseded_reason": "replaced"},
    ]


def test_duplicate_observation_in_one_file_is_quarantined(wh: Warehouse, tmp_path: Path) -> None:
    rows = [promis_row("O1"), promis_row("O1"), promis_row("O2"), promis_row("O2", result="50.0")]
    res = ingest_file(wh, write_csv(tmp_path / "observation.csv", rows), source="promis")
    assert (res.rows_in, res.rows_final, res.rows_quarantined) == (4, 1, 3)
    assert res.quarantined_by_rule == {"duplicate_key": 2, "duplicate_row": 1}
    assert fetch(wh, "observation", ["observation_id", "row_number"]) == [
        {"observation_id": "O1", "row_number": 1}]


# -- Parquet in a folder ----------------------------------------------------------------------

def _write_parquet(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "observation.parquet"
    pq.write_table(pa.table({
        "observation_id": ["O1", "O2"],
        "person_id": ["P1", "P2"],
        "observation_date": pa.array([D(2024, 3, 1), D(2024, 4, 2)], pa.date32()),
        "source_code_type": ["loinc", "loinc"],
        "source_code": ["61578-7", "61577-9"],
        "result": ["45.2", "51.8"],
    }), path)
    return path


def test_parquet_in_a_folder_is_detected_and_loaded(wh: Warehouse, tmp_path: Path) -> None:
    path = _write_parquet(tmp_path / "feed")
    (res,) = ingest_paths(wh, [tmp_path / "feed"], source="promis")
    assert (res.file_name, res.target_table, res.status) == (str(path), "observation", "loaded")
    assert (res.rows_in, res.rows_final, res.rows_quarantined, res.findings) == (2, 2, 0, 0)
    assert fetch(wh, "observation", ["observation_id", "person_id", "observation_date",
                                     "source_code", "result", "data_source", "file_name",
                                     "load_id", "row_number"]) == [
        {"observation_id": "O1", "person_id": "P1", "observation_date": D(2024, 3, 1),
         "source_code": "61578-7", "result": "45.2", "data_source": "promis",
         "file_name": str(path), "load_id": res.load_id, "row_number": 1},
        {"observation_id": "O2", "person_id": "P2", "observation_date": D(2024, 4, 2),
         "source_code": "61577-9", "result": "51.8", "data_source": "promis",
         "file_name": str(path), "load_id": res.load_id, "row_number": 2},
    ]


def test_cli_ingests_a_folder_with_observation_parquet(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "feed")
    res = subprocess.run(
        [sys.executable, "-m", "medsynergy.cli", "--db", str(tmp_path / "w.duckdb"),
         "ingest", "feed", "--source", "promis", "--output", "json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert res.returncode == 0, res.stderr
    (load,) = json.loads(res.stdout)
    assert (load["target_table"], load["status"], load["rows_in"], load["rows_loaded"],
            load["rows_quarantined"]) == ("observation", "loaded", 2, 2, 0)
