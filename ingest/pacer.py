"""Pacing: send the firehose's posts when the wall clock reaches their event time.

The firehose decides event times (its rate profile); the pacer only maps event time to wall
time, ``due = wall_start + (created_at - start_ms) / 1000``. It walks event time in steps
(``tick_s`` when paced), takes every post of a step (``take_until``), sleeps until the
step's first post is due and hands the step to a :class:`~ingest.producer.PostWriter`.
Unpaced (``realtime=False``) it writes as fast as the generator goes, for files. Clock and
sleep are injected; ``wall_start`` lets several processes pace shards of one stream
against the same clock (``time.monotonic`` is system-wide on Linux and macOS).

When the writer can't keep up, the newest step goes out later than due: ``behind_s`` says
by how much, and :attr:`PaceStats.behind` turns true past ``BEHIND_S``.

A writer can also accept posts and never get them acknowledged: with a partition's replicas
down, Kafka's producer queues (up to its back-pressure limit) and retries for minutes, and
the schedule looks kept. When the writer tells the age of its oldest unacknowledged send
(:class:`PendingSends`), a :class:`StallWatch` logs one line when that age passes
``STALL_S`` and one when sends complete again (from a thread, so a blocked ``write`` is seen
too), and :class:`PaceStats` counts ``stalls`` and ``stalled_s``; a stall means the run did
not keep up.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import polars as pl

from ingest.producer import PostWriter, partitions_of
from ingest.ticker import Ticker

__all__ = [
    "BEHIND_S",
    "STALL_S",
    "PaceStats",
    "Pacer",
    "PendingSends",
    "PostSource",
    "StallWatch",
    "StopFlag",
]

#: Sending this late (s) counts as not keeping up with the target rate.
BEHIND_S = 1.0
#: A send not acknowledged for this long (s) is a stall.
STALL_S = 5.0
_UNPACED_STEP_POSTS = 20_000


class PostSource(Protocol):
    def prepare(self, end_ms: int) -> None: ...

    def take_until(self, end_ms: int) -> pl.DataFrame: ...


class StopFlag(Protocol):
    """``threading.Event`` or ``multiprocessing.Event``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = ...) -> bool: ...


@runtime_checkable
class PendingSends(Protocol):
    """A writer that knows how long its oldest send has waited for an acknowledgement."""

    def pending_age(self) -> float:
        """Seconds since the oldest send not yet acknowledged was made; 0 when none."""
        ...


def _stderr(line: str) -> None:
    print(f"firehose: {line}", file=sys.stderr, flush=True)


@dataclass
class StallWatch:
    """Notices sends that have not completed for ``after_s`` seconds, says so in one line,
    and again when they complete; counts the stalls and their total time.

    :meth:`check` is cheap and thread-safe: the pacer calls it between steps and a thread
    (:meth:`start`) calls it while a ``write`` blocks."""

    age: Callable[[], float]
    log: Callable[[str], None] = _stderr
    after_s: float = STALL_S
    clock: Callable[[], float] = time.monotonic
    stalls: int = 0
    #: Time (s) of the stalls that have ended.
    ended_s: float = 0.0
    _since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def stalled(self) -> bool:
        return self._since is not None

    def stalled_s(self) -> float:
        """Total stall time so far, the ongoing stall included."""
        with self._lock:
            return self.ended_s + (0.0 if self._since is None else self.clock() - self._since)

    def check(self) -> bool:
        """Look once; return whether the writer is stalled now."""
        with self._lock:
            age, now = self.age(), self.clock()
            if self._since is None and age >= self.after_s:
                self._since, self.stalls = now - age, self.stalls + 1
                self.log(
                    f"STALLED: no send acknowledged for {age:.1f} s (broker or replicas "
                    "down?); still retrying"
                )
            elif self._since is not None and age < self.after_s:
                took = now - self._since
                self.ended_s, self._since = self.ended_s + took, None
                self.log(f"recovered: sends are acknowledged again after a {took:.1f} s stall")
            return self._since is not None

    def start(self, interval_s: float) -> Callable[[], None]:
        """Check every ``interval_s`` in a daemon thread; returns the function that stops it
        (after one last check)."""
        ticker = Ticker(self.check, interval_s, "stall-watch").start()

        def stop() -> None:
            ticker.stop(timeout_s=max(1.0, 2 * interval_s))
            self.check()

        return stop


Encoder = Callable[[pl.DataFrame], list[bytes]]
#: Given the next step's posts: how many of them to send, and is this the last step?
#: (sharded ``--posts``: only the union of all shards knows where post N falls)
Quota = Callable[[pl.DataFrame], tuple[int, bool]]


@dataclass(slots=True)
class PaceStats:
    produced: int = 0
    started: float = 0.0
    elapsed_s: float = 0.0
    #: How far behind schedule the newest step went out (s).
    behind_s: float = 0.0
    max_behind_s: float = 0.0
    #: Event time covered so far (ms after the start).
    event_ms: int = 0
    #: Times sends stopped being acknowledged for STALL_S or more, and the total time (s).
    stalls: int = 0
    stalled_s: float = 0.0
    _recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=256))

    @property
    def rate(self) -> float:
        """Achieved posts/s over the whole run."""
        return self.produced / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def behind(self) -> bool:
        """Is the producer currently failing to keep up (more than BEHIND_S late)?"""
        return self.behind_s > BEHIND_S

    @property
    def kept_up(self) -> bool:
        """Never more than BEHIND_S late, and no stall."""
        return self.max_behind_s <= BEHIND_S and self.stalls == 0

    def note(self, now: float) -> None:
        self.elapsed_s = now - self.started
        self._recent.append((now, self.produced))

    def recent_rate(self, window_s: float = 10.0) -> float:
        """Achieved posts/s over about the last ``window_s`` seconds."""
        if not self._recent:
            return 0.0
        now, n = self._recent[-1]
        for then, m in self._recent:
            if now - then <= window_s:
                return (n - m) / (now - then) if now > then else self.rate
        return self.rate


@dataclass
class Pacer:
    firehose: PostSource
    writer: PostWriter
    encode_values: Encoder
    encode_keys: Encoder
    start_ms: int
    partitions: int
    rate: float
    realtime: bool = True
    tick_s: float = 0.05
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    #: Where the stall lines go.
    log: Callable[[str], None] = _stderr
    stall_after_s: float = STALL_S
    #: How often the stall thread looks (s); 0: only between steps (no thread).
    watch_interval_s: float = 0.5

    def step_ms(self) -> int:
        """Event time per step: a tick when paced, about 20k posts when not."""
        if self.realtime:
            return max(1, round(self.tick_s * 1000))
        return max(1, round(_UNPACED_STEP_POSTS / self.rate * 1000))

    def run(
        self,
        *,
        posts: int | None = None,
        duration_s: float | None = None,
        stop: StopFlag | None = None,
        on_chunk: Callable[[PaceStats, int], None] | None = None,
        wall_start: float | None = None,
        quota: Quota | None = None,
    ) -> PaceStats:
        """Produce until ``posts`` are sent, event time passes ``duration_s``, or ``stop``."""
        step = self.step_ms()
        end_ms = None if duration_s is None else self.start_ms + round(duration_s * 1000)
        if wall_start is None:  # the first step (and a warm start's backlog) before the clock
            self.firehose.prepare(self.start_ms + step)
        stats = PaceStats(started=self.clock() if wall_start is None else wall_start)
        watch = None
        if isinstance(self.writer, PendingSends):
            watch = StallWatch(self.writer.pending_age, self.log, self.stall_after_s, self.clock)
        end_watch = watch.start(self.watch_interval_s) if watch and self.watch_interval_s else None
        try:
            self._loop(stats, step, posts, end_ms, stop, on_chunk, quota, watch)
        finally:
            if end_watch is not None:
                end_watch()
        if watch is not None:
            watch.check()
            stats.stalls, stats.stalled_s = watch.stalls, watch.stalled_s()
        stats.note(self.clock())
        return stats

    def _loop(
        self,
        stats: PaceStats,
        step: int,
        posts: int | None,
        end_ms: int | None,
        stop: StopFlag | None,
        on_chunk: Callable[[PaceStats, int], None] | None,
        quota: Quota | None,
        watch: StallWatch | None,
    ) -> None:
        upto = self.start_ms
        while (stop is None or not stop.is_set()) and (end_ms is None or upto < end_ms):
            upto = upto + step if end_ms is None else min(upto + step, end_ms)
            frame = self.firehose.take_until(upto)
            allowed = frame.height
            if posts is not None:
                allowed = min(allowed, posts - stats.produced)
            last = posts is not None and allowed == posts - stats.produced
            if quota is not None:
                share, final = quota(frame)
                allowed, last = min(allowed, share), last or final
            frame = frame.head(allowed)
            if self.realtime:
                self._wait_until(int(frame["created_at"][0]) if frame.height else upto, stats, stop)
            if frame.height:
                self.writer.write(
                    partitions_of(frame, self.partitions),
                    self.encode_keys(frame),
                    self.encode_values(frame),
                )
            stats.produced += frame.height
            stats.event_ms = upto - self.start_ms
            stats.note(self.clock())
            if watch is not None:
                watch.check()
                stats.stalls, stats.stalled_s = watch.stalls, watch.stalled_s()
            if on_chunk is not None:
                on_chunk(stats, frame.height)
            if last:
                break
        self.writer.flush()
        if self.realtime and end_ms is not None and (stop is None or not stop.is_set()):
            self._wait_until(end_ms, stats, stop)

    def _wait_until(self, event_ms: int, stats: PaceStats, stop: StopFlag | None) -> None:
        due = stats.started + (event_ms - self.start_ms) / 1000.0
        delay = due - self.clock()
        stats.behind_s = max(0.0, -delay)
        stats.max_behind_s = max(stats.max_behind_s, stats.behind_s)
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                self.sleep(delay)
