"""Validation rules: each has a name, a severity and a check per column.

error: the row cannot be used; it goes to `quarantine` with the rule, a message and the
raw row. warn: the row is usable but suspect; it loads, and a finding goes to
`dq_finding`. A suspect identifier or code never costs a claim its dollars: dropping a
claim for a mistyped NPI would silently lower the cost of care.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

import ibis
import ibis.expr.types as ir

from medsynergy.ingest import parse
from medsynergy.schema import Column, Kind, Role, Table


class Severity(StrEnum):
    ERROR = "error"
    WARN = "warn"


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    description: str


E, W = Severity.ERROR, Severity.WARN
RULES: dict[str, Rule] = {
    r.name: r
    for r in (
        Rule("required_missing", E, "A required column (a key, a required date) is empty."),
        Rule("required_unparsable", E,
             "A required date or integer does not parse (dates: YYYY-MM-DD or YYYYMMDD)."),
        Rule("amount_unparsable", E,
             "An amount is not a plain finite number that fits DECIMAL(18,2) "
             "(no currency signs, thousands separators, NaN or infinity)."),
        Rule("claim_end_before_start", E, "claim_end_date is before claim_start_date."),
        Rule("discharge_before_admission", E, "discharge_date is before admission_date."),
        Rule("enrollment_end_before_start", E, "enrollment_end_date is before enrollment_start_date."),
        Rule("end_before_start", E,
             "A clinical record ends before it starts (encounter_end_date before "
             "encounter_start_date; a care plan's or care team's end_date before start_date)."),
        Rule("duplicate_key", E,
             "Two versions of one key that cannot be ordered: the same key and version "
             "(paid_date, adjustment sequence) with different contents, or a version "
             "already loaded from another file. All of them are quarantined."),
        Rule("duplicate_row", E,
             "An exact copy of an earlier row of the same file (same key, version and "
             "contents); the first copy loads."),
        Rule("value_unparsable", W,
             "An optional date, integer or quantity does not parse; it loads as null."),
        Rule("amount_rounded", W, "An amount has fractions of a cent; it loads rounded to cents."),
        Rule("npi_invalid", W, "An NPI is not 10 digits with a valid Luhn check digit (prefix 80840)."),
        Rule("diagnosis_code_shape", W,
             "A diagnosis code does not have the shape of its declared diagnosis_code_type "
             "(ICD-10-CM or ICD-9-CM)."),
        Rule("procedure_code_shape", W,
             "A procedure code does not have the shape of its declared procedure_code_type "
             "(ICD-10-PCS or ICD-9-PCS)."),
        Rule("ndc_invalid", W,
             "An NDC is not 11 digits after normalising the 4-4-2, 5-3-2 and 5-4-1 forms."),
        Rule("negative_paid_amount", W, "paid_amount is negative on a line that is not a reversal."),
        Rule("adjustment_type_unknown", W,
             "adjustment_type_code is not original, adjustment or reversal (or CCLF 0/1/2); "
             "the line is treated as an original."),
    )
}

DATE_PAIR_RULES = {
    ("claim_start_date", "claim_end_date"): "claim_end_before_start",
    ("admission_date", "discharge_date"): "discharge_before_admission",
    ("enrollment_start_date", "enrollment_end_date"): "enrollment_end_before_start",
    ("encounter_start_date", "encounter_end_date"): "end_before_start",
    ("start_date", "end_date"): "end_before_start",
}


@dataclass(frozen=True)
class Check:
    """One rule applied to one column (or a pair): a condition that is true when broken."""

    rule: Rule
    column: str
    broken: ir.BooleanValue
    message: ir.StringValue

    @property
    def is_error(self) -> bool:
        return self.rule.severity is Severity.ERROR


def _says(prefix: str, value: ir.StringValue, suffix: str) -> ir.StringValue:
    return ibis.literal(prefix).concat(value, suffix)


def typed_value(col: Column, text: ir.StringValue) -> ir.Value:
    """The typed, normalised value of an input column from its cleaned text."""
    if col.kind is Kind.DATE:
        return parse.parse_date(text)
    if col.kind is Kind.INTEGER:
        return parse.parse_integer(text)
    if col.kind is Kind.MONEY:
        return parse.parse_decimal(text, 18, 2)
    if col.kind is Kind.QUANTITY:
        return parse.parse_decimal(text, 18, 3)
    if col.code_system in ("icd-dx", "icd-pcs"):
        return parse.normalise_code(text)
    if col.code_system == "ndc":
        return parse.normalise_ndc(text)
    if col.name == "adjustment_type_code":
        return parse.normalise_adjustment_type(text)
    if col.name.endswith("_code_type"):
        return text.lower()
    return text


def _column_checks(col: Column, text: ir.StringValue, typed: ir.Value,
                   values: Mapping[str, ir.Value], native: bool = False) -> list[Check]:
    name = col.name
    present = text.notnull()
    checks: list[Check] = []
    if col.required:
        checks.append(Check(RULES["required_missing"], name, text.isnull(),
                            ibis.literal(f"{name} is empty")))
    if col.kind in (Kind.DATE, Kind.INTEGER, Kind.QUANTITY):
        what = {Kind.DATE: "a date (YYYY-MM-DD or YYYYMMDD)", Kind.INTEGER: "an integer",
                Kind.QUANTITY: "a number"}[col.kind]
        rule = RULES["required_unparsable" if col.required else "value_unparsable"]
        checks.append(Check(rule, name, present & typed.isnull(),
                            _says(f"{name} '", text, f"' is not {what}")))
    if col.kind is Kind.MONEY:
        checks.append(Check(RULES["amount_unparsable"], name, present & typed.isnull(),
                            _says(f"{name} '", text, "' is not a finite amount within DECIMAL(18,2)")))
        if not native:  # a native value has at most two places (load._native_values)
            checks.append(Check(RULES["amount_rounded"], name, present & parse.has_sub_cent(text),
                                _says(f"{name} '", text, "' has fractions of a cent; rounded to cents")))
    if col.code_system == "npi":
        checks.append(Check(RULES["npi_invalid"], name, present & ~parse.npi_is_valid(text),
                            _says(f"{name} '", text, "' is not a valid NPI (10 digits, Luhn check)")))
    if col.code_system == "ndc":
        checks.append(Check(RULES["ndc_invalid"], name, present & ~parse.ndc_is_valid(typed),
                            _says(f"{name} '", text, "' is not an 11-digit NDC")))
    if col.code_system in ("icd-dx", "icd-pcs"):
        dx = col.code_system == "icd-dx"
        type_col = "diagnosis_code_type" if dx else "procedure_code_type"
        systems = parse.DIAGNOSIS_SYSTEMS if dx else parse.PROCEDURE_SYSTEMS
        declared = values[type_col]
        wrong = ibis.literal(False)
        for system, pattern in systems.items():
            wrong = wrong | ((declared == system) & ~typed.re_search(pattern))
        checks.append(Check(
            RULES["diagnosis_code_shape" if dx else "procedure_code_shape"], name,
            present & wrong.fill_null(False),
            _says(f"{name} '", text, "' does not have the shape of ").concat(declared),
        ))
    return checks


def table_checks(table: Table, texts: Mapping[str, ir.StringValue],
                 values: Mapping[str, ir.Value], native: Collection[str] = ()) -> list[Check]:
    """Every check of `table`, given the cleaned text and typed value of each column
    (`native`: the columns whose value was read typed, not parsed from text)."""
    checks: list[Check] = []
    for col in table.columns:
        if col.role is Role.INPUT or col.name == "data_source":
            checks.extend(_column_checks(col, texts[col.name], values[col.name], values,
                                         col.name in native))
    for start, end in table.date_pairs:
        rule = RULES[DATE_PAIR_RULES.get((start, end), f"{end}_before_{start}")]
        broken = (values[end] < values[start]).fill_null(False)
        msg = _says(f"{end} ", texts[end], f" is before {start} ").concat(texts[start])
        checks.append(Check(rule, end, broken, msg))
    if "adjustment_type_code" in values:
        adj = values["adjustment_type_code"]
        if "paid_amount" in values:
            negative = (values["paid_amount"] < 0) & (adj.fill_null("original") != "reversal")
            checks.append(Check(RULES["negative_paid_amount"], "paid_amount", negative.fill_null(False),
                                _says("paid_amount ", texts["paid_amount"], " is negative on a line that is not a reversal")))
        known = adj.isin(sorted(set(parse.ADJUSTMENT_TYPES.values())))
        checks.append(Check(RULES["adjustment_type_unknown"], "adjustment_type_code",
                            adj.notnull() & ~known,
                            _says("adjustment_type_code '", texts["adjustment_type_code"],
                                  "' is unknown; treated as original")))
    return checks
