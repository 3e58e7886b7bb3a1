"""The signal record (contract: docs/ARCHITECTURE.md): one row per closed window and key."""

from __future__ import annotations

from typing import Final

import polars as pl

from process.aggregate import GROUP, PARTIAL_SCHEMA, UNIQUE_SCHEMA, merge_partials

__all__ = ["CASCADE_DTYPE", "SIGNAL_SCHEMA", "finalise", "finalise_totals"]

CASCADE_DTYPE: Final = pl.List(
    pl.Struct(
        {
            "root_id": pl.Int64(),
            "reposts": pl.Int64(),
            "size": pl.Int64(),
            "depth": pl.Int64(),
        }
    )
)

SIGNAL_SCHEMA: Final = pl.Schema(
    {
        "window_start": pl.Int64(),
        "window_end": pl.Int64(),
        "key": pl.String(),
        "posts": pl.Int64(),
        "originals": pl.Int64(),
        "reposts": pl.Int64(),
        "replies": pl.Int64(),
        "quotes": pl.Int64(),
        "unique_authors": pl.Int64(),
        "reach": pl.Int64(),
        "scored": pl.Int64(),
        "sentiment_mean": pl.Float64(),
        "positive_share": pl.Float64(),
        "neutral_share": pl.Float64(),
        "negative_share": pl.Float64(),
        "velocity": pl.Float64(),
        "acceleration": pl.Float64(),
        "trend_score": pl.Float64(),
        "top_cascades": CASCADE_DTYPE,
    }
)


def finalise(
    partial_frames: list[pl.DataFrame], unique_frames: list[pl.DataFrame], size_ms: int
) -> pl.DataFrame:
    """Signals of closed windows from their partials and unique-author triples."""
    merged = merge_partials(partial_frames, GROUP)
    if merged.is_empty():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    authors = (
        pl.concat([u.select(UNIQUE_SCHEMA.names()) for u in unique_frames])
        .group_by(GROUP)
        .agg(pl.col("author_id").n_unique().cast(pl.Int64()).alias("unique_authors"))
    )
    totals = merged.select(PARTIAL_SCHEMA.names()).join(authors, on=list(GROUP), how="left")
    return finalise_totals(totals, size_ms)


def finalise_totals(totals: pl.DataFrame, size_ms: int) -> pl.DataFrame:
    """Signals of closed windows from their summed partials with ``unique_authors``.

    ``acceleration``, ``trend_score`` and ``top_cascades`` need state across windows; they
    are left empty here and filled by :mod:`process.trends` and :mod:`process.cascades`.
    """
    if totals.is_empty():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    scored = pl.col("scored")

    def share(name: str) -> pl.Expr:
        return pl.when(scored > 0).then(pl.col(name) / scored)

    return (
        totals.with_columns(
            (pl.col("window_start") + size_ms).alias("window_end"),
            pl.when(scored > 0).then(pl.col("sentiment_sum") / scored).alias("sentiment_mean"),
            share("positive").alias("positive_share"),
            share("neutral").alias("neutral_share"),
            share("negative").alias("negative_share"),
            (pl.col("posts") / (size_ms / 1000.0)).alias("velocity"),
            pl.lit(None, dtype=pl.Float64()).alias("acceleration"),
            pl.lit(None, dtype=pl.Float64()).alias("trend_score"),
            pl.lit(None, dtype=CASCADE_DTYPE).alias("top_cascades"),
        )
        .select(SIGNAL_SCHEMA.names())
        .sort(GROUP)
    )
