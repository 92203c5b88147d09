"""Claim lines (numpy) -> input-layer Arrow tables: medical_claim."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from medsynergy.synth import costshare as CS
from medsynergy.synth.ids import padded
from medsynergy.synth.lines import (
    N_DX,
    NULL_DAY,
    Block,
    V,
    date_array,
    decimal_array,
    take,
    year_of,
)
from medsynergy.synth.people import People, Period
from medsynergy.synth.providers import ProviderIndex

MONEY = pa.decimal128(18, 2)
QUANTITY = pa.decimal128(18, 3)
_CODE_COLUMNS = {
    "claim_type": "claim_type", "admit_source_code": "admit_source",
    "admit_type_code": "admit_type", "discharge_disposition_code": "disposition",
    "place_of_service_code": "pos", "bill_type_code": "bill_type", "drg_code": "drg",
    "revenue_center_code": "revenue", "hcpcs_code": "hcpcs", "hcpcs_modifier_1": "modifier",
}
MEDICAL_SCHEMA = pa.schema([
    ("claim_id", pa.string()), ("claim_line_number", pa.int32()),
    ("claim_type", pa.string()), ("person_id", pa.string()), ("member_id", pa.string()),
    ("payer", pa.string()), ("plan", pa.string()),
    ("claim_start_date", pa.date32()), ("claim_end_date", pa.date32()),
    ("claim_line_start_date", pa.date32()), ("claim_line_end_date", pa.date32()),
    ("admission_date", pa.date32()), ("discharge_date", pa.date32()),
    ("admit_source_code", pa.string()), ("admit_type_code", pa.string()),
    ("discharge_disposition_code", pa.string()), ("place_of_service_code", pa.string()),
    ("bill_type_code", pa.string()), ("drg_code_type", pa.string()), ("drg_code", pa.string()),
    ("revenue_center_code", pa.string()), ("service_unit_quantity", QUANTITY),
    ("hcpcs_code", pa.string()), ("hcpcs_modifier_1", pa.string()),
    ("rendering_npi", pa.string()), ("rendering_tin", pa.string()),
    ("billing_npi", pa.string()), ("billing_tin", pa.string()), ("facility_npi", pa.string()),
    ("paid_date", pa.date32()), ("paid_amount", MONEY), ("allowed_amount", MONEY),
    ("charge_amount", MONEY), ("coinsurance_amount", MONEY), ("copayment_amount", MONEY),
    ("deductible_amount", MONEY), ("diagnosis_code_type", pa.string()),
    *[(f"diagnosis_code_{i}", pa.string()) for i in range(1, N_DX + 1)],
    ("diagnosis_poa_1", pa.string()),
    ("procedure_code_type", pa.string()), ("procedure_code_1", pa.string()),
    ("procedure_date_1", pa.date32()), ("in_network_flag", pa.int8()),
])


def sort_lines(b: Block) -> Block:
    c = b.cols
    return take(b, np.lexsort((c["line"], c["claim"], c["claim_start"], c["person"])))


def _provider(prov: ProviderIndex, rows: npt.NDArray[np.integer], what: pa.StringArray) -> pa.Array:
    mask = rows < 0
    idx = pa.array(np.where(mask, 0, rows).astype(np.int64), mask=mask if mask.any() else None)
    return what.take(idx)


def medical_table(b: Block, people: People, period: Period, prov: ProviderIndex,
                  plans: npt.NDArray[np.int8], claim_base: int,
                  paid_lag: npt.NDArray[np.int64]) -> pa.Table:
    """Sorted lines -> medical_claim rows; claim ids are `claim_base` + the block's numbers."""
    c = b.cols
    amounts = CS.apply(b, people, period, plans)
    person = pa.array(c["person"], pa.int64())
    year = year_of(c["claim_start"])
    yi = np.clip(year - period.first_year, 0, period.years - 1)
    plan = pa.array(people.plan_by_year[c["person"], yi], pa.string()) if len(b) else pa.array(
        [], pa.string())
    cols: dict[str, pa.Array] = {
        "claim_id": padded(c["claim"] + claim_base, 16, "M"),
        "claim_line_number": pa.array(c["line"], pa.int32()),
        "person_id": people.person_id.take(person),
        "member_id": people.member_id.take(person),
        "payer": pa.array(people.payer, pa.string()).take(person),
        "plan": plan,
        "claim_start_date": date_array(c["claim_start"]),
        "claim_end_date": date_array(c["claim_end"]),
        "claim_line_start_date": date_array(c["line_start"]),
        "claim_line_end_date": date_array(c["line_end"]),
        "admission_date": date_array(c["admission"]),
        "discharge_date": date_array(c["discharge"]),
        "drg_code_type": pc.if_else(pc.greater_equal(pa.array(c["drg"]), 0),
                                    pa.scalar("ms-drg"), pa.scalar(None, pa.string())),
        "service_unit_quantity": decimal_array(c["units_milli"].astype(np.int64), 3),
        "rendering_npi": _provider(prov, c["rendering"], prov.npi),
        "rendering_tin": _provider(prov, c["rendering"], prov.tin),
        "billing_npi": _provider(prov, c["billing"], prov.npi),
        "billing_tin": _provider(prov, c["billing"], prov.tin),
        "facility_npi": _provider(prov, c["facility"], prov.npi),
        "paid_date": date_array(c["claim_end"] + paid_lag.astype(np.int32)),
        "paid_amount": decimal_array(amounts.paid),
        "allowed_amount": decimal_array(amounts.allowed),
        "charge_amount": decimal_array(amounts.charge),
        "coinsurance_amount": decimal_array(amounts.coinsurance),
        "copayment_amount": decimal_array(amounts.copayment),
        "deductible_amount": decimal_array(amounts.deductible),
        "diagnosis_code_type": pc.if_else(pc.greater_equal(pa.array(b.dx[:, 0]), 0),
                                          pa.scalar("icd-10-cm"), pa.scalar(None, pa.string())),
        "diagnosis_poa_1": pc.if_else(pc.equal(pa.array(c["poa"]), 1), pa.scalar("Y"),
                                      pa.scalar(None, pa.string())),
        "procedure_code_type": pc.if_else(pc.greater_equal(pa.array(c["pcs"]), 0),
                                          pa.scalar("icd-10-pcs"), pa.scalar(None, pa.string())),
        "procedure_code_1": V.text(c["pcs"]),
        "procedure_date_1": date_array(np.where(c["pcs"] >= 0, c["pcs_date"], NULL_DAY)),
        "in_network_flag": pa.array(np.ones(len(b), dtype=np.int8)),
    }
    for column, field in _CODE_COLUMNS.items():
        cols[column] = V.text(c[field])
    for i in range(N_DX):
        cols[f"diagnosis_code_{i + 1}"] = V.text(b.dx[:, i])
    return pa.table({f.name: cols[f.name] for f in MEDICAL_SCHEMA}, schema=MEDICAL_SCHEMA)
