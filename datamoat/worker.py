"""The micro-batch loop: poll, decode, score, window, emit closed windows, then commit.

One :class:`Worker` owns a source, the window engine and the sinks. Each step accumulates
polls into a micro-batch bounded by count and time, processes it with a handful of polars
calls, writes the windows the watermark closed to every sink and only then commits the
batch's offsets. Accounting holds for every batch: read = processed + dead-lettered + late.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import polars as pl

from ingest.batch import RawBatch
from ingest.source import Source
from process.decode import decode
from process.engine import WindowEngine
from sinks.base import DeadLetters, DeadLetterSink, SignalSink
from sinks.prometheus import Metrics

__all__ = ["Worker", "WorkerStats"]

Scorer = Callable[[pl.DataFrame], pl.DataFrame]


@dataclass(slots=True)
class WorkerStats:
    consumed: int = 0
    processed: int = 0
    dead_lettered: int = 0
    late: int = 0
    batches: int = 0
    windows: int = 0
    signals: int = 0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)
    #: Per emitted window: emit time minus window end (s).
    latencies: list[float] = field(default_factory=list)
    #: The latest top-K trending keys and scores.
    trending: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Worker:
    source: Source
    engine: WindowEngine
    sinks: Sequence[SignalSink]
    dead_letters: DeadLetterSink
    metrics: Metrics
    max_records: int = 20_000
    max_wait_ms: int = 250
    max_record_bytes: int | None = 65_536
    scorer: Scorer | None = None
    wall_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    monotonic: Callable[[], float] = time.monotonic
    stats: WorkerStats = field(default_factory=WorkerStats)
    _last_lag_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def poll_batch(self) -> RawBatch:
        """Accumulate polls until ``max_records`` or ``max_wait_ms``, whichever comes first."""
        batch = RawBatch()
        deadline = self.monotonic() + self.max_wait_ms / 1000.0
        while len(batch) < self.max_records:
            left_ms = int((deadline - self.monotonic()) * 1000)
            if left_ms <= 0:
                break
            got = self.source.poll(self.max_records - len(batch), left_ms)
            if not len(got):
                if len(batch):
                    break  # caught up: don't sit on what we have
                continue
            batch.extend(got)
        return batch

    def step(self) -> int:
        """Process one micro-batch; returns how many records it read."""
        batch = self.poll_batch()
        if len(batch):
            self.process(batch)
        else:
            self._emit(self.engine.close(self.wall_ms()))
        self._update_gauges()
        return len(batch)

    def process(self, batch: RawBatch) -> None:
        started = self.monotonic()
        now = self.wall_ms()
        decoded = decode(batch.values, self.max_record_bytes)
        posts = decoded.posts.with_columns(
            pl.Series("partition", batch.partitions, dtype=pl.Int32).gather(decoded.posts["_idx"])
        )
        if self.scorer is not None:
            posts = self.scorer(posts)
        added = self.engine.add(posts, now)
        rejects = decoded.rejects
        if added.late_idx:
            late = pl.DataFrame({"_idx": added.late_idx, "reason": "late"})
            rejects = pl.concat([rejects, late.cast({"_idx": pl.Int64})])
        self._dead_letter(batch, rejects)
        self._emit(self.engine.close(now))
        self.source.commit(batch.next_offsets())
        with self._lock:
            s = self.stats
            s.consumed += len(batch)
            s.processed += added.processed
            s.dead_lettered += decoded.rejects.height
            s.late += len(added.late_idx)
            s.batches += 1
        m = self.metrics
        m.posts_consumed.inc(len(batch))
        m.posts_processed.inc(added.processed)
        m.late_records.inc(len(added.late_idx))
        m.batch_records.observe(len(batch))
        m.batch_seconds.observe(self.monotonic() - started)

    def finish(self) -> None:
        """End of input: close every window, write it, commit."""
        self._emit(self.engine.flush())
        self._update_gauges(force=True)

    def run(self, stop: threading.Event, done: Callable[[], bool] | None = None) -> None:
        """Step until ``stop`` is set or ``done()`` says the input is over, then finish."""
        while not stop.is_set():
            read = self.step()
            if not read and done is not None and done():
                break
        self.finish()

    def _dead_letter(self, batch: RawBatch, rejects: pl.DataFrame) -> None:
        if rejects.is_empty():
            return
        idx = rejects["_idx"].to_list()
        reasons = rejects["reason"].to_list()
        letters = DeadLetters(
            values=[batch.values[i] for i in idx],
            keys=[batch.keys[i] for i in idx],
            reasons=reasons,
            partitions=[batch.partitions[i] for i in idx],
            offsets=[batch.offsets[i] for i in idx],
        )
        self.dead_letters.write(letters)
        counts = rejects.filter(pl.col("reason") != "late").group_by("reason").len()
        with self._lock:
            for reason, n in counts.iter_rows():
                self.metrics.dead_letters.labels(reason=reason).inc(n)
                reasons_seen = self.stats.dead_letter_reasons
                reasons_seen[reason] = reasons_seen.get(reason, 0) + n

    def _emit(self, signals: pl.DataFrame) -> None:
        if signals.is_empty():
            return
        for sink in self.sinks:
            sink.write(signals)
        now_s = self.wall_ms() / 1000.0
        ends = signals["window_end"].unique().to_list()
        top = self.engine.trends.top(signals)
        m = self.metrics
        m.windows_emitted.inc(len(ends))
        m.signals_emitted.inc(signals.height)
        lat = [now_s - e / 1000.0 for e in ends]
        for v in lat:
            m.latency.observe(max(0.0, v))
        m.trending.clear()
        for rank, (key, score) in enumerate(top.iter_rows(), start=1):
            m.trending.labels(rank=str(rank), key=key).set(score)
        with self._lock:
            self.stats.windows += len(ends)
            self.stats.signals += signals.height
            self.stats.latencies.extend(lat)
            self.stats.trending = [(k, float(v)) for k, v in top.iter_rows()]

    def _update_gauges(self, force: bool = False) -> None:
        now = self.monotonic()
        m = self.metrics
        m.open_windows.set(self.engine.open_windows)
        m.state_bytes.set(self.engine.state_bytes)
        if self.engine.watermarks.value is not None:
            m.watermark.set(self.engine.watermarks.value / 1000.0)
        if force or now - self._last_lag_at >= 1.0:
            self._last_lag_at = now
            for p, lag in self.source.lag().items():
                m.consumer_lag.labels(partition=str(p)).set(lag)

    def lag_total(self) -> int:
        return sum(self.source.lag().values())
