"""Hostile input: every record is processed or dead-lettered with its bytes and a reason.

The corpus below covers each rejection category (with the reason it must get) and the
valid-but-unusual records that must come through unchanged. Each is checked alone, inside
a clean batch (fast path) and inside a batch whose parse fails (fallback), and a large mixed
stream goes through the whole Worker to check the accounting and the signals.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import process.decode as decode_module
from datamoat.metrics import Metrics
from datamoat.pipeline import local_pipeline, score
from ingest.firehose import FirehoseConfig, encode_keys, encode_values, generate
from ingest.memory import MemorySource, MemoryTopic
from ingest.producer import partitions_of
from ingest.schema import POST_COLUMNS, POST_SCHEMA
from process.decode import Decoded, decode
from process.truth import truth_signals
from process.validate import FIRST_POST_MS, check_record
from process.windows import WindowSpec
from sinks.memory import ListDeadLetterSink, ListSink
from tests.support.common import START

NOW = START + 3_600_000
DAY = 86_400_000
MAX_BYTES = 65_536

BASE: dict[str, Any] = {
    "post_id": 7,
    "author_id": 42,
    "created_at": START + 1_000,
    "kind": "reply",
    "parent_id": 3,
    "root_id": 1,
    "text": "hello world",
    "hashtags": ["news"],
    "lang": "en",
    "followers": 10,
}
ORIGINAL = {**BASE, "kind": "post", "parent_id": None, "root_id": None}


def enc(post: dict[str, Any]) -> bytes:
    return orjson.dumps(post)


def put(field: str, raw: bytes, post: dict[str, Any] = BASE) -> bytes:
    """``post`` with ``field``'s value written as the raw JSON ``raw``."""
    parts = [b'"%s":%s' % (k.encode(), raw if k == field else enc(v)) for k, v in post.items()]
    return b"{" + b",".join(parts) + b"}"


def add(raw: bytes, post: dict[str, Any] = BASE) -> bytes:
    """``post`` with raw JSON members appended."""
    return enc(post)[:-1] + b"," + raw + b"}"


def without(field: str, post: dict[str, Any] = BASE) -> dict[str, Any]:
    return {k: v for k, v in post.items() if k != field}


def drop(field: str) -> bytes:
    return enc(without(field))


def nested(depth: int, opener: bytes = b"[") -> bytes:
    """An extra field whose value nests ``depth`` arrays or objects (record depth + 1)."""
    if opener == b"[":
        return b'"deep":' + b"[" * depth + b"]" * depth
    return b'"deep":' + b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


BAD: list[tuple[str, bytes, str]] = [
    # empty
    ("empty", b"", "empty"),
    ("spaces", b"   ", "empty"),
    ("whitespace", b" \t\r\n ", "empty"),
    # not JSON
    ("garbage", b"not json", "not_json"),
    ("brace", b"{", "not_json"),
    ("truncated", enc(BASE)[:40], "not_json"),
    ("truncated_end", enc(BASE)[:-1], "not_json"),
    ("trailing_garbage", enc(BASE) + b" x", "not_json"),
    ("two_documents", enc(BASE) + b"\n" + enc(BASE), "not_json"),
    ("two_documents_same_line", enc(BASE) + enc(BASE), "not_json"),
    ("raw_nul_in_text", put("text", b'"a\x00b"'), "not_json"),
    ("raw_control_in_text", put("text", b'"a\x01b"'), "not_json"),
    ("raw_tab_in_text", put("text", b'"a\tb"'), "not_json"),
    ("bom", b"\xef\xbb\xbf" + enc(BASE), "not_json"),
    ("single_quotes", b"{'post_id': 7}", "not_json"),
    ("trailing_comma", enc(BASE)[:-1] + b",}", "not_json"),
    ("leading_zero", put("followers", b"010"), "not_json"),
    ("bad_escape", put("text", b'"a\\xb"'), "not_json"),
    ("short_unicode_escape", put("text", b'"\\u12"'), "not_json"),
    ("unquoted_key", b"{post_id: 7}", "not_json"),
    # NaN / Infinity
    ("nan_extra", add(b'"x":NaN'), "non_finite_number"),
    ("infinity_extra", add(b'"x":Infinity'), "non_finite_number"),
    ("minus_infinity", add(b'"x":[-Infinity]'), "non_finite_number"),
    ("nan_field", put("followers", b"NaN"), "non_finite_number"),
    # invalid UTF-8
    ("lone_ff", b"\xff", "invalid_utf8"),
    ("ff_in_text", put("text", b'"a\xffb"'), "invalid_utf8"),
    ("overlong_slash", put("text", b'"\xc0\xaf"'), "invalid_utf8"),
    ("utf8_encoded_surrogate", put("text", b'"\xed\xa0\x80"'), "invalid_utf8"),
    ("cut_multibyte", put("text", b'"\xe2\x82"'), "invalid_utf8"),
    ("latin1", put("text", "café".encode("latin-1")), "invalid_utf8"),
    # lone surrogates
    ("lone_high", put("text", b'"\\ud800"'), "lone_surrogate"),
    ("lone_high_upper", put("text", b'"x\\uDBFFy"'), "lone_surrogate"),
    ("lone_low", put("text", b'"\\udc00"'), "lone_surrogate"),
    ("reversed_pair", put("text", b'"\\ude00\\ud83d"'), "lone_surrogate"),
    ("high_then_letter", put("text", b'"\\ud83dx"'), "lone_surrogate"),
    ("surrogate_in_hashtag", put("hashtags", b'["\\ud800"]'), "lone_surrogate"),
    ("surrogate_in_extra_key", add(b'"\\udfff":1'), "lone_surrogate"),
    ("surrogate_in_extra", add(b'"x":{"y":["\\ud800"]}'), "lone_surrogate"),
    # not an object
    ("array", b"[1, 2]", "not_object"),
    ("empty_array", b"[]", "not_object"),
    ("array_of_post", b"[" + enc(BASE) + b"]", "not_object"),
    ("string", b'"a string"', "not_object"),
    ("number", b"5", "not_object"),
    ("null", b"null", "not_object"),
    ("true", b"true", "not_object"),
    # duplicate keys
    ("dup_post_id", add(b'"post_id":2'), "duplicate_key"),
    ("dup_same_value", add(b'"post_id":7'), "duplicate_key"),
    ("dup_text", add(b'"text":"other"'), "duplicate_key"),
    ("dup_null_second", add(b'"author_id":null'), "duplicate_key"),
    ("dup_spaced", add(b'"kind" : "post"'), "duplicate_key"),
    ("dup_escaped", add(b'"\\u0070ost_id":2'), "duplicate_key"),
    ("dup_minimal", b'{"post_id":1,"post_id":2}', "duplicate_key"),
    (
        "dup_replacing_absent_root",  # ten keys in all, so a key count alone misses it
        drop("root_id")[:-1] + b',"post_id":8}',
        "duplicate_key",
    ),
    # too deep (a post itself is depth 2)
    ("deep_arrays_10k", add(nested(10_000)), "too_deep"),
    ("deep_objects_10k", add(nested(10_000, b"{")), "too_deep"),
    ("deep_2000", add(nested(2_000)), "too_deep"),
    ("deep_just_over", add(nested(64)), "too_deep"),
    ("deep_unclosed", add(b'"deep":' + b"[" * 10_000), "too_deep"),
    ("deep_in_hashtags", put("hashtags", b"[" * 100 + b"]" * 100), "too_deep"),
    # wrong types
    ("text_number", put("text", b"5"), "wrong_type:text"),
    ("text_float", put("text", b"1.5"), "wrong_type:text"),
    ("text_true", put("text", b"true"), "wrong_type:text"),
    ("text_object", put("text", b'{"a":"b"}'), "wrong_type:text"),
    ("text_array", put("text", b'["a"]'), "wrong_type:text"),
    ("text_spaced_number", put("text", b" 5 "), "wrong_type:text"),
    (
        "text_escaped_key",
        enc(BASE).replace(b'"text":"hello world"', b'"\\u0074ext":5'),
        "wrong_type:text",
    ),
    ("kind_number", put("kind", b"5"), "wrong_type:kind"),
    ("kind_false", put("kind", b"false"), "wrong_type:kind"),
    ("lang_number", put("lang", b"5"), "wrong_type:lang"),
    ("lang_true", put("lang", b"true"), "wrong_type:lang"),
    ("hashtag_number", put("hashtags", b"[5]"), "wrong_type:hashtags"),
    ("hashtag_second_number", put("hashtags", b'["a",5]'), "wrong_type:hashtags"),
    ("hashtag_null", put("hashtags", b"[null]"), "wrong_type:hashtags"),
    ("hashtag_second_null", put("hashtags", b'["a",null]'), "wrong_type:hashtags"),
    ("hashtag_spaced_null", put("hashtags", b'[ "a" , null ]'), "wrong_type:hashtags"),
    ("hashtag_bool", put("hashtags", b"[true]"), "wrong_type:hashtags"),
    ("hashtag_list", put("hashtags", b"[[]]"), "wrong_type:hashtags"),
    ("hashtag_object", put("hashtags", b"[{}]"), "wrong_type:hashtags"),
    ("hashtags_string", put("hashtags", b'"news"'), "wrong_type:hashtags"),
    ("hashtags_object", put("hashtags", b"{}"), "wrong_type:hashtags"),
    ("hashtags_number", put("hashtags", b"5"), "wrong_type:hashtags"),
    ("post_id_string", put("post_id", b'"7"'), "wrong_type:post_id"),
    ("post_id_float", put("post_id", b"1.5"), "wrong_type:post_id"),
    ("post_id_integral_float", put("post_id", b"7.0"), "wrong_type:post_id"),
    ("post_id_exponent", put("post_id", b"7e0"), "wrong_type:post_id"),
    ("post_id_true", put("post_id", b"true"), "wrong_type:post_id"),
    ("post_id_array", put("post_id", b"[7]"), "wrong_type:post_id"),
    ("post_id_object", put("post_id", b"{}"), "wrong_type:post_id"),
    ("followers_string", put("followers", b'"10"'), "wrong_type:followers"),
    ("created_at_iso", put("created_at", b'"2026-01-01T00:00:00Z"'), "wrong_type:created_at"),
    ("parent_string", put("parent_id", b'"3"'), "wrong_type:parent_id"),
    ("root_float", put("root_id", b"1.5"), "wrong_type:root_id"),
    ("root_false", put("root_id", b"false"), "wrong_type:root_id"),
    ("big_float_field", put("author_id", b"1e400"), "wrong_type:author_id"),
    # out of range
    ("post_id_20_digits", put("post_id", b"99999999999999999999"), "out_of_range:post_id"),
    ("post_id_int64_max_plus_1", put("post_id", b"9223372036854775808"), "out_of_range:post_id"),
    (
        "author_id_int64_min_minus_1",
        put("author_id", b"-9223372036854775809"),
        "out_of_range:author_id",
    ),
    ("post_id_5000_digits", put("post_id", b"9" * 5_000), "out_of_range:post_id"),
    ("parent_uint64", put("parent_id", b"18446744073709551615"), "out_of_range:parent_id"),
    ("root_huge", put("root_id", b"1" + b"0" * 30), "out_of_range:root_id"),
    ("created_huge", put("created_at", b"1" + b"0" * 25), "out_of_range:created_at"),
    ("post_id_zero", put("post_id", b"0"), "out_of_range:post_id"),
    ("post_id_negative", put("post_id", b"-1"), "out_of_range:post_id"),
    ("author_id_zero", put("author_id", b"0"), "out_of_range:author_id"),
    ("followers_negative", put("followers", b"-1"), "out_of_range:followers"),
    ("created_at_zero", put("created_at", b"0"), "out_of_range:created_at"),
    ("created_at_negative", put("created_at", b"-5"), "out_of_range:created_at"),
    ("created_at_seconds", put("created_at", b"1767225600"), "out_of_range:created_at"),
    (
        "created_before_first_post",
        put("created_at", b"%d" % (FIRST_POST_MS - 1)),
        "out_of_range:created_at",
    ),
    # missing fields
    *(
        (f"missing_{c}", drop(c), f"missing_field:{c}")
        for c in POST_COLUMNS
        if c not in ("parent_id", "root_id")
    ),
    ("text_null", put("text", b"null"), "missing_field:text"),
    ("hashtags_null", put("hashtags", b"null"), "missing_field:hashtags"),
    ("empty_object", b"{}", "missing_field:post_id"),
    ("only_extras", b'{"a":1,"b":[2]}', "missing_field:post_id"),
    # kind
    ("kind_retweet", put("kind", b'"retweet"'), "invalid_kind"),
    ("kind_upper", put("kind", b'"POST"'), "invalid_kind"),
    ("kind_empty", put("kind", b'""'), "invalid_kind"),
    # the future
    ("a_day_and_a_ms_ahead", put("created_at", b"%d" % (NOW + DAY + 1)), "future:created_at"),
    ("year_3000", put("created_at", b"32503680000000"), "future:created_at"),
    ("int64_max_time", put("created_at", b"9223372036854775807"), "future:created_at"),
    # oversized
    ("oversized", add(b'"pad":"' + b"x" * MAX_BYTES + b'"'), "oversized"),
    ("oversized_garbage", b"\xff" * (MAX_BYTES + 1), "oversized"),
]


def ok(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


GOOD: list[tuple[str, bytes, dict[str, Any]]] = [
    ("plain", enc(BASE), BASE),
    ("original", enc(ORIGINAL), ORIGINAL),
    ("emoji", enc(ok(text="🔥😀👩‍👩‍👧 🇯🇵")), ok(text="🔥😀👩‍👩‍👧 🇯🇵")),
    (
        "scripts",
        enc(ok(text="日本語 한국어 العربية हिन्दी ελληνικά עברית")),
        ok(text="日本語 한국어 العربية हिन्दी ελληνικά עברית"),
    ),
    ("combining", enc(ok(text="e\u0301 Z\u0351\u0362")), ok(text="e\u0301 Z\u0351\u0362")),
    ("nul_escaped", enc(ok(text="a\x00b\x00")), ok(text="a\x00b\x00")),
    ("controls_escaped", enc(ok(text="line\nnext\ttab\r")), ok(text="line\nnext\ttab\r")),
    ("quotes_backslashes", enc(ok(text='say "hi" \\o/ ":')), ok(text='say "hi" \\o/ ":')),
    ("line_separator", enc(ok(text="a\u2028b\u2029c")), ok(text="a\u2028b\u2029c")),
    ("surrogate_pair_escape", put("text", b'"\\ud83d\\ude00"'), ok(text="😀")),
    ("ascii_only_encoding", json.dumps(ok(text="naïve 😀")).encode(), ok(text="naïve 😀")),
    ("escaped_key", enc(BASE).replace(b'"lang"', b'"\\u006cang"'), BASE),
    ("empty_text", enc(ok(text="")), ok(text="")),
    ("empty_hashtags", enc(ok(hashtags=[])), ok(hashtags=[])),
    ("empty_string_hashtags", enc(ok(hashtags=["", "a", ""])), ok(hashtags=["", "a", ""])),
    ("hashtag_with_comma_quote", enc(ok(hashtags=['a","b', "c"])), ok(hashtags=['a","b', "c"])),
    ("unknown_scalar", add(b'"source":"web"'), BASE),
    ("unknown_nested", add(b'"meta":{"geo":[1.5,-2e3,{"a":[null,true]}],"text":5}'), BASE),
    ("unknown_duplicates", add(b'"x":1,"x":2'), BASE),
    ("unknown_contract_name_nested", add(b'"meta":{"post_id":"x","post_id":1}'), BASE),
    ("unknown_big_numbers", add(b'"big":1e400,"huge":' + b"9" * 400), BASE),
    ("unknown_empty_key", add(b'"":0'), BASE),
    ("depth_64", add(nested(63)), BASE),
    ("depth_64_objects", add(nested(63, b"{")), BASE),
    ("keys_reversed", enc(dict(reversed(BASE.items()))), BASE),
    ("spaced", json.dumps(BASE, separators=(" , ", " : ")).encode(), BASE),
    ("pretty", json.dumps(BASE, indent=2).encode(), BASE),
    ("tabs_crlf", json.dumps(BASE, indent="\t").replace("\n", "\r\n").encode(), BASE),
    ("padded", b"  " + enc(BASE) + b"\r\n", BASE),
    ("parent_absent", enc(without("parent_id", ORIGINAL)), ORIGINAL),
    ("negative_zero", put("followers", b"-0"), ok(followers=0)),
    ("int64_max_id", put("post_id", b"9223372036854775807"), ok(post_id=2**63 - 1)),
    ("negative_parent", put("parent_id", b"-3"), ok(parent_id=-3)),
    ("first_post_day", put("created_at", b"%d" % FIRST_POST_MS), ok(created_at=FIRST_POST_MS)),
    ("a_day_ahead", put("created_at", b"%d" % (NOW + DAY)), ok(created_at=NOW + DAY)),
    (
        "nan_word_in_text",
        enc(ok(text="NaN Infinity -Infinity null")),
        ok(text="NaN Infinity -Infinity null"),
    ),
    (
        "json_in_text",
        enc(ok(text='{"post_id":1,"post_id":2}')),
        ok(text='{"post_id":1,"post_id":2}'),
    ),
    ("under_limit", add(b'"pad":"' + b"x" * (MAX_BYTES - 300) + b'"'), BASE),
]


def run(values: Sequence[bytes], **kwargs: Any) -> Decoded:
    return decode(values, MAX_BYTES, now_ms=NOW, **kwargs)


def outcome(decoded: Decoded) -> dict[int, str | dict[str, Any]]:
    """Index -> reason, or index -> the decoded post."""
    out: dict[int, str | dict[str, Any]] = {}
    for row in decoded.posts.to_dicts():
        out[row.pop("_idx")] = row
    for i, reason in decoded.rejects.iter_rows():
        assert i not in out, f"record {i} is both a post and a reject"
        out[i] = reason
    return out


def filler(n: int) -> list[bytes]:
    return [enc({**BASE, "post_id": 1_000 + i}) for i in range(n)]


CONTEXTS: dict[str, Callable[[bytes], tuple[list[bytes], int]]] = {
    "alone": lambda raw: ([raw], 0),
    "clean_batch": lambda raw: ([*filler(20), raw, *filler(20)], 20),
    "failing_batch": lambda raw: ([b"{broken", *filler(20), raw, *filler(20)], 21),
    "type_error_batch": lambda raw: ([put("post_id", b'"x"'), *filler(20), raw], 21),
}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("name", "raw", "reason"), BAD, ids=[b[0] for b in BAD])
def test_bad_record_gets_its_reason_in_any_batch(
    name: str, raw: bytes, reason: str, context: str
) -> None:
    values, at = CONTEXTS[context](raw)
    got = outcome(run(values))
    assert sorted(got) == list(range(len(values)))
    assert got[at] == reason
    fillers = set(filler(20))
    assert all(isinstance(got[i], dict) for i, v in enumerate(values) if v in fillers)


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize(("name", "raw", "post"), GOOD, ids=[g[0] for g in GOOD])
def test_unusual_valid_record_comes_through_exactly(
    name: str, raw: bytes, post: dict[str, Any], context: str
) -> None:
    values, at = CONTEXTS[context](raw)
    assert outcome(run(values))[at] == post


UNSIZED = [b for b in BAD if b[2] != "oversized"]  # the size limit is the batch's


@pytest.mark.parametrize(("name", "raw", "reason"), UNSIZED, ids=[b[0] for b in UNSIZED])
def test_per_record_check_agrees_with_the_batch(name: str, raw: bytes, reason: str) -> None:
    found = check_record(raw)
    if isinstance(found, str):
        assert found == reason
    else:  # the rest are semantic checks, for the batch expression
        assert reason.startswith(("missing_field", "out_of_range", "invalid_kind", "future"))


def test_timestamp_checks_are_off_without_a_clock() -> None:
    values = [put("created_at", b"0"), put("created_at", b"%d" % (NOW + 400 * DAY))]
    assert decode(values).posts.height == 2
    assert decode(values, now_ms=NOW).rejects["reason"].to_list() == [
        "out_of_range:created_at",
        "future:created_at",
    ]
    custom = decode(values[1:], now_ms=NOW, max_future_ms=500 * DAY)
    assert custom.posts.height == 1


def test_depth_limit_is_a_parameter() -> None:
    raw = add(nested(10))
    assert run([raw]).posts.height == 1
    assert run([raw], max_depth=8).rejects["reason"].to_list() == ["too_deep"]


def test_fallback_halves_when_the_screen_lets_a_bad_record_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(decode_module, "_readable", lambda raw: raw.is_not_null())
    values = [*filler(30), b"not json", *filler(30), add(b'"x":NaN'), *filler(3)]
    got = outcome(run(values))
    assert got[30] == "not_json" and got[61] == "non_finite_number"
    assert sum(isinstance(v, dict) for v in got.values()) == 63


#: Pairs whose quote and key counts cancel out over a batch: the batch-wide tallies that
#: prove plain records exact must not be fooled by them (see process.validate.plain_mask).
CANCELLING: list[tuple[bytes, str, bytes, str]] = [
    (
        put("hashtags", b"[5]"),
        "wrong_type:hashtags",
        put("hashtags", b'[["a","b"]]'),
        "wrong_type:hashtags",
    ),
    (put("text", b"5"), "wrong_type:text", put("lang", b'["a","b"]'), "wrong_type:lang"),
    (put("text", b'["a"]'), "wrong_type:text", enc(BASE), ""),
    (put("kind", b'["post"]'), "wrong_type:kind", enc(BASE), ""),
    (put("kind", b"5"), "wrong_type:kind", put("lang", b'["a","b"]'), "wrong_type:lang"),
    (
        put("lang", b"null"),
        "missing_field:lang",
        put("hashtags", b'["a",["b"]]'),
        "wrong_type:hashtags",
    ),
    (
        put("text", b'{"parent_id":null}', without("parent_id", BASE)),
        "wrong_type:text",
        put("hashtags", b'[["x","y"]]'),
        "wrong_type:hashtags",
    ),
    (drop("root_id")[:-1] + b',"post_id":8}', "duplicate_key", enc(ORIGINAL), ""),
    (add(b'"text":"b"'), "duplicate_key", put("text", b"1"), "wrong_type:text"),
    (add(b'"post_id":2'), "duplicate_key", put("text", b"5"), "wrong_type:text"),
    (put("lang", b"5"), "wrong_type:lang", add(b'"x":1'), ""),
]


@pytest.mark.parametrize(("a", "reason_a", "b", "reason_b"), CANCELLING)
def test_bad_records_cannot_cancel_out_in_a_clean_batch(
    a: bytes, reason_a: str, b: bytes, reason_b: str
) -> None:
    values = [*filler(50), a, *filler(50), b, *filler(50)]
    got = outcome(run(values))
    assert got[50] == reason_a
    assert got[101] == (reason_b or {k: v for k, v in orjson.loads(b).items() if k in BASE})
    assert sum(isinstance(v, dict) for v in got.values()) == 150 + (not reason_b)


CHOICES = [*((raw, reason) for _, raw, reason in BAD), *((raw, None) for _, raw, _ in GOOD)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(range(len(CHOICES))), min_size=1, max_size=40))
def test_any_mixture_accounts_for_every_record(picks: list[int]) -> None:
    values = [CHOICES[p][0] for p in picks]
    got = outcome(run(values))
    assert sorted(got) == list(range(len(values)))
    for i, p in enumerate(picks):
        want = CHOICES[p][1]
        assert (got[i] == want) if want is not None else isinstance(got[i], dict)


# -- a large mixed stream through the Worker -------------------------------------------

SPEC = WindowSpec(size_ms=5_000, hop_ms=5_000, allowed_lateness_ms=1_000)
PARTITIONS = 4


def restyle(value: bytes, i: int) -> bytes:
    """The same post written another valid way."""
    post = orjson.loads(value)
    styles = [
        lambda: json.dumps(post).encode(),  # ASCII only: emoji as surrogate-pair escapes
        lambda: json.dumps(post, indent=1).encode(),  # newlines inside the record
        lambda: enc(dict(reversed(post.items()))),
        lambda: enc({**post, "meta": {"client": "web", "geo": [1.5, None], "text": 1}}),
        lambda: json.dumps(post, separators=(" , ", " : ")).encode(),
    ]
    return styles[i % len(styles)]()


def test_large_mixed_stream_through_the_worker() -> None:
    # The Worker's clock (wall_ms, NOW here) decides what is in the future.
    frame = generate(FirehoseConfig(rate=300.0), 11, START, 47_500)
    unusual = pl.int_range(pl.len()) % 97 == 0
    frame = frame.with_columns(
        text=pl.when(unusual).then(pl.col("text") + " \x00 ∑ مرحبا 😀").otherwise("text")
    )
    values, keys = encode_values(frame), encode_keys(frame)
    parts = partitions_of(frame, PARTITIONS)
    rows: list[tuple[int, bytes | None, bytes]] = []
    bad: Counter[tuple[bytes, str]] = Counter()
    late: list[bytes] = []
    for i, value in enumerate(values):
        rows.append((parts[i], keys[i], restyle(value, i) if i % 37 == 0 else value))
        if i % 19 == 7:  # about 5% bad, every kind in turn
            _, raw, reason = BAD[(i // 19) % len(BAD)]
            rows.append((parts[i], None, raw))
            bad[(raw, reason)] += 1
        if i > 30_000 and i % 5_000 == 0:  # valid, but an hour behind the watermark
            old = enc({**orjson.loads(value), "created_at": START - 3_600_000})
            rows.append((parts[i], keys[i], old))
            late.append(old)
    topic = MemoryTopic(partitions=PARTITIONS)
    for lo in range(0, len(rows), 1_000):
        chunk = rows[lo : lo + 1_000]
        topic.write([r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk])
    topic.close()

    sink, dead = ListSink(), ListDeadLetterSink()
    source = MemorySource(topic)
    built = local_pipeline(
        source,
        [sink],
        dead,
        Metrics(),
        SPEC,
        max_records=3_000,
        max_wait_ms=20,
        max_record_bytes=MAX_BYTES,
        wall_ms=lambda: NOW,
    )
    worker = built.worker
    worker.run(threading.Event(), done=source.exhausted)

    s = worker.stats
    assert s.consumed == len(rows)
    assert s.processed == frame.height
    assert s.dead_lettered == sum(bad.values())
    assert s.late == len(late)
    assert s.consumed == s.processed + s.dead_lettered + s.late
    letters = Counter(zip(dead.values, dead.reasons, strict=True))
    assert letters == bad + Counter((raw, "late") for raw in late)  # original bytes, untouched
    assert s.reasons == dict(Counter(reason for (_, reason) in bad.elements()))

    registry = worker.metrics.registry

    def sample(name: str) -> float:
        value = registry.get_sample_value(name)
        assert value is not None, name
        return value

    consumed = sample("datamoat_posts_consumed_total")
    processed = sample("datamoat_posts_processed_total")
    late_total = sample("datamoat_late_records_total")
    dead_total = sum(
        sample.value
        for metric in registry.collect()
        if metric.name == "datamoat_dead_letters"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert (consumed, processed, dead_total, late_total) == (
        s.consumed,
        s.processed,
        s.dead_lettered,
        s.late,
    )
    assert consumed == processed + dead_total + late_total

    want = truth_signals(score(frame), SPEC)
    order = ["window_start", "key"]
    assert_frame_equal(sink.frame().sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)


def test_decoded_schema_is_the_contract() -> None:
    decoded = run([raw for _, raw, _ in GOOD] + [raw for _, raw, _ in BAD])
    assert decoded.posts.schema == pl.Schema({**POST_SCHEMA, "_idx": pl.Int64()})
    assert decoded.rejects.schema == pl.Schema({"_idx": pl.Int64(), "reason": pl.String()})
    assert decoded.posts.height == len(GOOD)
