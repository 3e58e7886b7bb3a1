"""Event-time windows and the watermark.

A window is ``[start, start + size)`` with ``start`` a multiple of ``hop`` (epoch ms);
tumbling windows are the case ``hop == size``. The watermark is the highest event time seen,
per partition, minus the allowed lateness; the worker's watermark is the lowest over its
partitions that are not idle. A window closes when the watermark reaches its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

__all__ = ["WindowSpec"]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window size and hop in milliseconds (``hop_ms == size_ms``: tumbling)."""

    size_ms: int = 10_000
    hop_ms: int = 10_000
    allowed_lateness_ms: int = 5_000

    def __post_init__(self) -> None:
        if self.size_ms <= 0 or self.hop_ms <= 0:
            raise ValueError("window size and hop must be positive")
        if self.size_ms % self.hop_ms:
            raise ValueError("window size must be a whole multiple of the hop")
        if self.allowed_lateness_ms < 0:
            raise ValueError("allowed lateness must not be negative")

    @property
    def tumbling(self) -> bool:
        return self.size_ms == self.hop_ms

    def window_starts(self, event_time: pl.Expr) -> pl.Expr:
        """The start of every window containing ``event_time`` (a list per row when hopping)."""
        last = (event_time // self.hop_ms) * self.hop_ms
        if self.tumbling:
            return last
        first = last - (self.size_ms - self.hop_ms)
        return pl.int_ranges(first, last + self.hop_ms, self.hop_ms, dtype=pl.Int64)

    def assign(self, frame: pl.DataFrame, time_col: str = "created_at") -> pl.DataFrame:
        """``frame`` with a ``window_start`` column, one row per (record, window)."""
        out = frame.with_columns(self.window_starts(pl.col(time_col)).alias("window_start"))
        return out if self.tumbling else out.explode("window_start")
