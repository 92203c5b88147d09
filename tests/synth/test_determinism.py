from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from medsynergy.synth import build, generate
from medsynergy.synth.ids import npi_check_digits, npis, tins

FILES = ("eligibility.parquet", "medical_claim.parquet", "pharmacy_claim.parquet",
         "observation.parquet", "provider.parquet", "aco.json", "manifest.json")
PILOT = "chronic-pain:share=0.3,start=2024-07-01,ed_visits=-0.15,promis_physical_t=+3"


def _digests(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


@pytest.mark.parametrize("population", ["medicare", "commercial", "mixed"])
def test_same_arguments_give_byte_identical_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, population: str
) -> None:
    # small chunks, so that several chunks (each with its own random stream) are written
    monkeypatch.setattr(build, "CHUNK_MEMBERS", 700)
    a = generate(tmp_path / "a", members=2_500, years=(2023, 2025), seed=5, population=population,
                 pilot=PILOT)
    b = generate(tmp_path / "b", members=2_500, years=(2023, 2025), seed=5, population=population,
                 pilot=PILOT)
    assert a.eligibility_rows == b.eligibility_rows > 2_500
    assert a.medical_claim_rows == b.medical_claim_rows > 25 * 2_500
    assert _digests(tmp_path / "a") == _digests(tmp_path / "b")
    truth = "pilot_truth.json"
    assert (tmp_path / "a" / truth).read_bytes() == (tmp_path / "b" / truth).read_bytes()


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    generate(tmp_path / "a", members=1_000, years=(2024, 2024), seed=1)
    generate(tmp_path / "b", members=1_000, years=(2024, 2024), seed=2)
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    for name in FILES[:5]:
        assert a[name] != b[name], name


def test_npi_check_digit_matches_the_cms_example() -> None:
    # CMS "Requirements for NPI check digit": 123456789 has check digit 3.
    assert npi_check_digits(np.array([123456789], dtype=np.int64)).tolist() == [3]


def test_npis_and_tins_are_distinct_and_shaped() -> None:
    rng = np.random.default_rng(0)
    n = npis(rng, 5_000).to_pylist()
    t = tins(rng, 5_000).to_pylist()
    assert len(set(n)) == 5_000
    assert len(set(t)) == 5_000
    assert all(len(x) == 10 and x.isdigit() and x[0] in "12" for x in n)
    assert all(len(x) == 9 and x.isdigit() for x in t)
