"""Event-time windows and the watermark.

A window is ``[start, start + size)`` with ``start`` a multiple of ``hop`` (epoch ms);
tumbling windows are the case ``hop == size``. The watermark is the highest event time seen,
per partition, minus the allowed lateness; the worker's watermark is the lowest over its
partitions that are not idle. A window closes when the watermark reaches its end.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from process.problems import Problem

__all__ = ["WindowSpec"]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """Window size and hop in milliseconds (``hop_ms == size_ms``: tumbling)."""

    size_ms: int = 10_000
    hop_ms: int = 10_000
    allowed_lateness_ms: int = 5_000

    def __post_init__(self) -> None:
        problems = self.problems(self.size_ms, self.hop_ms, self.allowed_lateness_ms)
        if problems:
            raise ValueError("invalid WindowSpec: " + "; ".join(p.says() for p in problems))

    @staticmethod
    def problems(size_ms: int, hop_ms: int, allowed_lateness_ms: int) -> list[Problem]:
        """Every rule these fields break (none: a valid spec). The one place the window
        rules live: the config says these problems in its own keys."""
        whole = size_ms <= 0 or hop_ms <= 0 or size_ms % hop_ms == 0  # asked of positive ones
        checks = (
            (size_ms > 0, Problem(("size_ms",), "must be positive")),
            (hop_ms > 0, Problem(("hop_ms",), "must be positive")),
            (allowed_lateness_ms >= 0, Problem(("allowed_lateness_ms",), "must be >= 0")),
            (whole, Problem(("size_ms", "hop_ms"), "must be a whole multiple of {hop_ms}")),
        )
        return [problem for ok, problem in checks if not ok]

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
