"""What every long-running command shares: stop signals, crash points, the HTTP endpoint."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from datamoat.config import Config
from datamoat.errors import EXIT_INTERRUPTED
from datamoat.http import MetricsServer, ReadyFn
from datamoat.metrics import Metrics

__all__ = ["Interrupts", "fault_from_env", "install_stop", "on_signals", "serve"]


def serve(
    metrics: Metrics,
    status: Callable[[], dict[str, object]],
    config: Config,
    port: int,
    role: str = "worker",
    ready: ReadyFn | None = None,
) -> MetricsServer:
    """Start the HTTP endpoint (/metrics, /status, /, /healthz, /readyz) on ``port`` (0:
    any free one); ``ready`` answers /readyz (None: ready while it serves)."""
    return MetricsServer.for_metrics(
        metrics, status, host=config.http.host, port=port, role=role,
        ready=ready or (lambda: (True, "ready")),
    ).start()  # fmt: skip


def fault_from_env() -> Callable[[str], None]:
    """``DATAMOAT_CRASH_AT=point:n`` kills this process (SIGKILL) the n-th time it reaches
    ``point`` (worker: ``before_commit``, ``after_commit``; merger: ``after_sink_write``,
    ``before_merge_commit``, ``after_merge_commit``). For the crash tests; unset, nothing."""
    spec = os.environ.get("DATAMOAT_CRASH_AT", "")
    if not spec:
        return lambda point: None
    target, _, count = spec.partition(":")
    left = [int(count or 1)]

    def fault(point: str) -> None:
        if point == target:
            left[0] -= 1
            if left[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return fault


def on_signals(callback: Callable[[], None], *signums: int) -> Callable[[], None]:
    """Call ``callback`` on each of ``signums`` (the one place datamoat's commands install
    signal handlers); returns what puts the previous handlers back."""
    previous = {s: signal.getsignal(s) for s in signums}

    def handler(signum: int, frame: FrameType | None) -> None:
        callback()

    for s in signums:
        signal.signal(s, handler)

    def restore() -> None:
        for s, h in previous.items():
            signal.signal(s, h)

    return restore


def install_stop(stop: threading.Event) -> None:
    """SIGTERM or Ctrl-C: set ``stop`` (commit what is done, then exit)."""
    on_signals(stop.set, signal.SIGTERM, signal.SIGINT)


class Interrupts:
    """``run``'s Ctrl-C (or SIGTERM): the first stops producing and lets the workers drain,
    for at most ``drain_timeout_s``; the second stops at once, and the command's exit status
    is then :data:`~datamoat.errors.EXIT_INTERRUPTED` (:meth:`exit_status`)."""

    def __init__(
        self, stop_producing: threading.Event, stop_now: threading.Event, drain_timeout_s: float
    ) -> None:
        self.first: float | None = None
        self.stopped_at_once = False
        self.stop_producing, self.stop_now = stop_producing, stop_now
        self.drain_timeout_s = drain_timeout_s
        on_signals(self.handle, signal.SIGINT, signal.SIGTERM)

    def handle(self) -> None:
        if self.first is not None:
            self.stopped_at_once = True
            self.stop_now.set()
        else:
            self.first = time.monotonic()
            self.stop_producing.set()

    def exit_status(self, status: int) -> int:
        """``status``, or :data:`~datamoat.errors.EXIT_INTERRUPTED` after a second signal."""
        return EXIT_INTERRUPTED if self.stopped_at_once else status

    def drain_expired(self) -> bool:
        return self.first is not None and time.monotonic() - self.first > self.drain_timeout_s
