"""Viral cascades: the top cascades of every closed window, for the stream key ``*``.

Definitions (event time only, so any batching and bounded disorder give the batch truth):

* **cascade**: every post with the same root: ``root_id``, or the post itself when
  ``root_id`` is null or its own id (an original is the root of its cascade).
* **reposts**: posts of kind ``repost`` of the cascade in the window. Only reposts rank
  cascades; replies and quotes are conversation, not amplification, so they count in size
  and depth only. A cascade without a repost in the window is no candidate: a list holds up
  to ``top_k`` entries and may be empty.
* **size**: the root plus the cascade's other posts, any kind, with
  ``created_at < window_end``. The root counts whether or not it was seen: it exists by
  definition, and it may predate the stream or sit on another worker's partition.
* **depth**: the greatest depth among those posts. A root has depth 0, a post whose parent
  is the root (or without ``parent_id``) depth 1, any other post its parent's depth + 1.
  A parent counts only when seen in the same cascade, strictly earlier and not forgotten;
  otherwise the post has depth 2, the least it can have (its parent is not the root).
* **ranking**: reposts descending, then ``root_id`` ascending; the first ``top_k``.
* **forgetting**: at every window boundary ``e`` (a multiple of the hop) a cascade whose
  newest post is older than ``e - ttl_ms`` is forgotten, depths included. A later post of
  its root starts it afresh: size (the root plus the new posts) and depth count from there.
  Only posts beyond the root keep a cascade alive.

The tracker keeps the posts not yet folded (``pending``), the long-lived facts per cascade
(:class:`process.cascade_state.CascadeState`) and, per (hop bucket, root) still in an open
window, the bucket's reposts and the size and depth at its end (``snapshots``). Closing
windows (ascending) folds the posts before the new boundary and reads the closed windows'
lists off the snapshots. Memory: one row per cascade with a post beyond its root in the
last ``ttl_ms``, plus one per post deeper than 1; originals are never kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import polars as pl

from process.aggregate import STREAM_KEY
from process.cascade_state import (
    ENGINE,
    FOLD_SCHEMA,
    SNAPSHOT_SCHEMA,
    CascadeState,
    fold_columns,
)
from process.problems import Problem
from process.signals import CASCADE_DTYPE
from process.windows import WindowSpec

__all__ = ["TOPS_SCHEMA", "CascadeConfig", "CascadeTracker", "attach_cascades"]

I64: Final = pl.Int64()
PENDING_SCHEMA: Final = FOLD_SCHEMA
META_SCHEMA: Final = pl.Schema({"closed_through": I64, "folded_through": I64})
#: One row per closed window with at least one repost.
TOPS_SCHEMA: Final = pl.Schema({"window_start": I64, "top_cascades": CASCADE_DTYPE})


@dataclass(frozen=True, slots=True)
class CascadeConfig:
    """How many cascades a window lists, how long a silent one is kept, and the memory
    budget of the cascade state."""

    top_k: int = 5
    ttl_ms: int = 24 * 3_600_000  # a cascade silent this long (event time) is forgotten
    #: Memory budget of the cascade state in bytes (0: none). Beyond it, the cascades
    #: silent the longest are forgotten early, down to three quarters of the budget.
    max_state_bytes: int = 256 * 2**20

    def __post_init__(self) -> None:
        problems = self.problems(self.top_k, self.ttl_ms, self.max_state_bytes)
        if problems:
            raise ValueError("invalid CascadeConfig: " + "; ".join(p.says() for p in problems))

    @staticmethod
    def problems(top_k: int, ttl_ms: int, max_state_bytes: int) -> list[Problem]:
        """Every rule these fields break (none: a valid config). The one place the cascade
        rules live: the config says these problems in its own keys."""
        checks = (
            (top_k >= 0, Problem(("top_k",), "must be >= 0")),
            (ttl_ms >= 0, Problem(("ttl_ms",), "must be >= 0")),
            (max_state_bytes >= 0, Problem(("max_state_bytes",), "must be >= 0 (0: none)")),
        )
        return [problem for ok, problem in checks if not ok]


@dataclass(slots=True)
class CascadeTracker:
    """Feed it the counted posts with :meth:`add`; :meth:`close` windows in ascending order."""

    spec: WindowSpec
    config: CascadeConfig = field(default_factory=CascadeConfig)
    state: CascadeState = field(default_factory=CascadeState)
    snapshots: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SNAPSHOT_SCHEMA))
    #: The engine's ``closed_through``: posts whose every window ends by then are late.
    closed_through: int | None = None
    #: Every post before this window boundary has been folded.
    folded_through: int | None = None
    pending: list[pl.DataFrame] = field(default_factory=list)
    forgot_at: int | None = None
    #: Cascades forgotten before their time-to-live to keep within the memory budget.
    evicted: int = 0

    @classmethod
    def restore(
        cls, spec: WindowSpec, config: CascadeConfig, frames: dict[str, pl.DataFrame]
    ) -> CascadeTracker:
        """A tracker continuing from :meth:`state_frames`."""
        meta = frames["meta"].cast(META_SCHEMA)
        pending = frames["pending"].cast(PENDING_SCHEMA)
        state = CascadeState.of(frames["roots"], frames["depths"])
        return cls(
            spec,
            config,
            state,
            snapshots=frames["snapshots"].cast(SNAPSHOT_SCHEMA),
            closed_through=meta["closed_through"][0],
            folded_through=meta["folded_through"][0],
            pending=[] if pending.is_empty() else [pending],
        )

    def state_frames(self) -> dict[str, pl.DataFrame]:
        """The whole state as plain frames (for checkpoints; see :meth:`restore`)."""
        meta = pl.DataFrame(
            {"closed_through": [self.closed_through], "folded_through": [self.folded_through]},
            schema=META_SCHEMA,
        )
        return {
            "pending": self._take_pending(),
            **self.state.frames(),
            "snapshots": self.snapshots,
            "meta": meta,
        }

    @property
    def state_bytes(self) -> int:
        frames = [self.snapshots, *self.pending]
        return self.state.estimated_size() + int(sum(f.estimated_size() for f in frames))

    def add(self, posts: pl.DataFrame) -> None:
        """Take a batch (POST_SCHEMA columns); posts already late are ignored, like the engine.

        Roots (originals) are implicit in their cascades, so only posts beyond them are kept.
        """
        self.add_folded(posts.lazy().select(fold_columns()).filter(pl.col("level") > 0))

    def add_folded(self, rows: pl.DataFrame | pl.LazyFrame) -> None:
        """Take posts beyond their root already in FOLD_SCHEMA (posts already late are
        ignored)."""
        query = rows.lazy()
        if self.closed_through is not None:
            newest_end = pl.col("created_at") // self.spec.hop_ms * self.spec.hop_ms
            query = query.filter(newest_end + self.spec.size_ms > self.closed_through)
        frame = query.collect(engine=ENGINE)
        if not frame.is_empty():
            self.pending.append(frame)

    def close(self, through: int) -> pl.DataFrame:
        """Fold every window ending at or before ``through``: their top lists (TOPS_SCHEMA).

        Windows without a repost have no row; :func:`attach_cascades` gives them ``[]``.
        """
        self.closed_through = through
        hop = self.spec.hop_ms
        boundary = through // hop * hop
        before = self.folded_through
        if before is not None and boundary <= before:
            return pl.DataFrame(schema=TOPS_SCHEMA)
        pending = self._take_pending().lazy()
        due = pl.col("created_at") < boundary
        chunk, rest = pl.collect_all([pending.filter(due), pending.filter(~due)], engine=ENGINE)
        self.pending = [] if rest.is_empty() else [rest]
        snapshots = self.snapshots
        if not chunk.is_empty():
            snap = self.state.fold(chunk, hop, self.config.ttl_ms)
            snapshots = pl.concat([snapshots, snap])
        keep_from = boundary - self.spec.size_ms + hop
        tops, self.snapshots = pl.collect_all(
            [
                self._tops(snapshots.lazy(), before, boundary),
                snapshots.lazy().filter(pl.col("bucket") >= keep_from),
            ],
            engine=ENGINE,
        )
        # expiry is a pass over the whole state: done every quarter horizon, not every close
        if self.forgot_at is None or boundary - self.forgot_at >= max(hop, self.config.ttl_ms // 4):
            self.state.forget(boundary - self.config.ttl_ms)
            self.forgot_at = boundary
        budget = self.config.max_state_bytes
        if budget and self.state.estimated_size() > budget:
            self.evicted += self.state.shrink(budget * 3 // 4)
        self.folded_through = boundary
        return tops

    def _take_pending(self) -> pl.DataFrame:
        if not self.pending:
            return pl.DataFrame(schema=PENDING_SCHEMA)
        frame = pl.concat(self.pending)
        self.pending = [frame]
        return frame

    def _tops(self, snapshots: pl.LazyFrame, before: int | None, boundary: int) -> pl.LazyFrame:
        spec = self.spec
        end = pl.col("window_start") + spec.size_ms
        rows = snapshots.with_columns(spec.window_starts(pl.col("bucket")).alias("window_start"))
        if spec.tumbling:  # one bucket per window: one row per (window, root) already
            rows = rows.filter(end <= boundary)
        else:
            latest = pl.col("bucket") == pl.col("bucket").max()
            rows = (
                rows.explode("window_start")
                .filter(end <= boundary)
                .group_by("window_start", "root")
                .agg(
                    pl.col("reposts").sum(),
                    pl.col("size").filter(latest).max(),
                    pl.col("depth").filter(latest).max(),
                )
            )
        if before is not None:
            rows = rows.filter(end > before)
        ranked = rows.filter(pl.col("reposts") > 0).sort(
            "window_start", "reposts", "root", descending=[False, True, False]
        )
        entry = pl.struct(pl.col("root").alias("root_id"), "reposts", "size", "depth")
        return (
            ranked.group_by("window_start", maintain_order=True)
            .agg(entry.head(self.config.top_k).alias("top_cascades"))
            .cast(TOPS_SCHEMA)
        )


def attach_cascades(signals: pl.DataFrame, tops: pl.DataFrame) -> pl.DataFrame:
    """``signals`` with ``top_cascades`` of the stream rows (``[]`` without reposts).

    ``tops`` is sorted by window (as :meth:`CascadeTracker.close` gives it). A gather from
    its lists, plus an empty list and a null, costs a fraction of a join over every key.
    """
    starts, windows = tops["window_start"].to_numpy(), signals["window_start"].to_numpy()
    k = len(starts)
    pos = np.searchsorted(starts, windows)
    hit = pos < k
    hit[hit] = starts[pos[hit]] == windows[hit]
    stream = (signals["key"] == STREAM_KEY).to_numpy()
    pick = np.where(stream, np.where(hit, pos, k), k + 1)
    lists = pl.concat([tops["top_cascades"], pl.Series([[], None], dtype=CASCADE_DTYPE)])
    return signals.with_columns(lists.gather(pick).alias("top_cascades"))
