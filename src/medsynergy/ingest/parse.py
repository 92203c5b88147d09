"""Parsing text values and checking code shapes, as Ibis expressions.

Each function takes a string column and returns an expression that compiles the same on
DuckDB and Spark. A value is first matched against a strict pattern and only then cast
(TRY_CAST), so both engines accept exactly the same texts: Spark alone would read
'2023' as a date and DuckDB would not.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

# An optional time after the date: digits and : . + - Z only ('-' last, not a range '+'..'Z').
ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9:.+Z-]*)?$"
COMPACT_DATE = r"^[0-9]{8}$"
DECIMAL_TEXT = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
INTEGER_TEXT = r"^[+-]?[0-9]+([.]0*)?$"
# More than two decimals with a non-zero digit past the cents: the load rounds it.
SUB_CENT = r"[.][0-9]{2}[0-9]*[1-9]"

# ICD-10-CM: a letter, a digit, then 1-5 alphanumerics (3 to 7 characters, no dot),
# CMS ICD-10-CM Official Guidelines, section I.A.
ICD10CM = r"^[A-Z][0-9][0-9A-Z][0-9A-Z]{0,4}$"
# ICD-9-CM: 3-5 digits, V + 2-4 digits, or E + 3-4 digits (no dot).
ICD9CM = r"^([0-9]{3,5}|V[0-9]{2,4}|E[0-9]{3,4})$"
# ICD-10-PCS: 7 characters from digits and letters other than I and O.
ICD10PCS = r"^[0-9A-HJ-NP-Z]{7}$"
# ICD-9-CM volume 3 procedures: 3-4 digits (no dot).
ICD9PCS = r"^[0-9]{3,4}$"

DIAGNOSIS_SYSTEMS = {"icd-10-cm": ICD10CM, "icd-9-cm": ICD9CM}
PROCEDURE_SYSTEMS = {"icd-10-pcs": ICD10PCS, "icd-9-pcs": ICD9PCS}

# CCLF claim adjustment type code (CLM_ADJSMT_TYPE_CD): 0 original, 1 cancellation, 2 adjustment.
ADJUSTMENT_TYPES = {
    "original": "original", "0": "original", "o": "original",
    "adjustment": "adjustment", "2": "adjustment", "a": "adjustment",
    "reversal": "reversal", "1": "reversal", "r": "reversal",
    "cancellation": "reversal", "void": "reversal",
}


def clean(value: ir.StringValue) -> ir.StringValue:
    """Trimmed text, with the empty string as null."""
    trimmed = value.strip()
    return ibis.ifelse(trimmed == "", ibis.null("string"), trimmed)


def parse_date(value: ir.StringValue) -> ir.DateValue:
    compact = value.substr(0, 4).concat("-", value.substr(4, 2), "-", value.substr(6, 2))
    # Year 0000 does not exist in the proleptic Gregorian calendar (ISO 8601 needs an
    # agreement for it); both engines would accept it and Python dates could not hold it.
    year_ok = value.substr(0, 4) != "0000"
    return ibis.cases(
        (value.re_search(ISO_DATE) & year_ok, value.substr(0, 10).try_cast(dt.date)),
        (value.re_search(COMPACT_DATE) & year_ok, compact.try_cast(dt.date)),
        else_=ibis.null(dt.date),
    )


def parse_decimal(value: ir.StringValue, precision: int = 18, scale: int = 2) -> ir.DecimalValue:
    """A decimal, or null when the text is not a plain number or overflows the type."""
    typ = dt.Decimal(precision, scale)
    return ibis.ifelse(value.re_search(DECIMAL_TEXT), value.try_cast(typ), ibis.null(typ))


def parse_integer(value: ir.StringValue) -> ir.IntegerValue:
    """An integer; '3.0' is 3, '3.5' is not an integer."""
    as_decimal = ibis.ifelse(
        value.re_search(INTEGER_TEXT), value.try_cast(dt.Decimal(38, 0)), ibis.null(dt.Decimal(38, 0))
    )
    return as_decimal.try_cast(dt.int64)


def has_sub_cent(value: ir.StringValue) -> ir.BooleanValue:
    return value.re_search(SUB_CENT)


def normalise_code(value: ir.StringValue) -> ir.StringValue:
    """ICD codes are stored without the dot, upper case (the Tuva input-layer convention)."""
    return value.upper().replace(".", "")


def normalise_ndc(value: ir.StringValue) -> ir.StringValue:
    """11-digit NDC (5-4-2) from the hyphenated 4-4-2, 5-3-2, 5-4-1 and 5-4-2 forms.

    FDA NDC Directory: a 10-digit NDC becomes the 11-digit HIPAA form by a leading zero in
    the segment that is short. Unhyphenated 10-digit codes are ambiguous and left as given.
    """
    v = value.replace(" ", "")
    return ibis.cases(
        (v.re_search(r"^[0-9]{4}-[0-9]{4}-[0-9]{2}$"),
         ibis.literal("0").concat(v.substr(0, 4), v.substr(5, 4), v.substr(10, 2))),
        (v.re_search(r"^[0-9]{5}-[0-9]{3}-[0-9]{2}$"),
         v.substr(0, 5).concat("0", v.substr(6, 3), v.substr(10, 2))),
        (v.re_search(r"^[0-9]{5}-[0-9]{4}-[0-9]$"),
         v.substr(0, 5).concat(v.substr(6, 4), "0", v.substr(11, 1))),
        (v.re_search(r"^[0-9]{5}-[0-9]{4}-[0-9]{2}$"),
         v.substr(0, 5).concat(v.substr(6, 4), v.substr(11, 2))),
        else_=v,
    )


def ndc_is_valid(normalised: ir.StringValue) -> ir.BooleanValue:
    return normalised.re_search(r"^[0-9]{11}$")


def npi_is_valid(value: ir.StringValue) -> ir.BooleanValue:
    """10 digits whose last is the Luhn check digit of the first 9 with prefix 80840.

    CMS, "Requirements for NPI check digit" (NPPES): double digits 1, 3, 5, 7 and 9,
    add the digits of the products and digits 2, 4, 6 and 8, add 24 for the 80840
    prefix; the check digit brings the total to a multiple of 10.
    """
    # The digits by arithmetic on one integer, not ten substrings each cast: this check
    # runs on every NPI of every claim line (2 s instead of 4 s for 3 x 4.7M NPIs). A
    # text that is not 10 digits never reaches the comparison (`shaped`).
    shaped = value.re_search(r"^[0-9]{10}$")
    number = value.try_cast(dt.int64)
    digits = [(number // 10 ** (9 - i)) % 10 for i in range(10)]
    total: ir.IntegerValue = ibis.literal(24)
    for i in range(9):
        d = digits[i]
        # a doubled digit adds the digits of its double: 2d // 10 + 2d % 10
        total = total + ((d * 2) // 10 + (d * 2) % 10 if i % 2 == 0 else d)
    check = (10 - total % 10) % 10
    return ibis.ifelse(shaped, (check == digits[9]).fill_null(False), ibis.literal(False))


def normalise_adjustment_type(value: ir.StringValue) -> ir.StringValue:
    lowered = value.lower()
    return ibis.cases(
        *((lowered == k, ibis.literal(v)) for k, v in ADJUSTMENT_TYPES.items()),
        else_=lowered,
    )
