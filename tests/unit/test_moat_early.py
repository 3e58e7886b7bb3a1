"""Early alerts in the moat: the checkpoints of an open window count what the final window
counts, the early score at the window's end is the final score, the early detector holds
the common rate on its calibration seeds, and with early alerts no burst is found later."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from datamoat.moat import Tier, load_moat_config, run_pass
from datamoat.moat.detect import DETECTORS, alarm_episodes, calibrate, either_episodes
from datamoat.moat.early import (
    by_window,
    checkpoint_counts,
    early_available,
    early_ratio,
    either_stat,
    sampled_rule,
)
from datamoat.moat.measure import early_checkpoints
from datamoat.moat.seeds import CALIBRATION_BASE, Study, measured_seed, quiet_stats
from ingest.firehose import Firehose, FirehoseConfig
from process.aggregate import STREAM_KEY
from process.cascades import CascadeConfig
from process.early import AlertRule
from process.trends import TrendConfig, TrendTracker
from tests.support.common import moat_tiers

START_MS = 1_772_323_200_000
# 2 simulated hours at 200k posts a simulated day in 50 s of event time: 5-minute windows
# (about 700 posts each), 1.5 hours after the warm-up; 1 false alarm an hour, so the
# calibration streams hold episodes enough for an empirical threshold.
SMALL = f"""
[moat]
posts_per_day = 200000.0
day_in_s = 600.0
duration_s = 7200.0
window_s = 300.0
allowed_lateness_s = 60.0
horizon_s = 1800.0
burst_sizes = [50.0, 100.0]
min_bursts = 4
false_alarms_per_day = 24.0
calibration_seeds = 2
holdout_seeds = 1
{moat_tiers(delay_s=900.0, every_s=3600.0)}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("early") / "moat.toml"
    path.write_text(SMALL, encoding="utf-8")
    return load_moat_config(path)


@pytest.fixture(scope="module")
def calibrated(config: Any) -> dict[str, Any]:
    """Every slice's thresholds from the 2 calibration seeds, and the pooled statistics."""
    hop = config.window_spec().hop_ms
    cal = [
        quiet_stats(config, config.tiers, TrendConfig(), CascadeConfig(), CALIBRATION_BASE + i,
                    START_MS)
        for i in range(config.calibration_seeds)
    ]  # fmt: skip
    hours = sum(h for _, h in cal)
    per_hour = config.false_alarms_per_day / 24.0
    pooled: dict[tuple[Any, str], pl.DataFrame] = {}
    values: dict[str, dict[str, tuple[float, ...]]] = {}
    for tier in config.tiers:
        values[tier.name] = {}
        for d in DETECTORS:
            frames = [s[tier.ms, d].with_columns(pl.lit(i).alias("seed")) for i, (s, _) in
                      enumerate(cal)]  # fmt: skip
            pooled[tier.ms, d] = pl.concat(frames)
            t = calibrate(pooled[tier.ms, d], hours, per_hour, hop)
            values[tier.name][d] = (t.value,)
    return {"stats": pooled, "values": values, "hours": hours, "per_hour": per_hour}


def test_the_whole_window_checkpoint_is_the_final_window(config: Any) -> None:
    clock = config.clock(START_MS)
    fh = FirehoseConfig(rate=config.rate, day_in_s=config.day_in_s, random_bursts_per_day=0.0)
    done = run_pass(config, config.tiers, Firehose(fh, 5, START_MS),
                    end_ms=START_MS + clock.ms(config.duration_s))  # fmt: skip
    spec = done.spec
    assert done.step_ms == clock.ms(30.0) and spec.size_ms % done.step_ms != 0
    checkpoints = early_checkpoints(done)
    for ms, signals in done.signals.items():
        # the replayed tracker gives the engine's scores: its baselines are the engine's
        replayed = TrendTracker(done.trend[ms], spec.hop_ms).apply(signals)
        assert (replayed["trend_score"] - signals["trend_score"]).abs().max() == 0.0
        counts = checkpoint_counts(done.steps[ms], spec, done.step_ms)
        last = counts.filter(pl.col("at_ms") == pl.col("window_start") + spec.size_ms)
        assert counts.group_by("window_start", "key").len()["len"].unique().to_list() == [11]
        final = signals.filter((pl.col("key") != STREAM_KEY) & (pl.col("originals") > 0))
        both = last.join(final, on=["window_start", "key"], how="full", coalesce=True)
        assert both.height == final.height == last.height  # the same (window, key) cells
        assert (both["originals"] == both["originals_right"]).all()  # the same counts
        # and cumulative counts never fall within a window
        assert counts.select((pl.col("originals").diff().over("window_start", "key") >= 0)
                             .fill_null(True).all()).item()  # fmt: skip

        # at the window's end the early rule is the final one: same counts, seconds and
        # baseline (the previous window's, for a key it had), so the same score
        rule = sampled_rule(Tier("slice", ms).rate)
        ends = checkpoints[ms].filter(pl.col("at_ms") == pl.col("window_end"))
        previous = signals.select(
            (pl.col("window_start") + spec.hop_ms).alias("window_start"), "key"
        )
        same = (
            ends.join(previous, on=["window_start", "key"], how="semi")
            .join(signals, on=["window_start", "key"])
            .filter(pl.col("originals") >= max(done.trend[ms].min_support, rule.min_originals))
        )
        assert same.height > 0 or ms == (657, 666), ms  # the 1 % sample: a few posts a window
        assert ((same["stat"] - same["trend_score"]).abs() < 2e-6).all()  # the tie-break


@pytest.mark.parametrize("detector", ["early", "trend_early"])
def test_the_early_threshold_holds_the_common_rate_on_its_calibration_seeds(
    config: Any, calibrated: dict[str, Any], detector: str
) -> None:
    hop = config.window_spec().hop_ms
    allowed = calibrated["per_hour"] * calibrated["hours"]
    for tier in config.tiers:
        stats = calibrated["stats"][tier.ms, detector]
        assert stats.height and stats.select(pl.struct("seed", "key", "window_start")
                                             .is_unique().all()).item()  # fmt: skip
        (value,) = calibrated["values"][tier.name][detector]
        episodes = alarm_episodes(stats, value, hop).height
        assert 0 < episodes <= allowed, (tier.name, episodes, allowed)
        # the threshold is the lowest that holds it: just below, more episodes
        below = stats.filter(pl.col("stat") < value)["stat"].max()
        if below is not None:
            assert alarm_episodes(stats, float(below), hop).height > episodes


def test_with_early_alerts_no_burst_is_found_later(config: Any, calibrated: dict[str, Any]) -> None:
    study = Study(replace(config, min_bursts=6), START_MS, seeds=1, procs=1)
    # target 1: each detector on its own at trend_early's threshold (the early one at the
    # pipeline's ratio times it): what held together gives at target 0
    ratio = early_ratio(study.trend)
    assert ratio == AlertRule().threshold / study.trend.threshold
    scale = {"trend": 1.0, "early": ratio}
    values: dict[str, dict[str, tuple[float, ...]]] = {
        name: {d: (v[0], by["trend_early"][0] * scale[d] if d in scale else v[0])
               for d, v in by.items()}
        for name, by in calibrated["values"].items()
    }  # fmt: skip
    m = measured_seed(study, values, 1)
    leads = m.leads.filter(pl.col("target") == 0).join(m.events, on="burst")
    trend = leads.filter(pl.col("kind") != "shift")
    found = trend.filter(pl.col("lead_s").is_not_null())
    assert found.height > 0
    assert (found["early_lead_s"] <= found["lead_s"]).all()  # never later ...
    assert found["early_lead_s"].is_not_null().all()  # ... and never lost
    firehose = found.filter(pl.col("tier") == "firehose")
    assert (firehose["early_lead_s"] < firehose["lead_s"]).any()  # sometimes earlier
    assert (trend["early_lead_s"] >= 0).all()  # an early alarm counts after the onset
    # a batch tier publishes nothing early; a delayed one is its firehose plus the delay
    hourly = leads.filter(pl.col("tier") == "hourly")
    assert hourly["early_lead_s"].equals(hourly["lead_s"])
    assert hourly["held_lead_s"].equals(hourly["lead_s"])
    assert early_available(config.tiers[-1], config.clock(START_MS)) is None
    # held together, the lead is the earlier of the final and the early alarm at the one
    # threshold: never later than the final alarm at that threshold
    one = m.leads.filter(pl.col("target") == 1).join(m.events, on="burst")
    one = one.filter((pl.col("kind") != "shift") & (pl.col("tier") != "hourly"))
    paired = one.join(trend, on=["tier", "burst"], suffix="_0")
    assert paired.height == one.height > 0
    assert paired["early_lead_s"].equals(paired["held_lead_s_0"])
    final = one.filter(pl.col("lead_s").is_not_null())
    assert (final["early_lead_s"] <= final["lead_s"]).all()


def test_the_held_statistic_is_the_higher_of_the_two() -> None:
    trend = pl.DataFrame({"key": ["x", "y"], "window_start": [0, 0], "window_end": [10, 10],
                          "stat": [5.0, 2.0]})  # fmt: skip
    early = pl.DataFrame({"key": ["x", "z"], "window_start": [0, 10], "window_end": [10, 20],
                          "stat": [3.0, 4.0], "at_ms": [5, 20]})  # fmt: skip
    got = either_stat(trend, by_window(early), 1.0).sort("key")
    assert got.select("key", "window_start", "stat").rows() == [("x", 0, 5.0), ("y", 0, 2.0),
                                                                ("z", 10, 4.0)]  # fmt: skip
    # the early statistic divided by the ratio of the early threshold to the final one
    got = either_stat(trend, by_window(early), 2.0).sort("key")
    assert got.select("key", "window_start", "stat").rows() == [("x", 0, 5.0), ("y", 0, 2.0),
                                                                ("z", 10, 2.0)]  # fmt: skip


def test_both_detectors_together_are_runs_of_either() -> None:
    hop = 10
    a = pl.DataFrame({"key": ["x", "x", "y"], "window_start": [0, 30, 0],
                      "window_end": [10, 40, 10], "stat": [5.0, 5.0, 1.0]})  # fmt: skip
    b = pl.DataFrame({"key": ["x", "y"], "window_start": [10, 50], "window_end": [20, 60],
                      "stat": [3.0, 3.0]})  # fmt: skip
    got = either_episodes([(a, 4.0), (b, 2.0)], hop)
    assert got.select("key", "first", "last").rows() == [("x", 0, 20), ("x", 30, 40),
                                                         ("y", 50, 60)]  # fmt: skip
    assert either_episodes([(a, 4.0), (a, 4.0)], hop).height == alarm_episodes(a, 4.0, hop).height


def test_a_sampled_tier_scales_the_alert_support() -> None:
    assert sampled_rule(1.0).min_originals == 10
    assert sampled_rule(0.1).min_originals == 1 and sampled_rule(0.01).min_originals == 1
    assert sampled_rule(0.5).min_originals == 5


def test_no_checkpoints_without_early_alerts(config: Any, tmp_path: Path) -> None:
    fh = FirehoseConfig(rate=config.rate, day_in_s=config.day_in_s)
    done = run_pass(config, config.tiers, Firehose(fh, 2, START_MS), posts=2_000,
                    early_step_s=None)  # fmt: skip
    assert done.step_ms == 0 and not done.steps
    assert all(frame.is_empty() for frame in early_checkpoints(done).values())
