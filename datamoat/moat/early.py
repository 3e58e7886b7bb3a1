"""Early alerts in the moat: the pipeline's early trend rule (:mod:`process.early`) on each
tier's open windows.

While a window is open, the pipeline scores the part of it seen so far: ``rate`` =
original posts so far / ``elapsed_s``, against the key's baseline as of its last *final*
window (mean and variance, undecayed), with the Poisson noise of a count over
``elapsed_s`` (``mean / elapsed_s``); a key needs ``min_originals`` originals and
``min_elapsed_s`` of the window seen (:class:`process.early.AlertRule`). Here every tier
does the same on its own posts, at **checkpoints** every :data:`EARLY_STEP_S` simulated
seconds of each window (the last one at the window's end, which has the whole window's
counts: :func:`checkpoint_counts`):

* the counts come from the pass (:func:`step_counts`, per batch, summed afterwards);
* the baseline at a checkpoint is the trend tracker's state after the newest window final
  by then (its end plus the allowed lateness at or before the checkpoint): the tracker is
  replayed over the tier's final signals, window by window, which gives the engine's own
  scores again (:func:`baselines`);
* a sampled tier uses its own score rule (:func:`datamoat.moat.stream.sampled_trend`: noise
  floor scaled by p) and ``min_originals`` scaled by p as the support is (at least 1);
  ``min_elapsed_s`` is in event seconds, as the tracker's rates are;
* the statistic (:func:`early_stat`) is the early score plus the tie-break of its
  (key, window) (:func:`datamoat.moat.detect.tie_break`); per window its maximum over the
  checkpoints (:func:`by_window`) is what :func:`datamoat.moat.detect.calibrate` holds to
  the common false-alarm rate, so an early episode is a run of consecutive windows of a
  key with an early alarm at any checkpoint.

Held to the rate on its own, the early detector raises its false alarms on top of the trend
detector's. The pipeline runs both, its early rule at its own threshold (``early.threshold``,
:class:`process.early.AlertRule`), :func:`early_ratio` times the final rule's
(``trends.threshold``): the early statistic is noisier (a part of a window, looked at every
micro-batch), so it needs a higher score for the same false-alarm rate. So does the
detector ``trend_early`` (:func:`either_stat`): per window the higher of the final statistic
and the early one divided by that ratio, one threshold calibrated to the common rate, so
that the final signals and the early alerts *together* hold it, the early alarms at the
ratio times the final threshold, as in the pipeline.

An early alarm is available at its checkpoint plus the tier's delay. A batch tier
(``every_s``) publishes nothing before its batch, so early alerts don't apply to it: its
lead with early alerts is its lead without them.
"""

from __future__ import annotations

import math

import polars as pl

from datamoat.moat.config import Clock, Tier
from datamoat.moat.detect import FLOOR, STAT_SCHEMA, tie_break
from process.aggregate import STREAM_KEY, explode_keys
from process.early import AlertRule
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = [
    "CHECKPOINT_SCHEMA",
    "EARLY_STEP_S",
    "STEP_SCHEMA",
    "baselines",
    "by_window",
    "checkpoint_counts",
    "early_available",
    "early_ratio",
    "early_stat",
    "either_stat",
    "final_as_of",
    "sampled_rule",
    "step_counts",
    "sum_steps",
]

#: Checkpoints of an open window are this many simulated seconds apart (30 s: 10 a 5-minute
#: window, 1.25 s of event time at the default compression of a day into an hour).
EARLY_STEP_S = 30.0

#: Original posts per (window, key, checkpoint number) of one batch: the posts created
#: before checkpoint ``step`` and at or after ``step - 1`` (checkpoints count from 1).
STEP_SCHEMA = pl.Schema(
    {"window_start": pl.Int64, "key": pl.String, "step": pl.Int64, "originals": pl.Int64}
)
#: The early statistic at each checkpoint (``at_ms``) of an open window.
CHECKPOINT_SCHEMA = pl.Schema(
    {
        "key": pl.String,
        "window_start": pl.Int64,
        "window_end": pl.Int64,
        "stat": pl.Float64,
        "at_ms": pl.Int64,
    }
)


def step_counts(spec: WindowSpec, posts: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    """Original posts of one batch per (window, key, checkpoint) (STEP_SCHEMA): checkpoint
    ``k`` of a window is at ``window_start + k * step_ms`` (at most the window's end) and
    sees the posts created before it."""
    own = posts.filter(pl.col("kind") == "post").select("created_at", "hashtags")
    keyed = explode_keys(spec.assign(own))
    step = (pl.col("created_at") - pl.col("window_start")) // step_ms + 1
    return (
        keyed.group_by("window_start", "key", step.alias("step"))
        .agg(pl.len().cast(pl.Int64).alias("originals"))
        .cast(STEP_SCHEMA)
    )


def sum_steps(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The batches' :func:`step_counts` added up (a window spans batches)."""
    if not parts:
        return pl.DataFrame(schema=STEP_SCHEMA)
    return pl.concat(parts).group_by("window_start", "key", "step").agg(pl.col("originals").sum())


def sampled_rule(rate: float) -> AlertRule:
    """The alert rule of a tier seeing a share ``rate`` of the posts: ``min_originals``
    scaled as the trend rule's support is (:func:`datamoat.moat.stream.sampled_trend`)."""
    base = AlertRule()
    if rate >= 1.0:
        return base
    return AlertRule(base.threshold, max(1, math.ceil(base.min_originals * rate)),
                     base.min_elapsed_s)  # fmt: skip


def checkpoint_counts(
    steps: pl.DataFrame, spec: WindowSpec, step_ms: int, min_originals: int = 1
) -> pl.DataFrame:
    """Cumulative original posts of each (window, key) at every checkpoint of the window,
    for the hashtags with at least ``min_originals`` in the whole window (fewer can never
    alert): ``window_start``, ``key``, ``step``, ``at_ms``, ``originals``. The last
    checkpoint is at the window's end: its count is the window's."""
    size = spec.size_ms
    last = -(-size // step_ms)
    totals = (
        steps.filter(pl.col("key") != STREAM_KEY)
        .group_by("window_start", "key")
        .agg(pl.col("originals").sum().alias("total"))
        .filter(pl.col("total") >= min_originals)
    )
    grid = totals.select("window_start", "key").join(
        pl.DataFrame({"step": pl.int_range(1, last + 1, eager=True, dtype=pl.Int64)}),
        how="cross",
    )
    return (
        grid.join(steps, on=["window_start", "key", "step"], how="left")
        .with_columns(pl.col("originals").fill_null(0))
        .sort("window_start", "key", "step")
        .select(
            "window_start",
            "key",
            "step",
            pl.min_horizontal(
                pl.col("window_start") + pl.col("step") * step_ms, pl.col("window_start") + size
            ).alias("at_ms"),
            pl.col("originals").cum_sum().over("window_start", "key").alias("originals"),
        )
    )


def final_as_of(at: pl.Expr, spec: WindowSpec) -> pl.Expr:
    """The start of the newest window final at ``at`` (its end plus the lateness <= ``at``)."""
    newest = at - spec.allowed_lateness_ms - spec.size_ms
    return newest // spec.hop_ms * spec.hop_ms


def baselines(signals: pl.DataFrame, rule: TrendConfig, hop_ms: int,
              needed: pl.DataFrame) -> pl.DataFrame:  # fmt: skip
    """The trend tracker's baselines after each window: ``asof``, ``key``, ``mean``, ``var``
    for the (``asof``, ``key``) pairs of ``needed``. The tracker is replayed on the final
    signals, oldest window first, as the engine applied it (the same scores)."""
    tracker = TrendTracker(rule, hop_ms)
    want = needed.select("asof", "key").unique().partition_by("asof", as_dict=True)
    out = [pl.DataFrame(schema={"asof": pl.Int64, "key": pl.String, "mean": pl.Float64,
                                "var": pl.Float64})]  # fmt: skip
    parts = signals.partition_by("window_start", as_dict=True)
    for (start,) in sorted(parts):
        tracker.apply(parts[(start,)])
        keys = want.get((start,))
        if keys is not None:
            out.append(
                tracker.state.join(keys, on="key", how="semi").select(
                    pl.lit(start, dtype=pl.Int64).alias("asof"), "key", "mean", "var"
                )
            )
    return pl.concat(out)


def early_stat(
    steps: pl.DataFrame,
    signals: pl.DataFrame,
    spec: WindowSpec,
    step_ms: int,
    trend: TrendConfig,
    rate: float,
    first_window: int,
) -> pl.DataFrame:
    """The early statistic at every checkpoint of every open window of a tier
    (CHECKPOINT_SCHEMA), on rows scoring at least the trend detector's floor. ``steps``:
    the tier's :func:`step_counts` summed; ``signals``: its final signals; ``trend``: its
    score rule; ``first_window``: the start of the stream's first window (scores start
    once the tracker has seen its warm-up windows, as the pipeline's do)."""
    alert = sampled_rule(rate)
    hop = spec.hop_ms
    rows = checkpoint_counts(steps, spec, step_ms, alert.min_originals).with_columns(
        final_as_of(pl.col("at_ms"), spec).alias("asof"),
        ((pl.col("at_ms") - pl.col("window_start")) / 1000.0).alias("elapsed_s"),
    )
    warm = first_window + (trend.warmup_windows - 1) * hop  # windows_seen >= warm-up from here
    rows = rows.filter(
        (pl.col("originals") >= alert.min_originals)
        & (pl.col("elapsed_s") >= alert.min_elapsed_s)
        & (pl.col("asof") >= warm)
    )
    base = baselines(signals, trend, hop, rows.select("asof", "key"))
    mean, var = pl.col("mean").fill_null(0.0), pl.col("var").fill_null(0.0)
    elapsed = pl.col("elapsed_s")
    noise = pl.max_horizontal(var, mean / elapsed)
    z = (pl.col("originals") / elapsed - mean) / (noise + trend.floor**2).sqrt()
    return (
        rows.join(base, on=["asof", "key"], how="left")
        .with_columns(z.alias("z"))
        .filter(pl.col("z") >= FLOOR["early"])
        .select(
            "key",
            "window_start",
            (pl.col("window_start") + spec.size_ms).alias("window_end"),
            (pl.col("z") + tie_break()).alias("stat"),
            "at_ms",
        )
        .cast(CHECKPOINT_SCHEMA)
    )


def by_window(checkpoints: pl.DataFrame) -> pl.DataFrame:
    """Each (window, key)'s highest early statistic over its checkpoints (STAT_SCHEMA): a
    window alarms early at a threshold when any of its checkpoints does."""
    return (
        checkpoints.group_by("key", "window_start", "window_end")
        .agg(pl.col("stat").max())
        .select(STAT_SCHEMA.names())
        .sort("window_start", "key")
        .cast(STAT_SCHEMA)
    )


def early_ratio(trend: TrendConfig) -> float:
    """The pipeline's early threshold over its final one (:class:`process.early.AlertRule`'s
    and ``trend``'s): held together, an early alarm needs this many times the threshold a
    final alarm needs."""
    return AlertRule().threshold / trend.threshold


def either_stat(trend: pl.DataFrame, early: pl.DataFrame, ratio: float) -> pl.DataFrame:
    """Per (window, key) the higher of the trend detector's and the early detector's
    (:func:`by_window`) statistics, the early one divided by ``ratio``
    (:func:`early_ratio`) (STAT_SCHEMA): both held together alarm in a window when this
    reaches the threshold, the early one at ``ratio`` times it."""
    scaled = early.select(STAT_SCHEMA.names()).with_columns(pl.col("stat") / ratio)
    return by_window(pl.concat([trend.select(STAT_SCHEMA.names()), scaled]))


def early_available(tier: Tier, clock: Clock) -> pl.Expr | None:
    """Epoch ms at which a checkpoint's alarm reaches the tier's user; None for a batch
    tier (it publishes nothing before its batch: early alerts don't apply)."""
    if tier.every_s is not None:
        return None
    return pl.col("at_ms") + clock.ms(tier.delay_s)
