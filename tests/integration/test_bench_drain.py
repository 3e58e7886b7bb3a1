"""``datamoat bench --mode drain`` end to end against the test broker: the summary it
writes matches the schema and counts every post it filled, the worker and the merger both
measured, with the ratio to ``process --input`` on the same posts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from datamoat.bench.summary import validate_summary

pytestmark = pytest.mark.kafka


def test_bench_drain_against_the_broker(kafka_bootstrap: str, tmp_path: Path) -> None:
    summary_path = tmp_path / "summary.json"
    report = tmp_path / "report"
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\nhand-written text stays\n")
    done = subprocess.run(
        [sys.executable, "-m", "datamoat.cli", "bench", "--mode", "drain", "--posts", "20000",
         "--bootstrap", kafka_bootstrap, "--summary-json", str(summary_path),
         "--report-dir", str(report), "--update-benchmarks", str(benchmarks), "--quiet"],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(summary_path.read_text())
    assert validate_summary(summary) == []
    assert summary["mode"] == "drain" and summary["transport"] == "kafka"
    assert summary["posts"] == 20000  # every post the fill wrote
    assert summary["processed_per_s"] > 0
    assert summary["posts_per_day"] == pytest.approx(summary["processed_per_s"] * 86400, rel=1e-4)
    assert {"process", "merge", "broker"} <= set(summary["cpu_s_per_million_posts"])
    assert summary["process_input_posts_per_s"] > 0
    assert summary["ratio_to_process_input"] == pytest.approx(
        summary["processed_per_s"] / summary["process_input_posts_per_s"], rel=0.01
    )
    assert summary["peak_rss_bytes"]["process"] > 10 << 20
    assert summary["peak_rss_bytes"]["broker"] > 10 << 20  # the test broker is ours: measured
    assert (report / "report.md").is_file() and (report / "throughput.png").stat().st_size > 0
    text = benchmarks.read_text()
    assert "hand-written text stays" in text and "<!-- datamoat-bench:drain-kafka start -->" in text
