"""The HTTP endpoint of ``run``, each worker and the firehose: ``/metrics`` for Prometheus,
``/`` the live page (files shipped in ``datamoat/web/``, no CDN), ``/status`` its data as
JSON, ``/healthz`` (200 while the process serves) and ``/readyz`` (200 when ready for
traffic, else 503 with the reason: for Kubernetes probes and compose health checks). Runs
in daemon threads; ``port=0`` picks a free port.

``/status`` carries the operations figures as ``/metrics`` shows them (``ops``), the newest
window's signals (``signals``: sentiment, top hashtags by volume, trending keys with
sparklines, viral cascades, every key that trended) and a bounded history: one sample per
second of the operations figures (``history``, the last :data:`HISTORY_SAMPLES`) and one
entry per emitted window (``signals.windows``).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Final

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from datamoat.errors import ConfigError
from datamoat.metrics import Metrics, firehose_registry
from datamoat.report import quantile
from ingest.ticker import Ticker

__all__ = ["HISTORY_SAMPLES", "MetricsServer", "ReadyFn", "StatusBoard", "serve_firehose"]

StatusFn = Callable[[], dict[str, Any]]
#: ``/readyz``: (ready?, why) now.
ReadyFn = Callable[[], tuple[bool, str]]


def _always_ready() -> tuple[bool, str]:
    return True, "ready"


#: Seconds of once-a-second operations samples kept for the charts (10 minutes).
HISTORY_SAMPLES: Final = 600
#: The live page's files: name -> content type.
STATIC: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _static(name: str) -> bytes:
    return resources.files("datamoat").joinpath("web", name).read_bytes()


class StatusBoard:
    """The data of ``/status``: the figures of ``metrics`` now, plus a once-a-second ring of
    them for the charts. ``extra()`` adds a process's own figures (e.g. the worker's
    ``processed``) at the top level."""

    def __init__(
        self,
        metrics: Metrics,
        extra: StatusFn | None = None,
        interval_s: float = 1.0,
        keep: int = HISTORY_SAMPLES,
        role: str = "worker",
    ) -> None:
        self.metrics = metrics
        self.extra = extra
        self.interval_s = interval_s
        self.role = role
        self.history: deque[dict[str, float]] = deque(maxlen=keep)
        self._lock = threading.Lock()
        self._ticker = Ticker(self.sample, interval_s, "datamoat-status")

    def sample(self) -> dict[str, float]:
        """Record (and return) one sample of the operations figures."""
        point = {"t": round(time.time(), 3), **self.metrics.totals()}
        with self._lock:
            self.history.append(point)
        return point

    def start(self) -> StatusBoard:
        self.sample()
        self._ticker.start()
        return self

    def stop(self) -> None:
        self._ticker.stop(timeout_s=2)

    def status(self) -> dict[str, Any]:
        now: dict[str, float | None] = {"t": round(time.time(), 3), **self.metrics.totals()}
        signals = self.metrics.signals_view()
        measured = [w["latency_s"] for w in signals["windows"] if w["latency_s"] is not None]
        now["latency_last_s"] = measured[-1] if measured else None
        recent = sorted(measured[-60:])
        now["latency_p50_s"] = quantile(recent, 0.5)
        now["latency_p99_s"] = quantile(recent, 0.99)
        with self._lock:
            history = list(self.history)
        extra = self.extra() if self.extra is not None else {}
        return {**extra, "role": self.role, "ops": now, "signals": signals, "history": history}


class MetricsServer:
    def __init__(
        self,
        registry: CollectorRegistry,
        status: StatusFn,
        host: str = "127.0.0.1",
        port: int = 0,
        board: StatusBoard | None = None,
        ready: ReadyFn = _always_ready,
    ) -> None:
        self.board = board
        handler = _handler(registry, status, ready)
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"can't serve metrics on {host}:{port} ({exc.strerror}): "
                "pass --http-port with a free port, or 0 to pick one"
            ) from None
        self.server.daemon_threads = True
        # shutdown() waits up to one poll interval: 0.5 s by default, 0.05 s here.
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), name="datamoat-http", daemon=True
        )

    @classmethod
    def for_metrics(
        cls,
        metrics: Metrics,
        extra: StatusFn | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        role: str = "worker",
        ready: ReadyFn = _always_ready,
    ) -> MetricsServer:
        """A server whose ``/status`` is a :class:`StatusBoard` of ``metrics``."""
        board = StatusBoard(metrics, extra, role=role)
        return cls(metrics.registry, board.status, host, port, board=board, ready=ready)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://{host!s}:{self.port}/"

    def start(self) -> MetricsServer:
        if self.board is not None:
            self.board.start()
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.board is not None:
            self.board.stop()
        self.server.shutdown()
        self.server.server_close()


def _handler(
    registry: CollectorRegistry, status: StatusFn, ready: ReadyFn
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            name = "index.html" if path == "/" else path.lstrip("/")
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":  # alive and serving
                self._send(200, "text/plain", b"ok\n")
            elif path == "/readyz":
                ok, why = ready()
                self._send(200 if ok else 503, "text/plain", f"{why}\n".encode())
            elif path == "/status":
                body = orjson.dumps(status(), option=orjson.OPT_SERIALIZE_NUMPY)
                self._send(200, "application/json", body)
            elif name in STATIC:
                self._send(200, STATIC[name], _static(name))
            else:
                self._send(
                    404, "text/plain", b"not found: try /, /status, /metrics, /healthz or /readyz\n"
                )

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header(
                "Content-Security-Policy",
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:",
            )
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: scrapes every few seconds would flood the terminal

    return Handler


def serve_firehose(
    produced: Callable[[], float],
    host: str,
    port: int,
    target_rate: float | None = None,
    kept_up: Callable[[], bool] | None = None,
) -> MetricsServer:
    """The firehose's endpoint (``datamoat produce --http-port``): ``/metrics`` with
    ``datamoat_posts_produced_total`` read from ``produced()``, the target rate and
    whether it keeps up, and the process series."""
    registry = firehose_registry(produced, target_rate, kept_up)
    status = lambda: {"role": "firehose", "produced": produced()}  # noqa: E731
    return MetricsServer(registry, status, host, port).start()
