"""Decode a raw batch into a typed polars frame, with the rejects beside it.

Fast path: the whole batch is joined with newlines and parsed by one ``pl.read_ndjson`` call
against :data:`ingest.schema.POST_SCHEMA`, then validated by one polars expression. When the
parse fails (a record that is not JSON, has a wrong type, or spans several lines), the batch
is split in halves and each half retried, so a bad record costs O(log n) parse calls and the
clean rest of the batch stays on the fast path. A single failing record is classified in
Python (:func:`classify`) to give the dead letter its reason.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import orjson
import polars as pl

from ingest.schema import KINDS, POST_SCHEMA, REQUIRED_COLUMNS

__all__ = ["Decoded", "classify", "decode"]

#: Column added to the decoded frame: the record's index in the raw batch.
INDEX: Final = "_idx"
_INT_FIELDS: Final = ("post_id", "author_id", "created_at", "parent_id", "root_id", "followers")
_STR_FIELDS: Final = ("kind", "text", "lang")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Decoded:
    """``posts``: valid rows (POST_SCHEMA plus ``_idx``); ``rejects``: ``_idx`` and ``reason``."""

    posts: pl.DataFrame
    rejects: pl.DataFrame


def _parse(values: list[bytes]) -> pl.DataFrame | None:
    """Parse records in one call; None when any record breaks the batch parse."""
    joined = b"\n".join(values)
    if joined.count(b"\n") != len(values) - 1:
        return None  # a record with a raw newline would split into several rows
    try:
        frame = pl.read_ndjson(io.BytesIO(joined), schema=POST_SCHEMA)
    except (pl.exceptions.PolarsError, ValueError):
        return None
    return frame if frame.height == len(values) else None


def classify(value: bytes) -> str:
    """The reason one record can't be parsed into POST_SCHEMA (slow path, one record)."""
    if not value.strip():
        return "empty"
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_utf8"
        return "not_json"
    if not isinstance(obj, dict):
        return "not_object"
    for name in _INT_FIELDS:
        v = obj.get(name)
        if v is None or (type(v) is int and _INT64_MIN <= v <= _INT64_MAX):
            continue
        if type(v) is int or (isinstance(v, float) and v.is_integer() and abs(v) >= 2**63):
            return f"out_of_range:{name}"  # orjson reads integers beyond 64 bits as floats
        return f"wrong_type:{name}"
    for name in _STR_FIELDS:
        v = obj.get(name)
        if v is not None and not isinstance(v, str):
            return f"wrong_type:{name}"
    tags = obj.get("hashtags")
    if tags is not None and (
        not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)
    ):
        return "wrong_type:hashtags"
    return "unparseable"


def _reason_expr() -> pl.Expr:
    """One expression giving each parsed row's rejection reason, or null when valid."""
    checks: list[tuple[pl.Expr, str]] = [
        (pl.col(c).is_null(), f"missing_field:{c}") for c in REQUIRED_COLUMNS
    ]
    checks += [
        (pl.col("post_id") <= 0, "out_of_range:post_id"),
        (pl.col("author_id") <= 0, "out_of_range:author_id"),
        (pl.col("followers") < 0, "out_of_range:followers"),
        (~pl.col("kind").is_in(KINDS), "invalid_kind"),
    ]
    return pl.coalesce(
        [pl.when(cond).then(pl.lit(reason)) for cond, reason in checks]
        + [pl.lit(None, dtype=pl.String)]
    )


def _decode_range(
    values: list[bytes], lo: int, hi: int, frames: list[pl.DataFrame], bad: dict[int, str]
) -> None:
    frame = _parse(values[lo:hi])
    if frame is not None:
        frames.append(frame.with_columns(pl.int_range(lo, hi, dtype=pl.Int64).alias(INDEX)))
    elif hi - lo == 1:
        bad[lo] = classify(values[lo])
    else:
        mid = (lo + hi) // 2
        _decode_range(values, lo, mid, frames, bad)
        _decode_range(values, mid, hi, frames, bad)


def decode(values: list[bytes], max_record_bytes: int | None = None) -> Decoded:
    """Decode ``values`` (one JSON post per element) into valid posts and rejects."""
    bad: dict[int, str] = {}
    parsed = _empty_posts()
    if values:
        oversized: list[int] = []
        if max_record_bytes is not None and max(map(len, values)) > max_record_bytes:
            oversized = [i for i, v in enumerate(values) if len(v) > max_record_bytes]
        if oversized:
            bad.update(dict.fromkeys(oversized, "oversized"))
            origin = [i for i in range(len(values)) if i not in bad]
            parsed, sub_bad = _decode_all([values[i] for i in origin])
            origin_series = pl.Series(INDEX, origin, dtype=pl.Int64)
            parsed = parsed.with_columns(origin_series.gather(parsed[INDEX]))
            bad.update((origin[i], reason) for i, reason in sub_bad.items())
        else:
            parsed, bad = _decode_all(values)
    checked = parsed.with_columns(_reason_expr().alias("reason"))
    invalid = checked.filter(pl.col("reason").is_not_null()).select(INDEX, "reason")
    posts = checked.filter(pl.col("reason").is_null()).drop("reason")
    parse_rejects = pl.DataFrame(
        {INDEX: list(bad), "reason": list(bad.values())},
        schema={INDEX: pl.Int64, "reason": pl.String},
    )
    return Decoded(posts=posts, rejects=pl.concat([parse_rejects, invalid]).sort(INDEX))


def _decode_all(values: list[bytes]) -> tuple[pl.DataFrame, dict[int, str]]:
    frames: list[pl.DataFrame] = []
    bad: dict[int, str] = {}
    _decode_range(values, 0, len(values), frames, bad)
    return (pl.concat(frames) if frames else _empty_posts()), bad


def _empty_posts() -> pl.DataFrame:
    return pl.DataFrame(schema={**POST_SCHEMA, INDEX: pl.Int64})
