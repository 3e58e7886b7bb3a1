"""Writers of encoded posts: the Kafka ``posts`` topic, the in-memory topic, an NDJSON file.

The partition of a post is ``author_id % partitions``, computed for the whole batch at once
(one author's posts stay ordered in one partition, as the record contract asks, without a
per-record partitioner call).

Into Kafka, ``send()`` costs about 15 us of Python per record (checks, a future, varints),
which caps one process near 40k posts/s. :class:`BulkAppender` instead writes each
partition's posts straight into kafka-python's open record batch, in the bytes its
``DefaultRecordBatchBuilder.append`` writes (pinned by a test), with one error callback per
batch: about 1 us per record. It leans on kafka-python internals (pinned below 4), checked
up front; when they don't look as expected, the writer falls back to ``send()``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import polars as pl
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.producer.producer_batch import ProducerBatch
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.structs import TopicPartition

from ingest.errors import DatamoatError
from ingest.firehose.encode import record_bytes, record_sizes

__all__ = [
    "BulkAppender",
    "DeliveryError",
    "FileWriter",
    "KafkaPostWriter",
    "PostWriter",
    "kafka_writer",
    "partitions_of",
    "post_producer",
]


class PostWriter(Protocol):
    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None: ...

    def flush(self) -> None: ...


def partitions_of(posts: pl.DataFrame, partitions: int) -> list[int]:
    return (posts["author_id"] % partitions).cast(pl.Int32).to_list()


def post_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer tuned for throughput: idempotent, batched, acks from all replicas."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "datamoat-firehose",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "allow_auto_create_topics": False,
        # Ride out a broker restart: retry (idempotently) for up to 10 minutes, reconnecting
        # within seconds once it is back.
        "delivery_timeout_ms": 600_000,
        "reconnect_backoff_max_ms": 2_000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class DeliveryError(DatamoatError):
    """Kafka gave up on some posts (after retrying for ``delivery_timeout_ms``)."""


class BulkAppender:
    """Appends one partition's records at a time into kafka-python's accumulator."""

    MAX_PENDING_BYTES = 64 * 1024 * 1024  # back-pressure: kafka-python 3 has no buffer limit

    def __init__(self, producer: KafkaProducer) -> None:
        self._producer = producer
        self._acc = producer._accumulator
        cfg = self._acc.config
        self._version, self._codec = cfg["message_version"], cfg["compression_attrs"]
        self._batch_size = int(cfg["batch_size"])

    @staticmethod
    def usable(producer: KafkaProducer) -> bool:
        acc = getattr(producer, "_accumulator", None)
        names = ("_batches", "_tp_lock", "_incomplete", "_appends_in_progress", "config")
        if acc is None or not all(hasattr(acc, a) for a in names):
            return False
        txn = getattr(producer, "_transaction_manager", None)
        if txn is not None and txn.is_transactional():
            return False
        builder = MemoryRecordsBuilder(acc.config.get("message_version", 0), 0, 1024)
        inner = getattr(builder, "_builder", None)
        slots = ("_buffer", "_num_records", "_last_offset", "_first_timestamp", "_max_timestamp")
        return acc.config.get("message_version") == 2 and all(hasattr(inner, a) for a in slots)

    def _wait_for_room(self) -> None:
        most = max(2, self.MAX_PENDING_BYTES // self._batch_size)
        while len(self._acc._incomplete.all()) > most:
            time.sleep(0.002)

    def append(
        self,
        tp: TopicPartition,
        keys: Sequence[bytes],
        values: Sequence[bytes],
        on_error: Callable[[int, BaseException], None],
    ) -> None:
        acc, n, start, wake = self._acc, len(values), 0, False
        builder: Any
        now, ts = time.monotonic(), time.time_ns() // 1_000_000
        klen = np.fromiter(map(len, keys), np.int64, n)
        vlen = np.fromiter(map(len, values), np.int64, n)
        acc._appends_in_progress.increment()
        try:
            while start < n:
                with acc._tp_lock(tp):
                    dq = acc._batches[tp]
                    batch: Any = dq[-1] if dq and not dq[-1].records.is_full() else None
                    take, base, first = 0, 0, ts
                    window = slice(start, start + 8192)
                    if batch is not None:
                        builder = batch.records._builder
                        base, first = batch.records.next_offset(), builder._first_timestamp
                        room = self._batch_size - len(builder._buffer)
                        _, sizes = record_sizes(klen[window], vlen[window], base, ts - first)
                        take = int(np.searchsorted(np.cumsum(sizes), room, side="right"))
                    if take == 0:  # no open batch, or no room in it: a new one
                        records = MemoryRecordsBuilder(self._version, self._codec, self._batch_size)
                        batch, builder, base, first = (
                            ProducerBatch(tp, records, now=now),
                            None,
                            0,
                            ts,
                        )
                        builder, wake = records._builder, True
                        room = self._batch_size - len(builder._buffer)
                        _, sizes = record_sizes(klen[window], vlen[window], 0, 0)
                        take = max(1, int(np.searchsorted(np.cumsum(sizes), room, side="right")))
                        dq.append(batch)
                        acc._incomplete.add(batch)
                    end = start + take
                    builder._buffer += record_bytes(
                        keys[start:end], values[start:end], base, ts - first
                    )
                    builder._num_records += take
                    builder._last_offset = base + take - 1
                    builder._first_timestamp = first
                    builder._max_timestamp = max(builder._max_timestamp or ts, ts)
                    batch.records._next_offset = base + take
                    batch.last_append = now
                    batch.max_record_size = max(batch.max_record_size, int(sizes[:take].max()))
                    batch.produce_future.add_errback(partial(on_error, take))
                    wake = wake or len(dq) > 1 or batch.records.is_full()
                start += take
        finally:
            acc._appends_in_progress.decrement()
        if wake:
            self._producer._sender.wakeup()
        self._wait_for_room()


class KafkaPostWriter:
    """Sends posts with the idempotent producer; a broker outage blocks (retries inside
    kafka-python, bounded by ``delivery_timeout_ms``) instead of dropping. Posts Kafka gives
    up on are counted and reported at :meth:`flush` - never lost silently."""

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        flush_timeout_s: float = 600.0,
        log: Callable[[str], None] = lambda line: None,
        bulk: bool = True,
    ):
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self.log = log
        self.failed = 0
        self._first_error: BaseException | None = None
        self._bulk = BulkAppender(producer) if bulk and BulkAppender.usable(producer) else None

    def _on_error(self, exc: BaseException, count: int = 1) -> None:
        self.failed += count
        if self._first_error is None:
            self._first_error = exc

    def _on_batch_error(self, count: int, exc: BaseException) -> None:
        self._on_error(exc, count)

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        if self._bulk is not None and all(k is not None for k in keys):
            self._write_bulk(partitions, keys, values)  # type: ignore[arg-type]
            return
        send, topic, on_error = self.producer.send, self.topic, self._on_error
        for p, k, v in zip(partitions, keys, values, strict=True):
            while True:
                try:
                    send(topic, value=v, key=k, partition=p).add_errback(on_error)
                    break
                except KafkaTimeoutError as exc:  # buffer full or no metadata: broker down
                    self.log(f"Kafka unavailable ({exc}); the firehose waits and retries")

    def _write_bulk(
        self, partitions: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]
    ) -> None:
        assert self._bulk is not None
        producer = self.producer
        while producer._metadata.partitions_for_topic(self.topic) is None:
            try:
                producer._wait_on_metadata(self.topic, producer.config["max_block_ms"])
            except KafkaTimeoutError as exc:  # no metadata: broker down
                self.log(f"Kafka unavailable ({exc}); the firehose waits and retries")
        parts = np.asarray(partitions, dtype=np.int64)
        order = np.argsort(parts, kind="stable")
        bounds = np.flatnonzero(np.diff(parts[order])) + 1
        for group in np.split(order, bounds):
            if len(group):
                idx = group.tolist()
                tp = TopicPartition(self.topic, int(parts[idx[0]]))
                ks, vs = [keys[i] for i in idx], [values[i] for i in idx]
                self._bulk.append(tp, ks, vs, self._on_batch_error)

    def pending_age(self) -> float:
        """Seconds since the oldest send Kafka has not acknowledged yet was made (0: none);
        the pacer's stall watch reads it. 0 when kafka-python's internals look different."""
        incomplete = getattr(getattr(self.producer, "_accumulator", None), "_incomplete", None)
        batches = incomplete.all() if incomplete is not None else ()
        return max(0.0, time.monotonic() - min(b.created for b in batches)) if batches else 0.0

    def flush(self) -> None:
        self.producer.flush(timeout=self.flush_timeout_s)
        if self.failed:
            raise DeliveryError(
                f"Kafka did not accept {self.failed} posts ({self._first_error!r}): is the "
                "broker up? raise delivery_timeout_ms to ride out longer outages"
            )

    def close(self) -> None:
        self.producer.close(timeout=self.flush_timeout_s)


def kafka_writer(
    bootstrap: str, topic: str, *, bulk: bool = True, **overrides: Any
) -> KafkaPostWriter:
    """A :class:`KafkaPostWriter` on a fresh :func:`post_producer` (picklable as a partial,
    so a firehose worker process can build its own); ``bulk=False``: one send() per post."""
    return KafkaPostWriter(post_producer(bootstrap, **overrides), topic, bulk=bulk)


class FileWriter:
    """NDJSON, one post per line (the format ``datamoat process --input`` replays)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        if values:
            self._fh.write(b"\n".join(values))
            self._fh.write(b"\n")

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
