"""The firehose's Kafka writer on the real broker, in both modes: bulk appends into
kafka-python's batches, and the ``send()`` fallback the start-up self-test falls back to
when the bulk path writes anything kafka-python can't read back. Either way every post
arrives in its partition, in order, byte for byte."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest

import ingest.kafka.private as internals
import ingest.kafka.records as records
from ingest.firehose import FirehoseConfig, encode_keys, encode_values, generate
from ingest.kafka.producer import kafka_writer
from ingest.kafka.testing import KafkaConsumer, TopicPartition
from ingest.producer import partitions_of

pytestmark = pytest.mark.kafka

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
PARTITIONS = 3


@pytest.fixture(autouse=True)
def fresh_guard() -> Iterator[None]:
    """Each test decides anew (the self-test result and the fallback notice are per
    process)."""
    internals.self_test.cache_clear()
    import ingest.kafka.producer as producer

    producer.fallback_said.clear()
    yield
    internals.self_test.cache_clear()
    producer.fallback_said.clear()


def read_all(bootstrap: str, topic: str, expected: int) -> dict[int, list[tuple[bytes, bytes]]]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=10_000
    )
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        got: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
        for seen, record in enumerate(consumer, 1):  # ends after 10 s without a record
            got[record.partition].append((record.key, record.value))
            if seen == expected:
                break
        return got
    finally:
        consumer.close()


@pytest.mark.parametrize("forced_fallback", [True, False], ids=["send-fallback", "bulk"])
def test_every_post_arrives_byte_identical(
    kafka_bootstrap: str,
    topic_factory: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    forced_fallback: bool,
) -> None:
    if forced_fallback:  # the bulk path writes one wrong byte: the self-test must catch it
        real = records.record_bytes

        def corrupt(keys, values, first_offset, ts_delta):
            out = bytearray(real(keys, values, first_offset, ts_delta))
            out[-2] ^= 0x01
            return bytes(out)

        monkeypatch.setattr(internals, "record_bytes", corrupt)
    topic = topic_factory(PARTITIONS)
    posts = generate(FirehoseConfig(rate=1000.0), 13, START, 3_000)
    keys, values = encode_keys(posts), encode_values(posts)
    parts = partitions_of(posts, PARTITIONS)
    with caplog.at_level(logging.WARNING, logger="datamoat"):
        writers = [kafka_writer(kafka_bootstrap, topic) for _ in range(2)]
    notices = [r for r in caplog.records if "bulk Kafka appends are off" in r.getMessage()]
    if forced_fallback:
        assert [w.mode for w in writers] == ["send", "send"]
        assert len(notices) == 1  # said once, not per writer
        assert "reads back wrong" in notices[0].getMessage()
    else:
        assert [w.mode for w in writers] == ["bulk", "bulk"]
        assert notices == []
    writer, spare = writers
    spare.close()
    try:
        for lo in range(0, posts.height, 1_000):  # a few writes, as the pacer does
            writer.write(parts[lo : lo + 1_000], keys[lo : lo + 1_000], values[lo : lo + 1_000])
        writer.flush()
    finally:
        writer.close()
    assert writer.failed == 0
    expected: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
    for p, k, v in zip(parts, keys, values, strict=True):
        expected[p].append((k, v))
    assert read_all(kafka_bootstrap, topic, posts.height) == expected
