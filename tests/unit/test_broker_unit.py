"""datamoat.broker without a JVM: property rendering, java checks, jar stamp, pid safety."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from datamoat import broker
from datamoat.broker import CONFIG_DIR, LocalCluster, ensure_jars, find_java, free_port
from datamoat.cli import build_parser, main
from datamoat.config import Config, load_config
from datamoat.errors import BrokerError, ConfigError
from datamoat.topics import PARTIALS_MAX_BYTES, plan_topics, replication_for, topic_names


def _fake_tool(bin_dir: Path, name: str, script: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def _props(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key.strip(): value.strip() for key, value in pairs}


def test_template_renders_one_node(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path, port=0)
    cluster.render([9092], [9093])
    props = _props((tmp_path / "node-1" / "server.properties").read_text())
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert props["log.dirs"] == str(tmp_path.resolve() / "node-1" / "data")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "default.replication.factor",
        "min.insync.replicas",
    ):
        assert props[key] == "1", key
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "6"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "controller.quorum.bootstrap.servers" not in props  # static voters only


def test_template_renders_three_nodes(tmp_path: Path) -> None:
    LocalCluster(tmp_path, brokers=3, port=0).render([1, 2, 3], [11, 12, 13])
    rendered = [
        _props((tmp_path / f"node-{i}" / "server.properties").read_text()) for i in (1, 2, 3)
    ]
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered} == {
        "1@127.0.0.1:11,2@127.0.0.1:12,3@127.0.0.1:13"
    }
    assert len({p["log.dirs"] for p in rendered}) == 3
    assert rendered[1]["advertised.listeners"] == "PLAINTEXT://127.0.0.1:2"
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "default.replication.factor",
    ):
        assert rendered[0][key] == "3", key
    # One node down leaves 2 in sync: groups, transactions and acks=all writes go on.
    assert rendered[0]["transaction.state.log.min.isr"] == "2"
    assert rendered[0]["min.insync.replicas"] == "2"


def test_two_nodes_survive_one_down(tmp_path: Path) -> None:
    LocalCluster(tmp_path, brokers=2, port=0).render([1, 2], [11, 12])
    props = _props((tmp_path / "node-1" / "server.properties").read_text())
    assert props["offsets.topic.replication.factor"] == "2"
    assert props["min.insync.replicas"] == props["transaction.state.log.min.isr"] == "1"


def test_cluster_id_is_a_kafka_uuid() -> None:
    ids = {broker.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", cid) and cid[0] != "-" for cid in ids)


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", "java", "echo 'openjdk version \"11.0.22\" 2024-01-16' >&2")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match=r"Java 17\+ not found \(.* is Java 11\)"):
        find_java()


def test_legacy_version_string_and_java_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_tool(tmp_path / "bin", "java", "echo 'java version \"1.8.0_402\"' >&2")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(BrokerError, match="is Java 8"):
        find_java()
    _fake_tool(tmp_path / "bin", "java", "echo 'openjdk version \"21\" 2023-09-19' >&2")
    assert find_java() == str(tmp_path / "bin" / "java")


def test_missing_maven_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tool(tmp_path / "bin", "java", "echo 'openjdk version \"17.0.15\"' >&2")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match=r"^Maven \(mvn\) not found: [^\n]*--bootstrap"):
        ensure_jars(tmp_path / "home")


def test_matching_stamp_skips_the_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # neither java nor mvn: must not be needed
    libs = tmp_path / ".kafka" / "libs"
    libs.mkdir(parents=True)
    digest = hashlib.sha256((CONFIG_DIR / "pom.xml").read_bytes()).hexdigest()
    (libs / ".pom-sha256").write_text(digest + "\n")
    assert ensure_jars(tmp_path) == libs
    (libs / ".pom-sha256").write_text("stale\n")  # the pom changed: a refetch needs java
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BrokerError, match="Java 17"):
        ensure_jars(tmp_path)


def test_stop_never_signals_a_foreign_pid(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "node-1").mkdir()
        (tmp_path / "cluster.json").write_text(json.dumps({"brokers": 1, "ports": [9]}))
        (tmp_path / "node-1" / "kafka.pid").write_text(f"{stranger.pid}\n")
        cluster = LocalCluster(tmp_path)
        assert cluster.status().state == "stopped"
        assert cluster.stop(timeout_s=1).pids == []
        assert stranger.poll() is None  # still alive
    finally:
        stranger.kill()
        stranger.wait()


def test_status_of_an_empty_data_dir(tmp_path: Path) -> None:
    status = LocalCluster(tmp_path / "nothing").status()
    assert (status.state, status.bootstrap, status.pids) == ("stopped", None, [])
    assert status.to_dict()["nodes"] == []


@pytest.mark.parametrize("heap", ["", "1x", "-1m", "512 m"])
def test_bad_heap_is_refused(heap: str) -> None:
    with pytest.raises(BrokerError, match="heap"):
        LocalCluster(port=0, heap=heap)


def test_free_port_is_bindable() -> None:
    assert broker.port_free(free_port())


def test_home_follows_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAMOAT_HOME", str(tmp_path))
    assert LocalCluster().data_dir == tmp_path.resolve() / ".kafka" / "data"
    monkeypatch.delenv("DATAMOAT_HOME")
    assert broker.datamoat_home() == CONFIG_DIR.parents[1]


def test_cli_arguments() -> None:
    args = build_parser().parse_args(["broker", "start", "--brokers", "3", "--port", "9200"])
    assert (args.brokers, args.port, args.heap, args.data_dir) == (3, 9200, "512m", None)
    assert callable(args.func)
    args = build_parser().parse_args(["broker", "status", "--json", "--data-dir", "x"])
    assert args.json and args.data_dir == Path("x")
    for action in ("fetch", "stop"):
        assert callable(build_parser().parse_args(["broker", action]).func)


# --- one node of a local cluster ----------------------------------------------------------
def _fake_cluster(data: Path, nodes: int = 3) -> None:
    data.mkdir(parents=True, exist_ok=True)
    state = {"cluster_id": "x", "brokers": nodes, "ports": [free_port() for _ in range(nodes)],
             "controller_ports": [free_port() for _ in range(nodes)], "heap": "256m"}  # fmt: skip
    (data / "cluster.json").write_text(json.dumps(state))
    for i in range(1, nodes + 1):
        (data / f"node-{i}").mkdir(exist_ok=True)


def _fake_node(data: Path, node_id: int) -> subprocess.Popen[bytes]:
    """A sleeping process whose command line names ``kafka.Kafka`` and the node's properties,
    as a running node's does (so status and stop treat it as that node, without a JVM)."""
    props = str((data / f"node-{node_id}" / "server.properties").resolve())
    code = "import time; time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, "kafka.Kafka", props])
    (data / f"node-{node_id}" / "kafka.pid").write_text(f"{proc.pid}\n")
    for _ in range(500):  # the command line shows once the interpreter has started
        if broker.is_our_broker(proc.pid, Path(props)):
            return proc
        time.sleep(0.01)
    raise AssertionError("the fake node never showed its command line")


def _one_error_line(capsys: pytest.CaptureFixture[str], args: list[str], status: int = 1) -> str:
    """The one line of a command that fails: status 1 (2 for a usage error)."""
    assert main(args) == status
    (line,) = capsys.readouterr().err.splitlines()
    return line


def test_node_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = str(tmp_path / "empty")
    line = _one_error_line(capsys, ["broker", "start", "--node", "2", "--data-dir", empty])
    assert "no local cluster in" in line and "datamoat broker start" in line
    _fake_cluster(tmp_path / "trio")
    trio = str(tmp_path / "trio")
    for action in ("start", "stop"):
        line = _one_error_line(capsys, ["broker", action, "--node", "4", "--data-dir", trio], 2)
        assert "node 4 is not in the 3-node cluster" in line and "(nodes 1-3)" in line
    line = _one_error_line(capsys, ["broker", "start", "--node", "2", "--data-dir", trio])
    assert "no node of the cluster" in line and "start it whole" in line
    node1 = _fake_node(tmp_path / "trio", 1)
    try:
        line = _one_error_line(capsys, ["broker", "start", "--node", "1", "--data-dir", trio])
        assert line.endswith(f"node 1 in {(tmp_path / 'trio').resolve()} is already running "
                             f"(pid {node1.pid})")  # fmt: skip
        assert main(["broker", "status", "--data-dir", trio]) == 3
        out = capsys.readouterr().out
        assert out.startswith("partial:") and "node 2 3" in out and "--node K" in out
        with pytest.raises(BrokerError, match=r"partial .*node 2, 3 stopped.*--node K"):
            LocalCluster(tmp_path / "trio", brokers=3).start()
    finally:
        node1.kill()
        node1.wait()


def test_stop_node_stops_that_node_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fake_cluster(tmp_path)
    nodes = {i: _fake_node(tmp_path, i) for i in (1, 2, 3)}
    try:
        assert LocalCluster(tmp_path).status().state == "running"
        assert main(["broker", "stop", "--node", "2", "--data-dir", str(tmp_path)]) == 0
        assert f"node 2 stopped (pid {nodes[2].pid}), 2 of 3 nodes running" in (
            capsys.readouterr().out
        )
        assert nodes[2].wait(timeout=10) != 0  # SIGTERM
        assert nodes[1].poll() is None and nodes[3].poll() is None
        assert not (tmp_path / "node-2" / "kafka.pid").exists()
        status = LocalCluster(tmp_path).status()
        assert [n.running for n in status.nodes] == [True, False, True]
        assert main(["broker", "stop", "--node", "2", "--data-dir", str(tmp_path)]) == 0
        assert capsys.readouterr().out.startswith("node 2 not running")
    finally:
        for proc in nodes.values():
            proc.kill()
            proc.wait()


def test_cli_node_arguments() -> None:
    args = build_parser().parse_args(["broker", "start", "--node", "2", "--data-dir", "d"])
    assert args.node == 2 and args.data_dir == Path("d")
    assert build_parser().parse_args(["broker", "stop", "--node", "3"]).node == 3
    assert build_parser().parse_args(["broker", "stop"]).node is None


# --- topic replication and specs ----------------------------------------------------------
@pytest.mark.parametrize(
    ("configured", "brokers", "expected"),
    [(0, 1, (1, 1)), (1, 1, (1, 1)), (0, 2, (2, 1)), (1, 3, (3, 2)), (0, 5, (3, 2)),
     (2, 3, (3, 2)), (4, 5, (4, 2)), (5, 5, (5, 2))],
)  # fmt: skip
def test_replication_follows_the_cluster(
    configured: int, brokers: int, expected: tuple[int, int]
) -> None:
    assert replication_for(configured, brokers) == expected


def test_replication_above_the_brokers_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"is 3 but the cluster has only 1 broker: lower it"):
        replication_for(3, 1)


def test_plan_covers_every_topic_with_the_partials_settings(tmp_path: Path) -> None:
    config = load_config(CONFIG_DIR.parent / "datamoat.toml", env={})
    assert config.kafka.partials_topic(config.kafka.group) == "datamoat.partials"
    plan = plan_topics(config, brokers=3)
    k = config.kafka
    assert list(plan) == [k.posts_topic, k.dlq_topic, "datamoat.partials",
                          "datamoat.merger-snapshots", "datamoat.early", k.signals_topic,
                          "signals.early", "alerts"]  # fmt: skip
    assert list(plan) == topic_names(config)
    assert plan["signals.early"].configs["cleanup.policy"] == "compact"
    assert plan["datamoat.early"].partitions == 1
    off = dataclasses.replace(config, early=dataclasses.replace(config.early, enabled=False))
    assert list(plan_topics(off, brokers=3)) == topic_names(off) == [
        k.posts_topic, k.dlq_topic, "datamoat.partials", "datamoat.merger-snapshots",
        k.signals_topic]  # fmt: skip
    assert {s.replication_factor for s in plan.values()} == {3}
    snapshots = plan["datamoat.merger-snapshots"]
    assert snapshots.partitions == 1 and snapshots.configs["cleanup.policy"] == "compact"
    assert {s.configs["min.insync.replicas"] for s in plan.values()} == {"2"}
    partials = plan["datamoat.partials"]
    assert partials.partitions == 1 and plan["posts"].partitions == k.partitions
    assert partials.configs["max.message.bytes"] == str(PARTIALS_MAX_BYTES) == "16777216"
    day_and_an_hour = (86_400 + 3_600) * 1000
    assert partials.configs["retention.ms"] == str(day_and_an_hour)
    assert "retention.ms" not in plan["posts"].configs
    single = plan_topics(Config(), brokers=1)
    assert {(s.replication_factor, s.configs["min.insync.replicas"]) for s in single.values()} == {
        (1, "1")
    }
    (tmp_path / "c.toml").write_text("[kafka]\nreplication_factor = -1\n")
    with pytest.raises(ConfigError, match="replication_factor must be >= 0"):
        load_config(tmp_path / "c.toml", env={})
