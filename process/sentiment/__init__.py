"""Vectorised VADER 3.3.2 sentiment for polars batches (see :func:`score_texts`)."""

from __future__ import annotations

from process.sentiment.english import with_sentiment
from process.sentiment.score import SCORES, score_texts

__all__ = ["SCORES", "score_texts", "with_sentiment"]
