"""The virality signal: hand-built cascades, the state, streaming equals truth.

The definitions are checked against a naive per-post reference in test_cascades_reference.
"""

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
from process.cascades import CascadeConfig, CascadeTracker
from process.engine import WindowEngine
from process.signals import SIGNAL_SCHEMA
from process.sorted_runs import SortedRuns
from process.truth import truth_signals
from process.windows import WindowSpec
from tests.support.cascades import HOPPING, TUMBLING, Row, entry, frame, truth_tops
from tests.support.common import START

HAND: list[Row] = [
    (1, 1_000, "post", None, None),  # cascade A
    (2, 2_000, "repost", 1, 1),  # depth 1
    (3, 3_000, "repost", 2, 1),  # a repost of a repost: depth 2
    (10, 4_000, "post", None, None),  # cascade B
    (11, 5_000, "repost", 10, 10),
    (12, 6_000, "quote", 10, 10),  # quotes grow the cascade but do not rank it
    (13, 7_000, "repost", 10, 10),
    (14, 7_500, "repost", 10, 10),
    (4, 12_000, "reply", 3, 1),  # depth 3
    (5, 13_000, "repost", 1, 1),
    (15, 15_000, "repost", 999, 10),  # parent never seen: depth 2
    (30, 16_000, "post", None, None),  # no reposts: no entry
    (31, 16_500, "reply", 30, 30),
]


def test_hand_built_tumbling() -> None:
    tops = truth_tops(frame(HAND), TUMBLING, CascadeConfig())
    assert tops[0] == [entry(10, 3, 5, 1), entry(1, 2, 3, 2)]
    # a tie on reposts is broken by root_id
    assert tops[10_000] == [entry(1, 1, 5, 3), entry(10, 1, 6, 2)]
    assert truth_tops(frame(HAND), TUMBLING, CascadeConfig(top_k=1))[0] == [entry(10, 3, 5, 1)]


def test_hand_built_hopping() -> None:
    tops = truth_tops(frame(HAND), HOPPING, CascadeConfig())
    assert tops[-10_000] == [entry(10, 3, 5, 1), entry(1, 2, 3, 2)]
    assert tops[0] == [entry(10, 4, 6, 2), entry(1, 3, 5, 3)]
    assert tops[10_000] == [entry(1, 1, 5, 3), entry(10, 1, 6, 2)]


def test_rows_other_than_the_stream_stay_null_and_quiet_windows_are_empty() -> None:
    rows: list[Row] = [(1, 1_000, "post", None, None), (2, 31_000, "reply", 1, 1)]
    signals = truth_signals(frame(rows), TUMBLING)
    assert signals.schema == SIGNAL_SCHEMA
    assert signals.filter(pl.col("key") == "*")["top_cascades"].to_list() == [[], []]
    tagged = frame(rows).with_columns(pl.concat_list(pl.lit("x")).alias("hashtags"))
    keyed = truth_signals(tagged, TUMBLING).filter(pl.col("key") == "x")
    assert keyed["top_cascades"].null_count() == keyed.height


def test_a_cascade_silent_longer_than_the_ttl_is_forgotten() -> None:
    rows: list[Row] = [
        (1, 0, "post", None, None),
        (2, 1_000, "repost", 1, 1),
        (3, 2_000, "repost", 2, 1),  # depth 2
        (4, 41_000, "repost", 3, 1),  # 39 s later: parent forgotten, depth 2 again
        (5, 42_000, "repost", 1, 1),  # the root is implicit: depth 1
    ]
    kept = truth_tops(frame(rows), TUMBLING, CascadeConfig(ttl_ms=40_000))
    assert kept[40_000] == [entry(1, 2, 5, 3)]
    forgotten = truth_tops(frame(rows), TUMBLING, CascadeConfig(ttl_ms=30_000))
    assert forgotten[40_000] == [entry(1, 2, 3, 2)]  # the root and the two new posts


def test_the_root_counts_whether_or_not_it_was_seen() -> None:
    children: list[Row] = [(2, 1_000, "repost", 1, 1), (3, 2_000, "repost", 2, 1)]
    with_root = truth_tops(
        frame([(1, 500, "post", None, None), *children]), TUMBLING, CascadeConfig()
    )
    without = truth_tops(frame(children), TUMBLING, CascadeConfig())
    assert with_root[0] == without[0] == [entry(1, 2, 3, 2)]


def test_state_round_trips_through_frames() -> None:
    posts = frame(HAND)
    tracker = CascadeTracker(TUMBLING)
    tracker.add(posts.head(8))
    first = tracker.close(10_000)
    tracker.add(posts.slice(8))
    copy = CascadeTracker.restore(TUMBLING, CascadeConfig(), tracker.state_frames())
    assert tracker.state_bytes > 0
    assert_frame_equal(copy.close(30_000), tracker.close(30_000))
    assert first.height == 1


# --- streaming: any split and bounded disorder give the truth ---------------------------


@functools.cache
def firehose() -> pl.DataFrame:
    """A compressed day: cascades unfold within a small sample."""
    posts = generate(FirehoseConfig(rate=50.0, day_in_s=60.0, authors=5_000), 7, START, 8_000)
    return posts.with_columns(
        (pl.col("author_id") % 3).cast(pl.Int32).alias("partition"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
    )


def test_the_firehose_has_non_trivial_cascades() -> None:
    star = truth_signals(firehose(), TUMBLING).filter(pl.col("key") == "*")
    lists = star["top_cascades"].to_list()
    assert sum(len(x) == 5 for x in lists) > len(lists) // 2
    best = max((e for x in lists for e in x), key=lambda e: e["size"])
    assert best["size"] >= 10 and best["depth"] >= 3


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    cuts=st.lists(st.integers(0, 8_000), max_size=12),
    hopping=st.booleans(),
    ttl_ms=st.sampled_from([5_000, 60_000, 100_000, 24 * 3_600_000]),
)
def test_any_batching_and_bounded_disorder_gives_the_truth(
    seed: int, cuts: list[int], hopping: bool, ttl_ms: int
) -> None:
    spec = HOPPING if hopping else TUMBLING
    config = CascadeConfig(ttl_ms=ttl_ms)
    posts = firehose()
    lateness = spec.allowed_lateness_ms
    jitter = np.random.default_rng(seed).uniform(0, lateness - 1, posts.height)
    order = np.argsort(posts["created_at"].to_numpy() + jitter, kind="stable")
    shuffled = posts[order.tolist()]
    engine = WindowEngine(spec, cascade_config=config)
    out = []
    for lo, hi in itertools.pairwise([0, *sorted(set(cuts)), shuffled.height]):
        if hi > lo:
            assert not engine.add(shuffled[lo:hi], now_ms=0).late_idx
            out.append(engine.close(now_ms=0))
    out.append(engine.flush())
    got = pl.concat(out).filter(pl.col("key") == "*").sort("window_start")
    want = truth_signals(posts, spec, cascade_config=config).filter(pl.col("key") == "*")
    cols = ["window_start", "top_cascades"]
    assert_frame_equal(got.select(cols), want.select(cols))


def test_forgetting_inside_one_fold_drops_the_old_depths() -> None:
    rows: list[Row] = [
        (1, 0, "post", None, None),
        (2, 1_000, "repost", 1, 1),
        (3, 2_000, "repost", 2, 1),  # depth 2, then 29 s of silence
        (4, 31_000, "repost", 1, 1),  # starts the cascade afresh
        (5, 41_000, "repost", 3, 1),  # its parent was forgotten: depth 2
    ]
    config = CascadeConfig(ttl_ms=15_000)
    tracker = CascadeTracker(TUMBLING, config)
    posts = frame(rows)
    tracker.add(posts.head(3))
    tops = [tracker.close(10_000)]
    tracker.add(posts.slice(3, 1))
    tops.append(tracker.close(40_000))  # folds 30-40 s with a cascade stored since 0-10 s
    tracker.add(posts.slice(4))
    tops.append(tracker.close(50_000))
    got = dict(pl.concat(tops).iter_rows())
    assert got == truth_tops(posts, TUMBLING, config)
    assert got[40_000] == [entry(1, 1, 3, 2)]  # the root, posts 4 and 5


def test_sorted_runs_find_the_newest_row_of_a_key() -> None:
    runs = SortedRuns("k", pl.Schema({"k": pl.Int64(), "v": pl.Int64()}), latest_only=True)
    for v in range(40):  # updates of a few keys among many, merged along the way
        keys = np.array([v, 1000 + v % 3], dtype=np.int64)
        runs.insert(pl.DataFrame({"k": keys, "v": [v, v]}))
    assert len(runs.runs) < 8
    found = runs.lookup(np.array([1000, 1001, 5, 77], dtype=np.int64))
    newest = found.unique("k", keep="last", maintain_order=True).sort("k")
    assert newest.rows() == [(5, 5), (1000, 39), (1001, 37)]
    copy = SortedRuns.of(runs.rows(), "k", latest_only=True)  # as a checkpoint restores it
    again = copy.lookup(np.array([1000, 1001, 5, 77], dtype=np.int64))
    assert again.unique("k", keep="last", maintain_order=True).sort("k").rows() == newest.rows()
    assert runs.frame().height == copy.frame().height == 43


def test_late_posts_are_left_out_like_the_engine_does() -> None:
    spec = WindowSpec(size_ms=20_000, hop_ms=10_000, allowed_lateness_ms=0)
    engine = WindowEngine(spec)
    posts = firehose()
    early, late = posts.head(4_000), posts.slice(4_000)
    engine.add(late, now_ms=0)
    first = engine.close(now_ms=0)
    added = engine.add(early, now_ms=0)  # mostly late; some still fall in open windows
    rest = pl.concat([first, engine.flush()]).filter(pl.col("key") == "*")
    assert added.late_idx
    assert rest["top_cascades"].null_count() == 0
    assert rest.select(pl.col("top_cascades").list.len().max()).item() == 5


# --- the memory budget -------------------------------------------------------------------


def test_over_budget_the_cascades_silent_longest_are_forgotten_first() -> None:
    rows: list[Row] = [
        (2, 1_000, "repost", 1, 1),  # cascade 1
        (11, 2_000, "repost", 10, 10),  # cascade 10
        (21, 3_000, "repost", 20, 20),  # cascade 20, the newest
        (3, 12_000, "repost", 1, 1),  # cascade 1 again: forgotten, so it starts afresh
    ]
    posts = frame(rows)
    budget = 100  # three cascades (3 x ROOT_BYTES) are over it; one fits in 3/4 of it
    tracker = CascadeTracker(TUMBLING, CascadeConfig(max_state_bytes=budget))
    tracker.add(posts.head(3))
    tracker.close(10_000)
    assert tracker.evicted == 2
    assert tracker.state.roots.frame()["root"].to_list() == [20]
    tracker.add(posts.slice(3))
    tops = dict(tracker.close(20_000).iter_rows())
    assert tops[10_000] == [entry(1, 1, 2, 1)]  # without the budget: size 3
    assert truth_tops(posts, TUMBLING, CascadeConfig())[10_000] == [entry(1, 1, 3, 1)]


def test_the_state_stays_within_its_budget_on_a_long_stream() -> None:
    budget = 40_000
    engine = WindowEngine(TUMBLING, cascade_config=CascadeConfig(max_state_bytes=budget))
    posts = firehose().sort("created_at")
    for batch in posts.iter_slices(500):
        engine.add(batch, now_ms=0)
        engine.close(now_ms=0)
        assert engine.cascades.state.estimated_size() <= budget
    assert engine.cascades.evicted > 0
    unbounded = WindowEngine(TUMBLING)
    unbounded.add(posts, now_ms=0)
    unbounded.close(now_ms=0)
    assert unbounded.cascades.state.estimated_size() > budget


def test_the_cascade_rules_are_the_configs_own_problems() -> None:
    assert CascadeConfig.problems(top_k=0, ttl_ms=0, max_state_bytes=0) == []
    said = [p.says() for p in CascadeConfig.problems(top_k=-1, ttl_ms=-1, max_state_bytes=-1)]
    assert said == [
        "top_k must be >= 0",
        "ttl_ms must be >= 0",
        "max_state_bytes must be >= 0 (0: none)",
    ]
    with pytest.raises(ValueError, match=r"^invalid CascadeConfig: ttl_ms must be >= 0$"):
        CascadeConfig(ttl_ms=-1)
