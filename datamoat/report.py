"""What a run tells its user: a live line while it runs, a summary (text and JSON) at exit."""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson
import polars as pl

from ingest.ticker import Ticker

__all__ = [
    "LiveLine",
    "TrendLog",
    "format_summary",
    "make_summary",
    "output_of",
    "quantile",
    "write_summary",
]

#: Keys a :class:`TrendLog` remembers; beyond, new keys are only counted.
TREND_LOG_KEYS = 1000


def quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, interpolated linearly between the closest ranks
    (None when there are none)."""
    if not values:
        return None
    ranked = sorted(values)
    pos = q * (len(ranked) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ranked) - 1)
    return float(ranked[lo] + (ranked[hi] - ranked[lo]) * (pos - lo))


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def make_summary(
    *,
    produced: int,
    consumed: int,
    processed: int,
    dead_lettered: int,
    late: int,
    duration_s: float,
    latencies: list[float],
    producing_s: float | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The run summary (its fields: README.md, "Commands"). ``produced_per_s`` is over
    ``producing_s`` (the time the firehose ran) when given, ``processed_per_s`` over the
    whole ``duration_s``."""
    duration = max(duration_s, 1e-9)
    producing = max(producing_s or duration_s, 1e-9)
    summary: dict[str, Any] = {
        "produced": produced,
        "consumed": consumed,
        "processed": processed,
        "dead_lettered": dead_lettered,
        "late": late,
        "duration_s": round(duration_s, 3),
        "produced_per_s": round(produced / producing, 1),
        "processed_per_s": round(processed / duration, 1),
        "latency_p50_s": quantile(latencies, 0.5),
        "latency_p99_s": quantile(latencies, 0.99),
        "peak_rss_bytes": peak_rss_bytes(),
        "accounting_ok": consumed == processed + dead_lettered + late,
    }
    summary.update(extra)
    return summary


class TrendLog:
    """Every key that trended during a run: when first and last, for how many windows,
    and how high (the peak score with its window, posts and mean sentiment).

    Fed the trending signal rows of each emit (:meth:`observe`); bounded to
    ``TREND_LOG_KEYS`` keys (further keys are counted in ``dropped``)."""

    def __init__(self, max_keys: int = TREND_LOG_KEYS) -> None:
        self.max_keys = max_keys
        self.dropped = 0
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def observe(self, trending: pl.DataFrame) -> None:
        """Take in trending signal rows (``key``, ``window_end``, ``trend_score``, ``posts``,
        ``sentiment_mean``)."""
        if trending.is_empty():
            return
        rows = trending.select("key", "window_end", "trend_score", "posts", "sentiment_mean").sort(
            "window_end"
        )
        with self._lock:
            for key, end, score, posts, sentiment in rows.iter_rows():
                entry = self._keys.get(key)
                if entry is None:
                    if len(self._keys) >= self.max_keys:
                        self.dropped += 1
                        continue
                    entry = self._keys[key] = {
                        "key": key,
                        "first_window_end": end,
                        "windows": 0,
                        "peak_score": float("-inf"),
                    }
                entry["last_window_end"] = end
                entry["windows"] += 1
                if score > entry["peak_score"]:
                    entry["peak_score"] = float(score)
                    entry["peak_window_end"] = end
                    entry["peak_posts"] = int(posts)
                    entry["peak_sentiment"] = None if sentiment is None else float(sentiment)

    def report(self) -> list[dict[str, Any]]:
        """One entry per key, in the order they first trended (times as epoch ms)."""
        with self._lock:
            entries = sorted(self._keys.values(), key=lambda e: (e["first_window_end"], e["key"]))
            out = []
            for e in entries:
                item = dict(e)
                item["peak_score"] = round(item["peak_score"], 3)
                if item.get("peak_sentiment") is not None:
                    item["peak_sentiment"] = round(item["peak_sentiment"], 4)
                out.append(item)
            return out

    def summary(self, started_ms: int | None = None) -> list[str]:
        """Short lines for the text summary: ``#key at +Ns (peak P at +Ms, W windows)``."""

        def at(ms: int) -> str:
            if started_ms is None:
                return time.strftime("%H:%M:%S", time.localtime(ms / 1000))
            return f"+{(ms - started_ms) / 1000:.0f}s"

        return [
            f"#{e['key']} from {at(e['first_window_end'])} to {at(e['last_window_end'])}, "
            f"peak {e['peak_score']:.1f} at {at(e['peak_window_end'])} "
            f"({e['windows']} window{'s' if e['windows'] != 1 else ''})"
            for e in self.report()
        ]


def output_of(sinks: Sequence[object], dead_letters: object) -> dict[str, str]:
    """Where a worker's output went, from its sinks: Parquet directory, Kafka topics, files."""
    out: dict[str, str] = {}
    for sink in [*sinks, dead_letters]:
        name = type(sink).__name__
        root, topic, path = (getattr(sink, a, None) for a in ("root", "topic", "path"))
        kind = "dead_letters" if sink is dead_letters else "signals"
        if root is not None:
            out[f"{kind}_parquet"] = str(root)
        elif topic is not None:
            out[f"{kind}_topic"] = str(topic)
        elif path is not None:
            out[f"{kind}_file"] = str(path)
        else:
            out[f"{kind}_sink"] = name
    return out


def write_summary(summary: dict[str, Any], path: Path | None) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")


def format_summary(summary: dict[str, Any]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, bool) or v is None:
            return str(v)
        if isinstance(v, int):
            return f"{v:,}"
        if isinstance(v, float):
            return f"{v:,.3f}"
        return str(v)

    def entry(v: Any) -> str:
        if isinstance(v, dict) and {"key", "peak_score", "first_window_end"} <= v.keys():
            return _trended_line(v)
        if isinstance(v, dict):
            items = [f"{k}={fmt(x)}" for k, x in v.items()]
            return "; ".join(items) if items else "-"
        return fmt(v)

    width = max(len(k) for k in summary)
    lines: list[str] = []
    for k, v in summary.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            lines.append(f"  {k:<{width}}  {len(v):,}")
            lines.extend(f"  {'':<{width}}    {entry(x)}" for x in v)
        else:
            lines.append(f"  {k:<{width}}  {entry(v)}")
    return "\n".join(lines)


def _trended_line(e: dict[str, Any]) -> str:
    def at(ms: int) -> str:
        return time.strftime("%H:%M:%S", time.localtime(ms / 1000))

    mood = e.get("peak_sentiment")
    return (
        f"#{e['key']}: windows ending {at(e['first_window_end'])}-{at(e['last_window_end'])}"
        f" ({e['windows']}), peak {e['peak_score']:.1f} at {at(e['peak_window_end'])}"
        f" with {e['peak_posts']:,} posts, sentiment {'-' if mood is None else f'{mood:.2f}'}"
    )


class LiveLine:
    """The one live display of every command: a status line, or a block of lines
    (``block=True``), redrawn in place on a terminal and written as plain log lines
    elsewhere (a log, a pipe).

    Pushed (:meth:`show` with the text) or polled (:meth:`start` calls ``render(elapsed)``
    every ``interval`` s: 1 on a terminal, 10 otherwise, on a :class:`~ingest.ticker.Ticker`).
    """

    def __init__(
        self,
        render: Callable[[float], str | Sequence[str]] | None = None,
        stream: TextIO = sys.stderr,
        interval: float = 0,
        block: bool = False,
    ):
        self.render = render
        self.stream = stream
        self.tty = stream.isatty()
        self.block = block
        self.interval = interval or (1.0 if self.tty else 10.0)
        self._drawn = 0
        self._ticker: Ticker | None = None
        self._started = time.monotonic()
        self._lock = threading.Lock()

    def start(self) -> LiveLine:
        render = self.render
        if render is None:
            raise ValueError("a polled live line needs render")
        self._ticker = Ticker(
            lambda: self.show(render(time.monotonic() - self._started)),
            self.interval,
            "datamoat-live",
        ).start()
        return self

    def show(self, text: str | Sequence[str]) -> None:
        """Draw ``text`` (a line, or the block's lines) now."""
        lines = [text] if isinstance(text, str) else list(text)
        with self._lock:
            if not self.tty:
                self.stream.write(" | ".join(line.strip() for line in lines) + "\n")
            elif self.block:
                up = f"\x1b[{self._drawn}F" if self._drawn else ""
                self.stream.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
                self._drawn = len(lines)
            else:
                self.stream.write("\r\x1b[2K" + " | ".join(lines))
                self._drawn = 1
            self.stream.flush()

    def clear(self) -> None:
        """Take a status line off the terminal (before other output)."""
        with self._lock:
            if self.tty and not self.block and self._drawn:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
                self._drawn = 0

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop(timeout_s=2)
        with self._lock:
            if self.tty and not self.block and self._drawn:
                self.stream.write("\n")
                self.stream.flush()
                self._drawn = 0
