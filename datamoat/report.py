"""What a run tells its user: a live line while it runs, a summary (text and JSON) at exit."""

from __future__ import annotations

import resource
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import orjson
import polars as pl

__all__ = ["LiveLine", "format_summary", "make_summary", "write_summary"]


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(pl.Series(values, dtype=pl.Float64).quantile(q, interpolation="linear") or 0.0)


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
    """The run summary (DESIGN.md). ``produced_per_s`` is over ``producing_s`` (the time the
    firehose ran) when given, ``processed_per_s`` over the whole ``duration_s``."""
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
        "latency_p50_s": _quantile(latencies, 0.5),
        "latency_p99_s": _quantile(latencies, 0.99),
        "peak_rss_bytes": peak_rss_bytes(),
        "accounting_ok": consumed == processed + dead_lettered + late,
    }
    summary.update(extra)
    return summary


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

    width = max(len(k) for k in summary)
    return "\n".join(f"  {k:<{width}}  {fmt(v)}" for k, v in summary.items())


class LiveLine:
    """A status line refreshed every second on a terminal, every 10 s in a log."""

    def __init__(
        self, render: Callable[[float], str], stream: TextIO = sys.stderr, interval: float = 0
    ):
        self.render = render
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval or (1.0 if self.tty else 10.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="datamoat-live", daemon=True)
        self._started = time.monotonic()

    def start(self) -> LiveLine:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            line = self.render(time.monotonic() - self._started)
            if self.tty:
                self.stream.write("\r\x1b[2K" + line)
            else:
                self.stream.write(line + "\n")
            self.stream.flush()
