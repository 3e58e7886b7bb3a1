"""A loopback TCP forwarder that a test shuts and opens again: a Kafka bootstrap address that
stops answering for a while, as a container name that does not resolve or a node that
restarts.

Kafka clients reach the broker through the gate only to bootstrap: the metadata they get
back names the broker's own listener, which they use from then on. So a shut gate is a lost
*bootstrap* address: new clients can't start, clients already started go on.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

__all__ = ["Gate"]


class Gate:
    """Forwards ``127.0.0.1:<port>`` to ``target``. While shut, it takes each connection and
    resets it at once (it keeps its port: a port given up could be taken by another socket
    before the gate opens again). With ``shut_after_first=True`` it shuts once the first
    connection that carried bytes has ended, until :meth:`open`. Every thread is a daemon with
    bounded waits; :meth:`close` ends them."""

    def __init__(self, target: tuple[str, int], *, shut_after_first: bool = False) -> None:
        self.target = target
        self.shut_after_first = shut_after_first
        self.sessions = 0  # connections that carried bytes and ended
        self.shut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def open(self) -> None:
        """Forward new connections again."""
        self.shut.clear()

    def close_door(self) -> None:
        """Reset new connections (those open go on)."""
        self.shut.set()

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.shut.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()  # a reset, as from a port nobody listens on
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._session, args=(client, upstream), daemon=True).start()

    def _session(self, client: socket.socket, upstream: socket.socket) -> None:
        carried = [0]
        pumps = [
            threading.Thread(target=self._pump, args=(client, upstream, carried), daemon=True),
            threading.Thread(target=self._pump, args=(upstream, client, carried), daemon=True),
        ]
        for p in pumps:
            p.start()
        for p in pumps:
            p.join()
        for s in (client, upstream):
            with contextlib.suppress(OSError):
                s.close()
        if carried[0]:
            with self._lock:
                self.sessions += 1
                first = self.sessions == 1
            if first and self.shut_after_first:
                self.close_door()

    def _pump(self, src: socket.socket, dst: socket.socket, carried: list[int]) -> None:
        src.settimeout(0.5)
        while not self._closed.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            carried[0] += len(data)
            try:
                dst.sendall(data)
            except OSError:
                break
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
