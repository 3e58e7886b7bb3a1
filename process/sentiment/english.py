"""Sentiment columns for a posts frame: English rows scored, the rest marked unscored."""

from __future__ import annotations

import polars as pl

from process.sentiment.score import SCORES, score_texts

__all__ = ["is_english", "with_sentiment"]


def is_english(lang: pl.Expr) -> pl.Expr:
    """BCP-47 tag ``en`` or ``en-*`` (any case)."""
    tag = lang.str.to_lowercase()
    return (tag == "en") | tag.str.starts_with("en-")


def with_sentiment(df: pl.DataFrame, text: str = "text", lang: str | None = "lang") -> pl.DataFrame:
    """``df`` plus the Float64 columns compound, pos, neu, neg of :func:`score_texts`.

    With ``lang`` naming a column, rows whose language is set and is not English are not
    scored (null in all four). ``lang=None`` scores every row as English.
    """
    if lang is None:
        return pl.concat([df, score_texts(df.get_column(text))], how="horizontal")
    if lang not in df.columns:
        raise ValueError(f"no column {lang!r} in the frame: pass lang=None to score all rows")
    scored_rows = (pl.col(lang).is_null() | is_english(pl.col(lang))).fill_null(False)
    mask = df.select(scored_rows.alias("m")).get_column("m")
    scores = score_texts(df.get_column(text).filter(mask))
    index = pl.Series("i", range(len(df))).filter(mask)
    columns = []
    for name in SCORES:
        full = pl.Series(name, [None] * len(df), dtype=pl.Float64)
        columns.append(full.scatter(index, scores.get_column(name)))
    return df.with_columns(columns)
