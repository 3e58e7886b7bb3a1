"""The two contracts as JSON Schemas (draft 2020-12): the post record that comes in and the
signal record that goes out (docs/ARCHITECTURE.md, "Post record" and "Signal record").

Generated, not written by hand: the fields and their types come from
:data:`ingest.schema.POST_SCHEMA` and :data:`process.signals.SIGNAL_SCHEMA`, the post's
rules from the decoder's own constants (:mod:`process.validate`: :data:`~process.validate.LOWEST`,
:data:`~process.validate.FIRST_POST_MS`, :data:`~ingest.schema.KINDS`,
:data:`~ingest.schema.REQUIRED_COLUMNS`, the int64 range). Only the meaning of each field and
the signal's value ranges are text here, keyed by field name: a field added to either
schema without them is an error, not a silent gap. What a JSON Schema can't say (duplicate
keys, nesting depth, bytes, the clock, sums across fields, the config) is in
``description``.

``datamoat schema post|signal`` prints :func:`render`; the committed copies are
``docs/schema/post.schema.json`` and ``docs/schema/signal.schema.json`` (a unit test keeps
them in step).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import polars as pl
from polars.datatypes import DataTypeClass

from ingest.schema import KINDS, POST_SCHEMA, REQUIRED_COLUMNS
from process.aggregate import NEGATIVE_AT, POSITIVE_AT, STREAM_KEY
from process.cascades import CascadeConfig
from process.signals import SIGNAL_SCHEMA
from process.trends import TrendConfig
from process.validate import (
    DAY_MS,
    FIRST_POST_MS,
    INT64_MAX,
    INT64_MIN,
    INT_FIELDS,
    LOWEST,
    MAX_DEPTH,
)

__all__ = ["CONTRACTS", "DRAFT", "post_schema", "regenerate_command", "render", "signal_schema"]

DRAFT: Final = "https://json-schema.org/draft/2020-12/schema"
#: The worker's defaults (``[batch]`` in configs/datamoat.toml), quoted in the descriptions.
_MAX_RECORD_BYTES: Final = 65_536

#: FIRST_POST_MS as a date, for the descriptions.
_FIRST_POST_DAY: Final = datetime.fromtimestamp(FIRST_POST_MS / 1000, UTC).strftime(
    "%Y-%m-%dT%H:%M:%SZ"
)

JsonSchema = dict[str, Any]


def _json_type(dtype: pl.DataType | DataTypeClass) -> JsonSchema:
    """The JSON Schema of a polars dtype as orjson / polars' NDJSON writer write it."""
    if dtype == pl.Int64():
        return {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}
    if dtype == pl.Float64():
        return {"type": "number"}
    if dtype == pl.String():
        return {"type": "string"}
    if isinstance(dtype, pl.List):
        return {"type": "array", "items": _json_type(dtype.inner)}
    if isinstance(dtype, pl.Struct):
        return {
            "type": "object",
            "properties": {f.name: _json_type(f.dtype) for f in dtype.fields},
            "required": [f.name for f in dtype.fields],
            "additionalProperties": False,
        }
    raise TypeError(f"no JSON Schema for the polars dtype {dtype}: add it to _json_type")


def _nullable(schema: JsonSchema) -> JsonSchema:
    return {**schema, "type": [schema["type"], "null"]}


def _described(fields: Mapping[str, object], names: list[str], contract: str) -> None:
    """Every field of the contract has a meaning here, and nothing else does."""
    if set(fields) != set(names):
        missing, extra = sorted(set(names) - set(fields)), sorted(set(fields) - set(names))
        raise KeyError(f"process/contract.py: the {contract} fields changed: {missing=} {extra=}")


# -- the post record ----------------------------------------------------------------------

#: What each post field means (docs/ARCHITECTURE.md's table), and what the decoder leaves
#: to the producer: those conventions are described, not enforced (the decoder accepts a
#: record that breaks them, so the schema does too).
_POST_MEANING: Final = {
    "post_id": "Unique id of the post.",
    "author_id": (
        "The author. The Kafka record key is this id in decimal ASCII, so one author's "
        "posts stay in order on one partition (author_id % partitions)."
    ),
    "created_at": (
        "Event time, epoch milliseconds UTC: windows follow it. The worker also rejects a "
        f"time more than batch.max_future_s (default {DAY_MS // 1000:,} s) after its own "
        "clock (future:created_at); with batch.max_future_s = 0 neither this nor the minimum "
        f"(X's first post, {_FIRST_POST_DAY}) is checked."
    ),
    "kind": "What the post is: an original post, a repost, a reply or a quote.",
    "parent_id": (
        "The post this one reposts, replies to or quotes; null (or absent) for an original. "
        "Convention, not checked: the pipeline reads a reply, repost or quote without a "
        "parent as a child of its root (cascade depth 1)."
    ),
    "root_id": (
        "The original post at the root of this post's cascade; null (or absent, or the "
        "post's own id) for an original. Convention, not checked: a post without a root "
        "is the root of its own cascade."
    ),
    "text": (
        "The text: any script and emoji, raw or \\u-escaped (\\u0000 included). No length "
        "limit of its own: the whole record must fit batch.max_record_bytes. Sentiment is "
        "scored only when lang is 'en' or 'en-*' (any case)."
    ),
    "hashtags": (
        "The post's hashtags, lower-case and without '#' (convention, not checked: each "
        "distinct string is a signal key of its own, so '#Rust' and 'rust' are two keys). "
        "May be empty; empty strings and repeats within a post are ignored."
    ),
    "lang": "BCP-47 language tag, e.g. 'en' (not checked beyond being a string).",
    "followers": "The author's follower count at post time (the post's reach).",
}


def _post_reasons(name: str) -> list[str]:
    """The dead-letter reasons this field can give, in the decoder's order."""
    reasons = [f"wrong_type:{name}"]
    if name in INT_FIELDS:
        reasons.append(f"out_of_range:{name}")
    if name in REQUIRED_COLUMNS:
        reasons.append(f"missing_field:{name}")
    if name == "kind":
        reasons.append("invalid_kind")
    if name == "created_at":
        reasons.append("future:created_at")
    return reasons


def _post_field(name: str, dtype: pl.DataType) -> JsonSchema:
    schema = _json_type(dtype)
    if name in LOWEST:
        schema["minimum"] = LOWEST[name]
    elif name == "created_at":
        schema["minimum"] = FIRST_POST_MS
    if name == "kind":
        schema["enum"] = list(KINDS)
    if name not in REQUIRED_COLUMNS:
        schema = _nullable(schema)
    reasons = ", ".join(_post_reasons(name))
    return {"description": f"{_POST_MEANING[name]} Dead-letter reasons: {reasons}.", **schema}


_POST_DESCRIPTION: Final = (
    "One post: the value of one Kafka record of the posts topic (UTF-8 JSON object), or one "
    "line of an NDJSON file (datamoat process --input, datamoat validate). A record that "
    "breaks a rule goes to the dead-letter topic with its bytes untouched and the first "
    "reason that applies, in the order of the table in process/decode.py; "
    "'datamoat validate FILE' runs that decoder over a file. Rules the decoder enforces "
    "that this schema can't express: "
    f"the record is at most batch.max_record_bytes bytes (default {_MAX_RECORD_BYTES:,}; "
    "oversized); not empty or only whitespace (empty); valid UTF-8, no encoded surrogates "
    "or overlong forms (invalid_utf8); arrays and objects nested at most "
    f"{MAX_DEPTH} deep anywhere, extra fields included (too_deep); no NaN, Infinity or "
    "-Infinity literal (non_finite_number); exactly one JSON document, no byte-order mark, "
    "no raw control character in a string (not_json); no \\uD800-\\uDFFF escape outside "
    "a valid pair, in any string or key (lone_surrogate); no contract field twice "
    "(duplicate_key); integer fields written as JSON integers: 1.0 or 1e3 is a "
    "wrong_type although JSON Schema counts it as an integer; created_at at most "
    f"batch.max_future_s (default {DAY_MS // 1000:,} s) after the worker's clock "
    "(future:created_at). Not checked at all: post_id's uniqueness, and the conventions "
    "in the descriptions of parent_id, root_id, hashtags and lang."
)


def post_schema() -> JsonSchema:
    """The post record: POST_SCHEMA's fields with the rules the decoder enforces."""
    names = POST_SCHEMA.names()
    _described(_POST_MEANING, names, "post")
    return {
        "$schema": DRAFT,
        "$comment": _generated("post"),
        "title": "datamoat post record",
        "description": _POST_DESCRIPTION,
        "type": "object",
        "properties": {name: _post_field(name, dtype) for name, dtype in POST_SCHEMA.items()},
        "required": list(REQUIRED_COLUMNS),
        "additionalProperties": {
            "description": (
                "Unknown extra fields of any shape are accepted and ignored, in any order "
                "(duplicates and number ranges included), within the depth limit."
            )
        },
    }


# -- the signal record --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    """A signal field's meaning and the JSON Schema keywords that bound its values."""

    meaning: str
    bounds: Mapping[str, Any] = field(default_factory=dict)


def _f(meaning: str, **bounds: Any) -> _Field:
    return _Field(meaning, bounds)


#: Null exactly when the row's ``scored`` is 0 (no English post in the window and key).
_SCORED: Final = ("sentiment_mean", "positive_share", "neutral_share", "negative_share")
#: Present (a list, maybe empty) exactly on the stream key's rows, null on the others.
_STREAM_ONLY: Final = "top_cascades"
_TRENDS: Final = TrendConfig()
_CASCADES: Final = CascadeConfig()

_SIGNAL_FIELDS: Final = {
    "window_start": _f(
        "Start of the window, epoch ms UTC: a multiple of the window's hop (window.hop_s, "
        "or window.size_s when tumbling)."
    ),
    "window_end": _f("End of the window (exclusive), epoch ms UTC: window_start + size."),
    "key": _f(
        f"A hashtag, as the posts wrote it, or '{STREAM_KEY}' for the whole stream. The "
        "record key on the signals topic is this string in UTF-8.",
        minLength=1,
    ),
    "posts": _f(
        "Posts of the window with this key: originals + reposts + replies + quotes.", minimum=1
    ),
    "originals": _f("Posts of kind 'post'.", minimum=0),
    "reposts": _f("Posts of kind 'repost'.", minimum=0),
    "replies": _f("Posts of kind 'reply'.", minimum=0),
    "quotes": _f("Posts of kind 'quote'.", minimum=0),
    "unique_authors": _f("Distinct authors of those posts (at most posts).", minimum=1),
    "reach": _f("Sum of the posts' followers.", minimum=0),
    "scored": _f(
        "Posts with a sentiment score, those with lang 'en' or 'en-*' (at most posts).",
        minimum=0,
    ),
    "sentiment_mean": _f(
        "Mean VADER compound score of the scored posts; null when scored is 0.",
        minimum=-1.0,
        maximum=1.0,
    ),
    "positive_share": _f(
        f"Share of the scored posts with compound >= {POSITIVE_AT}; null when scored is 0.",
        minimum=0.0,
        maximum=1.0,
    ),
    "neutral_share": _f(
        f"Share of the scored posts with {NEGATIVE_AT} < compound < {POSITIVE_AT}; null "
        "when scored is 0.",
        minimum=0.0,
        maximum=1.0,
    ),
    "negative_share": _f(
        f"Share of the scored posts with compound <= {NEGATIVE_AT}; null when scored is 0.",
        minimum=0.0,
        maximum=1.0,
    ),
    "velocity": _f("Posts per second: posts / window size in seconds.", exclusiveMinimum=0),
    "acceleration": _f(
        "velocity minus the key's velocity in the window one hop earlier (0 when the key "
        "had no post there)."
    ),
    "trend_score": _f(
        "The key's originals/s against its own baseline, in deviations (process/trends.py); "
        f"0 below {_TRENDS.min_support} originals and over the stream's "
        f"first {_TRENDS.warmup_windows} windows. The key trends at >= {_TRENDS.threshold} "
        "(TrendConfig's defaults)."
    ),
    "top_cascades": _f(
        f"On '{STREAM_KEY}' rows, the window's top cascades: up to cascades.top_k "
        f"(default {_CASCADES.top_k}), by reposts in the window descending, then root_id "
        "ascending; empty when the window had no repost. Null on every other key."
    ),
}

#: The fields of a ``top_cascades`` entry (process/cascades.py).
_CASCADE_FIELDS: Final = {
    "root_id": _f("The cascade's root: its posts' root_id (an original's own post_id)."),
    "reposts": _f("Posts of kind 'repost' in the cascade within the window.", minimum=1),
    "size": _f(
        "The root plus the cascade's other posts, any kind, created before window_end "
        "(the root counts whether or not it was seen).",
        minimum=1,
    ),
    "depth": _f(
        "The greatest depth among those posts: the root 0, a post whose parent is the root "
        "(or that has no parent_id) 1, any other its parent's + 1 (2 when its parent was "
        "not seen).",
        minimum=0,
    ),
}

_SIGNAL_DESCRIPTION: Final = (
    "One signal: a closed window and key. Written as one JSON object per row (polars' "
    "NDJSON writer) on the signals topic, keyed by key, in the order of this schema's "
    "properties; Parquet (one file per window under <output dir>/signals/) holds the same "
    "columns with the dtypes of process.signals.SIGNAL_SCHEMA (Int64, Float64, String, and "
    "List(Struct) for top_cascades). Each window and key appears once. Rules this schema "
    "can't express: window_end = window_start + window size; window_start is a multiple of "
    "the hop; posts = originals + reposts + replies + quotes; unique_authors and scored are "
    "at most posts; the three shares add up to 1 (to rounding) when scored > 0; velocity = "
    "posts / window size in seconds; top_cascades holds at most cascades.top_k entries, "
    "distinct root_ids in rank order; every number is finite."
)


def _signal_field(name: str, dtype: pl.DataType) -> JsonSchema:
    rule = _SIGNAL_FIELDS[name]
    schema = {**_json_type(dtype), **rule.bounds}
    if name == _STREAM_ONLY:
        entry = schema["items"]["properties"]
        _described(_CASCADE_FIELDS, list(entry), "top_cascades entry")
        for column, part in _CASCADE_FIELDS.items():
            entry[column] = {"description": part.meaning, **entry[column], **part.bounds}
    if name in _SCORED or name == _STREAM_ONLY:
        schema = _nullable(schema)
    return {"description": rule.meaning, **schema}


def _when(
    condition: JsonSchema, then: Mapping[str, str], otherwise: Mapping[str, str]
) -> JsonSchema:
    """``if condition then`` these fields have ``then``'s types, ``else`` ``otherwise``'s."""

    def types(of: Mapping[str, str]) -> JsonSchema:
        return {"properties": {name: {"type": kind} for name, kind in of.items()}}

    return {"if": condition, "then": types(then), "else": types(otherwise)}


def signal_schema() -> JsonSchema:
    """The signal record as the signals topic carries it (and Parquet holds it)."""
    names = SIGNAL_SCHEMA.names()
    _described(_SIGNAL_FIELDS, names, "signal")
    unscored = {"properties": {"scored": {"const": 0}}, "required": ["scored"]}
    stream = {"properties": {"key": {"const": STREAM_KEY}}, "required": ["key"]}
    return {
        "$schema": DRAFT,
        "$comment": _generated("signal"),
        "title": "datamoat signal record",
        "description": _SIGNAL_DESCRIPTION,
        "type": "object",
        "properties": {name: _signal_field(name, dtype) for name, dtype in SIGNAL_SCHEMA.items()},
        "required": names,
        "additionalProperties": False,
        "allOf": [
            _when(unscored, dict.fromkeys(_SCORED, "null"), dict.fromkeys(_SCORED, "number")),
            _when(stream, {_STREAM_ONLY: "array"}, {_STREAM_ONLY: "null"}),
        ],
    }


# -- rendering ------------------------------------------------------------------------------

#: ``datamoat schema NAME`` prints ``render(NAME)``.
CONTRACTS: Final[dict[str, Callable[[], JsonSchema]]] = {
    "post": post_schema,
    "signal": signal_schema,
}


def regenerate_command(name: str) -> str:
    """The shell command that writes the committed copy of contract ``name``."""
    return f"datamoat schema {name} > docs/schema/{name}.schema.json"


def _generated(name: str) -> str:
    return (
        f"Generated by 'datamoat schema {name}' (process/contract.py); do not edit. "
        f"Regenerate: {regenerate_command(name)}"
    )


def render(name: str) -> str:
    """Contract ``name`` as the JSON text committed under docs/schema/ (2-space indent,
    a final newline)."""
    text: str = orjson.dumps(CONTRACTS[name](), option=orjson.OPT_INDENT_2).decode()
    return text + "\n"
