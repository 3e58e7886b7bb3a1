"""The benchmark summary: built from what was measured, checked against its schema."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "REQUIRED",
    "cpu_per_million",
    "drain_span",
    "histogram_quantile",
    "make_bench_summary",
    "validate_summary",
]

#: Keys every summary has, and the JSON types their values may take.
REQUIRED: dict[str, tuple[type, ...]] = {
    "mode": (str,),
    "transport": (str,),
    "workers": (int,),
    "posts": (int,),
    "processed_per_s": (float, int),
    "posts_per_day": (float, int),
    "latency_p50_s": (float, int, type(None)),
    "latency_p99_s": (float, int, type(None)),
    "cpu_s_per_million_posts": (dict,),
    "peak_rss_bytes": (dict,),
}

SECONDS_PER_DAY = 86_400


def drain_span(points: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """From (t, processed so far) samples: the time from the last sample before the first
    processed post to the first sample showing the final count. Bounds the processing
    from outside (at most one sampling interval long at each end); None if nothing ran."""
    if not points or points[-1][1] <= 0:
        return None
    final = points[-1][1]
    start = 0.0
    for t, n in points:
        if n > 0:
            break
        start = t
    end = next(t for t, n in points if n >= final)
    return (start, end) if end > start else None


def histogram_quantile(buckets: Sequence[tuple[float, float]], q: float) -> float | None:
    """The upper bound of the bucket holding quantile ``q`` of a cumulative histogram
    ((le, count) pairs, +Inf last); None when it is empty."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    for le, count in buckets:
        if count >= rank:
            return le
    return buckets[-1][0]


def cpu_per_million(cpu_s: Mapping[str, float], posts: float) -> dict[str, float]:
    if posts <= 0:
        return {name: 0.0 for name in cpu_s}
    return {name: round(s / posts * 1e6, 2) for name, s in cpu_s.items()}


def make_bench_summary(
    *,
    mode: str,
    transport: str,
    workers: int,
    posts: int,
    processed_per_s: float,
    latency_p50_s: float | None,
    latency_p99_s: float | None,
    cpu_s: Mapping[str, float],
    peak_rss_bytes: Mapping[str, int],
    **extra: Any,
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "mode": mode,
        "transport": transport,
        "workers": workers,
        "posts": posts,
        "processed_per_s": round(processed_per_s, 1),
        "posts_per_day": round(processed_per_s * SECONDS_PER_DAY),
        "latency_p50_s": latency_p50_s,
        "latency_p99_s": latency_p99_s,
        "cpu_s": {k: round(v, 3) for k, v in cpu_s.items()},
        "cpu_s_per_million_posts": cpu_per_million(cpu_s, posts),
        "peak_rss_bytes": dict(peak_rss_bytes),
    }
    summary.update(extra)
    return summary


def validate_summary(summary: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``summary`` (empty when it matches the schema)."""
    problems = []
    for key, types in REQUIRED.items():
        if key not in summary:
            problems.append(f"missing {key}")
        elif isinstance(summary[key], bool) or not isinstance(summary[key], types):
            problems.append(f"{key} is {type(summary[key]).__name__}")
    if summary.get("mode") not in ("fixed", "max", "drain"):
        problems.append(f"mode {summary.get('mode')!r} is not fixed, max or drain")
    for key in ("cpu_s_per_million_posts", "peak_rss_bytes"):
        for name, value in dict(summary.get(key) or {}).items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                problems.append(f"{key}[{name}] = {value!r}")
    peers = summary.get("peers")
    if peers is not None:
        for name, peer in dict(peers).items():
            for key in ("posts_per_s", "ratio"):
                if not isinstance(peer.get(key), int | float):
                    problems.append(f"peers[{name}].{key} missing")
    return problems
