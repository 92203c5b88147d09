"""service_category: one service category (and rollup group) for every claim line.

Each medical claim line keeps its key and a few descriptive columns and gets exactly one
`service_category`, its `service_category_group` and the id of the rule that decided it
(`service_category_rule`). The rules are evaluated in the order of `RULES` and the first
match wins; a line no rule matches is 'other' (rule R99) and stays in the output, so spend
is never lost and the unmatched lines can be counted (`service_category_summary`).

Two principles set the order (docs/marts/service_category.md has the full table):

* Institutional lines are categorised by the claim's type of bill first (the facility
  decides what kind of stay or visit it is), with one exception: emergency-department
  revenue lines on an outpatient hospital claim (13x, 85x) are `ed`. An ED line inside an
  inpatient claim stays inpatient: "ED visit then admitted" is an encounter rule, not a
  line rule (it belongs to the encounters module).
* Other lines (professional, or institutional with a type of bill we do not map) are
  categorised by HCPCS: integrative care first (acupuncture, behavioral health, nutrition,
  PT / chiropractic, coaching), then ED, E/M, imaging, lab, DME, ambulance, procedures.

Only Ibis expressions are used (cases / isin / between / substr / re_search / a window
max), so the same expression runs on DuckDB and on PySpark.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from medsynergy.marts.cost import LEVEL_CATEGORY, LEVEL_OUTSIDE, PHARMACY, money_sum
from medsynergy.schema import Kind
from medsynergy.schema._model import IBIS_TYPES

MONEY = IBIS_TYPES[Kind.MONEY]

# A code set: single codes and inclusive (low, high) ranges of same-length codes, which
# compare correctly as strings because the codes have equal length and the same shape.
CodeSet = tuple[str | tuple[str, str], ...]

# -- type of bill (UB-04 form locator 4) ---------------------------------------------------
# Source: CMS Medicare Claims Processing Manual ch. 25 (UB-04 FL4 "Type of Bill"), NUBC.
# The first two digits are facility type + bill classification; the third is frequency.
TOB_INPATIENT = ("11",)  # hospital inpatient (Part A), incl. IRF and IPF, which bill 11x
TOB_SNF = ("18", "21", "22")  # hospital swing bed; SNF inpatient Part A; SNF inpatient Part B
TOB_HOME_HEALTH = ("32", "33", "34")  # home health: under a plan of care; (33x retired); other
TOB_HOSPICE = ("81", "82")  # hospice, non-hospital based; hospital based
# Outpatient facilities. 12x hospital inpatient Part B (ancillaries only, no room and
# board paid), 13x hospital outpatient, 14x non-patient lab referral, 23x SNF outpatient,
# 71x rural health clinic, 72x ESRD facility (dialysis), 73x FQHC (pre-2014),
# 74x outpatient rehab facility, 75x CORF, 76x community mental health center,
# 77x FQHC, 79x other clinic, 83x ambulatory surgery center, 85x critical access hospital
# (outpatient). Dialysis (72x) is not split out: bill_type_code is kept for that.
TOB_OUTPATIENT = ("12", "13", "14", "23", "71", "72", "73", "74", "75", "76", "77", "79",
                  "83", "85")
# Outpatient hospital bill types on which an ED revenue line is an `ed` line.
TOB_ED_OUTPATIENT = ("13", "85")

# -- revenue codes (NUBC UB-04 FL42) -------------------------------------------------------
# Emergency room 0450 general, 0451 EMTALA screening, 0452 ER beyond EMTALA, 0456 urgent
# care, 0459 other ER; 0981 professional fees, emergency room. (Tuva's ED rule uses the
# same 045x family.)
REV_ED: CodeSet = ("0450", "0451", "0452", "0456", "0459", "0981")
# Inpatient rehabilitation / psychiatric markers: 0024 IRF PPS (HIPPS code on the line);
# room and board 011x-015x with subcode 4 (psychiatric) or 8 (rehabilitation); 0204
# intensive care, psychiatric. IRFs and IPFs bill 11x like acute hospitals (their CCN,
# which the input layer lacks, tells them apart), so these markers decide.
REV_REHAB_PSYCH: CodeSet = ("0024", "0114", "0124", "0134", "0144", "0154",
                            "0118", "0128", "0138", "0148", "0158", "0204")
REV_AMBULANCE: CodeSet = (("0540", "0549"),)  # 054x ambulance

# MS-DRGs of psychiatric (MDC 19: 876, 880-887) and rehabilitation (945-946) stays, as in
# Tuva's inpatient psychiatric / rehabilitation service categories. Source: CMS MS-DRG
# definitions manual.
DRG_REHAB_PSYCH: CodeSet = ("876", ("880", "887"), "945", "946")

# -- place of service (CMS Place of Service code set) --------------------------------------
POS_ED = ("23",)  # emergency room - hospital
POS_AMBULANCE = ("41", "42")  # ambulance - land; ambulance - air or water

# -- HCPCS / CPT (AMA CPT sections, CMS HCPCS Level II, BETOS-like groupings) ---------------
ACUPUNCTURE: CodeSet = (("97810", "97814"),)  # CPT acupuncture, with/without e-stim
BEHAVIORAL_HEALTH: CodeSet = (
    ("90785", "90899"),  # CPT Psychiatry: 90791/90792 evals, 90832-90838 psychotherapy, groups
    ("96130", "96146"),  # psychological / neuropsychological testing
    ("96156", "96159"), ("96164", "96171"),  # health behavior assessment and intervention
    ("99408", "99409"), "G0396", "G0397",  # SBIRT (alcohol / substance use screening)
    "99484", ("99492", "99494"), "G2214",  # BH integration, psychiatric collaborative care
    "G0323",  # BH integration by a clinical psychologist or social worker (CMS 2024)
    ("H0001", "H2037"),  # HCPCS H codes: Medicaid behavioral health and substance use
)
NUTRITION: CodeSet = (("97802", "97804"), "G0270", "G0271")  # medical nutrition therapy
PT_CHIROPRACTIC: CodeSet = (
    ("97010", "97799"),  # CPT Physical Medicine and Rehabilitation (97110, 97140, 97161-97168)
    "G0283",  # unattended electrical stimulation (Medicare)
    ("98940", "98943"),  # chiropractic manipulative treatment
)
COACHING: CodeSet = ("0591T", "0592T", "0593T")  # health and well-being coaching (Cat. III)
ED_EM: CodeSet = (("99281", "99285"),)  # emergency department E/M
EVALUATION_MANAGEMENT: CodeSet = (
    ("99202", "99215"),  # office / outpatient
    ("99221", "99239"),  # hospital inpatient and observation, discharge
    ("99242", "99255"),  # consultations
    ("99291", "99292"),  # critical care
    ("99304", "99316"),  # nursing facility
    ("99341", "99350"),  # home or residence
    ("99381", "99429"),  # preventive medicine, counseling, digital (online) E/M
    ("99441", "99443"),  # telephone E/M
    "99439", ("99487", "99491"),  # chronic care management
    ("99495", "99498"),  # transitional care management; advance care planning
    "G0402", "G0438", "G0439",  # Welcome to Medicare; annual wellness visits
    "G2211", "G2212",  # visit complexity add-on; prolonged services
)
IMAGING: CodeSet = (
    ("70010", "76999"),  # CPT Radiology: diagnostic radiology, ultrasound, guidance
    ("77001", "77092"),  # guidance, breast imaging (mammography), bone densitometry
    ("78012", "78999"),  # diagnostic nuclear medicine
    ("93303", "93356"),  # echocardiography
    ("93880", "93998"),  # noninvasive vascular diagnostic studies (duplex)
    ("A9500", "A9699"),  # diagnostic radiopharmaceuticals (before DME's A4000-A9999)
)
LAB: CodeSet = (("80047", "89398"), "36415", "36416")  # CPT Pathology and Laboratory; draws
LAB_PLA_PATTERN = r"^[0-9]{4}U$"  # CPT Proprietary Laboratory Analyses 0001U-0999U
DME: CodeSet = (
    ("A4000", "A9999"),  # medical and surgical supplies (radiopharmaceuticals go to imaging)
    ("E0100", "E8002"),  # durable medical equipment
    ("K0001", "K0999"),  # DME MAC codes, e.g. K0553 / K0554 continuous glucose monitor
    ("L0112", "L9900"),  # orthotics and prosthetics
)
AMBULANCE: CodeSet = (("A0021", "A0999"),)  # HCPCS ambulance and transportation
PROCEDURE: CodeSet = (
    ("00100", "01999"),  # CPT Anesthesia
    ("10004", "69990"),  # CPT Surgery
    ("77261", "77799"),  # radiation oncology (treatment, not imaging; BETOS P7)
    ("79005", "79999"),  # radiopharmaceutical therapy
    ("93000", "93799"),  # cardiovascular tests and procedures (echo is imaging, first)
)

# -- categories and groups -----------------------------------------------------------------
# Groups follow Tuva's service_category_1 (inpatient / outpatient / office-based /
# ancillary / other), with professional instead of office-based, integrative care (the
# point of this project) and pharmacy as their own groups.
CATEGORY_GROUP: dict[str, str] = {
    "inpatient_acute": "inpatient",
    "inpatient_rehab_psych": "inpatient",
    "snf": "inpatient",
    "home_health": "outpatient",
    "hospice": "outpatient",
    "ed": "outpatient",
    "outpatient_hospital": "outpatient",
    "acupuncture": "integrative",
    "behavioral_health": "integrative",
    "nutrition": "integrative",
    "pt_chiropractic": "integrative",
    "coaching": "integrative",
    "professional_em": "professional",
    "procedure": "professional",
    "other_professional": "professional",
    "imaging": "ancillary",
    "lab": "ancillary",
    "dme": "ancillary",
    "ambulance": "ancillary",
    "pharmacy": "pharmacy",
    "other": "other",
}
OTHER = "other"
#: every service category a line can get (contracts name them in carve-outs and bundles)
CATEGORY_NAMES: frozenset[str] = frozenset(CATEGORY_GROUP)


@dataclass(frozen=True)
class Rule:
    """One row of the ordered rules table (docs/marts/service_category.md)."""

    rule_id: str
    category: str
    applies_to: str


# The evaluation order; `_conditions` builds one condition per rule, in this order.
RULES: tuple[Rule, ...] = (
    Rule("R01", "inpatient_rehab_psych",
         "institutional, bill type 11x, claim has an IRF/IPF revenue code or psych/rehab MS-DRG"),
    Rule("R02", "inpatient_acute", "institutional, bill type 11x"),
    Rule("R03", "snf", "institutional, bill type 18x, 21x, 22x"),
    Rule("R04", "home_health", "institutional, bill type 32x, 33x, 34x"),
    Rule("R05", "hospice", "institutional, bill type 81x, 82x"),
    Rule("R06", "ed", "institutional, bill type 13x or 85x, ED revenue code"),
    Rule("R07", "outpatient_hospital", "institutional, outpatient facility bill type"),
    Rule("R08", "acupuncture", "HCPCS acupuncture"),
    Rule("R09", "behavioral_health", "HCPCS behavioral health"),
    Rule("R10", "nutrition", "HCPCS medical nutrition therapy"),
    Rule("R11", "pt_chiropractic", "HCPCS physical medicine / chiropractic"),
    Rule("R12", "coaching", "HCPCS health and well-being coaching"),
    Rule("R13", "ed", "ED revenue code, ED E/M 99281-99285, or E/M at POS 23"),
    Rule("R14", "professional_em", "HCPCS evaluation and management"),
    Rule("R15", "imaging", "HCPCS imaging"),
    Rule("R16", "lab", "HCPCS laboratory"),
    Rule("R17", "dme", "HCPCS DME, supplies, orthotics and prosthetics"),
    Rule("R18", "ambulance", "HCPCS ambulance, POS 41/42 or revenue 054x"),
    Rule("R19", "procedure", "HCPCS anesthesia, surgery, radiation oncology, cardiology"),
    Rule("R20", "other_professional", "professional line with an unmatched HCPCS"),
)
RULE_OTHER = Rule("R99", OTHER, "anything else (reported, never dropped)")

# The columns each output line keeps: the table key (data_source is part of it) and what an
# analyst needs to check a category without joining back.
KEY_COLUMNS: tuple[str, ...] = (
    "claim_id", "claim_line_number", "data_source", "person_id", "payer", "plan",
    "claim_start_date", "claim_end_date", "claim_line_start_date", "paid_amount",
    "allowed_amount", "claim_type", "bill_type_code", "revenue_center_code",
    "place_of_service_code", "hcpcs_code", "rendering_npi", "billing_npi",
)
PHARMACY_KEY_COLUMNS: tuple[str, ...] = (
    "claim_id", "claim_line_number", "data_source", "person_id", "payer", "plan",
    "dispensing_date", "paid_amount", "allowed_amount", "ndc_code",
    "prescribing_provider_npi", "dispensing_provider_npi",
)


@dataclass(frozen=True)
class _Codes:
    """The normalised codes of a line, as Ibis expressions (null when absent or blank)."""

    institutional: ir.BooleanValue
    professional: ir.BooleanValue
    facility: ir.StringValue  # first two digits of the type of bill
    revenue: ir.StringValue
    pos: ir.StringValue
    hcpcs: ir.StringValue


#: The line columns the rules read. Every rule is a function of these (and of the claim's
#: IRF/IPF marker), so the rules are evaluated once per distinct combination of them, not
#: once per line: a population has a few thousand combinations for tens of millions of
#: lines, and the rules hold dozens of pattern tests.
RULE_INPUTS: tuple[str, ...] = (
    "claim_type", "bill_type_code", "revenue_center_code", "place_of_service_code",
    "hcpcs_code", "drg_code",
)


def _clean(col: ir.StringValue) -> ir.StringValue:
    """Trimmed, upper case, '' -> null: feeds differ in padding and case."""
    return col.strip().upper().nullif("")


def _left_pad(col: ir.StringValue, width: int) -> ir.StringValue:
    """'450' -> '0450', '1' -> '01': leading zeros are often lost in CSV round trips.

    lpad only when short, because lpad also truncates longer values on some engines.
    """
    return ibis.cases((col.length() < width, col.lpad(width, "0")), else_=col)


def _facility(bill_type: ir.StringValue) -> ir.StringValue:
    """Facility type + classification: '111' -> '11'; the 4-digit form '0111' -> '11'."""
    bt = _clean(bill_type)
    three = ibis.cases(((bt.length() == 4) & bt.startswith("0"), bt.substr(1, 3)), else_=bt)
    return three.substr(0, 2)


def _shape(low: str, high: str) -> str:
    """The regular expression of the codes a range may hold: digits where `low` has digits,
    the same letters elsewhere ('A4000'-'A9999' -> '^A[0-9][0-9][0-9][0-9]$')."""
    same_letters = all(a == b for a, b in zip(low, high, strict=True)
                       if not (a.isdigit() and b.isdigit()))
    if len(low) != len(high) or not same_letters:
        raise ValueError(f"range {low}-{high}: bounds must have the same shape")
    return "^" + "".join("[0-9]" if ch.isdigit() else re.escape(ch) for ch in low) + "$"


def in_codes(col: ir.StringValue, codes: CodeSet) -> ir.BooleanValue:
    """True when `col` is one of the single codes or inside one of the ranges.

    Ranges compare as strings, so they only take codes of the range's shape: '7001F', a
    CPT Category II code, sorts between 70010 and 76999 but is not an imaging code.
    """
    singles = [c for c in codes if isinstance(c, str)]
    conds: list[ir.BooleanValue] = [col.isin(singles)] if singles else []
    for c in codes:
        if isinstance(c, tuple):
            low, high = c
            conds.append(col.re_search(_shape(low, high)) & col.between(low, high))
    out = conds[0]
    for cond in conds[1:]:
        out = out | cond
    return out


def _with_codes(t: ir.Table) -> tuple[ir.Table, _Codes]:
    """`t` with the normalised codes as helper columns (computed once, so the rule CASEs
    stay small on both engines), and those columns as a `_Codes`."""
    claim_type = t.claim_type.strip().lower()
    facility = _facility(t.bill_type_code)
    # Institutional: said so, or no claim type but a type of bill (a UB-04 field).
    institutional = (claim_type == "institutional") | (
        t.claim_type.isnull() & facility.notnull())
    # Professional: said so, or neither claim type nor type of bill (a CMS-1500 line).
    professional = (claim_type == "professional") | (
        t.claim_type.isnull() & facility.isnull())
    n = t.mutate(
        _sc_institutional=institutional.fill_null(False),
        _sc_professional=professional.fill_null(False),
        _sc_facility=facility,
        _sc_revenue=_left_pad(_clean(t.revenue_center_code), 4),
        _sc_pos=_left_pad(_clean(t.place_of_service_code), 2),
        _sc_hcpcs=_clean(t.hcpcs_code),
    )
    return n, _Codes(
        institutional=n._sc_institutional,
        professional=n._sc_professional,
        facility=n._sc_facility,
        revenue=n._sc_revenue,
        pos=n._sc_pos,
        hcpcs=n._sc_hcpcs,
    )


def _inpatient(c: _Codes) -> ir.BooleanValue:
    return c.institutional & c.facility.isin(TOB_INPATIENT)


def _conditions(c: _Codes) -> list[ir.BooleanValue]:
    """One condition per rule of RULES but R01, in order (a null condition is no match).

    R01 (inpatient rehab / psych) depends on the whole claim, not the line: it is applied
    afterwards, to the lines these rules put in R02 on claims with an IRF/IPF marker."""
    inst, h = c.institutional, c.hcpcs
    em = in_codes(h, EVALUATION_MANAGEMENT)
    return [
        _inpatient(c),  # R02
        inst & c.facility.isin(TOB_SNF),  # R03
        inst & c.facility.isin(TOB_HOME_HEALTH),  # R04
        inst & c.facility.isin(TOB_HOSPICE),  # R05
        inst & c.facility.isin(TOB_ED_OUTPATIENT) & in_codes(c.revenue, REV_ED),  # R06
        inst & c.facility.isin(TOB_OUTPATIENT),  # R07
        in_codes(h, ACUPUNCTURE),  # R08
        in_codes(h, BEHAVIORAL_HEALTH),  # R09
        in_codes(h, NUTRITION),  # R10
        in_codes(h, PT_CHIROPRACTIC),  # R11
        in_codes(h, COACHING),  # R12
        (inst & in_codes(c.revenue, REV_ED)) | in_codes(h, ED_EM)
        | (c.pos.isin(POS_ED) & em),  # R13
        em,  # R14
        in_codes(h, IMAGING),  # R15
        in_codes(h, LAB) | h.re_search(LAB_PLA_PATTERN),  # R16
        in_codes(h, DME),  # R17
        in_codes(h, AMBULANCE) | c.pos.isin(POS_AMBULANCE)
        | (inst & in_codes(c.revenue, REV_AMBULANCE)),  # R18
        in_codes(h, PROCEDURE),  # R19
        c.professional & h.notnull(),  # R20
    ]


def _first_match(conditions: Sequence[ir.BooleanValue], values: Sequence[str],
                 default: str) -> ir.StringValue:
    branches = [(cond.fill_null(False), ibis.literal(v)) for cond, v in
                zip(conditions, values, strict=True)]
    return ibis.cases(*branches, else_=ibis.literal(default))


def _rule_table(medical_claim: ir.Table) -> ir.Table:
    """One row per distinct combination of RULE_INPUTS: the rule and category the line
    rules give it, and `_sc_marker` (the line is an IRF/IPF marker: revenue code or DRG)."""
    return _rules_of(medical_claim.select(*RULE_INPUTS).distinct())


def _rules_of(combos: ir.Table, keep: Sequence[str] = ()) -> ir.Table:
    """`_rule_table` of a table with one row per combination of RULE_INPUTS, keeping its
    columns `keep` (e.g. sums over the lines of each combination)."""
    t, codes = _with_codes(combos)
    line_rules = RULES[1:]  # R01 is a claim rule (see _conditions)
    conds = _conditions(codes)
    marker = in_codes(codes.revenue, REV_REHAB_PSYCH) | in_codes(_clean(t.drg_code),
                                                                 DRG_REHAB_PSYCH)
    return t.select(
        *RULE_INPUTS, *keep,
        _sc_rule=_first_match(conds, [r.rule_id for r in line_rules], RULE_OTHER.rule_id),
        _sc_marker=marker.fill_null(False),
    )


def _same(left: ir.Table, right: ir.Table, columns: Sequence[str],
          suffix: str) -> list[ir.BooleanValue]:
    """Null-safe equality of `columns` (IS NOT DISTINCT FROM / <=>): a null code is a code."""
    return [left[c].identical_to(right[c + suffix]) for c in columns]


def _with_category(rules: ir.Table) -> ir.Table:
    """A rule table (`_rules_of`) with the category and group of each combination's rule:
    decided once per combination (a few hundred rows), not per line, where two CASE chains
    over tens of millions of lines cost about a second at 1M member-years."""
    rules = rules.mutate(_sc_category=rules._sc_rule.substitute(
        {r.rule_id: r.category for r in (*RULES, RULE_OTHER)}, else_=ibis.literal(OTHER)))
    return rules.mutate(_sc_group=_group(rules._sc_category))


def _categorised_rules(medical_claim: ir.Table) -> ir.Table:
    """`_rule_table` of `medical_claim` with each rule's category and group."""
    return _with_category(_rule_table(medical_claim))


def service_category(medical_claim: ir.Table) -> ir.Table:
    """One row per medical claim line: its key, service_category, group and deciding rule."""
    t = medical_claim
    rules = _categorised_rules(t)
    r = rules.rename({c + "_r": c for c in RULE_INPUTS})
    # claims with an IRF/IPF marker on any line: their 11x lines are R01, not R02 (the
    # marker is a property of the stay; one claim is one claim_id of one data_source)
    markers = r.filter(r._sc_marker)
    marked = t.join(markers, _same(t, markers, RULE_INPUTS, "_r")).select(
        _m_claim=t.claim_id, _m_source=t.data_source).distinct()
    lines = t.join(r, _same(t, r, RULE_INPUTS, "_r"))
    lines = lines.left_join(marked, [lines.claim_id.identical_to(marked._m_claim),
                                     lines.data_source.identical_to(marked._m_source)])
    claim_rule = RULES[0]
    moved = (lines._sc_rule == "R02") & lines._m_claim.notnull()
    out = lines.select(
        *KEY_COLUMNS,
        service_category=ibis.ifelse(moved, claim_rule.category, lines._sc_category),
        service_category_group=ibis.ifelse(
            moved, CATEGORY_GROUP.get(claim_rule.category, OTHER), lines._sc_group),
        service_category_rule=ibis.ifelse(moved, claim_rule.rule_id, lines._sc_rule))
    # no ORDER BY: every reader joins or sums these lines (`show` sorts what it prints),
    # and DuckDB ran the sort inside those readers: at 10M member-years it sorted 473M
    # lines and spilled more than 14 GB in the bundles' episode spend
    return out


def lines_in_categories(medical_claim: ir.Table, categories: Sequence[str]) -> ir.Table:
    """The rows of `service_category` whose category is one of `categories`, without
    categorising every line: the rule table is cut to those categories first, so only the
    lines that land in them come out of the join (utilisation counts visits of a few
    categories out of every line).

    The claim-level IRF/IPF rule only moves lines between the two inpatient categories, so
    asking for either of them reads `service_category` in full instead."""
    wanted = set(categories)
    claim_level = {RULES[0].category, RULES[1].category}
    if wanted & claim_level:
        full = service_category(medical_claim)
        return full.filter(full.service_category.isin(sorted(wanted)))
    t = medical_claim
    # one row per combination, with its line count (always > 0: see the filter)
    rules = _with_category(_rules_of(
        t.group_by(list(RULE_INPUTS)).aggregate(_n=t.count()), keep=["_n"]))
    # cut on the rule ids of those categories: a filter on the derived category was
    # pushed by DuckDB into the rule expression, copying its IN-lists. The test reads the
    # aggregate's `_n` in the same expression, so that Spark cannot push it below the
    # grouping either: it evaluated the rule CASE on every claim line, twice (utilisation
    # took 219 of the 356 s of `measure` at 10k member-years on local Spark).
    ids = sorted(r.rule_id for r in (*RULES, RULE_OTHER) if r.category in wanted)
    r = rules.filter(ibis.ifelse(rules._n > 0, rules._sc_rule, ibis.null("string")).isin(ids))
    # and so must the readers' filters on the category (utilisation's office visits):
    # the decided columns read `_n` too
    r = r.mutate(**{c: ibis.ifelse(r._n > 0, r[c], ibis.null("string"))
                    for c in ("_sc_rule", "_sc_category", "_sc_group")})
    r = r.drop("_n").rename({c + "_r": c for c in RULE_INPUTS})
    lines = t.join(r, _same(t, r, RULE_INPUTS, "_r"))
    return lines.select(*KEY_COLUMNS, service_category=lines._sc_category,
                        service_category_group=lines._sc_group,
                        service_category_rule=lines._sc_rule)


def _group(category: ir.StringValue) -> ir.StringValue:
    return category.substitute(CATEGORY_GROUP, else_=ibis.literal("other"))


def pharmacy_category(pharmacy_claim: ir.Table) -> ir.Table:
    """Every pharmacy claim line is 'pharmacy' (group 'pharmacy', rule P01)."""
    t = pharmacy_claim
    out = t.select(
        *PHARMACY_KEY_COLUMNS,
        service_category=ibis.literal("pharmacy"),
        service_category_group=ibis.literal(CATEGORY_GROUP["pharmacy"]),
        service_category_rule=ibis.literal("P01"),
    )
    return out.order_by(["claim_id", "claim_line_number", "data_source"])


def service_category_summary(categorised: ir.Table) -> ir.Table:
    """Lines, claims and spend per category and rule: how much lands in 'other' (R99)."""
    t = categorised
    return t.group_by(["service_category_group", "service_category", "service_category_rule"]
                      ).aggregate(
        claim_lines=t.count(),
        # sums of DECIMAL(18,2) widen to DECIMAL(38,2); cast back as claims_by_month does
        paid_amount=t.paid_amount.sum().fill_null(ibis.literal(0, MONEY)).cast(MONEY),
        allowed_amount=t.allowed_amount.sum().fill_null(ibis.literal(0, MONEY)).cast(MONEY),
    ).order_by(["service_category_rule", "service_category"])


def summary_of_spend(spend: ir.Table, medical_claim: ir.Table) -> ir.Table:
    """`service_category_summary` of every medical line, from the member_spend mart.

    member_spend's 'category' and 'outside' levels hold every line once, summed per
    service category. A category decided by a single rule gives the rule directly. The
    categories with several rules (e.g. 'ed': institutional R06 and professional R13) are
    split by rule from the lines summed per combination of RULE_INPUTS: their rules are
    line rules, functions of those codes alone (the claim-level R01 / R02 each decide a
    category of their own). Same rows as
    `service_category_summary(service_category(medical_claim))` (tested), without
    categorising every line a second time."""
    rules_of: dict[str, list[str]] = {}
    for r in (*RULES, RULE_OTHER):
        rules_of.setdefault(r.category, []).append(r.rule_id)
    single = {c: ids[0] for c, ids in rules_of.items() if len(ids) == 1}
    several = sorted(c for c, ids in rules_of.items() if len(ids) > 1)
    s = spend.filter(spend.level.isin([LEVEL_CATEGORY, LEVEL_OUTSIDE])
                     & (spend.service_category != PHARMACY)
                     & ~spend.service_category.isin(several))
    by_category = s.group_by(["service_category_group", "service_category"]).aggregate(
        claim_lines=s.claim_lines.sum().cast("int64"),
        paid_amount=money_sum(s.paid_amount),
        allowed_amount=money_sum(s.allowed_amount),
    )
    rule = by_category.service_category.substitute(single,
                                                   else_=ibis.literal(RULE_OTHER.rule_id))
    by_category = by_category.mutate(service_category_rule=rule)
    columns = ["service_category_group", "service_category", "service_category_rule",
               "claim_lines", "paid_amount", "allowed_amount"]
    parts = [by_category.select(*columns)]
    if several:
        mc = medical_claim
        combos = mc.group_by(list(RULE_INPUTS)).aggregate(
            _lines=mc.count().cast("int64"), _paid=money_sum(mc.paid_amount),
            _allowed=money_sum(mc.allowed_amount))
        r = _with_category(_rules_of(combos.select(*RULE_INPUTS).distinct()))
        r = r.rename({k + "_r": k for k in RULE_INPUTS})
        # filtered on the rule ids, not on the derived category: a filter on the category
        # was pushed by DuckDB into the rule expression, copying its IN-lists dozens of
        # times (0.8 s to plan, then a single-threaded scan)
        r = r.filter(r._sc_rule.isin([i for cat in several for i in rules_of[cat]]))
        c = combos.join(r, _same(combos, r, RULE_INPUTS, "_r"))
        split = c.group_by([c._sc_group.name("service_category_group"),
                            c._sc_category.name("service_category"),
                            c._sc_rule.name("service_category_rule")]
                           ).aggregate(claim_lines=c._lines.sum().cast("int64"),
                                       paid_amount=money_sum(c._paid),
                                       allowed_amount=money_sum(c._allowed))
        parts.append(split.select(*columns))
    both = parts[0].union(*parts[1:], distinct=False)
    return both.order_by(["service_category_rule", "service_category"])
