"""Event-time windows and the watermark.

A window is ``[start, start + size)`` with ``start`` a multiple of ``hop`` (epoch ms);
tumbling windows are the case ``hop == size``. The watermark is the highest event time seen,
per partition, minus the allowed lateness; the worker's watermark is the lowest over its
partitions that are not idle. A window closes when the watermark reaches its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

__all__ = ["Watermarks", "WindowSpec"]


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


@dataclass(slots=True)
class Watermarks:
    """Per-partition highest event time, and the watermark derived from them.

    ``last_seen`` holds, per partition, the caller's clock reading when that partition last
    delivered a record or was known to have records waiting; a partition caught up and
    silent for ``idle_timeout_ms`` no longer holds the watermark back while others move on.
    When every partition is silent the watermark stays where it is. Time is passed in,
    never read here.
    """

    allowed_lateness_ms: int
    idle_timeout_ms: int
    max_event: dict[int, int] = field(default_factory=dict)
    last_seen: dict[int, int] = field(default_factory=dict)
    #: Partitions assigned to us that have not delivered a record yet (-> since when).
    waiting: dict[int, int] = field(default_factory=dict)
    value: int | None = None

    def expect(self, partitions: set[int], now_ms: int) -> None:
        """Declare the partitions this worker reads. Until each has delivered a record (or
        stayed silent for the idle timeout) the watermark does not advance, so a partition
        whose first fetch comes later can't find its windows already closed."""
        for p in partitions:
            if p not in self.max_event and p not in self.waiting:
                self.waiting[p] = now_ms
        for p in set(self.waiting) - partitions:
            del self.waiting[p]

    def busy(self, partitions: set[int], now_ms: int) -> None:
        """Partitions with records still to read are not idle, whatever they delivered
        lately (a consumer drains one partition's fetch before the next one's)."""
        for p in partitions:
            if p in self.max_event:
                self.last_seen[p] = now_ms
            elif p in self.waiting:
                self.waiting[p] = now_ms

    def observe(self, frame: pl.DataFrame, now_ms: int) -> None:
        """Update from a decoded batch with ``partition`` and ``created_at`` columns."""
        if frame.is_empty():
            return
        highest = frame.group_by("partition").agg(pl.col("created_at").max())
        for p, t in highest.iter_rows():
            if t > self.max_event.get(p, -(2**62)):
                self.max_event[p] = t
            self.last_seen[p] = now_ms
            self.waiting.pop(p, None)

    def current(self, now_ms: int) -> int | None:
        """The watermark (epoch ms, never moving back), or None before any record."""
        if not self.max_event:
            return self.value
        if any(now_ms - since < self.idle_timeout_ms for since in self.waiting.values()):
            return self.value  # an assigned partition has not been heard from yet
        active = [
            t
            for p, t in self.max_event.items()
            if now_ms - self.last_seen.get(p, now_ms) < self.idle_timeout_ms
        ]
        if not active:
            return self.value  # all silent: nothing new to go by (end of input flushes)
        candidate = min(active) - self.allowed_lateness_ms
        if self.value is None or candidate > self.value:
            self.value = candidate
        return self.value

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions this worker no longer owns (after a rebalance)."""
        for p in partitions:
            self.max_event.pop(p, None)
            self.last_seen.pop(p, None)
            self.waiting.pop(p, None)
