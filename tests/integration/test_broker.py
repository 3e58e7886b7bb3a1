"""The managed local Kafka against the real broker: data round trip, topics, start/stop."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from datamoat.broker import LocalCluster, ensure_topics, find_java, is_reachable
from datamoat.cli import main
from datamoat.errors import BrokerError

pytestmark = pytest.mark.kafka

TopicFactory = Callable[..., str]


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    finally:
        admin.close()


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_produce_consume_round_trip(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    topic = topic_factory(3)
    sent = {f"value-{i}".encode() for i in range(200)}
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=5)
    try:
        for i, value in enumerate(sorted(sent)):
            producer.send(topic, key=str(i % 7).encode(), value=value)
        producer.flush(timeout=20)
    finally:
        producer.close(timeout=5)

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest")
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        got: set[bytes] = set()
        deadline = time.monotonic() + 20
        while len(got) < len(sent) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                got.update(record.value for record in records)
    finally:
        consumer.close()
    assert got == sent


def test_ensure_topics_is_idempotent(kafka_bootstrap: str, topic_factory: TopicFactory) -> None:
    one, four = topic_factory(create=False), topic_factory(create=False)
    ensure_topics(kafka_bootstrap, {one: 1, four: 4})
    ensure_topics(kafka_bootstrap, {one: 1, four: 4})  # both exist: fine
    third = topic_factory(create=False)
    ensure_topics(kafka_bootstrap, {one: 9, third: 2})  # existing ones keep their partitions
    assert _partition_counts(kafka_bootstrap, [one, four, third]) == {one: 1, four: 4, third: 2}


def test_second_broker_start_status_stop(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "second", port=0, heap="256m")
    assert cluster.status().state == "stopped"
    try:
        started = cluster.start()
        assert started.state == "running" and started.bootstrap is not None
        assert len(started.pids) == 1
        pid = started.pids[0]
        assert is_reachable(started.bootstrap, timeout_s=5)
        # Another handle on the same data dir (as a later CLI call) sees the same broker.
        seen = LocalCluster(tmp_path / "second").status()
        assert seen.running and seen.pids == [pid] and seen.bootstrap == started.bootstrap
        assert cluster.start().pids == [pid]  # already running: no second JVM
    finally:
        stopped = cluster.stop()
    assert stopped.state == "stopped" and stopped.pids == []
    assert _pid_gone(pid)
    assert not (tmp_path / "second" / "node-1" / "kafka.pid").exists()
    assert not is_reachable(started.bootstrap, timeout_s=1)
    assert "KafkaRaftServer" in (tmp_path / "second" / "node-1" / "server.log").read_text()


def test_cli_status_and_stop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path / "cli")
    assert main(["broker", "status", "--data-dir", data]) == 3
    try:
        assert main(["broker", "start", "--port", "0", "--heap", "256m", "--data-dir", data]) == 0
        assert "broker started on 127.0.0.1:" in capsys.readouterr().out
        assert main(["broker", "status", "--json", "--data-dir", data]) == 0
        assert '"state": "running"' in capsys.readouterr().out
    finally:
        assert main(["broker", "stop", "--data-dir", data]) == 0
    assert "broker stopped (pid " in capsys.readouterr().out
    assert main(["broker", "status", "--data-dir", data]) == 3
    assert capsys.readouterr().out.startswith("stopped")


def test_replicated_local_cluster(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "trio", brokers=3, port=0, heap="256m")
    try:
        status = cluster.start()
        assert status.running and len(status.pids) == 3 and status.bootstrap is not None
        ensure_topics(status.bootstrap, {"replicated": 3}, replication_factor=3)
        admin = KafkaAdminClient(bootstrap_servers=status.bootstrap.split(","))
        try:
            (topic,) = admin.describe_topics(["replicated"])
        finally:
            admin.close()
        assert [len(p["replica_nodes"]) for p in topic["partitions"]] == [3, 3, 3]
    finally:
        assert cluster.stop().state == "stopped"


def test_clear_error_without_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java, no mvn
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match=r"^Java 17\+ not found: install openjdk-17") as err:
        find_java()
    assert "\n" not in str(err.value)
    with pytest.raises(BrokerError, match="Java 17"):
        LocalCluster(tmp_path / "data", port=0).start()
    assert main(["broker", "start", "--port", "0", "--data-dir", str(tmp_path / "d")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("datamoat broker: error: Java 17+ not found")
