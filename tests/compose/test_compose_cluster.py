"""The docker-compose cluster on a real Docker Engine, with faults in the middle of a run.

One seeded run (module fixture): the offline images, ``up --scale worker=WORKERS`` with the
merger, the firehose producing exactly POSTS posts; while it runs, ``docker kill`` of one
worker replica and its restart, then ``docker compose stop broker`` and ``start``. The checks:
the signals equal ``datamoat truth``, a ``read_committed`` read of ``signals`` has one record
per window and key, and Prometheus inside the cluster scraped every worker replica and the
firehose with ``up == 1``.

Without root the test skips with the reason; in CI (CI=true) that is a failure.
WORKERS is 3 (COMPOSE_TEST_WORKERS overrides it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.support.compose import ComposeCluster, RunSpec, docker_ready, prepare, stop_engine

pytestmark = [pytest.mark.compose, pytest.mark.timeout(2400)]

WORKERS = int(os.environ.get("COMPOSE_TEST_WORKERS", "3"))
SPEC = RunSpec(
    workers=WORKERS,
    posts=100_000,
    seed=11,
    rate=2000.0,  # paced: ~50 s of production, 10-s windows (event time follows the rate)
    idle_s=15.0,
    project="datamoat-pytest",
)


@dataclass
class Outcome:
    signals: pl.DataFrame
    truth: pl.DataFrame
    lag: dict[str, Any]
    topic: dict[str, Any]
    workers_up: dict[str, float] = field(default_factory=dict)
    firehose_up: dict[str, float] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)


def _produced(cluster: ComposeCluster) -> float:
    """Posts the firehose has produced so far (its own counter, scraped by Prometheus)."""
    query = urllib.parse.urlencode({"query": "sum(datamoat_posts_produced_total)"})
    try:
        with urllib.request.urlopen(
            f"{cluster.prometheus_url()}/api/v1/query?{query}", timeout=10
        ) as r:
            result = json.loads(r.read())["data"]["result"]
    except OSError:
        return 0.0
    return float(result[0]["value"][1]) if result else 0.0


def _wait_produced(cluster: ComposeCluster, share: float) -> None:
    """Wait (bounded) until the firehose is ``share`` of the way through the stream: the
    faults land in the middle of the run, whatever the machine's speed."""
    target = share * SPEC.posts
    cluster.wait(
        f"{target:,.0f} posts produced", lambda: _produced(cluster) >= target, 300, every=3.0
    )


def _truth(tmp: Path) -> pl.DataFrame:
    subprocess.run(
        [sys.executable, "-m", "datamoat.cli", "truth", "--seed", str(SPEC.seed),
         "--start", SPEC.start, "--rate", str(SPEC.rate), "--posts", str(SPEC.posts),
         "--output-dir", str(tmp)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return _read(tmp / "signals")


def _read(directory: Path) -> pl.DataFrame:
    return pl.read_parquet(directory / "**" / "*.parquet").sort("window_start", "key")


def _scenario(cluster: ComposeCluster, tmp: Path) -> Outcome:
    faults: list[str] = []
    cluster.up()
    _wait_produced(cluster, 0.25)  # read from the firehose's own /metrics, through Prometheus
    firehose_up = cluster.wait_scraped("firehose", "firehose", port=8001)  # while it runs
    victim = cluster.containers("worker")[0]
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True, timeout=60)
    cluster.mark(f"killed worker {victim[:12]}")
    cluster.compose("start", "worker")
    cluster.mark("worker restarted")
    faults.append("kill+restart worker")
    _wait_produced(cluster, 0.55)
    cluster.compose("stop", "broker", timeout=120)
    cluster.mark("broker stopped")
    time.sleep(5)  # an outage the clients notice, shorter than any client timeout
    cluster.compose("start", "broker", timeout=120)
    cluster.wait(
        "the broker to be healthy again",
        lambda: all(
            s.get("Health", {}).get("Status") == "healthy" for s in cluster.states("broker")
        ),
        180,
    )
    cluster.mark("broker back")
    faults.append("stop+start broker")
    workers_up = cluster.wait_scraped("worker", "datamoat")
    cluster.finish()
    lag = cluster.probe("lag", "datamoat", "posts")
    topic = cluster.probe("signals", "signals")
    cluster.copy_signals(tmp / "compose" / "signals")
    return Outcome(
        signals=_read(tmp / "compose" / "signals"),
        truth=_truth(tmp / "truth"),
        lag=lag,
        topic=topic,
        workers_up=workers_up,
        firehose_up=firehose_up,
        faults=faults,
    )


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    reason = docker_ready()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"compose test can't run in CI: {reason}", pytrace=False)
        pytest.skip(f"compose test: {reason}")
    started, _ = prepare(log=lambda line: print(f"compose: {line}", file=sys.stderr))
    cluster = ComposeCluster(SPEC, log=lambda line: print(f"compose: {line}", file=sys.stderr))
    try:
        yield _scenario(cluster, tmp_path_factory.mktemp("compose"))
    finally:
        try:
            cluster.down()
        finally:
            if started:
                stop_engine()


def test_faults_happened(outcome: Outcome) -> None:
    assert outcome.faults == ["kill+restart worker", "stop+start broker"]


def test_workers_caught_up(outcome: Outcome) -> None:
    assert outcome.lag == {"end": SPEC.posts, "committed": SPEC.posts, "lag": 0}


def test_signals_equal_truth(outcome: Outcome) -> None:
    got, want = outcome.signals, outcome.truth
    assert want["window_start"].n_unique() >= 4, "the run should span several windows"
    assert got.height == want.height
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)


def test_signals_topic_has_one_record_per_window_and_key(outcome: Outcome) -> None:
    assert outcome.topic["duplicated"] == []
    assert outcome.topic["records"] == outcome.topic["pairs"] == outcome.truth.height


def test_prometheus_scrapes_every_worker_replica(outcome: Outcome) -> None:
    assert len(outcome.workers_up) == SPEC.workers
    assert set(outcome.workers_up.values()) == {1.0}, outcome.workers_up


def test_prometheus_scrapes_the_firehose(outcome: Outcome) -> None:
    assert outcome.firehose_up, "no firehose replica found"
    assert set(outcome.firehose_up.values()) == {1.0}, outcome.firehose_up
