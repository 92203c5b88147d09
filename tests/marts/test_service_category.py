"""service_category: given claim lines -> expected category, rule by rule and for the
precedence cases of docs/marts/service_category.md."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import ibis
import pytest

from medsynergy.marts.cost import member_spend
from medsynergy.marts.service_category import (
    CATEGORY_GROUP,
    KEY_COLUMNS,
    RULE_OTHER,
    RULES,
    lines_in_categories,
    pharmacy_category,
    service_category,
    service_category_summary,
    summary_of_spend,
)

from .conftest import rows, table
from .test_cost import member_months_of, mm_rows

DOC = Path(__file__).resolve().parents[2] / "docs" / "marts" / "service_category.md"
BASE: dict[str, Any] = {"claim_id": "C1", "claim_line_number": 1, "person_id": "P1",
                        "claim_start_date": "2024-03-01", "claim_end_date": "2024-03-01"}
OUT = ["service_category", "service_category_group", "service_category_rule"]


def inst(bill_type: str | None, revenue: str | None = None, **more: Any) -> dict[str, Any]:
    return {"claim_type": "institutional", "bill_type_code": bill_type,
            "revenue_center_code": revenue, **more}


def prof(hcpcs: str | None, pos: str | None = "11", **more: Any) -> dict[str, Any]:
    return {"claim_type": "professional", "hcpcs_code": hcpcs, "place_of_service_code": pos,
            **more}


# (case id, the line's columns, expected category, expected rule)
CASES: list[tuple[str, dict[str, Any], str, str]] = [
    # facility rules: institutional lines by type of bill
    ("irf_pps_0024", inst("111", "0024"), "inpatient_rehab_psych", "R01"),
    ("psych_room_board_0124", inst("111", "0124"), "inpatient_rehab_psych", "R01"),
    ("psych_rev_3_digits", inst("111", "114"), "inpatient_rehab_psych", "R01"),
    ("rehab_room_board_0118", inst("112", "0118"), "inpatient_rehab_psych", "R01"),
    ("psych_drg_885", inst("111", "0250", drg_code="885"), "inpatient_rehab_psych", "R01"),
    ("inpatient_acute", inst("111", "0120"), "inpatient_acute", "R02"),
    ("inpatient_4_digit_tob", inst("0111", "0120"), "inpatient_acute", "R02"),
    ("inpatient_no_claim_type", {"bill_type_code": "111", "revenue_center_code": "0250"},
     "inpatient_acute", "R02"),
    ("inpatient_ed_rev_stays_inpatient", inst("111", "0450", hcpcs_code="99284"),
     "inpatient_acute", "R02"),
    ("inpatient_pt_line_stays_inpatient", inst("111", "0420", hcpcs_code="97110"),
     "inpatient_acute", "R02"),
    ("snf_21x", inst("211", "0120"), "snf", "R03"),
    ("snf_22x", inst("221", "0420"), "snf", "R03"),
    ("swing_bed_18x", inst("181", "0120"), "snf", "R03"),
    ("home_health_32x", inst("329", "0551"), "home_health", "R04"),
    ("home_health_34x", inst("341", "0421"), "home_health", "R04"),
    ("hospice_81x", inst("811", "0651"), "hospice", "R05"),
    ("hospice_82x", inst("821", "0651"), "hospice", "R05"),
    ("ed_rev_on_13x", inst("131", "0450", hcpcs_code="99283"), "ed", "R06"),
    ("ed_rev_0456_on_13x", inst("131", "0456"), "ed", "R06"),
    ("ed_pro_fee_0981_on_85x", inst("851", "0981"), "ed", "R06"),
    ("ed_rev_3_digits", inst("131", "450"), "ed", "R06"),
    ("outpatient_13x", inst("131", "0510", hcpcs_code="G0463"), "outpatient_hospital", "R07"),
    ("outpatient_pt_on_13x", inst("131", "0420", hcpcs_code="97110"),
     "outpatient_hospital", "R07"),
    ("outpatient_imaging_on_13x", inst("131", "0350", hcpcs_code="70450"),
     "outpatient_hospital", "R07"),
    ("outpatient_12x", inst("121", "0300"), "outpatient_hospital", "R07"),
    ("outpatient_14x_lab", inst("141", "0300", hcpcs_code="80053"),
     "outpatient_hospital", "R07"),
    ("outpatient_cah_85x", inst("851", "0300"), "outpatient_hospital", "R07"),
    ("rhc_71x", inst("711", "0521"), "outpatient_hospital", "R07"),
    ("esrd_72x", inst("721", "0821"), "outpatient_hospital", "R07"),
    ("fqhc_77x", inst("771", "0521"), "outpatient_hospital", "R07"),
    ("ed_rev_on_hospice_stays_hospice", inst("811", "0450"), "hospice", "R05"),
    # line rules: integrative care first
    ("acupuncture_97810", prof("97810"), "acupuncture", "R08"),
    ("acupuncture_97814", prof("97814"), "acupuncture", "R08"),
    ("psychotherapy_90834", prof("90834"), "behavioral_health", "R09"),
    ("psych_eval_90791", prof("90791"), "behavioral_health", "R09"),
    ("bhi_99484", prof("99484"), "behavioral_health", "R09"),
    ("bhi_g0323", prof("G0323"), "behavioral_health", "R09"),
    ("medicaid_h0031", prof("H0031"), "behavioral_health", "R09"),
    ("psych_eval_at_pos_23", prof("90792", pos="23"), "behavioral_health", "R09"),
    ("mnt_97802", prof("97802"), "nutrition", "R10"),
    ("mnt_g0270", prof("G0270"), "nutrition", "R10"),
    ("pt_97110", prof("97110"), "pt_chiropractic", "R11"),
    ("pt_97140", prof("97140"), "pt_chiropractic", "R11"),
    ("pt_eval_97161", prof("97161"), "pt_chiropractic", "R11"),
    ("ot_eval_97168", prof("97168"), "pt_chiropractic", "R11"),
    ("chiro_98941", prof("98941"), "pt_chiropractic", "R11"),
    ("coaching_0591t", prof("0591T"), "coaching", "R12"),
    ("coaching_lower_case", prof("0593t"), "coaching", "R12"),
    # ED, E/M, ancillaries, procedures
    ("ed_em_99284_any_pos", prof("99284", pos="21"), "ed", "R13"),
    ("em_at_pos_23", prof("99213", pos="23"), "ed", "R13"),
    ("ed_rev_unmapped_tob", inst(None, "0450"), "ed", "R13"),
    ("hospital_em_at_pos_21_is_professional", prof("99223", pos="21"), "professional_em", "R14"),
    ("office_em", prof("99213"), "professional_em", "R14"),
    ("office_em_padded", prof(" 99214 ", pos="11"), "professional_em", "R14"),
    ("awv_g0439", prof("G0439"), "professional_em", "R14"),
    ("tcm_99495", prof("99495"), "professional_em", "R14"),
    ("nursing_facility_99309", prof("99309", pos="31"), "professional_em", "R14"),
    ("home_visit_99347", prof("99347", pos="12"), "professional_em", "R14"),
    ("pos_1_digit", prof("99213", pos="1"), "professional_em", "R14"),
    ("chest_xray", prof("71046"), "imaging", "R15"),
    ("ct_read_at_pos_23", prof("70450", pos="23"), "imaging", "R15"),
    ("echo_93306_not_procedure", prof("93306"), "imaging", "R15"),
    ("mammography", prof("77067"), "imaging", "R15"),
    ("radiopharmaceutical_a9552", prof("A9552"), "imaging", "R15"),
    ("lab_panel", prof("80053", pos="81"), "lab", "R16"),
    ("venipuncture", prof("36415"), "lab", "R16"),
    ("pla_0037u", prof("0037U"), "lab", "R16"),
    ("lab_on_unmapped_tob", inst("651", "0300", hcpcs_code="85025"), "lab", "R16"),
    ("cpap_e0601", prof("E0601", pos="12"), "dme", "R17"),
    ("cgm_k0553", prof("K0553", pos="12"), "dme", "R17"),
    ("orthotic_l3000", prof("L3000"), "dme", "R17"),
    ("supply_a4253", prof("A4253", pos="12"), "dme", "R17"),
    ("ambulance_a0427", prof("A0427", pos="41"), "ambulance", "R18"),
    ("ambulance_pos_42_no_hcpcs", prof(None, pos="42"), "ambulance", "R18"),
    ("ambulance_rev_unmapped_tob", inst(None, "0540"), "ambulance", "R18"),
    ("knee_replacement", prof("27447", pos="22"), "procedure", "R19"),
    ("ecg_93000", prof("93000"), "procedure", "R19"),
    ("anesthesia_00142", prof("00142", pos="24"), "procedure", "R19"),
    ("radiation_oncology_77386", prof("77386"), "procedure", "R19"),
    ("part_b_drug_j1100", prof("J1100"), "other_professional", "R20"),
    ("category_ii_7001f_not_imaging", prof("7001F"), "other_professional", "R20"),
    ("no_claim_type_no_tob", {"hcpcs_code": "J3490"}, "other_professional", "R20"),
    ("pro_with_bill_type_uses_hcpcs", prof("99213", bill_type_code="131"),
     "professional_em", "R14"),
    # unmatched -> other, null codes
    ("all_codes_null", {}, "other", "R99"),
    ("pro_null_hcpcs", prof(None), "other", "R99"),
    ("pro_blank_hcpcs", prof("  "), "other", "R99"),
    ("dental_cdt", {"claim_type": "dental", "hcpcs_code": "D0120"}, "other", "R99"),
    ("unmapped_tob_no_codes", inst("651", "0300"), "other", "R99"),
    ("institutional_null_tob_and_rev", inst(None), "other", "R99"),
    ("institutional_blank_tob", inst("   ", "0250"), "other", "R99"),
]


def categorise(con: ibis.BaseBackend, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    t = table(con, "medical_claim", lines)
    return rows(con, service_category(t), ["claim_id", "claim_line_number", *OUT],
                order=["claim_id", "claim_line_number"])


@pytest.mark.parametrize(("line", "category", "rule"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rule(con: ibis.BaseBackend, line: dict[str, Any], category: str, rule: str) -> None:
    got = categorise(con, [{**BASE, **line}])
    assert got == [{"claim_id": "C1", "claim_line_number": 1, "service_category": category,
                    "service_category_group": CATEGORY_GROUP[category],
                    "service_category_rule": rule}]


def test_every_rule_has_a_case() -> None:
    covered = {c[3] for c in CASES}
    assert covered == {r.rule_id for r in (*RULES, RULE_OTHER)}


def test_every_category_has_a_group() -> None:
    assert {r.category for r in (*RULES, RULE_OTHER)} | {"pharmacy"} == set(CATEGORY_GROUP)
    assert set(CATEGORY_GROUP.values()) == {"inpatient", "outpatient", "professional",
                                            "ancillary", "integrative", "pharmacy", "other"}


def test_rehab_psych_marker_applies_to_the_whole_claim(con: ibis.BaseBackend) -> None:
    lines = [
        {**BASE, **inst("111", "0024"), "claim_id": "IRF"},
        {**BASE, **inst("111", "0250"), "claim_id": "IRF", "claim_line_number": 2},
        {**BASE, **inst("111", "0250"), "claim_id": "ACUTE"},
        # the same claim_id from another source is another claim
        {**BASE, **inst("111", "0250"), "claim_id": "IRF", "data_source": "feed_b"},
    ]
    t = table(con, "medical_claim", lines)
    got = rows(con, service_category(t), ["claim_id", "claim_line_number", "data_source",
                                          "service_category"],
               order=["claim_id", "claim_line_number", "data_source"])
    assert got == [
        {"claim_id": "ACUTE", "claim_line_number": 1, "data_source": None,
         "service_category": "inpatient_acute"},
        {"claim_id": "IRF", "claim_line_number": 1, "data_source": "feed_b",
         "service_category": "inpatient_acute"},
        {"claim_id": "IRF", "claim_line_number": 1, "data_source": None,
         "service_category": "inpatient_rehab_psych"},
        {"claim_id": "IRF", "claim_line_number": 2, "data_source": None,
         "service_category": "inpatient_rehab_psych"},
    ]


def test_every_line_appears_exactly_once(con: ibis.BaseBackend) -> None:
    lines = [{**BASE, **line, "claim_id": f"C{i}", "paid_amount": "1.25"}
             for i, (_, line, _, _) in enumerate(CASES)]
    # a multi-line claim and the same key in two sources
    lines += [{**BASE, **inst("111", "0120"), "claim_id": "M", "claim_line_number": n}
              for n in (1, 2, 3)]
    lines += [{**BASE, "claim_id": "M", "data_source": "feed_b"}]
    t = table(con, "medical_claim", lines)
    out = service_category(t)
    got = rows(con, out, ["claim_id", "claim_line_number", "data_source"])
    assert len(got) == len(lines)
    keys = {(r["claim_id"], r["claim_line_number"], r["data_source"]) for r in got}
    assert len(keys) == len(lines)
    assert all(r["service_category"] is not None for r in rows(con, out, OUT))


@pytest.mark.parametrize("categories", [
    ("professional_em", "acupuncture", "behavioral_health", "nutrition", "pt_chiropractic",
     "coaching"),
    ("inpatient_acute", "lab"),  # a claim-level category: read through service_category
    ("other",),
])
def test_lines_in_categories_are_those_of_service_category(
        con: ibis.BaseBackend, categories: tuple[str, ...]) -> None:
    lines = [{**BASE, **line, "claim_id": f"C{i}"} for i, (_, line, _, _) in enumerate(CASES)]
    lines += [{**BASE, **inst("111", "0024"), "claim_id": "IRF"},
              {**BASE, **inst("111", "0250"), "claim_id": "IRF", "claim_line_number": 2}]
    t = table(con, "medical_claim", lines)
    full = service_category(t)
    want = rows(con, full.filter(full.service_category.isin(categories)),
                order=["claim_id", "claim_line_number"])
    got = rows(con, lines_in_categories(t, categories), order=["claim_id", "claim_line_number"])
    assert got == want
    assert {r["service_category"] for r in got} == set(categories)


def test_summary_of_spend_equals_the_summary_of_every_line(con: ibis.BaseBackend) -> None:
    # every rule (both ED rules among them), an IRF claim, null amounts; P1 is enrolled in
    # March 2024 only, so lines of P2 and of April land in member_spend's 'outside' level
    lines = [{**BASE, **line, "claim_id": f"C{i}", "paid_amount": f"{i}.25",
              "allowed_amount": None if i % 5 == 0 else f"{2 * i}.50"}
             for i, (_, line, _, _) in enumerate(CASES)]
    lines += [{**BASE, **inst("111", "0024"), "claim_id": "IRF", "paid_amount": "7.00"},
              {**BASE, **inst("111", "0250"), "claim_id": "IRF", "claim_line_number": 2,
               "paid_amount": "3.00"},
              {**BASE, **prof("99213"), "claim_id": "OUT1", "person_id": "P2",
               "paid_amount": "4.00"},
              {**BASE, **prof("99283"), "claim_id": "OUT2", "claim_start_date": "2024-04-02",
               "claim_end_date": "2024-04-02", "paid_amount": "5.00"}]
    mc = table(con, "medical_claim", lines)
    rx = table(con, "pharmacy_claim", [{"claim_id": "R1", "claim_line_number": 1,
                                        "person_id": "P1", "dispensing_date": "2024-03-05",
                                        "paid_amount": "9.99", "allowed_amount": "9.99"}])
    mm = member_months_of(mm_rows("P1", ["2024-03"], payer=None, plan=None))
    spend = member_spend(service_category(mc), rx, mm)
    got = rows(con, summary_of_spend(spend, mc))
    want = rows(con, service_category_summary(service_category(mc)))
    assert got == want
    assert {r["service_category_rule"] for r in got if r["service_category"] == "ed"} == {
        "R06", "R13"}
    assert sum(r["claim_lines"] for r in got) == len(lines)


def test_keeps_the_key_columns_unchanged(con: ibis.BaseBackend) -> None:
    line = {**BASE, **prof(" 99213 "), "payer": "acme", "paid_amount": "10.05",
            "allowed_amount": "12", "rendering_npi": "1234567893"}
    out = service_category(table(con, "medical_claim", [line]))
    assert list(out.columns) == [*KEY_COLUMNS, *OUT]
    got = rows(con, out, ["hcpcs_code", "payer", "paid_amount", "allowed_amount",
                          "rendering_npi"])
    assert got == [{"hcpcs_code": " 99213 ", "payer": "acme", "paid_amount": Decimal("10.05"),
                    "allowed_amount": Decimal("12.00"), "rendering_npi": "1234567893"}]


def test_summary_reports_other(con: ibis.BaseBackend) -> None:
    lines = [{**BASE, **prof("99213"), "paid_amount": "10.00"},
             {**BASE, **prof(None), "claim_id": "C2", "paid_amount": "2.50"},
             {**BASE, "claim_id": "C3", "paid_amount": "1.00"}]
    out = service_category_summary(service_category(table(con, "medical_claim", lines)))
    got = rows(con, out, ["service_category", "service_category_rule", "claim_lines",
                          "paid_amount"])
    assert got == [
        {"service_category": "professional_em", "service_category_rule": "R14",
         "claim_lines": 1, "paid_amount": Decimal("10.00")},
        {"service_category": "other", "service_category_rule": "R99", "claim_lines": 2,
         "paid_amount": Decimal("3.50")},
    ]


def test_pharmacy_lines_are_pharmacy(con: ibis.BaseBackend) -> None:
    base = {"person_id": "P1", "dispensing_date": "2024-01-02"}
    t = table(con, "pharmacy_claim", [{**base, "claim_id": "R1", "claim_line_number": 1},
                                      {**base, "claim_id": "R1", "claim_line_number": 2},
                                      {**base, "claim_id": "R2", "claim_line_number": 1}])
    got = rows(con, pharmacy_category(t), ["claim_id", "claim_line_number", *OUT])
    assert [(r["claim_id"], r["claim_line_number"]) for r in got] == [
        ("R1", 1), ("R1", 2), ("R2", 1)]
    assert {(r["service_category"], r["service_category_group"], r["service_category_rule"])
            for r in got} == {("pharmacy", "pharmacy", "P01")}


def test_compiles_for_pyspark(con: ibis.BaseBackend) -> None:
    """Portable Ibis only: the expressions compile for the Spark backend (the live run is
    the Spark parity suite's job)."""
    pytest.importorskip("pyspark")
    med = table(con, "medical_claim", [BASE])
    pharm = table(con, "pharmacy_claim", [{"claim_id": "R1", "claim_line_number": 1,
                                           "person_id": "P1", "dispensing_date": "2024-01-02"}])
    for expr in (service_category(med), service_category_summary(service_category(med)),
                 pharmacy_category(pharm)):
        assert ibis.to_sql(expr, dialect="pyspark")


def test_docs_list_the_rules_in_order() -> None:
    ids = re.findall(r"^\| (R\d\d|P01) \| `(\w+)`", DOC.read_text(encoding="utf-8"), re.M)
    assert ids == [(r.rule_id, r.category) for r in (*RULES, RULE_OTHER)] + [("P01", "pharmacy")]
