from __future__ import annotations

import functools
import itertools

import numpy as np
import polars as pl
from common import START
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ingest.firehose import FirehoseConfig, generate
from process.engine import WindowEngine
from process.signals import SIGNAL_SCHEMA
from process.trends import TrendConfig
from process.truth import truth_signals
from process.windows import WindowSpec

LATENESS_MS = 1_500
TRENDS = TrendConfig(min_support=3, warmup_windows=1)


@functools.cache
def posts() -> pl.DataFrame:
    frame = generate(FirehoseConfig(rate=100.0), 11, START, 3_000)
    # A deterministic stand-in for sentiment: mostly scored, some unscored (null).
    compound = (frame["post_id"] * 7919 % 2001 - 1000) / 1000.0
    scored = pl.when(pl.col("lang") == "en").then(compound)
    return frame.with_columns(
        scored.alias("compound"),
        (pl.col("author_id") % 3).cast(pl.Int32).alias("partition"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
    )


def stream(
    spec: WindowSpec, order: list[int], cuts: list[int], merge_at: int = 100_000
) -> tuple[pl.DataFrame, int]:
    engine = WindowEngine(spec, trend_config=TRENDS)
    engine.partials.min_rows = engine.uniques.min_rows = merge_at
    frame = posts()[order]
    out, late = [], 0
    bounds = [0, *sorted(set(cuts)), frame.height]
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        added = engine.add(frame[lo:hi], now_ms=0)
        late += len(added.late_idx)
        out.append(engine.close(now_ms=0))
    out.append(engine.flush())
    return pl.concat(out), late


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    order = ["window_start", "key"]
    assert_frame_equal(got.sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 3_000), max_size=12),
    hopping=st.booleans(),
    merge_at=st.sampled_from([1, 200, 100_000]),  # state pieces merged often, or rarely
)
def test_any_batching_and_bounded_disorder_gives_the_truth(
    seed: int, cuts: list[int], hopping: bool, merge_at: int
) -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=2_000 if hopping else 4_000,
                      allowed_lateness_ms=LATENESS_MS)  # fmt: skip
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(0, LATENESS_MS - 1, posts().height)
    order = np.argsort(posts()["created_at"].to_numpy() + jitter, kind="stable").tolist()
    got, late = stream(spec, order, cuts, merge_at)
    assert late == 0
    assert got.schema == SIGNAL_SCHEMA
    assert_same(got, truth_signals(posts(), spec, TRENDS))


def test_records_behind_the_watermark_are_late_not_counted() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec, trend_config=TRENDS)
    frame = posts()
    engine.add(frame.tail(1_000), now_ms=0)
    closed = engine.close(now_ms=0)
    assert not closed.is_empty()
    added = engine.add(frame.head(10), now_ms=0)
    assert added.processed == 0 and added.late_idx == frame.head(10)["_idx"].to_list()


def test_idle_partition_stops_holding_the_watermark() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec, idle_timeout_ms=1_000, trend_config=TRENDS)
    frame = posts()
    p0 = frame.filter(pl.col("partition") == 0)
    p1 = frame.filter(pl.col("partition") == 1)
    engine.add(p1.head(5), now_ms=0)  # partition 1 then goes quiet
    engine.add(p0, now_ms=100)
    # Partition 1 is not idle yet: its watermark (its highest event time, no lateness)
    # holds the worker's, so none of partition 0's windows past it may close.
    p0_times, p1_times = p0["created_at"].to_list(), p1.head(5)["created_at"].to_list()
    held = engine.watermarks.current(now_ms=200)
    assert held is not None and held == max(p1_times)
    assert held < max(p0_times) - 2 * spec.size_ms
    assert held // spec.size_ms == min(p0_times) // spec.size_ms  # no window has ended
    assert engine.close(now_ms=200).is_empty()
    open_windows = {t // spec.size_ms for t in p0_times + p1_times}
    assert engine.open_windows == len(open_windows) > 2
    # Idle past the timeout, partition 1 no longer counts: partition 0's watermark rules,
    # and every window ending by it closes.
    engine.add(p0.tail(1), now_ms=5_000)
    released = engine.watermarks.current(now_ms=5_000)
    assert released is not None and released == max(p0_times)
    closed = engine.close(now_ms=5_000)
    ends = closed["window_end"].unique().sort().to_list()
    first_end = (held // spec.size_ms + 1) * spec.size_ms
    assert ends == list(range(first_end, released + 1, spec.size_ms))


def test_flush_emits_everything_and_state_empties() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=LATENESS_MS)
    engine = WindowEngine(spec, trend_config=TRENDS)
    engine.add(posts(), now_ms=0)
    out = pl.concat([engine.close(0), engine.flush()])
    assert engine.open_windows == 0
    star = out.filter(pl.col("key") == "*")
    assert star["posts"].sum() == posts().height
    assert star["unique_authors"].sum() >= posts()["author_id"].n_unique()


def test_snapshot_restore_continues_exactly() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=LATENESS_MS)
    frame = posts()
    whole = WindowEngine(spec, trend_config=TRENDS)
    whole.add(frame, now_ms=0)
    want = pl.concat([whole.close(0), whole.flush()])

    first = WindowEngine(spec, trend_config=TRENDS)
    first.add(frame[:1_700], now_ms=0)
    got = [first.close(0)]
    scalars, frames = first.snapshot()
    second = WindowEngine(spec, trend_config=TRENDS)
    second.restore(scalars, frames, now_ms=0)
    second.add(frame[1_700:], now_ms=0)
    got += [second.close(0), second.flush()]
    assert_same(pl.concat(got), want)


def test_an_assigned_partition_not_yet_heard_from_holds_the_watermark() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec, idle_timeout_ms=10_000, trend_config=TRENDS)
    engine.watermarks.expect({0, 1, 2}, now_ms=0)
    p0 = posts().filter(pl.col("partition") == 0)
    engine.add(p0.head(2_000), now_ms=0)
    assert engine.close(now_ms=1_000).is_empty()  # partitions 1 and 2 may still be behind
    engine.add(p0.tail(1), now_ms=20_000)
    assert not engine.close(now_ms=20_000).is_empty()  # ... until they are idle


def test_a_partition_with_a_backlog_never_goes_idle() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec, idle_timeout_ms=1_000, trend_config=TRENDS)
    frame = posts()
    engine.add(frame.filter(pl.col("partition") == 1).head(5), now_ms=0)
    engine.add(frame.filter(pl.col("partition") == 0), now_ms=0)
    marks = engine.watermarks
    held = marks.current(now_ms=0)
    marks.busy({0, 1}, now_ms=60_000)  # partition 1 still has records to read
    assert marks.current(now_ms=60_500) == held
    marks.busy({0}, now_ms=61_900)  # partition 0 goes on; 1 is caught up and silent
    assert marks.current(now_ms=62_000) != held  # so 1 is idle, no longer holding back
    assert marks.current(now_ms=90_000) == marks.current(now_ms=62_000)  # all silent: hold
