"""Stage two: partial aggregates from every input partition merged into final signals.

The merger takes the :class:`process.delta.Delta` s of every worker, in the order they were
committed. It adds up the partial rows of each (window, key), feeds the cascade rows to the
cascade tracker, and keeps each input partition's :class:`process.delta.Mark`. A window is
final when every input partition's mark has passed its end (as Flink aligns watermarks
across inputs); partitions that are caught up and silent (``idle``) do not hold it back,
unless every partition is. Then the window's signals are finalised once: velocity, shares,
trend scores and the top cascades all need the merged view.

Everything here is a function of the deltas in order, so the merger's state can be rebuilt
anywhere by applying the same deltas again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import polars as pl

from process.accounting import Counts
from process.aggregate import GROUP, STREAM_KEY, SUM_COLUMNS, Accumulated
from process.cascades import CascadeConfig, CascadeTracker, attach_cascades
from process.delta import DELTA_SCHEMA, END, Delta, Mark
from process.signals import SIGNAL_SCHEMA, finalise_totals
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = ["LateRows", "Merger", "MergerStats"]


def _merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame(schema=DELTA_SCHEMA)
    if len(frames) == 1:
        return frames[0]
    return (
        pl.concat(frames)
        .group_by(GROUP)
        .agg(
            *(pl.col(c).sum() for c in SUM_COLUMNS),
            pl.col("max_event").max(),
            pl.col("unique_authors").sum(),
        )
        .select(DELTA_SCHEMA.names())
    )


@dataclass(frozen=True, slots=True)
class LateRows:
    """Partial rows that reached the merger after their window was final: not in any
    signal, so they go to the dead letters whole, with where their posts are."""

    rows: pl.DataFrame
    #: The input topic and, per partition, the offsets ``[first, next)`` holding the posts
    #: the rows sum (:attr:`process.delta.Delta.ranges`; empty from an older writer).
    topic: str | None
    ranges: dict[int, tuple[int, int]]

    @property
    def posts(self) -> int:
        return int(self.rows.filter(pl.col("key") == STREAM_KEY)["posts"].sum() or 0)

    def to_json(self) -> bytes:
        """The dead letter's value: the rows, the input topic and the offset ranges."""
        return orjson.dumps({
            "reason": "late_after_merge",
            "rows": self.rows.to_dicts(),
            "input_topic": self.topic,
            "input_ranges": {str(p): list(r) for p, r in sorted(self.ranges.items())},
        })  # fmt: skip


@dataclass(slots=True)
class MergerStats(Counts):
    """The whole group's accounting, added up from the deltas' counts."""

    #: Posts in partial rows that came after the merger had closed their window (only
    #: possible after a partition was idle): counted here, not in any signal.
    late_after_merge: int = 0


@dataclass(slots=True)
class Merger:
    """Merges deltas; :meth:`close` returns the signals of the windows that became final.

    ``partitions`` is the set of input partitions (all must pass a window before it is
    final); None takes the partitions named by the marks seen so far.
    """

    spec: WindowSpec
    trend_config: TrendConfig = field(default_factory=TrendConfig)
    cascade_config: CascadeConfig = field(default_factory=CascadeConfig)
    partitions: set[int] | None = None
    open: Accumulated = field(init=False)
    trends: TrendTracker = field(init=False)
    cascades: CascadeTracker = field(init=False)
    marks: dict[int, Mark] = field(default_factory=dict)
    #: Every window ending at or before this has been emitted (epoch ms).
    closed_through: int | None = None
    stats: MergerStats = field(default_factory=MergerStats)
    #: Rows that came after their window was final, until taken (:meth:`take_late`).
    late: list[LateRows] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.open = Accumulated(_merge, pl.DataFrame(schema=DELTA_SCHEMA))
        self.trends = TrendTracker(self.trend_config, self.spec.hop_ms)
        self.cascades = CascadeTracker(self.spec, self.cascade_config)

    def apply(self, delta: Delta) -> None:
        rows = delta.partials
        if self.closed_through is not None and rows.height:
            done = pl.col("window_start") + self.spec.size_ms <= self.closed_through
            late = rows.filter(done)
            if late.height:
                topic = delta.origin.topic if delta.origin is not None else None
                self.late.append(LateRows(late, topic, dict(delta.ranges)))
                self.stats.late_after_merge += self.late[-1].posts
                rows = rows.filter(~done)
        self.open.add(rows)
        self.cascades.add_folded(delta.cascades)
        self.marks.update(delta.marks)
        self.stats.add(delta.stats)

    def take_late(self) -> list[LateRows]:
        """The rows that came after their window was final since the last call."""
        late, self.late = self.late, []
        return late

    @property
    def watermark(self) -> int | None:
        """The aligned mark: the lowest over the input partitions that are not idle (None
        while a partition has not reported, or while every one is idle). An idle partition
        has not ended: once every other one has, the mark stops at the idle ones' own
        marks until they end too (their open windows are still to come)."""
        names = self.partitions if self.partitions is not None else set(self.marks)
        if not names or not names <= set(self.marks):
            return None
        marks = [self.marks[p] for p in names]
        active = [m.closed_through for m in marks if not m.idle]
        if not active or None in active:
            return None
        through = min(c for c in active if c is not None)
        if through < END:
            return through
        pending = [m.closed_through for m in marks if m.closed_through != END]
        if None in pending:
            return None
        return min((c for c in pending if c is not None), default=END)

    @property
    def ended(self) -> bool:
        """True once every input partition's input has ended (and been flushed here)."""
        mark = self.watermark
        return mark is not None and mark >= END and self.open.height == 0

    def close(self) -> pl.DataFrame:
        """Signals of every window that became final, oldest first."""
        through = self.watermark
        if through is None:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        if through >= END:
            return self.flush()
        return self._emit(through)

    def flush(self) -> pl.DataFrame:
        """Close every open window (end of input)."""
        if self.open.height == 0:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        last_start = self.open.column("window_start").max()
        assert isinstance(last_start, int)
        return self._emit(last_start + self.spec.size_ms)

    def _emit(self, through: int) -> pl.DataFrame:
        if self.closed_through is not None and through <= self.closed_through:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        self.closed_through = through
        tops = self.cascades.close(through)
        done = pl.col("window_start") + self.spec.size_ms <= through
        closed = self.open.take(done)
        if not closed:
            return pl.DataFrame(schema=SIGNAL_SCHEMA)
        signals = finalise_totals(_merge(closed), self.spec.size_ms)
        return self.trends.apply(attach_cascades(signals, tops))

    @property
    def open_windows(self) -> int:
        return self.open.column("window_start").n_unique()

    @property
    def state_bytes(self) -> int:
        return int(
            self.open.estimated_size()
            + self.trends.state.estimated_size()
            + self.cascades.state_bytes
        )
