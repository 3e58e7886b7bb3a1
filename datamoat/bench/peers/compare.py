"""Do two systems' window rows agree? The same windows, the same ``*`` counts, and per
window and key the same post count and a sentiment mean equal to ``tolerance``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from datamoat.bench.peers.common import STREAM_KEY

__all__ = ["ROW_SCHEMA", "Agreement", "agree", "read_ndjson_rows", "read_signal_rows"]

ROW_SCHEMA = pl.Schema(
    {"window_start": pl.Int64, "key": pl.String, "posts": pl.Int64, "sentiment_mean": pl.Float64}
)


@dataclass(frozen=True)
class Agreement:
    windows: int
    rows: int
    #: Window starts one side has and the other lacks.
    missing_windows: list[int] = field(default_factory=list)
    extra_windows: list[int] = field(default_factory=list)
    #: Windows whose ``*`` post counts differ.
    star_count_diffs: int = 0
    #: (window, key) rows on one side only, or with different post counts.
    row_diffs: int = 0
    #: Rows whose sentiment means differ by more than the tolerance (or one is null).
    sentiment_diffs: int = 0
    max_sentiment_diff: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing_windows or self.extra_windows or self.star_count_diffs
                    or self.row_diffs or self.sentiment_diffs)  # fmt: skip

    def describe(self) -> str:
        if self.ok:
            return (f"agree: {self.windows} windows, {self.rows:,} rows, sentiment within "
                    f"{self.max_sentiment_diff:.1e}")  # fmt: skip
        return (
            f"DISAGREE: windows missing {self.missing_windows[:5]} extra "
            f"{self.extra_windows[:5]}, '*' counts {self.star_count_diffs}, rows "
            f"{self.row_diffs}, sentiment {self.sentiment_diffs} (max diff "
            f"{self.max_sentiment_diff:.1e})"
        )


def agree(want: pl.DataFrame, got: pl.DataFrame, tolerance: float = 1e-9) -> Agreement:
    """Compare ``got`` with ``want`` (both :data:`ROW_SCHEMA`)."""
    want_w = set(want["window_start"].unique().to_list())
    got_w = set(got["window_start"].unique().to_list())
    star = (
        want.filter(pl.col("key") == STREAM_KEY)
        .join(
            got.filter(pl.col("key") == STREAM_KEY),
            on="window_start",
            how="full",
            coalesce=True,
            suffix="_got",
        )
        .filter(pl.col("posts").ne_missing(pl.col("posts_got")))
    )
    rows = want.join(got, on=["window_start", "key"], how="full", coalesce=True, suffix="_got")
    counted = rows.filter(pl.col("posts").ne_missing(pl.col("posts_got")))
    both = rows.filter(pl.col("posts").eq_missing(pl.col("posts_got")))
    diff = (pl.col("sentiment_mean") - pl.col("sentiment_mean_got")).abs()
    sentiment = both.select(
        (
            (diff > tolerance)
            | (pl.col("sentiment_mean").is_null() != pl.col("sentiment_mean_got").is_null())
        )
        .sum()
        .alias("differ"),
        diff.max().alias("max_diff"),
    ).row(0)
    return Agreement(
        windows=len(want_w),
        rows=want.height,
        missing_windows=sorted(want_w - got_w),
        extra_windows=sorted(got_w - want_w),
        star_count_diffs=star.height,
        row_diffs=counted.height,
        sentiment_diffs=int(sentiment[0] or 0),
        max_sentiment_diff=float(sentiment[1] or 0.0),
    )


def read_signal_rows(output_dir: Path) -> pl.DataFrame:
    """datamoat's rows from the Parquet signals under ``output_dir``."""
    files = sorted((output_dir / "signals").glob("**/*.parquet"))
    if not files:
        return pl.DataFrame(schema=ROW_SCHEMA)
    return pl.read_parquet(files).select(ROW_SCHEMA.names()).cast(ROW_SCHEMA)


def read_ndjson_rows(path: Path) -> pl.DataFrame:
    """A peer's rows (NDJSON written by :func:`datamoat.bench.peers.common.write_rows`)."""
    if not path.exists() or path.stat().st_size == 0:
        return pl.DataFrame(schema=ROW_SCHEMA)
    return pl.read_ndjson(path, schema=ROW_SCHEMA)
