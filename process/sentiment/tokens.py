"""Text to tokens, the way VADER 3.3.2 sees them, for a whole batch at once.

Emoji become their descriptions (a space before unless the emoji follows a space, none
after), the text is split on whitespace (Python's ``str.split()`` set) and each token loses
its leading and trailing ASCII punctuation unless that leaves two characters or fewer.

String work is done once per distinct token of the batch (a few tens of thousands in a
batch of 20k posts). Distinct tokens with no feature at all (not in the lexicon, not a rule
word, not ALL CAPS) share the tag 0; every other one gets its own tag, and each token picks
its tag up by hash (:mod:`.lookup`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from process.sentiment.lexicon import tables
from process.sentiment.lookup import hashed, keys, lookup

__all__ = ["Batch", "tokens"]

#: Python's ``str.isspace`` set (all of it lies below U+3001).
_SPACES = [c for c in map(chr, range(0x3001)) if c.isspace() and c != " "]
#: ``str.isupper``: some character of the Uppercase property, none Lowercase or titlecase.
_UPPER = r"^[^\p{Lowercase}\p{Lt}]*\p{Uppercase}[^\p{Lowercase}\p{Lt}]*$"
#: A tidied text with a token that is not ALL CAPS: a lower- or titlecase letter, or a
#: token without an uppercase one.
_NOT_ALL_UPPER = r"[\p{Lowercase}\p{Lt}]|(?:^| )[^\p{Uppercase} ]+(?: |$)"
#: Texts with one of these may hold an emoji or a space other than " " (ASCII part).
_CONTROLS = r"[\t-\r\x1c-\x1f]"
#: Seeds of the token hash and of its independent check.
_SEED, _CHECK_SEED = 0x5EED, 0xC0FFEE
#: The per-tag feature columns, in :class:`Batch` order.
_FEATURES = ("lexv", "boostv", "negator", "code", "upper")


@dataclass(frozen=True)
class Batch:
    """A batch cut into tokens.

    Per text: ``texts`` (tidied: tokens between single spaces), ``n`` tokens, ``start``
    (index of its first token), ``bangs`` and ``quests`` (counts of '!' and '?'). Per token,
    in text order: ``word`` (its tag). ``at``: the indices of the lexicon tokens. Per tag
    (0: none of the following): ``in_lex_word``, ``lexv`` (lexicon valence, NaN if none),
    ``boostv`` (booster scalar, NaN if none), ``negator``, ``code`` (see
    :data:`.lexicon.CODES`) and ``upper`` (``str.isupper``).
    """

    texts: pl.Series
    n: np.ndarray
    start: np.ndarray
    bangs: np.ndarray
    quests: np.ndarray
    word: np.ndarray
    at: np.ndarray
    in_lex_word: np.ndarray
    lexv: np.ndarray
    boostv: np.ndarray
    negator: np.ndarray
    code: np.ndarray
    upper: np.ndarray

    def rows(self, at: np.ndarray) -> np.ndarray:
        """The text of each token at ``at``."""
        return np.searchsorted(self.start, at, side="right") - 1

    def not_all_upper(self, rows: np.ndarray) -> np.ndarray:
        """For texts ``rows``: some token is not ALL CAPS."""
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        return self.texts.gather(rows).str.contains(_NOT_ALL_UPPER).to_numpy()


@cache
def _replacements() -> tuple[pl.Series, pl.Series]:
    # An extra space before an emoji changes no token and no '!' or '?' count.
    emoji = tables().emoji
    patterns = [*emoji, *_SPACES]
    replacements = [" " + d for d in emoji.values()] + [" "] * len(_SPACES)
    return (
        pl.Series(patterns, dtype=pl.String).implode(),
        pl.Series(replacements, dtype=pl.String).implode(),
    )


def _described(texts: pl.Series) -> pl.Series:
    """Emoji replaced by their descriptions, every run of whitespace by one " " and none
    left at either end: the tokens are then exactly the pieces between single spaces."""
    text = pl.col("text")
    special = (text.str.len_bytes() != text.str.len_chars()) | text.str.contains(_CONTROLS)
    spaced = text.str.contains("  ", literal=True) | text.str.starts_with(" ")
    flags = texts.to_frame("text").select(
        special.alias("special"), (special | spaced | text.str.ends_with(" ")).alias("untidy")
    )
    at = flags.get_column("untidy").arg_true()
    if at.len() == 0:
        return texts
    untidy = texts.gather(at)
    special_at = flags.get_column("special").gather(at).arg_true()
    if special_at.len():
        patterns, replacements = _replacements()
        emoji = untidy.gather(special_at).str.replace_many(patterns, replacements)
        untidy = untidy.scatter(special_at, emoji)
    return texts.clone().scatter(at, untidy.str.replace_all(" {2,}", " ").str.strip_chars(" "))


def _features(words: pl.Series) -> pl.DataFrame:
    """The distinct raw tokens ``words`` that are rule words, lexicon words or negators:
    their index ``word`` among ``words`` (ascending) and their features."""
    raw = pl.col("raw")
    stripped = raw.str.strip_chars(string.punctuation)
    lw = pl.when(stripped.str.len_chars() <= 2).then(raw).otherwise(stripped).str.to_lowercase()
    contracted = pl.col("lw").str.contains("n't", literal=True)
    return (
        words.to_frame("raw")
        .lazy()
        .with_row_index("word")
        .with_columns(lw.alias("lw"))
        .join(tables().words.lazy(), on="lw", how="left", maintain_order="left")
        .filter(pl.col("code").is_not_null() | contracted)
        .select(
            "word",
            pl.col("lexv").fill_null(np.nan),
            pl.col("boostv").fill_null(np.nan),
            pl.col("negator").fill_null(False) | contracted,
            pl.col("code").fill_null(0),
            raw.str.contains(_UPPER).alias("upper"),
        )
        .collect(engine="in-memory")
    )


def _tagged(words: pl.Series) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The tag of each of the distinct ``words`` and the features of each tag."""
    found = _features(words)
    tag = np.zeros(len(words), dtype=np.uint16 if found.height < (1 << 16) - 1 else np.uint32)
    tag[found.get_column("word").to_numpy()] = np.arange(1, found.height + 1)
    none = pl.DataFrame(
        {"lexv": [np.nan], "boostv": [np.nan], "negator": [False], "code": [0], "upper": [False]},
        schema=found.select(_FEATURES).schema,
    )
    table = pl.concat([none, found.select(_FEATURES)])
    return tag, {name: table.get_column(name).to_numpy() for name in _FEATURES}


def _exact(toks: pl.DataFrame) -> tuple[pl.Series, np.ndarray]:
    """The distinct tokens and the index of each token among them, by their text."""
    words = toks.select("raw").filter(pl.col("raw").is_first_distinct())
    ids = (
        toks.select("raw")
        .join(words.with_row_index("id"), on="raw", how="left", maintain_order="left")
        .get_column("id")
    )
    return words.to_series(), ids.to_numpy()


def tokens(texts: pl.Series) -> Batch:
    """Cut a batch of texts (null = empty) into tokens with their lexicon features."""
    described = _described(texts.cast(pl.String).fill_null("")).to_frame("text")
    text, pieces = pl.col("text"), pl.col("raw")
    parts = described.select(
        text.str.count_matches("!", literal=True).alias("bangs"),
        text.str.count_matches("?", literal=True).alias("quests"),
        pl.when(text != "").then(text.str.split(" ")).alias("raw"),
    )
    toks = (
        parts.lazy()
        .select(pieces.explode(keep_nulls=False))
        .with_columns(hashed(pieces, _SEED, _CHECK_SEED))
        .collect(engine="in-memory")
    )
    toks = toks.rechunk()
    found = keys(toks)
    tag, features = _tagged(toks.get_column("raw").gather(found.first))
    word = lookup(found, tag)
    if word is None:  # two different tokens with the same hash: go by their text
        words, ids = _exact(toks)
        tag, features = _tagged(words)
        word = tag[ids]
    n = parts.select(pieces.list.len().fill_null(0)).to_series().to_numpy().astype(np.int64)
    in_lex_word = ~np.isnan(features["lexv"])
    return Batch(
        texts=described.to_series(),
        n=n,
        start=np.cumsum(n) - n,
        bangs=parts.get_column("bangs").to_numpy(),
        quests=parts.get_column("quests").to_numpy(),
        word=word,
        at=np.flatnonzero(in_lex_word[word]),
        in_lex_word=in_lex_word,
        **features,
    )
