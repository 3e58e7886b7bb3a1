from __future__ import annotations

import functools
import itertools

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ingest.firehose import FirehoseConfig, generate
from process.delta import Delta, Origin, decode_delta, encode_delta
from process.engine import WindowEngine
from process.signals import SIGNAL_SCHEMA
from process.stage_one.partitions import PartitionStage
from process.stage_two.merger import Merger
from process.trends import TrendConfig
from process.truth import truth_signals
from process.windows import WindowSpec
from tests.support.common import START

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
    engine.stage.partials.min_rows = engine.stage.uniques.min_rows = merge_at
    engine.merger.open.min_rows = merge_at
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
    early = frame.head(10)
    assert early["partition"].n_unique() > 1  # every partition's watermark has passed them
    added = engine.add(early, now_ms=0)
    assert added.processed == 0 and added.late_idx == early["_idx"].to_list()


def _workers_stream(
    spec: WindowSpec, workers: int, seed: int, cuts: list[int]
) -> tuple[pl.DataFrame, int]:
    """Partitions shared among ``workers`` stages; their deltas reach one merger
    interleaved at random (each worker's own deltas in order), through the wire format."""
    frame = posts()
    partitions = sorted(frame["partition"].unique().to_list())
    merger = Merger(spec, TRENDS, partitions=set(partitions))
    stages = [PartitionStage(spec) for _ in range(workers)]
    queues: list[list[Delta]] = [[] for _ in range(workers)]
    rng = np.random.default_rng(seed)
    bounds = [0, *sorted(set(cuts)), frame.height]
    late = 0
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        chunk = frame[lo:hi]
        for w, stage in enumerate(stages):
            mine = chunk.filter(pl.col("partition") % workers == w)
            late += len(stage.add(mine, now_ms=0).late_idx)
            queues[w].append(stage.advance(now_ms=0))
    for w, stage in enumerate(stages):
        queues[w].append(stage.end(now_ms=0))
    out = []
    while any(queues):
        w = int(rng.choice([i for i, q in enumerate(queues) if q]))
        merger.apply(decode_delta(encode_delta(queues[w].pop(0), Origin("g", "posts"))))
        out.append(merger.close())
    assert merger.ended
    return pl.concat(out), late


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    workers=st.integers(1, 3),
    cuts=st.lists(st.integers(0, 3_000), max_size=8),
    hopping=st.booleans(),
)
def test_any_number_of_workers_gives_the_truth(
    seed: int, workers: int, cuts: list[int], hopping: bool
) -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=2_000 if hopping else 4_000,
                      allowed_lateness_ms=LATENESS_MS)  # fmt: skip
    got, late = _workers_stream(spec, workers, seed, cuts)
    assert late == 0
    assert_same(got, truth_signals(posts(), spec, TRENDS))


def test_a_window_is_final_only_when_every_partition_has_passed_it() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    frame = posts()
    merger = Merger(spec, TRENDS, partitions={0, 1, 2})
    stage = PartitionStage(spec)
    stage.add(frame.filter(pl.col("partition") != 2), now_ms=0)
    merger.apply(stage.advance(now_ms=0))
    assert merger.close().is_empty()  # partition 2 has not reported: nothing is final
    stage.add(frame.filter(pl.col("partition") == 2), now_ms=0)
    merger.apply(stage.advance(now_ms=0))
    out = merger.close()
    newest = frame["created_at"].max()
    assert isinstance(newest, int)
    assert not out.is_empty() and out.filter(pl.col("window_end") > newest).is_empty()


def test_an_idle_partition_stops_holding_the_merged_watermark() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec, idle_timeout_ms=1_000, trend_config=TRENDS)
    frame = posts()
    p0 = frame.filter(pl.col("partition") == 0)
    p1 = frame.filter(pl.col("partition") == 1)
    engine.add(p1.head(5), now_ms=0)  # partition 1 then goes quiet
    engine.add(p0, now_ms=100)
    quiet_until = p1.head(5)["created_at"].max()
    assert isinstance(quiet_until, int)
    held = engine.close(now_ms=200)
    assert held.filter(pl.col("window_end") > quiet_until).is_empty()
    engine.add(p0.tail(1), now_ms=5_000)
    released = engine.close(now_ms=5_000)  # partition 1 is idle now
    assert not released.filter(pl.col("window_end") > quiet_until).is_empty()


def test_a_partition_that_never_delivered_holds_the_windows_however_long() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    frame = posts()
    stage = PartitionStage(spec, idle_timeout_ms=1_000)
    merger = Merger(spec, TRENDS, partitions={0, 1})
    stage.track({0, 1}, backlog=set(), now_ms=0)  # assigned before the firehose starts
    merger.apply(stage.advance(now_ms=60_000))  # a minute of silence: nobody delivered yet
    stage.add(frame.filter(pl.col("partition") == 0), now_ms=61_000)
    merger.apply(stage.advance(now_ms=61_000))
    assert merger.close().is_empty()  # partition 1 may still bring any window
    stage.add(frame.filter(pl.col("partition") == 1), now_ms=61_500)
    merger.apply(stage.advance(now_ms=61_500))
    assert not merger.close().is_empty() and merger.stats.late_after_merge == 0


def test_a_partition_with_a_backlog_never_goes_idle() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    stage = PartitionStage(spec, idle_timeout_ms=1_000)
    frame = posts()
    stage.add(frame.filter(pl.col("partition") == 1).head(5), now_ms=0)
    stage.add(frame.filter(pl.col("partition") == 0), now_ms=0)
    stage.track({0, 1}, backlog={0, 1}, now_ms=60_000)
    assert not any(m.idle for m in stage.advance(now_ms=60_500).marks.values())
    stage.track({0, 1}, backlog={0}, now_ms=61_900)  # 1 is caught up and silent
    assert stage.advance(now_ms=63_000).marks[1].idle
    assert not stage.advance(now_ms=63_000).marks[0].idle


def test_flush_emits_everything_and_state_empties() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=LATENESS_MS)
    engine = WindowEngine(spec, trend_config=TRENDS)
    engine.add(posts(), now_ms=0)
    out = pl.concat([engine.close(0), engine.flush()])
    assert engine.open_windows == 0
    star = out.filter(pl.col("key") == "*")
    assert star["posts"].sum() == posts().height
    # authors are keyed to one partition, so per-partition distinct counts add up exactly
    per_window = posts().with_columns((pl.col("created_at") // 4_000 * 4_000).alias("w"))
    want = per_window.group_by("w").agg(pl.col("author_id").n_unique()).sort("w")
    assert star.sort("window_start")["unique_authors"].to_list() == want["author_id"].to_list()


def test_a_partition_taken_over_is_rebuilt_from_its_resume_point() -> None:
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=LATENESS_MS)
    frame = posts().with_columns(pl.col("_idx").alias("offset"))  # one partition's offsets
    frame = frame.with_columns(pl.lit(0, dtype=pl.Int32).alias("partition"))
    whole = PartitionStage(spec)
    whole.add(frame, now_ms=0)
    want = pl.concat([whole.advance(now_ms=0).partials, whole.end(now_ms=0).partials])

    first = PartitionStage(spec)
    first.add(frame[:1_700], now_ms=0)
    got = [first.advance(now_ms=0).partials]
    resume = first.resume_point(0, next_offset=1_700)
    assert 0 < resume.rebuild_from < 1_700  # the first record of a window still open
    second = PartitionStage(spec)  # another worker, on another machine
    second.resume(0, resume, now_ms=0)
    second.rebuild(frame[resume.rebuild_from : 1_700])
    second.add(frame[1_700:], now_ms=0)
    got += [second.advance(now_ms=0).partials, second.end(now_ms=0).partials]
    assert_frame_equal(_summed(pl.concat(got)), _summed(want))


def _summed(partials: pl.DataFrame) -> pl.DataFrame:
    cols = [c for c in partials.columns if c not in ("window_start", "key", "max_event")]
    return (
        partials.group_by("window_start", "key")
        .agg(*(pl.col(c).sum() for c in cols), pl.col("max_event").max())
        .sort("window_start", "key")
    )


def test_an_idle_partition_has_not_ended_when_the_others_have() -> None:
    """Every other partition ended, one idle: its open windows are still to come, so the
    merger neither flushes them nor counts itself ended (a bounded run's merger would exit
    and leave that partition's last windows out)."""
    spec = WindowSpec(size_ms=4_000, hop_ms=4_000, allowed_lateness_ms=0)
    frame = posts()
    p0, p1 = (frame.filter(pl.col("partition") == p) for p in (0, 1))
    one, two = PartitionStage(spec, idle_timeout_ms=1_000), PartitionStage(spec)
    merger = Merger(spec, TRENDS, partitions={0, 1})
    one.add(p1.head(200), now_ms=0)
    merger.apply(one.advance(now_ms=5_000))  # partition 1: silent since, idle
    two.add(p0, now_ms=0)
    merger.apply(two.end(now_ms=5_000))  # partition 0 ended
    assert merger.marks[1].idle
    quiet_until = p1.head(200)["created_at"].max()
    assert isinstance(quiet_until, int)
    early = merger.close()
    assert early.filter(pl.col("window_end") > quiet_until).is_empty()
    ended_early = merger.ended
    assert not ended_early
    merger.apply(one.end(now_ms=6_000))
    rest = merger.close()
    assert merger.ended and merger.stats.late_after_merge == 0
    want = truth_signals(pl.concat([p0, p1.head(200)]).drop("partition", "_idx"), spec, TRENDS)
    got = pl.concat([early, rest])
    assert_same(got, want)


def test_the_window_rules_are_the_specs_own_problems() -> None:
    assert WindowSpec.problems(size_ms=10_000, hop_ms=5_000, allowed_lateness_ms=0) == []
    said = [p.says() for p in WindowSpec.problems(size_ms=0, hop_ms=-1, allowed_lateness_ms=-1)]
    assert said == [
        "size_ms must be positive",
        "hop_ms must be positive",
        "allowed_lateness_ms must be >= 0",
    ]
    (whole,) = WindowSpec.problems(size_ms=10_000, hop_ms=3_000, allowed_lateness_ms=0)
    assert whole.says() == "size_ms must be a whole multiple of hop_ms"
    names = {"size_ms": "size", "hop_ms": "hop"}
    assert whole.names(names) == ("size", "hop")
    assert whole.says(names) == "size must be a whole multiple of hop"
    with pytest.raises(ValueError, match=r"^invalid WindowSpec: size_ms must be a whole multiple"):
        WindowSpec(size_ms=10_000, hop_ms=3_000)
    with pytest.raises(ValueError, match=r"size_ms must be positive; hop_ms must be positive$"):
        WindowSpec(size_ms=0, hop_ms=0)
