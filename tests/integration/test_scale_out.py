"""Scale-out: any number of workers, workers joining and leaving, and SIGKILLs give the
signals of ``datamoat truth``, and a ``read_committed`` reader of the signals topic sees
each window and key exactly once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

from tests.support.pipelines import (
    DATAMOAT,
    START,
    assert_same_signals,
    cli,
    dead_letter_reasons,
    parquet_signals,
    topic_signals,
    truth,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(datamoat_env: dict[str, str]) -> dict[str, str]:
    return {
        **datamoat_env,
        "DATAMOAT_BATCH_MAX_RECORDS": "2000",
        "DATAMOAT_BATCH_MAX_WAIT_MS": "100",
    }


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_n_workers_give_the_truth_exactly_once(
    workers: int, env: dict[str, str], tmp_path: Path
) -> None:
    n = 15_000
    seeded = ["--seed", "31337", "--start", START, "--rate", "1500"]
    summary = cli(["run", *seeded, "--posts", str(n), "--workers", str(workers), "--unpaced",
                   "--quiet", "--http-port", "0", "--output-dir", str(tmp_path / "run"),
                   "--summary-json", str(tmp_path / "run.json")], env)  # fmt: skip
    assert summary["produced"] == summary["consumed"] == summary["processed"] == n
    assert summary["late"] == 0 and summary["dead_lettered"] == 0
    want = truth(seeded, n, tmp_path / "truth", env)
    assert_same_signals(parquet_signals(tmp_path / "run"), want)
    assert_same_signals(topic_signals(env), want)


def _worker(env: dict[str, str], group: str, name: str, out: Path) -> subprocess.Popen[bytes]:
    summary = out / f"{name}-{time.monotonic_ns()}.json"
    cmd = [*DATAMOAT, "process", "--group", group, "--instance-id", name, "--http-port", "0",
           "--quiet", "--summary-json", str(summary)]  # fmt: skip
    log = open(out / f"{summary.stem}.log", "wb")  # noqa: SIM115 - kept for a failing test
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _wait_started(out: Path, name: str, timeout_s: float = 90.0) -> None:
    """Until worker ``name`` has said it runs (bounded: a loaded machine starts slowly)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        logs = out.glob(f"{name}-*.log")
        if any("process: group" in f.read_text(errors="replace") for f in logs):
            return
        time.sleep(0.2)
    raise AssertionError(f"worker {name} did not start within {timeout_s:.0f} s")


def _finish(proc: subprocess.Popen[bytes]) -> None:
    """Input over: the worker drains, ends its partitions and exits 0."""
    proc.send_signal(signal.SIGUSR1)
    assert proc.wait(timeout=120) == 0


def _merger(env: dict[str, str], group: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    cmd = [*DATAMOAT, "merge", "--group", group, "--until-ended", "--http-port", "0", "--quiet",
           "--output-dir", str(tmp_path / "run"),
           "--summary-json", str(tmp_path / "merge.json")]  # fmt: skip
    log = open(tmp_path / f"merge-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log)


def _tail(tmp_path: Path) -> str:
    logs = sorted(tmp_path.glob("merge-*.log"))
    return logs[-1].read_bytes()[-3000:].decode(errors="replace") if logs else ""


def test_join_kill_restart_and_shrink_give_the_truth(env: dict[str, str], tmp_path: Path) -> None:
    """Workers join, die and leave, and the merger is SIGKILLed while they keep writing
    partials: its successor restores up to the committed offset and goes on from there."""
    n = 24_000
    seeded = ["--seed", "31337", "--start", START, "--rate", "2000"]
    group, out = f"churn-{tmp_path.name}", tmp_path / "summaries"
    out.mkdir()
    cli(["topics", "--group", group], env)
    producer = subprocess.Popen(
        [*DATAMOAT, "produce", *seeded, "--posts", str(n), "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    merger = _merger(env, group, tmp_path)
    a = _worker(env, group, "a", out)
    b: subprocess.Popen[bytes] | None = None
    try:
        time.sleep(3)
        b = _worker(env, group, "b", out)  # joins mid-stream
        time.sleep(1.5)
        merger.send_signal(signal.SIGKILL)  # the merger dies under live traffic ...
        merger.wait(timeout=30)
        merger = _merger(env, group, tmp_path)  # ... and its successor restores mid-stream
        time.sleep(1.5)
        assert merger.poll() is None, f"the restarted merger exited: {_tail(tmp_path)}"
        a.send_signal(signal.SIGKILL)  # lost without a goodbye
        a.wait(timeout=30)
        time.sleep(1)
        a = _worker(env, group, "a", out)  # ... and back
        time.sleep(3)
        _wait_started(out, "b")  # (a SIGTERM before the interpreter is up kills it: -15)
        b.send_signal(signal.SIGTERM)  # the group shrinks back to one
        assert b.wait(timeout=60) == 0
        assert producer.wait(timeout=120) == 0, producer.stderr.read() if producer.stderr else ""
        _finish(a)
        assert merger.wait(timeout=180) == 0, _tail(tmp_path)
    finally:
        for proc in (producer, merger, a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
    summaries = [orjson.loads(p.read_bytes()) for p in out.glob("*.json")]
    assert all(s["late"] == 0 for s in summaries), summaries
    merged = orjson.loads((tmp_path / "merge.json").read_bytes())
    assert merged["processed"] == n and merged["late"] == 0 and merged["dead_lettered"] == 0
    assert merged["late_after_merge"] == 0
    assert not dead_letter_reasons(env)
    want = truth(seeded, n, tmp_path / "truth", env)
    assert_same_signals(parquet_signals(tmp_path / "run"), want)
    assert_same_signals(topic_signals(env), want)
