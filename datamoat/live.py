"""The live page's model: the newest window's signals and a bounded history, for ``/status``.

:class:`LiveModel` keeps what the page draws (the newest window's sentiment and posts, the
top hashtags by volume, the trending keys with their sparklines, the viral cascades, one
entry per emitted window) apart from the Prometheus registry
(:class:`datamoat.metrics.Metrics`), which exports its gauges from it. Updated under its
lock by the emitter's thread, read by the HTTP thread.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from process.aggregate import STREAM_KEY

__all__ = ["CASCADE_K", "HISTORY_WINDOWS", "SPARK_KEYS", "SPARK_WINDOWS", "TOP_K", "LiveModel"]

#: Ranks shown (and exported) for the top keys by volume and by trend score.
TOP_K: Final = 10
#: Ranks shown for the viral cascades of the newest window.
CASCADE_K: Final = 5
#: Windows of signal history kept for ``/status`` (an hour of 10-s windows).
HISTORY_WINDOWS: Final = 360
#: Alerts and retractions the live page lists.
ALERTS_KEPT: Final = 20
#: Windows of per-key trend scores kept for the sparklines.
SPARK_WINDOWS: Final = 30
#: Keys per window whose trend score the sparkline history keeps.
SPARK_KEYS: Final = 50


@dataclass(slots=True)
class LiveModel:
    """The newest window's signals and bounded history."""

    window: dict[str, Any] = field(default_factory=dict)
    top_volume: list[dict[str, Any]] = field(default_factory=list)
    trending: list[dict[str, Any]] = field(default_factory=list)
    cascades: list[dict[str, Any]] = field(default_factory=list)
    windows: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_WINDOWS))
    scores: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=SPARK_WINDOWS))
    early: int = 0
    replayed: int = 0
    #: The newest open window's provisional signals: the stream and its top keys by early
    #: score (``process/early.py``), and the latest alerts and retractions, newest first.
    provisional: dict[str, Any] = field(default_factory=dict)
    alerts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=ALERTS_KEPT))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def update(
        self,
        signals: pl.DataFrame,
        top: pl.DataFrame,
        now_ms: int,
        measured: dict[int, float],
        ends: list[int],
    ) -> None:
        """Take in emitted ``signals`` (windows ending at ``ends``, the newest last), the
        newest window's ``top`` trending rows, and the measured latencies by window end."""
        stream = signals.filter(pl.col("key") == STREAM_KEY).sort("window_end")
        for row in stream.iter_rows(named=True):
            self.windows.append(
                {
                    "end": row["window_end"] / 1000.0,
                    "emitted": now_ms / 1000.0,
                    "latency_s": measured.get(row["window_end"]),
                    "posts": row["posts"],
                    "sentiment": _f(row["sentiment_mean"]),
                    "positive": _f(row["positive_share"]),
                    "neutral": _f(row["neutral_share"]),
                    "negative": _f(row["negative_share"]),
                }
            )
        tagged = signals.filter(pl.col("key") != STREAM_KEY)
        for end in ends:
            window = tagged.filter(pl.col("window_end") == end)
            best = window.sort(["trend_score", "key"], descending=[True, False]).head(SPARK_KEYS)
            self.scores.append(dict(zip(best["key"], best["trend_score"], strict=True)))
        newest = signals.filter(pl.col("window_end") == ends[-1])
        head = newest.filter(pl.col("key") == STREAM_KEY)
        if head.height:
            row = head.row(0, named=True)
            self.window = {
                "start": row["window_start"] / 1000.0,
                "end": row["window_end"] / 1000.0,
                "posts": row["posts"],
                "sentiment": _f(row["sentiment_mean"]),
                "positive": _f(row["positive_share"]),
                "neutral": _f(row["neutral_share"]),
                "negative": _f(row["negative_share"]),
            }
            cascades = row["top_cascades"] or []
            self.cascades = [{**c, "root_id": str(c["root_id"])} for c in cascades[:CASCADE_K]]
        volume = (
            newest.filter(pl.col("key") != STREAM_KEY)
            .sort(["posts", "key"], descending=[True, False])
            .head(TOP_K)
        )
        self.top_volume = _rows(volume)
        self.trending = _rows(top)
        for row in self.trending:
            row["spark"] = [s.get(row["key"], 0.0) for s in self.scores]

    def update_early(self, provisional: pl.DataFrame, alerts: list[dict[str, Any]]) -> None:
        """Take in an early update (``process.early.PROVISIONAL_SCHEMA`` rows, alerts)."""
        for alert in alerts:
            self.alerts.appendleft({
                "alert_id": alert["alert_id"], "kind": alert["kind"], "key": alert["key"],
                "window_start": alert["window_start"] / 1000.0, "score": _f(alert["score"]),
                "posts": alert["posts"], "sentiment": _f(alert["sentiment_mean"]),
                "fired_at": alert["fired_at"] / 1000.0,
            })  # fmt: skip
        if provisional.is_empty():
            return
        newest = int(provisional["window_start"].max())  # type: ignore[arg-type]
        window = provisional.filter(pl.col("window_start") == newest)
        head = window.filter(pl.col("key") == STREAM_KEY)
        if head.height:
            row = head.row(0, named=True)
            self.provisional = {
                "provisional": True,
                "start": row["window_start"] / 1000.0,
                "end": row["window_end"] / 1000.0,
                "covered": row["covered"],
                "posts": row["posts"],
                "sentiment": _f(row["sentiment_mean"]),
                "velocity": row["velocity"],
                "keys": {},
            }
        if self.provisional.get("start") != newest / 1000.0:
            return
        keys: dict[str, Any] = self.provisional["keys"]
        for row in window.filter(pl.col("key") != STREAM_KEY).iter_rows(named=True):
            keys[row["key"]] = {"posts": row["posts"], "score": float(row["trend_score"]),
                                "sentiment": _f(row["sentiment_mean"])}  # fmt: skip
        if len(keys) > 4 * TOP_K:  # keep the best
            best = sorted(keys.items(), key=lambda kv: (-kv[1]["score"], -kv[1]["posts"]))
            self.provisional["keys"] = dict(best[: 2 * TOP_K])

    def view(self, trended: list[dict[str, Any]]) -> dict[str, Any]:
        """The model as plain JSON values (``trended``: every key that trended so far)."""
        with self.lock:
            return {
                "window": dict(self.window),
                "top_volume": [dict(r) for r in self.top_volume],
                "trending": [dict(r) for r in self.trending],
                "cascades": [dict(c) for c in self.cascades],
                "windows": list(self.windows),
                "windows_flushed_early": self.early,
                "windows_replayed": self.replayed,
                "trended": trended,
                "provisional": _provisional(self.provisional),
                "alerts": list(self.alerts),
            }


def _provisional(p: dict[str, Any]) -> dict[str, Any]:
    """The provisional window for the page: its top keys by early score, then posts."""
    if not p:
        return {}
    best = sorted(p["keys"].items(), key=lambda kv: (-kv[1]["score"], -kv[1]["posts"]))
    return {**{k: v for k, v in p.items() if k != "keys"},
            "top": [{"key": k, **v} for k, v in best[:TOP_K]]}  # fmt: skip


def _f(v: Any) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "key": key,
            "posts": int(posts),
            "score": float(score or 0.0),
            "sentiment": _f(sentiment),
        }
        for key, posts, score, sentiment in frame.select(
            "key", "posts", "trend_score", "sentiment_mean"
        ).iter_rows()
    ]
