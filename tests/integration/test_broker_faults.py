"""Broker faults: the broker stops in the middle of a run and comes back; the firehose, two
workers and the merger wait, retry and continue, and nothing is lost or doubled.

The outage is longer than the idle timeout (3 s here): the partitions fall silent, but
nobody could hear them, so none may count as idle; if one did, the merger would close
windows on the other worker's watermark alone and that partition's posts would come late."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.broker import LocalCluster, free_port

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
SEEDED = ["--seed", "21", "--start", START, "--rate", "1500"]


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        if port < 65535 and free_port_is(port + 1):
            return port
    raise RuntimeError("no two adjacent free ports")


def free_port_is(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _wait_for_progress(port: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                if orjson.loads(r.read())["processed"] > 0:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError("the worker processed nothing before the broker was stopped")


def _probe(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()
    except OSError as err:
        return 0, str(err)


def _wait_for(port: int, path: str, code: int, timeout_s: float) -> str:
    """Poll ``path`` until it answers ``code`` (bounded); its body then."""
    deadline, seen = time.monotonic() + timeout_s, (0, "")
    while time.monotonic() < deadline:
        seen = _probe(port, path)
        if seen[0] == code:
            return seen[1]
        time.sleep(0.5)
    raise AssertionError(f"{path} did not answer {code} within {timeout_s:.0f} s: {seen}")


def _worker(
    env: dict[str, str], http_port: int, out: Path, err: Path, i: int
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*DATAMOAT, "process", "--until-idle", "--idle-s", "12", "--http-port", str(http_port),
         "--quiet", "--summary-json", str(out / f"summary-{i}.json")],
        env=env, stdout=subprocess.DEVNULL, stderr=err.open("wb"),
    )  # fmt: skip


def test_broker_restart_mid_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """... and a worker's /readyz turns 503 while the broker is away, 200 once it is back;
    /healthz stays 200 throughout."""
    port = _two_free_ports()
    cluster = LocalCluster(tmp_path / "kafka", port=port, heap="384m")
    bootstrap = cluster.start().bootstrap
    assert bootstrap is not None
    env = {**os.environ, "KAFKA_BOOTSTRAP": bootstrap, "DATAMOAT_WINDOW_IDLE_TIMEOUT_S": "3"}
    out = tmp_path / "run"
    procs: list[subprocess.Popen[bytes]] = []
    try:
        topics = subprocess.run([*DATAMOAT, "topics"], env=env, capture_output=True, text=True)
        assert topics.returncode == 0, topics.stderr
        producer = subprocess.Popen(
            [*DATAMOAT, "produce", *SEEDED, "--duration", "14", "--quiet",
             "--summary-json", str(tmp_path / "produce.json")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append(producer)
        status_ports = [free_port(), free_port()]
        out.mkdir(parents=True)
        workers = [
            _worker(env, p, out, tmp_path / f"worker-{i}.err", i)
            for i, p in enumerate(status_ports)
        ]
        procs += workers
        merger = subprocess.Popen(
            [*DATAMOAT, "merge", "--until-ended", "--http-port", "0", "--quiet",
             "--output-dir", str(out), "--summary-json", str(out / "merged.json")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        procs.append(merger)
        status_port = status_ports[0]
        for p in status_ports:
            _wait_for_progress(p)  # every side is running: now pull the plug
        _wait_for(status_port, "/readyz", 200, 60)
        cluster.stop()
        why = _wait_for(status_port, "/readyz", 503, 90)  # the broker stays away until then
        assert _probe(status_port, "/healthz")[0] == 200, why
        time.sleep(4)  # away for longer than the idle timeout
        LocalCluster(tmp_path / "kafka", port=port, heap="384m").start()
        _wait_for(status_port, "/readyz", 200, 120)
        _, perr = producer.communicate(timeout=180)
        assert producer.returncode == 0, perr.decode()[-3000:]
        for i, worker in enumerate(workers):
            worker.wait(timeout=180)
            werr = (tmp_path / f"worker-{i}.err").read_bytes()
            assert worker.returncode == 0, werr.decode(errors="replace")[-3000:]
        _, merr = merger.communicate(timeout=180)
        assert merger.returncode == 0, merr.decode()[-3000:]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        LocalCluster(tmp_path / "kafka", port=port).stop()

    produced = orjson.loads((tmp_path / "produce.json").read_bytes())["produced"]
    summaries = [orjson.loads((out / f"summary-{i}.json").read_bytes()) for i in range(2)]
    assert all(s["consumed"] for s in summaries), "each worker should have read a share"
    assert sum(s["consumed"] for s in summaries) >= produced  # a partition may move: read again
    merged = orjson.loads((out / "merged.json").read_bytes())
    assert merged["processed"] == produced  # nothing lost, nothing doubled
    assert merged["late_after_merge"] == 0
    truth = subprocess.run(
        [*DATAMOAT, "truth", *SEEDED, "--posts", str(produced), "--output-dir",
         str(tmp_path / "truth")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert truth.returncode == 0, truth.stderr
    got = pl.read_parquet(out / "signals" / "**" / "*.parquet").sort("window_start", "key")
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet").sort(
        "window_start", "key"
    )
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)
