"""CMS DE-SynPUF (2008-2010 Data Entrepreneurs' Synthetic Public Use File) -> the claims
input tables (docs/formats_desynpuf.md).

The five DE-SynPUF file types (CMS "DE-SynPUF Data User Document" and "Codebook"):
Beneficiary Summary (one file per year) -> eligibility; Inpatient and Outpatient Claims ->
institutional medical_claim lines; Carrier Claims (files A and B) -> professional
medical_claim lines; Prescription Drug Events -> pharmacy_claim.

Set-based: each file is read by DuckDB (in memory, every value as text) and mapped with
SQL. The wide repeating groups become rows in SQL: the 13 carrier lines and the 45 HCPCS
codes with UNNEST of a per-row list (one scan, file order kept, no sort), the 4 coverage
month counts with UNION ALL; no Python runs per row. A real Sample 1 holds about 116k
beneficiaries and carrier files of millions of rows.

A record that cannot be placed (no DESYNPUF_ID, no claim id, no claim from date or one
that is not a day, an unreadable segment number or coverage month count) is `Rejected`
with its 1-based data row and the raw row as a JSON object; the rest of the file loads.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.errors import InputFileError, MissingColumnsError
from medsynergy.ingest.formats import Converted, Count, Derived, Rejected, columns_to_table
from medsynergy.schema import table as canonical_table

BENEFICIARY, INPATIENT, OUTPATIENT, CARRIER, PDE = (
    "beneficiary", "inpatient", "outpatient", "carrier", "pde")

#: Count.record_type of each file type.
RECORD_TYPES: dict[str, str] = {
    BENEFICIARY: "beneficiary summary row",
    INPATIENT: "inpatient claim",
    OUTPATIENT: "outpatient claim",
    CARRIER: "carrier claim",
    PDE: "prescription drug event",
}

#: claim_id = prefix + CLM_ID / PDE_ID: CLM_IDs are unique only within a file type (a
#: carrier CLM_ID can equal an inpatient one in the real Sample 1).
CLAIM_PREFIX: dict[str, str] = {INPATIENT: "ip:", OUTPATIENT: "op:", CARRIER: "car:", PDE: "pde:"}

#: The Medicare part that pays each file's claims (Data User Document: inpatient claims
#: are Part A, outpatient and carrier claims Part B, PDEs Part D). The same names are the
#: eligibility plans, so the cost marts find each line's member-month.
PLAN: dict[str, str] = {INPATIENT: "part a", OUTPATIENT: "part b", CARRIER: "part b", PDE: "part d"}
PAYER = "medicare"

#: UB-04 type of bill the SynPUF does not carry, by file (CMS Claims Processing Manual
#: ch. 25, FL 4): 111 hospital inpatient admit-through-discharge, 131 hospital outpatient.
BILL_TYPE: dict[str, str] = {INPATIENT: "111", OUTPATIENT: "131"}

#: Revenue-centre lines per claim segment (ResDAC: at most 45 revenue lines per record /
#: segment; the SynPUF's HCPCS_CD_1..45). Segment s has lines (s-1)*45+1 .. s*45.
LINES_PER_SEGMENT = 45
N_CARRIER_LINES = 13

#: Eligibility plans from the Beneficiary Summary month counts (Codebook: months of Part
#: A, Part B, HMO (Medicare Advantage, Part C) and Part D plan coverage in the year).
COVERAGE: tuple[tuple[str, str], ...] = (
    ("part a", "BENE_HI_CVRAGE_TOT_MONS"),
    ("part b", "BENE_SMI_CVRAGE_TOT_MONS"),
    ("part c", "BENE_HMO_CVRAGE_TOT_MONS"),
    ("part d", "PLAN_CVRG_MOS_NUM"),
)

#: SSA state codes (SP_STATE_CODE; Blue Button / CCW variable STATE_CD, "SSA code, not
#: FIPS") -> USPS postal codes. Codes outside this table (54-63 foreign / other, 97-99)
#: are kept as given.
_USPS: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN", "TX",
    "UT", "VT", "VI", "VA", "WA", "WV", "WI", "WY",
)
SSA_STATE: dict[str, str] = {f"{i:02d}": s for i, s in enumerate(_USPS, start=1)}

# --- layouts (CMS DE-SynPUF Codebook) -------------------------------------------------

BENEFICIARY_COLUMNS: tuple[str, ...] = (
    "DESYNPUF_ID", "BENE_BIRTH_DT", "BENE_DEATH_DT", "BENE_SEX_IDENT_CD", "BENE_RACE_CD",
    "BENE_ESRD_IND", "SP_STATE_CODE", "BENE_COUNTY_CD", "BENE_HI_CVRAGE_TOT_MONS",
    "BENE_SMI_CVRAGE_TOT_MONS", "BENE_HMO_CVRAGE_TOT_MONS", "PLAN_CVRG_MOS_NUM",
)
_INSTITUTIONAL_COMMON: tuple[str, ...] = (
    "DESYNPUF_ID", "CLM_ID", "SEGMENT", "CLM_FROM_DT", "CLM_THRU_DT", "PRVDR_NUM",
    "CLM_PMT_AMT", "NCH_PRMRY_PYR_CLM_PD_AMT", "AT_PHYSN_NPI", "OP_PHYSN_NPI", "OT_PHYSN_NPI",
    "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM", "ADMTNG_ICD9_DGNS_CD",
    *(f"ICD9_DGNS_CD_{i}" for i in range(1, 11)),
    *(f"ICD9_PRCDR_CD_{i}" for i in range(1, 7)),
    *(f"HCPCS_CD_{i}" for i in range(1, LINES_PER_SEGMENT + 1)),
)
INPATIENT_COLUMNS: tuple[str, ...] = (
    *_INSTITUTIONAL_COMMON, "CLM_ADMSN_DT", "CLM_PASS_THRU_PER_DIEM_AMT",
    "NCH_BENE_IP_DDCTBL_AMT", "NCH_BENE_PTA_COINSRNC_LBLTY_AM", "CLM_UTLZTN_DAY_CNT",
    "NCH_BENE_DSCHRG_DT", "CLM_DRG_CD",
)
OUTPATIENT_COLUMNS: tuple[str, ...] = (
    *_INSTITUTIONAL_COMMON, "NCH_BENE_PTB_DDCTBL_AMT", "NCH_BENE_PTB_COINSRNC_AMT",
)
_CARRIER_LINE_FIELDS: tuple[str, ...] = (
    "PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_NCH_PMT_AMT", "LINE_BENE_PTB_DDCTBL_AMT",
    "LINE_BENE_PRMRY_PYR_PD_AMT", "LINE_COINSRNC_AMT", "LINE_ALOWD_CHRG_AMT",
    "LINE_PRCSG_IND_CD", "LINE_ICD9_DGNS_CD",
)
_CARRIER_LINE_AMOUNTS: tuple[str, ...] = (
    "LINE_NCH_PMT_AMT", "LINE_BENE_PTB_DDCTBL_AMT", "LINE_BENE_PRMRY_PYR_PD_AMT",
    "LINE_COINSRNC_AMT", "LINE_ALOWD_CHRG_AMT",
)
CARRIER_COLUMNS: tuple[str, ...] = (
    "DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT",
    *(f"ICD9_DGNS_CD_{i}" for i in range(1, 9)),
    *(f"{f}_{n}" for f in _CARRIER_LINE_FIELDS for n in range(1, N_CARRIER_LINES + 1)),
)
PDE_COLUMNS: tuple[str, ...] = (
    "DESYNPUF_ID", "PDE_ID", "SRVC_DT", "PROD_SRVC_ID", "QTY_DSPNSD_NUM", "DAYS_SUPLY_NUM",
    "PTNT_PAY_AMT", "TOT_RX_CST_AMT",
)
COLUMNS: dict[str, tuple[str, ...]] = {
    BENEFICIARY: BENEFICIARY_COLUMNS, INPATIENT: INPATIENT_COLUMNS,
    OUTPATIENT: OUTPATIENT_COLUMNS, CARRIER: CARRIER_COLUMNS, PDE: PDE_COLUMNS,
}
#: Columns a file of each type cannot be converted without (the file is refused).
REQUIRED: dict[str, tuple[str, ...]] = {
    BENEFICIARY: ("DESYNPUF_ID", *(c for _, c in COVERAGE)),
    INPATIENT: ("DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT"),
    OUTPATIENT: ("DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT"),
    CARRIER: ("DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT"),
    PDE: ("DESYNPUF_ID", "PDE_ID", "SRVC_DT"),
}
#: Header columns that identify each file type (checked in this order: inpatient before
#: outpatient, which shares most of its columns).
_SIGNATURE: tuple[tuple[str, frozenset[str]], ...] = (
    (BENEFICIARY, frozenset({"DESYNPUF_ID", "BENE_BIRTH_DT", "BENE_HI_CVRAGE_TOT_MONS"})),
    (INPATIENT, frozenset({"DESYNPUF_ID", "CLM_ID", "CLM_ADMSN_DT", "CLM_DRG_CD"})),
    (CARRIER, frozenset({"DESYNPUF_ID", "CLM_ID", "LINE_NCH_PMT_AMT_1"})),
    (OUTPATIENT, frozenset({"DESYNPUF_ID", "CLM_ID", "PRVDR_NUM", "NCH_BENE_PTB_COINSRNC_AMT"})),
    (PDE, frozenset({"DESYNPUF_ID", "PDE_ID", "PROD_SRVC_ID"})),
)
#: CMS file names: DE1_0_2008_Beneficiary_Summary_File_Sample_1.csv,
#: DE1_0_2008_to_2010_Carrier_Claims_Sample_1A.csv, ... (a zip of one CSV each).
_NAME: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(rf"(^|_){token}(_|\.)", re.IGNORECASE)) for kind, token in (
        (BENEFICIARY, "Beneficiary_Summary"), (INPATIENT, "Inpatient_Claims"),
        (OUTPATIENT, "Outpatient_Claims"), (CARRIER, "Carrier_Claims"),
        (PDE, "Prescription_Drug_Events"),
    ))
_CSV = re.compile(r"\.csv(\.gz)?\Z", re.IGNORECASE)
_YEAR = re.compile(r"(?<![0-9])((?:19|20)[0-9]{2})(?![0-9])")

#: How each derived value is formed (Derived.how), by (table, column).
DERIVED_HOW: dict[tuple[str, str], str] = {
    ("eligibility", "enrollment_start_date"):
        "the SynPUF gives months of coverage per year, not dates: the year's last N months "
        "(the first of month 13-N), or for a beneficiary who died that year the N months "
        "ending with the month of death",
    ("eligibility", "enrollment_end_date"):
        "31 December of the file's year, or the death date when the beneficiary died that year",
    ("eligibility", "medicare_status_code"):
        "from BENE_ESRD_IND and age on enrollment_end_date: 10 aged, 11 aged with ESRD, "
        "20 under 65 (disabled), 31 under 65 with ESRD",
    ("eligibility", "death_flag"): "1 when BENE_DEATH_DT is given, else 0",
    ("medical_claim", "bill_type_code"):
        "111 for inpatient, 131 for outpatient claims (the SynPUF has no type of bill)",
    ("medical_claim", "plan"):
        "the Medicare part of the file: inpatient part a, outpatient and carrier part b",
    ("medical_claim", "allowed_amount"):
        "institutional: CLM_PMT_AMT + deductible + coinsurance (+ blood deductible)",
    ("medical_claim", "deductible_amount"):
        "institutional: the Part A / Part B deductible plus the blood deductible",
    ("medical_claim", "claim_end_date"): "CLM_FROM_DT when CLM_THRU_DT is empty",
    ("pharmacy_claim", "paid_amount"): "TOT_RX_CST_AMT - PTNT_PAY_AMT",
    ("pharmacy_claim", "plan"): "part d (prescription drug events are Part D)",
}

# --- detection ------------------------------------------------------------------------


def _header(path: Path) -> list[str] | None:
    """The column names on a CSV file's first line (as written), or None if unreadable."""
    try:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:
            line = handle.readline(1 << 16)
    except (OSError, UnicodeDecodeError, EOFError):
        return None
    names = next(csv.reader([line]), [])
    return [n.strip() for n in names]


def file_kind(path: Path) -> str | None:
    """The DE-SynPUF file type of `path` (by its header, else its CMS file name), or None."""
    if not path.is_file() or not _CSV.search(path.name):
        return None
    header = {c.upper() for c in _header(path) or ()}
    for kind, columns in _SIGNATURE:
        if columns <= header:
            return kind
    for kind, pattern in _NAME:
        if pattern.search(path.name):
            return kind
    return None


def is_desynpuf(path: Path) -> bool:
    """True for a DE-SynPUF file (CMS file name or header), or a folder holding one."""
    path = Path(path)
    if path.is_dir():
        return any(file_kind(f) is not None for f in sorted(path.rglob("*"))
                   if not f.name.startswith("."))
    return file_kind(path) is not None


# --- the conversion -------------------------------------------------------------------

_MACROS = r"""
CREATE OR REPLACE MACRO v(x) AS NULLIF(TRIM(x), '');
CREATE OR REPLACE MACRO dday(x) AS CASE WHEN regexp_full_match(TRIM(x), '[0-9]{8}')
    THEN CAST(TRY_STRPTIME(TRIM(x), '%Y%m%d') AS DATE) END;
CREATE OR REPLACE MACRO iso(x) AS COALESCE(strftime(dday(x), '%Y-%m-%d'), v(x));
CREATE OR REPLACE MACRO num(x) AS TRY_CAST(v(x) AS DECIMAL(38, 10));
CREATE OR REPLACE MACRO money(x) AS
    regexp_replace(CAST(x AS VARCHAR), '(\.[0-9]{2}[0-9]*?)0*$', '\1');
CREATE OR REPLACE MACRO nonzero(x) AS v(x) IS NOT NULL AND coalesce(num(x) <> 0, true);
"""


@cache
def _input_columns(name: str) -> tuple[str, ...]:
    """The input columns of canonical table `name` (what `columns_to_table` emits)."""
    return tuple(c.name for c in canonical_table(name).columns if c.role.value == "input")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _derived(*parts: tuple[str, str]) -> str:
    """SQL for derived_columns: the names whose condition holds, comma-separated."""
    items = ", ".join(f"CASE WHEN {cond} THEN {_lit(name)} END" for name, cond in parts)
    return f"NULLIF(concat_ws(',', {items}), '')"


@dataclass
class _Result:
    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    counts: list[Count] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    derived: dict[tuple[str, str], int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _Converter:
    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute(_MACROS)
        self.out = _Result()

    # -- reading ----------------------------------------------------------------------

    def _load(self, path: Path, kind: str) -> None:
        """Table `raw` = the file as read (every value text, in file order: DuckDB keeps
        insertion order, so rowid + 1 is the 1-based data row); view `s` = the layout's
        columns (absent optional columns as NULL) plus `_rn`."""
        header = _header(path) or []
        present = {c.upper(): c for c in header}
        missing = [c for c in REQUIRED[kind] if c not in present]
        if missing:
            raise MissingColumnsError(str(path), f"DE-SynPUF {RECORD_TYPES[kind]}", missing)
        # The columns are given, not sniffed: a row with more or fewer fields than the
        # header is then an error (a sniffed read was seen to shift the values of a row
        # with one field too many into the next columns).
        columns = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in header) + "}"
        try:
            self.con.execute(
                "CREATE OR REPLACE TABLE raw AS SELECT * FROM read_csv(?, auto_detect = false, "
                f"header = true, delim = ',', quote = '\"', escape = '\"', columns = {columns})",
                [str(path)])
        except duckdb.Error as exc:
            raise InputFileError(str(path), f"not a readable DE-SynPUF CSV file: {exc}") from exc
        cols = ", ".join(f"{_q(present[c])} AS {_q(c)}" if c in present
                         else f"CAST(NULL AS VARCHAR) AS {_q(c)}" for c in COLUMNS[kind])
        self.con.execute(f"CREATE OR REPLACE VIEW s AS SELECT rowid + 1 AS _rn, {cols} FROM raw")

    def _check(self, path: Path, kind: str, rules: Sequence[tuple[str, str, str]]) -> int:
        """View `ok`: the rows of `s` no rule refuses; the refused rows become Rejected
        (rule, reason, row number, raw row as JSON). `rules` = (condition, rule, reason),
        the first that holds wins. Returns the number of rows read."""
        rule = "CASE " + " ".join(f"WHEN {c} THEN {_lit(r)}" for c, r, _ in rules) + " END"
        reason = "CASE " + " ".join(f"WHEN {c} THEN {_lit(m)}" for c, _, m in rules) + " END"
        self.con.execute(f"CREATE OR REPLACE TABLE chk AS SELECT _rn, {rule} AS _rule, "
                         f"{reason} AS _reason FROM s")
        # A filter, not a join with chk: scans, filters, projections and UNNEST keep the
        # file's order in DuckDB, so the output needs no sort (a sort of millions of wide
        # lines costs seconds and gigabytes).
        self.con.execute(f"CREATE OR REPLACE VIEW ok AS SELECT * FROM s WHERE ({rule}) IS NULL")
        # the raw row as a JSON object, made for the refused rows only (after the join)
        bad = self.con.execute(
            "SELECT c._rn, c._rule, c._reason, CAST(to_json(raw) AS VARCHAR) FROM raw "
            "JOIN (SELECT * FROM chk WHERE _rule IS NOT NULL) c ON raw.rowid + 1 = c._rn "
            "ORDER BY c._rn").fetchall()
        self.out.rejected.extend(
            Rejected(str(path), int(rn), RECORD_TYPES[kind], str(rule_), str(reason_), str(raw))
            for rn, rule_, reason_, raw in bad)
        return self._scalar("SELECT count(*) FROM chk")

    def _emit(self, table: str, sql: str) -> pa.Table:
        """Run the mapping `sql` (columns named as input columns, all text) and keep it."""
        got = self.con.sql(sql).to_arrow_table()
        cols: dict[str, pa.Array | pa.ChunkedArray] = {
            name: got.column(name) for name in got.column_names if not name.startswith("_")}
        # One all-null array shared by every column the source does not fill (most of the
        # ~190 medical_claim columns): a fresh one per column costs seconds at 1M lines.
        nulls = pa.nulls(got.num_rows, pa.string())
        for name in _input_columns(table):
            cols.setdefault(name, nulls)
        result = columns_to_table(table, cols)
        self.out.tables.setdefault(table, []).append(result)
        if "derived_columns" in got.column_names:
            self.con.register("_emitted", got.select(["derived_columns"]))
            for col, n in self.con.execute(
                    "SELECT c, count(*) FROM (SELECT unnest(string_split(derived_columns, ',')) "
                    "AS c FROM _emitted) GROUP BY c").fetchall():
                key = (table, str(col))
                self.out.derived[key] = self.out.derived.get(key, 0) + int(n)
            self.con.unregister("_emitted")
        return got

    def _scalar(self, sql: str) -> int:
        # fetchall, not fetchone: DuckDB refuses the next query while a result is unfinished
        rows = self.con.execute(sql).fetchall()
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    # -- claims: common refusals --------------------------------------------------------

    @staticmethod
    def _claim_rules(id_col: str, date_col: str, *, segment: bool) -> list[tuple[str, str, str]]:
        rules = [
            ("v(DESYNPUF_ID) IS NULL", "source_required_missing", "no DESYNPUF_ID"),
            (f"v({id_col}) IS NULL", "source_required_missing", f"no {id_col}"),
            (f"v({date_col}) IS NULL", "source_required_missing", f"no {date_col}"),
            (f"dday({date_col}) IS NULL", "source_value_invalid",
             f"{date_col} is not a YYYYMMDD day"),
        ]
        if segment:
            rules.append(("v(SEGMENT) IS NOT NULL AND NOT coalesce("
                          "regexp_full_match(v(SEGMENT), '[0-9]{1,3}') "
                          "AND TRY_CAST(v(SEGMENT) AS INTEGER) >= 1, false)",
                          "source_value_invalid", "SEGMENT is not a positive whole number"))
        return rules

    # -- beneficiary summary -> eligibility ---------------------------------------------

    def beneficiary(self, path: Path) -> None:
        found = _YEAR.findall(path.name)
        if not found:
            raise InputFileError(str(path), "a Beneficiary Summary file must carry its year "
                                 "in its name (DE1_0_2008_Beneficiary_Summary_File_Sample_1.csv)")
        year = int(found[0])
        self._load(path, BENEFICIARY)
        month_ok = " AND ".join(
            f"coalesce(regexp_full_match(v({c}), '[0-9]{{1,2}}') AND TRY_CAST(v({c}) AS INTEGER) "
            f"<= 12, false)" for _, c in COVERAGE)
        n_in = self._check(path, BENEFICIARY, [
            ("v(DESYNPUF_ID) IS NULL", "source_required_missing", "no DESYNPUF_ID"),
            (f"NOT ({month_ok})", "source_value_invalid",
             "a coverage month count (BENE_HI/SMI/HMO_CVRAGE_TOT_MONS, PLAN_CVRG_MOS_NUM) is "
             "not a whole number 0-12"),
        ])
        first, last = f"make_date({year}, 1, 1)", f"make_date({year}, 12, 31)"
        parts = " UNION ALL ".join(
            f"SELECT _rn, {_lit(plan)} AS plan, TRY_CAST(v({c}) AS INTEGER) AS n FROM ok"
            for plan, c in COVERAGE)
        ssa = ", ".join(f"{_lit(k)}: {_lit(v)}" for k, v in SSA_STATE.items())
        # The Codebook gives months of coverage per year, not dates. A beneficiary alive at
        # the year's end with N < 12 months most often became entitled during the year
        # (aging in at 65), so the span is the year's last N months (as OHDSI ETL-CMS forms
        # its observation periods); one who died that year was covered up to death, so the
        # span is the N months ending with the month of death and ends on the death date.
        # A beneficiary who died before the year has no span in it.
        self.con.execute(f"""
            CREATE OR REPLACE TABLE spans AS
            WITH b AS (
                SELECT *, dday(BENE_DEATH_DT) AS _dd, dday(BENE_BIRTH_DT) AS _bd FROM ok),
            p AS ({parts}),
            x AS (
                SELECT b.*, p.plan, p.n,
                       (b._dd IS NOT NULL AND b._dd <= {last}) AS _died
                FROM p JOIN b USING (_rn)
                WHERE p.n > 0 AND (b._dd IS NULL OR b._dd >= {first}))
            SELECT x.*,
                   CASE WHEN _died THEN make_date({year}, greatest(1, month(_dd) - n + 1), 1)
                        ELSE make_date({year}, 13 - n, 1) END AS _start,
                   CASE WHEN _died THEN _dd ELSE {last} END AS _end
            FROM x""")
        # Medicare status (CMS MBSF MDCR_STATUS_CODE): under 65, Medicare entitlement is by
        # disability or ESRD only, so age and BENE_ESRD_IND give it; an ESRD beneficiary under
        # 65 is coded 31 (ESRD only: the file cannot tell 21, disabled with ESRD).
        age = "datesub('year', _bd, _end)"
        self._emit("eligibility", f"""
            SELECT _rn,
                v(DESYNPUF_ID) AS person_id, v(DESYNPUF_ID) AS member_id,
                CASE v(BENE_SEX_IDENT_CD) WHEN '1' THEN 'male' WHEN '2' THEN 'female'
                     ELSE v(BENE_SEX_IDENT_CD) END AS gender,
                v(BENE_RACE_CD) AS race,
                iso(BENE_BIRTH_DT) AS birth_date, iso(BENE_DEATH_DT) AS death_date,
                CASE WHEN v(BENE_DEATH_DT) IS NULL THEN '0' ELSE '1' END AS death_flag,
                strftime(_start, '%Y-%m-%d') AS enrollment_start_date,
                strftime(_end, '%Y-%m-%d') AS enrollment_end_date,
                {_lit(PAYER)} AS payer, {_lit(PAYER)} AS payer_type, plan,
                CASE WHEN _bd IS NULL THEN NULL
                     WHEN upper(v(BENE_ESRD_IND)) = 'Y'
                          THEN CASE WHEN {age} >= 65 THEN '11' ELSE '31' END
                     WHEN v(BENE_ESRD_IND) = '0'
                          THEN CASE WHEN {age} >= 65 THEN '10' ELSE '20' END
                     END AS medicare_status_code,
                coalesce(MAP {{{ssa}}}[lpad(v(SP_STATE_CODE), 2, '0')], v(SP_STATE_CODE)) AS state,
                {_derived(("enrollment_start_date", "true"), ("enrollment_end_date", "true"),
                          ("medicare_status_code", "_bd IS NOT NULL AND (upper(v(BENE_ESRD_IND)) = 'Y' OR v(BENE_ESRD_IND) = '0')"),
                          ("death_flag", "true"))} AS derived_columns
            FROM spans ORDER BY _rn, plan""")
        n_ok = self._scalar("SELECT count(*) FROM ok")
        converted = self._scalar("SELECT count(DISTINCT _rn) FROM spans")
        died_before = self._scalar(f"""
            SELECT count(*) FROM ok WHERE dday(BENE_DEATH_DT) < make_date({year}, 1, 1)
            AND _rn NOT IN (SELECT _rn FROM spans)""")
        no_months = n_ok - converted - died_before
        reasons = [f"no months of Part A, B, C (HMO) or D coverage in {year} ({no_months})"
                   if no_months else "",
                   f"died before {year} ({died_before})" if died_before else ""]
        self.out.counts.append(Count(
            str(path), RECORD_TYPES[BENEFICIARY], n_in, converted,
            quarantined=n_in - n_ok, skipped=n_ok - converted,
            skipped_reason="; ".join(r for r in reasons if r) or None))

    # -- inpatient / outpatient -> institutional lines ----------------------------------

    def institutional(self, path: Path, kind: str) -> None:
        self._load(path, kind)
        n_in = self._check(path, kind, self._claim_rules("CLM_ID", "CLM_FROM_DT", segment=True))
        codes = ", ".join(f"v(HCPCS_CD_{i})" for i in range(1, LINES_PER_SEGMENT + 1))
        # only the header columns go through UNNEST (not the 45 code columns)
        header = ", ".join(["_rn", *(c for c in COLUMNS[kind] if not c.startswith("HCPCS_CD_"))])
        inpatient = kind == INPATIENT
        ded = "NCH_BENE_IP_DDCTBL_AMT" if inpatient else "NCH_BENE_PTB_DDCTBL_AMT"
        coins = "NCH_BENE_PTA_COINSRNC_LBLTY_AM" if inpatient else "NCH_BENE_PTB_COINSRNC_AMT"
        blood = "NCH_BENE_BLOOD_DDCTBL_LBLTY_AM"
        with_blood = f"nonzero({blood})"
        allowed = (f"CASE WHEN num(CLM_PMT_AMT) IS NOT NULL AND (v({ded}) IS NULL OR num({ded}) "
                   f"IS NOT NULL) AND (v({coins}) IS NULL OR num({coins}) IS NOT NULL) AND "
                   f"(v({blood}) IS NULL OR num({blood}) IS NOT NULL) THEN money(num(CLM_PMT_AMT) "
                   f"+ coalesce(num({ded}), 0) + coalesce(num({coins}), 0) "
                   f"+ coalesce(num({blood}), 0)) END")
        deductible = (f"CASE WHEN {with_blood} AND num({blood}) IS NOT NULL AND (v({ded}) IS NULL "
                      f"OR num({ded}) IS NOT NULL) THEN money(coalesce(num({ded}), 0) + "
                      f"num({blood})) ELSE v({ded}) END")
        first = "_k = 1"
        dx = ", ".join(f"v(ICD9_DGNS_CD_{i}) AS diagnosis_code_{i}" for i in range(1, 11))
        px = ", ".join(f"v(ICD9_PRCDR_CD_{i}) AS procedure_code_{i}" for i in range(1, 7))
        stay = ("iso(CLM_ADMSN_DT) AS admission_date, iso(NCH_BENE_DSCHRG_DT) AS discharge_date, "
                "CASE WHEN v(CLM_DRG_CD) IS NOT NULL THEN 'ms-drg' END AS drg_code_type, "
                "v(CLM_DRG_CD) AS drg_code," if inpatient else "")
        # One line per HCPCS code given (the SynPUF keeps no line amounts, dates or revenue
        # codes), numbered densely; a claim row with no code is one line. The claim's amounts
        # go on the first line of its segment only, so a claim's lines sum to it exactly.
        self._emit("medical_claim", f"""
            WITH c AS (
                SELECT {header}, list_filter([{codes}], lambda x: x IS NOT NULL) AS _codes,
                       coalesce(TRY_CAST(v(SEGMENT) AS INTEGER), 1) AS _seg
                FROM ok),
            l AS (
                SELECT *,
                    unnest(CASE WHEN len(_codes) = 0 THEN [CAST(NULL AS VARCHAR)]
                                ELSE _codes END) AS _hcpcs,
                    unnest(range(1, greatest(len(_codes), 1) + 1)) AS _k
                FROM c)
            SELECT _rn,
                {_lit(CLAIM_PREFIX[kind])} || v(CLM_ID) AS claim_id,
                CAST((_seg - 1) * {LINES_PER_SEGMENT} + _k AS VARCHAR) AS claim_line_number,
                'institutional' AS claim_type,
                v(DESYNPUF_ID) AS person_id, v(DESYNPUF_ID) AS member_id,
                {_lit(PAYER)} AS payer, {_lit(PLAN[kind])} AS plan,
                iso(CLM_FROM_DT) AS claim_start_date,
                iso(coalesce(v(CLM_THRU_DT), v(CLM_FROM_DT))) AS claim_end_date,
                {stay}
                {_lit(BILL_TYPE[kind])} AS bill_type_code,
                _hcpcs AS hcpcs_code,
                v(AT_PHYSN_NPI) AS rendering_npi,
                CASE WHEN {first} THEN v(CLM_PMT_AMT) END AS paid_amount,
                CASE WHEN {first} THEN {allowed} END AS allowed_amount,
                CASE WHEN {first} THEN v({coins}) END AS coinsurance_amount,
                CASE WHEN {first} THEN {deductible} END AS deductible_amount,
                'icd-9-cm' AS diagnosis_code_type, {dx},
                'icd-9-pcs' AS procedure_code_type, {px},
                {_derived(("bill_type_code", "true"), ("plan", "true"),
                          ("claim_end_date", "v(CLM_THRU_DT) IS NULL"),
                          ("allowed_amount", f"{first} AND ({allowed}) IS NOT NULL"),
                          ("deductible_amount", f"{first} AND {with_blood} AND num({blood}) IS NOT NULL"))}
                    AS derived_columns
            FROM l""")
        n_ok = self._scalar("SELECT count(*) FROM ok")
        later = self._scalar("SELECT count(*) FROM ok WHERE TRY_CAST(v(SEGMENT) AS INTEGER) > 1")
        if later:
            self.out.notes.append(
                f"{path.name}: {later} claim rows are segment 2 or later of a claim; their lines "
                f"are numbered from (segment - 1) x {LINES_PER_SEGMENT} + 1 and keep their own "
                "amounts (added to the claim, never dropped)")
        self.out.counts.append(Count(str(path), RECORD_TYPES[kind], n_in, n_ok,
                                     quarantined=n_in - n_ok))

    # -- carrier -> professional lines --------------------------------------------------

    def carrier(self, path: Path) -> None:
        self._load(path, CARRIER)
        n_in = self._check(path, CARRIER, self._claim_rules("CLM_ID", "CLM_FROM_DT",
                                                            segment=False))
        texts = ("PRF_PHYSN_NPI", "TAX_NUM", "HCPCS_CD", "LINE_PRCSG_IND_CD", "LINE_ICD9_DGNS_CD")
        slots = ", ".join(
            "{'n': " + str(n) + ", " + ", ".join(f"{_lit(f)}: {f}_{n}" for f in _CARRIER_LINE_FIELDS)
            + "}" for n in range(1, N_CARRIER_LINES + 1))
        # A line exists when it has a code, a provider, a diagnosis, a processing indicator
        # or a non-zero amount: the SynPUF fills the 13 slots with zeros, and a slot of zeros
        # and blanks carries nothing (an amount that is not a number is kept for ingest).
        header = ", ".join(["_rn", "DESYNPUF_ID", "CLM_ID", "CLM_FROM_DT", "CLM_THRU_DT",
                            *(f"ICD9_DGNS_CD_{i}" for i in range(1, 9))])
        present = " OR ".join([*(f"v(_l.{f}) IS NOT NULL" for f in texts),
                               *(f"nonzero(_l.{a})" for a in _CARRIER_LINE_AMOUNTS)])
        dx = ", ".join(f"v(ICD9_DGNS_CD_{i}) AS diagnosis_code_{i}" for i in range(1, 9))
        got = self._emit("medical_claim", f"""
            WITH l AS (SELECT {header}, unnest([{slots}]) AS _l FROM ok)
            SELECT _rn,
                {_lit(CLAIM_PREFIX[CARRIER])} || v(CLM_ID) AS claim_id,
                CAST(_l.n AS VARCHAR) AS claim_line_number,
                'professional' AS claim_type,
                v(DESYNPUF_ID) AS person_id, v(DESYNPUF_ID) AS member_id,
                {_lit(PAYER)} AS payer, {_lit(PLAN[CARRIER])} AS plan,
                iso(CLM_FROM_DT) AS claim_start_date,
                iso(coalesce(v(CLM_THRU_DT), v(CLM_FROM_DT))) AS claim_end_date,
                v(_l.HCPCS_CD) AS hcpcs_code,
                v(_l.PRF_PHYSN_NPI) AS rendering_npi, v(_l.TAX_NUM) AS billing_tin,
                v(_l.LINE_NCH_PMT_AMT) AS paid_amount,
                v(_l.LINE_ALOWD_CHRG_AMT) AS allowed_amount,
                v(_l.LINE_COINSRNC_AMT) AS coinsurance_amount,
                v(_l.LINE_BENE_PTB_DDCTBL_AMT) AS deductible_amount,
                'icd-9-cm' AS diagnosis_code_type, {dx},
                v(_l.LINE_ICD9_DGNS_CD) AS diagnosis_code_9,
                {_derived(("plan", "true"), ("claim_end_date", "v(CLM_THRU_DT) IS NULL"))}
                    AS derived_columns
            FROM l WHERE {present}""")
        n_ok = self._scalar("SELECT count(*) FROM ok")
        converted = pc.count_distinct(got.column("_rn")).as_py()
        self.out.counts.append(Count(
            str(path), RECORD_TYPES[CARRIER], n_in, converted, quarantined=n_in - n_ok,
            skipped=n_ok - converted,
            skipped_reason=("no line with a code, provider, diagnosis or non-zero amount"
                            if n_ok > converted else None)))

    # -- prescription drug events -> pharmacy_claim -------------------------------------

    def pde(self, path: Path) -> None:
        self._load(path, PDE)
        n_in = self._check(path, PDE, self._claim_rules("PDE_ID", "SRVC_DT", segment=False))
        paid = ("CASE WHEN num(TOT_RX_CST_AMT) IS NOT NULL AND num(PTNT_PAY_AMT) IS NOT NULL "
                "THEN money(num(TOT_RX_CST_AMT) - num(PTNT_PAY_AMT)) END")
        self._emit("pharmacy_claim", f"""
            SELECT _rn,
                {_lit(CLAIM_PREFIX[PDE])} || v(PDE_ID) AS claim_id, '1' AS claim_line_number,
                v(DESYNPUF_ID) AS person_id, v(DESYNPUF_ID) AS member_id,
                {_lit(PAYER)} AS payer, {_lit(PLAN[PDE])} AS plan,
                iso(SRVC_DT) AS dispensing_date,
                v(PROD_SRVC_ID) AS ndc_code,
                v(QTY_DSPNSD_NUM) AS quantity, v(DAYS_SUPLY_NUM) AS days_supply,
                {paid} AS paid_amount,
                v(TOT_RX_CST_AMT) AS allowed_amount,
                v(PTNT_PAY_AMT) AS copayment_amount,
                {_derived(("paid_amount", f"({paid}) IS NOT NULL"), ("plan", "true"))}
                    AS derived_columns
            FROM ok""")
        n_ok = self._scalar("SELECT count(*) FROM ok")
        self.out.counts.append(Count(str(path), RECORD_TYPES[PDE], n_in, n_ok,
                                     quarantined=n_in - n_ok))

    def run(self, path: Path, kind: str) -> None:
        try:
            if kind == BENEFICIARY:
                self.beneficiary(path)
            elif kind in (INPATIENT, OUTPATIENT):
                self.institutional(path, kind)
            elif kind == CARRIER:
                self.carrier(path)
            else:
                self.pde(path)
        finally:
            # free the file's rows before the next file is read (a carrier file is GBs)
            self.con.execute("DROP VIEW IF EXISTS ok; DROP VIEW IF EXISTS s; "
                             "DROP TABLE IF EXISTS chk; DROP TABLE IF EXISTS spans; "
                             "DROP TABLE IF EXISTS raw")

    def close(self) -> None:
        self.con.close()


def _files(paths: Iterable[Path]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """The DE-SynPUF files under `paths` with their type, and the files of a folder that are
    not DE-SynPUF (ignored, named in a note). A file named explicitly must be one."""
    found: list[tuple[Path, str]] = []
    ignored: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            for f in sorted(path.rglob("*")):
                if not f.is_file() or f.name.startswith("."):
                    continue
                kind = file_kind(f)
                if kind is None:
                    ignored.append(f)
                else:
                    found.append((f, kind))
        elif path.is_file():
            kind = file_kind(path)
            if kind is None:
                raise InputFileError(str(path), "not a DE-SynPUF file (by its name or header)")
            found.append((path, kind))
        else:
            raise InputFileError(str(path), "no such file or folder")
    if not found:
        raise InputFileError(", ".join(str(p) for p in paths), "no DE-SynPUF files found")
    return found, ignored


_NOTES: tuple[str, ...] = (
    "DE-SynPUF eligibility spans are formed from the Beneficiary Summary month counts (the "
    "file has no dates): the year's last N months, or the N months up to the death date for "
    "a beneficiary who died that year; one span per beneficiary x year x Medicare part "
    "(part a, part b, part c = HMO months, part d)",
    "DE-SynPUF claim ids are prefixed by file type (ip:, op:, car:, pde:) because CLM_IDs are "
    "unique only within a file type",
)


def convert_desynpuf(paths: Sequence[Path]) -> Converted:
    """Convert DE-SynPUF files (or folders holding them) into the claims input tables."""
    files, ignored = _files(paths)
    conv = _Converter()
    try:
        for path, kind in files:
            conv.run(path, kind)
    finally:
        conv.close()
    out = conv.out
    tables: dict[str, pa.Table] = {}
    for name in ("eligibility", "medical_claim", "pharmacy_claim"):
        parts = out.tables.get(name, [])
        tables[name] = (pa.concat_tables(parts) if parts
                        else columns_to_table(name, {}))
    derived = tuple(Derived(t, c, DERIVED_HOW.get((t, c), "derived"), n)
                    for (t, c), n in sorted(out.derived.items()))
    notes = list(_NOTES) + out.notes
    if ignored:
        notes.append(f"ignored {len(ignored)} files that are not DE-SynPUF: "
                     + ", ".join(f.name for f in ignored[:10])
                     + (" ..." if len(ignored) > 10 else ""))
    return Converted(tables=tables, counts=tuple(out.counts), rejected=tuple(out.rejected),
                     derived=derived, notes=tuple(notes))


__all__ = ["convert_desynpuf", "file_kind", "is_desynpuf"]
