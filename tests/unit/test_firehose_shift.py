"""The firehose's ground truth for the moat: sentiment shifts at flat volume, each post's
generated polarity, and bursts on established (vocabulary) hashtags."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest

from datamoat.pipeline import score
from ingest.firehose import Burst, Firehose, FirehoseConfig, Shift, vocabulary_hashtag
from ingest.firehose import vocab as words
from ingest.schema import POST_SCHEMA
from tests.support.common import START

# A compressed day (one model minute is 1/144 of a real one): ~70k posts in a minute.
FAST = FirehoseConfig(rate=2_000.0, day_in_s=600.0, authors=50_000)
SEED = 5
END = START + 60_000
RANK = 4  # a few hundred posts in the stream carry it
TAG = vocabulary_hashtag(FAST, RANK)
RISE_S = 720.0  # model seconds: 5 s of the stream
RISE_MS = RISE_S * 1000.0 * FAST.time_scale
AT = START + 10_000
SHIFTED = replace(FAST, shifts=(Shift(AT, TAG, rise_s=RISE_S, share=1.0, sentiment=-1.0),))
HAS_TAG = pl.col("hashtags").list.contains(TAG)
OWN_TEXT = pl.col("kind") != "repost"  # created_at is the source's time


@pytest.fixture(scope="module")
def plain() -> pl.DataFrame:
    return Firehose(FAST, SEED, START, polarity=True).take_until(END)


@pytest.fixture(scope="module")
def shifted() -> pl.DataFrame:
    return Firehose(SHIFTED, SEED, START, polarity=True).take_until(END)


def _negative_share(df: pl.DataFrame, lo: float, hi: float) -> tuple[int, float]:
    posts = df.filter(OWN_TEXT, HAS_TAG, pl.col("created_at").is_between(lo, hi, closed="left"))
    return posts.height, int((posts["polarity"] == -1).sum()) / max(posts.height, 1)


def test_without_shifts_the_stream_is_unchanged(plain: pl.DataFrame) -> None:
    bare = Firehose(replace(FAST, shifts=()), SEED, START).take_until(END)
    assert bare.schema == POST_SCHEMA
    assert bare.equals(plain.drop("polarity"))
    # shifts that take no post (an unused hashtag, a span over before the start) change nothing
    idle = (Shift(AT, "nosuchhashtag", share=1.0), Shift(START - 10**9, TAG, rise_s=60.0))
    quiet = Firehose(replace(FAST, shifts=idle), SEED, START).take_until(END)
    assert quiet.equals(bare)


def test_a_shift_changes_only_the_feeling(plain: pl.DataFrame, shifted: pl.DataFrame) -> None:
    feeling = ["text", "polarity"]
    assert shifted.drop(feeling).equals(plain.drop(feeling))  # ids, times, authors, hashtags
    assert shifted.filter(~HAS_TAG).equals(plain.filter(~HAS_TAG))
    before = pl.col("created_at") < AT
    assert shifted.filter(OWN_TEXT, before).equals(plain.filter(OWN_TEXT, before))
    changed = shifted["text"] != plain["text"]
    assert 30 < int(changed.sum()) == int((shifted["polarity"] != plain["polarity"]).sum())
    # around the peak (shape above ~0.4) the hashtag turns negative; before it, it does not
    lo, hi = AT + 0.3 * RISE_MS, AT + 3.0 * RISE_MS
    n, base = _negative_share(plain, lo, hi)
    n_shift, turned = _negative_share(shifted, lo, hi)
    assert n == n_shift >= 80
    assert base < 0.35 and turned > 0.55 and turned > base + 0.3
    assert _negative_share(shifted, START, AT)[1] < 0.4


def test_reposts_of_shifted_posts_are_shifted(shifted: pl.DataFrame) -> None:
    source = shifted.select("post_id", "text", "polarity")
    reposts = shifted.filter(pl.col("kind") == "repost", HAS_TAG, pl.col("created_at") >= AT)
    pairs = reposts.join(source, left_on="parent_id", right_on="post_id", suffix="_p")
    assert pairs.height > 20
    assert (pairs["text"] == pairs["text_p"]).all()
    assert (pairs["polarity"] == pairs["polarity_p"]).all()


def test_polarity_column_agrees_with_the_text(plain: pl.DataFrame) -> None:
    assert plain.schema == pl.Schema([*POST_SCHEMA.items(), ("polarity", pl.Int8())])
    assert set(plain["polarity"].unique().to_list()) == {-1, 0, 1}
    empty = Firehose(FAST, SEED, START, polarity=True)
    assert empty.take(0).schema == plain.schema
    assert empty.take_until(START).schema == plain.schema
    english = plain.filter(pl.col("lang") == "en", pl.col("kind") == "post").head(5_000)
    felt = score(english).filter(pl.col("polarity") != 0)
    agree = int((felt["compound"].sign() == felt["polarity"].cast(pl.Float64)).sum())
    assert felt.height > 2_000 and agree / felt.height > 0.85  # measured: 0.93


def test_shards_partition_the_shifted_stream(shifted: pl.DataFrame) -> None:
    end = START + 25_000
    whole = shifted.filter(pl.col("created_at") < end)
    parts = [
        Firehose(SHIFTED, SEED, START, shard=k, shards=3, polarity=True).take_until(end)
        for k in range(3)
    ]
    assert all(p.height > 0 for p in parts)
    assert pl.concat(parts).sort("created_at", "post_id").equals(whole)


def test_vocabulary_hashtag_is_the_rendered_name() -> None:
    small = FirehoseConfig(
        rate=2_000.0,
        day_in_s=600.0,
        authors=20_000,
        hashtag_vocab=300,
        new_hashtag_share=0.0,
        random_bursts_per_day=0.0,
    )
    posts = Firehose(small, 2, START).take_until(START + 30_000)
    counts = posts["hashtags"].explode().drop_nulls().value_counts(sort=True)
    names = {vocabulary_hashtag(small, r) for r in range(small.hashtag_vocab)}
    assert set(counts["hashtags"].to_list()) == names
    assert counts["hashtags"][0] == vocabulary_hashtag(small, 0) == "news"
    n_common = len(words.COMMON_TAGS)
    assert vocabulary_hashtag(FAST, n_common - 1) == words.COMMON_TAGS[-1]
    ri = words.SYLLABLES[1]
    assert vocabulary_hashtag(FAST, n_common + 65) == ri + ri  # two syllables ...
    assert vocabulary_hashtag(FAST, n_common + 4096 + 65) == ri * 3  # ... then three


def test_a_burst_on_an_established_hashtag() -> None:
    quiet = replace(FAST, random_bursts_per_day=0.0)
    rise = Burst(start_ms=AT, hashtag=TAG, peak=0.3, rise_s=RISE_S, sentiment=-0.5)
    base = Firehose(quiet, SEED, START).take_until(START + 30_000)
    fh = Firehose(replace(quiet, bursts=(rise,)), SEED, START)
    burst = fh.take_until(START + 30_000)
    # the blocks before the burst's are generated as they were (its own block draws anew)
    before = pl.col("created_at") < START + (AT - START) // fh.block_ms * fh.block_ms
    assert burst.filter(before).equals(base.filter(before))
    during = pl.col("created_at").is_between(AT, AT + 3 * RISE_MS)
    tops = [
        df.filter(during)["hashtags"].explode().drop_nulls().value_counts(sort=True)
        for df in (base, burst)
    ]
    assert tops[1]["hashtags"][0] == TAG  # the burst's posts carry the established name ...
    extra = tops[1].join(tops[0], on="hashtags", how="left", suffix="_base").fill_null(0)
    gain = pl.col("count").cast(pl.Int64) - pl.col("count_base").cast(pl.Int64)
    jump = extra.with_columns(jump=gain).sort("jump")
    assert jump["hashtags"][-1] == TAG and jump["jump"][-1] > 5 * max(jump["jump"][-2], 1)
    once = burst["hashtags"].list.eval(pl.element() == TAG).list.sum()
    assert once.max() == 1  # ... and carry it only once


def test_bad_shifts_and_ranks_are_refused() -> None:
    for rank in (-1, FAST.hashtag_vocab):
        with pytest.raises(ValueError, match=r"rank must be in \[0, 50000\)"):
            vocabulary_hashtag(FAST, rank)
    bad = {
        "hashtag": Shift(AT, "#Football"),
        "rise_s": Shift(AT, TAG, rise_s=0.0),
        "share": Shift(AT, TAG, share=1.5),
        "sentiment": Shift(AT, TAG, sentiment=-1.2),
    }
    for field, shift in bad.items():
        with pytest.raises(ValueError, match=rf"invalid FirehoseConfig: shifts\[1\]\.{field}"):
            FirehoseConfig(shifts=(Shift(AT, TAG), shift))
    with pytest.raises(ValueError, match=r"shifts\[0\]\.share .*; shifts\[0\]\.sentiment"):
        FirehoseConfig(shifts=(Shift(AT, TAG, share=0.0, sentiment=float("nan")),))
