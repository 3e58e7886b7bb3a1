"""The soak's schedule and figures (``tests/support/soak.py``), without a cluster."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.soak import Soak, fault_times, proc_stats, summarise


def test_faults_come_every_period_and_none_at_the_end() -> None:
    assert fault_times(30, 300) == [300, 600, 900, 1200, 1500]
    assert fault_times(2, 40) == [40, 80]
    assert fault_times(0.5, 300) == []


def test_a_soak_repeats_broker_faults_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kill_worker"):
        Soak(tmp_path, kinds=("kill_broker", "kill_worker"))
    soak = Soak(tmp_path, rate=5000, minutes=30)
    assert soak.posts > 5000 * 30 * 60  # the firehose never runs out before the soak ends


def test_own_process_stats_are_read_from_proc() -> None:
    stats = proc_stats(os.getpid())
    assert stats is not None and 0 < stats["rss_mib"] <= stats["hwm_mib"]
    assert stats["cpu_s"] > 0


def _sample(t: float, lag: int | None, worker_mib: float, phase: str = "soak") -> dict[str, Any]:
    proc = {"role": "worker", "pid": 1, "rss_mib": worker_mib, "hwm_mib": worker_mib, "cpu_s": t}
    return {
        "t": t, "phase": phase, "load1": 1.0, "procs": {"worker-1": proc},
        "lag_workers": lag, "lag_merger": 0 if lag is not None else None,
        "posts_end": int(t * 100), "in_sync": t != 310,
    }  # fmt: skip


def test_the_summary_reads_lag_and_rss_per_period() -> None:
    lags = {300: 9000, 310: None, 320: 4000}  # a restart at 300 s: a spike, then unread
    samples = [_sample(t, lags.get(t, 50), 200 + t / 100) for t in range(0, 600, 10)]
    samples.append(_sample(600, 0, 999, phase="drain"))  # not the soak's
    faults = [{"t": 300.0, "kind": "kill_broker", "what": "kill_broker node 2", "took_s": 8.0}]
    checks = {"produced": 60_000, "parquet_equal": True, "topic_equal": True, "dead_letters": 0}
    got = summarise({"rate": 100.0}, samples, faults, checks)
    lag = got["lag"]
    assert (lag["workers_max"], lag["workers_max_at_s"], lag["workers_at_end"]) == (9000, 300, 50)
    assert lag["unread_samples"] == 1
    assert [p["workers_max"] for p in lag["periods"]] == [50, 9000]
    assert lag["bounded"]  # each period ends at 50 posts, below 5 s of input (500)
    worker = got["rss"]["worker-1"]
    assert (worker["after_60s_mib"], worker["end_mib"], worker["max_mib"]) == (200.6, 205.9, 205.9)
    assert worker["slope_mib_per_10min_after_10min"] is None  # a 10-minute soak: no late points
    assert got["in_sync_again_s"] == [20.0]
    assert got["delivered_per_s"] == 100.0
    assert got["verdict"] == {
        "lag_bounded": True, "worker_rss_under_1gib": True, "equal_to_truth": True,
    }  # fmt: skip


def test_a_lag_that_does_not_settle_is_not_bounded() -> None:
    samples = [_sample(t, 10 * t, 300) for t in range(0, 600, 10)]
    got = summarise({"rate": 100.0}, samples, [], {"parquet_equal": False})
    assert not got["verdict"]["lag_bounded"]
    assert not got["verdict"]["equal_to_truth"]
