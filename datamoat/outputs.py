"""Where a worker's batches go: straight into an in-process merger, or into Kafka.

A worker ends every micro-batch with one :meth:`StageOutput.commit`: the batch's delta
(partials, cascade rows, partition marks), its dead letters and its input offsets, each
offset with the partition's resume point as metadata. With Kafka the three are one
transaction; in one process the merger runs at once and its signals are written before the
offsets are committed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from datamoat.emitter import SignalEmitter
from ingest.batch import OutRecord
from ingest.kafka.transaction import Transaction
from ingest.source import Source
from process.delta import Delta, Origin, encode_delta
from process.merger import Merger
from sinks.base import DeadLetters, DeadLetterSink
from sinks.kafka import dead_letter_records

__all__ = ["KafkaOutput", "LocalOutput", "StageOutput"]

#: ``{partition: (next offset, metadata)}``
Offsets = Mapping[int, tuple[int, str]]


class StageOutput(Protocol):
    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        """All of it durably, or raise (SinkError: retry the same call; GroupMovedOn)."""
        ...


@dataclass(slots=True)
class LocalOutput:
    """The merger in this process: deltas merged at once, signals written to the sinks,
    then the offsets committed to the source. Retrying a failed call is safe: the delta is
    merged once and the sinks are idempotent per window."""

    merger: Merger
    emitter: SignalEmitter
    dead_letters: DeadLetterSink
    source: Source
    _pending: tuple[Delta, pl.DataFrame] | None = field(default=None)

    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        if self._pending is None or self._pending[0] is not delta:
            self.merger.apply(delta)
            self._pending = (delta, self.merger.close())
        signals = self._pending[1]
        self.emitter.write(signals)
        if len(letters):
            self.dead_letters.write(letters)
        self.source.commit(offsets)
        self._pending = None
        self.emitter.count(signals)


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

    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        value = encode_delta(delta, self.origin)
        records = [OutRecord(self.partials_topic, value, self.worker_id.encode())]
        records += dead_letter_records(
            self.dlq_topic, letters, self.origin.group, self.origin.topic
        )
        self.transaction.commit(records, offsets, group)
