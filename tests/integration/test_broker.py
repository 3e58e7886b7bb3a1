"""The managed local Kafka against the real broker: data round trip, topics, start/stop."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from datamoat.broker import LocalCluster, find_java, free_port
from datamoat.cli import main
from datamoat.config import Config, KafkaConfig
from datamoat.errors import BrokerError
from datamoat.topics import create_topics
from ingest.kafka.admin import broker_count, ensure_topics, is_reachable, replication_factors
from ingest.kafka.testing import (
    ConfigResource,
    ConfigResourceType,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    TopicPartition,
)

pytestmark = pytest.mark.kafka

TopicFactory = Callable[..., str]


def _partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
    finally:
        admin.close()


def _topic_layout(bootstrap: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per topic: partitions, replicas per partition, and the topic-level config overrides."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        # Each broker learns of a new topic on its own: the one asked may not know it yet.
        admin.wait_for_topics(names, timeout_ms=30_000)
        topics = {t["name"]: t for t in admin.describe_topics(names)}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
        configs = admin.describe_configs(resources)["topic"]
    finally:
        admin.close()
    return {
        name: {
            "partitions": len(topics[name]["partitions"]),
            "replicas": {len(p["replica_nodes"]) for p in topics[name]["partitions"]},
            "configs": {k: v["value"] for k, v in configs[name].items()},
        }
        for name in names
    }


def _pid_gone(pid: int) -> bool:
    """Gone, or a zombie (exited; its parent, maybe another LocalCluster, has not reaped it)."""
    try:
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (ProcessLookupError, FileNotFoundError):
        return True
    return state == "Z"


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


def test_a_port_taken_before_kafka_binds_it_starts_on_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ports picked free can be taken by another process before Kafka binds them (the
    fresh-clone suite lost a chaos run so): the cluster starts again on other ports."""
    import socket

    import datamoat.broker as broker

    busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]
    real = broker.free_ports
    calls: list[list[int]] = []

    def picked(count: int, host: str = "127.0.0.1") -> list[int]:
        ports = real(count, host)
        if not calls:
            ports[0] = taken  # free when picked, taken before Kafka binds it
        calls.append(ports)
        return ports

    monkeypatch.setattr(broker, "free_ports", picked)
    monkeypatch.setattr(broker, "port_free", lambda port: True)
    cluster = LocalCluster(tmp_path / "race", port=0, heap="256m")
    try:
        with caplog.at_level(logging.WARNING, logger="datamoat.broker"):
            started = cluster.start()
        assert started.running and started.bootstrap is not None
        assert len(calls) == 2 and started.bootstrap.endswith(f":{calls[1][0]}")
        assert "taken meanwhile" in caplog.text
    finally:
        cluster.stop()
        busy.close()


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


def test_topics_on_one_broker_and_again(
    datamoat_env: dict[str, str], topic_factory: TopicFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    env = datamoat_env
    config = Config(kafka=KafkaConfig(
        bootstrap=env["KAFKA_BOOTSTRAP"], posts_topic=env["DATAMOAT_KAFKA_POSTS_TOPIC"],
        dlq_topic=env["DATAMOAT_KAFKA_DLQ_TOPIC"],
        signals_topic=env["DATAMOAT_KAFKA_SIGNALS_TOPIC"], group=env["DATAMOAT_KAFKA_GROUP"],
        early_topic=env["DATAMOAT_KAFKA_EARLY_TOPIC"],
        alerts_topic=env["DATAMOAT_KAFKA_ALERTS_TOPIC"],
    ))  # fmt: skip
    k = config.kafka
    partials_topic = k.partials_topic(k.group)
    assert partials_topic == f"{env['DATAMOAT_KAFKA_GROUP']}.partials"
    snapshots_topic, channel = k.snapshots_topic(k.group), k.early_channel(k.group)
    names = [k.posts_topic, k.dlq_topic, partials_topic, snapshots_topic, channel,
             k.signals_topic, k.early_topic, k.alerts_topic]  # fmt: skip
    warnings: list[str] = []
    made = _create(config, warnings)
    assert sorted(made) == sorted(names) and warnings == []
    layout = _topic_layout(k.bootstrap, names)
    assert {n: (t["partitions"], t["replicas"]) for n, t in layout.items()} == {
        k.posts_topic: (6, {1}), k.dlq_topic: (6, {1}), partials_topic: (1, {1}),
        snapshots_topic: (1, {1}), channel: (1, {1}), k.signals_topic: (6, {1}),
        k.early_topic: (6, {1}), k.alerts_topic: (6, {1}),
    }  # fmt: skip
    assert layout[k.early_topic]["configs"]["cleanup.policy"] == "compact"
    assert layout[channel]["configs"]["retention.ms"] == "600000"
    partials = layout[partials_topic]["configs"]
    assert partials["max.message.bytes"] == "16777216"
    assert partials["retention.ms"] == str((86_400 + 3_600) * 1000)
    snapshots = layout[snapshots_topic]["configs"]
    assert snapshots["cleanup.policy"] == "compact"
    assert snapshots["max.message.bytes"] == "16777216"
    assert _create(config, warnings) == {}  # all there: nothing made
    assert warnings == []  # replication 1 is what one broker wants


def _create(config: Config, warnings: list[str]) -> dict[str, object]:
    """create_topics, with its warning lines collected."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            warnings.append(record.getMessage())

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("datamoat.topics")
    logger.addHandler(handler)
    try:
        return dict(create_topics(config))
    finally:
        logger.removeHandler(handler)


def test_three_nodes_topics_and_one_node_restarted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "trio"
    cluster = LocalCluster(data, brokers=3, port=0, heap="384m")
    try:
        status = cluster.start()
        assert status.running and len(status.pids) == 3 and status.bootstrap is not None
        bootstrap = status.bootstrap
        internal = _topic_layout(bootstrap, ["__consumer_offsets", "__transaction_state"])
        assert all(t["replicas"] == {3} for t in internal.values()), internal  # made at start

        ensure_topics(bootstrap, {"posts": 2}, replication_factor=1)  # an older run's topic
        config = dataclasses.replace(Config(), kafka=KafkaConfig(bootstrap=bootstrap))
        warnings: list[str] = []
        made = _create(config, warnings)
        assert sorted(made) == [
            "alerts", "datamoat.early", "datamoat.merger-snapshots", "datamoat.partials",
            "posts.dlq", "signals", "signals.early"
        ]  # fmt: skip
        seen = (broker_count(bootstrap), replication_factors(bootstrap, ["posts"]))
        assert len(warnings) == 1, (warnings, seen)  # brokers, factors: what the check saw
        (line,) = warnings
        assert "'posts' has replication factor 1, less than the 3 wanted" in line
        layout = _topic_layout(bootstrap, ["posts", *made])
        assert layout["posts"]["replicas"] == {1} and layout["posts"]["partitions"] == 2
        for name in made:
            assert layout[name]["replicas"] == {3}, name
            assert layout[name]["configs"]["min.insync.replicas"] == "2", name
        assert layout["datamoat.partials"]["configs"]["max.message.bytes"] == "16777216"

        where = ["--data-dir", str(data)]
        assert main(["broker", "stop", "--node", "2", *where]) == 0
        assert "node 2 stopped" in capsys.readouterr().out
        assert [n.running for n in cluster.status().nodes] == [True, False, True]
        assert main(["broker", "status", *where]) == 3
        assert main(["broker", "start", "--node", "2", *where]) == 0
        out = capsys.readouterr().out
        assert "node 2 started on 127.0.0.1:" in out and "3 of 3 nodes running" in out
        again = cluster.status()
        assert again.running and again.pids[0] == status.pids[0]
        assert again.pids[1] != status.pids[1] and _pid_gone(status.pids[1])
        assert main(["broker", "start", "--node", "2", *where]) == 1  # already running
        assert "node 2 in" in capsys.readouterr().err
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
    assert main(["broker", "start", "--port", "0", "--data-dir", str(tmp_path / "d")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("datamoat broker: error: Java 17+ not found")


def test_the_compose_health_check_speaks_kafka(kafka_bootstrap: str) -> None:
    """docker/broker/healthcheck.sh (the compose broker's light health check: an ApiVersions
    request with bash) is healthy on a real broker, and not on a port nobody serves."""
    script = Path(__file__).resolve().parents[2] / "docker" / "broker" / "healthcheck.sh"
    port = kafka_bootstrap.split(",")[0].rpartition(":")[2]
    ok = subprocess.run(["bash", str(script), port], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    closed = subprocess.run(["bash", str(script), str(free_port())], capture_output=True,
                            timeout=30)  # fmt: skip
    assert closed.returncode != 0
