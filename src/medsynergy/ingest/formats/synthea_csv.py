"""Synthea CSV export -> the canonical input tables (issue "FHIR R4 and CMS formats in").

Synthea (synthetichealth/synthea) writes one CSV file per record type when
`exporter.csv.export = true`; the columns are described in the Synthea wiki page "CSV File
Data Dictionary" (https://github.com/synthetichealth/synthea/wiki/CSV-File-Data-Dictionary).
This converter reads such a folder set-based: every file is read with pyarrow.csv as text
(no type guessing: `0.10` stays `0.10`), registered in an in-memory DuckDB, and mapped with
SQL. No Python code runs per row, except to describe the (few) rows it refuses.

What maps where, and every value derived rather than read, is in docs/formats_synthea_csv.md.
In short:

- patients.csv + payer_transitions.csv + payers.csv -> eligibility (one row per span)
- encounters.csv -> encounter
- claims.csv + claims_transactions.csv -> medical_claim (CHARGE transactions are the lines;
  PAYMENT / ADJUSTMENT / TRANSFERIN / TRANSFEROUT transactions give who paid what), and
  pharmacy_claim for the claims that bill a medications.csv prescription
- medications.csv, conditions.csv, procedures.csv, observations.csv, careplans.csv ->
  medication, condition, procedure, observation, care_plan
- providers.csv / organizations.csv -> provider, only when the export carries an NPI
- everything else (allergies, immunizations, devices, supplies, imaging_studies, ...) is
  counted as skipped with the reason.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from medsynergy.ingest.formats import (
    Converted,
    Count,
    Derived,
    Rejected,
    columns_to_table,
)

#: Columns patients.csv and encounters.csv have had in every Synthea version with a CSV
#: exporter (2.x and 3.x, CSV File Data Dictionary): what auto-detection looks for.
PATIENT_HEADER = frozenset({"Id", "BIRTHDATE", "DEATHDATE", "GENDER", "RACE", "FIRST", "LAST"})
ENCOUNTER_HEADER = frozenset({"Id", "START", "STOP", "PATIENT", "ENCOUNTERCLASS", "CODE"})

#: Every column the mapping reads, per file, across Synthea versions. A column a version
#: does not write is added as null, so one SQL text serves 2.x, 3.0 and 3.1+ exports.
FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "patients.csv": ("Id", "BIRTHDATE", "DEATHDATE", "SSN", "FIRST", "LAST", "RACE", "GENDER",
                     "ADDRESS", "CITY", "STATE", "ZIP"),
    "payers.csv": ("Id", "NAME", "OWNERSHIP"),
    # 2.7: START_YEAR/END_YEAR are years; 3.0: the same names hold timestamps; 3.1+:
    # START_DATE/END_DATE, PLAN_OWNERSHIP, OWNER_NAME (OHDSI ETL-Synthea payer_plan_period).
    "payer_transitions.csv": ("PATIENT", "MEMBERID", "START_YEAR", "END_YEAR", "START_DATE",
                              "END_DATE", "PAYER", "SECONDARY_PAYER", "OWNERSHIP",
                              "PLAN_OWNERSHIP", "OWNERNAME", "OWNER_NAME"),
    "encounters.csv": ("Id", "START", "STOP", "PATIENT", "ORGANIZATION", "PROVIDER", "PAYER",
                       "ENCOUNTERCLASS", "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST",
                       "TOTAL_CLAIM_COST", "PAYER_COVERAGE", "REASONCODE", "REASONDESCRIPTION"),
    "claims.csv": ("Id", "PATIENTID", "PROVIDERID", "PRIMARYPATIENTINSURANCEID",
                   "SECONDARYPATIENTINSURANCEID", "APPOINTMENTID", "SERVICEDATE",
                   *(f"DIAGNOSIS{i}" for i in range(1, 9))),
    "claims_transactions.csv": ("ID", "CLAIMID", "CHARGEID", "PATIENTID", "TYPE", "AMOUNT",
                                "METHOD", "FROMDATE", "TODATE", "PROCEDURECODE", "MODIFIER1",
                                "MODIFIER2", "UNITS", "TRANSFERTYPE", "PAYMENTS", "ADJUSTMENTS",
                                "TRANSFERS", "OUTSTANDING", "APPOINTMENTID", "PROVIDERID"),
    "medications.csv": ("START", "STOP", "PATIENT", "PAYER", "ENCOUNTER", "CODE", "DESCRIPTION",
                        "BASE_COST", "PAYER_COVERAGE", "DISPENSES", "TOTALCOST"),
    "conditions.csv": ("START", "STOP", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE", "DESCRIPTION"),
    "procedures.csv": ("START", "STOP", "DATE", "PATIENT", "ENCOUNTER", "SYSTEM", "CODE",
                       "DESCRIPTION", "BASE_COST"),
    "observations.csv": ("DATE", "PATIENT", "ENCOUNTER", "CATEGORY", "CODE", "DESCRIPTION",
                         "VALUE", "UNITS", "TYPE"),
    "careplans.csv": ("Id", "START", "STOP", "PATIENT", "ENCOUNTER", "CODE", "DESCRIPTION",
                      "REASONCODE", "REASONDESCRIPTION"),
    "providers.csv": ("Id", "ORGANIZATION", "NAME", "SPECIALITY", "NPI"),
    "organizations.csv": ("Id", "NAME", "NPI"),
}

#: Files of the export no canonical table holds (yet): counted as skipped with the reason.
UNMAPPED_FILES: dict[str, str] = {
    "allergies.csv": "no canonical table for allergies",
    "immunizations.csv": "no canonical table for immunizations (their charges are "
                         "medical_claim lines from claims_transactions.csv)",
    "imaging_studies.csv": "no canonical table for imaging studies",
    "devices.csv": "no canonical table for devices",
    "supplies.csv": "no canonical table for supplies",
    "patient_expenses.csv": "no canonical table for patient expense summaries",
    "payer_transitions_secondary.csv": "no canonical table for secondary coverage",
}

#: Synthea encounter class -> FHIR v3 ActCode (Synthea's EncounterType enum, the code its
#: FHIR exporter writes as Encounter.class).
ENCOUNTER_CLASS = {
    "wellness": "AMB", "ambulatory": "AMB", "outpatient": "AMB", "urgentcare": "AMB",
    "emergency": "EMER", "inpatient": "IMP", "snf": "NONAC", "home": "HH", "hospice": "HH",
    "virtual": "VR",
}

# SQL macros every mapping uses. `sdate`: the calendar date a Synthea date or UTC timestamp
# (`2023-01-27`, `2023-01-27T16:17:47Z`) names, as written; null when it is not a real day.
# `money`: exact decimal text of a DECIMAL sum, without trailing zeros past the cents.
_MACROS = r"""
create macro sdate(x) as case
  when regexp_full_match(left(x, 10), '[0-9]{4}-[0-9]{2}-[0-9]{2}')
       and try_strptime(left(x, 10), '%Y-%m-%d') is not null then left(x, 10) end;
create macro num(x) as try_cast(trim(x) as decimal(38, 6));
create macro money(x) as case when x is not null then
  regexp_replace(cast(cast(x as decimal(38, 6)) as varchar), '(\.[0-9]{2}[0-9]*?)0+$', '\1') end;
create macro rid(a, b, c, d, e) as md5(concat_ws('|', coalesce(a, ''), coalesce(b, ''),
  coalesce(c, ''), coalesce(d, ''), coalesce(e, '')));
"""


@dataclass
class _File:
    name: str
    present: bool
    rows: int
    source_columns: list[str]


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return next(csv.reader(fh), [])


def is_synthea_csv(path: Path) -> bool:
    """A folder (or a folder whose `csv/` subfolder) holding patients.csv and encounters.csv
    with Synthea's column names."""
    folder = _data_folder(Path(path))
    if folder is None:
        return False
    try:
        return (set(_header(folder / "patients.csv")).issuperset(PATIENT_HEADER)
                and set(_header(folder / "encounters.csv")).issuperset(ENCOUNTER_HEADER))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False


def _data_folder(path: Path) -> Path | None:
    if not path.is_dir():
        return None
    for folder in (path, path / "csv"):
        if (folder / "patients.csv").is_file() and (folder / "encounters.csv").is_file():
            return folder
    return None


class _Reader:
    """Reads the export's files into one DuckDB connection, as text, with `_row` = the
    1-based data row (the header is row 0) and the raw columns kept for `Rejected.raw`.

    Intermediate results that several queries read (the settled claim lines, the spans)
    are temp tables rather than views, so the window functions run once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.con = duckdb.connect()
        self.con.execute(_MACROS)
        self.files: dict[str, _File] = {}
        self.rejected: list[Rejected] = []
        self.refused: dict[str, int] = {}

    def load(self, name: str, columns: Sequence[str]) -> _File:
        path = self.folder / name
        view = name.removesuffix(".csv")
        if not path.is_file():
            table = pa.table({c: pa.array([], pa.string()) for c in columns}
                             | {"_row": pa.array([], pa.int64())})
            self.con.register(view, table)
            f = _File(name, False, 0, [])
            self.files[name] = f
            return f
        header = _header(path)
        bad: list[tuple[int, str]] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            bad.append((int(row.number or 0), str(row.text)))
            return "skip"

        if header:
            table = pacsv.read_csv(
                path,
                read_options=pacsv.ReadOptions(use_threads=False, encoding="utf-8"),
                parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
                convert_options=pacsv.ConvertOptions(
                    column_types={h: pa.string() for h in header}, null_values=[""],
                    strings_can_be_null=True, quoted_strings_can_be_null=True),
            )
        else:
            table = pa.table({})
        # pyarrow numbers physical lines from 1 with the header as line 1: data row = line - 1.
        bad_rows = np.array(sorted(n - 1 for n, _ in bad), dtype=np.int64)
        total = table.num_rows + len(bad)
        rows = np.setdiff1d(np.arange(1, total + 1, dtype=np.int64), bad_rows)
        for number, text in bad:
            self.rejected.append(Rejected(
                name, number - 1, f"{name} row", "source_unparsable",
                f"the row does not have the {len(header)} columns of the header", text))
        source_columns = list(table.column_names)
        for c in columns:
            if c not in table.column_names:
                table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
        table = table.append_column("_row", pa.array(rows, pa.int64()))
        self.con.register(view, table)
        f = _File(name, True, total, source_columns)
        self.files[name] = f
        return f

    def reject(self, name: str, record_type: str, sql_rules: Sequence[tuple[str, str, str]],
               view: str | None = None) -> int:
        """Refuse the rows of file `name` (as view `view`, by default the file's own)
        matching any (condition, rule, reason) and make view `<view>_ok` of the others.
        Returns how many were refused."""
        view = view or name.removesuffix(".csv")
        case = " ".join(f"when {cond} then {_lit(rule + '|' + reason)}"
                        for cond, rule, reason in sql_rules)
        self.con.execute(f"create or replace temp view {view}_rej as "
                         f"select *, case {case} end as _rej from {view}")
        self.con.execute(f"create or replace temp view {view}_ok as "
                         f"select * exclude (_rej) from {view}_rej where _rej is null")
        return self.describe_rejected(name, record_type, f"select * from {view}_rej "
                                                          "where _rej is not null")

    def describe_rejected(self, name: str, record_type: str, query: str) -> int:
        """Turn the rows `query` returns (with `_row`, `_rej` and the source columns) into
        `Rejected`: the only per-row Python, over refused rows alone."""
        f = self.files[name]
        cols = [*f.source_columns, "_row", "_rej"]
        quoted = ", ".join(_ident(c) for c in cols)
        found = self.con.sql(f"select {quoted} from ({query}) order by _row").fetchall()
        for values in found:
            raw = dict(zip(f.source_columns, values[:-2], strict=True))
            rule, reason = str(values[-1]).split("|", 1)
            self.rejected.append(Rejected(name, int(values[-2]), record_type, rule, reason,
                                          json.dumps(raw, ensure_ascii=False)))
        return len(found)

    def scalar(self, query: str) -> int:
        rows = self.con.sql(query).fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def table(self, name: str, query: str) -> pa.Table:
        """An all-string canonical table from a query whose columns are input columns."""
        result = self.con.sql(query).fetch_arrow_table()
        return columns_to_table(name, {c: result.column(c) for c in result.column_names})


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _missing(col: str, what: str) -> tuple[str, str, str]:
    return (f"{col} is null", "source_required_missing", f"{what} ({col}) is missing")


def _bad_date(col: str, what: str) -> tuple[str, str, str]:
    return (f"sdate({col}) is null", "source_value_invalid",
            f"{what} ({col}) is not a date")


def convert_synthea_csv(folder: Path) -> Converted:
    """Convert a Synthea CSV export folder (see the module doc and docs/formats_synthea_csv.md)."""
    data = _data_folder(Path(folder))
    if data is None:
        raise FileNotFoundError(f"{folder}: no Synthea CSV export (patients.csv and encounters.csv)")
    r = _Reader(data)
    for name, columns in FILE_COLUMNS.items():
        r.load(name, columns)
    counts: list[Count] = []
    derived: list[Derived] = []
    notes: list[str] = []
    tables: dict[str, pa.Table] = {}

    _lookups(r)
    _prepare_medications(r)
    tables["eligibility"] = _eligibility(r, counts, derived, notes)
    tables["encounter"] = _encounter(r, counts)
    medical, pharmacy = _claims(r, counts, derived)
    tables["medical_claim"] = medical
    tables["pharmacy_claim"] = pharmacy
    tables.update(_clinical(r, counts))
    tables["provider"] = _providers(r, counts)
    for name in sorted(p.name for p in data.glob("*.csv")):
        if name in FILE_COLUMNS:
            continue
        reason = UNMAPPED_FILES.get(name, "file not part of the Synthea CSV mapping")
        rows = _count_rows(data / name)
        counts.append(Count(name, f"{name} row", rows, 0, 0, rows, reason))
    tables = {k: v for k, v in tables.items() if v.num_rows}
    r.con.close()
    # Files the export does not have get no Count (Synthea 2.x writes no claims files).
    counts = [c for c in counts if c.file_name not in r.files or r.files[c.file_name].present]
    rejected = tuple(sorted(r.rejected, key=lambda x: (x.file_name, x.location)))
    return Converted(tables=tables, counts=tuple(counts), rejected=rejected,
                     derived=tuple(d for d in derived if d.rows), notes=tuple(notes))


def _count_rows(path: Path) -> int:
    """Data rows of a file no table maps (only counted): pyarrow's parser, so quoted
    newlines count as the one row they are."""
    header = _header(path)
    if not header:
        return 0
    bad: list[int] = []

    def on_invalid(_row: pacsv.InvalidRow) -> str:
        bad.append(1)
        return "skip"

    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
        column_types={h: pa.string() for h in header}),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid))
    return int(table.num_rows) + len(bad)


def _lookups(r: _Reader) -> None:
    con = r.con
    # payer_type from the payer's name: Synthea names its government payers "Medicare",
    # "Medicaid" and "Dual Eligible" and writes uninsured care under "NO_INSURANCE"
    # (payers.csv; Synthea insurance modules). Every other payer is a private plan.
    con.execute("""
      create temp view payer_lu as
      select Id as payer_id, coalesce(NAME, Id) as payer_name,
        case lower(NAME) when 'medicare' then 'medicare' when 'medicaid' then 'medicaid'
          when 'dual eligible' then 'dual' when 'no_insurance' then 'self-pay'
          else 'commercial' end as payer_type
      from payers where Id is not null
      qualify row_number() over (partition by Id order by _row) = 1""")
    con.execute("""
      create temp view patient_lu as
      select * from patients where Id is not null
      qualify row_number() over (partition by Id order by _row) = 1""")


def _prepare_medications(r: _Reader) -> None:
    """medications.csv is read before the claims: a claim that bills a prescription is a
    pharmacy claim. The medication id is a digest of the row's identifying values
    (medications.csv has no Id column)."""
    r.refused["medications.csv"] = r.reject("medications.csv", "medication", [
        _missing("PATIENT", "the patient"), _missing("START", "the start"),
        _bad_date("START", "the start")])
    r.con.execute("""
      create temp table meds as
      select *, rid(PATIENT, ENCOUNTER, CODE, START, cast(row_number() over (
               partition by PATIENT, ENCOUNTER, CODE, START order by _row) as varchar))
               as medication_id,
             row_number() over (partition by PATIENT, ENCOUNTER, CODE order by START, _row) as k
      from medications_ok""")


def _eligibility(r: _Reader, counts: list[Count], derived: list[Derived],
                 notes: list[str]) -> pa.Table:
    con = r.con
    # Start and end of a span by version (OHDSI ETL-Synthea payer_plan_period): 2.7 writes
    # years in START_YEAR/END_YEAR (the span covers whole years), 3.0 timestamps under the
    # same names, 3.1+ START_DATE/END_DATE.
    con.execute("""
      create temp view pt as
      select *, coalesce(START_DATE, START_YEAR) as s_raw, coalesce(END_DATE, END_YEAR) as e_raw,
        coalesce(PLAN_OWNERSHIP, OWNERSHIP) as ownership
      from payer_transitions""")
    con.execute("""
      create temp view pt2 as
      select *, case when regexp_full_match(s_raw, '[0-9]{4}') then s_raw || '-01-01'
                     else sdate(s_raw) end as s_date,
                case when regexp_full_match(e_raw, '[0-9]{4}') then e_raw || '-12-31'
                     else sdate(e_raw) end as e_date,
                regexp_full_match(coalesce(s_raw, ''), '[0-9]{4}') as year_span
      from pt""")
    refused = r.reject("payer_transitions.csv", "payer transition", [
        _missing("PATIENT", "the patient"),
        _missing("s_raw", "the span start"),
        ("s_date is null", "source_value_invalid", "the span start is not a date or a year"),
        _missing("PAYER", "the payer"),
        ("PATIENT not in (select Id from patient_lu)", "source_reference_unresolved",
         "the patient is not in patients.csv"),
    ], view="pt2")
    # The export's last day (simulation end): the end of a span written without one.
    con.execute("""
      create temp view export_end as
      select max(d) as d from (select sdate(STOP) d from encounters union all
                               select sdate(START) from encounters union all
                               select e_date from pt2_ok)""")
    # Consecutive Synthea spans share their boundary: a span ends at the timestamp the
    # next one starts. Tuva spans are inclusive of both ends, so a span ends the day
    # before the next span of the person starts, when that is the day it ends (a true
    # overlap is kept, and noted); and no span runs past the member's death.
    con.execute("""
      create temp view spans as
      select t.*, p.DEATHDATE, sdate(p.DEATHDATE) as death,
        lead(s_date) over (partition by t.PATIENT order by s_date, t._row) as next_start,
        coalesce(e_date, (select d from export_end)) as e_read
      from pt2_ok t join patient_lu p on p.Id = t.PATIENT""")
    con.execute("""
      create temp view spans2 as
      select *,
        case when next_start = e_read
                  and cast(next_start as date) - 1 >= cast(s_date as date)
             then strftime(cast(next_start as date) - 1, '%Y-%m-%d') else e_read end as e_bound,
        -- Synthea 3.x can write a span whose START and END are the same instant, followed by
        -- a span starting then: it covers no time, and the next span covers the day.
        (s_raw = e_raw and not year_span and next_start = s_date) as zero_length
      from spans""")
    con.execute("""
      create temp table spans3 as
      select *, case when death is not null and death < e_bound then death else e_bound end
               as e_final
      from spans2""")
    after_death = r.scalar("select count(*) from spans3 where death is not null and s_date > death")
    zero = r.scalar("select count(*) from spans3 where zero_length and not "
                    "(death is not null and s_date > death)")
    con.execute("""
      create temp table elig as
      select s.*, l.payer_name, l.payer_type
      from spans3 s left join payer_lu l on l.payer_id = s.PAYER
      where not (death is not null and s_date > death) and not zero_length""")
    table = r.table("eligibility", """
      select PATIENT as person_id, coalesce(MEMBERID, PATIENT) as member_id,
        case p.GENDER when 'M' then 'male' when 'F' then 'female' else 'unknown' end as gender,
        p.RACE as race, sdate(p.BIRTHDATE) as birth_date, sdate(p.DEATHDATE) as death_date,
        case when p.DEATHDATE is not null then '1' else '0' end as death_flag,
        s_date as enrollment_start_date, e_final as enrollment_end_date,
        coalesce(payer_name, PAYER) as payer, payer_type, coalesce(payer_name, PAYER) as plan,
        case lower(ownership) when 'self' then 'self' when 'spouse' then 'spouse'
          when 'guardian' then 'dependent' else lower(ownership) end as subscriber_relation,
        p.FIRST as first_name, p.LAST as last_name, p.SSN as social_security_number,
        p.ADDRESS as address, p.CITY as city, p.STATE as state, p.ZIP as zip_code,
        nullif(concat_ws(',',
          case when MEMBERID is null then 'member_id' end,
          case when year_span then 'enrollment_start_date' end,
          case when year_span or e_final is distinct from e_date
               then 'enrollment_end_date' end,
          case when payer_type is not null then 'payer_type' end,
          'plan',
          case when ownership is not null then 'subscriber_relation' end), '') as derived_columns
      from elig e join patient_lu p on p.Id = e.PATIENT
      order by e._row""")
    r.con.register("elig_out", table)
    overlaps = r.scalar("""
      select count(*) from (select enrollment_end_date as e, lead(enrollment_start_date) over (
        partition by person_id order by enrollment_start_date) as n from elig_out) where n <= e""")
    if overlaps:
        notes.append(f"{overlaps} eligibility span(s) overlap the person's next span "
                     "(kept as the source has them)")
    f = r.files["payer_transitions.csv"]
    counts.append(Count("payer_transitions.csv", "payer transition", f.rows,
                        table.num_rows, refused + (f.rows - r.scalar("select count(*) from payer_transitions")),
                        after_death + zero, "; ".join(
                            ([f"{after_death} start after the member's death date"]
                             if after_death else [])
                            + ([f"{zero} cover no time (START = END, the next span starts "
                                "then)"] if zero else [])) or None))
    for column, how, query in (
        ("member_id", "the Synthea patient id: payer_transitions.csv has no MEMBERID",
         "select count(*) from elig where MEMBERID is null"),
        ("enrollment_start_date", "1 January of START_YEAR (Synthea 2.x writes years)",
         "select count(*) from elig where year_span"),
        ("enrollment_end_date", "31 December of END_YEAR (2.x), the day before the person's "
         "next span starts (Synthea spans share their boundary), the death date, or the "
         "export's last day for an open span",
         "select count(*) from elig where year_span or e_final is distinct from e_date"),
        ("payer_type", "from the payer's name: Medicare, Medicaid, Dual Eligible -> dual, "
         "NO_INSURANCE -> self-pay, any other -> commercial",
         "select count(*) from elig where payer_type is not null"),
        ("plan", "the payer's name: Synthea has one plan per payer in the CSV export",
         "select count(*) from elig"),
        ("subscriber_relation", "from OWNERSHIP: Self -> self, Spouse -> spouse, "
         "Guardian -> dependent", "select count(*) from elig where ownership is not null"),
    ):
        derived.append(Derived("eligibility", column, how, r.scalar(query)))
    # patients.csv: demographics ride on the eligibility spans (Tuva eligibility).
    pf = r.files["patients.csv"]
    p_refused = r.reject("patients.csv", "patient", [_missing("Id", "the patient id")])
    with_span = r.scalar("select count(*) from patients_ok where Id in (select PATIENT from elig)")
    ok = r.scalar("select count(*) from patients_ok")
    counts.append(Count("patients.csv", "patient", pf.rows, with_span,
                        p_refused + (pf.rows - r.scalar("select count(*) from patients")),
                        ok - with_span, "no payer_transitions.csv span: the demographics "
                        "have no eligibility row to ride on" if ok - with_span else None))
    if ok - with_span:
        notes.append(f"{ok - with_span} patient(s) have no coverage span; their demographics "
                     "are not in eligibility")
    pay = r.files["payers.csv"]
    counts.append(Count("payers.csv", "payer", pay.rows,
                        r.scalar("select count(*) from payers"),
                        pay.rows - r.scalar("select count(*) from payers")))
    return table


def _encounter(r: _Reader, counts: list[Count]) -> pa.Table:
    f = r.files["encounters.csv"]
    refused = r.reject("encounters.csv", "encounter", [
        _missing("Id", "the encounter id"),
        _missing("PATIENT", "the patient"),
        _missing("START", "the start"),
        _bad_date("START", "the start"),
    ])
    classes = " ".join(f"when {_lit(k)} then {_lit(v)}" for k, v in ENCOUNTER_CLASS.items())
    table = r.table("encounter", f"""
      select e.Id as encounter_id, e.PATIENT as person_id, e.PATIENT as patient_id,
        e.ENCOUNTERCLASS as encounter_type,
        case lower(e.ENCOUNTERCLASS) {classes} end as encounter_class_code,
        sdate(e.START) as encounter_start_date, sdate(e.STOP) as encounter_end_date,
        case when lower(e.ENCOUNTERCLASS) in ('inpatient', 'snf') and sdate(e.STOP) is not null
          then cast(date_diff('day', cast(sdate(e.START) as date), cast(sdate(e.STOP) as date))
                    as varchar) end as length_of_stay,
        e.PROVIDER as attending_provider_id, pr.NAME as attending_provider_name,
        e.ORGANIZATION as facility_id, o.NAME as facility_name,
        case when e.REASONCODE is not null then 'snomed-ct' end as primary_diagnosis_code_type,
        e.REASONCODE as primary_diagnosis_code,
        e.REASONDESCRIPTION as primary_diagnosis_description,
        case when e.CODE is not null then 'snomed-ct' end as reason_code_type,
        e.CODE as reason_code, e.DESCRIPTION as reason_description,
        e.PAYER_COVERAGE as paid_amount, e.TOTAL_CLAIM_COST as charge_amount
      from encounters_ok e
      left join (select * from providers where Id is not null
                 qualify row_number() over (partition by Id order by _row) = 1) pr
        on pr.Id = e.PROVIDER
      left join (select * from organizations where Id is not null
                 qualify row_number() over (partition by Id order by _row) = 1) o
        on o.Id = e.ORGANIZATION
      order by e._row""")
    counts.append(Count("encounters.csv", "encounter", f.rows, table.num_rows,
                        refused + f.rows - r.scalar("select count(*) from encounters")))
    return table


def _claims(r: _Reader, counts: list[Count], derived: list[Derived]) -> tuple[pa.Table, pa.Table]:
    con = r.con
    cf = r.files["claims.csv"]
    c_refused = r.reject("claims.csv", "claim", [_missing("Id", "the claim id")])
    con.execute("""create temp view claim_lu as select * from claims_ok
                   qualify row_number() over (partition by Id order by _row) = 1""")
    # The transactions of a claim are written in CHARGEID order (a running number): a
    # CHARGE, then the PAYMENT / ADJUSTMENT / TRANSFEROUT / TRANSFERIN rows that settle it,
    # then the next CHARGE (CSV File Data Dictionary, claims_transactions: "Transactions
    # per line item per claim"). So a settling row belongs to the latest CHARGE before it.
    # Who it is from follows the transfers: the CHARGE's TRANSFERTYPE names the party billed
    # first (1 primary payer, p patient), a TRANSFERIN the party the balance moves to (2
    # secondary payer, p patient); a PAYMENT is from the party billed at that point, except
    # a COPAY, which the patient pays at the visit.
    con.execute("""
      create temp view tx as
      select *, try_cast(CHARGEID as bigint) as cid,
        last_value(case when TYPE = 'CHARGE' then _row end ignore nulls) over (
          partition by CLAIMID order by try_cast(CHARGEID as bigint) nulls last, _row
          rows between unbounded preceding and current row) as line_row
      from claims_transactions where CLAIMID is not null""")
    con.execute("""
      create temp view tx2 as
      select *,
        last_value(case when TYPE in ('CHARGE', 'TRANSFERIN') then TRANSFERTYPE end ignore nulls)
          over (partition by CLAIMID, line_row order by cid nulls last, _row
                rows between unbounded preceding and current row) as party
      from tx""")
    con.execute("""
      create temp table ctx as
      select t.* exclude (CLAIMID), c.CLAIMID, c.line_row, c.party, c.cid
      from claims_transactions t left join tx2 c on c._row = t._row""")
    # A line one of whose PAYMENTs has no readable amount is refused with it, so what was
    # paid is never understated: all its dollars go to the quarantine together.
    con.execute("""
      create temp view bad_payment_lines as
      select distinct line_row from ctx
      where TYPE = 'PAYMENT' and num(PAYMENTS) is null and line_row is not null""")
    con.execute("""
      create temp view charge_rej as
      select _row, case
        when PATIENTID is null or FROMDATE is null or sdate(FROMDATE) is null then 'charge'
        when _row in (select line_row from bad_payment_lines) then 'payment' end as why
      from ctx where TYPE = 'CHARGE'""")
    tf = r.files["claims_transactions.csv"]
    r.reject("claims_transactions.csv", "claim transaction", [
        _missing("CLAIMID", "the claim"),
        ("TYPE = 'CHARGE' and PATIENTID is null", "source_required_missing",
         "the patient (PATIENTID) is missing"),
        ("TYPE = 'CHARGE' and FROMDATE is null", "source_required_missing",
         "the date of service (FROMDATE) is missing"),
        ("TYPE = 'CHARGE' and sdate(FROMDATE) is null", "source_value_invalid",
         "the date of service (FROMDATE) is not a date"),
        ("TYPE = 'CHARGE' and _row in (select line_row from bad_payment_lines)",
         "source_value_invalid", "a PAYMENT settling this line has no readable amount"),
        ("TYPE <> 'CHARGE' and line_row is null", "source_reference_unresolved",
         "no CHARGE transaction of the claim precedes it: no line to settle"),
        ("TYPE = 'PAYMENT' and num(PAYMENTS) is null", "source_value_invalid",
         "the payment amount (PAYMENTS) is missing or not a number"),
        ("TYPE <> 'CHARGE' and line_row in (select _row from charge_rej where why is not null)",
         "source_reference_unresolved", "the CHARGE it settles was refused"),
        ("TYPE = 'ADJUSTMENT' and num(coalesce(ADJUSTMENTS, AMOUNT)) is null",
         "source_value_invalid", "the adjustment amount is missing or not a number"),
    ], view="ctx")
    known = "('CHARGE', 'PAYMENT', 'ADJUSTMENT', 'TRANSFERIN', 'TRANSFEROUT')"
    # A line whose PAYMENT is refused would understate what was paid; refuse the line with it
    # (its dollars are then all in the quarantine, none silently lost).
    con.execute(f"""
      create temp table settle as
      select line_row,
        sum(case when TYPE = 'PAYMENT' and coalesce(METHOD, '') <> 'COPAY'
                  and coalesce(party, '1') <> 'p' then num(PAYMENTS) end) as paid,
        sum(case when TYPE = 'PAYMENT' and METHOD = 'COPAY' then num(PAYMENTS) end) as copay,
        sum(case when TYPE = 'PAYMENT' and coalesce(METHOD, '') <> 'COPAY'
                  and party = 'p' then num(PAYMENTS) end) as patient_paid,
        count(*) filter (where TYPE = 'PAYMENT' and party = '2') as secondary_payments
      from ctx_ok where TYPE <> 'CHARGE' and TYPE in {known}
      group by line_row""")
    # The claim's payer: its primary insurance (claims.csv PRIMARYPATIENTINSURANCEID, a
    # payers.csv Id; 0 = none), else the encounter's payer. The member id is that of the
    # patient's span with the payer on the date of service.
    con.execute("""
      create temp view lines as
      select t._row, t.CLAIMID as claim_id, t.PATIENTID as person_id,
        coalesce(t.APPOINTMENTID, c.APPOINTMENTID) as encounter_id,
        t.PROCEDURECODE as code, t.MODIFIER1, t.MODIFIER2, t.UNITS, t.AMOUNT as charge,
        sdate(t.FROMDATE) as line_start, coalesce(sdate(t.TODATE), sdate(t.FROMDATE)) as line_end,
        c.DIAGNOSIS1, c.DIAGNOSIS2, c.DIAGNOSIS3, c.DIAGNOSIS4, c.DIAGNOSIS5, c.DIAGNOSIS6,
        c.DIAGNOSIS7, c.DIAGNOSIS8, coalesce(t.PROVIDERID, c.PROVIDERID) as provider_id,
        coalesce(nullif(c.PRIMARYPATIENTINSURANCEID, '0'), e.PAYER) as payer_id,
        lower(e.ENCOUNTERCLASS) as enc_class, sdate(e.START) as enc_start,
        sdate(e.STOP) as enc_stop, t.cid,
        s.paid, s.copay, s.patient_paid
      from ctx_ok t
      left join claim_lu c on c.Id = t.CLAIMID
      left join (select * from encounters_ok qualify row_number() over (
                   partition by Id order by _row) = 1) e
        on e.Id = coalesce(t.APPOINTMENTID, c.APPOINTMENTID)
      left join settle s on s.line_row = t._row
      where t.TYPE = 'CHARGE'""")
    con.execute("""
      create temp view lines2 as
      select l.*, p.payer_name, (
          select min(MEMBERID) from elig s where s.PATIENT = l.person_id
            and s.PAYER = l.payer_id and l.line_start between s.s_date and s.e_final) as member
      from lines l left join payer_lu p on p.payer_id = l.payer_id""")
    # A claim bills a prescription when its CHARGE lines are medications.csv rows of the
    # patient, encounter and RxNorm code (Synthea writes one claim per medication).
    con.execute("""
      create temp view med_claims as
      select l.claim_id from lines l
      left join (select distinct PATIENT, ENCOUNTER, CODE from meds) m
        on m.PATIENT = l.person_id and m.ENCOUNTER = l.encounter_id and m.CODE = l.code
      group by l.claim_id having bool_and(m.CODE is not null)""")
    con.execute("""
      create temp table claim_lines as
      select l.*,
        row_number() over (partition by claim_id order by cid nulls last, _row) as line_number,
        min(line_start) over (partition by claim_id) as claim_start,
        max(line_end) over (partition by claim_id) as claim_end,
        claim_id in (select claim_id from med_claims) as is_rx
      from lines2 l""")
    npi = "pr.NPI"
    medical = r.table("medical_claim", f"""
      select claim_id, cast(line_number as varchar) as claim_line_number,
        case when enc_class in ('inpatient', 'snf', 'emergency') then 'institutional'
             else 'professional' end as claim_type,
        person_id, coalesce(member, person_id) as member_id,
        coalesce(payer_name, payer_id) as payer, coalesce(payer_name, payer_id) as plan,
        claim_start as claim_start_date, claim_end as claim_end_date,
        line_start as claim_line_start_date, line_end as claim_line_end_date,
        case when enc_class in ('inpatient', 'snf') then enc_start end as admission_date,
        case when enc_class in ('inpatient', 'snf') then enc_stop end as discharge_date,
        case when enc_class in ('urgentcare') then '20' when enc_class = 'virtual' then '02'
             when enc_class in ('home', 'hospice') then '12'
             when enc_class in ('inpatient', 'snf', 'emergency') then null else '11' end
          as place_of_service_code,
        case enc_class when 'inpatient' then '111' when 'snf' then '211'
             when 'emergency' then '131' end as bill_type_code,
        case when enc_class = 'emergency' then '0450' end as revenue_center_code,
        UNITS as service_unit_quantity, code as hcpcs_code,
        MODIFIER1 as hcpcs_modifier_1, MODIFIER2 as hcpcs_modifier_2,
        {npi} as rendering_npi,
        money(coalesce(paid, 0)) as paid_amount,
        money(coalesce(paid, 0) + coalesce(copay, 0) + coalesce(patient_paid, 0)) as allowed_amount,
        charge as charge_amount,
        money(copay) as copayment_amount, money(patient_paid) as coinsurance_amount,
        case when coalesce(DIAGNOSIS1, DIAGNOSIS2, DIAGNOSIS3, DIAGNOSIS4, DIAGNOSIS5,
                           DIAGNOSIS6, DIAGNOSIS7, DIAGNOSIS8) is not null
             then 'snomed-ct' end as diagnosis_code_type,
        DIAGNOSIS1 as diagnosis_code_1, DIAGNOSIS2 as diagnosis_code_2,
        DIAGNOSIS3 as diagnosis_code_3, DIAGNOSIS4 as diagnosis_code_4,
        DIAGNOSIS5 as diagnosis_code_5, DIAGNOSIS6 as diagnosis_code_6,
        DIAGNOSIS7 as diagnosis_code_7, DIAGNOSIS8 as diagnosis_code_8,
        encounter_id,
        concat_ws(',', 'claim_line_number',
          case when enc_class is not null then 'claim_type' end,
          'member_id',
          case when enc_class in ('inpatient', 'snf') then 'admission_date,discharge_date' end,
          case when enc_class in ('inpatient', 'snf', 'emergency') then 'bill_type_code' end,
          case when enc_class = 'emergency' then 'revenue_center_code' end,
          case when enc_class is not null and enc_class not in ('inpatient', 'snf', 'emergency')
               then 'place_of_service_code' end,
          'paid_amount,allowed_amount',
          case when patient_paid is not null then 'coinsurance_amount' end) as derived_columns
      from claim_lines l
      left join (select * from providers where Id is not null qualify row_number() over (
                   partition by Id order by _row) = 1) pr on pr.Id = l.provider_id
      where not is_rx
      order by claim_id, line_number""")
    con.execute("""
      create temp view rx_lines as
      select l.*, row_number() over (partition by person_id, encounter_id, code
                                     order by line_start, cid nulls last, _row) as k
      from claim_lines l where is_rx""")
    pharmacy = r.table("pharmacy_claim", """
      select l.claim_id, cast(l.line_number as varchar) as claim_line_number,
        l.person_id, coalesce(l.member, l.person_id) as member_id,
        coalesce(l.payer_name, l.payer_id) as payer, coalesce(l.payer_name, l.payer_id) as plan,
        l.line_start as dispensing_date, m.DISPENSES as quantity,
        money(coalesce(l.paid, 0)) as paid_amount,
        money(coalesce(l.paid, 0) + coalesce(l.copay, 0) + coalesce(l.patient_paid, 0))
          as allowed_amount,
        l.charge as charge_amount, money(l.copay) as copayment_amount,
        money(l.patient_paid) as coinsurance_amount,
        l.code as rxnorm_code, m.DESCRIPTION as drug_description, m.medication_id,
        concat_ws(',', 'claim_line_number', 'member_id', 'paid_amount,allowed_amount',
          case when l.patient_paid is not null then 'coinsurance_amount' end,
          case when m.DISPENSES is not null then 'quantity' end) as derived_columns
      from rx_lines l
      left join meds m on m.PATIENT = l.person_id and m.ENCOUNTER = l.encounter_id
        and m.CODE = l.code and m.k = l.k
      order by l.claim_id, l.line_number""")
    for kind in ("CHARGE", "PAYMENT", "ADJUSTMENT", "TRANSFERIN", "TRANSFEROUT"):
        n = r.scalar(f"select count(*) from claims_transactions where TYPE = '{kind}'")
        if n:
            ok = r.scalar(f"select count(*) from ctx_ok where TYPE = '{kind}'")
            if kind == "ADJUSTMENT":
                # A write-off by the provider: no canonical column holds it (allowed_amount
                # is what was paid, by the payers and the patient).
                counts.append(Count("claims_transactions.csv", f"{kind} transaction", n, 0,
                                    n - ok, ok, "a write-off: no canonical column holds it"
                                    if ok else None))
            else:
                counts.append(Count("claims_transactions.csv", f"{kind} transaction", n, ok,
                                    n - ok))
    other = r.scalar(f"""select count(*) from ctx_ok
                         where TYPE is null or TYPE not in {known}""")
    other_refused = r.scalar(f"""select count(*) from ctx_rej
                         where _rej is not null and (TYPE is null or TYPE not in {known})""")
    if other or other_refused:
        counts.append(Count("claims_transactions.csv", "other transaction", other + other_refused,
                            0, other_refused, other, "transaction TYPE not known"))
    unreadable = tf.rows - r.scalar("select count(*) from claims_transactions")
    if unreadable:
        counts.append(Count("claims_transactions.csv", "unreadable row", unreadable, 0, unreadable))
    with_lines = r.scalar("select count(*) from claim_lu where Id in (select claim_id from lines)")
    no_lines = r.scalar("select count(*) from claims_ok") - with_lines
    counts.append(Count("claims.csv", "claim", cf.rows, with_lines,
                        c_refused + cf.rows - r.scalar("select count(*) from claims"), no_lines,
                        "no CHARGE transaction (or a duplicate claim Id)" if no_lines else None))
    for table, column, how, cond in (
        ("medical_claim", "claim_type", "institutional for inpatient, snf and emergency "
         "encounters, professional otherwise (the encounter the claim bills)",
         "not is_rx and enc_class is not null"),
        ("medical_claim", "bill_type_code", "111 inpatient, 211 snf, 131 emergency (hospital "
         "outpatient)", "not is_rx and enc_class in ('inpatient', 'snf', 'emergency')"),
        ("medical_claim", "admission_date", "the inpatient / snf encounter's START",
         "not is_rx and enc_class in ('inpatient', 'snf')"),
        ("medical_claim", "discharge_date", "the inpatient / snf encounter's STOP",
         "not is_rx and enc_class in ('inpatient', 'snf')"),
        ("medical_claim", "revenue_center_code", "0450 (emergency room) for emergency "
         "encounters", "not is_rx and enc_class = 'emergency'"),
        ("medical_claim", "place_of_service_code", "11 office (wellness, ambulatory, "
         "outpatient), 20 urgent care, 02 telehealth, 12 home",
         "not is_rx and enc_class is not null and enc_class not in "
         "('inpatient', 'snf', 'emergency')"),
        ("medical_claim", "paid_amount", "sum of the line's PAYMENTs from a payer (not COPAY, "
         "not after a transfer to the patient)", "not is_rx"),
        ("medical_claim", "coinsurance_amount", "sum of the line's PAYMENTs by the patient "
         "after the balance was transferred to the patient", "not is_rx and patient_paid is not null"),
        ("pharmacy_claim", "paid_amount", "as medical_claim", "is_rx"),
        ("pharmacy_claim", "quantity", "medications.csv DISPENSES of the prescription",
         "is_rx"),
    ):
        derived.append(Derived(table, column, how,
                               r.scalar(f"select count(*) from claim_lines where {cond}")))
    return medical, pharmacy


def _clinical(r: _Reader, counts: list[Count]) -> dict[str, pa.Table]:
    out: dict[str, pa.Table] = {}
    # medications.csv -> medication (RxNorm: CSV File Data Dictionary, Medications.Code).
    f = r.files["medications.csv"]
    refused = r.refused["medications.csv"]
    out["medication"] = r.table("medication", """
      select medication_id, PATIENT as person_id, PATIENT as patient_id,
        ENCOUNTER as encounter_id, sdate(START) as prescribing_date, sdate(STOP) as end_date,
        case when STOP is null then 'active' else 'stopped' end as status,
        'rxnorm' as source_code_type, CODE as source_code, DESCRIPTION as source_description,
        CODE as rxnorm_code, DESCRIPTION as rxnorm_description,
        DISPENSES as quantity, BASE_COST as cost_amount
      from meds order by _row""")
    counts.append(Count("medications.csv", "medication", f.rows, out["medication"].num_rows,
                        refused + f.rows - r.scalar("select count(*) from medications")))
    # conditions.csv -> condition. SNOMED CT unless the export writes SYSTEM (3.x).
    f = r.files["conditions.csv"]
    refused = r.reject("conditions.csv", "condition", [
        _missing("PATIENT", "the patient"), _missing("START", "the start"),
        _bad_date("START", "the start")])
    out["condition"] = r.table("condition", """
      select rid(PATIENT, ENCOUNTER, CODE, START, cast(row_number() over (
               partition by PATIENT, ENCOUNTER, CODE, START order by _row) as varchar))
               as condition_id,
        PATIENT as person_id, PATIENT as patient_id, ENCOUNTER as encounter_id,
        sdate(START) as recorded_date, sdate(START) as onset_date, sdate(STOP) as resolved_date,
        case when STOP is null then 'active' else 'resolved' end as status,
        coalesce(lower(SYSTEM), 'snomed-ct') as source_code_type, CODE as source_code,
        DESCRIPTION as source_description
      from conditions_ok order by _row""")
    counts.append(Count("conditions.csv", "condition", f.rows, out["condition"].num_rows,
                        refused + f.rows - r.scalar("select count(*) from conditions")))
    # procedures.csv -> procedure (2.x writes DATE, 3.x START/STOP).
    f = r.files["procedures.csv"]
    r.con.execute("create temp view procs as "
                  "select *, coalesce(START, DATE) as p_start from procedures")
    refused = r.reject("procedures.csv", "procedure", [
        _missing("PATIENT", "the patient"), _missing("p_start", "the date (START)"),
        _bad_date("p_start", "the date (START)")], view="procs")
    out["procedure"] = r.table("procedure", """
      select rid(PATIENT, ENCOUNTER, CODE, p_start, cast(row_number() over (
               partition by PATIENT, ENCOUNTER, CODE, p_start order by _row) as varchar))
               as procedure_id,
        PATIENT as person_id, PATIENT as patient_id, ENCOUNTER as encounter_id,
        sdate(p_start) as procedure_date,
        coalesce(lower(SYSTEM), 'snomed-ct') as source_code_type, CODE as source_code,
        DESCRIPTION as source_description
      from procs_ok order by _row""")
    counts.append(Count("procedures.csv", "procedure", f.rows, out["procedure"].num_rows,
                        refused + f.rows - r.scalar("select count(*) from procedures")))
    # observations.csv -> observation: LOINC codes (Observations.Code), VALUE kept as the
    # text the file holds (a number stays exactly as written).
    f = r.files["observations.csv"]
    refused = r.reject("observations.csv", "observation", [
        _missing("PATIENT", "the patient"), _missing("DATE", "the date"),
        _bad_date("DATE", "the date")])
    out["observation"] = r.table("observation", """
      select rid(PATIENT, ENCOUNTER, CODE, DATE, cast(row_number() over (
               partition by PATIENT, ENCOUNTER, CODE, DATE order by _row) as varchar))
               as observation_id,
        PATIENT as person_id, PATIENT as patient_id, ENCOUNTER as encounter_id,
        sdate(DATE) as observation_date, CATEGORY as observation_type,
        'loinc' as source_code_type, CODE as source_code, DESCRIPTION as source_description,
        VALUE as result, UNITS as source_units
      from observations_ok order by _row""")
    counts.append(Count("observations.csv", "observation", f.rows, out["observation"].num_rows,
                        refused + f.rows - r.scalar("select count(*) from observations")))
    # careplans.csv -> care_plan (category: the plan's SNOMED CT code).
    f = r.files["careplans.csv"]
    if f.present:
        refused = r.reject("careplans.csv", "care plan", [
            _missing("Id", "the care plan id"), _missing("PATIENT", "the patient"),
            _missing("START", "the start"), _bad_date("START", "the start")])
        out["care_plan"] = r.table("care_plan", """
          select Id as care_plan_id, PATIENT as person_id, PATIENT as patient_id,
            ENCOUNTER as encounter_id,
            case when STOP is null then 'active' else 'completed' end as status,
            'plan' as intent, sdate(START) as start_date, sdate(STOP) as end_date,
            'snomed-ct' as category_code_type, CODE as category_code,
            DESCRIPTION as category_description
          from careplans_ok order by _row""")
        counts.append(Count("careplans.csv", "care plan", f.rows, out["care_plan"].num_rows,
                            refused + f.rows - r.scalar("select count(*) from careplans")))
    return out


def _providers(r: _Reader, counts: list[Count]) -> pa.Table:
    """providers.csv / organizations.csv -> provider, keyed by NPI: only rows that carry one
    (the CSV File Data Dictionary has no NPI column in 2.x-3.x exports)."""
    parts = []
    for name, entity, query in (
        ("providers.csv", "individual", """
          select p.NPI as npi, p.NAME as provider_name, 'individual' as entity_type,
            lower(p.SPECIALITY) as specialty, p.ORGANIZATION as organization_id,
            o.NAME as organization_name, p._row
          from providers p left join organizations o on o.Id = p.ORGANIZATION
          where p.NPI is not null"""),
        ("organizations.csv", "organization", """
          select NPI as npi, NAME as provider_name, 'organization' as entity_type,
            null as specialty, Id as organization_id, NAME as organization_name, _row
          from organizations where NPI is not null"""),
    ):
        f = r.files[name]
        if not f.present:
            continue
        has_npi = "NPI" in f.source_columns
        t = r.table("provider", f"select * exclude (_row) from ({query}) order by _row")
        n = r.scalar(f"select count(*) from {name.removesuffix('.csv')}")
        unreadable = f.rows - n
        counts.append(Count(name, entity, f.rows, t.num_rows, unreadable, n - t.num_rows,
                            (("no NPI" if has_npi else
                              "this Synthea version writes no NPI column; provider rows are "
                              "keyed by NPI") if n - t.num_rows else None)))
        parts.append(t)
    return pa.concat_tables(parts) if parts else columns_to_table("provider", {})


__all__ = ["convert_synthea_csv", "is_synthea_csv"]
