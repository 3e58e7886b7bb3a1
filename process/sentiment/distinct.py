"""Distinct values of a batch of 64-bit keys, each key mapped to its value's index.

A vectorised hash table in numpy: every key goes to a slot picked by a multiplicative
hash; the keys that own their slot (or share it with an equal key) are done, the few that
lost their slot to a different key are finished with a sort. Two passes over the keys,
no Python loop over them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distinct"]

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # 2**64 / golden ratio, odd


def distinct(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, first)`` for uint64 ``keys``: ``ids[i]`` numbers the value of ``keys[i]``
    (0, 1, ... in no particular but reproducible order) and ``first[j]`` is the index of a
    key with id ``j``."""
    # At least one slot per key; batches repeat their words, so most slots stay free.
    bits = max(8, len(keys).bit_length())
    slot = ((keys * _MULTIPLIER) >> np.uint64(64 - bits)).astype(np.intp)
    index = np.arange(len(keys), dtype=np.int32)
    table = np.empty(1 << bits, dtype=np.int32)  # only slots that are written are read
    table[slot] = index
    home = table[slot]
    settled = keys[home] == keys
    first = np.flatnonzero(home == index)
    table[slot[first]] = np.arange(len(first), dtype=np.int32)  # now slot -> id
    ids = np.empty(len(keys), dtype=np.int64)
    ids[settled] = table[slot[settled]]
    rest = np.flatnonzero(~settled)
    if len(rest):
        _, where, inverse = np.unique(keys[rest], return_index=True, return_inverse=True)
        ids[rest] = len(first) + inverse
        first = np.concatenate([first, rest[where]])
    return ids, first
