"""The check pass stores a row's warnings as bits of BIGINT masks (load._warn_masks), 62
to a column, and drops the checks of columns the file lacks. These tests pin that a
warning past the first mask is counted and reported on its row and column, and that a
file with few columns gets exactly the findings a wide one gets for the same values."""

from __future__ import annotations

from pathlib import Path

from medsynergy import ingest_file
from medsynergy.engine import Warehouse
from medsynergy.ingest.load import MASK_BITS, _typed, live_checks
from medsynergy.schema import Role
from medsynergy.schema import table as canonical

from .conftest import fetch, medical_row, write_csv

MEDICAL = canonical("medical_claim")
FINDING = ["row_number", "rule", "column_name", "value"]
EVERY_INPUT = [c.name for c in MEDICAL.columns if c.role is Role.INPUT]  # data_source: --source


def _warning_checks(columns: list[str]) -> list[str]:
    """(rule, column) of each warning check a file with `columns` is checked with, in the
    order the load numbers them."""
    import ibis

    raw = ibis.table({"row_number": "int64", **dict.fromkeys(columns, "string")}, name="raw")
    _, texts, values, native = _typed(MEDICAL, raw, "test")
    return [f"{c.rule.name}:{c.column}" for c in live_checks(MEDICAL, texts, values, native)
            if not c.is_error]


def test_a_claim_line_with_every_column_has_more_warnings_than_one_mask_holds() -> None:
    checks = _warning_checks(EVERY_INPUT)
    assert len(checks) > MASK_BITS
    # the last ones are on the last diagnosis and procedure columns: in the second mask
    assert checks.index("procedure_code_shape:procedure_code_25") >= MASK_BITS


def test_a_file_without_the_code_columns_is_not_checked_on_them() -> None:
    checks = _warning_checks(["claim_id", "claim_line_number", "person_id", "claim_start_date",
                              "claim_end_date", "diagnosis_code_type", "diagnosis_code_1"])
    # (a file lacking diagnosis_code_2..25 had a shape check on each, never broken)
    assert checks == ["diagnosis_code_shape:diagnosis_code_1"]


def test_warnings_in_both_masks_are_counted_and_reported(wh: Warehouse, tmp_path: Path) -> None:
    bad = {"diagnosis_code_type": "icd-10-cm", "diagnosis_code_1": "E119",
           "procedure_code_type": "icd-10-pcs", "procedure_code_1": "0DTJ4ZZ",
           "diagnosis_code_25": "12", "procedure_code_25": "0DTJ4Z", "rendering_npi": "1234567890"}
    rows = [medical_row("C1"), medical_row("C2", **bad), medical_row("C3", procedure_code_type="icd-10-pcs",
                                                                     procedure_code_25="BAD")]
    path = write_csv(tmp_path / "medical_claim.csv", rows,
                     columns=EVERY_INPUT)
    res = ingest_file(wh, path, source="test")
    assert res.rows_final == 3
    assert res.findings_by_rule == {"diagnosis_code_shape": 1, "npi_invalid": 1,
                                    "procedure_code_shape": 2}
    found = [tuple(r.values()) for r in fetch(wh, "dq_finding", FINDING)]
    assert found == [
        (2, "diagnosis_code_shape", "diagnosis_code_25", "12"),
        (2, "npi_invalid", "rendering_npi", "1234567890"),
        (2, "procedure_code_shape", "procedure_code_25", "0DTJ4Z"),
        (3, "procedure_code_shape", "procedure_code_25", "BAD"),
    ]


def test_a_narrow_file_gets_the_findings_a_wide_one_gets(wh: Warehouse, tmp_path: Path) -> None:
    rows = [medical_row("C1", rendering_npi="1234567890", service_unit_quantity="x"),
            medical_row("C2", rendering_npi="1234567893")]
    narrow = write_csv(tmp_path / "narrow" / "medical_claim.csv", rows)
    wide = write_csv(tmp_path / "wide" / "medical_claim.csv", rows,
                     columns=EVERY_INPUT)
    a = ingest_file(wh, narrow, source="narrow")
    b = ingest_file(wh, wide, source="wide")
    assert a.findings_by_rule == b.findings_by_rule == {"npi_invalid": 1, "value_unparsable": 1}
    by_file = sorted(tuple(r.values()) for r in fetch(wh, "dq_finding", FINDING))
    assert by_file == sorted(2 * [(1, "npi_invalid", "rendering_npi", "1234567890"),
                                  (1, "value_unparsable", "service_unit_quantity", "x")])
