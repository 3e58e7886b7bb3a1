"""The input seam of ``run``: a feed made ready, started with its event-time origin,
followed to its end or stopped early; the in-memory firehose is one."""

from __future__ import annotations

import pytest

from ingest.feed import Feed, ThreadFeed
from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values
from ingest.memory import MemorySource, MemoryTopic
from ingest.pacer import Pacer, PaceStats

START = 1_767_225_600_000


def _feed(topic: MemoryTopic, posts: int | None, realtime: bool = False) -> ThreadFeed:
    def pacer(start_ms: int) -> Pacer:
        config = FirehoseConfig(rate=2_000.0)
        return Pacer(
            firehose=Firehose(config, 3, start_ms),
            writer=topic,
            encode_values=encode_values,
            encode_keys=encode_keys,
            start_ms=start_ms,
            partitions=topic.partitions,
            rate=config.rate,
            realtime=realtime,
        )

    return ThreadFeed(pacer, posts=posts, on_done=topic.close)


def test_a_feed_sends_from_its_origin_to_its_end() -> None:
    topic = MemoryTopic(partitions=2)
    feed: Feed = _feed(topic, posts=5_000).start()
    feed.wait_ready()
    seen: list[PaceStats] = []
    feed.go(START)
    final = feed.join(seen.append)
    assert final.produced == 5_000 and seen[-1] is final
    assert topic.closed and sum(topic.end_offsets()) == 5_000
    first = MemorySource(topic).poll(1, 0)
    assert b'"created_at":1767225600' in first.values[0]  # event time from the origin


def test_a_stopped_feed_ends_early_and_a_broken_one_says_so() -> None:
    topic = MemoryTopic(partitions=2)
    feed = _feed(topic, posts=None, realtime=True).start()
    feed.go(START)
    feed.stop()
    assert feed.join().produced < 2_000 * 60  # not the endless stream it was asked for
    assert topic.closed

    def broken(start_ms: int) -> Pacer:
        raise RuntimeError("no firehose")

    failing = ThreadFeed(broken)
    with pytest.raises(RuntimeError, match="no firehose"):
        failing.go(START)
