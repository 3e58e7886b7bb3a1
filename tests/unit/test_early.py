"""Early signals and alerts (``process/early.py``) on the engine, without a transport.

The provisional sums of a window, once every batch of it is in, are its final sums exactly,
however the posts were batched; an alert comes while its window is open and before the
final signals that confirm it; an alert the final signals do not confirm is retracted;
an episode over consecutive windows is one alert.
"""

from __future__ import annotations

import functools
import io
import itertools

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.firehose import FirehoseConfig, generate
from process.aggregate import STREAM_KEY
from process.early import (
    EARLY_SCHEMA,
    AlertRule,
    EarlySignals,
    alert_id,
    decode_increments,
    encode_increments,
)
from process.engine import WindowEngine
from process.trends import TrendConfig
from process.windows import WindowSpec
from tests.support.common import START

SPEC = WindowSpec(size_ms=10_000, allowed_lateness_ms=1_500)
TRENDS = TrendConfig(min_support=3, warmup_windows=1)
SUMS = ["posts", "originals", "reposts", "replies", "quotes", "reach", "scored"]


@functools.cache
def posts() -> pl.DataFrame:
    frame = generate(FirehoseConfig(rate=100.0), 11, START, 3_000)
    compound = (frame["post_id"] * 7919 % 2001 - 1000) / 1000.0
    return frame.with_columns(
        pl.when(pl.col("lang") == "en").then(compound).alias("compound"),
        (pl.col("author_id") % 3).cast(pl.Int32).alias("partition"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
    )


def engine() -> tuple[WindowEngine, EarlySignals]:
    eng = WindowEngine(SPEC, trend_config=TRENDS)
    eng.stage.early = True
    return eng, EarlySignals(SPEC, eng.trends, AlertRule())


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(0, 3_000), max_size=10))
def test_provisional_sums_of_a_whole_window_are_its_final_sums(cuts: list[int]) -> None:
    eng, early = engine()
    frame = posts()
    latest: dict[tuple[int, str], dict[str, object]] = {}
    finals = []
    bounds = [0, *sorted(set(cuts)), frame.height]
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        eng.add(frame[lo:hi], now_ms=0)
        early.add(eng.stage.take_early())
        provisional, _ = early.update(fired_at=0)
        for row in provisional.iter_rows(named=True):
            latest[(row["window_start"], row["key"])] = row
        signals = eng.close(now_ms=0)
        finals.append(signals)
        early.finalise(signals, eng.merger.closed_through, fired_at=0)
    final = pl.concat([*finals, eng.flush()])
    assert final.height == len(latest)  # every final (window, key) was provisional first
    for row in final.iter_rows(named=True):
        seen = latest[(row["window_start"], row["key"])]
        assert {c: seen[c] for c in SUMS} == {c: row[c] for c in SUMS}
        assert seen["sentiment_mean"] == pytest.approx(row["sentiment_mean"], nan_ok=True)
        assert 0.0 < seen["covered"] <= 1.0  # type: ignore[operator]


def rows(window: int, counts: dict[str, int], at_s: float) -> pl.DataFrame:
    """Increments of window number ``window``: ``counts`` original posts per key, the
    newest ``at_s`` seconds into the window (and the stream row ``*``)."""
    start = START + window * SPEC.size_ms
    total = {**counts, STREAM_KEY: sum(counts.values())}
    data = [
        {
            "window_start": start,
            "key": k,
            "posts": n,
            "originals": n,
            "reposts": 0,
            "replies": 0,
            "quotes": 0,
            "reach": n,
            "scored": 0,
            "sentiment_sum": 0.0,
            "positive": 0,
            "neutral": 0,
            "negative": 0,
            "max_event": start + round(at_s * 1000) - 1,
        }
        for k, n in total.items()
    ]
    return pl.DataFrame(data, schema=EARLY_SCHEMA)


def final(window: int, trending: set[str]) -> pl.DataFrame:
    """Just enough of a window's final signals for confirmations: who trends."""
    start = START + window * SPEC.size_ms
    keys = sorted(trending) or ["quiet"]
    return pl.DataFrame({
        "window_start": [start] * len(keys), "key": keys,
        "trend_score": [9.0 if k in trending else 0.0 for k in keys],
        "originals": [100] * len(keys),
    })  # fmt: skip


def warm(early: EarlySignals) -> None:
    early.trends.windows_seen = early.trends.config.warmup_windows


def test_an_alert_fires_in_the_open_window_once_per_episode_and_is_confirmed() -> None:
    early = engine()[1]
    warm(early)
    early.add(rows(0, {"calm": 3, "burst": 4}, at_s=1.0))
    assert early.update(fired_at=1)[1] == []  # too few originals, too little seen
    early.add(rows(0, {"burst": 20}, at_s=3.0))
    provisional, alerts = early.update(fired_at=2)
    assert [a["alert_id"] for a in alerts] == [alert_id(START, "burst")]
    assert alerts[0]["originals"] == 24 and alerts[0]["fired_at"] == 2
    burst = provisional.filter(pl.col("key") == "burst").row(0, named=True)
    assert burst["covered"] == pytest.approx(0.3) and burst["velocity"] == pytest.approx(8.0)
    early.add(rows(0, {"burst": 10}, at_s=4.0))
    early.add(rows(1, {"burst": 30}, at_s=3.0))  # the next window: the same episode
    assert early.update(fired_at=3)[1] == []
    assert early.finalise(final(0, {"burst"}), START + SPEC.size_ms, fired_at=4) == []
    assert early.finalise(final(1, {"burst"}), START + 2 * SPEC.size_ms, fired_at=5) == []
    assert (early.alerts, early.confirmed, early.retractions) == (1, 1, 0)
    early.add(rows(3, {"burst": 40}, at_s=3.0))  # after a window without: a new episode
    assert [a["window_start"] for a in early.update(fired_at=6)[1]] == [START + 30_000]


def test_an_alert_neither_its_window_nor_the_next_confirms_is_retracted() -> None:
    early = engine()[1]
    warm(early)
    early.add(rows(0, {"flash": 15}, at_s=2.5))
    (alert,) = early.update(fired_at=1)[1]
    assert early.finalise(final(0, set()), START + SPEC.size_ms, fired_at=2) == []  # wait
    (retraction,) = early.finalise(final(1, set()), START + 2 * SPEC.size_ms, fired_at=3)
    assert retraction["kind"] == "retraction" and retraction["alert_id"] == alert["alert_id"]
    assert retraction["fired_at"] == 3 and (early.retractions, early.confirmed) == (1, 0)
    assert early.pending == {}


def test_nothing_alerts_during_the_warm_up_or_on_the_stream_key() -> None:
    early = engine()[1]
    early.add(rows(0, {"burst": 50}, at_s=3.0))
    assert early.update(fired_at=1)[1] == []  # no baseline yet
    warm(early)
    early.add(rows(1, {}, at_s=3.0).with_columns(pl.lit(500).alias("originals")))
    assert early.update(fired_at=2)[1] == []


def test_a_known_baseline_raises_the_bar() -> None:
    early = engine()[1]
    warm(early)
    early.trends.state = pl.DataFrame(
        {
            "key": ["busy"],
            "mean": [5.0],
            "var": [1.0],
            "last_start": [START - 10_000],
            "last_velocity": [5.0],
        },
        schema=early.trends.state.schema,
    )
    early.add(rows(0, {"busy": 18, "new": 18}, at_s=3.0))  # 6 originals/s each
    alerts = early.update(fired_at=1)[1]
    assert [a["key"] for a in alerts] == ["new"]


def test_increments_of_final_windows_are_dropped() -> None:
    early = engine()[1]
    early.finalise(final(0, set()), START + SPEC.size_ms, fired_at=0)
    early.add(rows(0, {"late": 5}, at_s=9.0))
    assert early.open.height == 0
    assert early.update(fired_at=1)[0].is_empty()


def test_increments_round_trip_and_garbage_is_refused() -> None:
    sample = rows(0, {"a": 1, "b": 2}, at_s=1.0)
    assert decode_increments(encode_increments(sample)).equals(sample)
    with pytest.raises(ValueError, match="not early increments"):
        decode_increments(b"not arrow")
    other = io.BytesIO()
    pl.DataFrame({"x": [1]}).write_ipc(other)
    with pytest.raises(ValueError, match="columns"):
        decode_increments(other.getvalue())


def test_the_stage_hands_on_added_batches_only_never_rebuilt_records() -> None:
    eng, _ = engine()
    frame = posts()
    eng.add(frame[:1_000], now_ms=0)
    first = eng.stage.take_early()
    assert first.filter(pl.col("key") == STREAM_KEY)["posts"].sum() == 1_000
    eng.stage.rebuild(frame[1_000:2_000])
    assert eng.stage.take_early().is_empty()


def test_bad_rules_are_refused_in_their_own_names() -> None:
    with pytest.raises(ValueError, match="threshold must be positive"):
        AlertRule(threshold=0.0)
    assert [p.says() for p in AlertRule.problems(1.0, 0, -1.0)] == [
        "min_originals must be at least 1", "min_elapsed_s must be positive (seconds)"
    ]  # fmt: skip


def test_a_backlog_long_past_on_the_wall_clock_hands_on_no_increments() -> None:
    eng, _ = engine()
    frame = posts()
    newest = int(frame["created_at"].max())  # type: ignore[arg-type]
    past = newest + SPEC.size_ms + SPEC.allowed_lateness_ms + 5_000 + SPEC.size_ms
    eng.add(frame[:1_000], now_ms=past)  # a drain: every window final at once
    assert eng.stage.take_early().is_empty()
    eng.add(frame[1_000:2_000], now_ms=newest)  # live: the wall clock at the stream
    assert not eng.stage.take_early().is_empty()
