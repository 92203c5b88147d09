"""Realism figures of a generated folder, computed with DuckDB straight from its Parquet files.

These are the checks of docs/generator.md (and tests/synth/test_realism.py): simple,
transparent definitions close to the MSSP public-use-file measures, not the full measure
logic of the warehouse (issue 4). Per member-year figures use covered days / 365.25.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

MEMBER_YEARS = """
select sum(datediff('day', enrollment_start_date, enrollment_end_date) + 1) / 365.25
from e where payer_type = '{payer_type}'
"""

SQL: dict[str, str] = {
    "admissions_per_1000": """
        select 1000 * count(distinct claim_id) / {my} from m
        where bill_type_code = '111' and payer_type = '{payer_type}'""",
    # every ED visit has the emergency physician's claim (CPT 99281-99285 at place of
    # service 23); one visit per member per day
    "ed_visits_per_1000": """
        select 1000 * count(distinct (person_id, claim_line_start_date)) / {my} from m
        where place_of_service_code = '23' and hcpcs_code between '99281' and '99285'
          and payer_type = '{payer_type}'""",
    "ed_visits_ending_in_admission_per_1000": """
        select 1000 * count(distinct claim_id) / {my} from m
        where bill_type_code = '111' and revenue_center_code = '0450'
          and payer_type = '{payer_type}'""",
    "snf_admissions_per_1000": """
        select 1000 * count(distinct claim_id) / {my} from m
        where bill_type_code = '211' and payer_type = '{payer_type}'""",
    "medical_allowed_pmpm": """
        select sum(allowed_amount) / ({my} * 12) from m where payer_type = '{payer_type}'""",
    "medical_paid_pmpm": """
        select sum(paid_amount) / ({my} * 12) from m where payer_type = '{payer_type}'""",
    "pharmacy_allowed_pmpm": """
        select sum(allowed_amount) / ({my} * 12) from r where payer_type = '{payer_type}'""",
    "em_office_visits_per_1000": """
        select 1000 * count(*) / {my} from m
        where place_of_service_code = '11' and claim_line_number = 1
          and regexp_matches(hcpcs_code, '^992(0[2-5]|1[2-5])$') and payer_type = '{payer_type}'""",
}

READMISSION_RATE = """
with stays as (
    select person_id, claim_id, min(admission_date) as admit, max(discharge_date) as disch,
           max(discharge_disposition_code) as disp
    from m where bill_type_code = '111' and payer_type = '{payer_type}'
    group by person_id, claim_id
), idx as (
    select s.*, (select min(t.admit) from stays t
                 where t.person_id = s.person_id and t.admit > s.disch) as next_admit
    from stays s
    where disp not in ('02', '07', '20', '50', '51')
)
select avg(case when next_admit is not null and datediff('day', disch, next_admit) <= 30
                then 1.0 else 0.0 end), count(*)
from idx
"""

TOP5_SHARE = """
with spend as (
    select person_id, year(claim_start_date) as y, sum(allowed_amount) as allowed
    from m where payer_type = '{payer_type}' group by all
), members as (
    select distinct person_id, year(enrollment_start_date) as y from e
    where payer_type = '{payer_type}'
), all_ as (
    select coalesce(s.allowed, 0) as allowed from members p
    left join spend s using (person_id, y)
), ranked as (
    select allowed, ntile(20) over (order by allowed desc) as tile from all_
)
select sum(allowed) filter (where tile = 1) / sum(allowed) from ranked
"""

PREVALENCE = """
with people as (select distinct person_id from e where payer_type = '{payer_type}'),
codes as (select condition, icd10cm_code from cc),
dx as (
    select distinct person_id, unnest([{dx_columns}]) as code from m
    where payer_type = '{payer_type}'
),
has as (select distinct person_id, condition from dx join codes on code = icd10cm_code)
select condition, count(*) / (select count(*) from people) from has group by condition
order by condition
"""


def connect(folder: Path) -> duckdb.DuckDBPyConnection:
    from medsynergy import refdata

    con = duckdb.connect()
    con.execute(f"create view e as select * from read_parquet('{folder}/eligibility.parquet')")
    con.execute(f"""create view m as select c.*, t.payer_type
        from read_parquet('{folder}/medical_claim.parquet') c
        join (select distinct person_id, payer_type
              from read_parquet('{folder}/eligibility.parquet')) t using (person_id)""")
    con.execute(f"""create view r as select c.*, t.payer_type
        from read_parquet('{folder}/pharmacy_claim.parquet') c
        join (select distinct person_id, payer_type
              from read_parquet('{folder}/eligibility.parquet')) t using (person_id)""")
    con.register("cc_arrow", refdata.load("chronic_condition_codes"))
    con.execute("create view cc as select * from cc_arrow")
    return con


def profile(folder: str | Path, payer_type: str = "medicare") -> dict[str, Any]:
    """The realism figures of one payer type in a generated folder."""
    con = connect(Path(folder))
    my = con.execute(MEMBER_YEARS.format(payer_type=payer_type)).fetchone()
    member_years = float(my[0]) if my and my[0] else 0.0
    out: dict[str, Any] = {"member_years": member_years}
    for name, sql in SQL.items():
        row = con.execute(sql.format(my=member_years, payer_type=payer_type)).fetchone()
        out[name] = float(row[0]) if row and row[0] is not None else 0.0
    row = con.execute(READMISSION_RATE.format(payer_type=payer_type)).fetchone()
    out["readmission_rate"], out["index_stays"] = (float(row[0] or 0), int(row[1])) if row else (0, 0)
    row = con.execute(TOP5_SHARE.format(payer_type=payer_type)).fetchone()
    out["top5_share_of_allowed"] = float(row[0]) if row and row[0] is not None else 0.0
    dx_columns = ", ".join(f"diagnosis_code_{i}" for i in range(1, 13))
    out["prevalence"] = {c: float(p) for c, p in con.execute(
        PREVALENCE.format(payer_type=payer_type, dx_columns=dx_columns)).fetchall()}
    return out
