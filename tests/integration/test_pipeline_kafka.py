"""The whole pipeline on the real broker: produce, process, dead letters, run, metrics."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
import polars as pl
import pytest

from datamoat.broker import free_port
from ingest.kafka.testing import KafkaProducer
from tests.support.pipelines import (
    DATAMOAT,
    START,
    assert_same_signals,
    cli,
    parquet_signals,
    topic_records,
)

pytestmark = pytest.mark.kafka


@pytest.fixture
def env(datamoat_env: dict[str, str]) -> dict[str, str]:
    return datamoat_env


def test_produce_then_process_matches_truth_and_dead_letters_keep_bytes(
    env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    n = 20_000
    seeded = ["--seed", "5", "--start", START, "--rate", "2000"]
    produced = cli(["produce", *seeded, "--posts", str(n), "--unpaced", "--quiet",
                    "--summary-json", str(tmp_path / "produce.json")], env)  # fmt: skip
    assert produced["produced"] == n

    bad = [b"", b"not json", b'{"post_id": "x"}', b"[1,2,3]", b"\xff\xfe"]
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    for raw in bad:
        producer.send(env["DATAMOAT_KAFKA_POSTS_TOPIC"], value=raw, key=b"1")
    producer.flush()
    producer.close()

    summary = cli(["process", "--until-idle", "--idle-s", "2", "--http-port", "0", "--quiet",
                   "--summary-json", str(tmp_path / "process.json")], env)  # fmt: skip
    assert summary["consumed"] == n + len(bad)
    assert summary["processed"] == n
    assert summary["dead_lettered"] == len(bad)
    assert summary["late"] == 0
    # The idle wait that ended the run is reported, and not counted in processed_per_s.
    assert 2.0 <= float(summary["idle_wait_s"]) < 3.0  # type: ignore[arg-type]
    busy = float(summary["duration_s"]) - float(summary["idle_wait_s"])  # type: ignore[arg-type]
    assert summary["processed_per_s"] == pytest.approx(n / busy, rel=0.01)
    merged = cli(["merge", "--until-ended", "--http-port", "0", "--quiet",
                  "--output-dir", str(tmp_path / "run"),
                  "--summary-json", str(tmp_path / "merge.json")], env)  # fmt: skip
    assert (merged["consumed"], merged["processed"]) == (n + len(bad), n)

    cli(["truth", *seeded, "--posts", str(n), "--output-dir", str(tmp_path / "truth")], env)
    assert_same_signals(parquet_signals(tmp_path / "run"), parquet_signals(tmp_path / "truth"))

    letters = topic_records(kafka_bootstrap, env["DATAMOAT_KAFKA_DLQ_TOPIC"])
    assert sorted(r.value for r in letters) == sorted(bad)
    reasons = {dict(r.headers)["reason"] for r in letters}
    assert b"not_json" in reasons and b"empty" in reasons and b"not_object" in reasons


def test_run_on_kafka_serves_metrics_and_accounts_for_every_post(
    env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            *DATAMOAT,
            "run",
            "--duration",
            "8",
            "--rate",
            "1157",
            "--http-port",
            str(port),
            "--quiet",
            "--output-dir",
            str(tmp_path / "run"),
            "--summary-json",
            str(tmp_path / "run.json"),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "datamoat_posts_processed_total" not in body:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                continue
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()[-3000:]
    for name in (
        "datamoat_posts_produced_total",
        "datamoat_posts_consumed_total",
        "datamoat_posts_processed_total",
        "datamoat_consumer_lag_records",
    ):
        assert name in body, f"{name} missing from /metrics during the run"
    summary = orjson.loads((tmp_path / "run.json").read_bytes())
    assert summary["produced"] == summary["processed"] + summary["dead_lettered"]
    assert summary["consumed"] == summary["produced"]
    # 8 s of event time at 1,157 posts/s (a count, not a wall-clock rate: CI load stretches
    # the firehose's last flush, and with it produced_per_s, by half a second)
    assert abs(summary["produced"] / (1157 * 8) - 1) < 0.05
    assert summary["produced_per_s"] > 0
    star = parquet_signals(tmp_path / "run").filter(pl.col("key") == "*")
    assert star["posts"].sum() == summary["processed"]
