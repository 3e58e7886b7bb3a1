"""One seed's measures per tier: detection against the injected events, estimates against
the truth.

* **Availability.** A window's signals exist once the watermark closes it (its end plus the
  allowed lateness), plus the tier's ``delay_s``; a batch tier (``every_s``) publishes at
  the first multiple of its period (from the stream start) at or after that close, plus
  its delay.
* **Detection.** An injected event is *eligible* when its onset lies after the trend
  warm-up and at least ``horizon_s`` before the end of the run. A tier detects a burst
  (``new``, ``established``) when its trend detector, and a sentiment ``shift`` when its
  sentiment detector (:mod:`datamoat.moat.detect`), alarms on the event's hashtag in a
  window ending after the onset whose signals are available within ``horizon_s`` of the
  onset; the lead time is that availability minus the onset, in simulated seconds. Each
  threshold of the tier's list is tried (the first is the common operating point; the
  others draw the recall against false-alarm curve).
* **With early alerts.** A burst is also found by the tier's early detector (the early
  trend rule at checkpoints of open windows, :mod:`datamoat.moat.early`) at a checkpoint
  after the onset, available at the checkpoint plus the tier's delay within ``horizon_s``;
  the lead with early alerts is the earlier of the two availabilities minus the onset
  (``early_lead_s``; so never later than ``lead_s``). ``held_lead_s`` is the same with
  both detectors held to the rate together by ``trend_early``'s threshold (the early
  alarms at :func:`datamoat.moat.early.early_ratio` times it). A
  batch tier has no early alerts, and sentiment shifts none either: there both are
  ``lead_s``.
* **Against the truth.** The exact values over every post are the full-access engine's
  rows, which equal ``datamoat truth``'s (``tests/unit/test_moat.py`` checks it). A tier
  sampling a share p scales counts (posts, unique authors, the largest cascade) by 1/p.
  Compared on the (window, key) cells with at least ``min_posts`` posts (counts) or
  ``min_scored`` scored posts (sentiment): *coverage* is the share of those cells the tier
  has at all, and errors are over the covered ones only, never mixed with coverage.
  Sentiment is held twice against the truth: the error against VADER over every post (what
  a full-access buyer computes), and the agreement with the generator's own per-post
  polarity (how people felt; Pearson's r over cells, and the share of cells whose sign,
  beyond +-0.05, agrees). Top hashtags: overlap and Kendall's tau-b against the truth's
  top-n with ties kept (:func:`datamoat.moat.stats.top_n_agreement`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from datamoat.moat.config import Clock, MoatConfig, Tier
from datamoat.moat.detect import alarm_episodes, sentiment_stat, trend_stat
from datamoat.moat.early import (
    CHECKPOINT_SCHEMA,
    by_window,
    early_available,
    early_ratio,
    early_stat,
    either_stat,
)
from datamoat.moat.stats import summarise_agreement, top_n_agreement
from datamoat.moat.stream import Pass
from process.aggregate import STREAM_KEY

__all__ = [
    "SeedMeasures",
    "available",
    "detector_stats",
    "early_checkpoints",
    "estimates",
    "measure_seed",
]

_COUNTS = ("posts", "originals", "unique_authors", "reach", "scored")
_SIGN_AT = 0.05
#: Which detector finds which kind of event.
DETECTOR_OF = {"new": "trend", "established": "trend", "random": "trend", "shift": "sentiment"}


def estimates(signals: pl.DataFrame, rate: float) -> pl.DataFrame:
    """Counts scaled by 1/rate (floats), the columns the measures need."""
    top = pl.col("top_cascades")
    sizes = top.list.eval(pl.element().struct.field("size")).list.max()
    return signals.select(
        "window_start",
        "window_end",
        "key",
        *(pl.col(c).cast(pl.Float64) / rate for c in _COUNTS),
        "sentiment_mean",
        (sizes.cast(pl.Float64) / rate).alias("top_cascade_size"),
        top.list.eval(pl.element().struct.field("root_id")).alias("top_roots"),
    )


def available(tier: Tier, clock: Clock, lateness_ms: int) -> pl.Expr:
    """Epoch ms at which a window's signals reach the tier's user."""
    close = pl.col("window_end") + lateness_ms
    if tier.every_s is not None:
        period = clock.ms(tier.every_s)
        batches = (close - clock.start_ms + period - 1) // period
        close = clock.start_ms + batches * period
    return close + clock.ms(tier.delay_s)


def detector_stats(
    config: MoatConfig,
    done: Pass,
    early: dict[tuple[int, int] | None, pl.DataFrame] | None = None,
) -> dict[tuple[tuple[int, int] | None, str], pl.DataFrame]:
    """Every detector's statistics per millisecond slice of the pass, after the warm-up
    (``early``: :func:`early_checkpoints` of the pass, when already computed)."""
    spec = done.spec
    warm = warm_ms(done)
    early = early_checkpoints(done) if early is None else early
    out = {}
    for ms, signals in done.signals.items():
        after = signals.filter(pl.col("window_start") >= warm)
        out[ms, "trend"] = trend_stat(after, done.trend[ms])
        out[ms, "sentiment"] = sentiment_stat(
            done.texts[ms], spec.hop_ms, config.sentiment_baseline_windows
        ).filter(pl.col("window_start") >= warm)
        out[ms, "early"] = by_window(early[ms])
        ratio = early_ratio(done.trend[ms])
        out[ms, "trend_early"] = either_stat(out[ms, "trend"], out[ms, "early"], ratio)
    return out


def early_checkpoints(done: Pass) -> dict[tuple[int, int] | None, pl.DataFrame]:
    """The early statistic at every checkpoint of the open windows after the warm-up, per
    millisecond slice of the pass (empty when the pass counted no checkpoints)."""
    warm = warm_ms(done)
    first = done.first_ms // done.spec.hop_ms * done.spec.hop_ms
    out = {}
    for ms, signals in done.signals.items():
        steps = done.steps.get(ms)
        if steps is None or not done.step_ms:
            out[ms] = pl.DataFrame(schema=CHECKPOINT_SCHEMA)
            continue
        rate = Tier("slice", ms).rate
        stat = early_stat(steps, signals, done.spec, done.step_ms, done.trend[ms], rate, first)
        out[ms] = stat.filter(pl.col("window_start") >= warm)
    return out


def warm_ms(done: Pass) -> int:
    """The first window start after the trend warm-up."""
    hop = done.spec.hop_ms
    return done.first_ms // hop * hop + done.trend[None].warmup_windows * hop


@dataclass(frozen=True, slots=True)
class SeedMeasures:
    """One seed: its eligible events, every tier's lead per event and threshold (null:
    missed), the tiers' estimates against the truth, and its false alarms."""

    seed: int
    events: pl.DataFrame  # burst, hashtag, kind, size_ppm, onset_ms
    leads: pl.DataFrame  # tier, target, burst, lead_s, early_lead_s, held_lead_s
    tiers: dict[str, dict[str, Any]]
    false_alarms: dict[str, int]  # tier -> unexplained trend episodes at the common rate
    hours: float  # simulated hours after the warm-up
    posts: int
    topn: pl.DataFrame | None  # tier, window, n, overlap, tau, buckets


def measure_seed(
    config: MoatConfig,
    tiers: tuple[Tier, ...],
    done: Pass,
    truth: pl.DataFrame,
    clock: Clock,
    thresholds: dict[str, dict[str, tuple[float, ...]]],
    *,
    seed: int,
    topn: tuple[tuple[int, ...], tuple[int, ...]] | None = None,
) -> SeedMeasures:
    """``thresholds[tier][detector]``: the thresholds to try, the common one first.
    ``topn``: (ns, bucket lengths in ms) for the top-n curves, or None."""
    spec = done.spec
    warm = warm_ms(done)
    horizon = clock.ms(config.horizon_s)
    eligible = truth.filter(
        pl.col("injected")
        & (pl.col("onset_ms") >= warm)
        & (pl.col("onset_ms") + horizon <= done.end_ms)
    )
    checkpoints = early_checkpoints(done)
    stats = detector_stats(config, done, checkpoints)
    reference = done.signals[None]
    exact = estimates(reference, 1.0)
    leads: list[pl.DataFrame] = []
    out: dict[str, dict[str, Any]] = {}
    alarms: dict[str, int] = {}
    per_slice: dict[tuple[int, int] | None, dict[str, Any]] = {}
    curves: list[pl.DataFrame] = []
    for tier in tiers:
        when = available(tier, clock, spec.allowed_lateness_ms)
        early_when = early_available(tier, clock)
        for detector in ("trend", "sentiment"):
            events = eligible.filter(pl.col("kind").replace_strict(DETECTOR_OF) == detector)
            hits = stats[tier.ms, detector].with_columns(when.alias("available_ms"))
            for k, threshold in enumerate(thresholds[tier.name][detector]):
                found = _leads(events, hits.filter(pl.col("stat") >= threshold), horizon, clock)
                rows = events.select("burst").join(found, on="burst", how="left")
                if detector == "trend" and early_when is not None:
                    ahead = checkpoints[tier.ms].with_columns(early_when.alias("available_ms"))
                    by = thresholds[tier.name]
                    held = by["trend_early"][k]
                    ratio = early_ratio(done.trend[tier.ms])
                    rows = rows.join(
                        _either(events, hits, ahead, by["trend"][k], by["early"][k], horizon,
                                clock).rename({"lead_s": "early_lead_s"}),
                        on="burst", how="left",
                    ).join(
                        _either(events, hits, ahead, held, held * ratio, horizon,
                                clock).rename({"lead_s": "held_lead_s"}),
                        on="burst", how="left",
                    )  # fmt: skip
                else:
                    rows = rows.with_columns(
                        pl.col("lead_s").alias("early_lead_s"),
                        pl.col("lead_s").alias("held_lead_s"),
                    )
                leads.append(
                    rows.select(
                        pl.lit(tier.name).alias("tier"),
                        pl.lit(k, dtype=pl.Int64).alias("target"),
                        "burst",
                        "lead_s",
                        "early_lead_s",
                        "held_lead_s",
                    )
                )
        common = thresholds[tier.name]["trend"][0]
        alarms[tier.name] = _false_alarms(stats[tier.ms, "trend"], common, truth, spec.hop_ms)
        if tier.ms not in per_slice:
            est = estimates(done.signals[tier.ms], tier.rate)
            per_slice[tier.ms] = against_truth(config, exact, est, done.feel, spec.hop_ms)
            if topn is not None:
                curves.append(_curves(tier, exact, est, topn))
        out[tier.name] = {"sampling_rate": tier.rate, "access": tier.kind, **per_slice[tier.ms]}
    hours = clock.sim_s(done.end_ms - warm) / 3600.0
    return SeedMeasures(
        seed=seed,
        events=eligible.select("burst", "hashtag", "kind", "size_ppm", "onset_ms"),
        leads=pl.concat(leads),
        tiers=out,
        false_alarms=alarms,
        hours=hours,
        posts=done.posts,
        topn=_name_curves(tiers, curves) if topn is not None else None,
    )


def _curves(
    tier: Tier,
    exact: pl.DataFrame,
    est: pl.DataFrame,
    topn: tuple[tuple[int, ...], tuple[int, ...]],
) -> pl.DataFrame:
    ns, buckets = topn
    parts = []
    for bucket in buckets:
        rows = top_n_agreement(exact, est, ns, bucket)
        parts.append(
            summarise_agreement(rows).with_columns(
                pl.lit(str(tier.ms)).alias("slice"),
                pl.lit(bucket, dtype=pl.Int64).alias("bucket_ms"),
            )
        )
    return pl.concat(parts, how="diagonal_relaxed")


def _name_curves(tiers: tuple[Tier, ...], curves: list[pl.DataFrame]) -> pl.DataFrame:
    """Slice curves to tier rows (tiers that see the same posts share them)."""
    frame = pl.concat(curves, how="diagonal_relaxed")
    names = pl.DataFrame({"slice": [str(t.ms) for t in tiers], "tier": [t.name for t in tiers]})
    return names.join(frame, on="slice").drop("slice")


def _leads(events: pl.DataFrame, hits: pl.DataFrame, horizon: int, clock: Clock) -> pl.DataFrame:
    """The first availability of an alarm window of each event's hashtag."""
    joined = events.select("burst", "hashtag", "onset_ms").join(
        hits.select("key", "window_end", "available_ms"), left_on="hashtag", right_on="key"
    )
    first = (
        joined.filter(
            (pl.col("window_end") > pl.col("onset_ms"))
            & (pl.col("available_ms") <= pl.col("onset_ms") + horizon)
        )
        .group_by("burst")
        .agg((pl.col("available_ms") - pl.col("onset_ms")).min().alias("lead_ms"))
    )
    return first.select("burst", (pl.col("lead_ms") / 1000.0 / clock.scale).alias("lead_s"))


def _either(
    events: pl.DataFrame,
    hits: pl.DataFrame,
    alarms: pl.DataFrame,
    final: float,
    early: float,
    horizon: int,
    clock: Clock,
) -> pl.DataFrame:
    """Each event's lead with early alerts: the first availability of a final alarm
    (``hits`` at ``final``) or an early one (checkpoints ``alarms`` at ``early``, counted
    from a checkpoint after the onset)."""
    parts = pl.concat(
        [
            hits.filter(pl.col("stat") >= final).select("key", "window_end", "available_ms"),
            alarms.filter(pl.col("stat") >= early).select(
                "key", pl.col("at_ms").alias("window_end"), "available_ms"
            ),
        ]
    )
    return _leads(events, parts, horizon, clock)


def _false_alarms(stats: pl.DataFrame, threshold: float, truth: pl.DataFrame, hop: int) -> int:
    """Trend episodes during which no event of that hashtag is active."""
    episodes = alarm_episodes(stats, threshold, hop).with_row_index("episode")
    if episodes.is_empty():
        return 0
    explained = (
        episodes.join(truth, left_on="key", right_on="hashtag")
        .filter((pl.col("first") < pl.col("end_ms")) & (pl.col("last") > pl.col("onset_ms")))
        .get_column("episode")
        .n_unique()
    )
    return episodes.height - explained


def against_truth(
    config: MoatConfig, exact: pl.DataFrame, est: pl.DataFrame, feel: pl.DataFrame, hop_ms: int
) -> dict[str, Any]:
    """A tier's estimates against the exact values over every post (see the module)."""
    keys = ["window_start", "key"]
    t = est.select(*keys, *(pl.col(c).alias(f"t_{c}") for c in est.columns if c not in keys))
    both = exact.join(t, on=keys, how="left")
    out: dict[str, Any] = {}

    cells = both.filter(pl.col("posts") >= config.min_posts)
    seen = cells.filter(pl.col("t_posts").is_not_null())
    out["coverage"] = _share(seen.height, cells.height)
    for name, col in (("posts_error", "posts"), ("unique_authors_error", "unique_authors")):
        out[name] = _mean((seen[f"t_{col}"] - seen[col]).abs() / seen[col])
    star = both.filter((pl.col("key") == STREAM_KEY) & pl.col("top_cascade_size").is_not_null())
    star_seen = star.filter(pl.col("t_top_cascade_size").is_not_null())
    out["cascade_coverage"] = _share(star_seen.height, star.height)
    out["top_cascade_size_error"] = _mean(
        (star_seen["t_top_cascade_size"] - star_seen["top_cascade_size"]).abs()
        / star_seen["top_cascade_size"]
    )
    out["top_cascade_overlap"] = _mean(
        star_seen.select(
            pl.col("top_roots").list.set_intersection(pl.col("t_top_roots")).list.len()
            / pl.col("top_roots").list.len()
        ).to_series()
    )
    reach = both.filter((pl.col("key") == STREAM_KEY) & pl.col("t_reach").is_not_null())
    out["reach_error"] = _mean((reach["t_reach"] - reach["reach"]).abs() / reach["reach"])

    senti = both.filter(pl.col("scored") >= config.min_scored)
    scored = senti.filter(pl.col("t_sentiment_mean").is_not_null())
    out["sentiment_coverage"] = _share(scored.height, senti.height)
    err = (scored["t_sentiment_mean"] - scored["sentiment_mean"]).abs()
    out["sentiment_mae"] = _mean(err)
    out["sentiment_p90"] = _quantile(err, 0.9)
    out["sentiment_rows"] = senti.height
    wrong = scored.filter(_sign(pl.col("t_sentiment_mean")) != _sign(pl.col("sentiment_mean")))
    out["sign_errors"] = _share(wrong.height, scored.height)
    if feel.height:
        felt = scored.join(feel, on=keys, how="inner").with_columns(
            (pl.col("feel_sum") / pl.col("feel_posts")).alias("feel")
        )
        out["feel_r"] = _pearson(felt["t_sentiment_mean"], felt["feel"])
        agree = _sign(pl.col("t_sentiment_mean")) == _sign(pl.col("feel"))
        out["feel_sign_agreement"] = _mean(felt.select(agree.cast(pl.Float64)).to_series())
    rows = top_n_agreement(exact, est, [config.top_n], hop_ms)
    summary = summarise_agreement(rows)
    out[f"top{config.top_n}_overlap"] = _first(summary, "overlap")
    out["kendall_tau"] = _first(summary, "tau")
    return out


def _sign(x: pl.Expr) -> pl.Expr:
    return pl.when(x >= _SIGN_AT).then(1).when(x <= -_SIGN_AT).then(-1).otherwise(0)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _mean(values: pl.Series) -> float | None:
    values = values.drop_nulls()
    if values.is_empty():
        return None
    v = values.mean()
    return None if v is None else float(v)  # type: ignore[arg-type]


def _quantile(values: pl.Series, q: float) -> float | None:
    if values.is_empty():
        return None
    v = values.quantile(q, interpolation="linear")
    return None if v is None else float(v)


def _first(frame: pl.DataFrame, col: str) -> float | None:
    if frame.is_empty() or col not in frame.columns:
        return None
    v = frame[col][0]
    return None if v is None else float(v)


def _pearson(x: pl.Series, y: pl.Series) -> float | None:
    if x.len() < 3:
        return None
    a, b = x.to_numpy().astype(np.float64), y.to_numpy().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])
