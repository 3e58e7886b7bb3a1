"""VADER 3.3.2 ``polarity_scores`` for a whole batch of texts at once."""

from __future__ import annotations

import numpy as np
import polars as pl

from process.sentiment.but import but_rule
from process.sentiment.rules import valences
from process.sentiment.tokens import tokens
from process.sentiment.totals import running_sums, scores

__all__ = ["SCORES", "score_texts"]

#: The score columns, in output order.
SCORES = ("compound", "pos", "neu", "neg")


def score_texts(texts: pl.Series) -> pl.DataFrame:
    """VADER 3.3.2 ``polarity_scores`` for every text of a batch.

    Returns Float64 columns compound, pos, neu, neg: one row per text, in order, each
    value equal to the reference's (rounded as it rounds); null for a null text. A text
    without tokens (empty, whitespace) scores 0.0 in all four, as in the reference.
    """
    batch = tokens(texts)
    scored = valences(batch)
    row = scored.get_column("row").to_numpy()
    pos = scored.get_column("pos").to_numpy()
    values = but_rule(batch, row, pos, scored.get_column("sentiment").to_numpy())
    sum_s, pos_sum, neg_sum, nonzero = running_sums(row, values, len(texts))
    has = np.flatnonzero(batch.n > 0)
    result = scores(
        sum_s[has],
        pos_sum[has],
        neg_sum[has],
        (batch.n - nonzero)[has],
        batch.bangs[has],
        batch.quests[has],
    )
    missing = np.flatnonzero(texts.is_null().to_numpy())
    columns = []
    for name in SCORES:
        column = np.zeros(len(texts), dtype=np.float64)
        column[has] = result[name]
        columns.append(pl.Series(name, column).scatter(missing, None))
    return pl.DataFrame(columns)
