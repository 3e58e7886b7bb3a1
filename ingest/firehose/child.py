"""The paced firehose in a process of its own, for ``datamoat run`` over Kafka.

In the run's own process the pacer shares the GIL with the merger, whose window closes hold
it long enough at 10k+ posts/s that the firehose falls behind (``datamoat bench --mode max``
found 10.7k posts/s, with the worker keeping up). Here a spawned child builds its producer
and waits; :meth:`FirehoseProcess.go` then hands it the event-time origin, taken by the
caller when the pipeline is up, so live posts are sent when the wall clock reaches their
event time, as in one process. The child's progress comes back through shared memory (read
at any time), and its result or error through a pipe. The child ignores SIGINT (the parent
decides when producing stops, through ``stop``) and stops by itself if its parent goes away.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from ingest.errors import ShardError
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.encode import encode_keys, encode_values
from ingest.firehose.stream import Firehose
from ingest.kafka.producer import kafka_writer
from ingest.pacer import Pacer, PaceStats

__all__ = ["FirehoseProcess", "FirehoseSpec"]

_CTX = mp.get_context("spawn")  # polars and kafka-python run threads: never fork
#: Shared progress slots: produced, behind_s, elapsed_s, max_behind_s, stalls, stalled_s.
_SLOTS = 6


@dataclass(frozen=True)
class FirehoseSpec:
    """What the child needs (everything pickles: the child is spawned, not forked)."""

    config: FirehoseConfig
    seed: int
    bootstrap: str
    topic: str
    partitions: int
    realtime: bool
    posts: int | None = None
    duration_s: float | None = None


def _child(spec: FirehoseSpec, conn: Connection, progress: Any, stop: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        writer = kafka_writer(spec.bootstrap, spec.topic)
        conn.send(("ready",))
        started = conn.recv()
        if started is None:  # the parent gave up before starting
            writer.close()
            return
        start_ms, go_at = started
        pacer = Pacer(
            firehose=Firehose(spec.config, spec.seed, int(start_ms)),
            writer=writer,
            encode_values=encode_values,
            encode_keys=encode_keys,
            start_ms=int(start_ms),
            partitions=spec.partitions,
            rate=spec.config.rate,
            realtime=spec.realtime,
        )
        # event time start_ms was due when the parent said go, not after the generator was
        # built: posts go out when the wall clock reaches their created_at (else every post
        # of a paced run is appended the build's half second late)
        pacer.firehose.prepare(int(start_ms) + pacer.step_ms())

        def on_chunk(stats: PaceStats, n: int) -> None:
            progress[:] = _slots(stats)
            if os.getppid() != parent:  # orphaned: nobody reads what we send
                stop.set()

        try:
            stats = pacer.run(
                posts=spec.posts,
                duration_s=spec.duration_s,
                stop=stop,
                on_chunk=on_chunk,
                wall_start=go_at if spec.realtime else None,
            )
        finally:
            writer.close()
        progress[:] = _slots(stats)
        conn.send(("done", *_slots(stats)))
    except BaseException as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))


def _slots(stats: PaceStats) -> list[float]:
    return [float(stats.produced), stats.behind_s, stats.elapsed_s, stats.max_behind_s,
            float(stats.stalls), stats.stalled_s]  # fmt: skip


def _stats(slots: list[float]) -> PaceStats:
    produced, behind, elapsed, max_behind, stalls, stalled = slots
    return PaceStats(
        produced=int(produced), elapsed_s=elapsed, behind_s=behind, max_behind_s=max_behind,
        stalls=int(stalls), stalled_s=stalled,
    )  # fmt: skip


class FirehoseProcess:
    """One paced firehose child: :meth:`start` (it makes its producer), :meth:`wait_ready`,
    then :meth:`go` with the event-time origin; :meth:`stats` any time, :meth:`join` at the
    end. ``stop`` (:meth:`stop`) ends producing early."""

    def __init__(self, spec: FirehoseSpec) -> None:
        self.spec = spec
        self._stop = _CTX.Event()
        self._progress = _CTX.Array("d", _SLOTS, lock=False)
        self._conn, child = _CTX.Pipe()
        self._proc = _CTX.Process(
            target=_child, args=(spec, child, self._progress, self._stop, os.getpid()),
            name="datamoat-firehose", daemon=True,
        )  # fmt: skip
        self._result: PaceStats | None = None
        self._lock = threading.Lock()

    def start(self) -> FirehoseProcess:
        self._proc.start()
        return self

    def is_alive(self) -> bool:
        """Is the child process still running?"""
        return self._proc.is_alive()

    def _recv(self, timeout_s: float) -> tuple[Any, ...]:
        if not self._conn.poll(timeout_s):
            raise ShardError(f"the firehose process said nothing for {timeout_s:.0f} s")
        try:
            msg: tuple[Any, ...] = self._conn.recv()
        except EOFError:
            raise ShardError(
                f"the firehose process ended (exit code {self._proc.exitcode})"
            ) from None
        if msg[0] == "error":
            raise ShardError(f"the firehose process failed: {msg[1]}")
        return msg

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the child has its producer (imports, broker metadata)."""
        msg = self._recv(timeout_s)
        if msg[0] != "ready":
            raise ShardError(f"the firehose process sent {msg[0]!r} before 'ready'")

    def go(self, start_ms: int) -> None:
        """Start producing, with event time ``start_ms`` due now (``time.monotonic`` is
        system-wide, so the child keeps to this moment whatever its set-up takes)."""
        self._conn.send((start_ms, time.monotonic()))

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> PaceStats:
        """The progress so far (the final figures once :meth:`join` returned)."""
        if self._result is not None:
            return self._result
        return _stats(list(self._progress))

    def join(self, on_progress: Callable[[PaceStats], None] = lambda s: None) -> PaceStats:
        """Wait for the child to finish producing, calling ``on_progress`` about every
        0.2 s; its final figures (raises :class:`ShardError` when it failed)."""
        try:
            while not self._conn.poll(0.2):
                if not self._proc.is_alive():
                    break
                on_progress(self.stats())
            msg = self._recv(5.0)
            if msg[0] != "done":
                raise ShardError(f"the firehose process sent {msg[0]!r} at the end")
            self._result = _stats([float(v) for v in msg[1:]])
            on_progress(self._result)
            return self._result
        finally:
            self._proc.join(timeout=30)
            if self._proc.is_alive():
                self._proc.terminate()

    def abandon(self) -> None:
        """Before :meth:`go`: tell the child not to start, and reap it."""
        with contextlib.suppress(OSError, ValueError):
            self._conn.send(None)
        self._stop.set()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.terminate()
