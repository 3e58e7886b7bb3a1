"""The sink contract against a real broker: Kafka refusing a worker's records stops its
commits (said in one line) without dropping it from its group, even for longer than
``max.poll.interval.ms``, and nothing is lost once Kafka takes them again."""

from __future__ import annotations

import random
import subprocess
import time
from pathlib import Path

import pytest

from ingest.kafka.testing import (
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    TopicPartition,
)
from tests.support.pipelines import (
    DATAMOAT,
    START,
    assert_same_signals,
    cli,
    parquet_signals,
    topic_records,
    truth,
)

pytestmark = pytest.mark.kafka

N = 6_000
SEEDED = ["--seed", "21", "--start", START, "--rate", "500"]
#: 5.4 kB that no codec shrinks: more than the dead-letter topic takes at first.
BIG_BAD = random.Random(7).randbytes(5_400)
MAX_POLL_S = 10


def _set_max_message_bytes(admin: KafkaAdminClient, topic: str, size: int) -> None:
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(size)})
    admin.alter_configs([resource])


def _members(admin: KafkaAdminClient, group: str) -> int:
    described = admin.describe_groups([group])
    return len(described[group]["members"]) if group in described else 0


def _wait_for(what: str, check: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_refused_records_are_not_committed_and_the_worker_stays_in_its_group(
    datamoat_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**datamoat_env, "DATAMOAT_KAFKA_MAX_POLL_INTERVAL_S": str(MAX_POLL_S)}
    bootstrap, dlq = env["KAFKA_BOOTSTRAP"], env["DATAMOAT_KAFKA_DLQ_TOPIC"]
    posts, group = env["DATAMOAT_KAFKA_POSTS_TOPIC"], env["DATAMOAT_KAFKA_GROUP"]
    cli(["topics"], env)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    _set_max_message_bytes(admin, dlq, 2_000)
    cli(["produce", *SEEDED, "--posts", str(N), "--unpaced", "--quiet"], env)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    sent = producer.send(posts, value=BIG_BAD, key=b"7").get(timeout=30)
    producer.close()
    bad_at = TopicPartition(posts, sent.partition)

    log = tmp_path / "worker.err"
    with log.open("wb") as err:
        worker = subprocess.Popen(
            [*DATAMOAT, "process", "--until-idle", "--idle-s", "3", "--http-port", "0",
             "--quiet", "--summary-json", str(tmp_path / "worker.json")],
            env=env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    watcher = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        _wait_for("the worker to say its commit fails", lambda: "failing" in log.read_text(), 90)
        time.sleep(MAX_POLL_S * 2)  # an outage twice as long as max.poll.interval.ms
        assert _members(admin, group) == 1, "the worker left its group during the outage"
        committed = watcher.committed(bad_at)
        assert committed is None or committed <= sent.offset, "refused batch was committed"
        assert worker.poll() is None
        _set_max_message_bytes(admin, dlq, 1_048_588)
        assert worker.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        watcher.close()
        admin.close()
        if worker.poll() is None:
            worker.kill()
    lines = log.read_text().splitlines()
    assert sum("failing" in line for line in lines) == 1, lines
    # the episode ends with the batch committed ("recovered") or, when the group moved on
    # meanwhile (a rebalance under CI load), with the batch aborted for its new owners
    ended = ("recovered", "its partitions' owners read it again")
    assert sum(any(e in line for e in ended) for line in lines) >= 1, lines
    assert sum("recovered" in line for line in lines) <= 1, lines

    out = tmp_path / "run"
    merged = cli(["merge", "--until-ended", "--http-port", "0", "--quiet", "--output-dir",
                  str(out), "--summary-json", str(tmp_path / "merge.json")], env)  # fmt: skip
    assert merged["processed"] == N and merged["dead_lettered"] == 1
    assert_same_signals(parquet_signals(tmp_path / "run"), truth(SEEDED, N, tmp_path / "t", env))
    letters = topic_records(bootstrap, dlq)
    assert [r.value for r in letters] == [BIG_BAD]  # once, its original bytes
