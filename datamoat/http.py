"""The worker's HTTP endpoint: ``/metrics`` for Prometheus, ``/`` a live dashboard page,
``/status`` the same figures as JSON. Runs in a daemon thread; ``port=0`` picks a free port."""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from datamoat.errors import ConfigError

__all__ = ["MetricsServer"]

StatusFn = Callable[[], dict[str, Any]]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>datamoat</title>
<style>body{{font:15px system-ui,sans-serif;margin:2em;background:#111;color:#eee}}
table{{border-collapse:collapse}}td{{padding:.25em 1em;border-bottom:1px solid #333}}
td.v{{text-align:right;font-variant-numeric:tabular-nums}}h1{{font-size:1.3em}}</style>
</head><body><h1>datamoat worker</h1><table id="t">{rows}</table>
<p><a href="/metrics" style="color:#8cf">/metrics</a> ·
<a href="/status" style="color:#8cf">/status</a></p>
<script>
async function tick(){{
  try {{
    const s = await (await fetch('/status')).json();
    document.getElementById('t').innerHTML = Object.entries(s).map(([k,v]) =>
      '<tr><td>'+k+'</td><td class="v">'+(typeof v==='number' ?
        v.toLocaleString(undefined,{{maximumFractionDigits:3}}) : JSON.stringify(v))
      +'</td></tr>').join('');
  }} catch (e) {{}}
}}
setInterval(tick, 1000);
</script></body></html>"""


class MetricsServer:
    def __init__(
        self, registry: CollectorRegistry, status: StatusFn, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        handler = _handler(registry, status)
        try:
            self.server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise ConfigError(
                f"can't serve metrics on {host}:{port} ({exc.strerror}): "
                "pass --http-port with a free port, or 0 to pick one"
            ) from None
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="datamoat-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://{host!s}:{self.port}/"

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _handler(registry: CollectorRegistry, status: StatusFn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/status":
                self._send(200, "application/json", orjson.dumps(status()))
            elif path == "/":
                rows = "".join(
                    f'<tr><td>{escape(k)}</td><td class="v">{escape(str(v))}</td></tr>'
                    for k, v in status().items()
                )
                self._send(200, "text/html; charset=utf-8", PAGE.format(rows=rows).encode())
            else:
                self._send(404, "text/plain", b"not found: try /metrics or /\n")

        def _send(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None  # quiet: scrapes every few seconds would flood the terminal

    return Handler
