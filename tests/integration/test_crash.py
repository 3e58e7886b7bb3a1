"""Crash tests: SIGKILL the worker at chosen and random moments, restart it, and check the
final signals equal ``datamoat truth`` exactly (no window missing, none doubled)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
N = 60_000
SEEDED = ["--seed", "9", "--start", START, "--rate", "100"]


@pytest.fixture
def env(kafka_bootstrap: str, topic_factory: Callable[..., str]) -> dict[str, str]:
    posts = topic_factory(6, create=False)
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DATAMOAT_KAFKA_POSTS_TOPIC": posts,
        "DATAMOAT_KAFKA_DLQ_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_BATCH_MAX_RECORDS": "1500",
        "DATAMOAT_BATCH_MAX_WAIT_MS": "50",
    }


def worker_cmd(out: Path, group: str) -> list[str]:
    return [
        *DATAMOAT, "process", "--group", group, "--instance-id", f"{group}-w1",
        "--until-idle", "--idle-s", "2", "--http-port", "0", "--quiet",
        "--checkpoint-interval", "0", "--output-dir", str(out),
        "--summary-json", str(out / "summary.json"),
    ]  # fmt: skip


def run(
    cmd: list[str], env: dict[str, str], timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_killed_worker_restarts_to_exactly_the_truth(env: dict[str, str], tmp_path: Path) -> None:
    done = run([*DATAMOAT, "produce", *SEEDED, "--posts", str(N), "--unpaced", "--quiet"], env)
    assert done.returncode == 0, done.stderr
    truth = run([*DATAMOAT, "truth", *SEEDED, "--posts", str(N), "--output-dir",
                 str(tmp_path / "truth")], env)  # fmt: skip
    assert truth.returncode == 0, truth.stderr

    out, group = tmp_path / "run", f"crash-{tmp_path.name}"
    kills = 0
    # Deterministic crash points inside the commit protocol ...
    for point in ("after_checkpoint:3", "after_sink_write:2", "between_sinks:2"):
        crashed = run(worker_cmd(out, group), {**env, "DATAMOAT_CRASH_AT": point})
        assert crashed.returncode == -signal.SIGKILL, f"{point}: {crashed.stderr[-2000:]}"
        kills += 1
    # ... and SIGKILL from outside at random moments.
    rng = random.Random(1234)
    for _ in range(3):
        proc = subprocess.Popen(worker_cmd(out, group), env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip
        time.sleep(rng.uniform(1.5, 3.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    final = run(worker_cmd(out, group), env)
    assert final.returncode == 0, final.stderr[-3000:]
    assert kills >= 3

    got = pl.read_parquet(out / "signals" / "**" / "*.parquet").sort("window_start", "key")
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet").sort(
        "window_start", "key"
    )
    assert got.select("window_start", "key").is_duplicated().sum() == 0
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)
    summary = orjson.loads((out / "summary.json").read_bytes())
    assert summary["late"] == 0
