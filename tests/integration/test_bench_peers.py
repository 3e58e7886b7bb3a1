"""``datamoat bench --mode drain --peers`` against the test broker: Quix Streams and Bytewax
drain the same topic as datamoat, their outputs agree with datamoat's (windows, ``*``
counts, per-key posts, sentiment to 1e-9), and the summary carries each peer's ratio; so do the
same posts through ``process --input`` in each round, the reference of the drain's ratio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datamoat.bench.summary import validate_summary

pytestmark = pytest.mark.kafka


def test_bench_peers_agree_and_report_ratios(kafka_bootstrap: str, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    done = subprocess.run(
        [sys.executable, "-m", "datamoat.cli", "bench", "--mode", "drain", "--posts", "15000",
         "--peers", "--rounds", "1", "--bootstrap", kafka_bootstrap, "--summary-json",
         str(summary_path), "--work-dir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    assert validate_summary(summary) == []
    assert summary["posts"] == 15000 and summary["processed_per_s"] > 0
    assert set(summary["peers"]) == {"quix", "bytewax"}
    for name, peer in summary["peers"].items():
        assert peer["agrees"] is True, (name, peer["agreement"])
        assert peer["posts_per_s"] > 0
        # the ratio is given to two decimals (and the rates' medians are rounded too)
        ratio = summary["processed_per_s"] / peer["posts_per_s"]
        assert peer["ratio"] == pytest.approx(ratio, rel=0.01, abs=0.006)
        assert peer["peak_rss_bytes"] > 10 << 20
        assert peer["late_records"] == 0 and peer["late_posts"] == 0  # none dropped as late
    # the same posts through process --input in the same round: the drain's ratio to it,
    # and its own multiple of each peer
    ref = summary["process_input"]
    assert ref["agrees"] is True, ref["agreement"]
    assert summary["process_input_posts_per_s"] == ref["posts_per_s"] > 0
    (drain,), (local,) = summary["rounds_posts_per_s"], ref["rounds_posts_per_s"]
    assert summary["ratio_to_process_input"] == pytest.approx(drain / local, abs=0.001)
    assert set(ref["ratio_to_peers"]) == {"quix", "bytewax"}
    for name, ratio in ref["ratio_to_peers"].items():
        assert ratio == pytest.approx(local / summary["peers"][name]["posts_per_s"], rel=0.01)
    assert "round 1/1: process --input and datamoat agree" in done.stderr
    assert "round 1/1: quix and datamoat agree" in done.stderr
    assert "round 1/1: bytewax and datamoat agree" in done.stderr
    assert "round 1/1: quix dropped 0 records (0 posts) as late" in done.stderr


def test_peers_only_with_a_kafka_drain(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "datamoat.cli", "bench", "--mode", "fixed", "--peers"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "datamoat bench: error: --peers compares drains through Kafka: use it with --mode "
        "drain (and --transport kafka)"
    ]
