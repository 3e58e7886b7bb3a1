"""The sink protocols: where closed-window signals and dead letters go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import polars as pl

from ingest.batch import OutColumns, OutRecord

__all__ = ["DeadLetterSink", "DeadLetters", "SignalSink", "TransactionalSink"]


@runtime_checkable
class SignalSink(Protocol):
    """Writes signal rows of closed windows.

    Idempotent per window: writing the same window again replaces the earlier copy. After
    :meth:`write` returns, the rows are durable (the caller commits offsets next); when they
    can't be made durable, :meth:`write` raises :class:`ingest.errors.SinkError` (and only
    that: it is the one error the caller retries).
    """

    def write(self, signals: pl.DataFrame) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class TransactionalSink(Protocol):
    """Hands signal rows to the merger's Kafka transaction, as records committed atomically
    with its input offset: a batch done again is aborted or fenced, never written twice.
    Records one by one (:class:`ingest.batch.OutRecord`), or many of a topic as columns
    (:class:`ingest.batch.OutColumns`).
    """

    def records(self, signals: pl.DataFrame) -> Sequence[OutRecord | OutColumns]: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class DeadLetters:
    """Rejected records, their original bytes untouched, with a reason each."""

    values: list[bytes]
    keys: list[bytes | None]
    reasons: list[str]
    partitions: list[int]
    offsets: list[int]

    def __len__(self) -> int:
        return len(self.values)


@runtime_checkable
class DeadLetterSink(Protocol):
    """Durable when :meth:`write` returns, or raises :class:`ingest.errors.SinkError`."""

    def write(self, letters: DeadLetters) -> None: ...

    def close(self) -> None: ...
