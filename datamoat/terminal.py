"""The terminal view of ``datamoat run``: rate against the target, processed, lag, emit
latency, the current top trends with their sentiment, the open window's provisional
figures and the newest alerts, and progress towards ``--duration`` or ``--posts``. A block
redrawn every second on a terminal; plain lines every 10 s when the output is not one (a
log, a pipe)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from datamoat.metrics import Metrics
from datamoat.report import LiveLine

__all__ = ["TerminalView", "render_block"]


def _n(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def render_block(
    metrics: Metrics,
    elapsed_s: float,
    rate_now: float | None,
    target_rate: float,
    duration_s: float | None = None,
    posts: int | None = None,
) -> list[str]:
    """The view's lines from the metrics as ``/metrics`` shows them now."""
    t = metrics.totals()
    view = metrics.signals_view()
    measured = [w["latency_s"] for w in view["windows"] if w["latency_s"] is not None]
    last = measured[-1] if measured else None
    if duration_s:
        progress = f"{min(1.0, elapsed_s / duration_s):.0%} of {duration_s:,.0f} s"
    elif posts:
        progress = f"{min(1.0, t['produced'] / posts):.0%} of {posts:,} posts"
    else:
        progress = "until Ctrl-C"
    window = view["window"]
    mood = window.get("sentiment")
    trends = ", ".join(
        f"#{r['key']} {r['score']:.1f} ({_n(r['sentiment'], 2)})" for r in view["trending"][:3]
    )
    lines = [
        f"{elapsed_s:6.0f}s  produced {t['produced']:,.0f} at {_n(rate_now)}/s"
        f" (target {target_rate:,.0f}/s)  processed {t['processed']:,.0f}"
        f"  lag {t['lag']:,.0f}  dlq {t['dead_lettered']:,.0f}  [{progress}]",
        f"        windows {t['windows_emitted']:,.0f}  emit latency {_n(last, 2)} s"
        f"  sentiment {_n(mood, 3)}  trending: {trends or '-'}",
    ]
    early = view.get("provisional") or {}
    if early:
        top = ", ".join(f"#{r['key']} {r['score']:.1f}" for r in early.get("top", [])[:3])
        lines.append(
            f"        open window (provisional) {early['covered']:.0%} seen: "
            f"{early['posts']:,} posts, early scores {top or '-'}"
        )
    for alert in view.get("alerts", [])[:2]:  # the newest first
        at = time.strftime("%H:%M:%S", time.localtime(alert["fired_at"]))
        lines.append(
            f"        {alert['kind']} {at}: #{alert['key']} score {_n(alert['score'], 1)}"
            f" with {alert['posts']:,} posts, sentiment {_n(alert['sentiment'], 2)}"
        )
    return lines


class TerminalView:
    """Draws :func:`render_block` through a :class:`~datamoat.report.LiveLine` block every
    ``interval`` s (1 on a terminal, 10 otherwise)."""

    def __init__(
        self,
        metrics: Metrics,
        target_rate: float,
        duration_s: float | None = None,
        posts: int | None = None,
        stream: TextIO = sys.stderr,
        interval: float = 0.0,
    ) -> None:
        self.metrics = metrics
        self.target_rate = target_rate
        self.duration_s = duration_s
        self.posts = posts
        self.live = LiveLine(self._render, stream, interval, block=True)
        self._last: tuple[float, float] | None = None

    def start(self) -> TerminalView:
        self.live.start()
        return self

    def stop(self) -> None:
        self.live.stop()

    def _render(self, elapsed_s: float) -> list[str]:
        now = time.monotonic()
        produced = self.metrics.totals()["produced"]
        rate = None
        if self._last is not None and now > self._last[0]:
            rate = (produced - self._last[1]) / (now - self._last[0])
        self._last = (now, produced)
        return render_block(
            self.metrics, elapsed_s, rate, self.target_rate, self.duration_s, self.posts
        )
