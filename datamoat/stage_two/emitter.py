"""Where final signals leave the merger: every sink, durably, and the metrics about them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from datamoat.metrics import Metrics
from datamoat.retry import Durably
from process.stage_two.merger import Merger
from sinks.base import SignalSink

__all__ = ["EmitStats", "SignalEmitter"]


@dataclass(slots=True)
class EmitStats:
    windows: int = 0
    signals: int = 0
    #: Per emitted window: emit time minus window end (s).
    latencies: list[float] = field(default_factory=list)
    #: The latest top-K trending keys and scores.
    trending: list[tuple[str, float]] = field(default_factory=list)


@dataclass(slots=True)
class SignalEmitter:
    """Writes each batch of final signals to every sink (retrying a sink while it raises
    SinkError), then counts them. ``fault`` is called at named points for the crash tests."""

    merger: Merger
    sinks: Sequence[SignalSink]
    metrics: Metrics
    durably: Durably
    wall_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    fault: Callable[[str], None] = field(default=lambda point: None)
    stats: EmitStats = field(default_factory=EmitStats)
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: A file replay: its windows have no emit latency (counted as replayed instead).
    replay: bool = False
    _evicted: int = 0

    def write(self, signals: pl.DataFrame) -> None:
        """Every sink has the signals durably when this returns (idempotent per window)."""
        for i, sink in enumerate(self.sinks):
            if i:
                self.fault("between_sinks")
            self.durably(lambda sink=sink: sink.write(signals), type(sink).__name__)  # type: ignore[misc]
        if not signals.is_empty():
            self.fault("after_sink_write")

    def count(self, signals: pl.DataFrame) -> None:
        """Metrics and stats of signals now committed."""
        self.gauges()
        if signals.is_empty():
            return
        trending = signals.filter(self.merger.trends.config.trending())
        emitted = self.metrics.observe_emit(signals, trending, self.wall_ms(), self.replay)
        with self.lock:
            self.stats.windows += emitted.windows
            self.stats.signals += signals.height
            self.stats.latencies.extend(emitted.latencies)
            self.stats.trending = emitted.top_trending

    def gauges(self) -> None:
        m, merger = self.metrics, self.merger
        m.set_state(merger.open_windows, merger.state_bytes, merger.watermark)
        evicted = merger.cascades.evicted
        if evicted > self._evicted:
            m.cascades_evicted.inc(evicted - self._evicted)
        self._evicted = evicted
