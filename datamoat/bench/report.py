"""``--report-dir``: a Markdown report and PNG plots (throughput and lag over time, latency
percentiles, CPU split by process)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from datamoat.bench.timeline import Timeline

__all__ = ["PLOTS", "markdown_table", "write_report"]

PLOTS = ("throughput.png", "lag.png", "latency.png", "cpu.png")
MIB = 1024 * 1024


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.3f}{unit}" if abs(value) < 100 else f"{value:,.0f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The headline figures of one summary, as the Markdown table BENCHMARKS.md shows."""
    rows = [
        ("mode / transport / workers",
         f"{summary['mode']} / {summary['transport']} / {summary['workers']}"),
        ("posts", _fmt(summary["posts"])),
        ("processed posts/s", _fmt(float(summary["processed_per_s"]))),
        ("posts/day equivalent", _fmt(summary["posts_per_day"])),
        ("emit latency p50 / p99", f"{_fmt(summary['latency_p50_s'], ' s')} / "
         f"{_fmt(summary['latency_p99_s'], ' s')}"),
    ]  # fmt: skip
    if summary.get("max_sustained_rate") is not None:
        rows.append(("highest sustained rate", _fmt(float(summary["max_sustained_rate"]))))
    for name, value in summary["cpu_s_per_million_posts"].items():
        rows.append((f"CPU s per million posts: {name}", _fmt(float(value))))
    for name, value in summary["peak_rss_bytes"].items():
        rows.append((f"peak RSS: {name}", f"{value / MIB:,.0f} MiB"))
    alerts = summary.get("alerts") or {}
    if alerts.get("bursts"):
        rows.append(("demo bursts alerted", f"{alerts['bursts_alerted']} of {alerts['bursts']} "
                     f"({alerts['retractions']} retractions)"))  # fmt: skip
        rows.append(("alert latency from a burst's first post p50 / p99",
                     f"{_fmt(alerts['alert_latency_p50_s'], ' s')} / "
                     f"{_fmt(alerts['alert_latency_p99_s'], ' s')}"))  # fmt: skip
        rows.append(("alert lead on the final trend p50 / min",
                     f"{_fmt(alerts['alert_lead_p50_s'], ' s')} / "
                     f"{_fmt(alerts['alert_lead_min_s'], ' s')}"))  # fmt: skip
    if alerts.get("early_delay_p50_s") is not None:
        rows.append(("early-signal delay p50 / p99",
                     f"{_fmt(alerts['early_delay_p50_s'], ' s')} / "
                     f"{_fmt(alerts['early_delay_p99_s'], ' s')}"))  # fmt: skip
    if summary.get("rounds_posts_per_s"):
        rows.append(("datamoat per round", " / ".join(
            _fmt(float(r)) for r in summary["rounds_posts_per_s"])))  # fmt: skip
    for name, peer in (summary.get("peers") or {}).items():
        rows.append((f"peer {name}", f"{peer['posts_per_s']:,.0f} posts/s "
                     f"(datamoat / {name} = **{peer['ratio']:.2f}x**)"))  # fmt: skip
        if peer.get("rounds_posts_per_s"):
            rows.append((f"peer {name} per round", " / ".join(
                _fmt(float(r)) for r in peer["rounds_posts_per_s"])))  # fmt: skip
        if peer.get("cpu_s") is not None and summary.get("posts"):
            per_m = float(peer["cpu_s"]) / float(summary["posts"]) * 1e6
            rows.append((f"CPU s per million posts: {name}", _fmt(per_m)))
        if peer.get("peak_rss_bytes"):
            rows.append((f"peak RSS: {name}", f"{peer['peak_rss_bytes'] / MIB:,.0f} MiB"))
        if peer.get("agreement"):
            rows.append((f"{name}'s output against datamoat's", str(peer["agreement"])))
        if peer.get("late_records") is not None:
            late = f"{peer['late_records']:,} records ({peer['late_posts']:,} posts)"
            rows.append((f"dropped as late by {name} (most in a round)", late))
    rows += _reference_rows(summary)
    lines = ["| figure | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


def _reference_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The drain against ``process --input`` on the same posts: its rate, the ratio, and (in
    peer rounds) its per-round rates and its own multiple of each peer."""
    if summary.get("process_input_posts_per_s") is None:
        return []
    rows = [("process --input, same posts, no Kafka",
             f"{float(summary['process_input_posts_per_s']):,.0f} posts/s (drain / process "
             f"--input = **{float(summary['ratio_to_process_input']):.2f}**)")]  # fmt: skip
    ref = summary.get("process_input") or {}
    if ref.get("rounds_posts_per_s"):
        rows.append(("process --input per round", " / ".join(
            _fmt(float(r)) for r in ref["rounds_posts_per_s"])))  # fmt: skip
    for name, ratio in (ref.get("ratio_to_peers") or {}).items():
        rows.append((f"process --input / {name}", f"{float(ratio):.2f}x"))
    if ref.get("agreement"):
        rows.append(("process --input's output against datamoat's", str(ref["agreement"])))
    return rows


def _plot_throughput(plt: Any, tl: Timeline, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(tl.t, tl.rates(tl.processed), label="processed")
    if any(tl.produced):
        ax.plot(tl.t, tl.rates(tl.produced), label="produced", alpha=0.7)
    ax.set(xlabel="s", ylabel="posts/s", title="Throughput")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_lag(plt: Any, tl: Timeline, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.plot(tl.t, tl.lag, color="tab:red")
    ax.set(xlabel="s", ylabel="posts", title="Consumer lag")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_latency(plt: Any, summary: Mapping[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = ["p50", "p99", "max"]
    values = [summary.get("latency_p50_s"), summary.get("latency_p99_s"),
              summary.get("latency_max_s")]  # fmt: skip
    ax.bar(names, [v or 0.0 for v in values], color="tab:purple")
    for i, v in enumerate(values):
        ax.annotate("n/a" if v is None else f"{v:.2f}", (i, v or 0.0), ha="center", va="bottom")
    ax.set(ylabel="s after window end", title="Emit latency")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _plot_cpu(plt: Any, summary: Mapping[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    cpu = summary.get("cpu_s_per_million_posts") or {}
    ax.bar(list(cpu), [float(v) for v in cpu.values()], color="tab:green")
    ax.set(ylabel="CPU s per million posts", title="CPU by process")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_report(summary: Mapping[str, Any], tl: Timeline, out: Path) -> Path:
    """Write report.md, the four PNGs and timeline.json into ``out``; returns report.md."""
    out.mkdir(parents=True, exist_ok=True)
    plt = _plt()
    _plot_throughput(plt, tl, out / "throughput.png")
    _plot_lag(plt, tl, out / "lag.png")
    _plot_latency(plt, summary, out / "latency.png")
    _plot_cpu(plt, summary, out / "cpu.png")
    (out / "timeline.json").write_bytes(orjson.dumps(tl.to_json()))
    (out / "summary.json").write_bytes(orjson.dumps(dict(summary), option=orjson.OPT_INDENT_2))
    notes = "\n".join(f"- {n}" for n in summary.get("notes", []))
    text = (
        f"# datamoat bench: {summary['mode']}\n\n"
        f"{summary.get('date', '')}, {summary.get('machine', '')}\n\n"
        f"```\n{summary.get('command', '')}\n```\n\n"
        f"{markdown_table(summary)}\n\n{notes}\n\n"
        "![throughput](throughput.png)\n![lag](lag.png)\n"
        "![latency](latency.png)\n![cpu](cpu.png)\n"
    )
    path = out / "report.md"
    path.write_text(text)
    return path
