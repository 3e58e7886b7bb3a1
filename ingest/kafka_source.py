"""The Kafka source: one consumer of a consumer group, polled into raw batches."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest.batch import RawBatch

__all__ = ["KafkaSource", "consumer_config"]


def _stderr(line: str) -> None:
    print(f"datamoat: {line}", file=sys.stderr, flush=True)


class _SeekOnAssign(ConsumerRebalanceListener):  # type: ignore[misc]
    """Positions newly assigned partitions at the offsets a checkpoint recorded."""

    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: object) -> None:
        return None

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        start = self.source._start
        for tp in assigned:
            if tp.partition in start:
                self.source.consumer.seek(tp, start[tp.partition])


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Consumer settings for the worker: manual commits, earliest start, big fetches."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "client_id": f"datamoat-{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "max_poll_records": 20_000,
        "fetch_max_wait_ms": 100,
        "fetch_min_bytes": 1,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "allow_auto_create_topics": False,
        # Reconnect within seconds after a broker restart (the default backs off to 30 s).
        "reconnect_backoff_max_ms": 2_000,
    }
    config.update(overrides)
    return config


class KafkaSource:
    """Reads ``topic`` as a member of a consumer group; commits only when told to.

    ``from_end=True`` takes every partition itself (no group rebalancing) starting at the
    current end of the log: a run then reads exactly what its own firehose produces.
    """

    def __init__(
        self,
        topic: str,
        config: Mapping[str, Any],
        *,
        from_end: bool = False,
        log: Callable[[str], None] = _stderr,
    ) -> None:
        self.topic = topic
        self.log = log
        self._down_since: float | None = None
        self.consumer = KafkaConsumer(**config)
        if from_end:
            partitions = self.consumer.partitions_for_topic(topic)
            if not partitions:
                raise LookupError(f"topic {topic!r} does not exist: run 'datamoat topics'")
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            self.consumer.assign(tps)
            for tp, offset in self.consumer.end_offsets(tps).items():
                self.consumer.seek(tp, offset)
        else:
            self.consumer.subscribe([topic], listener=_SeekOnAssign(self))
        self._start: dict[int, int] = {}

    def caught_up(self) -> bool:
        """Asks the broker: has this consumer read every assigned partition to its end?
        (False when the broker can't tell, e.g. while it is away.)"""
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        try:
            ends = self.consumer.end_offsets(list(assigned))
            return all(self.consumer.position(tp) >= end for tp, end in ends.items())
        except KafkaError:
            return False

    @property
    def down(self) -> bool:
        """True while the last poll failed (the broker is away)."""
        return self._down_since is not None

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def seek(self, offsets: Mapping[int, int]) -> None:
        """Continue from ``offsets``: now for assigned partitions, on assignment for others."""
        self._start.update(offsets)
        for tp in self.consumer.assignment():
            if tp.partition in offsets:
                self.consumer.seek(tp, offsets[tp.partition])

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        batch = RawBatch()
        try:
            polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except KafkaError as exc:  # the broker is away: say so once, wait, try again later
            if self._down_since is None:
                self._down_since = time.monotonic()
                self.log(f"Kafka unavailable ({exc}); the worker waits and retries")
            time.sleep(min(timeout_ms, 1000) / 1000.0)
            return batch
        if self._down_since is not None:
            self.log(f"Kafka is back after {time.monotonic() - self._down_since:.1f} s")
            self._down_since = None
        for tp, records in polled.items():
            batch.values.extend([r.value for r in records])
            batch.keys.extend([r.key for r in records])
            batch.offsets.extend([r.offset for r in records])
            batch.partitions.extend([tp.partition] * len(records))
        return batch

    def commit(self, offsets: Mapping[int, int]) -> None:
        if not offsets:
            return
        self.consumer.commit(
            {
                TopicPartition(self.topic, p): OffsetAndMetadata(o, "", -1)
                for p, o in offsets.items()
            }
        )

    def lag(self) -> dict[int, int]:
        """From the high-water marks of the last fetches (no extra request)."""
        out: dict[int, int] = {}
        try:
            for tp in self.consumer.assignment():
                high = self.consumer.highwater(tp)
                if high is not None:
                    out[tp.partition] = max(0, high - self.consumer.position(tp))
        except KafkaError:
            return out  # unknown while the broker is away
        return out

    def close(self) -> None:
        self.consumer.close(autocommit=False)
