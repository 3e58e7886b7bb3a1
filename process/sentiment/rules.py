"""VADER's per-word valence rules, vectorised over the lexicon words of a batch.

Only words in the lexicon carry a valence, so the rules run on those tokens alone, each
one seeing its three predecessors and two successors in the same text: "no", ALL-CAPS
emphasis, boosters with distance scaling, negation, "never so/this", "without doubt",
idioms, "least" and "kind of", in the reference's order and with its floating-point
operations. Each rule is one array operation over the words it applies to, and most
rules apply to few words.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from process.sentiment.lexicon import BOOSTERS, C_INCR, CODES, N_SCALAR, SPECIAL_CASES
from process.sentiment.tokens import Batch

__all__ = ["valences"]

Array = np.ndarray

#: Bits of a word code in a packed phrase key.
_BITS = 6
assert len(CODES) < 1 << _BITS
#: Per-word feature bits.
_LEX, _BOOST, _NEG, _UPPER = 1, 2, 4, 8


class _Window:
    """The lexicon words of a batch and their neighbours, by offset in the same text."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.at = batch.at
        self.row = batch.rows(self.at)
        self.pos = self.at - batch.start[self.row]
        self.left = batch.n[self.row] - 1 - self.pos  # tokens after the word
        self.word = np.take(batch.word, self.at)
        bits = (
            batch.in_lex_word * _LEX
            | ~np.isnan(batch.boostv) * _BOOST
            | batch.negator * _NEG
            | batch.upper * _UPPER
        ).astype(np.uint16)
        self._features = batch.code.astype(np.uint16) | (bits << 8)  # per tag
        self._there: dict[int, Array] = {}
        self._code: dict[int, Array] = {}
        self._has: dict[tuple[int, int], Array] = {}
        self._is: dict[tuple[int, tuple[str, ...]], Array] = {}
        self.capdiff = self._capdiff()

    def _capdiff(self) -> Array:
        """Some but not all tokens of the word's text are ALL CAPS (only asked of texts
        where the word or a word before it is)."""
        caps = np.flatnonzero(
            self.has(0, _UPPER) | self.has(-1, _UPPER) | self.has(-2, _UPPER) | self.has(-3, _UPPER)
        )
        rows, which = np.unique(self.row[caps], return_inverse=True)
        capdiff = np.zeros(len(self.at), dtype=bool)
        capdiff[caps] = self.batch.not_all_upper(rows)[which]
        return capdiff

    def there(self, offset: int) -> Array:
        """The token ``offset`` places away is in the same text."""
        if offset not in self._there:
            self._there[offset] = self.pos >= -offset if offset < 0 else self.left >= offset
        return self._there[offset]

    def neighbour(self, offset: int) -> Array:
        """The tag of the token ``offset`` places away (any tag where there is none)."""
        return np.take(self.batch.word, self.at + offset, mode="clip").astype(np.intp)

    def code(self, offset: int) -> Array:
        """Word code (:data:`.lexicon.CODES`) of the token at ``offset``, 0 if none."""
        if offset not in self._code:
            features = np.take(self._features, self.neighbour(offset)) * self.there(offset)
            self._code[offset] = features & np.uint16(0xFF)
            self._has[offset, 0] = features
        return self._code[offset]

    def has(self, offset: int, bit: int) -> Array:
        """The token at ``offset`` exists and has feature ``bit``."""
        if (offset, bit) not in self._has:
            self.code(offset)
            self._has[offset, bit] = (self._has[offset, 0] & np.uint16(bit << 8)) != 0
        return self._has[offset, bit]

    def out(self, offset: int) -> Array:
        """The token at ``offset`` exists and is not a lexicon word."""
        if (offset, -1) not in self._has:
            self._has[offset, -1] = self.there(offset) & ~self.has(offset, _LEX)
        return self._has[offset, -1]

    def is_(self, offset: int, *words: str) -> Array:
        """The token at ``offset`` is one of ``words`` (all in :data:`.lexicon.CODES`)."""
        if (offset, words) not in self._is:
            codes = self.code(offset)
            result: Array = codes == CODES[words[0]]
            for word in words[1:]:
                result |= codes == CODES[word]
            self._is[offset, words] = result
        return self._is[offset, words]


def _phrase(codes: dict[int, Array], offsets: Sequence[int], table: dict[str, float]) -> Array:
    """The value in ``table`` of the phrase the tokens at ``offsets`` spell (their
    ``codes``), NaN if none."""
    key = codes[offsets[0]].astype(np.int64)
    for offset in offsets[1:]:
        key = (key << _BITS) | codes[offset]
    return _packed(tuple(table.items()), len(offsets))[key]


@cache
def _packed(table: tuple[tuple[str, float], ...], length: int) -> Array:
    """The phrases of ``length`` words in ``table`` as an array indexed by packed codes."""
    values = np.full(1 << (_BITS * length), np.nan)
    for phrase, value in table:
        if len(words := phrase.split()) == length:
            key = 0
            for word in words:
                key = (key << _BITS) | CODES[word]
            values[key] = value
    return values


def _boost(w: _Window, k: int, v: Array) -> None:
    """Add what a booster ``k`` tokens back contributes (in place)."""
    rows = np.flatnonzero(w.out(-k) & w.has(-k, _BOOST))
    if not len(rows):
        return
    scalar = w.batch.boostv[w.neighbour(-k)[rows]]
    here = v[rows]
    scalar = np.where(here < 0, scalar * -1, scalar)
    caps = w.has(-k, _UPPER)[rows] & w.capdiff[rows]
    scalar = np.where(caps, np.where(here > 0, scalar + C_INCR, scalar - C_INCR), scalar)
    factor = (1.0, 0.95, 0.9)[k - 1]
    if factor != 1.0:
        scalar = np.where(scalar != 0, scalar * factor, scalar)
    v[rows] = here + scalar


def _negate(w: _Window, k: int, v: Array) -> None:
    """The reference's negation check for the word ``k`` tokens back (in place)."""
    out = w.out(-k)
    negator = out & w.has(-k, _NEG)
    if k == 1:
        np.multiply(v, N_SCALAR, out=v, where=negator)
        return
    if k == 2:
        never = w.is_(-2, "never") & w.is_(-1, "so", "this")
        doubt = w.is_(-2, "without") & w.is_(-1, "doubt")
    else:
        # The reference's operator precedence: (never and so/this) or so/this right before.
        never = (w.is_(-3, "never") & w.is_(-2, "so", "this")) | w.is_(-1, "so", "this")
        doubt = w.is_(-3, "without") & (w.is_(-2, "doubt") | w.is_(-1, "doubt"))
    np.multiply(v, 1.25, out=v, where=out & never)
    np.multiply(v, N_SCALAR, out=v, where=negator & ~never & ~doubt)


def _idioms(w: _Window, v: Array) -> None:
    """Special-case phrases and booster bigrams ("kind of") around the word (in place)."""
    near = w.code(-3) | w.code(-2) | w.code(-1) | w.code(0) | w.code(1)
    rows = np.flatnonzero(w.out(-3) & (near != 0))
    codes = {offset: w.code(offset)[rows] for offset in (-3, -2, -1, 0, 1, 2)}
    here = v[rows]
    found = np.zeros(len(rows), dtype=bool)
    # The first sequence behind that is a special case wins; then the ones ahead override.
    for offsets in [(-1, 0), (-2, -1, 0), (-2, -1), (-3, -2, -1), (-3, -2)]:
        value = _phrase(codes, offsets, SPECIAL_CASES)
        match = ~found & ~np.isnan(value)
        here = np.where(match, value, here)
        found |= match
    for offsets in [(0, 1), (0, 1, 2)]:
        value = _phrase(codes, offsets, SPECIAL_CASES)
        here = np.where(np.isnan(value), here, value)
    for offsets in [(-3, -2, -1), (-3, -2), (-2, -1)]:
        add = _phrase(codes, offsets, BOOSTERS)
        here = np.where(np.isnan(add), here, here + add)
    v[rows] = here


def _rules(w: _Window) -> Array:
    b = w.batch
    lexv = b.lexv[w.word]
    v: Array = lexv.copy()
    # "no" before another lexicon word loses its own valence; a word after "no" is negated.
    v[w.is_(0, "no") & w.has(1, _LEX)] = 0.0
    after_no = w.is_(-1, "no") | w.is_(-2, "no") | (w.is_(-3, "no") & w.is_(-1, "or", "nor"))
    np.multiply(lexv, N_SCALAR, out=v, where=after_no)
    caps = np.flatnonzero(w.has(0, _UPPER) & w.capdiff)
    v[caps] = np.where(v[caps] > 0, v[caps] + C_INCR, v[caps] - C_INCR)
    for k in (1, 2, 3):
        _boost(w, k, v)
        _negate(w, k, v)
    _idioms(w, v)
    least = w.is_(-1, "least") & w.out(-1)
    least &= ((w.pos > 1) & ~w.is_(-2, "at", "very")) | (w.pos == 1)
    np.multiply(v, N_SCALAR, out=v, where=least)
    v[(w.is_(0, "kind") & w.is_(1, "of")) | w.has(0, _BOOST)] = 0.0
    return v


def valences(batch: Batch) -> tuple[Array, Array, Array]:
    """The lexicon words of the batch in order: their ``row``, ``pos`` in the row and
    valence before the "but" rule. Every other token has valence 0."""
    w = _Window(batch)
    return w.row, w.pos, _rules(w)
