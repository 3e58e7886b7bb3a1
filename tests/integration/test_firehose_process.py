"""The firehose in a process of its own (``datamoat run``'s, over Kafka) against the test
broker: it produces exactly the posts asked for, the same bytes as the in-process
firehose, reports progress, stops when told, and a child never told to start is reaped."""

from __future__ import annotations

import time

import pytest

from ingest.firehose import Firehose, encode_values
from ingest.firehose.child import FirehoseProcess, FirehoseSpec
from ingest.firehose.config import flat_demo
from tests.support.kafka import TopicFactory
from tests.support.pipelines import topic_records

pytestmark = pytest.mark.kafka

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def _values(bootstrap: str, topic: str) -> list[bytes]:
    return [r.value for r in topic_records(bootstrap, topic, committed=False)]


def _spec(bootstrap: str, topic: str, **kw: object) -> FirehoseSpec:
    base = dict(config=flat_demo(5_000.0), seed=5, bootstrap=bootstrap, topic=topic,
                partitions=6, realtime=False, posts=12_000)  # fmt: skip
    return FirehoseSpec(**{**base, **kw})  # type: ignore[arg-type]


def test_it_produces_the_in_process_firehose_posts(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    topic = topic_factory(6)
    seen: list[int] = []
    fh = FirehoseProcess(_spec(kafka_bootstrap, topic)).start()
    fh.wait_ready()
    fh.go(START_MS)
    stats = fh.join(lambda s: seen.append(s.produced))
    assert stats.produced == 12_000 and fh.stats().produced == 12_000
    assert seen and seen[-1] == 12_000 and seen == sorted(seen)
    want = encode_values(Firehose(flat_demo(5_000.0), 5, START_MS).take(12_000))
    assert sorted(_values(kafka_bootstrap, topic)) == sorted(want)


def test_stop_ends_it_early_and_an_unstarted_child_is_reaped(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    paced = FirehoseProcess(
        _spec(kafka_bootstrap, topic_factory(6), realtime=True, posts=None, duration_s=600.0)
    ).start()
    paced.wait_ready()
    paced.go(int(time.time() * 1000))
    time.sleep(2.0)
    paced.stop()
    stats = paced.join()
    assert 0 < stats.produced < 5_000 * 10  # seconds of posts, not ten minutes'

    idle = FirehoseProcess(_spec(kafka_bootstrap, topic_factory(6))).start()
    idle.wait_ready()
    idle.abandon()
    assert not idle.is_alive()
