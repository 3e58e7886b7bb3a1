"""The micro-batch loop: poll, decode, score, window, emit closed windows, then commit.

One :class:`Worker` owns a source, the window engine and the sinks. Each step accumulates
polls into a micro-batch bounded by count and time, processes it with a handful of polars
calls, writes the windows the watermark closed to every sink and only then commits the
batch's offsets. Accounting holds for every batch: read = processed + dead-lettered + late.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import polars as pl

from datamoat.checkpoint import Checkpoint, CheckpointStore
from datamoat.errors import DatamoatError
from datamoat.metrics import Metrics
from ingest.batch import RawBatch
from ingest.source import Source
from process.decode import decode
from process.engine import WindowEngine
from sinks.base import DeadLetters, DeadLetterSink, SignalSink

__all__ = ["SinkUnavailable", "Worker", "WorkerStats"]

Scorer = Callable[[pl.DataFrame], pl.DataFrame]
T = TypeVar("T")


class SinkUnavailable(DatamoatError):
    """A sink kept failing until shutdown was requested."""


def _stderr(line: str) -> None:
    print(f"datamoat: {line}", file=sys.stderr, flush=True)


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
    #: Posts stamped further than this ahead of the wall clock are dead letters (0: no check).
    max_future_ms: int = 86_400_000
    scorer: Scorer | None = None
    #: Called at named points of the commit protocol; the crash tests kill the worker there.
    fault: Callable[[str], None] = field(default=lambda point: None)
    log: Callable[[str], None] = field(default=_stderr)
    sleep: Callable[[float], None] = time.sleep
    max_backoff_s: float = 10.0
    _stop: threading.Event | None = None
    wall_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    monotonic: Callable[[], float] = time.monotonic
    stats: WorkerStats = field(default_factory=WorkerStats)
    #: Where the open-window state and its offsets are persisted (None: commit every batch).
    checkpoints: CheckpointStore | None = None
    checkpoint_interval_s: float = 5.0
    #: A file replay: its windows have no emit latency (counted as replayed instead).
    replay: bool = False
    #: Next offset per partition after everything processed; what is not yet committed.
    _positions: dict[int, int] = field(default_factory=dict)
    _pending: dict[int, int] = field(default_factory=dict)
    _last_checkpoint_at: float = 0.0
    _last_lag_at: float = 0.0
    _evicted: int = 0
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
            if len(batch):
                batch.extend(got)
            else:
                batch = got
        return batch

    def step(self) -> int:
        """Process one micro-batch; returns how many records it read."""
        batch = self.poll_batch()
        if len(batch):
            self.process(batch)
        else:
            now = self.wall_ms()
            if self._track_partitions(now):
                self._emit(self.engine.close(now))
        self._update_gauges()
        return len(batch)

    def process(self, batch: RawBatch) -> None:
        started = self.monotonic()
        now = self.wall_ms()
        self._track_partitions(now)
        decoded = decode(
            batch.values,
            self.max_record_bytes,
            now_ms=now if self.max_future_ms else None,
            max_future_ms=self.max_future_ms,
        )
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
        done = batch.next_offsets()
        self._positions.update(done)
        self._pending.update(done)
        self._commit()
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

    def _track_partitions(self, now: int) -> bool:
        """Tell the watermark which partitions we read and which still have a backlog
        (unknown lag counts as a backlog): only a caught-up partition can go idle.

        False while no partitions are assigned (at start, during a rebalance): the
        watermark must not move then, or a restored state that has seen only some
        partitions would close windows the others still feed."""
        assigned = self.source.partitions()
        marks = self.engine.watermarks
        if not assigned:
            marks.busy(set(marks.max_event) | set(marks.waiting), now)
            return False
        lags = self.source.lag()
        marks.expect(assigned, now)
        marks.busy({p for p in assigned if lags.get(p, 1) > 0}, now)
        return True

    def finish(self) -> None:
        """End of input: close every window, write it, checkpoint, commit."""
        self._emit(self.engine.flush())
        self._commit(force=True)
        self._update_gauges(force=True)

    def restore(self) -> Checkpoint | None:
        """Continue from the latest checkpoint, if any: state back, source repositioned."""
        if self.checkpoints is None:
            return None
        checkpoint = self.checkpoints.load()
        if checkpoint is not None:
            self.engine.restore(checkpoint.scalars, checkpoint.frames, self.wall_ms())
            self.source.seek(checkpoint.offsets)
            self._positions = dict(checkpoint.offsets)
        self._last_checkpoint_at = self.monotonic()
        return checkpoint

    def _commit(self, force: bool = False) -> None:
        """Persist state with the offsets it covers, then commit them (at most every
        ``checkpoint_interval_s`` when checkpointing). Sinks have written by now."""
        if not self._pending and not force:
            return
        if self.checkpoints is not None:
            due = self.monotonic() - self._last_checkpoint_at >= self.checkpoint_interval_s
            if not (due or force):
                return
            scalars, frames = self.engine.snapshot()
            self.checkpoints.save(
                Checkpoint(offsets=dict(self._positions), scalars=scalars, frames=frames)
            )
            self._last_checkpoint_at = self.monotonic()
            self.fault("after_checkpoint")
        if self._pending:
            try:
                self.source.commit(self._pending)
            except Exception as exc:  # the checkpoint holds the offsets; the next commit covers
                self.log(f"offset commit failed ({exc!r}); will commit again with the next batch")
                return
        self._pending = {}

    def run(self, stop: threading.Event, done: Callable[[], bool] | None = None) -> bool:
        """Step until ``done()`` says the input is over (then flush every window: True) or
        ``stop`` is set (then checkpoint and commit, leaving windows open: False)."""
        self._stop = stop
        while not stop.is_set():
            read = self.step()
            if not read and done is not None and done():
                self.finish()
                return True
        self.suspend()
        return False

    def suspend(self) -> None:
        """Stop for now: checkpoint the open windows and commit; a restart continues."""
        self._commit(force=True)
        self._update_gauges(force=True)

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
        self._durably(self.dead_letters.write, letters, type(self.dead_letters).__name__)
        counts = rejects.filter(pl.col("reason") != "late").group_by("reason").len()
        with self._lock:
            for reason, n in counts.iter_rows():
                self.metrics.dead_letters.labels(reason=reason).inc(n)
                reasons_seen = self.stats.dead_letter_reasons
                reasons_seen[reason] = reasons_seen.get(reason, 0) + n

    def _durably(self, write: Callable[[T], None], payload: T, name: str) -> None:
        """Write to a sink, retrying with backoff while it fails (disk full, topic down).

        Consumption pauses meanwhile: nothing is dropped and nothing buffers without bound.
        A stop request during the outage gives up (nothing is committed; a restart replays).
        """
        delay, failing_since = 0.1, None
        while True:
            try:
                write(payload)
            except Exception as exc:
                if failing_since is None:
                    failing_since = self.monotonic()
                    self.log(f"{name} failing ({exc!r}); pausing consumption and retrying")
                self.metrics.sink_retries.labels(sink=name).inc()
                if self._stop is not None and self._stop.is_set():
                    raise SinkUnavailable(
                        f"{name} still failing at shutdown ({exc!r}); nothing past the last "
                        "checkpoint was committed, a restart replays it"
                    ) from exc
                self.sleep(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failing_since is not None:
                self.log(f"{name} recovered after {self.monotonic() - failing_since:.1f} s")
            return

    def _emit(self, signals: pl.DataFrame) -> None:
        if signals.is_empty():
            return
        for i, sink in enumerate(self.sinks):
            if i:
                self.fault("between_sinks")
            self._durably(sink.write, signals, type(sink).__name__)
        self.fault("after_sink_write")
        trending = signals.filter(self.engine.trends.config.trending())
        emitted = self.metrics.observe_emit(signals, trending, self.wall_ms(), self.replay)
        with self._lock:
            self.stats.windows += emitted.windows
            self.stats.signals += signals.height
            self.stats.latencies.extend(emitted.latencies)
            self.stats.trending = emitted.top_trending

    def _update_gauges(self, force: bool = False) -> None:
        now = self.monotonic()
        m = self.metrics
        m.open_windows.set(self.engine.open_windows)
        m.state_bytes.set(self.engine.state_bytes)
        evicted = self.engine.cascades.evicted  # a count kept by the engine since its start
        if evicted > self._evicted:
            m.cascades_evicted.inc(evicted - self._evicted)
        self._evicted = evicted
        if self.engine.watermarks.value is not None:
            m.watermark.set(self.engine.watermarks.value / 1000.0)
        if force or now - self._last_lag_at >= 1.0:
            self._last_lag_at = now
            for p, lag in self.source.lag().items():
                m.consumer_lag.labels(partition=str(p)).set(lag)

    def lag_total(self) -> int:
        return sum(self.source.lag().values())
