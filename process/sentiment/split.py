"""Texts to hashed tokens, the way VADER 3.3.2 splits them, for a whole batch at once.

Emoji become their descriptions (a space before unless the emoji follows a space, none
after) and the text is split on whitespace (Python's ``str.split()`` set): every run of
whitespace becomes one " " and the tokens are the pieces between.

What is kept is each token's hash and check, and the text of each distinct token.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import polars as pl

from process.sentiment.lexicon import tables
from process.sentiment.lookup import checks, find, hashed, index

__all__ = ["Split", "described", "split", "split_exact"]

#: Python's ``str.isspace`` set (all of it lies below U+3001).
SPACES = [c for c in map(chr, range(0x3001)) if c.isspace() and c != " "]
#: Texts with one of these may hold a space other than " " (ASCII part).
_CONTROLS = r"[\t-\r\x1c-\x1f]"
#: The characters that may be an emoji or a space other than " ".
_SPECIAL = r"[^ -~]"
#: Seeds of the token hash and of its independent check.
_SEED, _CHECK_SEED = 0x5EED, 0xC0FFEE


@cache
def _replacements() -> pl.DataFrame:
    """Each emoji and each whitespace character other than " ", with what replaces it."""
    # An extra space before an emoji changes no token and no '!' or '?' count.
    emoji = tables().emoji
    return pl.DataFrame(
        {
            "char": [*emoji, *SPACES],
            "by": [" " + d for d in emoji.values()] + [" "] * len(SPACES),
        }
    )


def described(texts: pl.Series) -> pl.Series:
    """Emoji replaced by their descriptions, every run of whitespace by one " " and none
    left at either end: the tokens are then exactly the pieces between single spaces."""
    text = pl.col("text")
    untidy = (
        (text.str.len_bytes() != text.str.len_chars())
        | text.str.contains(_CONTROLS)
        | text.str.contains("  ", literal=True)
        | text.str.starts_with(" ")
        | text.str.ends_with(" ")
    )
    at = texts.to_frame("text").select(untidy).to_series().arg_true()
    if at.len() == 0:
        return texts
    part = texts.gather(at)
    # Only the replacements for the characters there: a small automaton to build.
    chars = part.str.extract_all(_SPECIAL).explode().unique().drop_nulls().to_frame("char")
    found = chars.join(_replacements(), on="char")
    if found.height:
        patterns, by = found.get_column("char"), found.get_column("by")
        part = part.str.replace_many(patterns.to_list(), by.to_list())
    return texts.clone().scatter(at, part.str.replace_all(" {2,}", " ").str.strip_chars(" "))


def _pieces() -> pl.Expr:
    text = pl.col("text")
    return pl.when(text != "").then(text.str.split(" ")).alias("raw")


@dataclass(frozen=True)
class Split:
    """Tidied texts cut into tokens.

    Per text: ``n`` tokens, ``bangs`` and ``quests`` (counts of '!' and '?'). Per token:
    ``hashes`` and ``checks``. Per distinct token: ``words`` (its text, in order of first
    appearance), ``word_hash`` and ``word_check``.
    """

    n: np.ndarray
    bangs: np.ndarray
    quests: np.ndarray
    hashes: np.ndarray
    checks: np.ndarray
    words: pl.Series
    word_hash: np.ndarray
    word_check: np.ndarray

    def values(self, values: np.ndarray) -> np.ndarray | None:
        """``values[j]`` (uint16 or uint32) for every token with the text of word ``j``;
        None if two different tokens have one hash (tell them apart by text instead)."""
        return find(index(self.word_hash, self.word_check, values), self.hashes, self.checks)


def _marks(texts: pl.Series, marked: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts of '!' and '?' per text; ``marked`` are the texts with either."""
    bangs = np.zeros(len(texts), dtype=np.uint32)
    quests = np.zeros(len(texts), dtype=np.uint32)
    if marked.len():
        text = pl.col("text")
        counted = (
            texts.gather(marked)
            .to_frame("text")
            .select(
                text.str.count_matches("!", literal=True).alias("bangs"),
                text.str.count_matches("?", literal=True).alias("quests"),
            )
        )
        at = marked.to_numpy()
        bangs[at] = counted.get_column("bangs").to_numpy()
        quests[at] = counted.get_column("quests").to_numpy()
    return bangs, quests


def split(texts: pl.Series) -> Split:
    """Cut tidied texts (see :func:`described`) into hashed tokens."""
    text, raw = pl.col("text"), pl.col("raw")
    lists = texts.to_frame("text").select(
        text.str.contains_any(["!", "?"]).alias("marked"), _pieces()
    )
    toks = (
        lists.lazy()
        .select(raw.explode(keep_nulls=False))
        .with_columns(hashed(raw, _SEED, _CHECK_SEED))
        .collect(engine="in-memory")
    )
    hashes, check = toks.get_column("h").to_numpy(), checks(toks.get_column("c").to_numpy())
    first = toks.get_column("h").arg_unique()
    at = first.to_numpy()
    bangs, quests = _marks(texts, lists.get_column("marked").arg_true())
    return Split(
        n=lists.select(raw.list.len().fill_null(0)).to_series().to_numpy().astype(np.int64),
        bangs=bangs,
        quests=quests,
        hashes=hashes,
        checks=check,
        words=toks.get_column("raw").gather(first),
        word_hash=hashes[at],
        word_check=check[at],
    )


def split_exact(texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The distinct tokens of tidied texts and the index of each token among them, by
    their text (slower than :func:`split`, for when two tokens have one hash)."""
    toks = texts.to_frame("text").select(_pieces().explode(keep_nulls=False))
    words = toks.filter(pl.col("raw").is_first_distinct())
    ids = toks.join(words.with_row_index("id"), on="raw", how="left", maintain_order="left")
    return words.to_series(), ids.get_column("id").to_numpy()
