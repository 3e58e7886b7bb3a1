"""Kafka's default partition of a record key, as ``send()`` and the Java client choose it
(murmur2 of the key bytes, masked positive, modulo the partition count), cached per key.

Keys repeat: a hashtag's signal every window, a provisional record at every early update.
murmur2 in pure Python costs microseconds a key, which the bulk paths (the merger's
signals, the early output) would otherwise pay for every record.
"""

from __future__ import annotations

from collections.abc import Callable

from kafka.partitioner.default import murmur2

__all__ = ["KeyPartitions"]

#: Keys remembered per topic before the cache starts again (bounded memory).
MAX_KEYS = 1_000_000


class KeyPartitions:
    """Per topic, a key's partition, remembered while the topic's partition count stays
    the same (a new count starts the topic's cache again)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._known: dict[str, tuple[int, dict[bytes, int]]] = {}

    def of(self, topic: str, count: int) -> Callable[[bytes], int]:
        """The partition function of ``topic`` with ``count`` partitions."""
        known = self._known.get(topic)
        if known is None or known[0] != count or len(known[1]) > self.max_keys:
            known = self._known[topic] = (count, {})
        cache = known[1]

        def partition(key: bytes) -> int:
            part = cache.get(key)
            if part is None:
                part = cache[key] = (murmur2(key) & 0x7FFFFFFF) % count
            return part

        return partition
