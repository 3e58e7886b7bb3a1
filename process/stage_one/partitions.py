"""Stage one: open windows per input partition, closed by that partition's own watermark.

The work that grows with the posts runs here, in as many workers as the input has
partitions: windows are assigned, per (partition, window, key) the sums are accumulated
and the distinct authors kept, and the posts beyond their cascade's root are passed on.
Each input partition has its own watermark (its highest event time minus the allowed
lateness): a window closes in a partition when that partition's watermark passes its end,
and is handed on as one :class:`process.delta.Delta` row per key, with the partition's
exact count of distinct authors. A record of a window its partition has closed is late.

Everything here depends on one partition's records alone, in their order, so the state of
a partition can be rebuilt anywhere from the partition itself: a worker taking a partition
over reads it again from :attr:`Resume.rebuild_from` (the first record of a window still
open) to the committed offset with :meth:`PartitionStage.rebuild`, which rebuilds the open
windows without handing anything on twice. So a checkpoint is three numbers per partition
(:class:`Resume`, stored as the metadata of the committed offset) and costs nothing in
proportion to the state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from process.accounting import Counts
from process.aggregate import (
    GROUP,
    PARTIAL_SCHEMA,
    SUM_COLUMNS,
    UNIQUE_SCHEMA,
    Accumulated,
    explode_keys,
    merge_partials,
    partials,
    uniques,
)
from process.cascade_state import ENGINE, fold_columns
from process.delta import DELTA_SCHEMA, END, Delta, Mark
from process.windows import WindowSpec

__all__ = ["Added", "PartitionStage", "Resume"]

STATE_GROUP: Final = ("partition", "window_start", "key")
#: Early signals skip windows whose end plus lateness is this far behind the wall clock.
EARLY_PAST_MS: Final = 5_000
_PARTIALS: Final = pl.Schema([("partition", pl.Int32()), *PARTIAL_SCHEMA.items()])
_UNIQUES: Final = pl.Schema([("partition", pl.Int32()), *UNIQUE_SCHEMA.items()])
_FIRSTS: Final = pl.Schema(
    {"partition": pl.Int32(), "window_start": pl.Int64(), "offset": pl.Int64()}
)


def _merge_partials(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return merge_partials(frames, STATE_GROUP)


def _concat(frames: list[pl.DataFrame]) -> pl.DataFrame:
    # Unique-author triples stay as each batch's distinct triples: an author repeating a
    # key in a window across batches is rare and the distinct count at close does not
    # mind, while a unique() over the whole state would cost a hash table as large as it.
    return pl.concat(frames, rechunk=True)


def _merge_firsts(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(frames).group_by("partition", "window_start").agg(pl.col("offset").min())


@dataclass(frozen=True, slots=True)
class Added:
    """What :meth:`PartitionStage.add` did with a batch: how many counted, which were late."""

    processed: int
    late_idx: list[int]


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a partition's stage stands after a commit: enough to rebuild it elsewhere.

    ``rebuild_from`` is the offset of the first record of a window still open (or the
    committed offset when none is); ``closed_through`` and ``max_event`` are the
    partition's watermark state.
    """

    closed_through: int | None
    max_event: int | None
    rebuild_from: int

    def to_json(self) -> dict[str, Any]:
        return {"c": self.closed_through, "m": self.max_event, "r": self.rebuild_from}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resume:
        return cls(data["c"], data["m"], int(data["r"]))


@dataclass(slots=True)
class _Clock:
    """One partition's watermark and liveness (wall-clock readings come from the caller)."""

    last_seen: int
    max_event: int | None = None
    closed_through: int | None = None
    backlog: bool = False

    def mark(self, now_ms: int, idle_timeout_ms: int) -> Mark:
        """Idle: caught up and silent for the timeout, after having delivered records. A
        partition that never delivered one holds the windows open (its first records may
        be of any window yet: a firehose starting after its workers)."""
        idle = not self.backlog and now_ms - self.last_seen >= idle_timeout_ms
        delivered = self.max_event is not None
        return Mark(self.closed_through, idle and delivered and self.closed_through != END)


@dataclass(slots=True)
class PartitionStage:
    """Open windows of the partitions one worker reads.

    Input frames carry POST_SCHEMA plus ``partition`` (Int32), ``_idx`` (the row's index in
    its raw batch), ``offset`` (Int64, its input offset; optional without replays) and
    optionally ``compound`` (the sentiment score, null when unscored).
    """

    spec: WindowSpec
    idle_timeout_ms: int = 30_000
    partials: Accumulated = field(init=False)
    uniques: Accumulated = field(init=False)
    firsts: Accumulated = field(init=False)
    clocks: dict[int, _Clock] = field(default_factory=dict)
    pending_cascades: list[pl.DataFrame] = field(default_factory=list)
    #: Keep each added batch's sums per (window, key) for :meth:`take_early` (early signals,
    #: :mod:`process.early`); records rebuilt after a takeover are never kept, nor windows
    #: whose end plus lateness is more than ``EARLY_PAST_MS`` behind ``now_ms``.
    early: bool = False
    pending_early: list[pl.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.partials = Accumulated(_merge_partials, pl.DataFrame(schema=_PARTIALS))
        self.uniques = Accumulated(_concat, pl.DataFrame(schema=_UNIQUES))
        self.firsts = Accumulated(_merge_firsts, pl.DataFrame(schema=_FIRSTS), min_rows=1_000)

    # --- ownership ------------------------------------------------------------------------

    def track(self, assigned: set[int], backlog: set[int], now_ms: int) -> None:
        """The partitions this worker reads now, and those with records still to read (a
        partition with a backlog never counts as idle, whatever it delivered lately)."""
        for p in assigned - set(self.clocks):
            self.clocks[p] = _Clock(last_seen=now_ms)
        for p in set(self.clocks) - assigned:
            self.drop({p})
        for p, clock in self.clocks.items():
            clock.backlog = p in backlog
            if clock.backlog:
                clock.last_seen = now_ms

    def resume(self, partition: int, resume: Resume, now_ms: int) -> None:
        """Take ``partition`` over from where :meth:`resume_point` left it; then feed the
        records from ``resume.rebuild_from`` to the committed offset to :meth:`rebuild`."""
        self.drop({partition})
        self.clocks[partition] = _Clock(now_ms, resume.max_event, resume.closed_through)

    def drop(self, partitions: set[int]) -> None:
        """Forget partitions this worker no longer reads (their state moves with them)."""
        if not partitions:
            return
        gone = pl.col("partition").is_in(list(partitions))
        for state in (self.partials, self.uniques, self.firsts):
            state.take(gone)
        for p in partitions:
            self.clocks.pop(p, None)

    # --- records --------------------------------------------------------------------------

    def add(self, posts: pl.DataFrame, now_ms: int) -> Added:
        """Fold a decoded batch into the open windows; records of closed windows are late."""
        if posts.is_empty():
            return Added(0, [])
        accepted, windowed = self._open(posts)
        late_idx: list[int] = []
        if accepted.height < posts.height:
            late = posts.filter(~pl.col("_idx").is_in(accepted["_idx"].implode()))
            late_idx = late["_idx"].to_list()
        batch = self._fold(windowed)
        if self.early and batch is not None:
            # A window whose end plus lateness is long past on the wall clock (a backlog
            # drained, a replay) is final at once: nothing about it is early.
            past = now_ms - self.spec.size_ms - self.spec.allowed_lateness_ms - EARLY_PAST_MS
            live = batch.filter(pl.col("window_start") > past)
            if live.height:
                self.pending_early.append(live.drop("partition"))
        cascades = accepted.lazy().select(fold_columns()).filter(pl.col("level") > 0)
        rows = cascades.collect(engine=ENGINE)
        if rows.height:
            self.pending_cascades.append(rows)
        highest = accepted.group_by("partition").agg(pl.col("created_at").max())
        for p, t in highest.iter_rows():
            clock = self.clocks.setdefault(p, _Clock(last_seen=now_ms))
            clock.last_seen = now_ms
            if clock.max_event is None or t > clock.max_event:
                clock.max_event = t
        return Added(accepted.height, late_idx)

    def rebuild(self, posts: pl.DataFrame) -> None:
        """Rebuild open windows from records already handed on (after :meth:`resume`):
        nothing is passed on again, and records of closed windows are skipped."""
        if not posts.is_empty():
            self._fold(self._open(posts)[1])

    def _open(self, posts: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The posts with at least one open window, and their (post, open window) rows."""
        windowed = self.spec.assign(posts)
        closed = self._closed()
        if not closed:
            return posts, windowed
        through = pl.col("partition").replace_strict(closed, default=None, return_dtype=pl.Int64())
        is_open = through.is_null() | (pl.col("window_start") + self.spec.size_ms > through)
        open_rows = windowed.filter(is_open)
        if open_rows.height == windowed.height:
            return posts, windowed
        accepted = posts.filter(pl.col("_idx").is_in(open_rows["_idx"].implode()))
        return accepted, open_rows

    def _fold(self, windowed: pl.DataFrame) -> pl.DataFrame | None:
        """Fold (post, window) rows into the state; the batch's partials (STATE_GROUP)."""
        if windowed.is_empty():
            return None
        keyed = explode_keys(windowed)
        batch = partials(keyed, STATE_GROUP)
        self.partials.add(batch)
        self.uniques.add(uniques(keyed, STATE_GROUP))
        if "offset" in windowed.columns:
            firsts = windowed.group_by("partition", "window_start").agg(pl.col("offset").min())
            self.firsts.add(firsts.cast(_FIRSTS))
        return batch

    def take_early(self) -> pl.DataFrame:
        """The sums per (window, key) of the batches added since the last call (early
        signals' increments, ``process.early.EARLY_SCHEMA``); empty without ``early``."""
        frames, self.pending_early = self.pending_early, []
        if not frames:
            return pl.DataFrame(schema=PARTIAL_SCHEMA)
        return (
            pl.concat(frames)
            .group_by(GROUP)
            .agg(*(pl.col(c).sum() for c in SUM_COLUMNS), pl.col("max_event").max())
            .select(PARTIAL_SCHEMA.names())
        )

    # --- closing --------------------------------------------------------------------------

    def advance(self, now_ms: int, stats: Counts | None = None) -> Delta:
        """Close what each partition's watermark has passed; hand it on as a delta."""
        lateness = self.spec.allowed_lateness_ms
        for clock in self.clocks.values():
            if clock.max_event is None or clock.closed_through == END:
                continue
            mark = clock.max_event - lateness
            if clock.closed_through is None or mark > clock.closed_through:
                clock.closed_through = mark
        return self._take(now_ms, stats or Counts())

    def end(self, now_ms: int, stats: Counts | None = None) -> Delta:
        """End of input for every partition this worker reads: close all its windows."""
        for clock in self.clocks.values():
            clock.closed_through = END
        return self._take(now_ms, stats or Counts())

    def _take(self, now_ms: int, stats: Counts) -> Delta:
        closed = self._closed()
        marks = {p: c.mark(now_ms, self.idle_timeout_ms) for p, c in self.clocks.items()}
        cascades = self._take_cascades()
        if not closed or self.partials.height == 0:
            return Delta(cascades=cascades, marks=marks, stats=stats)
        through = pl.col("partition").replace_strict(closed, default=None, return_dtype=pl.Int64())
        done = (pl.col("window_start") + self.spec.size_ms <= through).fill_null(False)
        taken = self.partials.take(done)
        if not taken:
            return Delta(cascades=cascades, marks=marks, stats=stats)
        self.firsts.take(done)
        authors = (
            pl.concat(self.uniques.take(done))
            .group_by(STATE_GROUP)
            .agg(pl.col("author_id").n_unique().cast(pl.Int64()).alias("unique_authors"))
        )
        rows = (
            _merge_partials(taken)
            .join(authors, on=list(STATE_GROUP), how="left")
            .group_by("window_start", "key")
            .agg(
                *(pl.col(c).sum() for c in SUM_COLUMNS),
                pl.col("max_event").max(),
                pl.col("unique_authors").sum(),
            )
            .select(DELTA_SCHEMA.names())
            .cast(DELTA_SCHEMA)
        )
        return Delta(rows, cascades, marks, stats)

    def _closed(self) -> dict[int, int]:
        return {p: c.closed_through for p, c in self.clocks.items() if c.closed_through is not None}

    def _take_cascades(self) -> pl.DataFrame:
        if not self.pending_cascades:
            return Delta().cascades
        rows = pl.concat(self.pending_cascades)
        self.pending_cascades = []
        return rows

    # --- checkpoints ----------------------------------------------------------------------

    def resume_point(self, partition: int, next_offset: int) -> Resume:
        """What to store with ``partition``'s committed offset ``next_offset``."""
        clock = self.clocks.get(partition)
        if clock is None:
            return Resume(None, None, next_offset)
        first = self.firsts.compact().filter(pl.col("partition") == partition)["offset"].min()
        start = first if isinstance(first, int) and first < next_offset else next_offset
        return Resume(clock.closed_through, clock.max_event, start)

    @property
    def open_windows(self) -> int:
        return self.partials.column("window_start").n_unique()

    @property
    def state_bytes(self) -> int:
        return int(
            self.partials.estimated_size()
            + self.uniques.estimated_size()
            + self.firsts.estimated_size()
            + sum(f.estimated_size() for f in self.pending_cascades)
        )
