"""One ticker for every poller: call a function every so often on a daemon thread.

The live line, the terminal view, ``/status``'s history, the group-lag reader, the
producer's stall watch and the bench's sampler all tick this way: :meth:`Ticker.start`,
then :meth:`Ticker.stop`, which wakes the thread at once and joins it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["Ticker"]

log = logging.getLogger("datamoat.ticker")


class Ticker:
    """Calls ``tick()`` every ``interval_s`` (measured from one call's start to the next)
    until stopped; ``at_start`` makes the first call at once. An exception in ``tick`` is
    logged and the ticking goes on."""

    def __init__(
        self, tick: Callable[[], object], interval_s: float, name: str, at_start: bool = False
    ) -> None:
        self.tick = tick
        self.interval_s = interval_s
        self.at_start = at_start
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout_s)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def _loop(self) -> None:
        wait = 0.0 if self.at_start else self.interval_s
        while not self._stop.wait(wait):
            started = time.monotonic()
            try:
                self.tick()
            except Exception:  # a poller must not die of one bad reading
                log.exception("%s: tick failed", self._thread.name)
            wait = max(0.0, self.interval_s - (time.monotonic() - started))
