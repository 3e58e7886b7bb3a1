"""Crash tests: SIGKILL the worker and the merger at chosen and random moments, restart
them, and check the final signals equal ``datamoat truth`` exactly (no window missing, none
doubled), in Parquet and in a ``read_committed`` read of the signals topic."""

from __future__ import annotations

import random
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
    dead_letter_reasons,
    parquet_signals,
    topic_signals,
    truth,
)

pytestmark = pytest.mark.kafka

N = 60_000
SEEDED = ["--seed", "9", "--start", START, "--rate", "100"]


@pytest.fixture
def env(datamoat_env: dict[str, str]) -> dict[str, str]:
    return {
        **datamoat_env,
        "DATAMOAT_BATCH_MAX_RECORDS": "1500",
        "DATAMOAT_BATCH_MAX_WAIT_MS": "50",
        # a merger snapshot every few deltas: the kills land before, inside and after them
        "DATAMOAT_MERGE_SNAPSHOT_INTERVAL_S": "1",
    }


def worker_cmd(out: Path, group: str, tag: str) -> list[str]:
    return [
        *DATAMOAT, "process", "--group", group, "--instance-id", f"{group}-w1",
        "--until-idle", "--idle-s", "2", "--http-port", "0", "--quiet",
        "--summary-json", str(out / f"worker-{tag}.json"),
    ]  # fmt: skip


def merger_cmd(out: Path, group: str, tag: str) -> list[str]:
    return [
        *DATAMOAT, "merge", "--group", group, "--until-ended", "--http-port", "0", "--quiet",
        "--max-deltas", "1",
        "--output-dir", str(out), "--summary-json", str(out / f"merger-{tag}.json"),
    ]  # fmt: skip


def run(
    cmd: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def crash_and_restart(
    make: list[str], points: list[str], env: dict[str, str], seed: int, tag: str
) -> int:
    """Crash a command at each protocol point, then from outside at random moments."""
    kills = 0
    for point in points:
        crashed = run([*make[:-1], f"{make[-1]}-{point}"], {**env, "DATAMOAT_CRASH_AT": point})
        assert crashed.returncode == -signal.SIGKILL, f"{tag} {point}: {crashed.stderr[-2000:]}"
        kills += 1
    rng = random.Random(seed)
    for i in range(2):
        proc = subprocess.Popen(
            [*make[:-1], f"{make[-1]}-random{i}"], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        time.sleep(rng.uniform(2.0, 4.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    return kills


def test_killed_worker_and_merger_restart_to_exactly_the_truth(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = run([*DATAMOAT, "produce", *SEEDED, "--posts", str(N), "--unpaced", "--quiet"], env)
    assert done.returncode == 0, done.stderr
    want = truth(SEEDED, N, tmp_path / "truth", env)
    out, group = tmp_path / "run", f"crash-{tmp_path.name}"
    out.mkdir()

    # The worker: killed inside its commit (before and after the transaction) and at random.
    worker = worker_cmd(out, group, "w")
    kills = crash_and_restart(worker, ["before_commit:3", "after_commit:2"], env, 1234, "worker")
    final = run([*worker[:-1], str(out / "worker-final.json")], env)
    assert final.returncode == 0, final.stderr[-3000:]

    # The merger: killed after writing Parquet, before and after its transaction, at random.
    merger = merger_cmd(out, group, "m")
    points = ["after_sink_write:2", "before_merge_commit:2", "after_merge_commit:1"]
    kills += crash_and_restart(merger, points, env, 4321, "merger")
    final = run([*merger[:-1], str(out / "merger-final.json")], env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 5  # every protocol point; the random kills land when there is time

    summaries = {p.name: orjson.loads(p.read_bytes()) for p in out.glob("*.json")}
    late = {name: s["late"] for name, s in summaries.items() if s["late"]}
    assert not late, f"late records after a restart: {late}"
    merged = summaries["merger-final.json"]
    # the last merger rebuilt its state from Kafka: the deltas after the newest snapshot a
    # killed merger completed (if one lived a second), or all of them
    assert merged["restored_deltas"] > 0
    reasons = dead_letter_reasons(env)
    assert not reasons, f"dead letters in a clean stream: {reasons}"
    assert_same_signals(parquet_signals(out), want)
    assert_same_signals(topic_signals(env), want)
