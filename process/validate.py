"""The checks behind every dead-letter reason (the reasons table is in :mod:`process.decode`).

Three layers, cheapest first; :func:`process.decode.decode` runs them on a batch.

1. :func:`plain_mask`, for every row polars parsed: it *proves* that the row is exactly the
   record, for the plain records that make up almost every real batch (no backslash, no
   whitespace after a quote), with a few memchr-speed scans per row and two counts over
   the whole batch (:func:`tally`). The proof is in its docstring.
2. :func:`suspect_expr`, only for the rows that are not plain: regexes that catch every
   way polars' reading can differ from the record's meaning (it turns ``"text": 5`` into
   ``"5"``, keeps the first of two equal keys, reads ``"\\ud800"`` as NUL, unescapes keys,
   nulls a wrongly typed field under ``ignore_errors``). A match sends the record to 3;
   false alarms only cost time.
3. :func:`check_record`, one record in Python, the authority: the standard-library JSON
   parser with hooks for duplicate keys, NaN/Infinity and oversized integers, after a
   non-recursive depth scan. It returns a reason or the record's contract fields.

:func:`reason_expr` then checks ranges, kinds and timestamps on every parsed row.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import numpy as np
import polars as pl

from ingest.schema import KINDS, POST_COLUMNS, REQUIRED_COLUMNS

__all__ = [
    "DAY_MS",
    "FIRST_POST_MS",
    "INT64_MAX",
    "INT64_MIN",
    "INT_FIELDS",
    "LOWEST",
    "MAX_DEPTH",
    "STR_FIELDS",
    "Tally",
    "check_record",
    "classify",
    "invalid_expr",
    "plain_mask",
    "reason_expr",
    "suspect_expr",
    "tally",
]

#: Deepest nesting of arrays/objects accepted anywhere in a record (a post needs 2).
MAX_DEPTH: Final = 64
#: 2006-03-21T00:00:00Z, the day of X's first post: anything earlier is absurd.
FIRST_POST_MS: Final = 1_142_899_200_000
DAY_MS: Final = 86_400_000

INT_FIELDS: Final = frozenset(
    ("post_id", "author_id", "created_at", "parent_id", "root_id", "followers")
)
STR_FIELDS: Final = frozenset(("kind", "text", "lang"))
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: The lowest value of the fields checked always (``out_of_range:<field>`` below it);
#: ``created_at``'s is :data:`FIRST_POST_MS`, checked only with ``now_ms``.
LOWEST: Final = {"post_id": 1, "author_id": 1, "followers": 0}

# -- layer 1: plain records -------------------------------------------------------------

#: A hashtag list of bare strings, written compactly (no backslash is possible here).
_PLAIN_HASHTAGS: Final = r'"hashtags":\[(?:\]|"[^"]*"(?:,"[^"]*")*\])'
#: Quotes in a plain record besides two per hashtag: ten keys and kind, text, lang.
_PLAIN_QUOTES: Final = 2 * (len(POST_COLUMNS) + len(STR_FIELDS))


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts over raw records, for :func:`plain_mask`."""

    quotes: int = 0
    keys: int = 0  #: occurrences of ``":``
    backslash: bool = False

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.quotes + other.quotes, self.keys + other.keys, self.backslash or other.backslash
        )


def tally(joined: bytes) -> Tally:
    """Quotes, key ends and backslashes in a buffer of records, counted by numpy."""
    quotes = int(np.count_nonzero(np.frombuffer(joined, dtype=np.uint8) == ord('"')))
    backslash = b"\\" in joined
    if len(joined) < 2:
        return Tally(quotes, 0, backslash)
    pair = ord('"') | ord(":") << 8  # '":' read as a little-endian 16-bit word
    even = np.frombuffer(joined, dtype="<u2", count=len(joined) // 2)
    odd = np.frombuffer(joined, dtype="<u2", offset=1, count=(len(joined) - 1) // 2)
    keys = int(np.count_nonzero(even == pair) + np.count_nonzero(odd == pair))
    return Tally(quotes, keys, backslash)


def plain_mask(checked: pl.DataFrame, raw: str, counts: Tally) -> pl.Series:
    """True for the rows of ``checked`` (parsed columns plus the record text in ``raw``)
    whose parse is exactly the record; ``counts``: the :func:`tally` of all the records.

    A candidate has no backslash, so every quote delimits a string and ``":`` ends a key;
    no whitespace after a quote (decode keeps tabs, CRs and newlines out), so every key
    ends in ``":``; and the ten contract keys (the required fields are non-null, parent_id
    and root_id non-null or written ``null``). So it holds at least ten keys and, with no
    extra field, 26 quotes plus two per hashtag *at most*: a kind, text, lang or hashtag that
    polars coerced from a number, boolean, null or array of non-strings has no quotes, and
    one coerced from a container of strings contains a quote, which no plain string does.
    When the candidates hold exactly ten keys and 26 + 2 per hashtag quotes in total, each
    is at its minimum: exactly the ten keys once each, all the strings strings. Else each
    candidate is checked on its own (ten ``":``, compact string hashtags, text and lang
    values opening with a quote), which costs about twice as much.
    """
    text = pl.col(raw)

    def has(needle: str) -> pl.Expr:
        return text.str.contains(needle, literal=True)

    candidate = checked.select(
        pl.all_horizontal(
            ~has("\\") if counts.backslash else True,
            ~has('" '),
            pl.col("parent_id").is_not_null() | has('"parent_id":null'),
            pl.col("root_id").is_not_null() | has('"root_id":null'),
            *(pl.col(c).is_not_null() for c in REQUIRED_COLUMNS),
        )
    ).to_series()
    c = pl.col("_candidate")
    other = text.filter(~c)
    n, tags, quoted, other_quotes, other_keys = (
        checked.with_columns(_candidate=candidate)
        .select(
            c.sum().alias("n"),
            pl.col("hashtags").filter(c).list.len().sum().alias("tags"),
            pl.any_horizontal(
                *((c & pl.col(f).str.contains('"', literal=True)).any() for f in STR_FIELDS),
                pl.col("hashtags").filter(c).explode().str.contains('"', literal=True).any(),
            ).alias("quoted"),
            other.str.count_matches('"', literal=True).sum().alias("quotes"),
            other.str.count_matches('":', literal=True).sum().alias("keys"),
        )
        .row(0)
    )
    if (
        not quoted
        and counts.keys - other_keys == len(POST_COLUMNS) * n
        and counts.quotes - other_quotes == _PLAIN_QUOTES * n + 2 * tags
    ):
        return candidate
    return (
        candidate
        & checked.select(
            pl.all_horizontal(
                text.str.count_matches('":', literal=True) == len(POST_COLUMNS),
                text.str.contains(_PLAIN_HASHTAGS),
                *(has(f'"{f}":"') for f in STR_FIELDS),
            )
        ).to_series()
    )


# -- layer 2: suspects among the other rows ----------------------------------------------

_STRING_RE: Final = r'"(?:[^"\\]|\\.)*"'
_SUSPECT: Final = "(?s)" + "|".join(
    [
        r'"(?:kind|text|lang)"\s*:\s*[^"\s]',  # a string field holding something else
        rf'"hashtags"\s*:\s*\[\s*(?:{_STRING_RE}\s*,\s*)*[^"\s\]]',  # a non-string hashtag
        r"\\u[dD][89a-fA-F]",  # a surrogate escape, maybe lone
        r'\\u[0-9a-fA-F]{4}(?:[^"\\]|\\.)*"\s*:',  # a key spelled with \u escapes
        *(rf'"{c}"\s*:.*"{c}"\s*:' for c in POST_COLUMNS),  # a field twice
    ]
)


def suspect_expr(raw: pl.Expr, max_depth: int = MAX_DEPTH) -> pl.Expr:
    """True where polars' reading of a non-plain record may be wrong: check it in Python."""
    mistyped_optional = [
        pl.col(c).is_null() & raw.str.contains(rf'"{c}"\s*:\s*[^n\s]')
        for c in ("parent_id", "root_id")
    ]
    return pl.any_horizontal(
        raw.str.contains(_SUSPECT),
        raw.str.count_matches(r"[\[{]") > max_depth,
        *(pl.col(c).is_null() for c in REQUIRED_COLUMNS),
        *mistyped_optional,
    )


# -- layer 3: one record in Python ------------------------------------------------------


class _Object(list[tuple[str, Any]]):
    """A JSON object as its (key, value) pairs in order, duplicates kept."""


class _NonFinite(ValueError):
    pass


class _Huge:
    """An integer literal outside int64 (never converted: CPython's big-int parse is slow)."""


_HUGE: Final = _Huge()


def _non_finite(name: str) -> NoReturn:
    raise _NonFinite(name)


def _int(literal: str) -> int | _Huge:
    if len(literal) > 20:  # len("-9223372036854775808") == 20
        return _HUGE
    value = int(literal)
    return value if INT64_MIN <= value <= INT64_MAX else _HUGE


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_Object, parse_constant=_non_finite, parse_int=_int
)
_STRINGS: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS: Final = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _depth(text: str) -> int:
    """Deepest bracket nesting outside strings, without recursion."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRINGS.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _has_lone_surrogate(value: Any) -> bool:
    """Any key or string holding a surrogate code point (json joins valid pairs)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _type_error(name: str, value: Any) -> str | None:
    if value is None:
        return None  # missing_field, if required, is for reason_expr
    if name in INT_FIELDS:
        if value is _HUGE:
            return f"out_of_range:{name}"
        ok = type(value) is int
    elif name in STR_FIELDS:
        ok = type(value) is str
    else:  # hashtags
        ok = type(value) is list and all(type(t) is str for t in value)
    return None if ok else f"wrong_type:{name}"


def check_record(value: bytes, max_depth: int = MAX_DEPTH) -> str | dict[str, Any]:
    """One record's reason, or its contract fields (absent ones left out) when it reads."""
    if not value.strip():
        return "empty"
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return "invalid_utf8"
    if text.count("[") + text.count("{") > max_depth and _depth(text) > max_depth:
        return "too_deep"
    try:
        obj = _DECODER.decode(text)
    except _NonFinite:
        return "non_finite_number"
    except ValueError:
        return "not_json"
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(obj):
        return "lone_surrogate"
    if not isinstance(obj, _Object):
        return "not_object"
    fields: dict[str, Any] = {}
    for key, item in obj:
        if key in POST_COLUMNS:
            if key in fields:
                return "duplicate_key"
            fields[key] = item
    for name in POST_COLUMNS:
        reason = _type_error(name, fields.get(name))
        if reason is not None:
            return reason
    return fields


def classify(value: bytes) -> str:
    """The reason one record is rejected before the semantic checks, else "unparseable"."""
    found = check_record(value)
    return found if isinstance(found, str) else "unparseable"


# -- semantic checks on parsed rows -----------------------------------------------------


def _semantic_checks(now_ms: int | None, max_future_ms: int) -> list[tuple[pl.Expr, str]]:
    checks: list[tuple[pl.Expr, str]] = [
        (pl.col(c).is_null(), f"missing_field:{c}") for c in REQUIRED_COLUMNS
    ]
    checks += [(pl.col(name) < lowest, f"out_of_range:{name}") for name, lowest in LOWEST.items()]
    checks.append((~pl.col("kind").is_in(KINDS), "invalid_kind"))
    if now_ms is not None:
        checks += [
            (pl.col("created_at") < FIRST_POST_MS, "out_of_range:created_at"),
            (pl.col("created_at") > now_ms + max_future_ms, "future:created_at"),
        ]
    return checks


def invalid_expr(now_ms: int | None = None, max_future_ms: int = DAY_MS) -> pl.Expr:
    """True for each parsed row that fails a semantic check (cheaper than the reasons)."""
    return pl.any_horizontal(cond for cond, _ in _semantic_checks(now_ms, max_future_ms))


def reason_expr(now_ms: int | None = None, max_future_ms: int = DAY_MS) -> pl.Expr:
    """Each parsed row's rejection reason, or null when valid; first failing check wins."""
    checks = _semantic_checks(now_ms, max_future_ms)
    return pl.coalesce(
        [pl.when(cond).then(pl.lit(reason)) for cond, reason in checks]
        + [pl.lit(None, dtype=pl.String)]
    )
