"""risk: set-based CMS-HCC scores equal hccinfhir's own per-member calculation."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hccinfhir import HCCInFHIR
from tests.marts.conftest import rows, table

from medsynergy.errors import ConfigError
from medsynergy.marts.risk import risk, risk_summary
from medsynergy.marts.risk_tables import MODEL_NAMES

YEAR = 2025
TOL = 1e-9


def _processor(model: str, year: int = YEAR) -> HCCInFHIR:
    return HCCInFHIR(model_name=model,  # type: ignore[arg-type]
                     proc_filtering_filename=f"ra_eligible_cpt_hcpcs_{year - 1}.csv",
                     dx_cc_mapping_filename=f"ra_dx_to_cc_{year}.csv",
                     hierarchies_filename=f"ra_hierarchies_{year}.csv",
                     coefficients_filename=f"ra_coefficients_{year}.csv")


def _age(birth: dt.date, year: int) -> int:
    return year - birth.year - (1 if (birth.month, birth.day) > (2, 1) else 0)


def _elig(person: str, birth: str, gender: str, orec: str, dual: str, start: str, end: str,
          status: str = "10") -> dict[str, Any]:
    return {"person_id": person, "member_id": person, "payer": "medicare", "plan": "MA",
            "birth_date": birth, "gender": gender, "original_reason_entitlement_code": orec,
            "dual_status_code": dual, "medicare_status_code": status,
            "enrollment_start_date": start, "enrollment_end_date": end, "data_source": "t"}


def _claim(claim: str, person: str, date: str, dx: list[str], hcpcs: str | None,
           bill_type: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "claim_id": claim, "claim_line_number": 1, "person_id": person,
        "claim_type": "institutional" if bill_type else "professional",
        "bill_type_code": bill_type, "hcpcs_code": hcpcs, "claim_start_date": date,
        "claim_end_date": date, "diagnosis_code_type": "icd-10-cm", "data_source": "t"}
    r.update({f"diagnosis_code_{i}": d for i, d in enumerate(dx, start=1)})
    return r


def test_hand_members_match_hccinfhir(con: ibis.BaseBackend) -> None:
    elig = table(con, "eligibility", [
        # aged full dual woman, enrolled all of 2024
        _elig("A", "1950-06-15", "female", "0", "02", "2024-01-01", "2025-12-31"),
        # disabled man (OREC 1, 60 on 1 Feb 2025), partial dual
        _elig("B", "1965-02-01", "male", "1", "01", "2024-01-01", "2025-12-31"),
        # new enrollee (enrolled from July 2024), aged, originally disabled
        _elig("C", "1959-03-10", "female", "1", "00", "2024-07-01", "2025-12-31"),
        # ESRD (OREC 2)
        _elig("D", "1948-01-20", "male", "2", "00", "2024-01-01", "2025-12-31"),
    ])
    claims = table(con, "medical_claim", [
        _claim("1", "A", "2024-03-01", ["E11.9", "I50.9", "J44.1"], "99213"),
        _claim("2", "A", "2024-04-01", ["N18.4"], "99213"),
        _claim("3", "A", "2024-05-01", ["C34.90"], "0000X"),          # ineligible CPT
        _claim("4", "B", "2024-02-01", ["F20.9", "G40.909", "I50.22"], None, "111"),
        _claim("5", "B", "2024-06-01", ["L89.154"], "99214", "131"),
        _claim("6", "B", "2023-12-01", ["C18.9"], "99214"),          # not the prior year
        _claim("7", "C", "2024-09-01", ["E11.22", "N18.32"], "99213"),
        _claim("8", "D", "2024-09-01", ["N18.6", "E11.22", "I12.0"], "99213"),
        _claim("9", "D", "2024-10-01", ["F32.0"], "99213", "211"),     # SNF: not eligible
    ])
    out = rows(con, risk(claims, elig, payment_years=[YEAR]), order=["person_id", "model"])
    got = {(r["person_id"], r["model"]): r for r in out}
    hand = {
        "A": (["E119", "I509", "J441", "N184"], _age(dt.date(1950, 6, 15), YEAR), "F", "02",
              "0", False),
        "B": (["F209", "G40909", "I5022", "L89154"], 60, "M", "01", "1", False),
        "C": (["E1122", "N1832"], _age(dt.date(1959, 3, 10), YEAR), "F", "00", "1", True),
        "D": (["N186", "E1122", "I120"], _age(dt.date(1948, 1, 20), YEAR), "M", "00", "2", False),
    }
    for person, (dx, age, sex, dual, orec, ne) in hand.items():
        models = ["v24", "v28"] + (["esrd_v24"] if orec in ("2", "3") else [])
        for key in models:
            ref = _processor(MODEL_NAMES[key]).calculate_from_diagnosis(
                list(dx), age=age, sex=sex, dual_elgbl_cd=dual, orec=orec, new_enrollee=ne)
            row = got[(person, key)]
            assert abs(row["raw_score"] - ref.risk_score) < TOL, (person, key)
            assert row["hcc_list"] == ",".join(str(c) for c in sorted(int(h) for h in ref.hcc_list))
    # blend of 2025: 33 % V24 + 67 % V28 (factors 1.0 by default); ESRD: the ESRD model
    a = {m: got[("A", m)]["normalized_score"] for m in ("v24", "v28", "blend")}
    assert abs(a["blend"] - (0.33 * a["v24"] + 0.67 * a["v28"])) < TOL
    assert abs(got[("D", "blend")]["normalized_score"]
               - got[("D", "esrd_v24")]["normalized_score"]) < TOL
    assert got[("C", "v24")]["segment"] == "NE"
    assert got[("C", "v24")]["new_enrollee_flag"] == 1
    assert got[("D", "esrd_v24")]["segment"] == "DI"
    assert ("A", "esrd_v24") not in got


def test_icd9_claims_are_mapped_by_the_gems_snomed_left_out(con: ibis.BaseBackend) -> None:
    elig = table(con, "eligibility", [
        _elig("E", "1950-06-15", "female", "0", "00", "2024-01-01", "2025-12-31"),
        _elig("F", "1950-06-15", "female", "0", "00", "2024-01-01", "2025-12-31")])
    claims = table(con, "medical_claim", [
        # 428.0 -> I509, 250.40 -> E1129, 491.21 -> J441 (GEM); 999.99 has no target
        {**_claim("1", "E", "2024-03-01", ["428.0", "25040", "49121", "99999"], "99213"),
         "diagnosis_code_type": "icd-9-cm"},
        # SNOMED CT: no CMS-HCC table maps it, so it adds nothing
        {**_claim("2", "E", "2024-04-01", ["44054006"], "99213"),
         "diagnosis_code_type": "snomed-ct"},
        # the ICD-10 codes the GEM gives, for the reference member
        _claim("3", "F", "2024-03-01", ["I50.9", "E11.29", "J44.1"], "99213"),
    ])
    got = {(r["person_id"], r["model"]): r for r in rows(
        con, risk(claims, elig, payment_years=[YEAR]))}
    for model in ("v24", "v28"):
        ref = _processor(MODEL_NAMES[model]).calculate_from_diagnosis(
            ["I509", "E1129", "J441"], age=_age(dt.date(1950, 6, 15), YEAR), sex="F",
            dual_elgbl_cd="00", orec="0", new_enrollee=False)
        assert abs(got[("E", model)]["raw_score"] - ref.risk_score) < TOL
        assert got[("E", model)]["hcc_list"] == got[("F", model)]["hcc_list"] == ",".join(
            str(c) for c in sorted(int(h) for h in ref.hcc_list))
        assert ref.hcc_list  # the three codes do map to payment HCCs


def test_normalisation_and_coding_adjustment(con: ibis.BaseBackend) -> None:
    elig = table(con, "eligibility", [
        _elig("A", "1950-06-15", "female", "0", "00", "2024-01-01", "2025-12-31")])
    claims = table(con, "medical_claim", [_claim("1", "A", "2024-03-01", ["E11.9"], "99213")])
    expr = risk(claims, elig, payment_years=[YEAR], coding_adjustment=0.059,
                normalization={(YEAR, "v24"): 1.153, (YEAR, "v28"): 1.045})
    got = {r["model"]: r for r in rows(con, expr)}
    v24 = got["v24"]["raw_score"] / 1.153
    v28 = got["v28"]["raw_score"] / 1.045
    assert abs(got["blend"]["normalized_score"] - (0.33 * v24 + 0.67 * v28)) < TOL
    assert abs(got["blend"]["payment_score"] - (0.33 * v24 + 0.67 * v28) * 0.941) < TOL
    wide = rows(con, risk_summary(expr))
    assert len(wide) == 1
    assert abs(wide[0]["v24_normalized_score"] - v24) < TOL


def test_uncovered_payment_year_is_refused(con: ibis.BaseBackend) -> None:
    elig = table(con, "eligibility", [])
    claims = table(con, "medical_claim", [])
    with pytest.raises(ConfigError, match=r"ra_coefficients_2024\.csv.*data_dir"):
        risk(claims, elig, payment_years=[2024])


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    pytest.importorskip("pyspark")
    assert ibis.pyspark is not None  # loads the backend, which registers its compile options
    elig = table(con, "eligibility", [])
    claims = table(con, "medical_claim", [])
    sql = ibis.to_sql(risk_summary(risk(claims, elig, payment_years=[YEAR])), dialect="pyspark")
    assert "SELECT" in sql


# --------------------------------------------------------------------------- sampled


def _with_source(path: Path) -> pa.Table:
    t = pq.read_table(path)
    if "data_source" not in t.column_names:
        t = t.append_column("data_source", pa.array(["synth"] * t.num_rows, pa.string()))
    return t


def _reference(elig: pa.Table, claims: pa.Table, year: int) -> dict[tuple[str, str], float]:
    """hccinfhir's per-member scores, with demographics and claims prepared in Python."""
    feb1 = dt.date(year, 2, 1)
    spans: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in elig.to_pylist():
        spans[r["person_id"]].append(r)
    months: dict[str, set[int]] = defaultdict(set)
    people: dict[str, dict[str, Any]] = {}
    for p, ss in spans.items():
        for r in ss:
            for m in range(1, 13):
                first = dt.date(year - 1, m, 1)
                last = dt.date(year - 1 + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)
                if r["enrollment_start_date"] <= last and r["enrollment_end_date"] >= first:
                    months[p].add(m)
        cur = [r for r in ss if r["enrollment_start_date"] <= dt.date(year, 12, 31)
               and r["enrollment_end_date"] >= dt.date(year, 1, 1)]
        if not cur:
            continue
        cover = [r for r in cur if r["enrollment_start_date"] <= feb1 <= r["enrollment_end_date"]]
        r = max(cover or cur, key=lambda x: x["enrollment_start_date"])
        people[p] = {
            "age": _age(r["birth_date"], year), "sex": "F" if r["gender"] == "female" else "M",
            "dual_elgbl_cd": r["dual_status_code"], "orec": r["original_reason_entitlement_code"],
            "crec": "2" if r["medicare_status_code"] in ("11", "21", "31") else None,
            "new_enrollee": len(months[p]) < 12}
    by_claim: dict[str, set[str]] = defaultdict(set)
    lines = [c for c in claims.to_pylist() if c["claim_end_date"].year == year - 1]
    for c in lines:
        if c["diagnosis_code_type"] not in (None, "icd-10-cm"):
            continue
        by_claim[c["claim_id"]].update(
            c.get(f"diagnosis_code_{i}") for i in range(1, 26) if c.get(f"diagnosis_code_{i}"))
    sld: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in lines:
        bt = c["bill_type_code"]
        sld[c["person_id"]].append({
            "claim_id": c["claim_id"], "procedure_code": c["hcpcs_code"],
            "claim_diagnosis_codes": sorted(by_claim[c["claim_id"]]),
            "facility_type": bt[0] if bt else None, "service_type": bt[1] if bt else None,
            "service_date": c["claim_end_date"].isoformat()})
    out: dict[tuple[str, str], float] = {}
    processors = {k: _processor(n, year) for k, n in MODEL_NAMES.items()}
    for p, demo in people.items():
        esrd = demo["orec"] in ("2", "3") or demo["crec"] is not None
        for key, proc in processors.items():
            if key == "esrd_v24" and not esrd:
                continue
            res = proc.run_from_service_data(list(sld.get(p, [])), dict(demo))
            out[(p, key)] = res.risk_score
    return out


def test_sampled_members_match_hccinfhir(con: ibis.BaseBackend, tmp_path: Path) -> None:
    from medsynergy.synth import generate

    generate(tmp_path, members=1000, years=(YEAR - 1, YEAR), seed=3)
    elig = _with_source(tmp_path / "eligibility.parquet")
    claims = _with_source(tmp_path / "medical_claim.parquet")
    expr = risk(ibis.memtable(claims), ibis.memtable(elig), payment_years=[YEAR])
    got = {(r["person_id"], r["model"]): r["raw_score"]
           for r in con.to_pyarrow(expr).to_pylist() if r["model"] != "blend"}
    ref = _reference(elig, claims, YEAR)
    assert set(got) == set(ref)
    assert len({p for p, _ in ref}) >= 900
    mismatched = sorted(k for k, v in ref.items() if abs(got[k] - v) >= TOL)
    assert not mismatched, f"{len(mismatched)}/{len(ref)} differ, e.g. {mismatched[:5]}"


def _line(claim: str, line: int, person: str, date: str, dx: list[str], hcpcs: str | None,
          bill_type: str | None = None) -> dict[str, Any]:
    return {**_claim(claim, person, date, dx, hcpcs, bill_type), "claim_line_number": line}


#: CMS filters records: a claim counts whole when one of its lines has an eligible type of
#: bill or CPT/HCPCS ("0000X" is not on the list; 99213 is).
RECORD_LINES = [
    # mixed claim: the failing line's own diagnosis counts with the claim
    _line("M1", 1, "A", "2024-03-01", ["E11.9"], "99213"),
    _line("M1", 2, "A", "2024-03-01", ["I50.9"], "0000X"),
    # a claim with no passing line: none of its diagnoses count
    _line("F1", 1, "A", "2024-04-01", ["C34.90"], "0000X"),
    _line("F1", 2, "A", "2024-04-01", ["C18.9"], "0000X"),
    # a set carried by failing lines of two claims, one of them mixed: it counts
    _line("F2", 1, "B", "2024-05-01", ["J44.1"], "0000X"),
    _line("M2", 1, "B", "2024-06-01", ["J44.1"], "0000X"),
    _line("M2", 2, "B", "2024-06-01", ["N18.4"], "99213"),
    # the same set on a failing-only claim and on a passing line elsewhere: it counts
    _line("F3", 1, "B", "2024-07-01", ["E11.22", "N18.32"], "0000X"),
    _line("P3", 1, "B", "2024-08-01", ["E11.22", "N18.32"], "99213"),
    # the same claim id in another year is another claim (its 2023 line passes)
    _line("Y1", 1, "C", "2023-12-31", ["F20.9"], "99213"),
    _line("Y1", 2, "C", "2024-01-02", ["F20.9"], "0000X"),
    # an inpatient type of bill passes whatever the HCPCS
    _line("I1", 1, "C", "2024-02-01", ["G40.909"], None, "111"),
    _line("I1", 2, "C", "2024-02-01", ["L89.154"], "0000X", "111"),
]


def _constant_hash(value: ibis.Value) -> ibis.Value:
    """Every claim key hashes alike: every claim takes the exact (colliding) path."""
    return ibis.literal(7, "int64")


@pytest.mark.parametrize("claim_hash", [None, _constant_hash], ids=["hash", "all-collide"])
def test_record_level_filter(con: ibis.BaseBackend, claim_hash: Any) -> None:
    from medsynergy.marts.risk import _diagnoses, engine_hash
    from medsynergy.marts.risk_tables import year_tables

    claims = table(con, "medical_claim", RECORD_LINES)
    eligible = {YEAR - 1: ibis.memtable(year_tables(YEAR).eligible_hcpcs)}
    out = _diagnoses(claims, eligible, claim_hash or engine_hash)
    got = sorted((r["person_id"], r["diagnosis_code"]) for r in rows(con, out))
    assert got == [("A", "E119"), ("A", "I509"),
                   ("B", "E1122"), ("B", "J441"), ("B", "N1832"), ("B", "N184"),
                   ("C", "G40909"), ("C", "L89154")]
