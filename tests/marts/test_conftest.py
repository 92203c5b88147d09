"""The test helper itself: canonical columns, nulls for what is not given, typed values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import ibis

from .conftest import rows, table


def test_table_fills_the_canonical_columns(con: ibis.BaseBackend) -> None:
    t = table(con, "medical_claim", [{"claim_id": "C1", "claim_start_date": "2024-01-15",
                                      "paid_amount": "10.05"}])
    got = rows(con, t, ["claim_id", "claim_start_date", "paid_amount", "payer"])
    assert got == [{"claim_id": "C1", "claim_start_date": dt.date(2024, 1, 15),
                    "paid_amount": Decimal("10.05"), "payer": None}]
