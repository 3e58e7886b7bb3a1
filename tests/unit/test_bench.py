"""The pure parts of ``datamoat bench``: the ramp rule, the summary schema, the report
(valid PNGs), the BENCHMARKS.md section rewrite, and /proc and /metrics parsing."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from datamoat.bench.markers import replace_section
from datamoat.bench.procstat import parse_stat, parse_status
from datamoat.bench.ramp import Point, Step, best, judge, next_rate
from datamoat.bench.report import PLOTS, write_report
from datamoat.bench.scrape import parse_metrics
from datamoat.bench.summary import (
    REQUIRED,
    drain_span,
    histogram_quantile,
    make_bench_summary,
    validate_summary,
)
from datamoat.bench.timeline import Timeline


def _points(rate: float, consume: float, seconds: int = 20) -> list[Point]:
    return [Point(t, rate * t, min(rate, consume) * t) for t in range(seconds + 1)]


def test_judge_passes_a_worker_that_keeps_up() -> None:
    step = judge(_points(1000, 1000), 1000, warmup_s=5)
    assert step.sustained and step.lag_growth == 0


def test_judge_fails_a_growing_lag() -> None:
    step = judge(_points(1000, 900), 1000, warmup_s=5)  # 100/s behind over 15 s: 1500 posts
    assert not step.sustained and "lag grew" in step.reason


def test_judge_allows_a_second_of_growth_but_not_a_high_lag() -> None:
    points = [Point(t, 1000 * t, max(0.0, 1000 * t - 6000)) for t in range(21)]
    step = judge(points, 1000, warmup_s=10)  # flat at 6 s of input
    assert not step.sustained and "lag reached" in step.reason


def test_judge_blames_the_producer_when_it_falls_short() -> None:
    step = judge(_points(900, 900), 1000, warmup_s=5)
    assert not step.sustained and "producer behind" in step.reason


def test_judge_ignores_the_warmup() -> None:
    points = [Point(t, 1000 * t, 0.0 if t < 5 else 1000 * t - 5500) for t in range(21)]
    assert not judge(points, 1000, warmup_s=0).sustained
    assert not judge(points, 1000, warmup_s=6).sustained  # flat, but 5.5 s of input behind
    points = [Point(t, 1000 * t, 0.0 if t < 5 else 1000 * t - 2000) for t in range(21)]
    assert judge(points, 1000, warmup_s=6).sustained


def test_ramp_multiplies_then_bisects_then_stops() -> None:
    assert next_rate([], 5000) == 5000
    steps = [Step(5000, True, ""), Step(7500, True, "")]
    assert next_rate(steps, 5000) == pytest.approx(11250)
    steps.append(Step(11250, False, ""))
    mid = next_rate(steps, 5000)
    assert mid is not None and 7500 < mid < 11250
    steps.append(Step(mid, True, ""))
    while (rate := next_rate(steps, 5000)) is not None:
        steps.append(Step(rate, False, ""))
        assert len(steps) <= 8
    fails = [s.rate for s in steps if not s.sustained]
    assert min(fails) / mid <= 1.1  # stopped within 10% of the best pass
    assert best(steps) == steps[3]


def test_ramp_halves_from_a_failed_start_and_gives_up() -> None:
    steps = [Step(5000, False, "")]
    assert next_rate(steps, 5000) == 2500
    steps += [Step(2500, False, ""), Step(1250, False, ""), Step(625, False, "")]
    assert next_rate(steps, 5000) is None
    assert best(steps) is None


def test_ramp_is_bounded() -> None:
    steps = [Step(1000 * 1.5**i, True, "") for i in range(8)]
    assert next_rate(steps, 1000) is None


def _summary(**extra: Any) -> dict[str, Any]:
    return make_bench_summary(
        mode="drain", transport="kafka", workers=1, posts=200_000, processed_per_s=40_000.0,
        latency_p50_s=None, latency_p99_s=None, cpu_s={"process": 5.0, "broker": 1.0},
        peak_rss_bytes={"process": 300 << 20, "broker": 600 << 20}, **extra,
    )  # fmt: skip


def test_summary_schema_and_derived_figures() -> None:
    s = _summary()
    assert validate_summary(s) == []
    assert set(REQUIRED) <= set(s)
    assert s["posts_per_day"] == 40_000 * 86_400
    assert s["cpu_s_per_million_posts"] == {"process": 25.0, "broker": 5.0}


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("mode", "fast", "mode 'fast'"),
        ("processed_per_s", "1", "processed_per_s is str"),
        ("peak_rss_bytes", {"process": -1}, "peak_rss_bytes[process]"),
        ("latency_p99_s", True, "latency_p99_s is bool"),
    ],
)
def test_summary_schema_rejects(key: str, value: Any, problem: str) -> None:
    s = _summary()
    s[key] = value
    assert any(problem in p for p in validate_summary(s))


def test_summary_schema_wants_peer_ratios() -> None:
    assert validate_summary(_summary(peers={"quix": {"posts_per_s": 9000.0, "ratio": 4.4}})) == []
    assert validate_summary(_summary(peers={"quix": {"posts_per_s": 9000.0}}))


def test_drain_span_excludes_the_idle_tail_and_the_start_up() -> None:
    points = [(0.0, 0), (0.5, 0), (1.0, 100), (1.5, 600), (2.0, 1000), (2.5, 1000), (5.0, 1000)]
    assert drain_span(points) == (0.5, 2.0)
    assert drain_span([(0.0, 0), (1.0, 0)]) is None


def test_histogram_quantile_is_a_bucket_bound() -> None:
    buckets = [(1.0, 0.0), (5.0, 50.0), (10.0, 99.0), (float("inf"), 100.0)]
    assert histogram_quantile(buckets, 0.5) == 5.0
    assert histogram_quantile(buckets, 0.99) == 10.0
    assert histogram_quantile(buckets, 1.0) == float("inf")
    assert histogram_quantile([], 0.5) is None


def test_parse_metrics_reads_counters_lag_and_latency() -> None:
    text = (
        "datamoat_posts_processed_total 1234.0\n"
        "datamoat_posts_consumed_total 1300.0\n"
        'datamoat_consumer_lag_records{partition="0"} 5.0\n'
        'datamoat_consumer_lag_records{partition="1"} 7.0\n'
        'datamoat_end_to_end_latency_seconds_bucket{le="5.0"} 2.0\n'
        'datamoat_end_to_end_latency_seconds_bucket{le="+Inf"} 3.0\n'
    )
    m = parse_metrics(text)
    assert (m.processed, m.consumed, m.produced, m.lag) == (1234, 1300, 0, 12)
    assert m.latency_buckets == ((5.0, 2.0), (float("inf"), 3.0))


def test_parse_proc_files() -> None:
    stat = "42 (python3 (x) y) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 100 0"
    assert parse_stat(stat) == pytest.approx(400 / 100, rel=0.5)  # CLK_TCK is 100 on Linux
    assert parse_status("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n") == (1 << 20, 2 << 20)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_report_writes_markdown_and_valid_pngs(tmp_path: Path) -> None:
    tl = Timeline(
        t=[0.0, 1.0, 2.0, 3.0], produced=[0, 100, 200, 300], consumed=[0, 90, 190, 300],
        processed=[0, 90, 190, 300], lag=[0, 10, 10, 0],
        cpu_s={"run": [0.1, 0.5, 0.9, 1.3]}, rss_bytes={"run": [1e8] * 4},
    )  # fmt: skip
    s = _summary(latency_max_s=10.0, peers={"bytewax": {"posts_per_s": 8000.0, "ratio": 5.0}})
    report = write_report(s, tl, tmp_path / "r")
    text = report.read_text()
    assert "| processed posts/s | 40,000 |" in text
    assert "datamoat / bytewax = **5.00x**" in text
    for name in PLOTS:
        assert f"({name})" in text
        width, height = _png_size(tmp_path / "r" / name)
        assert width > 100 and height > 100


def test_replace_section_rewrites_only_between_markers() -> None:
    text = "# B\n\nintro\n"
    once = replace_section(text, "drain-kafka", "| a |")
    assert once.startswith(text.rstrip("\n")) and "| a |" in once
    twice = replace_section(once + "\nafter\n", "drain-kafka", "| b |")
    assert "| a |" not in twice and "| b |" in twice and twice.endswith("after\n")
    assert twice.count("datamoat-bench:drain-kafka start") == 1
    with pytest.raises(ValueError, match="one of its two markers"):
        replace_section("<!-- datamoat-bench:x start -->", "x", "y")


def test_public_command_leaves_out_paths_and_ports() -> None:
    from datamoat.commands.bench import public_command

    cmd = (
        "datamoat bench --mode drain --bootstrap 127.0.0.1:4242 --summary-json=/tmp/s.json "
        "--update-benchmarks BENCHMARKS.md --posts 300000 --quiet"
    )
    assert public_command(cmd) == "datamoat bench --mode drain --posts 300000"
