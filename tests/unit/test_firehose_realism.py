"""The firehose against the published reference statistics (compressed model days)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from ingest.firehose import Burst, Firehose, FirehoseConfig, generate, schedule
from ingest.firehose.realism import REFERENCES, realism_report, render_report, within_tolerance
from tests.support.common import START

DAY_S = 60.0  # one model day per minute: 10 days in 600k posts, cascades observed for 7
CONFIG = FirehoseConfig(rate=1_000.0, day_in_s=DAY_S, authors=200_000)


@pytest.fixture(scope="module")
def report() -> dict[str, float]:
    df = generate(CONFIG, 11, START, 600_000)
    return realism_report(df, day_in_s=DAY_S)


def test_report_covers_every_reference(report: dict[str, float]) -> None:
    assert set(REFERENCES) <= set(report)
    assert report["large_cascades"] >= 40
    table = render_report(report)
    assert "zero_repost_share" in table and "yes" in table


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_within_tolerance(report: dict[str, float], name: str) -> None:
    _, lo, hi = REFERENCES[name]
    assert not math.isnan(report[name]), name
    assert within_tolerance(report)[name], f"{name} = {report[name]:.4g}, expected {lo}..{hi}"


def test_rate_and_shares(report: dict[str, float]) -> None:
    assert report["rate"] == pytest.approx(CONFIG.rate, rel=0.15)
    assert 0.1 < report["repost_share"] < 0.4
    assert 0.3 < report["non_english_share"] < 0.6


def test_schedule_follows_rate_and_swing() -> None:
    config = FirehoseConfig(rate=1000.0, day_in_s=100.0)
    day = int(config.rate * 100.0)
    t = schedule(config, START, np.arange(0, 3 * day + 1, 1000))
    assert t[0] == START
    assert t[-1] - START == pytest.approx(300_000, abs=2)  # whole days average to the rate
    gaps = np.diff(t)
    assert gaps.max() / gaps.min() == pytest.approx(2.5, rel=0.05)


def test_stream_rate_is_the_configured_rate() -> None:
    config = FirehoseConfig(rate=2_000.0, day_in_s=30.0, random_bursts_per_day=0.0)
    df = generate(config, 4, START, 120_000)
    span_s = (df["created_at"][-1] - START) / 1000.0
    assert df.height / span_s == pytest.approx(config.rate, rel=0.12)


def test_scheduled_burst_is_visible_and_skewed() -> None:
    burst = Burst(start_ms=START + 10_000, hashtag="#PhoneLaunch", peak=3.0, sentiment=0.9)
    scandal = Burst(start_ms=START + 10_000, hashtag="scandal", peak=3.0, sentiment=-0.9)
    config = FirehoseConfig(rate=500.0, day_in_s=300.0, bursts=(burst, scandal))
    df = generate(config, 2, START, 40_000).filter(pl.col("kind") == "post", pl.col("lang") == "en")
    tags = df["hashtags"]
    launch = df.filter(tags.list.contains("phonelaunch"))
    bad = df.filter(tags.list.contains("scandal"))
    assert launch.height > 500 and bad.height > 500
    negative = r"bad|terrible|awful|horrible|disappointing|isn't|not|never|wasn't|😡|💔"
    bad_share = float(np.mean(bad["text"].str.contains(negative).to_numpy()))
    launch_share = float(np.mean(launch["text"].str.contains(negative).to_numpy()))
    assert bad_share > launch_share + 0.25


def test_pending_backlog_is_bounded() -> None:
    config = FirehoseConfig(rate=1_000.0, day_in_s=10.0, authors=100_000)
    fh = Firehose(config, 1, START)
    sizes = []
    for _ in range(8):
        fh.take(20_000)
        sizes.append(fh.pending)
    # a cascade ends 7 model days (70 s, 70k posts here) after its original: from then on
    # the backlog no longer grows with the stream
    assert sum(sizes[4:]) < 2 * sum(sizes[:4])
    assert max(sizes) < 0.05 * fh.emitted
