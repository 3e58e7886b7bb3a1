"""The merger in the worker's process: stage one's output straight into stage two.

``run --transport memory`` and ``process --input`` run both stages in one process: each
micro-batch's delta is merged at once, its final signals written to the sinks, then the
input offsets committed to the source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from datamoat.stage_two.early import EarlyStage
from datamoat.stage_two.emitter import SignalEmitter
from ingest.source import Offsets, Source
from process.delta import Delta
from process.stage_two.merger import Merger
from sinks.base import DeadLetters, DeadLetterSink

__all__ = ["LocalOutput"]


@dataclass(slots=True)
class LocalOutput:
    """The merger in this process: deltas merged at once, signals written to the sinks,
    then the offsets committed to the source. Retrying a failed call is safe: the delta is
    merged once and the sinks are idempotent per window."""

    merger: Merger
    emitter: SignalEmitter
    dead_letters: DeadLetterSink
    source: Source
    #: Early signals from the worker's increments (None: off).
    early_stage: EarlyStage | None = None
    _pending: tuple[Delta, pl.DataFrame, DeadLetters] | None = field(default=None)
    #: The final signals of the commits since the last :meth:`early`.
    _final: list[pl.DataFrame] = field(default_factory=list)

    def _late_letters(self, letters: DeadLetters) -> DeadLetters:
        """``letters`` and the rows that came after their window was final, whole (no
        partials record to point at: partition and offset -1)."""
        late = self.merger.take_late()
        if not late:
            return letters
        n = len(late)
        return DeadLetters(
            [*letters.values, *(rows.to_json() for rows in late)],
            [*letters.keys, *([None] * n)],
            [*letters.reasons, *(["late_after_merge"] * n)],
            [*letters.partitions, *([-1] * n)],
            [*letters.offsets, *([-1] * n)],
        )

    def commit(self, delta: Delta, letters: DeadLetters, offsets: Offsets, group: Any) -> None:
        if self._pending is None or self._pending[0] is not delta:
            self.merger.apply(delta)
            self._pending = (delta, self.merger.close(), self._late_letters(letters))
        signals, letters = self._pending[1], self._pending[2]
        self.emitter.write(signals)
        if len(letters):
            self.dead_letters.write(letters)
        self.source.commit(offsets)
        self._pending = None
        self.emitter.count(signals)
        if self.early_stage is not None and signals.height:
            self._final.append(signals)

    def early(self, increments: pl.DataFrame) -> None:
        if self.early_stage is None:
            return
        self.early_stage.increments(increments)
        final, self._final = self._final, []
        signals = pl.concat(final) if final else pl.DataFrame()
        self.early_stage.after(signals, self.merger.closed_through)
