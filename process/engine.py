"""The window engine: event-time windows over decoded batches, closed by the watermark.

State is kept per partition (``partition`` is part of every state row) so a partition's
state can be separated from the rest when it moves to another worker. Closed windows are
merged across partitions and finalised into signal rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

from process.aggregate import (
    PARTIAL_SCHEMA,
    UNIQUE_SCHEMA,
    explode_keys,
    merge_partials,
    partials,
    uniques,
)
from process.signals import SIGNAL_SCHEMA, finalise
from process.trends import TrendConfig, TrendTracker
from process.windows import Watermarks, WindowSpec

__all__ = ["Added", "WindowEngine"]

STATE_GROUP: Final = ("partition", "window_start", "key")


@dataclass(frozen=True, slots=True)
class Added:
    """What :meth:`WindowEngine.add` did with a batch: how many counted, which were late."""

    processed: int
    late_idx: list[int]


@dataclass(slots=True)
class WindowEngine:
    """Accumulates posts into open windows and emits the windows the watermark closes.

    Input frames carry POST_SCHEMA plus ``partition`` (Int32) and ``_idx`` columns, and
    optionally ``compound`` (the sentiment score, null when unscored).
    """

    spec: WindowSpec
    idle_timeout_ms: int = 30_000
    trend_config: TrendConfig = field(default_factory=TrendConfig)
    partials: pl.DataFrame = field(init=False)
    uniques: pl.DataFrame = field(init=False)
    watermarks: Watermarks = field(init=False)
    trends: TrendTracker = field(init=False)
    #: Every window ending at or before this has been emitted (epoch ms).
    closed_through: int | None = None

    def __post_init__(self) -> None:
        self.partials = pl.DataFrame(schema={"partition": pl.Int32, **PARTIAL_SCHEMA})
        self.uniques = pl.DataFrame(schema={"partition": pl.Int32, **UNIQUE_SCHEMA})
        self.watermarks = Watermarks(self.spec.allowed_lateness_ms, self.idle_timeout_ms)
        self.trends = TrendTracker(self.trend_config, self.spec.hop_ms)

    def add(self, posts: pl.DataFrame, now_ms: int) -> Added:
        """Fold a decoded batch into the open windows; records already closed are late."""
        if posts.is_empty():
            return Added(0, [])
        windowed = self.spec.assign(posts)
        late_idx: list[int] = []
        if self.closed_through is not None:
            is_open = pl.col("window_start") + self.spec.size_ms > self.closed_through
            open_rows = windowed.filter(is_open)
            late = posts.filter(~pl.col("_idx").is_in(open_rows["_idx"].implode()))
            late_idx = late["_idx"].to_list()
            windowed = open_rows
        keyed = explode_keys(windowed)
        self.partials = merge_partials([self.partials, partials(keyed, STATE_GROUP)], STATE_GROUP)
        self.uniques = pl.concat([self.uniques, uniques(keyed, STATE_GROUP)]).unique()
        self.watermarks.observe(posts, now_ms)
        return Added(posts.height - len(late_idx), late_idx)

    def close(self, now_ms: int) -> pl.DataFrame:
        """Signals of every window the watermark has passed, oldest first."""
        watermark = self.watermarks.current(now_ms)
        if watermark is None:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        return self._emit(watermark)

    def flush(self) -> pl.DataFrame:
        """Close every open window (end of input)."""
        if self.partials.is_empty():
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        last_end = self.partials["window_start"].max()
        assert isinstance(last_end, int)
        return self._emit(last_end + self.spec.size_ms)

    def _emit(self, through: int) -> pl.DataFrame:
        if self.closed_through is not None and through <= self.closed_through:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        self.closed_through = through
        done = pl.col("window_start") + self.spec.size_ms <= through
        closed_partials = self.partials.filter(done)
        if closed_partials.is_empty():
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        closed_uniques = self.uniques.filter(done)
        self.partials = self.partials.filter(~done)
        self.uniques = self.uniques.filter(~done)
        signals = finalise([closed_partials], [closed_uniques], self.spec.size_ms)
        return self.trends.apply(signals)

    @property
    def open_windows(self) -> int:
        return self.partials["window_start"].n_unique()

    @property
    def state_bytes(self) -> int:
        return int(
            self.partials.estimated_size()
            + self.uniques.estimated_size()
            + self.trends.state.estimated_size()
        )
