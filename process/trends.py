"""Trend scores: each key's rate of original posts against its own baseline; trending.

A trend is many people starting to post about a key, so the score counts original posts
(``kind == "post"``): reposts, replies and quotes are one post's cascade, which is the
virality signal's business (``top_cascades``). Scoring all posts lets a single viral post
carrying a rare hashtag trend for minutes on otherwise quiet traffic (on the firehose,
seed 11: 14 to 27 alarm windows per hour, nearly all single cascades; none on originals).

Per key the state holds a baseline of ``rate`` = originals/s in a window: a mean and a
variance, the start of the key's last window and its ``velocity`` (all posts/s) there.
Windows where a key has no posts count as rate 0. For window number ``t`` of the stream
(``windows_seen``) the baseline's weight is ``a_t = max(alpha, 1 / (t + 1))``: over the
first ``1 / alpha`` windows the baseline is the exact mean and (population) variance of all
windows so far, so it starts without a transient; after that it is an EWMA.

For a newly closed window of a key:

* the baseline first takes in the windows the key was absent, in closed form: mean and
  mean square decay by ``d``, the product of ``1 - a_j`` over those windows, so
  ``mean *= d`` and ``var = d * (var + mean**2 * (1 - d))``;
* ``acceleration`` = velocity - velocity of the previous window (0 when the key was absent);
* ``trend_score`` = ``(rate - mean) / sqrt(noise + floor**2)`` with
  ``noise = max(var, mean / size_s)``: the baseline's variance, but never below the
  variance of a Poisson count at the baseline's mean (a young baseline of a few windows
  can underestimate it badly, which let a busy key "trend" on noise), set to 0 when the window has
  fewer than ``min_support`` original posts (a rare hashtag can't trend on two posts) and
  during the first ``warmup_windows`` windows of the stream (no baseline yet). A key the
  tracker has never seen (or has forgotten, see below) has the baseline 0, so a brand-new
  hashtag scores ``rate / floor``;
* then the baseline takes the new rate in: ``mean += a_t * diff`` and
  ``var = (1 - a_t) * (var + a_t * diff**2)`` with ``diff = rate - mean``. After the
  warm-up, an outlier window (``|diff| >= outlier * sqrt(noise + floor**2)``, whatever its
  support) leaves the variance as it was: a burst moves the mean (a lasting level becomes
  the new normal) but does not widen the noise band it is measured against, so a rise is
  caught before the baseline has learnt it as noise.

**Trending** (the detection rule): a key other than ``*`` is trending in a window when its
``trend_score >= threshold`` (which implies ``originals >= min_support`` and the warm-up
done); :meth:`TrendConfig.trending` is that rule as an expression on signal rows.
:meth:`TrendTracker.top` returns the top ``top_k`` trending keys of the newest window.

A key absent from ``ttl_windows`` windows in a row is forgotten (if it comes back, its
baseline starts again from 0), so the state holds only the keys of the current window and
the ``ttl_windows`` before it: the long tail of hashtags does not grow it without bound.
A forgotten baseline had decayed to almost nothing anyway (``(1 - alpha) ** ttl_windows``).
Windows must be applied in ascending order.

The defaults were chosen on the synthetic firehose at 1,157 posts/s in 10-s windows with
``tests/benchmark/bench_trends.py`` (detection delays of injected bursts, false alarms on
traffic without bursts); its docstring has the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Final

import polars as pl

from process.aggregate import STREAM_KEY
from process.problems import Problem

__all__ = ["TREND_STATE_SCHEMA", "TrendConfig", "TrendTracker"]

TREND_STATE_SCHEMA: Final = pl.Schema(
    {
        "key": pl.String,
        "mean": pl.Float64,
        "var": pl.Float64,
        "last_start": pl.Int64,
        "last_velocity": pl.Float64,
    }
)


@dataclass(frozen=True, slots=True)
class TrendConfig:
    """Baseline, score and detection rule of the trend tracker (counts are windows)."""

    alpha: float = 0.02
    """EWMA weight of a new window in the baseline (about ``1 / alpha`` windows of memory)."""
    floor: float = 0.5
    """Originals/s: the noise floor added to the baseline's deviation (a quiet key's scale)."""
    min_support: int = 20
    """Original posts a window needs before its key can score (and trend) at all."""
    threshold: float = 4.5
    """A key trends in a window when its ``trend_score`` reaches this."""
    outlier: float = 3.0
    """A window this many deviations off its baseline does not update the variance."""
    ttl_windows: int = 360
    """A key silent this many windows is forgotten (its baseline starts again from 0)."""
    top_k: int = 10
    """Most trending keys reported per window (signals output and Prometheus labels)."""
    warmup_windows: int = 6
    """Every score is 0 over the stream's first windows, while the baselines form."""

    def __post_init__(self) -> None:
        problems = self.problems(**{f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ValueError("invalid TrendConfig: " + "; ".join(p.says() for p in problems))

    @staticmethod
    def problems(
        alpha: float,
        floor: float,
        min_support: int,
        threshold: float,
        outlier: float,
        ttl_windows: int,
        top_k: int,
        warmup_windows: int,
    ) -> list[Problem]:
        """Every rule these fields break (none: a valid config). The one place the trend
        rules live: the config says these problems in its own keys."""
        checks = (
            (0.0 < alpha <= 1.0, Problem(("alpha",), "must be in (0, 1]")),
            (floor > 0.0, Problem(("floor",), "must be a positive rate (originals/s)")),
            (min_support >= 1, Problem(("min_support",), "must be at least 1 original post")),
            (threshold > 0.0, Problem(("threshold",), "must be positive")),
            (outlier > 0.0, Problem(("outlier",), "must be positive")),
            (ttl_windows >= 1, Problem(("ttl_windows",), "must be at least 1")),
            (top_k >= 0, Problem(("top_k",), "must not be negative")),
            (warmup_windows >= 0, Problem(("warmup_windows",), "must not be negative")),
        )
        return [problem for ok, problem in checks if not ok]

    def trending(self) -> pl.Expr:
        """True on signal rows whose key trends (the rule above)."""
        return (
            (pl.col("trend_score") >= self.threshold)
            & (pl.col("originals") >= self.min_support)
            & (pl.col("key") != STREAM_KEY)
        )


@dataclass(slots=True)
class TrendTracker:
    """Scores closed windows in order; ``state`` and ``windows_seen`` are all its state."""

    config: TrendConfig
    hop_ms: int
    state: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TREND_STATE_SCHEMA))
    windows_seen: int = 0

    def apply(self, signals: pl.DataFrame) -> pl.DataFrame:
        """Fill ``acceleration`` and ``trend_score`` of closed windows, oldest first."""
        if signals.is_empty():
            return signals
        parts = signals.partition_by("window_start", maintain_order=True, as_dict=True)
        return pl.concat([self._window(parts[k], k[0]) for k in sorted(parts)])

    def _decay(self, gap: pl.Expr, t: int) -> pl.Expr:
        """Product of ``1 - a_j`` over the ``gap`` windows just before window ``t``.

        ``a_j = 1 / (j + 1)`` for ``j < k`` (the product telescopes to ``lo / hi``), then
        ``alpha``.
        """
        alpha = self.config.alpha
        k = math.floor(1.0 / alpha)
        lo = pl.max_horizontal(pl.lit(t) - gap, pl.lit(1))
        cum_hi = min(t, k)
        cumulative = pl.when(lo < cum_hi).then(lo / cum_hi).otherwise(1.0)
        steady = (pl.lit(t) - pl.max_horizontal(lo, pl.lit(k))).clip(lower_bound=0)
        return cumulative * (1.0 - alpha) ** steady.cast(pl.Float64)

    def _window(self, window: pl.DataFrame, start: int) -> pl.DataFrame:
        c = self.config
        t = self.windows_seen
        warm = t >= c.warmup_windows
        a = max(c.alpha, 1.0 / (t + 1))
        self.windows_seen += 1
        state = self.state.filter(pl.col("last_start") >= start - c.ttl_windows * self.hop_ms)
        gap = (pl.lit(start) - pl.col("last_start")) // self.hop_ms - 1
        d = self._decay(gap, t)
        joined = window.drop("acceleration", "trend_score").join(state, on="key", how="left")
        rate = pl.col("originals") * pl.col("velocity") / pl.col("posts")  # originals / size
        size_s = (pl.col("window_end") - pl.col("window_start")) / 1000.0
        noise = pl.max_horizontal(pl.col("var"), pl.col("mean") / size_s)  # >= Poisson's
        scored = (
            joined.with_columns(
                (pl.col("mean") * d).fill_null(0.0).alias("mean"),
                (d * (pl.col("var") + pl.col("mean") ** 2 * (1.0 - d))).fill_null(0.0).alias("var"),
                pl.when(gap == 0).then(pl.col("last_velocity")).otherwise(0.0).alias("prev"),
            )
            .with_columns((rate - pl.col("mean")).alias("diff"))
            .with_columns(
                (pl.col("diff") / (noise + c.floor**2).sqrt()).alias("z"),
                (pl.col("velocity") - pl.col("prev")).alias("acceleration"),
            )
            .with_columns(
                pl.when((pl.col("originals") >= c.min_support) & warm)
                .then(pl.col("z"))
                .otherwise(0.0)
                .alias("trend_score")
            )
        )
        outlier = (pl.col("z").abs() >= c.outlier) & warm
        updated = scored.select(
            "key",
            (pl.col("mean") + a * pl.col("diff")).alias("mean"),
            pl.when(outlier)
            .then(pl.col("var"))
            .otherwise((1.0 - a) * (pl.col("var") + a * pl.col("diff") ** 2))
            .alias("var"),
            pl.lit(start, dtype=pl.Int64).alias("last_start"),
            pl.col("velocity").alias("last_velocity"),
        )
        kept = state.filter(~pl.col("key").is_in(updated["key"].implode()))
        self.state = pl.concat([kept, updated])
        return scored.select(window.columns)

    def top(self, signals: pl.DataFrame) -> pl.DataFrame:
        """The top-K trending keys of the newest window in ``signals``: ``key`` and
        ``trend_score``, highest score first, ties by key (ascending)."""
        if signals.is_empty():
            return signals.select("key", "trend_score")
        newest = signals["window_start"].max()
        return (
            signals.filter((pl.col("window_start") == newest) & self.config.trending())
            .sort(["trend_score", "key"], descending=[True, False])
            .head(self.config.top_k)
            .select("key", "trend_score")
        )
