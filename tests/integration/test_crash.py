"""Crash tests: SIGKILL the worker at chosen and random moments, restart it, and check the
final signals equal ``datamoat truth`` exactly (no window missing, none doubled)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest
from kafka import KafkaConsumer
from polars.testing import assert_frame_equal

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
N = 60_000
SEEDED = ["--seed", "9", "--start", START, "--rate", "100"]


@pytest.fixture
def env(datamoat_env: dict[str, str]) -> dict[str, str]:
    return {
        **datamoat_env,
        "DATAMOAT_BATCH_MAX_RECORDS": "1500",
        "DATAMOAT_BATCH_MAX_WAIT_MS": "50",
    }


def worker_cmd(out: Path, group: str, tag: str = "final") -> list[str]:
    return [
        *DATAMOAT, "process", "--group", group, "--instance-id", f"{group}-w1",
        "--until-idle", "--idle-s", "2", "--http-port", "0", "--quiet",
        "--checkpoint-interval", "0", "--output-dir", str(out),
        "--summary-json", str(out / f"summary-{tag}.json"),
    ]  # fmt: skip


def dead_letter_reasons(env: dict[str, str]) -> dict[str, int]:
    consumer = KafkaConsumer(
        env["DATAMOAT_KAFKA_DLQ_TOPIC"],
        bootstrap_servers=env["KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        consumer_timeout_ms=3_000,
    )
    counts: dict[str, int] = {}
    for record in consumer:
        headers = dict(record.headers)
        where = f"{headers['reason'].decode()}@p{headers['source_partition'].decode()}"
        counts[where] = counts.get(where, 0) + 1
    consumer.close()
    return counts


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
        crashed = run(worker_cmd(out, group, point), {**env, "DATAMOAT_CRASH_AT": point})
        assert crashed.returncode == -signal.SIGKILL, f"{point}: {crashed.stderr[-2000:]}"
        kills += 1
    # ... and SIGKILL from outside at random moments.
    rng = random.Random(1234)
    for i in range(3):
        cmd = worker_cmd(out, group, f"random{i}")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(1.5, 3.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
    final = run(worker_cmd(out, group), env)
    assert final.returncode == 0, final.stderr[-3000:]
    summaries = {p.name: orjson.loads(p.read_bytes()) for p in out.glob("summary-*.json")}
    late = {name: s["late"] for name, s in summaries.items() if s["late"]}
    assert not late, f"late records after a restart: {late}"
    summary = summaries["summary-final.json"]
    assert kills >= 3

    got = pl.read_parquet(out / "signals" / "**" / "*.parquet").sort("window_start", "key")
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet").sort(
        "window_start", "key"
    )
    assert got.select("window_start", "key").is_duplicated().sum() == 0
    reasons = dead_letter_reasons(env)
    assert not reasons, f"dead letters in a clean stream: {reasons}"
    assert got.height == want.height, f"{summary}\n{final.stderr}"
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)
