"""Sentiment columns for a posts frame: English rows scored, the rest marked unscored."""

from __future__ import annotations

import polars as pl

from process.sentiment.score import SCORES, score_texts

__all__ = ["is_english", "with_sentiment"]


def is_english(lang: pl.Expr) -> pl.Expr:
    """The BCP-47 tag is ``en`` or ``en-*``, in any case (null for a null tag)."""
    tag = lang.cast(pl.String).str.to_lowercase()
    return (tag == "en") | tag.str.starts_with("en-")


def with_sentiment(df: pl.DataFrame, text: str = "text", lang: str | None = "lang") -> pl.DataFrame:
    """``df`` plus the Float64 columns compound, pos, neu, neg of :func:`score_texts`.

    With ``lang`` naming a column, a row whose language is set and is not English is not
    scored: null in all four (VADER is an English model; its neutral 0.0 would be a wrong
    answer, not a missing one). ``lang=None`` scores every row as English. Columns of
    those names already in ``df`` are replaced.
    """
    texts = df.get_column(text)
    if lang is None:
        return df.with_columns(score_texts(texts))
    if lang not in df.columns:
        raise ValueError(f"no column {lang!r} in the frame: pass lang=None to score all rows")
    english = df.select(pl.col(lang).is_null() | is_english(pl.col(lang))).to_series()
    if english.all():
        return df.with_columns(score_texts(texts))
    rows = english.arg_true()
    scores = score_texts(texts.gather(rows))
    columns = [
        pl.repeat(None, df.height, dtype=pl.Float64, eager=True)
        .alias(name)
        .scatter(rows, scores.get_column(name))
        for name in SCORES
    ]
    return df.with_columns(columns)
