"""Trend scores and the trending rule on hand-built signal rows (no firehose, no timing).

The tracker is checked against a naive per-window reference that zero-fills every absent
window explicitly; the detection figures on the firehose are in bench_trends.py.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from process.signals import SIGNAL_SCHEMA
from process.trends import TREND_STATE_SCHEMA, TrendConfig, TrendTracker
from tests.support.common import START

HOP = 10_000
Window = dict[str, tuple[int, int]]  # key -> (posts, originals)
DEFAULT = TrendConfig()


def signals(windows: list[Window], size_ms: int = HOP, first: int = 0) -> pl.DataFrame:
    """Signal rows of consecutive windows (hop ``HOP``) starting at window ``first``."""
    rows = [
        (START + (first + i) * HOP, key, posts, originals)
        for i, window in enumerate(windows)
        for key, (posts, originals) in sorted(window.items())
    ]
    base = pl.DataFrame(
        rows, schema=["window_start", "key", "posts", "originals"], orient="row"
    ).with_columns(
        (pl.col("window_start") + size_ms).alias("window_end"),
        (pl.col("posts") - pl.col("originals")).alias("reposts"),
        (pl.col("posts") / (size_ms / 1000)).alias("velocity"),
        pl.col("posts").alias("unique_authors"),
    )
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in SIGNAL_SCHEMA.items() if c not in base]
    return base.with_columns(missing).select(SIGNAL_SCHEMA.names()).cast(SIGNAL_SCHEMA)


def steady(n: int, keys: dict[str, float], seed: int = 7) -> list[Window]:
    """n windows of Poisson original posts (and as many reposts) per key at mean ``keys``."""
    rng = np.random.default_rng(seed)
    out: list[Window] = []
    for _ in range(n):
        window = {k: int(rng.poisson(lam)) for k, lam in keys.items()}
        out.append({k: (2 * c, c) for k, c in window.items() if c > 0})
    return out


def run(windows: list[Window], config: TrendConfig = DEFAULT) -> pl.DataFrame:
    return TrendTracker(config, HOP).apply(signals(windows))


def trending_keys(scored: pl.DataFrame, config: TrendConfig = DEFAULT) -> pl.DataFrame:
    hits = scored.filter(config.trending())
    return hits.select(((pl.col("window_start") - START) // HOP).alias("w"), "key")


def first_trending(scored: pl.DataFrame, key: str, config: TrendConfig = DEFAULT) -> int | None:
    hits = trending_keys(scored, config).filter(pl.col("key") == key)
    first: int | None = hits.select(pl.col("w").min()).item()
    return first


def test_steady_traffic_does_not_trend() -> None:
    keys = {"news": 300.0, "music": 120.0, "tv": 25.0, "rare": 3.0, "tail": 0.3}
    scored = run(steady(1_000, keys))
    assert trending_keys(scored).height == 0
    assert scored.select(pl.col("trend_score").abs().max()).item() < DEFAULT.threshold


@pytest.mark.parametrize(("level", "factor"), [(300, 2), (25, 4)])
def test_step_burst_is_detected_in_its_first_window(level: int, factor: int) -> None:
    windows = steady(200, {"k": float(level), "other": 50.0})
    for w in windows[150:]:
        w["k"] = (2 * factor * level, factor * level)  # originals x factor from window 150
    scored = run(windows)
    assert first_trending(scored, "k") == 150
    assert trending_keys(scored)["key"].unique().to_list() == ["k"]


def test_ramp_on_a_busy_key_is_detected_within_fifteen_windows() -> None:
    windows = steady(260, {"k": 300.0})
    for i, w in enumerate(windows[200:]):
        originals = w["k"][1] + 10 * (i + 1)  # +1 originals/s per window
        w["k"] = (2 * originals, originals)
    first = first_trending(run(windows), "k")
    assert first is not None
    assert 200 <= first < 215


def test_new_hashtag_trends_once_it_has_support() -> None:
    windows = steady(100, {"news": 300.0})
    for i, w in enumerate(windows[60:70]):
        w["fresh"] = (10 * (i + 1), 10 * (i + 1))  # 10, 20, 30 ... originals
    scored = run(windows)
    assert first_trending(scored, "fresh") == 62  # 30 originals = 3/s = 6 floors
    fresh = scored.filter(pl.col("key") == "fresh").sort("window_start")
    assert fresh["trend_score"][0] == 0.0  # 10 originals: below min_support


def test_min_support_counts_original_posts() -> None:
    config = TrendConfig(floor=0.1, warmup_windows=0)
    first = run([{"a": (19, 19), "b": (20, 20), "c": (500, 19)}], config)
    scores = dict(zip(first["key"], first["trend_score"], strict=True))
    assert scores == {"a": 0.0, "b": pytest.approx(2.0 / 0.1), "c": 0.0}
    assert trending_keys(first, config)["key"].to_list() == ["b"]


def test_a_cascade_of_reposts_does_not_trend() -> None:
    windows = steady(100, {"tag": 2.0})
    windows[80]["tag"] = (600, 3)  # one viral post: 597 reposts, replies and quotes
    scored = run(windows)
    assert trending_keys(scored).height == 0
    spike = scored.filter(pl.col("window_start") == START + 80 * HOP)
    assert spike["velocity"].item() == 60.0
    assert spike["acceleration"].item() > 50.0


def test_warm_up_scores_nothing() -> None:
    config = TrendConfig(warmup_windows=5, floor=0.1, min_support=1)
    windows: list[Window] = [{"k": (10, 10)}] * 5 + [{"k": (100, 100)}]
    scored = run(windows, config)
    assert scored["trend_score"].to_list()[:5] == [0.0] * 5
    # the baseline's variance is 0, its Poisson floor 1/s over 10 s windows: 0.1
    assert scored["trend_score"][5] == pytest.approx(9.0 / math.sqrt(0.1 + 0.1**2))


def test_baseline_is_exact_over_the_first_windows_absences_counting_zero() -> None:
    rates = [3, 0, 5, 0, 0, 8, 1]  # originals per window; 0 = the key is absent
    windows: list[Window] = [{"k": (r, r)} if r else {"other": (1, 1)} for r in rates]
    windows.append({"k": (4, 4)})
    tracker = TrendTracker(TrendConfig(alpha=0.05), HOP)  # exact for 20 windows
    tracker.apply(signals(windows))
    state = tracker.state.filter(pl.col("key") == "k")
    seen = np.array([*rates, 4]) / 10.0
    assert state["mean"].item() == pytest.approx(seen.mean())
    assert state["var"].item() == pytest.approx(seen.var())


def test_outlier_window_does_not_widen_the_variance() -> None:
    windows = steady(100, {"k": 50.0})
    windows.append({"k": (1_000, 500)})
    tracker = TrendTracker(DEFAULT, HOP)
    tracker.apply(signals(windows[:100]))
    before = tracker.state.filter(pl.col("key") == "k")["var"].item()
    tracker.apply(signals(windows[100:], first=100))
    after = tracker.state.filter(pl.col("key") == "k")
    assert after["var"].item() == before
    assert after["mean"].item() > 5.0  # the mean moves: a lasting level becomes normal


def test_ttl_forgets_keys_absent_that_many_windows() -> None:
    config = TrendConfig(ttl_windows=3)
    tracker = TrendTracker(config, HOP)
    tracker.apply(signals([{"gone": (5, 5), "back": (5, 5)}]))
    tracker.apply(signals([{"x": (1, 1)}, {"x": (1, 1)}], first=1))
    tracker.apply(signals([{"back": (5, 5)}], first=3))  # absent 2 windows: remembered
    assert sorted(tracker.state["key"]) == ["back", "gone", "x"]
    tracker.apply(signals([{"x": (1, 1)}], first=4))  # "gone": last seen 4 windows back
    assert sorted(tracker.state["key"]) == ["back", "x"]


def test_state_stays_bounded_by_the_ttl() -> None:
    config = TrendConfig(ttl_windows=10)
    tracker = TrendTracker(config, HOP)
    for i in range(100):  # a new hashtag in every window, never seen again
        tracker.apply(signals([{f"tag{i}": (1, 1), "news": (50, 40)}], first=i))
        assert tracker.state.height <= config.ttl_windows + 2
    assert tracker.state.schema == TREND_STATE_SCHEMA


def test_top_is_the_top_k_trending_keys_of_the_newest_window() -> None:
    config = TrendConfig(top_k=3)
    rows = [("b", 9.0), ("a", 6.0), ("c", 6.0), ("d", 4.5), ("e", 4.49), ("*", 50.0)]
    newest = signals([{k: (40, 40) for k, _ in rows}], first=1).with_columns(
        pl.col("key").replace_strict(dict(rows), return_dtype=pl.Float64).alias("trend_score")
    )
    older = signals([{"z": (99, 99)}]).with_columns(pl.lit(99.0).alias("trend_score"))
    weak = signals([{"w": (40, 19)}], first=1).with_columns(pl.lit(20.0).alias("trend_score"))
    frame = pl.concat([older, newest, weak])
    top = TrendTracker(config, HOP).top(frame)
    assert top.rows() == [("b", 9.0), ("a", 6.0), ("c", 6.0)]  # ties by key
    wide = TrendTracker(replace(config, top_k=10), HOP).top(frame.reverse())
    assert wide["key"].to_list() == ["b", "a", "c", "d"]  # 4.5 trends, 4.49 does not
    assert TrendTracker(config, HOP).top(frame.head(0)).columns == ["key", "trend_score"]


def reference(windows: list[Window], config: TrendConfig, size_s: float) -> list[dict[str, float]]:
    """Scores per window, zero-filling every absent window of every remembered key."""
    state: dict[str, list[float]] = {}  # key -> [mean, var, last window]
    out = []
    for t, window in enumerate(windows):
        a = max(config.alpha, 1.0 / (t + 1))
        warm = t >= config.warmup_windows
        state = {k: s for k, s in state.items() if t - s[2] <= config.ttl_windows}
        scores = {}
        for key, (_, originals) in window.items():
            mean, var, _ = state.get(key, [0.0, 0.0, t])
            diff = originals / size_s - mean
            z = diff / math.sqrt(max(var, mean / size_s) + config.floor**2)
            scores[key] = z if originals >= config.min_support and warm else 0.0
            if not (warm and abs(z) >= config.outlier):
                var = (1 - a) * (var + a * diff**2)
            state[key] = [mean + a * diff, var, t]
        for key, s in state.items():
            if key not in window:  # an observed 0
                s[0], s[1] = (1 - a) * s[0], (1 - a) * (s[1] + a * s[0] ** 2)
        out.append(scores)
    return out


@pytest.mark.parametrize("size_ms", [HOP, 3 * HOP])
def test_tracker_equals_the_zero_filling_reference(size_ms: int) -> None:
    keys = {"a": 40.0, "b": 8.0, "c": 1.0, "d": 0.1}
    windows = steady(400, keys, seed=3)
    for w in windows[300:320]:
        w["b"] = (200, 100)
    config = TrendConfig(alpha=0.1, ttl_windows=25, warmup_windows=4, min_support=3)
    scored = TrendTracker(config, HOP).apply(signals(windows, size_ms))
    want = reference(windows, config, size_ms / 1000)
    got = scored.select(((pl.col("window_start") - START) // HOP).alias("w"), "key", "trend_score")
    expected = [(w, k, s) for w, scores in enumerate(want) for k, s in sorted(scores.items())]
    assert got["w"].to_list() == [w for w, _, _ in expected]
    assert got["key"].to_list() == [k for _, k, _ in expected]
    assert np.allclose(got["trend_score"].to_numpy(), [s for _, _, s in expected], atol=1e-9)


BATCH_CONFIG = TrendConfig(alpha=0.1, ttl_windows=8, warmup_windows=5)


@functools.cache
def one_window_at_a_time() -> tuple[list[Window], pl.DataFrame, TrendTracker]:
    windows = steady(80, {"a": 30.0, "b": 4.0, "c": 0.5}, seed=5)
    for w in windows[50:60]:
        w["a"] = (300, 150)
    single = TrendTracker(BATCH_CONFIG, HOP)
    out = pl.concat([single.apply(signals([w], first=i)) for i, w in enumerate(windows)])
    return windows, out, single


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(1, 79), max_size=6))
def test_apply_in_batches_equals_one_window_at_a_time(cuts: list[int]) -> None:
    windows, one_by_one, single = one_window_at_a_time()
    frame = signals(windows).sample(fraction=1.0, shuffle=True, seed=len(cuts))
    batched = TrendTracker(BATCH_CONFIG, HOP)
    starts = [START + b * HOP for b in [0, *sorted(set(cuts)), len(windows)]]
    parts = [
        batched.apply(frame.filter(pl.col("window_start").is_between(lo, hi, closed="left")))
        for lo, hi in itertools.pairwise(starts)
    ]
    order = ["window_start", "key"]
    assert_frame_equal(pl.concat(parts).sort(order), one_by_one.sort(order))
    assert_frame_equal(batched.state.sort("key"), single.state.sort("key"))
    assert batched.windows_seen == single.windows_seen == len(windows)
    assert one_by_one.filter(BATCH_CONFIG.trending())["key"].unique().to_list() == ["a"]


def test_a_tracker_restored_from_its_state_continues_the_same() -> None:
    windows, one_by_one, _ = one_window_at_a_time()
    first = TrendTracker(BATCH_CONFIG, HOP)
    head = first.apply(signals(windows[:40]))
    restored = TrendTracker(BATCH_CONFIG, HOP, first.state.clone(), first.windows_seen)
    tail = restored.apply(signals(windows[40:], first=40))
    assert_frame_equal(pl.concat([head, tail]), one_by_one)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        TrendConfig(alpha=0.0)
    with pytest.raises(ValueError, match="threshold must be positive; outlier"):
        TrendConfig(threshold=0.0, outlier=-1.0)
