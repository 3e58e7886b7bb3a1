"""The Kafka source: one consumer of a consumer group, polled into raw batches."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest.batch import RawBatch

__all__ = ["KafkaSource", "consumer_config"]


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
    }
    config.update(overrides)
    return config


class KafkaSource:
    """Reads ``topic`` as a member of a consumer group; commits only when told to.

    ``from_end=True`` takes every partition itself (no group rebalancing) starting at the
    current end of the log: a run then reads exactly what its own firehose produces.
    """

    def __init__(self, topic: str, config: Mapping[str, Any], *, from_end: bool = False) -> None:
        self.topic = topic
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
            self.consumer.subscribe([topic])

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        batch = RawBatch()
        polled = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
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
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            if high is not None:
                out[tp.partition] = max(0, high - self.consumer.position(tp))
        return out

    def close(self) -> None:
        self.consumer.close(autocommit=False)
