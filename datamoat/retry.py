"""Writes that must become durable: retried with backoff while the sink says so.

Only :class:`ingest.errors.SinkError` is retried: any other exception is a bug and stops
the process. While a write fails, consumption pauses (nothing buffers without bound) and
``wait`` is called between attempts: a Kafka worker polls its paused consumer there, so
it keeps its group membership through an outage longer than ``max_poll_interval_ms``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from datamoat.metrics import Metrics
from ingest.errors import SinkError, SinkUnavailable

__all__ = ["Durably"]

log = logging.getLogger("datamoat.retry")


def _sleep_wait(seconds: float) -> None:
    time.sleep(seconds)


@dataclass(slots=True)
class Durably:
    metrics: Metrics
    stop: threading.Event | None = None
    wait: Callable[[float], None] = field(default=_sleep_wait)
    monotonic: Callable[[], float] = time.monotonic
    max_backoff_s: float = 10.0
    #: Called once when a write starts failing and once when it recovers.
    on_pause: Callable[[], None] = field(default=lambda: None)
    on_resume: Callable[[], None] = field(default=lambda: None)

    def __call__(self, write: Callable[[], None], name: str) -> None:
        delay, failing_since = 0.1, None
        while True:
            try:
                write()
            except SinkError as exc:
                if failing_since is None:
                    failing_since = self.monotonic()
                    log.warning("%s failing (%s); consumption paused, retrying", name, exc)
                    self.on_pause()
                self.metrics.sink_retries.labels(sink=name).inc()
                if self.stop is not None and self.stop.is_set():
                    raise SinkUnavailable(
                        f"{name} still failing at shutdown ({exc}); nothing past the last "
                        "commit was committed, a restart reads it again"
                    ) from exc
                self.wait(delay)
                delay = min(delay * 2, self.max_backoff_s)
                continue
            if failing_since is not None:
                self.on_resume()
                log.warning("%s recovered after %.1f s", name, self.monotonic() - failing_since)
            return
