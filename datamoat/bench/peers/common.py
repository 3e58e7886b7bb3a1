"""What the peers share: the command line, the per-record work and the output."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson

__all__ = [
    "STREAM_KEY",
    "PeerArgs",
    "keys_of",
    "late_path",
    "peer_args",
    "scorer",
    "write_late",
    "write_rows",
]

STREAM_KEY = "*"


class PeerArgs(argparse.Namespace):
    bootstrap: str
    topic: str
    group: str
    out: Path
    window_ms: int
    grace_ms: int
    idle_s: float
    state_dir: Path


def peer_args(name: str, argv: list[str] | None = None) -> PeerArgs:
    p = argparse.ArgumentParser(
        prog=f"python -m datamoat.bench.peers.{name}",
        description=f"{name} on datamoat's drain workload: posts and mean sentiment per "
        "event-time window and key, written as NDJSON rows.",
    )
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True, help="the pre-filled posts topic")
    p.add_argument("--group", required=True, help="a consumer group of this run's own")
    p.add_argument("--out", type=Path, required=True, help="NDJSON rows go here")
    p.add_argument("--window-ms", type=int, default=10_000)
    p.add_argument("--grace-ms", type=int, default=86_400_000,
                   help="allowed lateness (default a day: a replay of several partitions "
                   "is out of order by far more than the live stream)")  # fmt: skip
    p.add_argument("--idle-s", type=float, default=1.0, help="stop after this long idle")
    p.add_argument("--state-dir", type=Path, default=Path("peer-state"))
    return p.parse_args(argv, namespace=PeerArgs())


def scorer() -> Callable[[dict[str, Any]], float | None]:
    """The VADER compound of a post, or None when its language is set and not English
    (datamoat's rule, :func:`process.sentiment.english.is_english`)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    polarity = SentimentIntensityAnalyzer().polarity_scores

    def score(post: dict[str, Any]) -> float | None:
        lang = post.get("lang")
        if lang is not None:
            tag = str(lang).lower()
            if tag != "en" and not tag.startswith("en-"):
                return None
        return float(polarity(post["text"])["compound"])

    return score


def keys_of(post: dict[str, Any]) -> list[str]:
    """Each distinct non-empty hashtag, and ``*``."""
    return [*dict.fromkeys(t for t in post["hashtags"] if t), STREAM_KEY]


def write_rows(path: Path, rows: Iterable[dict[str, Any]], started: float) -> int:
    """Write ``rows`` (window_start, key, posts, sentiment_mean) as NDJSON; say how many."""
    n = 0
    with path.open("wb") as f:
        for row in rows:
            f.write(orjson.dumps(row) + b"\n")
            n += 1
    took = time.monotonic() - started
    print(f"wrote {n:,} rows to {path} after {took:.1f} s", file=sys.stderr, flush=True)
    return n


def late_path(out: Path) -> Path:
    """Where a peer writing its rows to ``out`` reports its late drops."""
    return out.with_name(out.name + ".late.json")


def write_late(out: Path, keys: Iterable[str]) -> int:
    """Report the (key, ...) records the peer dropped as late, given their keys: records and
    posts (one ``*`` record per post) to :func:`late_path`, and one line; return records."""
    records = posts = 0
    for key in keys:
        records += 1
        posts += key == STREAM_KEY
    late_path(out).write_bytes(orjson.dumps({"late_records": records, "late_posts": posts}))
    print(f"late drops: {records:,} records ({posts:,} posts)", file=sys.stderr, flush=True)
    return records
