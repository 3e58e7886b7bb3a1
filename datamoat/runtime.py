"""What every long-running command shares: stop signals, crash points, the HTTP endpoint."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from datamoat.config import Config
from datamoat.http import MetricsServer, ReadyFn
from datamoat.metrics import Metrics

__all__ = ["fault_from_env", "install_stop", "serve"]


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


def install_stop(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
