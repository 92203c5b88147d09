"""The third-party datasets the format converters are tested on (not copied into the
repository): $MEDSYNERGY_SHARED/data, the `shared` folder beside the checkout, or the
machine's /work/shared (a clean clone made elsewhere still finds them)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    here = Path(__file__).resolve().parents[2]
    roots = [Path(os.environ["MEDSYNERGY_SHARED"])] if "MEDSYNERGY_SHARED" in os.environ else []
    roots += [here.parent / "shared", Path("/work/shared")]
    for root in roots:
        if (root / "data").is_dir():
            return (root / "data").resolve()
    raise FileNotFoundError(f"no shared data folder under any of {roots}")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder holding synthea-r4-smart, bulk-ndjson-10pt, cms-fixtures, synthea-csv-27pt."""
    return shared_data_dir()
