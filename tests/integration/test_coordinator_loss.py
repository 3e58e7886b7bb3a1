"""A transactional producer whose group coordinator is killed (SIGKILL) goes on committing
offsets once Kafka has moved the group, with no step given up on.

kafka-python 3.0.12's sender dropped a transactional request whose coordinator refused the
connection (``ingest.kafka.private.keep_transaction_requests`` says how), so the first
``send_offsets_to_transaction`` after such a kill never completed: a worker stalled for its
step's whole deadline (30 s) before it replaced its producer. Here the deadline is far
longer than Kafka needs to move a group (about 10 s: the dead node is fenced after
``broker.session.timeout.ms``), so the old sender fails the test by timing out and the
kept request passes it.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from datamoat.broker import LocalCluster
from ingest.kafka.admin import TopicSpec, ensure_topics
from ingest.kafka.private import transaction_step
from ingest.kafka.testing import KafkaConsumer, OffsetAndMetadata, TopicPartition
from ingest.kafka.transaction import transactional_producer
from tests.support.kafka import coordinator
from tests.support.pipelines import topic_records

pytestmark = pytest.mark.kafka

GROUP = "loss"
#: Far longer than a group's move takes, far shorter than the test's timeout.
STEP_S = 120.0


def committed(bootstrap: str, tp: TopicPartition) -> int:
    """The group's committed offset of ``tp``, as its consumers would resume from it."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP)
    try:
        found = consumer.committed(tp)
        return -1 if found is None else int(found)
    finally:
        consumer.close(autocommit=False)


@pytest.mark.timeout(300)
def test_offsets_commit_after_the_group_coordinator_is_killed(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "kafka", brokers=3, port=0, heap="384m")
    try:
        bootstrap = cluster.start().bootstrap
        assert bootstrap is not None
        ensure_topics(bootstrap, {"in": TopicSpec(1, 3), "out": TopicSpec(3, 3)})
        source = TopicPartition("in", 0)
        producer = transactional_producer(bootstrap, "loss-txn")
        done = 0

        def transaction() -> None:
            nonlocal done
            producer.begin_transaction()
            producer.send("out", key=b"k", value=b"%d" % done)
            offsets = {source: OffsetAndMetadata(done + 1, "", -1)}
            transaction_step(producer, "send_offsets_to_transaction", STEP_S, offsets, GROUP)
            transaction_step(producer, "begin_commit", STEP_S)
            done += 1

        try:
            for _ in range(3):
                transaction()
            node = coordinator(bootstrap, GROUP)
            pid = cluster.status().nodes[node - 1].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            while cluster.status().nodes[node - 1].running:
                time.sleep(0.1)
            for _ in range(3):  # the first waits for the group's new coordinator
                transaction()
        finally:
            producer.close(timeout=10)
        assert committed(bootstrap, source) == done == 6
        assert sorted(int(r.value) for r in topic_records(bootstrap, "out")) == list(range(6))
    finally:
        cluster.stop()
