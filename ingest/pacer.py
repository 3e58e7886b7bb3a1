"""Pacing: send the firehose's posts when the wall clock reaches their event time.

The firehose decides event times (its rate profile); the pacer only maps event time to wall
time, ``due = wall_start + (created_at - start_ms) / 1000``, sleeps until a chunk is due and
hands it to a :class:`~ingest.producer.PostWriter`. Unpaced (``realtime=False``) it writes as
fast as the generator goes, for files. Clock and sleep are injected.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import polars as pl

from ingest.producer import PostWriter, partitions_of

__all__ = ["PaceStats", "Pacer", "PostSource"]


class PostSource(Protocol):
    def take(self, n: int) -> pl.DataFrame: ...


Encoder = Callable[[pl.DataFrame], list[bytes]]


@dataclass(slots=True)
class PaceStats:
    produced: int = 0
    started: float = 0.0
    elapsed_s: float = 0.0
    #: How far behind schedule the newest chunk went out (s); > 1 means it can't keep up.
    behind_s: float = 0.0
    max_behind_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.produced / self.elapsed_s if self.elapsed_s > 0 else 0.0


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

    def run(
        self,
        *,
        posts: int | None = None,
        duration_s: float | None = None,
        stop: threading.Event | None = None,
        on_chunk: Callable[[PaceStats, int], None] | None = None,
    ) -> PaceStats:
        """Produce until ``posts`` are sent, event time passes ``duration_s``, or ``stop``."""
        chunk = max(1, round(self.rate * self.tick_s)) if self.realtime else 20_000
        end_ms = None if duration_s is None else self.start_ms + round(duration_s * 1000)
        stats = PaceStats(started=self.clock())
        while stop is None or not stop.is_set():
            want = chunk if posts is None else min(chunk, posts - stats.produced)
            if want <= 0:
                break
            frame = self.firehose.take(want)
            if end_ms is not None:
                frame = frame.filter(pl.col("created_at") < end_ms)
                if frame.is_empty():
                    break
            if self.realtime:
                self._wait_until(frame["created_at"][0], stats, stop)
            self.writer.write(
                partitions_of(frame, self.partitions),
                self.encode_keys(frame),
                self.encode_values(frame),
            )
            stats.produced += frame.height
            stats.elapsed_s = self.clock() - stats.started
            if on_chunk is not None:
                on_chunk(stats, frame.height)
            if frame.height < want:
                break
        self.writer.flush()
        if self.realtime and end_ms is not None and (stop is None or not stop.is_set()):
            self._wait_until(end_ms, stats, stop)
        stats.elapsed_s = self.clock() - stats.started
        return stats

    def _wait_until(self, event_ms: int, stats: PaceStats, stop: threading.Event | None) -> None:
        due = stats.started + (event_ms - self.start_ms) / 1000.0
        delay = due - self.clock()
        stats.behind_s = max(0.0, -delay)
        stats.max_behind_s = max(stats.max_behind_s, stats.behind_s)
        if delay > 0:
            if stop is not None:
                stop.wait(delay)
            else:
                self.sleep(delay)
