"""The input seam of ``datamoat run``: a feed of posts into the pipeline's input.

``run`` starts its feed while the workers start (:meth:`Feed.start`), waits until both are
ready, then tells the feed when its event time begins (:meth:`Feed.go`: now, so live posts
are not born late), follows it to its end (:meth:`Feed.join`) and stops it early on Ctrl-C
(:meth:`Feed.stop`). The synthetic firehose is a feed two ways: in a child process writing
to Kafka (:class:`ingest.firehose.child.FirehoseProcess`) and in a thread writing to the
in-memory topic (:class:`ThreadFeed`). A real stream plugs in at the same seam.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from ingest.pacer import Pacer, PaceStats

__all__ = ["Feed", "ThreadFeed"]


class Feed(Protocol):
    def start(self) -> Feed:
        """Begin getting ready (a producer, a connection); no post is sent yet."""
        ...

    def wait_ready(self, timeout_s: float = 120.0) -> None: ...

    def go(self, start_ms: int) -> None:
        """Start sending, with event time ``start_ms`` due now."""
        ...

    def stop(self) -> None:
        """End sending early (Ctrl-C); :meth:`join` then returns."""
        ...

    def join(self, on_progress: Callable[[PaceStats], None] = lambda s: None) -> PaceStats:
        """Wait for the end, calling ``on_progress`` now and then; the final figures (raises
        what stopped the feed)."""
        ...

    def abandon(self) -> None:
        """Before :meth:`go`: give up (the pipeline did not start)."""
        ...


class ThreadFeed:
    """A pacer in a thread of this process: ``make_pacer(start_ms)`` builds it at
    :meth:`go`, and it runs until ``posts`` are sent, ``duration_s`` of event time passed,
    or :meth:`stop`; ``on_done`` is called when it ends, however."""

    def __init__(
        self,
        make_pacer: Callable[[int], Pacer],
        posts: int | None = None,
        duration_s: float | None = None,
        on_done: Callable[[], None] = lambda: None,
    ) -> None:
        self.make_pacer = make_pacer
        self.posts, self.duration_s, self.on_done = posts, duration_s, on_done
        self._stop = threading.Event()
        self._stats = PaceStats()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ThreadFeed:
        return self

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        return None

    def go(self, start_ms: int) -> None:
        go_at = time.monotonic()  # event time start_ms is due now, however long the build
        pacer = self.make_pacer(start_ms)
        if pacer.realtime:
            pacer.firehose.prepare(start_ms + pacer.step_ms())

        def on_chunk(stats: PaceStats, n: int) -> None:
            self._stats = stats

        def main() -> None:
            try:
                self._stats = pacer.run(
                    posts=self.posts, duration_s=self.duration_s, stop=self._stop,
                    on_chunk=on_chunk, wall_start=go_at if pacer.realtime else None,
                )  # fmt: skip
            except BaseException as exc:  # raised by join, in the caller's thread
                self._failure = exc
            finally:
                self.on_done()

        self._thread = threading.Thread(target=main, name="datamoat-firehose", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, on_progress: Callable[[PaceStats], None] = lambda s: None) -> PaceStats:
        thread = self._thread
        while thread is not None and thread.is_alive():
            on_progress(self._stats)
            thread.join(timeout=0.2)
        if self._failure is not None:
            raise self._failure
        on_progress(self._stats)
        return self._stats

    def abandon(self) -> None:
        self._stop.set()
        self.on_done()
