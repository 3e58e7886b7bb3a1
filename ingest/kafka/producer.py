"""Posts into Kafka: :class:`KafkaPostWriter` on an idempotent, throughput-tuned producer.

It appends each partition's posts in bulk (:class:`ingest.kafka.private.BulkAppender`,
about 15x cheaper than ``send()`` per record) when the start-up guard finds kafka-python as
expected, and else sends each post with ``send()``, saying so once. Every wait for Kafka
(room in the buffer, topic metadata, the final flush) has a deadline and gives up early
when the writer's stop flag is set.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.structs import TopicPartition

from ingest.errors import DeliveryError
from ingest.kafka.client_config import secured
from ingest.kafka.private import BulkAppender, bulk_problem, oldest_pending_s

__all__ = ["KafkaPostWriter", "kafka_writer", "post_producer"]

log = logging.getLogger("datamoat.ingest.producer")


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
    return KafkaProducer(**secured(config))


class KafkaPostWriter:
    """Sends posts with the idempotent producer; a broker outage blocks (retries inside
    kafka-python, bounded by ``delivery_timeout_ms``) instead of dropping. Posts Kafka gives
    up on are counted and reported at :meth:`flush` - never lost silently.

    No wait is endless: each gives up after ``wait_s`` (default: the producer's delivery
    timeout plus a minute, by when every pending batch has been acknowledged or failed)
    with a :class:`~ingest.errors.DeliveryError`, and at once when ``stop`` is set
    (:meth:`abandon`): writes then raise, :meth:`flush` reports what was left unsent.
    """

    def __init__(
        self,
        producer: KafkaProducer,
        topic: str,
        flush_timeout_s: float = 600.0,
        bulk: bool = True,
        stop: threading.Event | None = None,
        wait_s: float | None = None,
    ):
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s
        self.stop = stop or threading.Event()
        delivery_s = float(producer.config.get("delivery_timeout_ms", 120_000)) / 1000
        self.wait_s = delivery_s + 60.0 if wait_s is None else wait_s
        self.failed = 0
        self._first_error: BaseException | None = None
        self._bulk: BulkAppender | None = None
        if bulk:
            problem = bulk_problem(producer)
            if problem is None:
                self._bulk = BulkAppender(producer, self.stop, self.wait_s)
            else:
                _fallback_once(problem)

    @property
    def mode(self) -> str:
        """``bulk`` (appends into kafka-python's batches) or ``send`` (one call per post)."""
        return "send" if self._bulk is None else "bulk"

    def abandon(self) -> None:
        """Stop waiting for Kafka: pending and later waits give up at once."""
        self.stop.set()

    def _on_error(self, exc: BaseException, count: int = 1) -> None:
        self.failed += count
        if self._first_error is None:
            self._first_error = exc

    def _on_batch_error(self, count: int, exc: BaseException) -> None:
        self._on_error(exc, count)

    def _retry(self, attempt: Callable[[], object], what: str) -> None:
        """Run ``attempt`` until Kafka has room or metadata for it, within ``wait_s``."""
        deadline, waited = time.monotonic() + self.wait_s, False
        while True:
            if self.stop.is_set():
                raise DeliveryError(f"stopped while waiting for Kafka: {what} not sent")
            try:
                attempt()
            except KafkaTimeoutError as exc:  # buffer full or no metadata: broker down
                if time.monotonic() > deadline:
                    raise DeliveryError(
                        f"Kafka unavailable for {self.wait_s:.0f} s ({exc}): {what} not sent; "
                        "is the broker up?"
                    ) from None
                if not waited:
                    log.warning("Kafka unavailable (%s); the firehose waits and retries", exc)
                waited = True
                continue
            if waited:
                log.info("Kafka is available again")
            return

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        if self._bulk is not None and all(k is not None for k in keys):
            self._write_bulk(partitions, keys, values)  # type: ignore[arg-type]
            return
        send, topic, on_error = self.producer.send, self.topic, self._on_error
        for i, (p, k, v) in enumerate(zip(partitions, keys, values, strict=True)):
            try:
                send(topic, value=v, key=k, partition=p).add_errback(on_error)
            except KafkaTimeoutError:  # buffer full or no metadata: wait, then send it
                attempt = partial(self._send_one, p, k, v)
                self._retry(attempt, f"{len(values) - i} of {len(values)} posts")

    def _send_one(self, partition: int, key: bytes | None, value: bytes) -> None:
        future = self.producer.send(self.topic, value=value, key=key, partition=partition)
        future.add_errback(self._on_error)

    def _write_bulk(
        self, partitions: Sequence[int], keys: Sequence[bytes], values: Sequence[bytes]
    ) -> None:
        assert self._bulk is not None
        self._retry(lambda: self.producer.partitions_for(self.topic), f"{len(values)} posts")
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
        return oldest_pending_s(self.producer)

    def flush(self) -> None:
        """Wait (up to ``flush_timeout_s``, or until :meth:`abandon`) until Kafka has
        acknowledged or refused every post; raise if it refused or left any."""
        deadline = time.monotonic() + self.flush_timeout_s
        while True:
            try:
                self.producer.flush(timeout=min(1.0, max(0.0, deadline - time.monotonic())))
                break
            except KafkaTimeoutError:
                if self.stop.is_set() or time.monotonic() >= deadline:
                    why = "stopped" if self.stop.is_set() else f"{self.flush_timeout_s:.0f} s"
                    raise DeliveryError(
                        f"Kafka had not acknowledged every post when the flush ended ({why}): "
                        "is the broker up?"
                    ) from None
        if self.failed:
            raise DeliveryError(
                f"Kafka did not accept {self.failed} posts ({self._first_error!r}): is the "
                "broker up? raise delivery_timeout_ms to ride out longer outages"
            )

    def close(self) -> None:
        self.producer.close(timeout=self.flush_timeout_s)


fallback_said = threading.Event()


def _fallback_once(problem: str) -> None:
    """Log, once per process, that the bulk path is off and why."""
    if fallback_said.is_set():
        return
    fallback_said.set()
    log.warning(
        "bulk Kafka appends are off (%s); sending each post with send(), slower per post",
        problem,
    )


def kafka_writer(
    bootstrap: str,
    topic: str,
    *,
    bulk: bool = True,
    stop: threading.Event | None = None,
    **overrides: Any,
) -> KafkaPostWriter:
    """A :class:`KafkaPostWriter` on a fresh :func:`post_producer` (picklable as a partial,
    so a firehose worker process can build its own); ``bulk=False``: one send() per post;
    ``stop``: give up waiting for Kafka once set."""
    return KafkaPostWriter(post_producer(bootstrap, **overrides), topic, bulk=bulk, stop=stop)
