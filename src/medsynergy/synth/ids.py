"""Identifiers, vectorised: NPIs with a valid check digit, TINs, padded string ids."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

IntArray = npt.NDArray[np.int64]

# EIN prefixes the IRS assigns (IRS, "How EINs are assigned and valid EIN prefixes").
EIN_PREFIXES = np.array([10, 20, 26, 27, 45, 46, 47, 81, 82, 83, 84, 85, 86, 87, 88, 91, 92,
                         93, 98, 99], dtype=np.int64)


def unique_integers(rng: np.random.Generator, n: int, low: int, high: int) -> IntArray:
    """`n` distinct integers in [low, high), in the order first drawn."""
    draws = rng.integers(low, high, size=2 * n + 16, dtype=np.int64)
    _, first = np.unique(draws, return_index=True)
    picked = draws[np.sort(first)][:n]
    if len(picked) < n:  # pragma: no cover - impossible for the ranges used here
        raise ValueError("range too small for unique draws")
    return picked


def npi_check_digits(base: IntArray) -> IntArray:
    """The check digit of 9-digit NPI bases: Luhn over 80840 + base (CMS NPPES)."""
    digits = (base[:, None] // 10 ** np.arange(8, -1, -1, dtype=np.int64)) % 10
    doubled = digits[:, 0::2] * 2
    total = 24 + np.where(doubled > 9, doubled - 9, doubled).sum(axis=1) + digits[:, 1::2].sum(axis=1)
    check: IntArray = (10 - total % 10) % 10
    return check


def npis(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` distinct valid NPIs (10 digits, first digit 1 or 2)."""
    base = unique_integers(rng, n, 100_000_000, 300_000_000)
    return padded(base * 10 + npi_check_digits(base), 10)


def tins(rng: np.random.Generator, n: int) -> pa.StringArray:
    """`n` distinct 9-digit TINs (EINs) with valid IRS prefixes."""
    serial = unique_integers(rng, n, 0, 10_000_000)
    prefix = EIN_PREFIXES[rng.integers(0, len(EIN_PREFIXES), size=n)]
    return padded(prefix * 10_000_000 + serial, 9)


def padded(values: npt.NDArray[np.integer], width: int, prefix: str = "") -> pa.StringArray:
    """Integers as zero-padded strings, with an optional prefix: 7 -> 'P000007'."""
    text = pc.utf8_lpad(pc.cast(pa.array(values, type=pa.int64()), pa.string()), width, "0")
    if prefix:
        text = pc.binary_join_element_wise(prefix, text, "")
    return text
