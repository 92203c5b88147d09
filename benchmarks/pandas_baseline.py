"""The naive baseline of issue 7: PMPM by service category and 30-day readmissions,
written the way an analyst would in pandas, straight from the generated Parquet files.

    python benchmarks/pandas_baseline.py DATA_DIR

It reads only the columns it needs and aggregates before it merges (any analyst does
that much; merging the 47M lines of 1M member-years with the member-months first ran out
of 24 GiB), and uses vectorised pandas throughout (no row loops, no `apply`): a fair
baseline, not a straw man. The
service-category rules are a short version of medsynergy's (inpatient / ED / outpatient /
office / other by bill type, revenue centre and place of service) and readmissions are
any inpatient admission within 30 days of a discharge, without the CMS exclusions: less
work than medsynergy does, so the ratio flatters pandas. Prints one JSON object: seconds
and the figures computed (so a run that computed nothing cannot look fast).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

MEDICAL = ["person_id", "payer", "plan", "claim_type", "bill_type_code",
           "place_of_service_code", "revenue_center_code", "claim_start_date", "paid_amount"]
STAYS = ["claim_id", "person_id", "claim_type", "bill_type_code", "claim_start_date",
         "claim_end_date", "admission_date", "discharge_date"]
ELIGIBILITY = ["person_id", "payer", "plan", "enrollment_start_date", "enrollment_end_date"]


def member_months(elig: pd.DataFrame) -> pd.DataFrame:
    """One row per person x payer x plan x month enrolled on any day of the month."""
    start = elig["enrollment_start_date"].dt.to_period("M")
    end = elig["enrollment_end_date"].dt.to_period("M")
    n = (end.astype("int64") - start.astype("int64") + 1).to_numpy()
    idx = np.repeat(np.arange(len(elig)), n)
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    months = start.astype("int64").to_numpy()[idx] + offset
    out = pd.DataFrame({"person_id": elig["person_id"].to_numpy()[idx],
                        "payer": elig["payer"].to_numpy()[idx],
                        "plan": elig["plan"].to_numpy()[idx], "month": months})
    return out.drop_duplicates()


def service_category(med: pd.DataFrame) -> pd.Series:
    bill, rev = med["bill_type_code"].str, med["revenue_center_code"].str
    pos = med["place_of_service_code"]
    inst = med["claim_type"] == "institutional"
    conditions = [
        inst & bill.startswith("11", na=False),
        rev.startswith("045", na=False) | (pos == "23"),
        inst & bill.startswith("13", na=False),
        inst & bill.startswith("21", na=False),
        pos == "11",
    ]
    labels = ["acute inpatient", "emergency department", "outpatient hospital",
              "skilled nursing", "office visit", "other"]
    # codes, not strings: np.select over strings makes a fixed-width text array (80 bytes
    # a line)
    codes = np.select(conditions, list(range(5)), default=5).astype(np.int8)
    return pd.Series(pd.Categorical.from_codes(codes, labels), index=med.index)


def pmpm_by_category(med: pd.DataFrame, mm: pd.DataFrame) -> pd.DataFrame:
    # aggregate the lines per member-month and category first, then keep the enrolled
    # member-months (merging 47M lines with the member-months first needs over 24 GiB)
    lines = pd.DataFrame({
        "person_id": med["person_id"], "payer": med["payer"], "plan": med["plan"],
        "month": med["claim_start_date"].dt.to_period("M").astype("int64"),
        "service_category": service_category(med),
        "paid": med["paid_amount"].astype("float64")})
    per_member = lines.groupby(["person_id", "payer", "plan", "month", "service_category"],
                               as_index=False, observed=True)["paid"].sum()
    del lines
    enrolled = per_member.merge(mm, on=["person_id", "payer", "plan", "month"], how="inner")
    spend = enrolled.groupby(["payer", "plan", "month", "service_category"],
                             as_index=False, observed=True)["paid"].sum()
    den = mm.groupby(["payer", "plan", "month"], as_index=False, observed=True).size()
    out = spend.merge(den, on=["payer", "plan", "month"])
    out["paid_pmpm"] = (out["paid"] / out["size"]).round(2)
    return out


def readmissions(med: pd.DataFrame) -> pd.DataFrame:
    inp = med[(med["claim_type"] == "institutional")
              & med["bill_type_code"].str.startswith("11", na=False)]
    stays = inp.groupby(["person_id", "claim_id"], as_index=False).agg(
        admit=("admission_date", "min"), discharge=("discharge_date", "max"),
        start=("claim_start_date", "min"), end=("claim_end_date", "max"))
    stays["admit"] = stays["admit"].fillna(stays["start"])
    stays["discharge"] = stays["discharge"].fillna(stays["end"])
    stays = stays.sort_values(["person_id", "admit"])
    nxt = stays.groupby("person_id")["admit"].shift(-1)
    gap = (nxt - stays["discharge"]).dt.days
    stays["readmit_30"] = gap.between(1, 30)
    return stays


def main() -> None:
    data = Path(sys.argv[1])
    t0 = time.perf_counter()
    # through Arrow: dates as datetime64 and amounts as floats (not Python date and
    # Decimal objects), text as categories, and the stay columns of institutional lines
    # only, as an analyst who has met a large file would (plain read_parquet of the 47M
    # lines of 1M member-years ran out of 24 GiB)
    path = data / "medical_claim.parquet"
    table = pq.read_table(path, columns=MEDICAL)
    table = table.set_column(table.schema.get_field_index("paid_amount"), "paid_amount",
                             pc.cast(table["paid_amount"], pa.float64()))
    med = table.to_pandas(date_as_object=False, strings_to_categorical=True)
    del table
    inst = pq.read_table(path, columns=STAYS, filters=[("claim_type", "=", "institutional")]
                         ).to_pandas(date_as_object=False)
    elig = pq.read_table(data / "eligibility.parquet", columns=ELIGIBILITY).to_pandas(
        date_as_object=False, strings_to_categorical=True)
    mm = member_months(elig)
    stays = readmissions(inst)
    pmpm = pmpm_by_category(med, mm)
    claim_lines = len(med)
    del med
    seconds = time.perf_counter() - t0
    sys.stdout.write(json.dumps({
        "seconds": round(seconds, 2), "claim_lines": claim_lines, "member_months": len(mm),
        "pmpm_rows": len(pmpm), "paid_in_enrolled_months": round(float(pmpm["paid"].sum()), 2),
        "stays": len(stays), "readmissions_30d": int(stays["readmit_30"].sum()),
    }) + "\n")


if __name__ == "__main__":
    main()
