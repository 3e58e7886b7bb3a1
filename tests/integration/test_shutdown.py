"""Shutdown and configuration errors against the real broker."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.broker import free_port

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
SEEDED = ["--seed", "33", "--start", START, "--rate", "200"]
N = 40_000


@pytest.fixture
def env(datamoat_env: dict[str, str]) -> dict[str, str]:
    return {**datamoat_env, "DATAMOAT_BATCH_MAX_RECORDS": "2000"}


def test_unknown_topic_is_one_line_and_non_zero(env: dict[str, str]) -> None:
    done = subprocess.run(
        [*DATAMOAT, "process", "--http-port", "0", "--quiet"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "datamoat topics" in lines[0]


def test_a_merger_whose_output_topic_is_missing_says_so_in_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    """The merger would retry its signals for ever into a topic that does not exist: it
    names the topic and the setting at start instead."""
    made = subprocess.run([*DATAMOAT, "topics"], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert made.returncode == 0, made.stderr
    missing = f"{env['DATAMOAT_KAFKA_SIGNALS_TOPIC']}-typo"
    done = subprocess.run(
        [*DATAMOAT, "merge", "--http-port", "0", "--quiet", "--output-dir", str(tmp_path)],
        env={**env, "DATAMOAT_KAFKA_SIGNALS_TOPIC": missing},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert f"topic {missing!r} does not exist" in lines[0]
    assert "datamoat topics" in lines[0] and "kafka.signals_topic" in lines[0]


def test_sigterm_commits_and_a_restart_finishes_exactly(
    env: dict[str, str], tmp_path: Path
) -> None:
    produce = [*DATAMOAT, "produce", *SEEDED, "--posts", str(N), "--unpaced", "--quiet"]
    made = subprocess.run(produce, env=env, capture_output=True, text=True, timeout=180)
    assert made.returncode == 0, made.stderr
    out, port = tmp_path / "run", free_port()
    worker = [*DATAMOAT, "process", "--group", "g-sigterm", "--quiet"]
    proc = subprocess.Popen([*worker, "--http-port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        processed, deadline = 0, time.monotonic() + 90
        while processed == 0 and time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as r:
                    processed = orjson.loads(r.read())["processed"]
            except OSError:
                continue
        assert processed > 0
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert stopped_in < 15

    done = subprocess.run([*worker, "--until-idle", "--http-port", "0", "--summary-json",
                           str(tmp_path / "second.json")], env=env,
                          capture_output=True, text=True, timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    second = orjson.loads((tmp_path / "second.json").read_bytes())
    assert second["rebuilt"] > 0 or second["consumed"] < N  # it went on from the commit
    merge = [*DATAMOAT, "merge", "--group", "g-sigterm", "--until-ended", "--quiet",
             "--http-port", "0", "--output-dir", str(out)]  # fmt: skip
    merged = subprocess.run(merge, env=env, capture_output=True, text=True, timeout=180)
    assert merged.returncode == 0, merged.stderr[-2000:]
    diagnosis = f"first run:\n{err.decode()[-1500:]}\nsecond run:\n{done.stderr[-1500:]}"
    truth_cmd = [*DATAMOAT, "truth", *SEEDED, "--posts", str(N), "--output-dir",
                 str(tmp_path / "truth")]  # fmt: skip
    truth = subprocess.run(truth_cmd, env=env, capture_output=True, text=True)
    assert truth.returncode == 0, truth.stderr
    got = pl.read_parquet(out / "signals" / "**" / "*.parquet").sort("window_start", "key")
    want = pl.read_parquet(tmp_path / "truth" / "signals" / "**" / "*.parquet").sort(
        "window_start", "key"
    )
    assert got.height == want.height, diagnosis
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)
