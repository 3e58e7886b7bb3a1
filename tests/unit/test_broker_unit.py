"""datamoat.broker without a JVM: property rendering, java checks, jar stamp, pid safety."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from datamoat import broker
from datamoat.broker import CONFIG_DIR, LocalCluster, ensure_jars, find_java, free_port
from datamoat.cli import build_parser
from datamoat.errors import BrokerError


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
    cluster._render([9092], [9093])
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
    ):
        assert props[key] == "1", key
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == "6"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert "controller.quorum.bootstrap.servers" not in props  # static voters only


def test_template_renders_three_nodes(tmp_path: Path) -> None:
    LocalCluster(tmp_path, brokers=3, port=0)._render([1, 2, 3], [11, 12, 13])
    rendered = [
        _props((tmp_path / f"node-{i}" / "server.properties").read_text()) for i in (1, 2, 3)
    ]
    assert [p["node.id"] for p in rendered] == ["1", "2", "3"]
    assert {p["controller.quorum.voters"] for p in rendered} == {
        "1@127.0.0.1:11,2@127.0.0.1:12,3@127.0.0.1:13"
    }
    assert len({p["log.dirs"] for p in rendered}) == 3
    assert rendered[1]["advertised.listeners"] == "PLAINTEXT://127.0.0.1:2"
    assert rendered[0]["offsets.topic.replication.factor"] == "3"
    assert rendered[0]["transaction.state.log.min.isr"] == "2"


def test_cluster_id_is_a_kafka_uuid() -> None:
    ids = {broker._new_cluster_id() for _ in range(200)}
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
    assert broker._port_free(free_port())


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
