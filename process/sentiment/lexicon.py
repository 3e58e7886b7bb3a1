"""VADER 3.3.2 word lists and lexicon tables, loaded once from the vaderSentiment data files.

The constants restate the rule data of VADER 3.3.2 (Hutto & Gilbert, ICWSM 2014; MIT
licence) so that the polars port can be checked against the reference package word for
word. The two lexicon files are read from the installed ``vaderSentiment`` distribution
with :mod:`importlib.resources`; its Python module is never imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import polars as pl

__all__ = [
    "BOOSTERS",
    "B_DECR",
    "B_INCR",
    "CODES",
    "C_INCR",
    "NEGATE",
    "N_SCALAR",
    "SPECIAL_CASES",
    "Tables",
    "tables",
]

B_INCR = 0.293
B_DECR = -0.293
C_INCR = 0.733
N_SCALAR = -0.74

_NEGATORS = """
    aint arent cannot cant couldnt darent didnt doesnt ain't aren't can't couldn't daren't
    didn't doesn't dont hadnt hasnt havent isnt mightnt mustnt neither don't hadn't hasn't
    haven't isn't mightn't mustn't neednt needn't never none nope nor not nothing nowhere
    oughtnt shant shouldnt uhuh wasnt werent oughtn't shan't shouldn't uh-uh wasn't weren't
    without wont wouldnt won't wouldn't rarely seldom despite
"""
#: The 59 negators; any word containing "n't" negates too.
NEGATE: frozenset[str] = frozenset(_NEGATORS.split())

_INCREASING = """
    absolutely amazingly awfully completely considerable considerably decidedly deeply effing
    enormous enormously entirely especially exceptional exceptionally extreme extremely
    fabulously flipping flippin frackin fracking fricking frickin frigging friggin fully
    fuckin fucking fuggin fugging greatly hella highly hugely incredible incredibly intensely
    major majorly more most particularly purely quite really remarkably so substantially
    thoroughly total totally tremendous tremendously uber unbelievably unusually utter
    utterly very
"""
_DECREASING = """
    almost barely hardly just_enough kind_of kinda kindof kind-of less little marginal
    marginally occasional occasionally partly scarce scarcely slight slightly somewhat
    sort_of sorta sortof sort-of
"""

#: Booster and dampener words; the multi-word ones only count in the idiom look-back.
BOOSTERS: dict[str, float] = {
    **{w: B_INCR for w in _INCREASING.split()},
    **{w.replace("_", " "): B_DECR for w in _DECREASING.split()},
}

#: Idioms and phrases that replace the valence of the lexicon word they contain.
SPECIAL_CASES: dict[str, float] = {
    "the shit": 3.0,
    "the bomb": 3.0,
    "bad ass": 1.5,
    "badass": 1.5,
    "bus stop": 0.0,
    "yeah right": -2.0,
    "kiss of death": -1.5,
    "to die for": 3.0,
    "beating heart": 3.5,
}

_RULE_WORDS = "no or nor kind of never so this without doubt least at very but"


def _code_words() -> tuple[str, ...]:
    words = list(_RULE_WORDS.split())
    for phrase in [*SPECIAL_CASES, *BOOSTERS]:
        words.extend(phrase.split() if " " in phrase else [])
    return tuple(dict.fromkeys(words))


#: Small integer codes for the words the rules compare (0 = any other word).
CODES: dict[str, int] = {word: i + 1 for i, word in enumerate(_code_words())}


@dataclass(frozen=True)
class Tables:
    """Lookup tables: ``words`` maps a lower-case token to its features, ``emoji`` one
    character to its description."""

    words: pl.DataFrame
    emoji: dict[str, str]


def _read(name: str) -> str:
    return resources.files("vaderSentiment").joinpath(name).read_text(encoding="utf-8")


def _lexicon() -> dict[str, float]:
    # Same parse as the reference: later duplicates win; keys keep their case.
    lexicon: dict[str, float] = {}
    for line in _read("vader_lexicon.txt").rstrip("\n").split("\n"):
        if line:
            word, measure = line.strip().split("\t")[0:2]
            lexicon[word] = float(measure)
    return lexicon


def _emoji() -> dict[str, str]:
    emoji: dict[str, str] = {}
    for line in _read("emoji_utf8_lexicon.txt").rstrip("\n").split("\n"):
        char, description = line.strip().split("\t")[0:2]
        emoji[char] = description
    # VADER replaces text one code point at a time: longer sequences never match.
    return {char: text for char, text in emoji.items() if len(char) == 1}


@cache
def tables() -> Tables:
    """Load the lexicon tables (once per process)."""
    lexicon = _lexicon()
    single = {w: v for w, v in BOOSTERS.items() if " " not in w}
    keys = sorted({*lexicon, *single, *NEGATE, *CODES})
    words = pl.DataFrame(
        {
            "lw": keys,
            "lexv": [lexicon.get(k) for k in keys],
            "boostv": [single.get(k) for k in keys],
            "negator": [k in NEGATE for k in keys],
            "code": [CODES.get(k, 0) for k in keys],
        },
        schema={
            "lw": pl.String,
            "lexv": pl.Float64,
            "boostv": pl.Float64,
            "negator": pl.Boolean,
            "code": pl.UInt8,
        },
    )
    return Tables(words=words, emoji=_emoji())
