"""A real source's posts into Kafka exactly once: each batch and the source's cursor in one
transaction.

An ingest named N (``datamoat ingest jetstream --name N``) writes, per batch, its posts
to the posts topic (key = author id), its dead letters to the dead-letter topic, and the
newest cursor it handed on (Jetstream's ``time_us``) as the record keyed N of a compacted
cursor topic (``<N>.cursor``), all in one transaction of the transactional id
``datamoat-ingest-N``. A restarted ingest fences its predecessor (an open transaction of
a SIGKILLed one is aborted), reads the last committed cursor with ``read_committed`` and
resumes after it, so every post reaches a ``read_committed`` reader once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Any

import orjson
from kafka import KafkaConsumer
from kafka import errors as kerrors
from kafka.structs import TopicPartition

from ingest.errors import BrokerError, InstanceFenced, SinkError
from ingest.kafka.admin import TopicSpec, ensure_topics
from ingest.kafka.client_config import secured
from ingest.kafka.transaction import transactional_producer

__all__ = ["CursorWriter", "cursor_topic", "read_cursor"]

_FENCED = (kerrors.ProducerFencedError, kerrors.InvalidProducerEpochError)


def cursor_topic(name: str) -> str:
    """The compacted topic of an ingest's cursor (named after the ingest)."""
    return f"{name}.cursor"


def read_cursor(bootstrap: str, name: str, timeout_s: float = 30.0) -> int | None:
    """The last committed cursor of the ingest ``name`` (None: it never committed one)."""
    topic = cursor_topic(name)
    ensure_topics(bootstrap, {topic: _spec()})
    consumer = KafkaConsumer(
        **secured({
            "bootstrap_servers": bootstrap, "isolation_level": "read_committed",
            "enable_auto_commit": False, "consumer_timeout_ms": 1_000,
        })
    )  # fmt: skip
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]  # the last stable offset (read_committed)
        found: int | None = None
        deadline = time.monotonic() + timeout_s
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise BrokerError(f"can't read the cursor topic {topic} within {timeout_s:g} s")
            for records in consumer.poll(timeout_ms=500).values():
                for r in records:
                    if r.key == name.encode() and r.value is not None:
                        found = int(orjson.loads(r.value)["cursor_us"])
        return found
    except kerrors.KafkaError as exc:
        raise BrokerError(f"can't read the cursor topic {topic} on {bootstrap}: {exc}") from exc
    finally:
        consumer.close()


def _spec() -> TopicSpec:
    return TopicSpec(1, 1, {"cleanup.policy": "compact"})


class CursorWriter:
    """One transaction per batch: posts, dead letters and the cursor (see the module)."""

    def __init__(self, bootstrap: str, name: str, posts_topic: str, dlq_topic: str) -> None:
        self.name = name
        self.posts_topic, self.dlq_topic = posts_topic, dlq_topic
        self.topic = cursor_topic(name)
        ensure_topics(bootstrap, {self.topic: _spec()})
        self.producer: Any = transactional_producer(bootstrap, f"datamoat-ingest-{name}")
        self.committed = 0

    def commit(
        self,
        partitions: Sequence[int],
        keys: Sequence[bytes],
        values: Sequence[bytes],
        dead: Sequence[tuple[bytes, str]],
        cursor_us: int,
    ) -> None:
        """The batch's posts (on the given partitions), its dead letters and the cursor,
        atomically."""
        p = self.producer
        try:
            p.begin_transaction()
            for part, key, value in zip(partitions, keys, values, strict=True):
                p.send(self.posts_topic, value=value, key=key, partition=part)
            for raw, reason in dead:
                headers = [("reason", reason.encode()), ("source", b"jetstream"),
                           ("ingest", self.name.encode())]  # fmt: skip
                p.send(self.dlq_topic, value=raw, headers=headers)
            cursor = orjson.dumps({"cursor_us": cursor_us, "name": self.name})
            p.send(self.topic, value=cursor, key=self.name.encode(), partition=0)
            p.commit_transaction()
        except _FENCED as exc:
            raise InstanceFenced(
                f"another ingest named {self.name!r} took over ({exc}); stopping"
            ) from None
        except kerrors.KafkaError as exc:
            with contextlib.suppress(kerrors.KafkaError):
                p.abort_transaction()
            raise SinkError(
                f"Kafka refused the batch ({exc}); nothing of it was committed"
            ) from exc
        self.committed += 1

    def close(self) -> None:
        self.producer.close(timeout=10)
