"""VADER's per-word valence rules, vectorised over the lexicon words of a batch.

Only words in the lexicon carry a valence, so the rules run on those tokens alone, each
one seeing the features of its three predecessors and two successors in the same text:
"no", ALL-CAPS emphasis, boosters with distance scaling, negation, "never so/this",
"without doubt", idioms, "least" and "kind of", applied in the reference's order with the
reference's floating-point operations, one array operation per rule for the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from process.sentiment.lexicon import BOOSTERS, C_INCR, CODES, N_SCALAR, SPECIAL_CASES
from process.sentiment.tokens import Batch

__all__ = ["valences"]

Array = np.ndarray


class _Window:
    """The lexicon words of a batch and their neighbours, by offset in the same text."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.at = np.flatnonzero(batch.in_lex)
        self.row = batch.row[self.at]
        self.pos = batch.pos[self.at]
        self.left = batch.n[self.row] - 1 - self.pos  # tokens after the word
        self._words: dict[int, tuple[Array, Array]] = {}
        self._codes: dict[int, Array] = {}

    def word(self, offset: int) -> tuple[Array, Array]:
        """(exists, distinct-word index) of the token ``offset`` places away."""
        if offset not in self._words:
            there = self.pos >= -offset if offset < 0 else self.left >= offset
            index = np.where(there, self.at + offset, 0)
            self._words[offset] = there, self.batch.word[index]
        return self._words[offset]

    def code(self, offset: int) -> Array:
        if offset not in self._codes:
            there, word = self.word(offset)
            self._codes[offset] = np.where(there, self.batch.code[word], 0)
        return self._codes[offset]

    def flag(self, offset: int, values: Array) -> Array:
        """A per-word boolean feature of the token at ``offset`` (False if none)."""
        there, word = self.word(offset)
        result: Array = there & values[word]
        return result

    def value(self, offset: int, values: Array) -> Array:
        """A per-word float feature of the token at ``offset`` (NaN if none)."""
        there, word = self.word(offset)
        result: Array = np.where(there, values[word], np.nan)
        return result

    def is_(self, offset: int, *words: str) -> Array:
        """The token at ``offset`` is one of ``words`` (all in :data:`.lexicon.CODES`)."""
        codes = self.code(offset)
        result: Array = codes == CODES[words[0]]
        for word in words[1:]:
            result |= codes == CODES[word]
        return result

    def spells(self, offsets: Sequence[int], phrase: str) -> Array:
        """The tokens at ``offsets`` spell ``phrase``."""
        result = np.ones(len(self.at), dtype=bool)
        for offset, word in zip(offsets, phrase.split(), strict=True):
            result &= self.is_(offset, word)
        return result


def _phrases(table: dict[str, float], length: int) -> list[tuple[str, float]]:
    """The entries of ``table`` that are phrases of ``length`` words."""
    return [(phrase, value) for phrase, value in table.items() if len(phrase.split()) == length]


def _replace_by_phrase(
    w: _Window, v: Array, table: dict[str, float], seqs: list[tuple[int, ...]]
) -> Array:
    """Set ``v`` to the value of the first sequence that spells a phrase of ``table``."""
    found = np.zeros(len(v), dtype=bool)
    for offsets in seqs:
        for phrase, value in _phrases(table, len(offsets)):
            match = ~found & w.spells(offsets, phrase)
            v = np.where(match, value, v)
            found |= match
    return v


def _booster(w: _Window, k: int, v: Array, capdiff: Array) -> Array:
    """What the booster ``k`` tokens back adds to the running valence ``v`` (0.0 if none)."""
    scalar = w.value(-k, w.batch.boostv)
    scalar = np.where(v < 0, scalar * -1, scalar)
    caps = w.flag(-k, w.batch.upper) & capdiff
    scalar = np.where(caps, np.where(v > 0, scalar + C_INCR, scalar - C_INCR), scalar)
    scalar = np.where(np.isnan(scalar), 0.0, scalar)
    factor = (1.0, 0.95, 0.9)[k - 1]
    return scalar if factor == 1.0 else np.where(scalar != 0, scalar * factor, scalar)


def _negation(w: _Window, k: int, v: Array) -> Array:
    """The reference's negation check for the word ``k`` tokens back."""
    negated = np.where(w.flag(-k, w.batch.negator), v * N_SCALAR, v)
    if k == 1:
        return negated
    if k == 2:
        never = w.is_(-2, "never") & w.is_(-1, "so", "this")
        doubt = w.is_(-2, "without") & w.is_(-1, "doubt")
    else:
        # The reference's operator precedence: (never and so/this) or so/this right before.
        never = (w.is_(-3, "never") & w.is_(-2, "so", "this")) | w.is_(-1, "so", "this")
        doubt = w.is_(-3, "without") & (w.is_(-2, "doubt") | w.is_(-1, "doubt"))
    return np.where(never, v * 1.25, np.where(doubt, v, negated))


def _rules(w: _Window) -> Array:
    b = w.batch
    lexv = b.lexv[b.word[w.at]]
    capdiff = b.capdiff[w.row]
    # "no" before another lexicon word loses its own valence; a word after "no" is negated.
    v = np.where(w.is_(0, "no") & w.flag(1, b.in_lex_word), 0.0, lexv)
    after_no = w.is_(-1, "no") | w.is_(-2, "no") | (w.is_(-3, "no") & w.is_(-1, "or", "nor"))
    v = np.where(after_no, lexv * N_SCALAR, v)
    caps = w.flag(0, b.upper) & capdiff
    v = np.where(caps, np.where(v > 0, v + C_INCR, v - C_INCR), v)
    for k in (1, 2, 3):
        out = w.flag(-k, ~b.in_lex_word)  # the modifier must not be a lexicon word itself
        v = np.where(out, v + _booster(w, k, v, capdiff), v)
        v = np.where(out, _negation(w, k, v), v)
        if k == 3:
            back = [(-1, 0), (-2, -1, 0), (-2, -1), (-3, -2, -1), (-3, -2)]
            v = np.where(out, _replace_by_phrase(w, v, SPECIAL_CASES, back), v)
            v = np.where(out, _replace_by_phrase(w, v, SPECIAL_CASES, [(0, 1)]), v)
            v = np.where(out, _replace_by_phrase(w, v, SPECIAL_CASES, [(0, 1, 2)]), v)
            for offsets in [(-3, -2, -1), (-3, -2), (-2, -1)]:
                for phrase, value in _phrases(BOOSTERS, len(offsets)):
                    v = np.where(out & w.spells(offsets, phrase), v + value, v)
    least = w.is_(-1, "least") & w.flag(-1, ~b.in_lex_word)
    least &= ((w.pos > 1) & ~w.is_(-2, "at", "very")) | (w.pos == 1)
    v = np.where(least, v * N_SCALAR, v)
    zero = (w.is_(0, "kind") & w.is_(1, "of")) | ~np.isnan(b.boostv[b.word[w.at]])
    return np.where(zero, 0.0, v)


def valences(batch: Batch) -> pl.DataFrame:
    """Lexicon words of the batch in order: ``row``, ``pos`` and ``sentiment`` (the
    valence before the "but" rule). Every other token has sentiment 0."""
    w = _Window(batch)
    return pl.DataFrame({"row": w.row, "pos": w.pos, "sentiment": _rules(w)})
