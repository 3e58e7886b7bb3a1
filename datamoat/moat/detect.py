"""Detectors held to one false-alarm rate.

Each tier has these detectors, each a statistic per (window, key) and a threshold:

* **trend**: the signal engine's ``trend_score`` (:mod:`process.trends`) under the tier's
  score rule (:func:`datamoat.moat.stream.sampled_trend`), on hashtags (not ``*``) with at
  least the rule's support. A burst of a new hashtag or a rise on an established one is
  found by it.
* **sentiment**: a moving-average control chart (Montgomery, *Introduction to Statistical
  Quality Control*, ch. 9) on the key's windowed net sentiment (positive minus negative
  share of its scored texts: reposts left out, as one viral post's reposts would otherwise
  decide a hashtag's mood for an hour): its last 3 windows against its own
  ``sentiment_baseline_windows`` windows before them (:func:`sentiment_stat`). A sentiment
  shift at flat volume is found by it.
* **early**: the pipeline's early trend alert (:mod:`process.early`) on the part of an open
  window seen so far, at checkpoints of the window; per window its highest checkpoint
  (:mod:`datamoat.moat.early`). With early alerts, a tier's bursts are found by the trend
  detector or this one, whichever is available first.
* **trend_early**: both of those held to the rate together, as the pipeline runs them (its
  early rule at its own threshold, a fixed ratio of the final rule's:
  :func:`datamoat.moat.early.early_ratio`): per window the higher of the trend statistic and
  the early one divided by the ratio, so the final signals and the early alerts together
  are held to the rate.

An **alarm episode** is a run of consecutive windows of one key whose statistic reaches the
threshold. No threshold is set by hand: :func:`calibrate` picks, per tier and detector, the
lowest threshold at which burst-free streams (seeds used for nothing else) raise at most
the target rate of episodes per simulated hour. When the calibration streams are too short
to hold even one episode at the target rate, the tail of the windows' statistics is
fitted by an exponential above the 50th highest (peaks over threshold, Pickands 1975 /
Davison and Smith 1990 with shape 0) and the threshold extrapolated from it; the summary
says which method each threshold came from. The rate the thresholds give is then measured
on other burst-free seeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from process.aggregate import STREAM_KEY
from process.trends import TrendConfig

__all__ = [
    "DETECTORS",
    "FLOOR",
    "STAT_SCHEMA",
    "Threshold",
    "alarm_episodes",
    "calibrate",
    "either_episodes",
    "sentiment_stat",
    "tie_break",
    "trend_stat",
]

DETECTORS = ("trend", "sentiment", "early", "trend_early")
#: Statistics below these are dropped before any threshold is looked for (no detector is
#: calibrated below them: a z of 1 is what noise does every window).
FLOOR = {"trend": 1.0, "sentiment": 2.0, "early": 1.0, "trend_early": 1.0}
#: The sentiment chart needs this many scored posts in its recent windows, and this many
#: baseline windows: fewer make its variance a guess (a rare hashtag's mood is noise).
MIN_SCORED = 20
MIN_BASELINE = 6
#: Width of the random tie-break added to every statistic (:func:`tie_break`).
TIE = 1e-6
#: Windows the sentiment chart averages (the newest included).
RECENT = 3
#: The threshold when a burst-free stream held no statistic at all.
_FLOOR_ANY = 1.0
#: Window statistics the exponential tail is fitted on.
_TAIL_PEAKS = 50

STAT_SCHEMA = pl.Schema(
    {
        "key": pl.String,
        "window_start": pl.Int64,
        "window_end": pl.Int64,
        "stat": pl.Float64,
    }
)


@dataclass(frozen=True, slots=True)
class Threshold:
    """A calibrated threshold: the value, how it was found and on how much data."""

    value: float
    method: str  # "empirical" or "tail"
    episodes: int  # calibration episodes at the threshold
    hours: float  # simulated burst-free hours calibrated on


def tie_break() -> pl.Expr:
    """A pseudo-random number in [0, TIE) per (key, window), added to a statistic.

    A sampled tier's statistic is discrete: a hashtag nobody used before scores the same
    for the same few sampled posts, so hundreds of windows share one value, and no
    threshold between two such values gives the target rate. Breaking the ties at random
    makes the test the randomized one of Neyman and Pearson (Lehmann and Romano, *Testing
    Statistical Hypotheses*, sec. 3.2): at the boundary value a share of the windows alarm,
    so every tier can be held to the same rate. Keyed by (key, window), it is the same in
    every run."""
    h = pl.concat_str(pl.col("key"), pl.col("window_start").cast(pl.String)).hash(seed=0x7E)
    return (h // 2048).cast(pl.Float64) / float(2**53) * TIE


def trend_stat(signals: pl.DataFrame, rule: TrendConfig) -> pl.DataFrame:
    """The trend detector's statistic on the rows that can trend at all (STAT_SCHEMA)."""
    return signals.filter(
        (pl.col("key") != STREAM_KEY)
        & (pl.col("originals") >= rule.min_support)
        & (pl.col("trend_score") >= FLOOR["trend"])
    ).select(
        "key", "window_start", "window_end", (pl.col("trend_score") + tie_break()).alias("stat")
    )


def sentiment_stat(
    signals: pl.DataFrame, hop_ms: int, baseline_windows: int, min_scored: int = 1
) -> pl.DataFrame:
    """The sentiment-shift detector's statistic (STAT_SCHEMA): a moving-average control
    chart on the key's net sentiment ``x`` = positive share - negative share of its scored
    posts. The mean of ``x`` over the key's last ``RECENT`` windows (up to this one) is held
    against the mean and variance of ``x`` over its windows among the ``baseline_windows``
    before those (at least ``MIN_BASELINE``): ``|recent - mean| / sqrt(var / k)``, ``k``
    the recent windows present, once the recent windows hold ``MIN_SCORED`` scored posts.
    The variance comes from the windows themselves (never below one window's multinomial
    variance), not from a binomial model: even without reposts, the texts of one hashtag
    are not independent draws."""
    rows = (
        signals.filter((pl.col("key") != STREAM_KEY) & (pl.col("scored") >= max(min_scored, 1)))
        .select(
            "key",
            "window_start",
            "window_end",
            "scored",
            (pl.col("positive_share") - pl.col("negative_share")).alias("x"),
            _multinomial_variance().alias("own"),
        )
        .sort("key", "window_start")
    )
    if rows.is_empty():
        return pl.DataFrame(schema=STAT_SCHEMA)
    recent_span, base_span = RECENT * hop_ms, baseline_windows * hop_ms
    recent = rows.rolling(
        index_column="window_start", period=f"{recent_span}i", group_by="key"
    ).agg(
        pl.col("x").mean().alias("recent"),
        pl.len().alias("k"),
        pl.col("scored").sum().alias("recent_scored"),
    )
    base = rows.rolling(
        index_column="window_start",
        period=f"{base_span}i",
        offset=f"-{recent_span + base_span}i",
        closed="right",
        group_by="key",
    ).agg(
        pl.col("x").mean().alias("mean"),
        pl.col("x").var().alias("var"),
        pl.col("own").mean().alias("own_b"),
        pl.len().alias("windows"),
    )
    # never below the multinomial variance of one window's x (a flat baseline)
    var = pl.max_horizontal(pl.col("var").fill_null(0.0), pl.col("own_b"))
    scale = (var / pl.col("k")).sqrt()
    return (
        rows.join(recent, on=["key", "window_start"], how="left")
        .join(base, on=["key", "window_start"], how="left")
        .filter((pl.col("windows") >= MIN_BASELINE) & (pl.col("recent_scored") >= MIN_SCORED))
        .select(
            "key",
            "window_start",
            "window_end",
            (
                pl.when(scale > 0)
                .then((pl.col("recent") - pl.col("mean")).abs() / scale)
                .otherwise(0.0)
                + tie_break()
            ).alias("stat"),
        )
        .filter(pl.col("stat") >= FLOOR["sentiment"])
        .cast(STAT_SCHEMA)
    )


def _multinomial_variance() -> pl.Expr:
    """The variance of one window's net sentiment from its own posts: positive and negative
    shares smoothed by one post each (Laplace), so a key whose posts were all neutral still
    has a variance, ``(p + q - (p - q)**2) / n``."""
    n = pl.col("scored").cast(pl.Float64)
    p = (pl.col("positive_share") * n + 1.0) / (n + 3.0)
    q = (pl.col("negative_share") * n + 1.0) / (n + 3.0)
    return (p + q - (p - q) ** 2) / n


def alarm_episodes(stats: pl.DataFrame, threshold: float, hop_ms: int) -> pl.DataFrame:
    """Runs of consecutive windows of a key (per ``seed`` when the rows have one) whose
    statistic reaches ``threshold``: ``key``, ``first`` (window start), ``last`` (window
    end), ``peak``."""
    by = ["seed", "key"] if "seed" in stats.columns else ["key"]
    hits = stats.filter(pl.col("stat") >= threshold).sort(*by, "window_start")
    if hits.is_empty():
        return pl.DataFrame(
            schema={**{c: stats.schema[c] for c in by}, "first": pl.Int64, "last": pl.Int64,
                    "peak": pl.Float64}
        )  # fmt: skip
    new = (pl.col("window_start").diff().over(by) != hop_ms).fill_null(True)
    return (
        hits.with_columns(new.cum_sum().alias("episode"))
        .group_by("episode")
        .agg(
            *(pl.col(c).first() for c in by),
            pl.col("window_start").min().alias("first"),
            pl.col("window_end").max().alias("last"),
            pl.col("stat").max().alias("peak"),
        )
        .drop("episode")
        .sort(*by, "first")
    )


def either_episodes(parts: list[tuple[pl.DataFrame, float]], hop_ms: int) -> pl.DataFrame:
    """The alarm episodes of several detectors together, each ``(stats, threshold)``: runs
    of consecutive windows of a key where any of them alarms (:func:`alarm_episodes`)."""
    by = ["seed", "key"] if all("seed" in s.columns for s, _ in parts) else ["key"]
    hits = pl.concat(
        [s.filter(pl.col("stat") >= t).select(*by, "window_start", "window_end") for s, t in parts]
    ).unique()
    return alarm_episodes(hits.with_columns(pl.lit(1.0).alias("stat")), 1.0, hop_ms)


def calibrate(stats: pl.DataFrame, hours: float, per_hour: float, hop_ms: int) -> Threshold:
    """The lowest threshold at which ``stats`` (burst-free streams of ``hours`` simulated
    hours in all, a ``seed`` column apart) raise at most ``per_hour`` alarm episodes an
    hour (see the module)."""
    allowed = per_hour * hours
    values = stats["stat"].unique().sort(descending=True)
    if allowed < 1.0 or values.is_empty():
        return _tail(stats, hours, per_hour)
    best = float(values[0]) + 1e-9  # above every value: no episode at all
    episodes = 0
    # Walk down the observed values; episodes grow (almost) monotonically as it goes.
    for value in _candidates(values, allowed):
        n = alarm_episodes(stats, value, hop_ms).height
        if n > allowed:
            break
        best, episodes = value, n
    return Threshold(best, "empirical", episodes, hours)


def _candidates(values: pl.Series, allowed: float) -> list[float]:
    """Observed values from the top down: each of the first ones, then thinner steps."""
    out = values.to_list()
    head = int(4 * allowed) + 50
    return [float(v) for v in out[:head]] + [float(v) for v in out[head::10]]


def _tail(stats: pl.DataFrame, hours: float, per_hour: float) -> Threshold:
    """Exponential tail above the ``_TAIL_PEAKS``-th largest window statistic: windows
    above ``t`` come at ``k / hours * exp(-(t - u) / scale)``, solved for ``per_hour``
    (an episode holds at least one such window, so the episodes are at most as many)."""
    values = np.sort(stats["stat"].to_numpy())[::-1]
    if len(values) < 2:
        top = float(values[0]) if len(values) else _FLOOR_ANY
        return Threshold(top + 1e-9, "tail", 0, hours)
    k = min(_TAIL_PEAKS, len(values))
    u = float(values[k - 1])
    scale = max(float((values[:k] - u).mean()), 1e-6)
    value = u + scale * math.log(max(k / (hours * per_hour), 1.0))
    return Threshold(value, "tail", k, hours)
