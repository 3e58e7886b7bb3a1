"""Three brokers, replication factor 3: the group coordinator, then another node, are killed
(SIGKILL) mid-run and restarted with ``datamoat broker start --node K``. The firehose and the
consumer side ride it out: nothing is lost or doubled (the Parquet signals equal ``datamoat
truth``), the accounting is exact, the producer says it stalled (live and in its summary),
and the worker's commits wait for the moved coordinator instead of giving up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.broker import LocalCluster, free_port
from ingest.kafka.testing import KafkaAdminClient, KafkaError
from tests.support.kafka import coordinator

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
#: At most 250 s of paced producing: the firehose is stopped (SIGINT) once both faults are
#: over and the worker has gone on after the second, so the run lasts what the faults take
#: (a coordinator failover under load has taken over 80 s, and both faults with their
#: recoveries over 180 s in a fresh-clone suite).
POSTS = 50_000
SEEDED = ["--seed", "33", "--start", START, "--rate", "200"]
GROUP = "faults"
INTERNAL = ["__consumer_offsets", "__transaction_state"]


# --- the consumer side: today one worker; the merger stage joins it here --------------------
def start_consumers(env: dict[str, str], out: Path) -> tuple[list[subprocess.Popen[bytes]], int]:
    """Start what consumes ``posts`` and writes the signals under ``out``; return the
    processes (each must exit 0 once idle) and the HTTP port whose /status counts
    ``processed``. Each writes ``<out>/<name>.json`` (summary) and ``<out>/<name>.err``."""
    port = free_port()
    worker = [*DATAMOAT, "process", "--until-idle", "--idle-s", "10", "--http-port", str(port),
              "--quiet", "--summary-json", str(out / "worker.json")]  # fmt: skip
    merger = [*DATAMOAT, "merge", "--until-ended", "--http-port", "0", "--quiet",
              "--output-dir", str(out), "--summary-json", str(out / "merger.json")]  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for name, cmd in (("worker", worker), ("merger", merger)):
        with (out / f"{name}.err").open("wb") as err:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err))
    return procs, port


# --- cluster helpers ------------------------------------------------------------------------
def wait_until(what: str, ok: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if ok():
                return
        except (KafkaError, OSError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def busiest_leader(bootstrap: str, topic: str, other_than: int) -> int:
    """The node other than ``other_than`` that leads most partitions of ``topic``."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        (described,) = admin.describe_topics([topic])
    finally:
        admin.close()
    leaders = [p["leader_id"] for p in described["partitions"] if p["leader_id"] != other_than]
    return int(max(sorted(set(leaders)), key=leaders.count))


def all_in_sync(bootstrap: str, topics: list[str]) -> bool:
    """Every partition of ``topics`` has a leader and all its replicas in sync."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    try:
        described = admin.describe_topics(topics)
    finally:
        admin.close()
    parts = [p for t in described for p in t["partitions"]]
    return bool(parts) and all(
        p["leader_id"] >= 0 and set(p["isr_nodes"]) == set(p["replica_nodes"]) for p in parts
    )


def processed(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
        return int(orjson.loads(r.read())["processed"])


def kill(cluster: LocalCluster, node_id: int) -> None:
    """SIGKILL ``node_id`` by its own recorded pid."""
    node = cluster.status().nodes[node_id - 1]
    assert node.running and node.pid is not None
    os.kill(node.pid, signal.SIGKILL)
    wait_until(
        f"node {node_id} to be gone", lambda: not cluster.status().nodes[node_id - 1].running, 30
    )


def restart(cluster: LocalCluster, node_id: int, env: dict[str, str]) -> None:
    """``datamoat broker start --node K``, as a user would."""
    where = ["--data-dir", str(cluster.data_dir)]
    started = subprocess.run([*DATAMOAT, "broker", "start", "--node", str(node_id), *where],
                             env=env, capture_output=True, text=True, timeout=150)  # fmt: skip
    assert started.returncode == 0, started.stderr[-3000:]
    assert f"node {node_id} started" in started.stdout


# --- the test -------------------------------------------------------------------------------
@pytest.mark.timeout(480)  # the cluster, up to 250 s of faults, the drain and the truth
def test_coordinator_and_another_node_killed_and_restarted(tmp_path: Path) -> None:
    cluster = LocalCluster(tmp_path / "kafka", brokers=3, port=0, heap="384m")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        bootstrap = cluster.start().bootstrap
        assert bootstrap is not None
        env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "DATAMOAT_KAFKA_GROUP": GROUP}
        made = subprocess.run([*DATAMOAT, "topics"], env=env, capture_output=True, text=True)
        assert made.returncode == 0, made.stderr
        assert made.stdout.count("replication factor 3, min.insync.replicas 2") == 8
        topics = ["posts", "posts.dlq", f"{GROUP}.partials", f"{GROUP}.merger-snapshots",
                  f"{GROUP}.early", "signals", "signals.early", "alerts", *INTERNAL]  # fmt: skip
        wait_until("the topics on every node", lambda: all_in_sync(bootstrap, topics), 60)

        out = tmp_path / "run"
        out.mkdir()
        producer_err = out / "produce.err"
        with producer_err.open("wb") as err:
            producer = subprocess.Popen(
                [*DATAMOAT, "produce", *SEEDED, "--posts", str(POSTS), "--quiet",
                 "--summary-json", str(out / "produce.json")],
                env=env, stdout=subprocess.DEVNULL, stderr=err,
            )  # fmt: skip
        procs.append(producer)
        consumers, port = start_consumers(env, out)
        procs.extend(consumers)
        wait_until("the worker to process posts", lambda: processed(port) > 0, 120)

        def said(what: str) -> int:
            return producer_err.read_text().count(f"datamoat produce: {what}")

        def survive(node_id: int, stalls: int) -> None:
            """Kill the node; the firehose says it stalled, then goes on without the node,
            and so does the worker; then the node comes back and catches up."""
            assert producer.poll() is None, "the firehose ended before the fault: raise POSTS"
            kill(cluster, node_id)
            wait_until("the firehose to say it stalled", lambda: said("STALLED:") >= stalls, 60)
            wait_until("the firehose to recover", lambda: said("recovered:") >= stalls, 90)
            before = processed(port)
            wait_until("the worker to go on", lambda: processed(port) > before, 150)
            assert not cluster.status().nodes[node_id - 1].running  # all that on two nodes
            restart(cluster, node_id, env)
            wait_until("every replica back in sync", lambda: all_in_sync(bootstrap, topics), 120)

        first = coordinator(bootstrap, GROUP)
        survive(first, 1)
        survive(busiest_leader(bootstrap, "posts", other_than=first), 2)
        before = processed(port)
        wait_until("the worker to go on on three nodes", lambda: processed(port) > before, 150)
        assert producer.poll() is None, "the firehose ended before the faults were over"
        producer.send_signal(signal.SIGINT)  # enough: the firehose stops cleanly

        assert producer.wait(timeout=180) == 0, producer_err.read_text()[-3000:]
        for name, proc in zip(("worker", "merger"), consumers, strict=True):
            assert proc.wait(timeout=180) == 0, (out / f"{name}.err").read_text()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cluster.stop()

    lines = producer_err.read_text()
    assert lines.count("datamoat produce: STALLED: no send acknowledged for") >= 2, lines
    made_summary = orjson.loads((out / "produce.json").read_bytes())
    produced = made_summary["produced"]
    assert 0 < produced < POSTS
    assert made_summary["stalls"] >= 2 and made_summary["stalled_s"] > 0
    assert made_summary["kept_up"] is False

    # No commit step given up on: each waited for the group's moved coordinator. kafka-python's
    # own sender dropped a transactional request whose coordinator refused the connection, and
    # the worker replaced its producer after the step's 30 s deadline ("commit failing ...
    # did not complete within 30 s"); ingest.kafka.transaction.ReadyOrNotClient.
    assert "commit failing" not in (out / "worker.err").read_text()
    summary = orjson.loads((out / "worker.json").read_bytes())
    assert summary["consumed"] == produced  # nothing lost, nothing doubled
    assert summary["processed"] == produced
    assert summary["dead_lettered"] == 0 and summary["late"] == 0
    assert summary["accounting_ok"] is True

    truth = subprocess.run(
        [*DATAMOAT, "truth", *SEEDED, "--posts", str(produced), "--output-dir",
         str(tmp_path / "truth")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert truth.returncode == 0, truth.stderr
    got = pl.read_parquet(out / "signals" / "**" / "*.parquet").sort("window_start", "key")
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet")
    assert got.height == want.height
    assert_frame_equal(got, want.sort("window_start", "key"), check_exact=False, abs_tol=1e-9)
