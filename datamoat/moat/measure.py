"""Each tier's signals against the ground truth and against the firehose's signals.

* **Availability.** A window's signals exist once the watermark closes it (its end plus the
  allowed lateness), plus the tier's ``delay_s``; a batch tier (``every_s``) publishes at
  the first multiple of its period (from the stream start) at or after that close, plus
  its delay.
* **Detection.** A burst is *eligible* when its onset lies after the trend warm-up and at
  least ``horizon_s`` before the end of the run. A tier detects it when the burst's hashtag
  trends by the tier's rule (:meth:`TrendConfig.trending` of the tier's engine) in a window
  ending after the onset whose signals are available within ``horizon_s`` of the onset;
  the lead time is that availability minus the onset, in simulated seconds.
* **False alarms.** An episode is a run of consecutive trending windows of one key; it is a
  false alarm when no burst of that hashtag is active during it. Per simulated hour after
  the warm-up.
* **Estimates.** A tier sampling a share p scales every count (posts, originals, unique
  authors, reach, cascade sizes) by 1/p; sentiment means and shares are not scaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from datamoat.moat.config import Clock, MoatConfig, Tier
from datamoat.moat.stream import Pass
from process.aggregate import NEGATIVE_AT, POSITIVE_AT, STREAM_KEY

__all__ = ["Measured", "available", "estimates", "kendall_tau_b", "measure"]

_COUNTS = ("posts", "originals", "unique_authors", "reach", "scored")


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
        "trend_score",
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


def kendall_tau_b(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> float | None:
    """Kendall's tau-b of two equally long vectors (None when either is constant)."""
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    denom = float(np.sqrt(np.abs(dx).sum() * np.abs(dy).sum()))
    return None if denom == 0 else float((dx * dy).sum() / denom)


def _sign(col: str) -> pl.Expr:
    x = pl.col(col)
    return pl.when(x >= POSITIVE_AT).then(1).when(x <= NEGATIVE_AT).then(-1).otherwise(0)


@dataclass(frozen=True, slots=True)
class Measured:
    """The summary per tier, the lead time of every eligible burst per tier (null: missed),
    and the estimates per tier (for the plots)."""

    tiers: dict[str, dict[str, Any]]
    bursts: pl.DataFrame
    estimates: dict[str, pl.DataFrame]
    warm_ms: int
    eligible: int


def measure(
    config: MoatConfig, tiers: tuple[Tier, ...], done: Pass, truth: pl.DataFrame, clock: Clock
) -> Measured:
    spec = done.spec
    first_window = done.first_ms // spec.hop_ms * spec.hop_ms
    warmup = done.trend[None].warmup_windows
    warm_ms = first_window + warmup * spec.hop_ms
    horizon = clock.ms(config.horizon_s)
    eligible = truth.filter(
        (pl.col("onset_ms") >= warm_ms) & (pl.col("onset_ms") + horizon <= done.end_ms)
    )
    hours = max(clock.sim_s(done.end_ms - warm_ms), 1.0) / 3600.0
    reference = estimates(done.signals[None], 1.0)
    per_slice: dict[tuple[int, int] | None, pl.DataFrame] = {}
    accuracy: dict[tuple[int, int] | None, dict[str, Any]] = {}
    bursts = eligible.select("burst", "hashtag", "onset_ms", "peak", "rise_s", "injected")
    out: dict[str, dict[str, Any]] = {}
    for tier in tiers:
        if tier.ms not in per_slice:
            per_slice[tier.ms] = estimates(done.signals[tier.ms], tier.rate)
            accuracy[tier.ms] = _accuracy(config, reference, per_slice[tier.ms])
        est = per_slice[tier.ms].with_columns(
            available(tier, clock, spec.allowed_lateness_ms).alias("available_ms")
        )
        hits = est.filter(done.trend[tier.ms].trending())
        leads = _leads(eligible, hits, horizon, clock)
        bursts = bursts.join(leads.rename({"lead_s": tier.name}), on="burst", how="left")
        alarms = _false_alarms(hits, truth, spec.hop_ms, warm_ms)
        detected = leads["lead_s"]
        out[tier.name] = {
            "sampling_rate": tier.rate,
            "access": tier.kind,
            "bursts": eligible.height,
            "detected": detected.len(),
            "recall": detected.len() / eligible.height if eligible.height else None,
            "lead_time_p50_s": _q(detected, 0.5),
            "lead_time_p90_s": _q(detected, 0.9),
            "false_alarms": alarms,
            "false_alarms_per_hour": alarms / hours,
            **accuracy[tier.ms],
        }
    return Measured(
        out,
        bursts.sort("onset_ms", "burst"),
        {t.name: per_slice[t.ms] for t in tiers},
        warm_ms,
        eligible.height,
    )


def _q(values: pl.Series, q: float) -> float | None:
    if values.is_empty():
        return None
    v = values.quantile(q, interpolation="linear")
    return None if v is None else float(v)


def _leads(eligible: pl.DataFrame, hits: pl.DataFrame, horizon: int, clock: Clock) -> pl.DataFrame:
    """The first availability of a trending window of each eligible burst's hashtag."""
    joined = eligible.select("burst", "hashtag", "onset_ms").join(
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


def _false_alarms(hits: pl.DataFrame, truth: pl.DataFrame, hop_ms: int, warm_ms: int) -> int:
    """Episodes of trending windows during which no burst of that hashtag is active."""
    if hits.is_empty():
        return 0
    episodes = (
        hits.sort("key", "window_start")
        .with_columns(
            (pl.col("window_start").diff().over("key") != hop_ms)
            .fill_null(True)
            .cum_sum()
            .alias("episode")
        )
        .group_by("episode")
        .agg(
            pl.col("key").first(),
            pl.col("window_start").min().alias("first"),
            pl.col("window_end").max().alias("last"),
        )
        .filter(pl.col("first") >= warm_ms)
    )
    explained = (
        episodes.join(truth, left_on="key", right_on="hashtag")
        .filter((pl.col("first") < pl.col("end_ms")) & (pl.col("last") > pl.col("onset_ms")))
        .get_column("episode")
        .n_unique()
    )
    return episodes.height - explained


def _accuracy(config: MoatConfig, ref: pl.DataFrame, est: pl.DataFrame) -> dict[str, Any]:
    keys = ["window_start", "key"]
    t = est.select(*keys, *(pl.col(c).alias(f"t_{c}") for c in est.columns if c not in keys))
    both = ref.join(t, on=keys, how="left")

    senti = both.filter(pl.col("scored") >= config.min_scored)
    covered = senti.filter(pl.col("t_sentiment_mean").is_not_null())
    err = (covered["t_sentiment_mean"] - covered["sentiment_mean"]).abs()
    wrong = covered.filter(_sign("t_sentiment_mean") != _sign("sentiment_mean")).height

    authors = both.filter(pl.col("posts") >= config.min_posts)
    author_err = (authors["t_unique_authors"].fill_null(0.0) - authors["unique_authors"]).abs()
    star = both.filter(pl.col("key") == STREAM_KEY)
    reach_err = ((star["t_reach"].fill_null(0.0) - star["reach"]).abs() / star["reach"]).mean()
    casc = star.filter(pl.col("top_cascade_size").is_not_null())
    size_err = (
        (casc["t_top_cascade_size"].fill_null(0.0) - casc["top_cascade_size"]).abs()
        / casc["top_cascade_size"]
    ).mean()
    root_overlap = casc.select(
        (
            pl.col("top_roots").list.set_intersection(pl.col("t_top_roots")).list.len().fill_null(0)
            / pl.col("top_roots").list.len()
        ).mean()
    ).item()
    overlap, tau = _top_n(config.top_n, ref, est)
    return {
        "sentiment_rows": senti.height,
        "sentiment_coverage": covered.height / senti.height if senti.height else None,
        "sentiment_mae": _mean(err),
        "sentiment_p90": _q(err, 0.9),
        "sign_errors": wrong / covered.height if covered.height else None,
        "sign_error_count": wrong,
        "top10_overlap": overlap,
        "kendall_tau": tau,
        "unique_authors_error": _mean(author_err / authors["unique_authors"]),
        "reach_error": _num(reach_err),
        "top_cascade_size_error": _num(size_err),
        "top_cascade_overlap": _num(root_overlap),
    }


def _num(value: Any) -> float | None:
    return None if value is None else float(value)


def _mean(values: pl.Series) -> float | None:
    return None if values.is_empty() else _num(values.mean())


def _top_n(n: int, ref: pl.DataFrame, est: pl.DataFrame) -> tuple[float | None, float | None]:
    """Mean over windows of the top-n overlap and of Kendall's tau-b between the two tiers'
    post counts over the union of their top-n hashtags (0 where a tier lacks the key)."""

    def tops(frame: pl.DataFrame) -> pl.DataFrame:
        return (
            frame.filter(pl.col("key") != STREAM_KEY)
            .sort(["window_start", "posts", "key"], descending=[False, True, False])
            .group_by("window_start", maintain_order=True)
            .head(n)
            .select("window_start", "key")
        )

    f_top, t_top = tops(ref), tops(est)
    keys = ["window_start", "key"]
    hits = f_top.join(t_top, on=keys).group_by("window_start").len()
    counts = f_top.group_by("window_start").len().rename({"len": "n"})
    overlap = counts.join(hits, on="window_start", how="left").select(
        (pl.col("len").fill_null(0) / pl.col("n")).mean()
    )
    union = (
        pl.concat([f_top, t_top])
        .unique()
        .join(ref.select(*keys, pl.col("posts").alias("f")), on=keys, how="left")
        .join(est.select(*keys, pl.col("posts").alias("t")), on=keys, how="left")
        .fill_null(0.0)
        .sort(keys)
    )
    taus = []
    for (_,), window in union.group_by(["window_start"], maintain_order=True):
        tau = kendall_tau_b(window["f"].to_numpy(), window["t"].to_numpy())
        if tau is not None:
            taus.append(tau)
    return _num(overlap.item()), (float(np.mean(taus)) if taus else None)
