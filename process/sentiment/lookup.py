"""Values of hashed keys (tokens, texts) by their 64-bit hash, through numpy tables.

An :class:`Index` holds distinct hashes, each with a value and a check (16 bits of a second,
independent hash). A key reads its value from a table indexed by the low 16 bits of its
hash (a view of the hash: the index costs nothing): one gather, no sort. Where two hashes
share a slot, the one given first (the first seen in the batch, usually the more
frequent) keeps it, and the keys of the others miss it by their check, which the owner
does not share (if it does, the slot is given up with a check none of its hashes has).
Those keys go on to a table indexed by the next 16 bits of the hash, and so on; the few
left after the fourth are found in a sorted list.

A key whose hash is not in the index, or is but with another check (two different keys
with one hash), makes :func:`find` return None, and the caller tells keys apart by their
text. It could only be taken for an indexed one if its check matched by chance as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

__all__ = ["Index", "checks", "find", "hashed", "index"]

#: Hash bits per table (the hash is read as four 16-bit quarters, one per table).
_BITS = 16
#: Keys looked up in the first table at a time.
_CHUNK = 1 << 15


def hashed(key: pl.Expr, seed: int, check_seed: int) -> list[pl.Expr]:
    """Columns ``h`` (64-bit hash of ``key``) and ``c`` (another one, for the checks)."""
    return [key.hash(seed).alias("h"), key.hash(check_seed).alias("c")]


def checks(hashes: np.ndarray) -> np.ndarray:
    """The checks (uint16) of keys from their column ``c`` of :func:`hashed` (a view)."""
    return np.ascontiguousarray(hashes).view(np.uint16)[::4]


def _quarter(hashes: np.ndarray, level: int) -> np.ndarray:
    return np.ascontiguousarray(hashes).view(np.uint16)[level::4]


@dataclass(frozen=True)
class _Table:
    """(value, check) pairs by slot, in one word each, for ``bits`` hash bits."""

    pairs: np.ndarray
    bits: int

    def probe(self, quarter: np.ndarray, pair: type) -> np.ndarray:
        """The (value, check) pair of each slot, as an (n, 2) array of ``pair``."""
        slot = quarter if self.bits == _BITS else quarter & np.uint16((1 << self.bits) - 1)
        word: np.ndarray = np.take(self.pairs, slot.astype(np.intp))  # faster than [slot]
        return word.view(pair).reshape(-1, 2)


@dataclass(frozen=True)
class Index:
    """Tables of distinct hashes, with their checks and values (see :func:`index`)."""

    tables: list[_Table]
    pair: type  # the dtype of one (value, check) half
    rest_hash: np.ndarray
    rest_check: np.ndarray
    rest_value: np.ndarray


def _table(quarter: np.ndarray, check: np.ndarray, values: np.ndarray) -> tuple[_Table, np.ndarray]:
    """The table of keys with hash ``quarter``s, and the keys that do not own their slot."""
    bits = min(_BITS, len(quarter).bit_length() + 2)  # a quarter of the slots or fewer
    slot = quarter & np.uint16((1 << bits) - 1)
    index = np.arange(len(slot), dtype=np.uint16 if len(slot) < 1 << 16 else np.uint32)
    owner = np.empty(1 << bits, dtype=index.dtype)  # only slots written are read
    owner[slot[::-1]] = index[::-1]  # the last write wins: the key given first
    home = owner[slot]
    lost = np.flatnonzero(home != index)
    pairs = np.empty((1 << bits, 2), dtype=values.dtype)
    pairs[slot[::-1], 0] = values[::-1]
    pairs[slot[::-1], 1] = check[::-1]
    same = lost[check[lost] == check[home[lost]]]
    if len(same):  # an owner with the check of a key it displaced: give the slot up
        gone = np.unique(slot[same])
        inside = np.flatnonzero(np.isin(slot, gone))
        held = _pack(slot[inside], check[inside])
        owned = pairs[gone, 1]
        step = 1  # a slot holds few keys: one of the first few checks is free
        while np.isin(_pack(gone, owned ^ step), held).any():
            step += 1
        pairs[gone, 1] = owned ^ step
        lost = np.union1d(lost, inside)
    word = np.uint32 if values.dtype == np.uint16 else np.uint64
    return _Table(pairs.view(word).reshape(-1), bits), lost


def _pack(slot: np.ndarray, check: np.ndarray) -> np.ndarray:
    return (slot.astype(np.uint64) << np.uint64(32)) | check.astype(np.uint64)


def index(hashes: np.ndarray, check: np.ndarray, values: np.ndarray) -> Index:
    """The index of distinct ``hashes`` (uint64; the first ones keep shared slots), with
    their ``check``s (uint16) and ``values`` (uint16 or uint32)."""
    tables = []
    keys = np.arange(len(hashes))
    for level in range(64 // _BITS):
        if len(keys) == 0:
            break
        table, lost = _table(_quarter(hashes, level)[keys], check[keys], values[keys])
        tables.append(table)
        keys = keys[lost]
    order = keys[np.argsort(hashes[keys])]
    return Index(tables, values.dtype.type, hashes[order], check[order], values[order])


def find(index: Index, hashes: np.ndarray, check: np.ndarray) -> np.ndarray | None:
    """The value of each key with its ``hashes`` and ``check`` in ``index``; None if one
    is not there."""
    if not index.tables:
        return np.zeros(len(hashes), dtype=index.pair) if len(hashes) == 0 else None
    # The first table in chunks, so that its temporaries stay small.
    got: np.ndarray = np.empty(len(hashes), dtype=index.pair)
    quarter, misses = _quarter(hashes, 0), []
    for start in range(0, len(hashes), _CHUNK):
        end = start + _CHUNK
        pairs = index.tables[0].probe(quarter[start:end], index.pair)
        got[start:end] = pairs[:, 0]
        misses.append(start + np.flatnonzero(pairs[:, 1] != check[start:end]))
    miss = np.concatenate(misses) if misses else np.zeros(0, dtype=np.intp)
    for level, table in enumerate(index.tables[1:], start=1):
        if len(miss) == 0:
            return got
        pairs = table.probe(_quarter(hashes, level)[miss], index.pair)
        got[miss] = pairs[:, 0]
        miss = miss[pairs[:, 1] != check[miss]]
    if len(miss) == 0:
        return got
    if len(index.rest_hash) == 0:
        return None
    wanted = hashes[miss]
    at = np.minimum(np.searchsorted(index.rest_hash, wanted), len(index.rest_hash) - 1)
    if not np.array_equal(index.rest_hash[at], wanted):
        return None
    if not np.array_equal(index.rest_check[at], check[miss]):
        return None
    got[miss] = index.rest_value[at]
    return got
