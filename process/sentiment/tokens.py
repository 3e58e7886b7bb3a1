"""Text to tokens, the way VADER 3.3.2 sees them, for a whole batch at once.

Emoji become their descriptions (a space before unless the emoji follows a space, none
after), the text is split on whitespace (Python's ``str.split()`` set) and each token loses
its leading and trailing ASCII punctuation unless that leaves two characters or fewer.

String work is done once per distinct token of the batch (a few tens of thousands in a
batch of 20k posts); every token then picks its features up by index.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from process.sentiment.distinct import distinct
from process.sentiment.lexicon import tables

__all__ = ["Batch", "tokens"]

#: Python's ``str.isspace`` set (all of it lies below U+3001).
_SPACES = [c for c in map(chr, range(0x3001)) if c.isspace() and c != " "]
#: ``str.isupper``: some character of the Uppercase property, none Lowercase or titlecase.
_UPPER = r"^[^\p{Lowercase}\p{Lt}]*\p{Uppercase}[^\p{Lowercase}\p{Lt}]*$"
#: Texts with one of these may hold an emoji or a space other than " " (ASCII part).
_CONTROLS = r"[\t-\r\x1c-\x1f]"
#: Tokens are told apart by a 64-bit hash, confirmed by a second independent one.
_SEED, _CHECK_SEED = 0x5EED, 0xC0FFEE


@dataclass(frozen=True)
class Batch:
    """A batch cut into tokens.

    Per text: ``n`` tokens, ``start`` (index of its first token), ``bangs`` and ``quests``
    (counts of '!' and '?'), ``capdiff`` (some but not all tokens ALL CAPS). Per token, in
    text order: ``row``, ``word`` (index into the distinct words) and ``in_lex``. Per
    distinct word: ``in_lex_word``, ``lexv`` (lexicon valence, NaN if none), ``boostv``
    (booster scalar, NaN if none), ``negator``, ``code`` (see :data:`.lexicon.CODES`) and
    ``upper`` (``str.isupper``).
    """

    n: np.ndarray
    start: np.ndarray
    bangs: np.ndarray
    quests: np.ndarray
    capdiff: np.ndarray
    row: np.ndarray
    word: np.ndarray
    in_lex: np.ndarray
    in_lex_word: np.ndarray
    lexv: np.ndarray
    boostv: np.ndarray
    negator: np.ndarray
    code: np.ndarray
    upper: np.ndarray


@cache
def _replacements() -> tuple[list[str], list[str]]:
    # An extra space before an emoji changes no token and no '!' or '?' count.
    emoji = tables().emoji
    return [*emoji, *_SPACES], [" " + d for d in emoji.values()] + [" "] * len(_SPACES)


def _described(texts: pl.Series) -> pl.Series:
    """Emoji replaced by their descriptions, every whitespace character by " "."""
    text = pl.col("text")
    special = (text.str.len_bytes() != text.str.len_chars()) | text.str.contains(_CONTROLS)
    at = texts.to_frame("text").select(special).to_series().arg_true()
    if at.len() == 0:
        return texts
    patterns, replacements = _replacements()
    return texts.clone().scatter(at, texts.gather(at).str.replace_many(patterns, replacements))


def _features(words: pl.DataFrame) -> pl.DataFrame:
    """Lexicon features of distinct raw tokens (column ``raw``), in the same order."""
    raw = pl.col("raw")
    stripped = raw.str.strip_chars(string.punctuation)
    word = pl.when(stripped.str.len_chars() <= 2).then(raw).otherwise(stripped)
    return (
        words.lazy()
        .select(
            word.str.to_lowercase().alias("lw"),
            raw.str.contains(_UPPER).alias("upper"),
        )
        .join(tables().words.lazy(), on="lw", how="left", maintain_order="left")
        .select(
            pl.col("lexv").fill_null(np.nan),
            pl.col("boostv").fill_null(np.nan),
            pl.col("negator").fill_null(False) | pl.col("lw").str.contains("n't", literal=True),
            pl.col("code").fill_null(0),
            "upper",
        )
        .collect()
    )


def _distinct_exact(toks: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """The distinct tokens and the index of each token among them, by their text."""
    words = toks.select("raw").filter(pl.col("raw").is_first_distinct())
    ids = (
        toks.select("raw")
        .join(words.with_row_index("id"), on="raw", how="left", maintain_order="left")
        .get_column("id")
    )
    return words, ids.to_numpy()


def tokens(texts: pl.Series) -> Batch:
    """Cut a batch of texts (null = empty) into tokens with their lexicon features."""
    described = _described(texts.cast(pl.String).fill_null("")).to_frame("text").lazy()
    counts = described.select(
        pl.col("text").str.count_matches("!", literal=True).alias("bangs"),
        pl.col("text").str.count_matches("?", literal=True).alias("quests"),
    )
    split = (
        described.select(pl.col("text").str.split(" ").alias("raw"))
        .with_row_index("row")
        .explode("raw")
        .filter(pl.col("raw") != "")
        .with_columns(
            pl.col("raw").hash(_SEED).alias("h"), pl.col("raw").hash(_CHECK_SEED).alias("h2")
        )
    )
    counted, toks = pl.collect_all([counts, split])
    ids, first = distinct(toks.get_column("h").to_numpy())
    check = toks.get_column("h2").to_numpy()
    if np.array_equal(check[first][ids], check):
        words = toks.get_column("raw").gather(first).to_frame()
    else:  # two different tokens with the same hash: go by their text
        words, ids = _distinct_exact(toks)
    features = {name: column.to_numpy() for name, column in _features(words).to_dict().items()}
    row = toks.get_column("row").to_numpy()
    in_lex_word = ~np.isnan(features["lexv"])
    n = np.bincount(row, minlength=len(texts))
    shouting = np.bincount(row[features["upper"][ids]], minlength=len(texts))
    return Batch(
        n=n,
        start=np.cumsum(n) - n,
        bangs=counted.get_column("bangs").to_numpy(),
        quests=counted.get_column("quests").to_numpy(),
        capdiff=(shouting > 0) & (shouting < n),
        row=row,
        word=ids,
        in_lex=in_lex_word[ids],
        in_lex_word=in_lex_word,
        **features,
    )
