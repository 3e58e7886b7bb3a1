"""Where a worker's batches go: the :class:`StageOutput` protocol, and Kafka.

A worker ends every micro-batch with one :meth:`StageOutput.commit`: the batch's delta
(partials, cascade rows, partition marks), its dead letters and its input offsets, each
offset with the partition's resume point as metadata. With Kafka (:class:`KafkaOutput`)
the three are one transaction; in one process the merger takes the delta at once
(:class:`datamoat.stage_two.local.LocalOutput`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from ingest.batch import OutRecord
from ingest.kafka.early import PlainWriter
from ingest.kafka.transaction import Transaction
from ingest.source import Offsets
from process.delta import Delta, Origin, encode_delta
from process.early import encode_increments
from sinks.base import DeadLetters
from sinks.kafka import dead_letter_records

__all__ = ["KafkaOutput", "StageOutput"]


class StageOutput(Protocol):
    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        """All of it durably, or raise (SinkError: retry the same call; GroupMovedOn)."""
        ...

    def early(self, increments: pl.DataFrame) -> None:
        """After a commit went through: the committed batches' increments for early
        signals (``process/early.py``), handed on at most once, never raised from."""
        ...


@dataclass(slots=True)
class KafkaOutput:
    """One transaction per batch: the delta to the partials topic, the dead letters, and
    the input offsets with their resume points."""

    transaction: Transaction
    partials_topic: str
    dlq_topic: str
    worker_id: str
    #: Stamped on every delta and dead letter: this worker group and its input topic.
    origin: Origin
    #: The early channel (``<group>.early``) and its writer; None: early signals off.
    early_channel: str | None = None
    early_writer: PlainWriter | None = None

    def early(self, increments: pl.DataFrame) -> None:
        if self.early_writer is None or self.early_channel is None or increments.is_empty():
            return
        value = encode_increments(increments)
        self.early_writer.send(self.early_channel, value, self.worker_id.encode())

    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        value = encode_delta(delta, self.origin)
        records = [OutRecord(self.partials_topic, value, self.worker_id.encode())]
        records += dead_letter_records(
            self.dlq_topic, letters, self.origin.group, self.origin.topic
        )
        self.transaction.commit(records, offsets, group)
