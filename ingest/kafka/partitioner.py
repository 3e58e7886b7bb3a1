"""Kafka's default partition of a record key, as ``send()`` and the Java client choose it
(murmur2 of the key bytes, masked positive, modulo the partition count), cached per key.

Keys repeat: a hashtag's signal every window, a provisional record at every early update.
murmur2 in pure Python costs microseconds a key, which the bulk paths (the merger's
signals, the early output) would otherwise pay for every record; :func:`murmur2_many`
hashes the keys not seen before all at once, with numpy, one 4-byte word of every key at
a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from kafka.partitioner.default import murmur2

__all__ = ["KeyPartitions", "by_partition", "murmur2_many"]

I64 = npt.NDArray[np.int64]
U32 = npt.NDArray[np.uint32]

#: Keys remembered per topic before the cache starts again (bounded memory).
MAX_KEYS = 1_000_000
#: Keys longer than this are hashed one by one (a padded row per key holds the others).
MAX_VECTOR_KEY = 256

_SEED = np.uint32(0x9747B28C)
_M = np.uint32(0x5BD1E995)


def murmur2_many(keys: Sequence[bytes]) -> U32:
    """Kafka's murmur2 of every key (``kafka.partitioner.default.murmur2``), as uint32."""
    n = len(keys)
    lens = np.fromiter(map(len, keys), np.int64, n)
    out = np.empty(n, np.uint32)
    long = np.flatnonzero(lens > MAX_VECTOR_KEY)
    for i in long.tolist():
        out[i] = murmur2(keys[i])
    if len(long) == n:
        return out
    short = np.flatnonzero(lens <= MAX_VECTOR_KEY)
    if len(long):
        keys, lens = [keys[i] for i in short.tolist()], lens[short]
    words = lens // 4
    width = int(words.max()) + 1  # the last word holds a key's 0-3 trailing bytes
    # Every key in a zero-padded row of its own, read as little-endian 32-bit words.
    rows = np.zeros(len(lens) * width * 4, np.uint8)
    starts = np.cumsum(lens) - lens
    at = np.repeat(np.arange(len(lens), dtype=np.int64) * width * 4 - starts, lens)
    rows[at + np.arange(len(at))] = np.frombuffer(b"".join(keys), np.uint8)
    w = rows.view("<u4").reshape(len(lens), width)
    h = _SEED ^ lens.astype(np.uint32)
    for j in range(width - 1):
        k = w[:, j] * _M
        k ^= k >> 24
        k *= _M
        h = np.where(j < words, (h * _M) ^ k, h)
    tail = w[np.arange(len(lens)), words]  # the trailing bytes, zeros after them
    h = np.where(lens % 4 > 0, (h ^ tail) * _M, h)
    h ^= h >> 13
    h *= _M
    h ^= h >> 15
    out[short] = h
    return out


class KeyPartitions:
    """Per topic, a key's partition, remembered while the topic's partition count stays
    the same (a new count starts the topic's cache again)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._known: dict[str, tuple[int, dict[bytes, int]]] = {}

    def _cache(self, topic: str, count: int) -> dict[bytes, int]:
        known = self._known.get(topic)
        if known is None or known[0] != count or len(known[1]) > self.max_keys:
            known = self._known[topic] = (count, {})
        return known[1]

    def of(self, topic: str, count: int) -> Callable[[bytes], int]:
        """The partition function of ``topic`` with ``count`` partitions."""
        cache = self._cache(topic, count)

        def partition(key: bytes) -> int:
            part = cache.get(key)
            if part is None:
                part = cache[key] = (murmur2(key) & 0x7FFFFFFF) % count
            return part

        return partition

    def many(self, topic: str, count: int, keys: Sequence[bytes]) -> I64:
        """The partitions of ``keys`` in ``topic`` with ``count`` partitions, in one array:
        the keys seen before looked up, the others hashed together."""
        cache = self._cache(topic, count)
        got = list(map(cache.get, keys))
        if None in got:
            new = [i for i, part in enumerate(got) if part is None]
            fresh = [keys[i] for i in new]
            parts = ((murmur2_many(fresh) & 0x7FFFFFFF) % count).tolist()
            cache.update(zip(fresh, parts, strict=True))
            for i, part in zip(new, parts, strict=True):
                got[i] = part
        return np.array(got, np.int64)


def by_partition(
    keys: Sequence[bytes], values: Sequence[bytes], parts: npt.NDArray[np.int64]
) -> list[tuple[int, list[bytes], list[bytes]]]:
    """The records (``keys`` and ``values``) per partition (``parts``, one per record), in
    their order within each."""
    if not len(values):
        return []
    if (parts == parts[0]).all():
        return [(int(parts[0]), list(keys), list(values))]
    order = np.argsort(parts, kind="stable")
    ends = np.flatnonzero(np.diff(parts[order])) + 1
    out = []
    for run in np.split(order, ends):
        idx = run.tolist()
        out.append((int(parts[idx[0]]), [keys[i] for i in idx], [values[i] for i in idx]))
    return out
