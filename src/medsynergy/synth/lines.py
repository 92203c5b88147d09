"""Claim lines as columns of integers, turned into Arrow once per chunk.

Every text field with few distinct values (codes, revenue centres, places of service...) is
held as an int32 index into one vocabulary, `VOCAB`, and every provider as a row index into
the provider table, so building millions of lines is numpy arithmetic; the strings are made
at the end with Arrow `take`, in C++. -1 means null everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
EPOCH = np.datetime64("1970-01-01", "D")
N_DX = 12  # diagnosis columns written (the schema has 25; the generator uses up to 12)


class Vocab:
    """Codes -> dense int32 indices, in order of first use (deterministic)."""

    def __init__(self) -> None:
        self._index: dict[str, int] = {}
        self.codes: list[str] = []
        self._arrow: pa.StringArray | None = None

    def __call__(self, code: str) -> int:
        i = self._index.get(code)
        if i is None:
            i = len(self.codes)
            self._index[code] = i
            self.codes.append(code)
            self._arrow = None
        return i

    def many(self, codes: Iterable[str]) -> I32:
        return np.array([self(c) for c in codes], dtype=np.int32)

    def text(self, idx: npt.NDArray[np.integer]) -> pa.DictionaryArray:
        """Indices -> dictionary-encoded strings (null where -1), the dictionary sorted.

        The vocabulary's own order depends on what the process generated before, so the
        dictionary is re-ordered by the codes themselves: the file's bytes do not.
        """
        if self._arrow is None:
            self._arrow = pa.array(self.codes, pa.string())
        return encoded(idx, self._arrow, sort=True)


INT32 = pa.int32()
STRING_CODES = pa.dictionary(INT32, pa.string())  # how text columns are built and written


def encoded(idx: npt.NDArray[np.integer], values: pa.Array, *,
            sort: bool = False) -> pa.DictionaryArray:
    """Row indices into `values` (distinct strings; -1 = null) -> a dictionary array of just
    the values used, in index order or, with `sort`, in code order.

    Writers store text columns dictionary-encoded anyway; handing them the dictionary saves
    both building millions of strings and hashing them again in the Parquet encoder.
    """
    arr = np.asarray(idx)
    # one slot past the end catches the -1s (numpy reads -1 as the last element)
    seen = np.zeros(len(values) + 1, dtype=np.bool_)
    seen[arr] = True
    used = np.flatnonzero(seen[:-1])
    dictionary = values.take(pa.array(used))
    if sort and len(used) > 1:
        order = pc.array_sort_indices(dictionary).to_numpy()
        used, dictionary = used[order], dictionary.take(pa.array(order))
    remap = np.zeros(len(values) + 1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    indices = _with_nulls(remap[arr], arr < 0 if seen[-1] else None)
    return pa.DictionaryArray.from_arrays(indices, dictionary)


V = Vocab()


def days(d: npt.NDArray[np.datetime64]) -> I32:
    """datetime64[D] -> int32 days since 1970 (NaT is not allowed here)."""
    out: I32 = (d.astype("datetime64[D]") - EPOCH).astype(np.int32)
    return out


def year_of(day: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """Calendar year of days since 1970."""
    out: npt.NDArray[np.int64] = (np.asarray(day).astype("datetime64[D]").astype("datetime64[Y]")
                                  .astype(np.int64) + 1970)
    return out


def date_array(d: npt.NDArray[np.integer]) -> pa.Array:
    """int days since 1970 -> date32, null where NULL_DAY."""
    arr = np.asarray(d, dtype=np.int32)
    return _with_nulls(arr, arr == NULL_DAY, pa.date32())


def _with_nulls(values: npt.NDArray[np.int32], mask: npt.NDArray[np.bool_] | None,
                kind: pa.DataType = INT32) -> pa.Array:
    """A 32-bit Arrow array over `values`' buffer, null where `mask`."""
    v = np.ascontiguousarray(values, dtype=np.int32)
    validity, nulls = None, 0
    if mask is not None:
        nulls = int(np.count_nonzero(mask))
        if nulls:
            validity = pa.py_buffer(np.packbits(~mask, bitorder="little"))
    return pa.Array.from_buffers(kind, len(v), [validity, pa.py_buffer(v)], null_count=nulls)


NULL_DAY = np.int32(-(2**31))


def decimal_array(cents: I64, scale: int = 2, mask: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """Exact DECIMAL(18, scale) from integer units of 10**-scale (cents for money).

    Arrow's decimal128 is a 16-byte two's-complement integer: the low word is the value and
    the high word its sign extension, so no float ever touches the amount.
    """
    v = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(v), 2), dtype=np.int64)
    words[:, 0] = v
    words[:, 1] = v >> 63
    buf = pa.py_buffer(words.tobytes())
    validity = None
    null_count = 0
    if mask is not None and mask.any():
        validity = pa.py_buffer(np.packbits(~mask, bitorder="little").tobytes())
        null_count = int(mask.sum())
    return pa.Array.from_buffers(pa.decimal128(18, scale), len(v), [validity, buf],
                                 null_count=null_count)


# Integer fields of a block and their null value. Code fields index VOCAB; provider fields
# index the provider table; day fields are days since 1970.
CODE_FIELDS = (
    "claim_type", "admit_source", "admit_type", "disposition", "pos", "bill_type", "drg",
    "revenue", "hcpcs", "modifier", "pcs",
)
DAY_FIELDS = ("claim_start", "claim_end", "line_start", "line_end", "admission", "discharge",
              "pcs_date")
PROVIDER_FIELDS = ("rendering", "billing", "facility")
INT_FIELDS = ("person", "claim", "line", "units_milli", "allowed", "part", "poa")
# part: which benefit pays the line, for cost sharing (see costshare.PART_*)


@dataclass
class Block:
    """Columns of claim lines, all numpy arrays of one length; `dx` is (lines, N_DX)."""

    cols: dict[str, npt.NDArray[np.integer]] = field(default_factory=dict)
    dx: npt.NDArray[np.int32] = field(default_factory=lambda: np.zeros((0, N_DX), np.int32))

    def __len__(self) -> int:
        return len(self.dx)


def _null_of(name: str) -> int:
    if name in DAY_FIELDS:
        return int(NULL_DAY)
    if name in CODE_FIELDS or name in PROVIDER_FIELDS:
        return -1
    return 0


def _dtype_of(name: str) -> type[np.integer]:
    return np.int64 if name in ("person", "claim", "units_milli", "allowed") else np.int32


def block(n: int, dx: npt.NDArray[np.int32] | None = None,
          **fields: npt.NDArray[np.integer] | int) -> Block:
    """A block of `n` lines; scalar fields broadcast; unspecified fields are null."""
    cols: dict[str, npt.NDArray[np.integer]] = {}
    for name in (*CODE_FIELDS, *DAY_FIELDS, *PROVIDER_FIELDS, *INT_FIELDS):
        value = fields.pop(name, _null_of(name))
        arr = np.empty(n, dtype=_dtype_of(name))
        arr[:] = value
        cols[name] = arr
    if fields:
        raise TypeError(f"unknown line fields: {sorted(fields)}")
    if dx is None:
        dx = np.full((n, N_DX), -1, dtype=np.int32)
    return Block(cols, dx.astype(np.int32, copy=False))


def concat(blocks: Sequence[Block]) -> Block:
    blocks = [b for b in blocks if len(b)]
    if not blocks:
        return block(0)
    cols = {k: np.concatenate([b.cols[k] for b in blocks]) for k in blocks[0].cols}
    return Block(cols, np.concatenate([b.dx for b in blocks]))


def take(b: Block, order: npt.NDArray[np.integer]) -> Block:
    return Block({k: v[order] for k, v in b.cols.items()}, b.dx[order])


def dx_rows(person: I64, person_dx: npt.NDArray[np.int32],
            principal: npt.NDArray[np.int32] | None = None) -> npt.NDArray[np.int32]:
    """Diagnosis matrix for lines: an optional principal code then the person's codes."""
    own = person_dx[person]
    if own.shape[1] < N_DX:  # pad to N_DX columns
        own = np.concatenate([own, np.full((len(own), N_DX - own.shape[1]), -1, np.int32)], axis=1)
    if principal is None:
        out: npt.NDArray[np.int32] = own[:, :N_DX].copy()
        return out
    rest = own[:, : N_DX - 1]
    # drop the person's code when it repeats the principal, shifting the rest left
    dup = rest == principal[:, None]
    keyed = np.where(dup, np.int32(-1), rest)
    order = np.argsort(keyed < 0, axis=1, kind="stable")
    rest = np.take_along_axis(keyed, order, axis=1)
    return np.concatenate([principal[:, None].astype(np.int32), rest], axis=1)
