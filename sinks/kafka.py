"""Kafka sinks: signal rows to the ``signals`` topic, rejects to the dead-letter topic.

Both send through an idempotent producer (``acks=all``) and flush before ``write`` returns,
so the records are durable in Kafka before the worker commits its input offsets.
"""

from __future__ import annotations

import io
from typing import Any

import polars as pl
from kafka import KafkaProducer

from sinks.base import DeadLetters

__all__ = ["KafkaDeadLetterSink", "KafkaSignalSink", "signal_producer"]


def signal_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer for the worker's outputs (few, small records; durability first)."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "client_id": "datamoat-worker",
        "reconnect_backoff_max_ms": 2_000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class KafkaSignalSink:
    """One JSON record per window and key, keyed by the key (hashtag or ``*``)."""

    def __init__(self, producer: KafkaProducer, topic: str, flush_timeout_s: float = 30.0):
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s

    def write(self, signals: pl.DataFrame) -> None:
        if signals.is_empty():
            return
        buf = io.BytesIO()
        signals.write_ndjson(buf)
        lines = buf.getvalue().splitlines()
        for key, value in zip(signals["key"].to_list(), lines, strict=True):
            self.producer.send(self.topic, value=value, key=key.encode())
        self.producer.flush(timeout=self.flush_timeout_s)

    def close(self) -> None:
        self.producer.flush(timeout=self.flush_timeout_s)


class KafkaDeadLetterSink:
    """The original bytes and key, with headers ``reason``, ``source_partition``,
    ``source_offset``."""

    def __init__(self, producer: KafkaProducer, topic: str, flush_timeout_s: float = 30.0):
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s

    def write(self, letters: DeadLetters) -> None:
        if not len(letters):
            return
        for value, key, reason, partition, offset in zip(
            letters.values,
            letters.keys,
            letters.reasons,
            letters.partitions,
            letters.offsets,
            strict=True,
        ):
            headers = [
                ("reason", reason.encode()),
                ("source_partition", str(partition).encode()),
                ("source_offset", str(offset).encode()),
            ]
            self.producer.send(self.topic, value=value, key=key, headers=headers)
        self.producer.flush(timeout=self.flush_timeout_s)

    def close(self) -> None:
        self.producer.flush(timeout=self.flush_timeout_s)
