"""Both stages in one process: the one in-process composition of the two stages.

:class:`WindowEngine` feeds every batch to a :class:`process.stage_one.partitions.PartitionStage`
and hands its deltas straight to a :class:`process.stage_two.merger.Merger`, with no transport in
between. ``datamoat.pipeline.local_pipeline`` (``run --transport memory``, ``process
--input``) builds its worker and merger from one, the moat runs its tiers on it, and so do the
engine's tests. A cluster runs the same two classes in separate processes with Kafka between
them; the signals are the same either way. (``process/truth.py`` is not a composition of the
stages: it is the independent whole-batch reference they are checked against.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from process.cascades import CascadeConfig, CascadeTracker
from process.stage_one.partitions import Added, PartitionStage
from process.stage_two.merger import Merger
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = ["Added", "WindowEngine"]


@dataclass(slots=True)
class WindowEngine:
    """Accumulates posts into open windows and emits the windows the watermark closes.

    Input frames carry POST_SCHEMA plus ``partition`` (Int32) and ``_idx`` columns, and
    optionally ``compound`` (the sentiment score, null when unscored).
    """

    spec: WindowSpec
    idle_timeout_ms: int = 30_000
    trend_config: TrendConfig = field(default_factory=TrendConfig)
    cascade_config: CascadeConfig = field(default_factory=CascadeConfig)
    #: The input partitions (every one must pass a window before it is final); None: those
    #: seen so far.
    partitions: set[int] | None = None
    stage: PartitionStage = field(init=False)
    merger: Merger = field(init=False)

    def __post_init__(self) -> None:
        self.stage = PartitionStage(self.spec, self.idle_timeout_ms)
        self.merger = Merger(self.spec, self.trend_config, self.cascade_config, self.partitions)

    def add(self, posts: pl.DataFrame, now_ms: int) -> Added:
        """Fold a decoded batch into the open windows; records already closed are late."""
        return self.stage.add(posts, now_ms)

    def close(self, now_ms: int) -> pl.DataFrame:
        """Signals of every window the watermark has passed, oldest first."""
        self.merger.apply(self.stage.advance(now_ms))
        return self.merger.close()

    def flush(self, now_ms: int = 0) -> pl.DataFrame:
        """Close every open window (end of input)."""
        self.merger.apply(self.stage.end(now_ms))
        return self.merger.flush()

    @property
    def trends(self) -> TrendTracker:
        return self.merger.trends

    @property
    def cascades(self) -> CascadeTracker:
        return self.merger.cascades

    @property
    def open_windows(self) -> int:
        return max(self.stage.open_windows, self.merger.open_windows)

    @property
    def state_bytes(self) -> int:
        return self.stage.state_bytes + self.merger.state_bytes
