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
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from ingest.producer import PostWriter, partitions_of

__all__ = ["BEHIND_S", "PaceStats", "Pacer", "PostSource", "StopFlag"]

#: Sending this late (s) counts as not keeping up with the target rate.
BEHIND_S = 1.0
_UNPACED_STEP_POSTS = 20_000


class PostSource(Protocol):
    def prepare(self, end_ms: int) -> None: ...

    def take_until(self, end_ms: int) -> pl.DataFrame: ...


class StopFlag(Protocol):
    """``threading.Event`` or ``multiprocessing.Event``."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = ...) -> bool: ...


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
        return self.max_behind_s <= BEHIND_S

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
            if on_chunk is not None:
                on_chunk(stats, frame.height)
            if last:
                break
        self.writer.flush()
        if self.realtime and end_ms is not None and (stop is None or not stop.is_set()):
            self._wait_until(end_ms, stats, stop)
        stats.note(self.clock())
        return stats

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
