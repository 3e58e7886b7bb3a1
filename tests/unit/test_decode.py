from __future__ import annotations

import functools

import orjson
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.firehose import FirehoseConfig, encode_values, generate
from ingest.schema import POST_SCHEMA
from process.decode import classify, decode
from tests.support.common import START


@functools.cache
def _pool() -> tuple[bytes, ...]:
    return tuple(encode_values(generate(FirehoseConfig(rate=1000.0), 3, START, 200)))


def good_values(n: int) -> list[bytes]:
    return list(_pool()[:n])


BAD = {
    b"": "empty",
    b"   ": "empty",
    b"not json": "not_json",
    b'{"post_id": 1': "not_json",
    b"[1, 2]": "not_object",
    b'"a string"': "not_object",
    b"\xff\xfe{}": "invalid_utf8",
    b'{"post_id":"7"}': "wrong_type:post_id",
    b'{"post_id":1.5}': "wrong_type:post_id",
    b'{"post_id":99999999999999999999}': "out_of_range:post_id",
    b'{"hashtags":"x"}': "wrong_type:hashtags",
    b'{"a":1}\n{"b":2}': "not_json",
}


def test_clean_batch_decodes_every_field_exactly() -> None:
    frame = generate(FirehoseConfig(rate=1000.0), 3, START, 2000)
    decoded = decode(encode_values(frame))
    assert decoded.rejects.is_empty()
    assert decoded.posts.drop("_idx").equals(frame)
    assert decoded.posts.schema == pl.Schema({**POST_SCHEMA, "_idx": pl.Int64()})


def test_each_bad_record_gets_its_reason_and_costs_only_itself() -> None:
    values = good_values(50)
    bad_positions = {}
    for i, (raw, reason) in enumerate(BAD.items()):
        pos = 3 + i * 3
        values.insert(pos, raw)
        bad_positions[pos] = reason
    decoded = decode(values)
    got = dict(
        zip(decoded.rejects["_idx"].to_list(), decoded.rejects["reason"].to_list(), strict=False)
    )
    assert got == bad_positions
    assert decoded.posts.height == 50
    assert set(decoded.posts["_idx"].to_list()).isdisjoint(bad_positions)


def test_semantic_checks_reject_parsed_rows() -> None:
    base = orjson.loads(good_values(1)[0])
    cases = {
        "missing_field:text": {k: v for k, v in base.items() if k != "text"},
        "out_of_range:post_id": {**base, "post_id": 0},
        "out_of_range:followers": {**base, "followers": -1},
        "invalid_kind": {**base, "kind": "retweet"},
    }
    decoded = decode([orjson.dumps(v) for v in cases.values()])
    assert decoded.rejects["reason"].to_list() == list(cases)
    assert decoded.posts.is_empty()


def test_unknown_fields_are_ignored_and_null_parent_is_fine() -> None:
    base = orjson.loads(good_values(1)[0])
    value = orjson.dumps({**base, "extra": {"nested": [1, 2]}, "parent_id": None})
    decoded = decode([value])
    assert decoded.rejects.is_empty()
    assert decoded.posts["post_id"].to_list() == [base["post_id"]]


def test_oversized_records_are_rejected_before_parsing() -> None:
    values = good_values(5)
    values[2] = values[2][:-1] + b',"pad":"' + b"x" * 5000 + b'"}'
    decoded = decode(values, max_record_bytes=4096)
    assert decoded.rejects.to_dicts() == [{"_idx": 2, "reason": "oversized"}]
    assert decoded.posts["_idx"].to_list() == [0, 1, 3, 4]


def test_classify_of_a_valid_record_says_unparseable_only_for_odd_shapes() -> None:
    assert classify(b"{}") == "unparseable"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from([*BAD, None]), min_size=1, max_size=60))
def test_every_record_is_either_a_post_or_a_reject(choices: list[bytes | None]) -> None:
    goods = iter(good_values(len(choices)))
    values = [next(goods) if c is None else c for c in choices]
    decoded = decode(values)
    idx = sorted(decoded.posts["_idx"].to_list() + decoded.rejects["_idx"].to_list())
    assert idx == list(range(len(values)))
    assert decoded.posts.height == sum(c is None for c in choices)


# -- hostile input: the gaps the batch parser left open (full corpus: test_hostile.py) ----

NOW = START + 3_600_000


def _post(**changes: object) -> dict[str, object]:
    return {**orjson.loads(good_values(1)[0]), **changes}


def _reasons_in_clean_batch(bad: list[bytes], now_ms: int | None = None) -> list[str]:
    """Each bad record between clean ones (the fast path), its reason; the rest must pass."""
    values = [v for pair in zip(good_values(len(bad)), bad, strict=True) for v in pair]
    decoded = decode([*values, *good_values(20)], now_ms=now_ms)
    assert decoded.posts.height == len(bad) + 20
    assert decoded.rejects["_idx"].to_list() == list(range(1, 2 * len(bad), 2))
    return list(decoded.rejects["reason"])


def test_numbers_in_string_fields_are_wrong_types_not_strings() -> None:
    cases = {"text": 5, "kind": 1.5, "lang": True}
    bad = [orjson.dumps(_post(**{k: v})) for k, v in cases.items()]
    bad.append(orjson.dumps(_post(hashtags=["ok", 7])))
    assert _reasons_in_clean_batch(bad) == [
        "wrong_type:text",
        "wrong_type:kind",
        "wrong_type:lang",
        "wrong_type:hashtags",
    ]


def test_duplicate_keys_are_rejected_whichever_value_comes_first() -> None:
    one = good_values(1)[0]
    bad = [
        one[:-1] + b',"post_id":2}',
        one[:-1] + b',"text":"other"}',
        b'{"post_id":1,"post_id":2}',
    ]
    assert _reasons_in_clean_batch(bad) == ["duplicate_key"] * 3


def test_nan_and_infinity_literals() -> None:
    one = good_values(1)[0]
    bad = [one[:-1] + b',"x":NaN}', one.replace(b'"followers":', b'"followers":-Infinity,"y":')]
    assert _reasons_in_clean_batch(bad) == ["non_finite_number"] * 2


def test_lone_surrogates_are_rejected_and_pairs_decoded() -> None:
    bad = [orjson.dumps(_post(text="x")).replace(b'"x"', b'"\\ud800"')]
    assert _reasons_in_clean_batch(bad) == ["lone_surrogate"]
    pair = orjson.dumps(_post(text="x")).replace(b'"x"', b'"\\ud83d\\ude00"')
    assert decode([pair]).posts["text"].to_list() == ["😀"]


def test_deep_nesting_is_rejected_without_recursion() -> None:
    one = good_values(1)[0]
    deep = one[:-1] + b',"x":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    assert _reasons_in_clean_batch([deep]) == ["too_deep"]
    shallow = one[:-1] + b',"x":' + b"[" * 20 + b"]" * 20 + b"}"
    assert decode([shallow]).posts.height == 1


def test_timestamps_are_checked_against_the_callers_clock_only() -> None:
    day = 86_400_000
    bad = [orjson.dumps(_post(created_at=c)) for c in (0, 1_142_899_199_999, NOW + day + 1)]
    assert decode(bad).posts.height == 3  # no clock, no check (backward compatible)
    assert _reasons_in_clean_batch(bad, now_ms=NOW) == [
        "out_of_range:created_at",
        "out_of_range:created_at",
        "future:created_at",
    ]
    assert decode([orjson.dumps(_post(created_at=NOW + day))], now_ms=NOW).posts.height == 1


def test_null_hashtag_elements_are_wrong_types() -> None:
    bad = [orjson.dumps(_post(hashtags=[None])), orjson.dumps(_post(hashtags=["a", None]))]
    assert _reasons_in_clean_batch(bad) == ["wrong_type:hashtags"] * 2


def test_nul_any_script_and_empty_hashtags_pass() -> None:
    texts = ["a\x00b", "日本語 العربية हिन्दी 🔥", ""]
    tags: list[list[str]] = [[], [""], ["", "x"]]
    values = [orjson.dumps(_post(text=t, hashtags=h)) for t, h in zip(texts, tags, strict=True)]
    decoded = decode(values, now_ms=NOW)
    assert decoded.rejects.is_empty()
    assert decoded.posts["text"].to_list() == texts
    assert decoded.posts["hashtags"].to_list() == tags


def test_the_fallback_keeps_every_good_record_exactly() -> None:
    values = good_values(200)
    mixed = [v for i, v in enumerate(values) for v in ([v, b"{broken"] if i % 10 == 0 else [v])]
    fast, slow = decode(values), decode(mixed)
    assert slow.posts.drop("_idx").equals(fast.posts.drop("_idx"))
    assert slow.rejects["reason"].to_list() == ["not_json"] * 20
