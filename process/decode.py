"""Decode a raw batch into a typed polars frame, with the rejects beside it.

Every record comes out either as a row of ``posts`` or as a row of ``rejects`` (its index
in the batch and a reason); the caller dead-letters the original bytes with that reason.

Fast path: the batch is joined with newlines and parsed by one ``pl.read_ndjson`` call
against :data:`ingest.schema.POST_SCHEMA`; a few memchr-speed scans and two numpy counts
then prove that each row is exactly its record (:func:`process.validate.plain_mask`), and
one expression checks ranges, kinds and timestamps. Records that are not plain are
screened by regexes (:func:`process.validate.suspect_expr`) and only the suspects are
checked one by one in Python (:func:`process.validate.check_record`). When the batch
parse fails, one vectorised ``json_path_match`` pass sends the records that a JSON parser
can't read to Python and the rest is parsed again in one call (halves are retried only if
that still fails), so a batch with bad records costs about three clean parses plus the
bad records themselves, however many there are.

Reasons (the dead-letter ``reason`` header; stable). The first that applies wins, in this
order:

======================  ================================================================
``oversized``           more than ``max_record_bytes`` bytes (checked before any parsing)
``empty``               no bytes, or only whitespace
``invalid_utf8``        not valid UTF-8 (including encoded surrogates and overlong forms)
``too_deep``            arrays/objects nested deeper than ``max_depth`` (default 64)
                        anywhere, extra fields included
``non_finite_number``   a ``NaN``, ``Infinity`` or ``-Infinity`` literal
``not_json``            not one JSON document: syntax error, truncated, trailing data, a
                        byte-order mark, raw control characters (NUL too) in a string
``lone_surrogate``      a ``\\uD800``-``\\uDFFF`` escape that is not half of a valid pair,
                        in any string or key
``not_object``          valid JSON, but not an object
``duplicate_key``       a contract field appears twice in the top-level object
``wrong_type:<field>``  integer fields must be JSON integers (not floats, strings,
                        booleans), kind/text/lang strings, hashtags a list of strings
                        (a null element included); fields are checked in schema order
``out_of_range:<f>``    an integer outside int64; ``post_id``/``author_id`` <= 0,
                        ``followers`` < 0; with ``now_ms``: ``created_at`` before
                        2006-03-21T00:00:00Z (X's first post)
``missing_field:<f>``   a required field absent or null (parent_id/root_id may be null)
``invalid_kind``        kind not one of post/repost/reply/quote
``future:created_at``   with ``now_ms``: ``created_at`` more than ``max_future_ms``
                        (default one day) after ``now_ms``
======================  ================================================================

(The worker adds ``late``.) Accepted as usual: unknown extra fields of any shape up to the
depth limit (their contents, duplicates and number ranges included, are ignored), keys in
any order, JSON whitespace anywhere (a record with raw newlines takes the Python path),
any script and emoji, raw or escaped, ``\\u0000`` in text, an empty hashtag list and empty
hashtag strings. The clock is never read here: timestamps are checked only when the caller
passes ``now_ms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from ingest.schema import POST_SCHEMA
from process.validate import (
    DAY_MS,
    MAX_DEPTH,
    Tally,
    check_record,
    classify,
    invalid_expr,
    plain_mask,
    reason_expr,
    suspect_expr,
    tally,
)

__all__ = ["Decoded", "classify", "decode"]

#: Column added to the decoded frame: the record's index in the raw batch.
INDEX: Final = "_idx"
_RAW: Final = "_raw"


@dataclass(frozen=True, slots=True)
class Decoded:
    """``posts``: valid rows (POST_SCHEMA plus ``_idx``); ``rejects``: ``_idx`` and ``reason``."""

    posts: pl.DataFrame
    rejects: pl.DataFrame


def decode(
    values: Sequence[bytes],
    max_record_bytes: int | None = None,
    *,
    now_ms: int | None = None,
    max_future_ms: int = DAY_MS,
    max_depth: int = MAX_DEPTH,
) -> Decoded:
    """Decode ``values`` (one JSON post per element) into valid posts and rejects.

    ``now_ms`` (the caller's clock, epoch ms) turns on the timestamp checks: ``created_at``
    must lie between X's first post and ``now_ms + max_future_ms``.
    """
    bad: dict[int, str] = {}
    batch = _Parsed()
    if values:
        binary = pl.Series(_RAW, values, dtype=pl.Binary)
        raw = _text(values, binary)
        sizes = binary.bin.size()
        # Never batch-parsed: empty, not UTF-8, or a raw tab/CR/LF (valid only as JSON
        # whitespace, and a newline would split the record in two).
        aside = (sizes == 0) | raw.is_null() | raw.str.contains("[\t\n\r]")
        if max_record_bytes is not None:
            oversized = sizes > max_record_bytes
            bad.update(dict.fromkeys(oversized.arg_true().to_list(), "oversized"))
            aside &= ~oversized
            keep = ~(aside | oversized)
        else:
            keep = ~aside
        idx = pl.int_range(len(values), dtype=pl.Int64, eager=True).alias(INDEX)
        batch.slow += idx.filter(aside).to_list()
        if keep.all():
            batch.parse(values, raw, idx)
        else:
            kept = keep.arg_true()
            batch.parse([values[i] for i in kept.to_list()], raw.gather(kept), idx.gather(kept))
    parsed = batch.screen(max_depth)
    rows: list[dict[str, Any]] = []
    for i in batch.slow:
        found = check_record(values[i], max_depth)
        if isinstance(found, str):
            bad[i] = found
        else:
            rows.append({**found, INDEX: i})
    if rows:
        more = pl.from_dicts(rows, schema={**POST_SCHEMA, INDEX: pl.Int64})
        parsed = pl.concat([parsed, more]).sort(INDEX)
    return _split(parsed, bad, now_ms, max_future_ms)


def _text(values: Sequence[bytes], binary: pl.Series) -> pl.Series:
    """The records as strings; null where a record is not valid UTF-8."""
    try:
        return binary.cast(pl.String)
    except pl.exceptions.ComputeError:  # rare: find the culprits one by one
        bad = [i for i, value in enumerate(values) if not _is_utf8(value)]
        cleaned = list(values)  # the cast checks every byte, even under a null: drop them
        for i in bad:
            cleaned[i] = b""
        return pl.Series(_RAW, cleaned, dtype=pl.Binary).cast(pl.String).scatter(bad, None)


def _is_utf8(value: bytes) -> bool:
    if value.isascii():
        return True
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _readable(raw: pl.Series) -> pl.Series:
    """Records a JSON parser reads, with a post_id: a vectorised per-record screen."""
    return raw.str.json_path_match("$.post_id").is_not_null()


@dataclass(slots=True)
class _Parsed:
    """The parsed pieces of a batch (POST_SCHEMA and index, and the record texts beside),
    their quote and key tallies, and the index of every record left for the per-record
    check."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    raws: list[pl.Series] = field(default_factory=list)
    counts: Tally = field(default_factory=Tally)
    slow: list[int] = field(default_factory=list)

    def parse(self, values: Sequence[bytes], raw: pl.Series, idx: pl.Series) -> None:
        """Newline-free records: all in one call, else screen them and parse the rest."""
        if self._read(values, raw, idx, lenient=False):
            return
        readable = _readable(raw)
        self.slow += idx.filter(~readable).to_list()
        kept = readable.arg_true()
        self._bisect([values[i] for i in kept.to_list()], raw.gather(kept), idx.gather(kept))

    def _bisect(self, values: list[bytes], raw: pl.Series, idx: pl.Series) -> None:
        """Last resort when polars rejects what the screen let through: halve until it reads."""
        if not values or self._read(values, raw, idx, lenient=True):
            return
        if len(values) == 1:
            self.slow.append(idx[0])
            return
        mid = len(values) // 2
        self._bisect(values[:mid], raw[:mid], idx[:mid])
        self._bisect(values[mid:], raw[mid:], idx[mid:])

    def _read(self, values: Sequence[bytes], raw: pl.Series, idx: pl.Series, lenient: bool) -> bool:
        """Parse records in one call; False when any record breaks the batch parse.

        ``lenient``: a field of the wrong type becomes null instead of failing the batch
        (about 10% slower, so only used once the batch has failed).
        """
        joined = b"\n".join(values)
        try:
            frame = pl.read_ndjson(joined, schema=POST_SCHEMA, ignore_errors=lenient)
        except (pl.exceptions.PolarsError, ValueError):
            return False
        if frame.height != len(values):  # a blank record is skipped
            return False
        self.frames.append(frame.with_columns(idx))
        self.raws.append(raw)
        self.counts += tally(joined)
        return True

    def screen(self, max_depth: int) -> pl.DataFrame:
        """The parsed rows that are exact; each doubtful one joins ``slow``."""
        if not self.frames:
            return _empty_posts()
        parsed = self.frames[0] if len(self.frames) == 1 else pl.concat(self.frames)
        raw = self.raws[0] if len(self.raws) == 1 else pl.concat(self.raws)
        checked = parsed.with_columns(raw)
        plain = plain_mask(checked, _RAW, self.counts)
        if not plain.all():
            rest = checked.filter(~plain)
            doubtful = rest.filter(rest.select(suspect_expr(pl.col(_RAW), max_depth)).to_series())
            if doubtful.height:
                self.slow += doubtful[INDEX].to_list()
                parsed = parsed.filter(~pl.col(INDEX).is_in(doubtful[INDEX].implode()))
        return parsed


def _split(
    parsed: pl.DataFrame, bad: dict[int, str], now_ms: int | None, max_future_ms: int
) -> Decoded:
    parse_rejects = pl.DataFrame(
        {INDEX: list(bad), "reason": list(bad.values())},
        schema={INDEX: pl.Int64, "reason": pl.String},
    ).sort(INDEX)
    invalid = parsed.select(invalid_expr(now_ms, max_future_ms)).to_series()
    if not invalid.any():
        return Decoded(posts=parsed, rejects=parse_rejects)
    reasons = reason_expr(now_ms, max_future_ms).alias("reason")
    rejects = pl.concat([parse_rejects, parsed.filter(invalid).select(INDEX, reasons)])
    return Decoded(posts=parsed.filter(~invalid), rejects=rejects.sort(INDEX))


def _empty_posts() -> pl.DataFrame:
    return pl.DataFrame(schema={**POST_SCHEMA, INDEX: pl.Int64})
