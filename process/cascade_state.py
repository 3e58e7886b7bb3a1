"""What the cascade tracker remembers between windows, and how posts are folded into it.

A cascade's root is implicit: it is the post its ``root_id`` names, so it counts once in
the size whether or not this worker ever saw it (it may be older than the stream, past the
time-to-live, or on another worker's partition). The originals themselves are never
stored: most never get a repost, and keeping each for the time-to-live would grow the
state with the whole stream. Two frames, keyed by plain ids so they can be checkpointed as
they are:

* ``roots``: per cascade with posts beyond its root: ``size`` (the root plus those posts),
  ``depth``, ``last`` (the newest post's ``created_at``) and ``since`` (the bucket its
  current run started in).
* ``depths``: the depth of cascade posts deeper than 1, tagged with their run's ``since``.
  A post whose parent is missing gets depth 2 and so does a post whose parent has depth 1,
  so depth-1 posts need no row.

Posts are folded a hop bucket at a time (``[b, b + hop)``, ``b`` a multiple of the hop, so
no window boundary falls inside a bucket), in any grouping of whole buckets: folding the
buckets of a day at once or one at a time gives the same frames. Within a cascade the
buckets form runs: a new run starts when the previous bucket's newest post is older than
``b - ttl_ms`` (the cascade was forgotten at boundary ``b``). One polars query groups a
fold's posts per (root, bucket), sorted; runs and running counts are then numpy scans over
those few thousand rows (cumulative sums, fills by running maxima of row indices), since a
polars query costs more in overhead than such a scan. Each frame is kept as
:class:`SortedRuns`, so a fold looks up its cascades without scanning the whole state;
expiry (:meth:`CascadeState.forget`) is the one pass over everything, and it may run late:
a cascade past its horizon starts a new run whether or not its old rows are still there,
and old-run depths no longer match ``since``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from process.sorted_runs import Ints, SortedRuns, matches

__all__ = [
    "DEPTH_BYTES",
    "DEPTH_SCHEMA",
    "FOLD_SCHEMA",
    "ROOT_BYTES",
    "ROOT_SCHEMA",
    "SNAPSHOT_SCHEMA",
    "CascadeState",
    "fold_columns",
]

I64: Final = pl.Int64()
#: A post as folded: ``root`` (its cascade) and ``level`` (0 root, 1 child of the root or
#: without parent, 2 deeper: its depth is 2 or more).
FOLD_SCHEMA: Final = pl.Schema(
    {"post_id": I64, "parent_id": I64, "root": I64, "created_at": I64, "level": pl.Int8(),
     "repost": pl.Boolean()}
)  # fmt: skip
ROOT_SCHEMA: Final = pl.Schema({"root": I64, "size": I64, "depth": I64, "last": I64, "since": I64})
DEPTH_SCHEMA: Final = pl.Schema({"post_id": I64, "root": I64, "since": I64, "depth": I64})
#: Per (bucket, root): reposts in the bucket, size and depth at the bucket's end.
SNAPSHOT_SCHEMA: Final = pl.Schema(
    {"bucket": I64, "root": I64, "reposts": I64, "size": I64, "depth": I64}
)
#: Bytes per row of ``roots`` and of ``depths`` (Int64 columns without nulls).
ROOT_BYTES: Final = 8 * len(ROOT_SCHEMA)
DEPTH_BYTES: Final = 8 * len(DEPTH_SCHEMA)
#: Polars' streaming engine costs milliseconds per query on frames this small.
ENGINE: Final = "in-memory"
_RUN: Final = 32  # shift of the run number for a running max within runs (depths < 2**32)
Mask = npt.NDArray[np.bool_]


@dataclass(slots=True)
class CascadeState:
    roots: SortedRuns = field(
        default_factory=lambda: SortedRuns("root", ROOT_SCHEMA, latest_only=True)
    )
    depths: SortedRuns = field(default_factory=lambda: SortedRuns("post_id", DEPTH_SCHEMA))

    @classmethod
    def of(cls, roots: pl.DataFrame, depths: pl.DataFrame) -> CascadeState:
        return cls(
            SortedRuns.of(roots.cast(ROOT_SCHEMA), "root", latest_only=True),
            SortedRuns.of(depths.cast(DEPTH_SCHEMA), "post_id"),
        )

    def frames(self) -> dict[str, pl.DataFrame]:
        """The state as plain frames (for checkpoints; see :meth:`of`), without merging."""
        return {"roots": self.roots.rows(), "depths": self.depths.rows()}

    def estimated_size(self) -> int:
        return self.roots.estimated_size() + self.depths.estimated_size()

    def fold(self, chunk: pl.DataFrame, hop: int, ttl: int) -> pl.DataFrame:
        """Fold whole buckets of posts in; their snapshots (SNAPSHOT_SCHEMA)."""
        groups, deep = _group(chunk, hop)
        snapshots = pl.DataFrame(schema=SNAPSHOT_SCHEMA)
        if not groups.is_empty():
            g = {c: groups[c].to_numpy().astype(np.int64) for c in groups.columns}
            root, bucket, n, tmax = g["root"], g["bucket"], g["n"], g["tmax"]
            first = np.r_[True, root[1:] != root[:-1]]
            which = np.cumsum(first) - 1  # row -> its root among root[first]
            found, stored = self._stored(root[first])
            s_size, s_depth, s_last, s_since = (a[which] for a in stored)
            before = np.r_[0, tmax[:-1]]
            restart = np.where(
                first, ~found[which] | (s_last < bucket - ttl), before < bucket - ttl
            )
            start = first | restart
            run = np.cumsum(start)
            head = np.maximum.accumulate(np.where(start, np.arange(len(root)), 0))
            carry = (first & ~restart)[head]  # the run continues what was stored
            since = np.where(restart, bucket, s_since)[head]
            last_row = np.r_[first[1:], True]
            final = run[last_row][which]
            dmax = g["dmax"]
            if not deep.is_empty():
                at = deep["g"].to_numpy().astype(np.int64)
                depth = self._resolve(deep, run[at], since[at], carry[at], final[at])
                np.maximum.at(dmax, at, depth)
            total = np.cumsum(n)
            size = total - (total - n)[head] + np.where(carry, s_size, 1)  # 1: the root
            offset = run << _RUN
            deepest = np.maximum.accumulate(offset + dmax) - offset
            deepest = np.where(carry, np.maximum(deepest, s_depth), deepest)
            newest = np.where(carry, np.maximum(tmax, s_last), tmax)
            columns = {"root": root, "size": size, "depth": deepest, "last": newest}
            self.roots.insert(
                pl.DataFrame({k: v[last_row] for k, v in {**columns, "since": since}.items()}),
                presorted=True,
            )
            snapshots = pl.DataFrame(
                {"bucket": bucket, "root": root, "reposts": g["reposts"], "size": size,
                 "depth": deepest}
            )  # fmt: skip
        return snapshots

    def forget(self, cutoff: int) -> int:
        """Drop the cascades whose newest post is older than ``cutoff``, with their depths;
        how many cascades were dropped.

        Each run is filtered where it lies (a cascade's rows only get newer, so its older
        rows go first) and nothing is merged or joined: the pass over the state costs about
        one run's copy of memory, not the state's.
        """
        removed: list[Ints] = []

        def drop_old(run: pl.DataFrame) -> pl.DataFrame:
            old = run["last"].to_numpy() < cutoff
            removed.append(run["root"].to_numpy()[old])
            return run.filter(pl.Series(~old))

        self.roots.keep(drop_old)
        self.depths.keep(lambda run: run.filter(self._live(run)))
        gone = np.unique(np.concatenate([np.empty(0, dtype=np.int64), *removed]))
        return int(np.count_nonzero(~self._has_root(gone)))

    def shrink(self, budget: int) -> int:
        """Forget the cascades silent the longest until the rest fit in about ``budget``
        bytes; how many were forgotten. As if their time-to-live had passed: a later post
        starts them afresh.

        The cut is the newest ``last`` that leaves ``budget / (bytes per root row)`` rows, the
        bytes per row counting the depths in proportion, found by a partition of the ``last``
        column (no sort, no join).
        """
        rows = self.roots.height
        size = self.estimated_size()
        if not rows or size <= budget:
            return 0
        keep = int(budget * rows // size)
        if keep >= rows:
            return 0
        lasts = np.concatenate([run["last"].to_numpy() for run in self.roots.runs])
        at = rows - max(keep, 1)
        return self.forget(int(np.partition(lasts, at)[at]))

    def _has_root(self, roots: Ints) -> Mask:
        """Which of the sorted distinct ``roots`` have a row."""
        found = np.zeros(len(roots), dtype=np.bool_)
        for run in self.roots.runs:
            keys = run["root"].to_numpy()
            found |= np.searchsorted(keys, roots, "left") < np.searchsorted(keys, roots, "right")
        return found

    def _live(self, depths: pl.DataFrame) -> pl.Series:
        """Which depth rows belong to a stored cascade run (same root and ``since``)."""
        root, since = depths["root"].to_numpy(), depths["since"].to_numpy()
        live = np.zeros(len(root), dtype=np.bool_)
        for run in self.roots.runs:
            keys, starts = run["root"].to_numpy(), run["since"].to_numpy()
            lo = np.searchsorted(keys, root, "left")
            hi = np.searchsorted(keys, root, "right")
            step = 0
            while (more := lo + step < hi).any():  # a run may hold a root's older rows too
                at = lo[more] + step
                live[more] |= starts[at] == since[more]
                step += 1
        return pl.Series(live)

    def _stored(self, roots: Ints) -> tuple[Mask, list[Ints]]:
        """What is remembered of the sorted ``roots``: found, and size, depth, last, since."""
        found = np.zeros(len(roots), dtype=np.bool_)
        size, depth, last, since = (np.zeros(len(roots), dtype=np.int64) for _ in range(4))
        rows = self.roots.lookup(roots)
        if not rows.is_empty():  # the newest row of each root: its last match
            keys = rows["root"].to_numpy()[::-1]
            _, newest = np.unique(keys, return_index=True)
            pick = rows.height - 1 - newest
            at = np.searchsorted(roots, keys[newest])
            found[at] = True
            for out, name in ((size, "size"), (depth, "depth"), (last, "last"), (since, "since")):
                out[at] = rows[name].to_numpy()[pick]
        return found, [size, depth, last, since]

    def _resolve(
        self, deep: pl.DataFrame, run: Ints, since: Ints, carry: Mask, final: Ints
    ) -> Ints:
        """Depths of posts whose parent is not their root: parent's depth + 1, else 2.

        Stores the depths of the posts in their cascade's final run.
        """
        post, parent, root, t = (
            deep[c].to_numpy() for c in ("post_id", "parent_id", "root", "created_at")
        )
        depth = np.full(len(post), 2, dtype=np.int64)
        if carry.any():  # parents folded before, in the same run (same since)
            stored = self.depths.lookup(np.unique(parent[carry]))
            ids, s_root, s_since, s_depth = (stored[c].to_numpy() for c in DEPTH_SCHEMA.names())
            order = np.argsort(ids, kind="stable")
            child, at = matches(ids[order], parent)
            at = order[at]
            ok = carry[child] & (s_root[at] == root[child]) & (s_since[at] == since[child])
            np.maximum.at(depth, child[ok], s_depth[at][ok] + 1)
        order = np.argsort(post, kind="stable")  # parents within the fold, same run, earlier
        child, at = matches(post[order], parent)
        up = order[at]
        ok = (root[up] == root[child]) & (run[up] == run[child]) & (t[up] < t[child])
        child, up = child[ok], up[ok]
        for _ in range(len(child) + 1):  # parents come strictly earlier: a chain ends by then
            grown = depth.copy()
            np.maximum.at(grown, child, depth[up] + 1)
            if np.array_equal(grown, depth):
                break
            depth = grown
        kept = np.flatnonzero(run == final)
        kept = kept[np.argsort(post[kept], kind="stable")]
        columns = {"post_id": post, "root": root, "since": since, "depth": depth}
        self.depths.insert(pl.DataFrame({k: v[kept] for k, v in columns.items()}), presorted=True)
        return depth


def fold_columns() -> list[pl.Expr]:
    """What a fold needs of a post (FOLD_SCHEMA), from POST_SCHEMA columns."""
    root_id, parent_id = pl.col("root_id"), pl.col("parent_id")
    return [
        pl.col("post_id"),
        parent_id,
        pl.coalesce(root_id, "post_id").alias("root"),
        pl.col("created_at"),
        pl.when(root_id.is_null() | (root_id == pl.col("post_id")))
        .then(0)
        .when(parent_id.is_null() | (parent_id == root_id))
        .then(1)
        .otherwise(2)
        .cast(pl.Int8())
        .alias("level"),
        (pl.col("kind") == "repost").alias("repost"),
    ]


def _group(chunk: pl.DataFrame, hop: int) -> list[pl.DataFrame]:
    """Per (root, bucket) of the posts beyond their root, sorted: counts; and the posts
    deeper than 1 (with ``g``, their group's row)."""
    level = pl.col("level")
    posts = (
        chunk.lazy()
        .filter(level > 0)
        .with_columns((pl.col("created_at") // hop * hop).alias("bucket"))
    )
    groups = (
        posts.group_by("root", "bucket")
        .agg(
            pl.len().cast(I64).alias("n"),
            pl.col("repost").sum().cast(I64).alias("reposts"),
            pl.col("created_at").max().alias("tmax"),
            level.max().cast(I64).alias("dmax"),
        )
        .sort("root", "bucket")
        .collect(engine=ENGINE)
    )
    deep = posts.filter(level == 2).join(
        groups.lazy().select("root", "bucket").with_row_index("g"), on=["root", "bucket"]
    )
    return [groups, deep.collect(engine=ENGINE)]
