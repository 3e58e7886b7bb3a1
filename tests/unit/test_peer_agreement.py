"""The agreement check of ``datamoat bench --peers`` (:mod:`datamoat.bench.peers.compare`)
and the peers' per-record rules, against datamoat's own."""

from __future__ import annotations

import polars as pl

from datamoat.bench.peers.common import keys_of, scorer
from datamoat.bench.peers.compare import ROW_SCHEMA, agree
from process.sentiment import score_texts


def _rows(*rows: tuple[int, str, int, float | None]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=ROW_SCHEMA, orient="row")


WANT = _rows((0, "*", 3, 0.5), (0, "a", 2, 0.25), (10, "*", 1, None))


def test_the_same_rows_in_another_order_agree() -> None:
    got = _rows((10, "*", 1, None), (0, "a", 2, 0.25 + 1e-12), (0, "*", 3, 0.5))
    a = agree(WANT, got)
    assert a.ok and a.windows == 2 and a.rows == 3 and a.max_sentiment_diff < 1e-11
    assert a.describe().startswith("agree: 2 windows")


def test_a_missing_window_a_star_count_and_a_sentiment_are_each_found() -> None:
    got = _rows((0, "*", 4, 0.5), (0, "a", 2, 0.25 + 1e-6))
    a = agree(WANT, got)
    assert not a.ok
    assert a.missing_windows == [10] and a.extra_windows == []
    assert a.star_count_diffs == 2  # window 0's count, and window 10's missing row
    assert a.row_diffs == 2 and a.sentiment_diffs == 1
    assert a.describe().startswith("DISAGREE")


def test_a_null_mean_against_a_number_disagrees() -> None:
    got = _rows((0, "*", 3, 0.5), (0, "a", 2, 0.25), (10, "*", 1, 0.0))
    assert agree(WANT, got).sentiment_diffs == 1


def test_peer_keys_are_datamoats_distinct_non_empty_hashtags_and_star() -> None:
    assert keys_of({"hashtags": ["b", "", "a", "b"]}) == ["b", "a", "*"]
    assert keys_of({"hashtags": []}) == ["*"]


def test_peer_sentiment_is_datamoats_per_record_and_skips_other_languages() -> None:
    score = scorer()
    texts = ["I love this :)", "This is NOT good at all!!", "meh", "Great but awful"]
    ours = score_texts(pl.Series(texts))["compound"].to_list()
    assert [score({"text": t, "lang": "en"}) for t in texts] == ours
    assert score({"text": "I love this :)", "lang": "EN-gb"}) == ours[0]
    assert score({"text": "I love this", "lang": "fr"}) is None
    assert score({"text": "I love this", "lang": None}) is not None
