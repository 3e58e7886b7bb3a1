"""A one-partition topic read back by offset: where the merger keeps its snapshots.

Writes go through the merger's own transaction (they commit with its signals and its
partials offset); this module only reads, with a consumer of its own that belongs to no
group and sees committed records only, so an aborted or half-written snapshot is never
read back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from ingest.errors import SourceTimeout
from ingest.kafka.private import fetch_raw
from ingest.kafka.source import consumer_config

__all__ = ["KafkaStateLog"]


class KafkaStateLog:
    """Partition 0 of ``topic``: its end offset, and its records from an offset on."""

    def __init__(self, bootstrap: str, topic: str, client: str, **overrides: Any) -> None:
        config = consumer_config(bootstrap, client, **overrides)
        config.update(group_id=None, client_id=f"datamoat-{client}-state")
        config["max_partition_fetch_bytes"] = 16 * 1024 * 1024
        self.topic = topic
        self._tp = TopicPartition(topic, 0)
        self._config = config
        self._consumer = self._connect()

    def _connect(self) -> Any:
        consumer = KafkaConsumer(**self._config)
        consumer.assign([self._tp])
        return consumer

    def end_offset(self, timeout_s: float = 10.0) -> int:
        """Where the next committed record will be, or later (the last stable offset);
        :class:`SourceTimeout` when the broker does not answer within ``timeout_s``.

        A consumer that only asks for offsets never polls, so nothing refreshes its view of
        the cluster: one that knew the topic before it had a leader, or knew a leader since
        killed, would ask the wrong node forever. So a failed ask replaces the consumer
        (the next one starts from a fresh bootstrap)."""
        try:
            ends = self._consumer.end_offsets([self._tp], timeout_ms=round(timeout_s * 1000))
        except KafkaError as exc:
            self._consumer.close(autocommit=False)
            self._consumer = self._connect()
            raise SourceTimeout(f"no end offset of {self.topic} ({exc})") from exc
        return int(ends[self._tp])

    def records(
        self, start: int, timeout_s: float = 60.0
    ) -> Iterator[tuple[bytes | None, bytes | None, int]]:
        """``(key, value, offset)`` of the committed records from ``start`` up to the end
        offset as it was when asked (compaction may have removed some in between)."""
        end = self.end_offset()
        if start >= end:
            return
        self._consumer.seek(self._tp, start)
        deadline = time.monotonic() + timeout_s
        while self._consumer.position(self._tp) < end:
            if time.monotonic() > deadline:
                raise SourceTimeout(
                    f"could not read {self.topic} offsets {start}-{end} within "
                    f"{timeout_s:.0f} s: is the broker up?"
                )
            try:
                batch = fetch_raw(self._consumer, 1_000, 500)
            except KafkaError:  # the broker away a moment: ask again within the time
                time.sleep(0.5)
                continue
            for key, value, offset in zip(batch.keys, batch.values, batch.offsets, strict=True):
                if offset >= end:
                    return
                yield key, value, offset

    def close(self) -> None:
        self._consumer.close(autocommit=False)
