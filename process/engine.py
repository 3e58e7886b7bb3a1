"""The window engine: event-time windows over decoded batches, closed by the watermark.

State is kept per partition (``partition`` is part of every state row) so a partition's
state can be separated from the rest when it moves to another worker. Closed windows are
merged across partitions and finalised into signal rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from process.aggregate import (
    PARTIAL_SCHEMA,
    UNIQUE_SCHEMA,
    Accumulated,
    explode_keys,
    merge_partials,
    partials,
    uniques,
)
from process.cascades import CascadeConfig, CascadeTracker, attach_cascades
from process.signals import SIGNAL_SCHEMA, finalise
from process.trends import TrendConfig, TrendTracker
from process.windows import Watermarks, WindowSpec

__all__ = ["Added", "WindowEngine"]

STATE_GROUP: Final = ("partition", "window_start", "key")
_PARTIALS: Final = pl.Schema([("partition", pl.Int32()), *PARTIAL_SCHEMA.items()])
_UNIQUES: Final = pl.Schema([("partition", pl.Int32()), *UNIQUE_SCHEMA.items()])


def _merge_partials(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return merge_partials(frames, STATE_GROUP)


def _merge_uniques(frames: list[pl.DataFrame]) -> pl.DataFrame:
    # Kept as the batches' distinct triples: an author repeating a key in a window across
    # batches is rare, and the distinct count at close does not mind; a unique() over the
    # whole state would cost a hash table as large as the state.
    return pl.concat(frames, rechunk=True)


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
    cascade_config: CascadeConfig = field(default_factory=CascadeConfig)
    partials: Accumulated = field(init=False)
    uniques: Accumulated = field(init=False)
    watermarks: Watermarks = field(init=False)
    trends: TrendTracker = field(init=False)
    cascades: CascadeTracker = field(init=False)
    #: Every window ending at or before this has been emitted (epoch ms).
    closed_through: int | None = None

    def __post_init__(self) -> None:
        self.partials = Accumulated(_merge_partials, pl.DataFrame(schema=_PARTIALS))
        self.uniques = Accumulated(_merge_uniques, pl.DataFrame(schema=_UNIQUES))
        self.watermarks = Watermarks(self.spec.allowed_lateness_ms, self.idle_timeout_ms)
        self.trends = TrendTracker(self.trend_config, self.spec.hop_ms)
        self.cascades = CascadeTracker(self.spec, self.cascade_config)

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
        self.partials.add(partials(keyed, STATE_GROUP))
        self.uniques.add(uniques(keyed, STATE_GROUP))
        self.watermarks.observe(posts, now_ms)
        self.cascades.add(posts)  # drops the late posts by the same rule
        return Added(posts.height - len(late_idx), late_idx)

    def close(self, now_ms: int) -> pl.DataFrame:
        """Signals of every window the watermark has passed, oldest first."""
        watermark = self.watermarks.current(now_ms)
        if watermark is None:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        return self._emit(watermark)

    def flush(self) -> pl.DataFrame:
        """Close every open window (end of input)."""
        if self.partials.height == 0:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        last_end = self.partials.column("window_start").max()
        assert isinstance(last_end, int)
        return self._emit(last_end + self.spec.size_ms)

    def _emit(self, through: int) -> pl.DataFrame:
        if self.closed_through is not None and through <= self.closed_through:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        self.closed_through = through
        tops = self.cascades.close(through)
        done = pl.col("window_start") + self.spec.size_ms <= through
        closed_partials = self.partials.take(done)
        if not closed_partials:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        closed_uniques = self.uniques.take(done)
        signals = finalise(closed_partials, closed_uniques, self.spec.size_ms)
        return self.trends.apply(attach_cascades(signals, tops))

    @property
    def open_windows(self) -> int:
        return self.partials.column("window_start").n_unique()

    @property
    def state_bytes(self) -> int:
        return int(
            self.partials.estimated_size()
            + self.uniques.estimated_size()
            + self.trends.state.estimated_size()
            + self.cascades.state_bytes
        )

    # --- checkpoints ----------------------------------------------------------------------

    def snapshot(self) -> tuple[dict[str, Any], dict[str, pl.DataFrame]]:
        """The whole state as JSON-able scalars and frames (see :meth:`restore`)."""
        w = self.watermarks
        scalars: dict[str, Any] = {
            "closed_through": self.closed_through,
            "watermark": w.value,
            "max_event": {str(p): t for p, t in w.max_event.items()},
            "trend_windows_seen": self.trends.windows_seen,
        }
        frames = {
            "partials": self.partials.compact(),
            "uniques": self.uniques.compact(),
            "trends": self.trends.state,
            **{f"cascades.{k}": v for k, v in self.cascades.state_frames().items()},
        }
        return scalars, frames

    def restore(
        self, scalars: dict[str, Any], frames: dict[str, pl.DataFrame], now_ms: int
    ) -> None:
        """Continue from a :meth:`snapshot`; every partition counts as just seen at ``now_ms``."""
        self.closed_through = scalars["closed_through"]
        self.watermarks.value = scalars["watermark"]
        self.watermarks.max_event = {int(p): int(t) for p, t in scalars["max_event"].items()}
        self.watermarks.last_seen = dict.fromkeys(self.watermarks.max_event, now_ms)
        self.trends.windows_seen = int(scalars["trend_windows_seen"])
        self.partials = Accumulated(_merge_partials, frames["partials"].cast(_PARTIALS))
        self.uniques = Accumulated(_merge_uniques, frames["uniques"].cast(_UNIQUES))
        self.trends.state = frames["trends"].cast(self.trends.state.schema)
        prefix = "cascades."
        self.cascades = CascadeTracker.restore(
            self.spec,
            self.cascade_config,
            {k[len(prefix) :]: v for k, v in frames.items() if k.startswith(prefix)},
        )
