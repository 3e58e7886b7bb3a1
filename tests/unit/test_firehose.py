"""The synthetic firehose: determinism, sharding, schema, ids and cascades."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import orjson
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values, generate
from ingest.kafka.records import record_bytes, record_sizes
from ingest.schema import KINDS, POST_SCHEMA
from tests.support.common import START

# A compressed day and a modest rate: cascades unfold within a small sample.
FAST = FirehoseConfig(rate=500.0, day_in_s=600.0, authors=50_000)


@pytest.fixture(scope="module")
def sample() -> pl.DataFrame:
    return generate(FAST, 3, START, 60_000)


def test_schema_and_order(sample: pl.DataFrame) -> None:
    assert sample.schema == POST_SCHEMA
    assert sample.height == 60_000
    assert sample["created_at"].is_sorted()
    assert sample["created_at"][0] >= START
    assert set(sample["kind"].unique()) <= set(KINDS)


def test_split_invariance() -> None:
    whole = generate(FAST, 5, START, 12_000)
    fh = Firehose(FAST, 5, START)
    parts = [fh.take(n) for n in (3, 997, 1, 5_000, 5_999)]
    assert fh.emitted == 12_000
    assert pl.concat(parts).equals(whole)
    assert encode_values(pl.concat(parts)) == encode_values(whole)


def test_seed_and_start_change_the_stream() -> None:
    a = generate(FAST, 1, START, 500)
    assert not a.equals(generate(FAST, 2, START, 500))
    assert generate(FAST, 1, START + 1000, 500)["created_at"][0] >= START + 1000


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_partition_the_stream(shards: int) -> None:
    whole = generate(FAST, 9, START, 15_000)
    end = int(whole["created_at"][-1]) + 1
    parts = [
        Firehose(FAST, 9, START, shard=k, shards=shards).take_until(end) for k in range(shards)
    ]
    union = pl.concat(parts).sort("created_at", "post_id")
    assert union.height >= whole.height
    assert union.head(whole.height).equals(whole)


def test_ids_and_cascades(sample: pl.DataFrame) -> None:
    assert sample["post_id"].n_unique() == sample.height
    assert (sample["post_id"] > 0).all() and (sample["author_id"] > 0).all()
    assert (sample["followers"] >= 0).all()
    originals = sample.filter(pl.col("kind") == "post")
    assert originals["parent_id"].null_count() == originals.height
    assert originals["root_id"].null_count() == originals.height
    children = sample.filter(pl.col("kind") != "post")
    assert children.height > 0
    assert children["parent_id"].null_count() == 0 and children["root_id"].null_count() == 0
    pos = sample.select("post_id", "created_at", "root_id", "text", "kind").with_row_index("row")
    joined = children.join(pos, left_on="parent_id", right_on="post_id", suffix="_p", how="inner")
    # every parent present in the sample comes earlier and shares the cascade root
    assert (joined["created_at_p"] < joined["created_at"]).all()
    same_root = joined["root_id_p"].fill_null(joined["parent_id"]) == joined["root_id"]
    assert same_root.all()
    reposts = joined.filter(pl.col("kind") == "repost")
    assert (reposts["text"] == reposts["text_p"]).all()
    # the others are children of posts from before the start (warm start): a root never seen
    orphans = children.join(pos, left_on="parent_id", right_on="post_id", how="anti")
    assert orphans.height > 0
    assert not orphans["root_id"].is_in(sample["post_id"].implode()).any()


def test_cold_start_has_every_parent() -> None:
    cold = generate(replace(FAST, warm_start=False), 3, START, 20_000)
    children = cold.filter(pl.col("kind") != "post")
    assert children.height > 0
    assert children["parent_id"].is_in(cold["post_id"].implode()).all()


def test_warm_start_rate_is_the_target_from_the_first_second() -> None:
    flat = FirehoseConfig(
        rate=2_000.0, diurnal_swing=1.0, random_bursts_per_day=0.0, authors=200_000
    )
    rates = {}
    for warm in (True, False):
        posts = Firehose(replace(flat, warm_start=warm), 4, START).take_until(START + 15_000)
        rates[warm] = posts.height / 15.0 / flat.rate
        non_original = posts.filter(pl.col("kind") != "post").height / posts.height
        assert (non_original > 0.2) == warm
    assert rates[True] == pytest.approx(1.0, abs=0.04)
    assert rates[False] < 0.85


def test_text_and_hashtags(sample: pl.DataFrame) -> None:
    tags = sample["hashtags"].explode().drop_nulls()
    assert (tags == tags.str.to_lowercase()).all()
    assert not tags.str.starts_with("#").any()
    text = sample["text"]
    for needle in ("!", "?", " but ", "not", "very ", "extremely "):
        assert text.str.contains(needle, literal=True).any(), needle
    assert text.str.contains(r"\b[A-Z]{3,}\b").any()
    assert text.str.contains("😍", literal=True).any()
    assert sample["lang"].n_unique() > 5


def test_encoding(sample: pl.DataFrame) -> None:
    head = sample.head(2_000)
    values = encode_values(head)
    assert len(values) == head.height
    decoded = [orjson.loads(v) for v in values]
    assert list(decoded[0]) == list(POST_SCHEMA.names())
    assert pl.DataFrame(decoded, schema=POST_SCHEMA).equals(head)
    rows = head.to_dicts()
    assert values == [orjson.dumps(row) for row in rows]  # byte for byte what orjson writes
    odd = head.head(4).with_columns(text=pl.Series(['q"b\\s', "nl\n\t\x01", "\u2028 😍", ""]))
    assert encode_values(odd) == [orjson.dumps(row) for row in odd.to_dicts()]
    keys = encode_keys(head)
    assert keys[0] == str(head["author_id"][0]).encode()


@pytest.mark.parametrize(("first", "delta"), [(0, 0), (5, 1234), (20_000, -3)])
def test_record_bytes_are_what_kafka_python_writes(
    sample: pl.DataFrame, first: int, delta: int
) -> None:
    from ingest.kafka.testing import DefaultRecordBatchBuilder

    head = sample.head(300)
    keys, values = encode_keys(head), encode_values(head)
    values[7] = b"x" * 20_000  # a long value takes the slow varint path
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, batch_size=1 << 30)
    builder.append(0, START, b"k", b"v", [])  # sets the batch's first timestamp
    mark = builder.size()
    for i, (k, v) in enumerate(zip(keys, values, strict=True)):
        builder.append(first + i, START + delta, k, v, [])
    ours = record_bytes(keys, values, first, delta)
    assert ours == bytes(builder.build()[mark:])  # uncompressed: the records as appended
    klen, vlen = (np.fromiter(map(len, x), np.int64) for x in (keys, values))
    assert int(record_sizes(klen, vlen, first, delta)[1].sum()) == len(ours)


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="rate must be a positive"):
        FirehoseConfig(rate=0.0)
    with pytest.raises(ValueError, match="max_branching"):
        FirehoseConfig(max_branching=1.0)
    with pytest.raises(ValueError, match="shard"):
        Firehose(FAST, 1, START, shard=2, shards=2)


def test_public_surface() -> None:
    import ingest.firehose as firehose

    assert sorted(firehose.__all__) == [
        "Burst",
        "Firehose",
        "FirehoseConfig",
        "Shift",
        "encode_keys",
        "encode_values",
        "generate",
        "realism_report",
        "render_report",
        "schedule",
        "vocabulary_hashtag",
    ]


def test_every_vader_rule_is_exercised(sample: pl.DataFrame) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    english = sample.filter(pl.col("lang") == "en", pl.col("kind") != "repost")["text"]
    texts = english.head(3_000).to_list()
    analyzer = SentimentIntensityAnalyzer()
    compound = [analyzer.polarity_scores(t)["compound"] for t in texts]
    positive = sum(c >= 0.05 for c in compound) / len(compound)
    negative = sum(c <= -0.05 for c in compound) / len(compound)
    assert 0.2 < positive < 0.7 and 0.1 < negative < 0.5
    joined = "\n".join(texts)
    for cue in ("isn't", "not ", "never", "extremely ", "kind of ", " but ", "!!", "?", "😡", ":)"):
        assert cue in joined, cue
    assert any(w.isupper() and len(w) > 3 and w.isalpha() for w in joined.split())


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=700), min_size=1, max_size=12))
def test_any_batching_gives_the_same_stream(sizes: list[int]) -> None:
    total = sum(sizes)
    whole = _small_stream().head(total)
    fh = Firehose(SMALL, 21, START)
    got = pl.concat([fh.take(n) for n in sizes])
    assert got.equals(whole)


SMALL = FirehoseConfig(rate=200.0, day_in_s=120.0, authors=5_000)
_SMALL: list[pl.DataFrame] = []


def _small_stream() -> pl.DataFrame:
    if not _SMALL:
        _SMALL.append(generate(SMALL, 21, START, 12 * 700))
    return _SMALL[0]
