"""Cost of the virality signal: the window engine with and without the cascade tracker.

.venv/bin/python tests/benchmark/bench_cascades.py [--posts N] [--batch B] [--day-in-s D]

Posts come from the firehose in event-time order, in batches of B, each followed by a close
(as the worker does). Two measures, best of ``--repeat`` each: the engine with the tracker
against the engine with a tracker that tracks nothing (alternating runs), and, within the
runs with the tracker, the time spent in the tracker's own calls (steadier on a busy
machine, since both sides of the ratio come from the same run).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import polars as pl

import process.stage_two.merger
from ingest.firehose import FirehoseConfig, generate
from process.cascades import TOPS_SCHEMA, CascadeTracker, attach_cascades
from process.engine import WindowEngine
from process.windows import WindowSpec

START = 1_700_000_000_000


class NoCascades(CascadeTracker):
    def add_folded(self, rows: pl.DataFrame | pl.LazyFrame) -> None:
        pass

    def close(self, through: int) -> pl.DataFrame:
        return pl.DataFrame(schema=TOPS_SCHEMA)


class Timed:
    """Adds up the time spent in the functions it wraps."""

    def __init__(self) -> None:
        self.spent = 0.0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent += time.perf_counter() - t0

        return timed


def timed_tracker(spec: WindowSpec, timer: Timed) -> CascadeTracker:
    class TimedCascades(CascadeTracker):
        add_folded = timer.wrap(CascadeTracker.add_folded)
        close = timer.wrap(CascadeTracker.close)

    return TimedCascades(spec)


def run(posts: pl.DataFrame, batch: int, tracked: bool) -> tuple[float, float]:
    """Seconds for the whole run, and seconds of it inside the tracker."""
    spec = WindowSpec()
    engine = WindowEngine(spec)
    timer = Timed()
    if tracked:
        engine.merger.cascades = timed_tracker(spec, timer)
        setattr(process.stage_two.merger, "attach_cascades", timer.wrap(attach_cascades))  # noqa: B010
    else:
        engine.merger.cascades = NoCascades(spec)
    t0 = time.perf_counter()
    try:
        for lo in range(0, posts.height, batch):
            engine.add(posts.slice(lo, batch), now_ms=0)
            engine.close(now_ms=0)
        engine.flush()
    finally:
        setattr(process.stage_two.merger, "attach_cascades", attach_cascades)  # noqa: B010
    return time.perf_counter() - t0, timer.spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--day-in-s", type=float, default=600.0)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    posts = generate(FirehoseConfig(day_in_s=args.day_in_s), 1, START, args.posts)
    posts = posts.with_columns(
        (pl.col("author_id") % 6).cast(pl.Int32).alias("partition"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
        pl.lit(0.0).alias("compound"),
    )
    without, tracked = [], []
    for _ in range(args.repeat):
        without.append(run(posts, args.batch, tracked=False)[0])
        tracked.append(run(posts, args.batch, tracked=True))
    best_with, inside = min(tracked)
    result = {
        "posts": args.posts,
        "batch": args.batch,
        "non_originals": posts.filter(pl.col("kind") != "post").height,
        "engine_s_without": round(min(without), 4),
        "engine_s_with": round(best_with, 4),
        "tracker_s_inside": round(inside, 4),
        "tracker_vs_rest_of_engine": round(inside / (best_with - inside), 3),
        "with_vs_without": round(best_with / min(without) - 1, 3),
        "engine_posts_per_s_with": round(args.posts / best_with),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
