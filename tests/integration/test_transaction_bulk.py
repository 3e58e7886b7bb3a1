"""The transactional bulk path against a real broker: keyed records appended in bulk (one
by one, or as columns) land once, on the partition Kafka's default partitioner gives their
key and in their order, atomically with the input offsets; an aborted transaction's bulk
records are never seen under read_committed; and with the bulk path off (its self-test
failing) ``send()`` delivers the same records."""

from __future__ import annotations

import uuid

import pytest

import ingest.kafka.transaction as transaction_module
from ingest.batch import OutColumns, OutRecord
from ingest.kafka.private import transaction_step
from ingest.kafka.source import KafkaSource, consumer_config
from ingest.kafka.testing import KafkaProducer, murmur2
from ingest.kafka.transaction import Transaction, transactional_producer
from tests.support.kafka import TopicFactory
from tests.support.pipelines import topic_records

pytestmark = pytest.mark.kafka

KEYS = [f"#tag{i % 997}".encode() for i in range(30_000)]


def _read_committed(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes]]:
    return [(r.partition, r.key, r.value) for r in topic_records(bootstrap, topic)]


def _transaction(bootstrap: str, topic: str) -> tuple[Transaction, KafkaSource]:
    tid = f"bulk-test-{uuid.uuid4().hex[:8]}"
    producer = transactional_producer(bootstrap, tid)
    source = KafkaSource(topic, consumer_config(bootstrap, tid), assign=True)
    return Transaction(
        lambda: transactional_producer(bootstrap, tid), source, 30.0, producer
    ), source


@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "send-fallback"])
def test_keyed_records_commit_once_on_their_keys_partition(
    kafka_bootstrap: str, topic_factory: TopicFactory, monkeypatch: pytest.MonkeyPatch, bulk: bool
) -> None:
    if not bulk:
        monkeypatch.setattr(transaction_module, "bulk_problem", lambda p, transactional: "off")
    inputs, out = topic_factory(1), topic_factory(6)
    seed = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    seed.send(inputs, b"x", partition=0).get(timeout=30)
    seed.close()
    txn, source = _transaction(kafka_bootstrap, inputs)
    try:
        assert txn.producer is not None
        assert (txn.bulk_of(txn.producer) is not None) is bulk
        values = [b"v%d" % i for i in range(len(KEYS))]
        records = [OutRecord(out, v, k) for k, v in zip(KEYS, values, strict=True)]
        records.append(OutRecord(out, b"with-headers", b"h", (("reason", b"r"),)))
        txn.commit(records, {0: (1, "meta")})
        assert source.committed({0})[0].offset == 1  # type: ignore[union-attr]
        # A renewed producer (as after a lost commit) knows no topic yet: bulk batches must
        # not wait for metadata it never asks for.
        txn.renew()
        txn.commit([OutRecord(out, b"renewed", b"#tag2")], {0: (1, "meta")})
        columns = [b"c%06d" % i for i in range(5_000)]
        txn.commit([OutColumns(out, KEYS[: len(columns)], columns)], {0: (1, "meta")})

        # An aborted transaction's records (bulk or not) never show under read_committed.
        p = txn.producer
        assert p is not None
        p.begin_transaction()
        txn.send(p, [OutRecord(out, b"aborted", b"#tag1"), OutRecord(out, b"aborted", None)])
        transaction_step(p, "begin_abort", 30.0)
    finally:
        txn.close()
        source.close()
    got = _read_committed(kafka_bootstrap, out)
    assert sorted(v for _, _, v in got) == sorted([*values, b"with-headers", b"renewed", *columns])
    for partition, key, value in got:
        if value != b"with-headers":
            assert partition == (murmur2(key) & 0x7FFFFFFF) % 6, (key, partition)
    for partition in range(6):  # the columns' records in their order on each partition
        mine = [v for p, _, v in got if p == partition and v.startswith(b"c")]
        assert mine == sorted(mine)
