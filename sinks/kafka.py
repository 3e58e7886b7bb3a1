"""Kafka records of the pipeline's outputs, sent inside transactions (ingest/kafka/transaction.py).

* signals (the ``kafka`` sink, :class:`SignalTopicSink`): one JSON record per closed window
  and key, keyed by the key (hashtag or ``*``), committed with the merger's input offset;
* dead letters: the original bytes and key, with headers ``reason``, ``group`` (the
  consumer group that rejected it), ``source_topic``, ``source_partition`` and
  ``source_offset``: pipelines that share a dead-letter topic can tell their records apart.
"""

from __future__ import annotations

import io

import polars as pl

from ingest.batch import OutColumns, OutRecord
from sinks.base import DeadLetters
from sinks.registry import SinkContext, sink

__all__ = ["SignalTopicSink", "dead_letter_records", "signal_records", "signal_topic_sink"]


def signal_records(topic: str, signals: pl.DataFrame) -> list[OutColumns]:
    """The signals topic's records of ``signals``: one per row, its key the row's key and
    its value the row as JSON (none for no rows)."""
    if signals.is_empty():
        return []
    buf = io.BytesIO()
    signals.write_ndjson(buf)
    values = buf.getvalue().splitlines()
    keys = signals["key"].cast(pl.Binary).to_list()
    return [OutColumns(topic, keys, values)]


class SignalTopicSink:
    """The signals topic as a transactional sink (``[output] sinks = ["kafka"]``)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def records(self, signals: pl.DataFrame) -> list[OutColumns]:
        return signal_records(self.topic, signals)

    def close(self) -> None:
        return None


@sink("kafka")
def signal_topic_sink(context: SinkContext) -> SignalTopicSink:
    """``[output] sinks = ["kafka"]``: the ``kafka.signals_topic`` topic, exactly once."""
    return SignalTopicSink(context.signals_topic)


def dead_letter_records(
    topic: str, letters: DeadLetters, group: str, source_topic: str
) -> list[OutRecord]:
    """One record per rejected record of ``source_topic``, read by consumer ``group``."""
    where = (("group", group.encode()), ("source_topic", source_topic.encode()))
    return [
        OutRecord(
            topic,
            value,
            key,
            (
                ("reason", reason.encode()),
                *where,
                ("source_partition", str(partition).encode()),
                ("source_offset", str(offset).encode()),
            ),
        )
        for value, key, reason, partition, offset in zip(
            letters.values,
            letters.keys,
            letters.reasons,
            letters.partitions,
            letters.offsets,
            strict=True,
        )
    ]
