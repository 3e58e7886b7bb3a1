"""A local stand-in for Bluesky's Jetstream: replays recorded frames over a WebSocket on
127.0.0.1 (a port of its own), so that the client is tested without the network.

What it keeps of Jetstream's ``/subscribe``: frames are sent as text, in the order given;
``cursor=T`` replays from T *inclusive* (every event with ``time_us >= T``), as Jetstream
does (its event store is iterated from the key ``T`` up, a lower bound, inclusive); without
a cursor it replays everything (a real server would tail live: the recording is the "live"
stream here); ``wantedCollections`` filters commits by collection, identity and account
events always pass. After the last frame it keeps the connection open, sending nothing, as
a quiet live tail does. A frame without a readable ``time_us`` (the recording's malformed
one) is placed at the time of the frame before it.

To test reconnections, connection n (from 0) can be cut after ``drop_after[n]`` frames:
``drop="close"`` closes it with code 1011 (every frame sent arrives first: the tests can
count exactly), ``drop="abort"`` aborts the TCP connection (frames in flight may be lost, as
on a real network). ``reject_status`` answers every handshake with that HTTP status.

Use it as an async context manager in the test's event loop, or with :meth:`threaded` from
synchronous code (its own loop on a daemon thread), e.g. for a subprocess's tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

__all__ = ["RECORDED", "JetstreamReplay", "recorded_frames"]

#: Hand-written events in Jetstream's format (one frame a line), and the posts they map to.
RECORDED = Path(__file__).resolve().parents[1] / "data" / "jetstream"


def recorded_frames() -> list[bytes]:
    """The frames of ``events.jsonl``, one a line, bytes untouched."""
    data = (RECORDED / "events.jsonl").read_bytes()
    return data.removesuffix(b"\n").split(b"\n")


def _placed(frames: Sequence[bytes]) -> list[tuple[int, str | None]]:
    """(time_us, collection or None) of each frame; an unreadable frame takes the time of
    the one before it."""
    placed: list[tuple[int, str | None]] = []
    last = 0
    for frame in frames:
        collection = None
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            event = None
        if isinstance(event, dict):
            if type(event.get("time_us")) is int:
                last = event["time_us"]
            commit = event.get("commit")
            if event.get("kind") == "commit" and isinstance(commit, dict):
                collection = commit.get("collection")
        placed.append((last, collection))
    return placed


class JetstreamReplay:
    def __init__(
        self,
        frames: Sequence[bytes],
        *,
        drop_after: Sequence[int | None] = (),
        drop: Literal["close", "abort"] = "close",
        reject_status: int | None = None,
        pace_s: float = 0.0,
    ) -> None:
        """``pace_s``: a pause after each frame (a stream that lasts long enough to be
        killed in the middle of)."""
        self.frames = list(frames)
        self.pace_s = pace_s
        self.drop_after = list(drop_after)
        self.drop = drop
        self.reject_status = reject_status
        self._placed = _placed(self.frames)
        #: The ``cursor`` each connection asked for (None: none), in order.
        self.cursors: list[int | None] = []
        #: Frames sent on each connection.
        self.sent: list[int] = []
        self._server: Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The subscription URL, without query (add ``?wantedCollections=...``)."""
        return f"ws://127.0.0.1:{self.port}/subscribe"

    async def __aenter__(self) -> JetstreamReplay:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, compression=None
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        if self.reject_status is None:
            return None
        status = HTTPStatus(self.reject_status)
        return ws.respond(status, f"{status.phrase}\n")

    async def _handle(self, ws: ServerConnection) -> None:
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        cursor = int(query["cursor"][0]) if "cursor" in query else None
        wanted = set(query.get("wantedCollections", []))
        n = len(self.cursors)
        self.cursors.append(cursor)
        self.sent.append(0)
        limit = self.drop_after[n] if n < len(self.drop_after) else None
        for frame, (t, collection) in zip(self.frames, self._placed, strict=True):
            if cursor is not None and t < cursor:
                continue
            if wanted and collection is not None and collection not in wanted:
                continue
            if limit is not None and self.sent[n] >= limit:
                break
            await ws.send(frame, text=True)
            self.sent[n] += 1
            if self.pace_s:
                await asyncio.sleep(self.pace_s)
        else:
            await ws.wait_closed()  # the quiet live tail
            return
        if self.drop == "abort":
            ws.transport.abort()
        else:
            await ws.close(1011, "dropped by the test")

    @contextmanager
    def threaded(self) -> Iterator[JetstreamReplay]:
        """Serve from a daemon thread with a loop of its own until the block ends."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                async with self:
                    ready.set()
                    await stop.wait()
            except BaseException as exc:  # shown to the caller, not lost on the thread
                failure.append(exc)
                ready.set()

        thread = threading.Thread(
            target=loop.run_until_complete, args=(main(),), name="jetstream-replay", daemon=True
        )
        thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(10)
            loop.close()
