"""Randomised chaos against the truth (``tests/support/chaos.py``): a short seeded schedule of
worker, merger and broker kills, workers added and stopped, on three brokers under a live
paced stream; the signals, in Parquet and on the topic, equal ``datamoat truth``.

A long run: ``python -m tests.support.chaos --rounds 60`` (figures in BENCHMARKS.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.chaos import ROUNDS, Chaos

pytestmark = pytest.mark.kafka


@pytest.mark.timeout(600)
def test_random_faults_under_live_traffic_give_the_truth(tmp_path: Path) -> None:
    result = Chaos(tmp_path, seed=20261206, rounds=6).run()  # every kind once, and one more
    assert len(result.rounds) == 6
    assert result.produced > 0 and result.rows > 0
    kinds = {r.split()[0] for r in result.rounds}
    assert kinds <= set(ROUNDS), result.rounds
    if "kill_merger" in kinds:  # a restarted merger loaded a snapshot, taken under traffic
        assert result.snapshot_restores >= 1
