"""Tokens with their lexicon features, the way VADER 3.3.2 sees them, for a whole batch.

Each token (see :mod:`.split`) loses its leading and trailing ASCII punctuation unless that
leaves two characters or fewer, and is looked up lower-cased in the lexicon tables.

String work is done once per distinct token of the batch (a few tens of thousands in a
batch of 20k posts). Distinct tokens that are neither lexicon nor rule words nor negators
share one tag; every other one gets its own, and each token picks its tag up by hash
(:mod:`.lookup`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import polars as pl

from process.sentiment.lexicon import CODES, tables
from process.sentiment.split import described, split, split_exact

__all__ = ["NOT_ALL_UPPER", "UPPER", "Batch", "tokens"]

#: ``str.isupper``: some character of the Uppercase property, none Lowercase or titlecase.
UPPER = r"^[^\p{Lowercase}\p{Lt}]*\p{Uppercase}[^\p{Lowercase}\p{Lt}]*$"
#: A tidied text with a token that is not ALL CAPS: a lower- or titlecase letter, or a
#: token without an uppercase one.
NOT_ALL_UPPER = r"[\p{Lowercase}\p{Lt}]|(?:^| )[^\p{Uppercase} ]+(?: |$)"
#: The per-tag feature columns, in :class:`Batch` order.
_FEATURES = ("lexv", "boostv", "negator", "code", "upper")


@dataclass(frozen=True)
class Batch:
    """A batch cut into tokens.

    Per text: ``texts`` (tidied: tokens between single spaces), ``n`` tokens, ``start``
    (index of its first token), ``bangs`` and ``quests`` (counts of '!' and '?'). Per token,
    in text order: ``word`` (its tag). ``at`` and ``buts``: the indices of the lexicon
    tokens and of the "but" tokens. Per tag (one for all tokens without any of these):
    ``in_lex_word``, ``lexv`` (lexicon valence, NaN if none), ``boostv`` (booster scalar,
    NaN if none), ``negator``, ``code`` (see :data:`.lexicon.CODES`) and ``upper``
    (``str.isupper``; set for lexicon, rule words and negators only).
    """

    texts: pl.Series
    n: np.ndarray
    start: np.ndarray
    bangs: np.ndarray
    quests: np.ndarray
    word: np.ndarray
    at: np.ndarray
    buts: np.ndarray
    in_lex_word: np.ndarray
    lexv: np.ndarray
    boostv: np.ndarray
    negator: np.ndarray
    code: np.ndarray
    upper: np.ndarray

    def rows(self, at: np.ndarray) -> np.ndarray:
        """The text of each token at ``at`` (ascending)."""
        if len(at) < len(self.n):
            return np.searchsorted(self.start, at, side="right") - 1
        before = np.searchsorted(at, self.start + self.n)  # of them, up to each text's end
        return np.repeat(np.arange(len(self.n)), np.diff(before, prepend=0))

    def not_all_upper(self, rows: np.ndarray) -> np.ndarray:
        """For texts ``rows``: some token is not ALL CAPS."""
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        return self.texts.gather(rows).str.contains(NOT_ALL_UPPER).to_numpy()


def _features(words: pl.Series) -> pl.DataFrame:
    """The distinct raw tokens ``words`` that are rule words, lexicon words or negators:
    their index ``word`` among ``words`` and their features."""
    raw, stripped = pl.col("raw"), pl.col("stripped")
    lw = pl.when(stripped.str.len_chars() <= 2).then(raw).otherwise(stripped).str.to_lowercase()
    contracted = pl.col("lw").str.contains("n't", literal=True)
    known = pl.col("lw").is_in(tables().words.get_column("lw").implode())
    return (
        words.to_frame("raw")
        .lazy()
        .with_row_index("word")
        .with_columns(raw.str.strip_chars(string.punctuation).alias("stripped"))
        .select("word", "raw", lw.alias("lw"))
        .filter(known | contracted)
        .join(tables().words.lazy(), on="lw", how="left")
        .select(
            "word",
            pl.col("lexv").fill_null(np.nan),
            pl.col("boostv").fill_null(np.nan),
            pl.col("negator").fill_null(False) | contracted,
            pl.col("code").fill_null(0),
            raw.str.contains(UPPER).alias("upper"),
        )
        .collect(engine="in-memory")
    )


@dataclass(frozen=True)
class _Tags:
    """Per distinct word, its ``tag``; per tag, its ``features``. Tags below ``lexicon``
    are the lexicon words', tag ``none`` is every word without a feature and the tags above
    it are the words "but" (any case and punctuation)."""

    tag: np.ndarray
    features: dict[str, np.ndarray]
    lexicon: int
    none: int


def _tagged(words: pl.Series) -> _Tags:
    """The tags of the distinct ``words``, in the order of :class:`_Tags`: a token's kind
    is then one comparison of its tag."""
    found = _features(words)
    columns = {name: found.get_column(name).to_numpy() for name in ("word", *_FEATURES)}
    lexicon = ~np.isnan(columns["lexv"])
    kind = np.where(lexicon, 0, np.where(columns["code"] == CODES["but"], 2, 1))
    order = np.argsort(kind, kind="stable")
    lexicon_tags, none = int(np.count_nonzero(lexicon)), int(np.count_nonzero(kind < 2))
    tag = np.full(len(words), none, dtype=np.uint16 if found.height < 1 << 16 else np.uint32)
    tag[columns["word"][order]] = np.r_[0:none, none + 1 : found.height + 1]  # skip ``none``
    nothing = {"lexv": np.nan, "boostv": np.nan, "negator": False, "code": 0, "upper": False}
    features = {
        name: np.insert(columns[name][order], none, value) for name, value in nothing.items()
    }
    return _Tags(tag=tag, features=features, lexicon=lexicon_tags, none=none)


def tokens(texts: pl.Series) -> Batch:
    """Cut a batch of texts (null = empty) into tokens with their lexicon features."""
    tidy = described(texts.cast(pl.String).fill_null(""))
    cut = split(tidy)
    tags = _tagged(cut.words)
    word = cut.values(tags.tag)
    if word is None:  # two different tokens with the same hash: go by their text
        words, ids = split_exact(tidy)
        tags = _tagged(words)
        word = tags.tag[ids]
    return Batch(
        texts=tidy,
        n=cut.n,
        start=np.cumsum(cut.n) - cut.n,
        bangs=cut.bangs,
        quests=cut.quests,
        word=word,
        at=np.flatnonzero(word < tags.lexicon),
        buts=np.flatnonzero(word > tags.none),
        in_lex_word=~np.isnan(tags.features["lexv"]),
        **tags.features,
    )
