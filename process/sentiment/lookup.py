"""A value per key of a batch of hashed keys (tokens, texts), found through numpy tables.

polars finds the distinct 64-bit hashes (``arg_unique``) and each distinct hash gets a value.
Every key then reads its value from a table indexed by the low bits of its hash: one
gather, no sort. The keys whose slot holds two distinct hashes (a few percent) go on to a
smaller table indexed by the next bits of the hash, and so on; the last few are found by
exact hash in a sorted list.

Two different keys with the same 64-bit hash would get the same value; a second,
independent 15-bit check per key catches that (:func:`lookup` returns None), and the caller
then tells keys apart by their text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["Keys", "hashed", "keys", "lookup"]

#: Check value of a shared slot: never a 15-bit check.
_SHARED = 0x8000
#: The most tables after the first, before the sorted list.
_TABLES = 3


def hashed(key: pl.Expr, seed: int, check_seed: int) -> list[pl.Expr]:
    """Columns ``h`` (64-bit hash of ``key``) and ``c`` (15-bit check from another hash)."""
    check = key.hash(check_seed).cast(pl.UInt16, wrap_numerical=True) & pl.lit(0x7FFF, pl.UInt16)
    return [key.hash(seed).alias("h"), check.alias("c")]


@dataclass(frozen=True)
class Keys:
    """Per key: ``hash`` (uint64), ``check`` (uint16 below 2**15), ``slot`` (uint32, the low
    ``bits`` bits of the hash); ``first`` holds one key index per distinct hash."""

    hash: np.ndarray
    check: np.ndarray
    slot: np.ndarray
    bits: int
    first: np.ndarray


def keys(frame: pl.DataFrame) -> Keys:
    """The :class:`Keys` of a frame with the columns of :func:`hashed` (one chunk each)."""
    first = frame.get_column("h").arg_unique().to_numpy()
    bits = max(8, len(first).bit_length() + 3)  # an eighth of the slots or fewer in use
    mask = pl.lit((1 << bits) - 1, pl.UInt32)
    slot = frame.select(pl.col("h").cast(pl.UInt32, wrap_numerical=True) & mask).to_series()
    return Keys(
        hash=frame.get_column("h").to_numpy(),
        check=frame.get_column("c").to_numpy(),
        slot=slot.to_numpy(),
        bits=bits,
        first=first,
    )


def _table(
    kslot: np.ndarray, kcheck: np.ndarray, values: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """A table of (value, check) pairs by slot, in one word each, and which keys share
    their slot (their check there is :data:`_SHARED`)."""
    index = np.arange(len(kslot), dtype=np.uint16 if len(kslot) < 1 << 16 else np.uint32)
    owner = np.empty(1 << bits, dtype=index.dtype)  # only slots written are read
    owner[kslot] = index
    table = np.empty((1 << bits, 2), dtype=values.dtype)
    table[kslot, 0] = values
    table[kslot, 1] = kcheck
    table[kslot[owner[kslot] != index], 1] = _SHARED
    word = np.uint32 if values.dtype == np.uint16 else np.uint64
    return table.view(word).reshape(-1), np.flatnonzero(table[kslot, 1] == _SHARED)


def lookup(keys: Keys, values: np.ndarray) -> np.ndarray | None:
    """``values[j]`` (uint16 or uint32) for every key with the hash of key ``keys.first[j]``;
    None when two keys with one hash differ in their check (two keys with the same hash)."""
    first = keys.first
    if len(first) == 0:
        return np.zeros(len(keys.slot), dtype=values.dtype)
    table, crowded = _table(keys.slot[first], keys.check[first], values, keys.bits)
    pairs = table[keys.slot].view(values.dtype).reshape(-1, 2)
    got: np.ndarray = pairs[:, 0]
    miss = np.flatnonzero(pairs[:, 1] != keys.check)
    pairs = pairs[miss]
    shift, bits = keys.bits, keys.bits
    # Every key looked up in a table is one of its keys, so a miss is either in a shared
    # slot (its key goes on to the next table) or a key with the hash of another.
    for level in range(_TABLES + 1):
        if len(miss) == 0:
            return got
        if not np.all(pairs[:, 1] == _SHARED):
            return None
        first, values, hashes = first[crowded], values[crowded], keys.hash[miss]
        if level == _TABLES:
            break
        bits = min(bits, len(first).bit_length() + 3)
        mask = np.uint64((1 << bits) - 1)
        kslot = (keys.hash[first] >> np.uint64(shift)) & mask
        table, crowded = _table(kslot, keys.check[first], values, bits)
        pairs = table[(hashes >> np.uint64(shift)) & mask].view(values.dtype).reshape(-1, 2)
        got[miss] = pairs[:, 0]
        wrong = np.flatnonzero(pairs[:, 1] != keys.check[miss])
        miss, pairs = miss[wrong], pairs[wrong]
        shift += bits
    # The last few keys, by exact hash.
    order = np.argsort(keys.hash[first])
    at = order[np.minimum(np.searchsorted(keys.hash[first[order]], hashes), len(order) - 1)]
    if not np.array_equal(keys.hash[first[at]], hashes):
        return None
    if not np.array_equal(keys.check[first[at]], keys.check[miss]):
        return None
    got[miss] = values[at]
    return got
