"""Kafka outside the transactions: the early channel and the early outputs.

Early signals (``process/early.py``) are provisional: they never enter the exactly-once
path. A worker sends each committed batch's increments to its group's ``<group>.early``
after the commit (:class:`PlainWriter`); the merger reads them with :class:`EarlyReader`
(``read_uncommitted``, no group, from the end of the topic when it starts: increments of
windows it has not seen are of no use to it), and writes provisional signals and alerts
with another :class:`PlainWriter`. Nothing here blocks its caller for long or stops it: a
send that fails is counted and logged, and the final signals never depend on it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from ingest.errors import DeliveryError
from ingest.kafka.client_config import secured
from ingest.kafka.partitioner import KeyPartitions, by_partition
from ingest.kafka.private import BulkAppender, bulk_problem
from ingest.kafka.source import consumer_config

__all__ = ["EarlyReader", "PlainWriter"]

log = logging.getLogger("datamoat.early")


class PlainWriter:
    """Records sent without a transaction, acknowledged by the leader, at most a moment
    late (``linger_ms`` 5); failures are counted in :attr:`failed`, never raised.

    :meth:`send_many` appends keyed records a partition at a time into the producer's
    batches (:class:`ingest.kafka.private.BulkAppender`, about 1 us a record against
    ``send()``'s 15: an early update is thousands of provisional records), on the partition
    Kafka's default partitioner gives each key, as ``send()`` would."""

    def __init__(self, bootstrap: str, client: str, **overrides: Any) -> None:
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "client_id": client,
            "acks": 1,
            "linger_ms": 5,
            "compression_type": "lz4",
            "max_request_size": 16 * 2**20,
            "batch_size": 1 * 2**20,
            "reconnect_backoff_max_ms": 2_000,
            "max_block_ms": 2_000,
        }
        config.update(overrides)
        self._producer = KafkaProducer(**secured(config))
        self.sent = 0
        self.failed = 0
        problem = bulk_problem(self._producer)
        if problem is not None:
            log.warning("early output goes by send(): the bulk path is off (%s)", problem)
        self._bulk = None if problem else BulkAppender(self._producer, threading.Event(), 2.0)
        self._counts: dict[str, int] = {}
        self._key_partitions = KeyPartitions()

    def send(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        try:
            future = self._producer.send(topic, value=value, key=key)
        except KafkaError as exc:
            self._failed(exc)
            return
        future.add_errback(self._failed)
        self.sent += 1

    def send_many(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes]) -> None:
        """Send ``values`` keyed by ``keys`` (in bulk when it can)."""
        count = self._partitions(topic) if self._bulk is not None else 0
        if self._bulk is None or count == 0:
            for key, value in zip(keys, values, strict=True):
                self.send(topic, value, key)
            return
        parts = self._key_partitions.many(topic, count, keys)
        for partition, ks, vs in by_partition(keys, values, parts):
            try:
                self._bulk.append(TopicPartition(topic, partition), ks, vs,
                                  lambda n, exc: self._failed(exc, n))  # fmt: skip
            except DeliveryError as exc:
                self._failed(exc, len(vs))
                continue
            self.sent += len(vs)

    def _partitions(self, topic: str) -> int:
        """The topic's partition count (asking fetches its metadata, which the bulk path
        needs before its batches can be sent); 0 while it is not known."""
        count = self._counts.get(topic)
        if count is None:
            try:
                count = len(self._producer.partitions_for(topic) or ())
            except KafkaError:
                return 0
            if count:
                self._counts[topic] = count
        return count

    def _failed(self, exc: BaseException, n: int = 1) -> None:
        before, self.failed = self.failed, self.failed + n
        if before == 0 or before // 1000 != self.failed // 1000:
            log.warning("early output: %d sends failed (%s); final signals are unaffected",
                        self.failed, exc)  # fmt: skip

    def close(self) -> None:
        self._producer.close(timeout=5)


class EarlyReader:
    """Partition 0 of the early channel, from its end at start, without a group."""

    def __init__(self, bootstrap: str, topic: str, client: str) -> None:
        config = consumer_config(bootstrap, client, isolation_level="read_uncommitted")
        config.update(group_id=None, client_id=f"datamoat-{client}-early")
        config["max_partition_fetch_bytes"] = 16 * 2**20
        self._consumer = KafkaConsumer(**config)
        self._tp = TopicPartition(topic, 0)
        self._consumer.assign([self._tp])
        self._consumer.seek_to_end(self._tp)

    def poll(self, max_records: int = 1_000) -> list[bytes]:
        """What has arrived since the last call (no wait); nothing while the broker is away."""
        try:
            fetched = self._consumer.poll(timeout_ms=0, max_records=max_records)
        except KafkaError as exc:
            log.debug("early channel: %s", exc)
            return []
        return [r.value for records in fetched.values() for r in records if r.value is not None]

    def close(self) -> None:
        self._consumer.close(autocommit=False)
