"""A broker's last answer before it closes is read: a refused SASL login is 77, not "no broker".

A Kafka broker answers a failed SASL authentication, then closes the connection. On a loaded
machine both have arrived by the time the client reads, and kafka-python 3.0.12 drops the
bytes it reads together with the close: the refusal was lost, every attempt looked like a
dropped connection, and ``datamoat produce`` with a wrong password said "no Kafka broker
reachable" (69) after its whole wait (a fresh-clone suite, twice). The broker here is a
loopback server that speaks just enough of Kafka's protocol for a SASL PLAIN login and
sends the refusal and its close in one TCP segment (``TCP_CORK``), so the client always
reads both at once.
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datamoat.errors import EXIT_NOPERM
from ingest.kafka.testing import (
    ApiVersionsResponse,
    SaslAuthenticateResponse,
    SaslHandshakeResponse,
)

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE, METADATA = 18, 17, 36, 3
REFUSAL = "Authentication failed: Invalid username or password"


def _read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _request(conn: socket.socket) -> tuple[int, int, int] | None:
    """The next request's API key, version and correlation id (None: the client left)."""
    size = _read_exactly(conn, 4)
    body = None if size is None else _read_exactly(conn, struct.unpack(">i", size)[0])
    if body is None:
        return None
    key, version, correlation = struct.unpack(">hhi", body[:8])
    return key, version, correlation


def _framed(response: Any, correlation: int) -> bytes:
    response.with_header(correlation_id=correlation)
    return bytes(response.encode(header=True, framed=True))


def _answer(conn: socket.socket, key: int, version: int, correlation: int) -> bool:
    """Answer one request; False once the login is refused (the refusal and the close are
    sent together)."""
    if key == API_VERSIONS:
        apis = [(API_VERSIONS, 3), (SASL_HANDSHAKE, 1), (SASL_AUTHENTICATE, 2), (METADATA, 12)]
        versions = [
            ApiVersionsResponse.ApiVersion(api_key=k, min_version=0, max_version=top)
            for k, top in apis
        ]
        response: Any = ApiVersionsResponse(
            error_code=0, api_keys=versions, throttle_time_ms=0, version=version
        )
    elif key == SASL_HANDSHAKE:
        response = SaslHandshakeResponse(error_code=0, mechanisms=["PLAIN"], version=version)
    else:
        assert key == SASL_AUTHENTICATE, key
        refused = SaslAuthenticateResponse(error_code=58, error_message=REFUSAL, auth_bytes=b"",
                                           session_lifetime_ms=0, version=version)  # fmt: skip
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # held back ...
        conn.sendall(_framed(refused, correlation))
        conn.shutdown(socket.SHUT_WR)  # ... and sent with the close, in one segment
        return False
    conn.sendall(_framed(response, correlation))
    return True


def _serve(server: socket.socket, stop: threading.Event) -> None:
    server.settimeout(0.2)
    while not stop.is_set():
        try:
            conn, _ = server.accept()
        except TimeoutError:
            continue
        with conn:
            conn.settimeout(10)
            try:
                while (request := _request(conn)) is not None and _answer(conn, *request):
                    pass
            except OSError:
                pass  # the client gave up on this connection: serve the next


@pytest.fixture
def refusing_broker() -> Iterator[str]:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    serving = threading.Thread(target=_serve, args=(server, stop), daemon=True)
    serving.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        serving.join(timeout=5)
        server.close()


def test_a_refusal_sent_with_the_close_is_77_in_one_line(
    refusing_broker: str, tmp_path: Path
) -> None:
    config = tmp_path / "client.properties"
    config.write_text(
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="alice" password="not-the-password";\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATAMOAT_", "KAFKA_"))}
    done = subprocess.run(
        [sys.executable, "-m", "datamoat.cli", "topics", "--bootstrap", refusing_broker,
         "--client-config", str(config), "--wait-for-broker", "5"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == EXIT_NOPERM, done.stderr  # 69 when the refusal is lost
    (line,) = done.stderr.strip().splitlines()
    assert "authentication failed" in line.lower() and REFUSAL in line, line
    assert "not-the-password" not in done.stderr + done.stdout
