"""Trend scores: each key's velocity against its own exponentially weighted baseline.

Per key the state holds an EWMA mean and variance of velocity over the windows in which the
key appeared, the start of its last window and its velocity there. For a newly closed
window of a key:

* the baseline decays over the windows the key was absent (``(1 - alpha) ** gap``);
* ``acceleration`` = velocity - velocity of the previous window (0 when the key was absent);
* ``trend_score`` = ``(velocity - mean) / sqrt(variance + floor**2)`` when the window has at
  least ``min_support`` posts, else 0, so a rare hashtag can't trend on two posts; during
  the first ``warmup_windows`` of the stream every score is 0 (no baseline yet);
* then the baseline takes the new velocity in (the EWMA update of mean and variance).

Keys silent for longer than ``ttl_windows`` are dropped, so the long tail of hashtags does
not grow the state without bound. Windows must be applied in ascending order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

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
    alpha: float = 0.1
    floor: float = 0.5  # posts/s: the noise floor under the baseline's deviation
    min_support: int = 20
    ttl_windows: int = 360
    top_k: int = 10
    warmup_windows: int = 6  # no key trends before the stream has this much baseline


@dataclass(slots=True)
class TrendTracker:
    config: TrendConfig
    hop_ms: int
    state: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=TREND_STATE_SCHEMA))
    windows_seen: int = 0

    def apply(self, signals: pl.DataFrame) -> pl.DataFrame:
        """Fill ``acceleration`` and ``trend_score`` of closed windows, oldest first."""
        if signals.is_empty():
            return signals
        out = [
            self._window(signals.filter(pl.col("window_start") == start), start)
            for start in signals["window_start"].unique().sort().to_list()
        ]
        return pl.concat(out)

    def _window(self, window: pl.DataFrame, start: int) -> pl.DataFrame:
        c = self.config
        warm = self.windows_seen >= c.warmup_windows
        self.windows_seen += 1
        gap = (pl.lit(start) - pl.col("last_start")) // self.hop_ms - 1
        decay = (1.0 - c.alpha) ** gap.cast(pl.Float64)
        joined = window.drop("acceleration", "trend_score").join(self.state, on="key", how="left")
        scored = joined.with_columns(
            (pl.col("mean") * decay).fill_null(0.0).alias("mean"),
            (pl.col("var") * decay).fill_null(0.0).alias("var"),
            pl.when(gap == 0).then(pl.col("last_velocity")).otherwise(0.0).alias("prev"),
        ).with_columns(
            (pl.col("velocity") - pl.col("prev")).alias("acceleration"),
            pl.when((pl.col("posts") >= c.min_support) & warm)
            .then((pl.col("velocity") - pl.col("mean")) / (pl.col("var") + c.floor**2).sqrt())
            .otherwise(0.0)
            .alias("trend_score"),
            (pl.col("velocity") - pl.col("mean")).alias("diff"),
        )
        updated = scored.select(
            "key",
            (pl.col("mean") + c.alpha * pl.col("diff")).alias("mean"),
            ((1.0 - c.alpha) * (pl.col("var") + c.alpha * pl.col("diff") ** 2)).alias("var"),
            pl.lit(start, dtype=pl.Int64).alias("last_start"),
            pl.col("velocity").alias("last_velocity"),
        )
        horizon = start - c.ttl_windows * self.hop_ms
        kept = self.state.filter(
            ~pl.col("key").is_in(updated["key"].implode()) & (pl.col("last_start") >= horizon)
        )
        self.state = pl.concat([kept, updated])
        return scored.select(window.columns)

    def top(self, signals: pl.DataFrame) -> pl.DataFrame:
        """The top-K trending keys (not ``*``) of the newest window in ``signals``."""
        if signals.is_empty():
            return signals.select("key", "trend_score")
        newest = signals["window_start"].max()
        return (
            signals.filter((pl.col("window_start") == newest) & (pl.col("key") != "*"))
            .filter(pl.col("trend_score") > 0)
            .sort(["trend_score", "key"], descending=[True, False])
            .head(self.config.top_k)
            .select("key", "trend_score")
        )
