"""Claim lines (numpy) -> input-layer Arrow tables: medical_claim."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from medsynergy.synth import costshare as CS
from medsynergy.synth.ids import padded
from medsynergy.synth.lines import (
    N_DX,
    NULL_DAY,
    STRING_CODES,
    Block,
    V,
    date_array,
    decimal_array,
    encoded,
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
S = STRING_CODES  # text columns with few distinct values per chunk: dictionary-encoded
MEDICAL_SCHEMA = pa.schema([
    ("claim_id", pa.string()), ("claim_line_number", pa.int32()),
    ("claim_type", S), ("person_id", S), ("member_id", S), ("payer", S), ("plan", S),
    ("claim_start_date", pa.date32()), ("claim_end_date", pa.date32()),
    ("claim_line_start_date", pa.date32()), ("claim_line_end_date", pa.date32()),
    ("admission_date", pa.date32()), ("discharge_date", pa.date32()),
    ("admit_source_code", S), ("admit_type_code", S), ("discharge_disposition_code", S),
    ("place_of_service_code", S), ("bill_type_code", S), ("drg_code_type", S), ("drg_code", S),
    ("revenue_center_code", S), ("service_unit_quantity", QUANTITY),
    ("hcpcs_code", S), ("hcpcs_modifier_1", S),
    ("rendering_npi", S), ("rendering_tin", S), ("billing_npi", S), ("billing_tin", S),
    ("facility_npi", S),
    ("paid_date", pa.date32()), ("paid_amount", MONEY), ("allowed_amount", MONEY),
    ("charge_amount", MONEY), ("coinsurance_amount", MONEY), ("copayment_amount", MONEY),
    ("deductible_amount", MONEY), ("diagnosis_code_type", S),
    *[(f"diagnosis_code_{i}", S) for i in range(1, N_DX + 1)],
    ("diagnosis_poa_1", S),
    ("procedure_code_type", S), ("procedure_code_1", S),
    ("procedure_date_1", pa.date32()), ("in_network_flag", pa.int8()),
])


def sort_lines(b: Block) -> Block:
    """Lines by person, claim start, claim and line number."""
    c = b.cols
    keys = [np.asarray(c[k], dtype=np.int64) for k in ("person", "claim_start", "claim", "line")]
    # one packed int64 key sorts several times faster than lexsort over four arrays
    lows = [k.min() if len(k) else 0 for k in keys]
    bits = [int(k.max() - lo).bit_length() if len(k) else 0 for k, lo in zip(keys, lows, strict=True)]
    if sum(bits) > 62:
        return take(b, np.lexsort(keys[::-1]))
    packed = np.zeros(len(b), dtype=np.int64)
    for k, lo, width in zip(keys, lows, bits, strict=True):
        packed <<= width
        packed |= k - lo
    return take(b, np.argsort(packed, kind="stable"))


def _constant(present: npt.NDArray[np.bool_], text: str) -> pa.DictionaryArray:
    """`text` where `present`, else null."""
    return encoded(np.where(present, 0, -1), pa.array([text]))


def medical_table(b: Block, people: People, period: Period, prov: ProviderIndex,
                  plans: npt.NDArray[np.int8], claim_base: int,
                  paid_lag: npt.NDArray[np.int64]) -> pa.Table:
    """Sorted lines -> medical_claim rows; claim ids are `claim_base` + the block's numbers."""
    c = b.cols
    amounts = CS.apply(b, people, period, plans)
    person = c["person"]
    yi = np.clip(year_of(c["claim_start"]) - period.first_year, 0, period.years - 1)
    payers, payer_of = np.unique(people.payer, return_inverse=True)
    plans, plan_of = np.unique(people.plan_by_year, return_inverse=True)
    plan_of = plan_of.reshape(people.plan_by_year.shape)
    cols: dict[str, pa.Array] = {
        "claim_id": padded(c["claim"] + claim_base, 16, "M"),
        "claim_line_number": pa.array(c["line"], pa.int32()),
        "person_id": encoded(person, people.person_id),
        "member_id": encoded(person, people.member_id),
        "payer": encoded(payer_of[person], pa.array(payers, pa.string())),
        "plan": encoded(plan_of[person, yi], pa.array(plans, pa.string())),
        "claim_start_date": date_array(c["claim_start"]),
        "claim_end_date": date_array(c["claim_end"]),
        "claim_line_start_date": date_array(c["line_start"]),
        "claim_line_end_date": date_array(c["line_end"]),
        "admission_date": date_array(c["admission"]),
        "discharge_date": date_array(c["discharge"]),
        "drg_code_type": _constant(c["drg"] >= 0, "ms-drg"),
        "service_unit_quantity": decimal_array(c["units_milli"].astype(np.int64), 3),
        "rendering_npi": encoded(c["rendering"], prov.npi),
        "rendering_tin": encoded(prov.tin_of(c["rendering"]), prov.tins),
        "billing_npi": encoded(c["billing"], prov.npi),
        "billing_tin": encoded(prov.tin_of(c["billing"]), prov.tins),
        "facility_npi": encoded(c["facility"], prov.npi),
        "paid_date": date_array(c["claim_end"] + paid_lag.astype(np.int32)),
        "paid_amount": decimal_array(amounts.paid),
        "allowed_amount": decimal_array(amounts.allowed),
        "charge_amount": decimal_array(amounts.charge),
        "coinsurance_amount": decimal_array(amounts.coinsurance),
        "copayment_amount": decimal_array(amounts.copayment),
        "deductible_amount": decimal_array(amounts.deductible),
        "diagnosis_code_type": _constant(b.dx[:, 0] >= 0, "icd-10-cm"),
        "diagnosis_poa_1": _constant(c["poa"] == 1, "Y"),
        "procedure_code_type": _constant(c["pcs"] >= 0, "icd-10-pcs"),
        "procedure_code_1": V.text(c["pcs"]),
        "procedure_date_1": date_array(np.where(c["pcs"] >= 0, c["pcs_date"], NULL_DAY)),
        "in_network_flag": pa.array(np.ones(len(b), dtype=np.int8)),
    }
    for column, field in _CODE_COLUMNS.items():
        cols[column] = V.text(c[field])
    for i in range(N_DX):
        cols[f"diagnosis_code_{i + 1}"] = V.text(b.dx[:, i])
    return pa.table({f.name: cols[f.name] for f in MEDICAL_SCHEMA}, schema=MEDICAL_SCHEMA)
