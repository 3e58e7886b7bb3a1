"""Transports for ``datamoat run``: the same stages over Kafka or in one process."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datamoat.commands.topics import create_topics
from datamoat.config import Config
from datamoat.metrics import Metrics
from ingest.kafka_source import KafkaSource, consumer_config
from ingest.memory import MemorySource, MemoryTopic
from ingest.producer import KafkaPostWriter, PostWriter, post_producer
from ingest.source import Source
from sinks.base import DeadLetterSink, SignalSink
from sinks.file import FileDeadLetterSink
from sinks.kafka import KafkaDeadLetterSink, KafkaSignalSink, signal_producer
from sinks.parquet import ParquetSink

__all__ = ["Transport", "kafka_transport", "memory_transport"]


@dataclass
class Transport:
    writer: PostWriter
    source: Source
    sinks: Sequence[SignalSink]
    dead_letters: DeadLetterSink
    metrics: Metrics = field(default_factory=Metrics)
    on_producer_finished: Callable[[], None] = lambda: None
    closers: list[Callable[[], None]] = field(default_factory=list)

    def producer_finished(self) -> None:
        self.on_producer_finished()

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def memory_transport(config: Config, out: Path) -> Transport:
    topic = MemoryTopic(config.kafka.partitions)
    dead = FileDeadLetterSink(out / "dead_letters.ndjson")
    return Transport(
        writer=topic,
        source=MemorySource(topic),
        sinks=[ParquetSink(out)],
        dead_letters=dead,
        on_producer_finished=topic.close,
        closers=[dead.close],
    )


def kafka_transport(config: Config, out: Path) -> Transport:
    k = config.kafka
    create_topics(config)
    group = f"{k.group}-run-{uuid.uuid4().hex[:8]}"
    source = KafkaSource(k.posts_topic, consumer_config(k.bootstrap, group), from_end=True)
    post_writer = KafkaPostWriter(post_producer(k.bootstrap), k.posts_topic)
    out_producer = signal_producer(k.bootstrap)
    return Transport(
        writer=post_writer,
        source=source,
        sinks=[ParquetSink(out), KafkaSignalSink(out_producer, k.signals_topic)],
        dead_letters=KafkaDeadLetterSink(out_producer, k.dlq_topic),
        closers=[source.close, lambda: out_producer.close(timeout=10), post_writer.close],
    )
