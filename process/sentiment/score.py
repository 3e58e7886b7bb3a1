"""VADER 3.3.2 ``polarity_scores`` for a whole batch of texts at once."""

from __future__ import annotations

import numpy as np
import polars as pl

from process.sentiment.but import but_rule
from process.sentiment.lookup import checks, find, hashed, index
from process.sentiment.rules import valences
from process.sentiment.tokens import tokens
from process.sentiment.totals import running_sums, scores

__all__ = ["SCORES", "score_texts"]

#: The score columns, in output order.
SCORES = ("compound", "pos", "neu", "neg")


#: Seeds of the two text hashes that find repeated texts (reposts) in a batch.
_SEED, _CHECK_SEED = 0x7E47, 0xC4EC4
#: Repeated texts are scored once when at least this share of the batch repeats.
_REPEATS = 0.2


def score_texts(texts: pl.Series) -> pl.DataFrame:
    """VADER 3.3.2 ``polarity_scores`` for every text of a batch.

    Returns Float64 columns compound, pos, neu, neg: one row per text, in order, each
    value equal to the reference's (rounded as it rounds); null for a null text. A text
    without tokens (empty, whitespace) scores 0.0 in all four, as in the reference.
    A text repeated in the batch (a repost) is scored once.
    """
    texts = texts.cast(pl.String)
    text = pl.col("text")
    first = texts.to_frame("text").select(text.hash(_SEED).arg_unique()).to_series().to_numpy()
    if len(first) >= (1 - _REPEATS) * len(texts):
        return _score(texts)
    hashes = texts.to_frame("text").select(hashed(text, _SEED, _CHECK_SEED))
    h, c = hashes.get_column("h").to_numpy(), checks(hashes.get_column("c").to_numpy())
    ids = find(index(h[first], c[first], np.arange(len(first), dtype=np.uint32)), h, c)
    if ids is None:  # two texts with the same hash
        return _score(texts)
    return _score(texts.gather(first))[ids]


def _score(texts: pl.Series) -> pl.DataFrame:
    batch = tokens(texts)
    row, pos, values = valences(batch)
    values = but_rule(batch, row, pos, values)
    sum_s, pos_sum, neg_sum, nonzero = running_sums(row, values, len(texts))
    has = np.flatnonzero(batch.n > 0)
    every = len(has) == len(texts)  # then no gathers: every text has tokens

    def scored(array: np.ndarray) -> np.ndarray:
        return array if every else array[has]

    result = scores(
        scored(sum_s),
        scored(pos_sum),
        scored(neg_sum),
        scored(batch.n - nonzero),
        scored(batch.bangs),
        scored(batch.quests),
    )
    missing = np.flatnonzero(texts.is_null().to_numpy()) if texts.has_nulls() else None
    columns = []
    for name in SCORES:
        if every:
            column = result[name]
        else:
            column = np.zeros(len(texts), dtype=np.float64)
            column[has] = result[name]
        series = pl.Series(name, column)
        columns.append(series if missing is None else series.scatter(missing, None))
    return pl.DataFrame(columns)
