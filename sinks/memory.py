"""In-memory sinks for tests and the ``memory`` transport (fakes that ship with the code)."""

from __future__ import annotations

import polars as pl

from process.signals import SIGNAL_SCHEMA
from sinks.base import DeadLetters

__all__ = ["ListDeadLetterSink", "ListSink"]


class ListSink:
    """Keeps every written window; a window written again replaces the earlier copy."""

    def __init__(self) -> None:
        self.windows: dict[int, pl.DataFrame] = {}
        self.writes = 0

    def write(self, signals: pl.DataFrame) -> None:
        for (start,), window in signals.group_by(["window_start"], maintain_order=True):
            assert isinstance(start, int)
            self.windows[start] = window
        self.writes += 1

    def frame(self) -> pl.DataFrame:
        if not self.windows:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        return pl.concat([self.windows[k] for k in sorted(self.windows)])

    def close(self) -> None:
        return None


class ListDeadLetterSink:
    def __init__(self) -> None:
        self.values: list[bytes] = []
        self.reasons: list[str] = []

    def write(self, letters: DeadLetters) -> None:
        self.values.extend(letters.values)
        self.reasons.extend(letters.reasons)

    def close(self) -> None:
        return None
