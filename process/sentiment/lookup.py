"""A value per key of a batch of hashed keys (tokens, texts), found through numpy tables.

polars finds the distinct 64-bit hashes (``arg_unique``) and each distinct hash gets a value.
Every key then reads its value from a table indexed by the low 16 bits of its hash (a view
of the hash, so the index costs nothing): one gather, no sort. Where two distinct hashes
share a slot, the one seen first in the batch (usually the more frequent) keeps it, and
the keys of the others miss it by their check: a 15-bit hash of their own, independent of
the first, which the slot's owner does not share (if it does, the whole slot is given up).
Those keys go on to a table indexed by the next 16 bits of the hash, and so on; the few
left after the fourth are found in a sorted list.

Two different keys with the same 64-bit hash could only be taken for one another if their
checks matched as well; otherwise :func:`lookup` returns None and the caller tells keys
apart by their text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["Keys", "hashed", "keys", "lookup"]

#: Check value of a given-up slot: never a 15-bit check.
_SHARED = 0x8000
#: Hash bits per table (the hash is read as four 16-bit quarters, one per table).
_BITS = 16


def hashed(key: pl.Expr, seed: int, check_seed: int) -> list[pl.Expr]:
    """Columns ``h`` (64-bit hash of ``key``) and ``c`` (15-bit check from another hash)."""
    check = key.hash(check_seed).cast(pl.UInt16, wrap_numerical=True) & pl.lit(0x7FFF, pl.UInt16)
    return [key.hash(seed).alias("h"), check.alias("c")]


@dataclass(frozen=True)
class Keys:
    """Per key: ``hash`` (uint64) and ``check`` (uint16 below 2**15); ``first`` holds one
    key index per distinct hash."""

    hash: np.ndarray
    check: np.ndarray
    first: np.ndarray


def keys(frame: pl.DataFrame) -> Keys:
    """The :class:`Keys` of a frame with the columns of :func:`hashed` (one chunk each)."""
    hashes = frame.get_column("h")
    return Keys(
        hash=hashes.to_numpy(),
        check=frame.get_column("c").to_numpy(),
        first=hashes.arg_unique().to_numpy(),
    )


def _table(
    kslot: np.ndarray, kcheck: np.ndarray, values: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """A table of (value, check) pairs by slot, in one word each, and the keys that do not
    own their slot there."""
    index = np.arange(len(kslot), dtype=np.uint16 if len(kslot) < 1 << 16 else np.uint32)
    owner = np.empty(1 << bits, dtype=index.dtype)  # only slots written are read
    owner[kslot[::-1]] = index[::-1]  # the last write wins: the key seen first
    home = owner[kslot]
    lost = np.flatnonzero(home != index)
    table = np.empty((1 << bits, 2), dtype=values.dtype)
    table[kslot[::-1], 0] = values[::-1]
    table[kslot[::-1], 1] = kcheck[::-1]
    same = lost[kcheck[lost] == kcheck[home[lost]]]
    if len(same):  # an owner with the check of a key it displaced: give the slot up
        table[kslot[same], 1] = _SHARED
        lost = np.union1d(lost, home[same])
    word = np.uint32 if values.dtype == np.uint16 else np.uint64
    return table.view(word).reshape(-1), lost


def _slots(quarter: np.ndarray, bits: int) -> np.ndarray:
    return quarter if bits == _BITS else quarter & np.uint16((1 << bits) - 1)


def lookup(keys: Keys, values: np.ndarray) -> np.ndarray | None:
    """``values[j]`` (uint16 or uint32) for every key with the hash of key ``keys.first[j]``;
    None when two keys with one hash differ in their check (two keys with the same hash)."""
    first = keys.first
    if len(first) == 0:
        return np.zeros(len(keys.hash), dtype=values.dtype)
    quarters = np.ascontiguousarray(keys.hash).view(np.uint16).reshape(-1, 4)
    bits = min(_BITS, len(first).bit_length() + 2)  # a quarter of the slots or fewer
    table, lost = _table(_slots(quarters[first, 0], bits), keys.check[first], values, bits)
    pairs = table[_slots(quarters[:, 0], bits)].view(values.dtype).reshape(-1, 2)
    got: np.ndarray = pairs[:, 0]
    miss = np.flatnonzero(pairs[:, 1] != keys.check)
    for level in range(1, quarters.shape[1]):
        first, values = first[lost], values[lost]
        if len(miss) == 0:
            return got
        bits = min(_BITS, len(first).bit_length() + 2)
        kslot = _slots(quarters[first, level], bits)
        table, lost = _table(kslot, keys.check[first], values, bits)
        pairs = table[_slots(quarters[miss, level], bits)].view(values.dtype).reshape(-1, 2)
        got[miss] = pairs[:, 0]
        miss = miss[pairs[:, 1] != keys.check[miss]]
    first, values = first[lost], values[lost]
    if len(miss) == 0:
        return got
    # The last few keys, by exact hash and check.
    if len(first) == 0:
        return None
    order = np.argsort(keys.hash[first])
    hashes = keys.hash[miss]
    at = order[np.minimum(np.searchsorted(keys.hash[first[order]], hashes), len(order) - 1)]
    if not np.array_equal(keys.hash[first[at]], hashes):
        return None
    if not np.array_equal(keys.check[first[at]], keys.check[miss]):
        return None
    got[miss] = values[at]
    return got
