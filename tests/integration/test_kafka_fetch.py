"""The bulk fetch path against the real broker: byte for byte what ``consumer.poll()`` gives,
with compression, after seeks, and with an aborted transaction under read_committed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ingest.batch import RawBatch
from ingest.kafka.private import bulk_available, fetch_raw, fetch_requests
from ingest.kafka.testing import KafkaConsumer, KafkaProducer, TopicPartition

pytestmark = pytest.mark.kafka

Rows = dict[int, list[tuple[int, bytes | None, bytes | None]]]


def _consumer(bootstrap: str, topic: str, partitions: int, **extra: Any) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=64 * 1024,  # several fetches per partition
        fetch_max_wait_ms=50,
        **extra,
    )
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    return consumer


def _rows(batch: RawBatch) -> Rows:
    out: Rows = {}
    for p, o, k, v in zip(batch.partitions, batch.offsets, batch.keys, batch.values, strict=True):
        out.setdefault(p, []).append((o, k, v))
    return out


def _via_poll(consumer: KafkaConsumer, max_records: int, timeout_ms: int) -> RawBatch:
    batch = RawBatch()
    for tp, records in consumer.poll(timeout_ms=timeout_ms, max_records=max_records).items():
        for r in records:
            batch.values.append(r.value)
            batch.keys.append(r.key)
            batch.offsets.append(r.offset)
            batch.partitions.append(tp.partition)
    return batch


def _drain(consumer: KafkaConsumer, bulk: bool, expect: int, max_records: int = 333) -> Rows:
    """Read until ``expect`` records came and the positions reached the log ends."""
    rows: Rows = {}
    tps = list(consumer.assignment())
    ends = consumer.end_offsets(tps)
    deadline = time.monotonic() + 60
    count = 0
    while time.monotonic() < deadline:
        got = (
            fetch_raw(consumer, max_records, 200) if bulk else _via_poll(consumer, max_records, 200)
        )
        assert len(got) <= max_records
        for p, r in _rows(got).items():
            rows.setdefault(p, []).extend(r)
            count += len(r)
        if count >= expect and all(consumer.position(tp) >= ends[tp] for tp in tps):
            break
    assert count == expect, f"read {count} of {expect} records"
    return rows


def _produce(bootstrap: str, topic: str, n: int, compression: str | None) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, compression_type=compression, linger_ms=20, batch_size=32768
    )
    for i in range(n):
        key = None if i % 7 == 0 else f"author-{i % 101}".encode()
        value = (
            b"" if i % 97 == 0 else (f'{{"id":{i},"text":"post {i} "}}' + "x" * (i % 400)).encode()
        )
        headers = [("h", b"v")] if i % 50 == 0 else None
        producer.send(topic, key=key, value=value, partition=i % 3, headers=headers)
    producer.flush()
    producer.close()


def test_bulk_is_available_on_this_kafka_python(kafka_bootstrap: str) -> None:
    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap)
    try:
        assert bulk_available(consumer) is None
    finally:
        consumer.close()


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_bulk_equals_poll(
    kafka_bootstrap: str, topic_factory: Any, compression: str | None
) -> None:
    topic = topic_factory(3)
    _produce(kafka_bootstrap, topic, 3000, compression)
    a = _consumer(kafka_bootstrap, topic, 3)
    b = _consumer(kafka_bootstrap, topic, 3)
    try:
        assert _drain(b, bulk=True, expect=3000) == _drain(a, bulk=False, expect=3000)
        tps = [TopicPartition(topic, p) for p in range(3)]
        assert [a.position(tp) for tp in tps] == [b.position(tp) for tp in tps]
        # seeks: into the middle of a (compressed) batch, back to the start, to the end
        for c in (a, b):
            c.seek(tps[0], 123)
            c.seek(tps[1], 0)
            c.seek_to_end(tps[2])
        assert _drain(b, bulk=True, expect=877 + 1000, max_records=250) == _drain(
            a, bulk=False, expect=877 + 1000, max_records=250
        )
    finally:
        a.close()
        b.close()


def test_seek_between_bulk_calls_drops_fetched_records(
    kafka_bootstrap: str, topic_factory: Any
) -> None:
    topic = topic_factory(1)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
    for i in range(2000):
        producer.send(topic, value=f"v{i}".encode(), partition=0)
    producer.close()
    consumer = _consumer(kafka_bootstrap, topic, 1)
    tp = TopicPartition(topic, 0)
    try:
        first = RawBatch()
        for _ in range(100):
            first = fetch_raw(consumer, 10, 500)
            if len(first):
                break
        assert first.offsets == list(range(10))  # more were fetched and decoded
        consumer.seek(tp, 1500)
        rows = _drain(consumer, bulk=True, expect=500)
        assert [o for o, _, _ in rows[0]] == list(range(1500, 2000))
        assert rows[0][0][2] == b"v1500"
    finally:
        consumer.close()


def test_aborted_transaction_is_skipped_under_read_committed(
    kafka_bootstrap: str, topic_factory: Any
) -> None:
    topic = topic_factory(2)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"{topic}-tx", linger_ms=5
    )
    producer.init_transactions()
    plan = [("commit", 50), ("abort", 30), ("commit", 20)]
    for outcome, n in plan:
        producer.begin_transaction()
        for i in range(n):
            producer.send(topic, value=f"{outcome}-{i}".encode(), partition=i % 2)
        producer.flush()
        if outcome == "commit":
            producer.commit_transaction()
        else:
            producer.abort_transaction()
    producer.close()
    committed = {"isolation_level": "read_committed"}
    a = _consumer(kafka_bootstrap, topic, 2, **committed)
    b = _consumer(kafka_bootstrap, topic, 2, **committed)
    u = _consumer(kafka_bootstrap, topic, 2)
    v = _consumer(kafka_bootstrap, topic, 2)
    try:
        bulk = _drain(b, bulk=True, expect=70, max_records=7)
        assert bulk == _drain(a, bulk=False, expect=70, max_records=7)
        values = [val for rows in bulk.values() for _, _, val in rows]
        assert not [val for val in values if val is not None and val.startswith(b"abort")]
        # read_uncommitted sees the aborted records too (control records never)
        assert _drain(v, bulk=True, expect=100) == _drain(u, bulk=False, expect=100)
    finally:
        for c in (a, b, u, v):
            c.close()


def test_drained_partitions_are_fetched_again_while_the_others_wait(
    kafka_bootstrap: str, topic_factory: Any
) -> None:
    """A call that returns one partition's fetched records and part of another's sends the
    next fetch for the first one at once (kafka-python would wait until nothing fetched is
    left), and leaves out the partition partly returned and the one not yet touched."""
    topic = topic_factory(3)
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=20)
    for i in range(1800):
        producer.send(topic, value=b"%06d" % i + b"x" * 500, partition=i % 3)
    producer.close()
    consumer = _consumer(kafka_bootstrap, topic, 3)  # about 120 records per partition fetch
    try:
        got = RawBatch()
        with fetch_requests(consumer) as asked:
            for _ in range(100):
                got = fetch_raw(consumer, 200, 500)
                if len(got):
                    break
        # one partition's fetched records (about 120), then part of another's
        drained = list(dict.fromkeys(got.partitions))[:-1]
        assert len(drained) == 1
        assert asked[0] == {0, 1, 2}
        assert asked[-1] == set(drained)  # not the one partly returned, nor the untouched
        rows = _drain(consumer, bulk=True, expect=1800 - 200, max_records=200)
        for p in range(3):
            before = [o for o, q in zip(got.offsets, got.partitions, strict=True) if q == p]
            assert before + [o for o, _, _ in rows.get(p, [])] == list(range(600))
    finally:
        consumer.close()
