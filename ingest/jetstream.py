"""Bluesky's Jetstream as datamoat posts: the mapping, and an async client that resumes.

Jetstream (github.com/bluesky-social/jetstream) serves the commits of every Bluesky repository
as JSON text frames over a WebSocket, one event a frame::

    {"did": "did:plc:...", "time_us": 1725911162329308, "kind": "commit",
     "commit": {"rev": "...", "operation": "create", "collection": "app.bsky.feed.post",
                "rkey": "3l3qo2vutsw2b", "record": {...}, "cid": "..."}}

``kind`` is also ``identity`` or ``account`` (sent to every subscriber whatever it asked for).
:func:`map_events` turns a batch of frames into POST_SCHEMA rows, in the frames' order:

====================================  =========  =================================  ========
Jetstream event                       kind       parent_id, root_id                 text
====================================  =========  =================================  ========
post create with ``record.reply``     reply      reply.parent.uri, reply.root.uri   record's
post create embedding a post:         quote      the embedded post's URI (both)     record's
``app.bsky.embed.record`` (its
``record.uri``) or
``app.bsky.embed.recordWithMedia``
(its ``record.record.uri``)
any other post create (an embedded    post       null, null                         record's
feed, list or starter pack is not a
quote)
repost create                         repost     subject.uri (both)                 ""
likes, follows, blocks, ..., every    (dropped)  counted by ``collection:operation``
update and delete
identity and account events           (dropped)  counted by ``kind``
====================================  =========  =================================  ========

A reply that also embeds a record is a reply. The other columns, for every row:

- ``post_id`` = :func:`at_id` of the event's AT URI ``at://DID/COLLECTION/RKEY``, so a reply's
  ``parent_id`` (the id of its parent's URI) is the ``post_id`` its parent got; ``author_id``
  = :func:`at_id` of the DID. (Bluesky writes reply and quote URIs with the DID, as here; a
  URI naming a handle instead would hash to another id.)
- ``created_at`` = ``time_us // 1000``: Jetstream's time, not the record's ``createdAt``
  (the client's clock, which may be anything).
- ``hashtags``: the ``tag`` of every ``app.bsky.richtext.facet#tag`` facet feature, then the
  record's ``tags``; lower-cased, leading '#' removed, empty ones left out, first of each
  kept (the text itself is not searched: a '#word' the client did not mark is not a tag).
- ``lang``: the first of ``langs``, lower-cased; ``und`` without one (reposts included).
- ``followers``: 0 (Jetstream does not tell).

Malformed optional parts (facets, tags, langs, an unknown embed) are ignored. A frame that is
not JSON, or lacks what the mapping needs (``time_us``, ``kind``; for the events mapped:
``did``, ``commit.rkey``, the record, its text, a reply's parent and root URIs, an embedded
record's or a repost subject's URI) is a dead letter: its bytes untouched and the reason
(``not_json``, ``missing_field:commit.rkey``, ``wrong_type:record.reply``, ...).

Cost: frames are parsed by orjson one at a time and their fields read in a Python loop (the
price of JSON whose shape varies by event); ids are blake2b hashes, one each in Python; the
columns are built from flat lists and the hashtags (flat (row, tag) pairs, grouped back)
and languages normalised by polars, column-wise. Measured in batches of 1,000 on one core
of a busy machine: about 10 µs a post frame (parse 3, fields and three ids 3-4, columns 1,
loop 2) and 7 µs a frame for a mix like the recording's: some 100,000 frames a second,
far above the whole network's rate.

:func:`stream_events` reads a Jetstream endpoint with the ``websockets`` package (the
``jetstream`` extra): it batches frames (``batch_events`` or ``batch_ms``, whichever comes
first), maps them and hands each :class:`Mapped` to ``on_batch``; on connection loss it
reconnects, with :class:`Backoff`, from its cursor. Cursor semantics:

- the cursor is the newest ``time_us`` handed on to ``on_batch`` (:attr:`StreamStats.cursor_us`,
  also :attr:`Mapped.newest_us` of each batch); every (re)connection asks ``cursor=`` it.
- Jetstream replays *from* the cursor, inclusive: its event store is read from the key
  ``time_us`` up (a lower bound, inclusive), and its README says to reconnect with "the
  ``time_us`` from your most recently processed event". So the first event after a resume
  is one already handed on. The client skips the replayed prefix: events before the
  cursor, and at the cursor those it has already handed on (it remembers the events of
  the cursor's microsecond, so two events of one microsecond split by a disconnect are
  both delivered, once). Given a cursor from outside (``cursor_us``, e.g. stored with the
  last batch), it skips every event at or before it.
- an event whose ``time_us`` can't be read (not JSON) can't be placed: it is always handed
  on (as a dead letter), so a replay can repeat one.
- if the first event after connecting is more than ``gap_s`` past the cursor, the server no
  longer had the events between (Jetstream keeps about a day) or the cursor was from the
  future (Jetstream then tails live): the gap is counted and logged, one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
import polars as pl

from ingest.errors import ConfigError
from ingest.schema import POST_SCHEMA

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = [
    "JETSTREAM_URL",
    "POST_COLLECTION",
    "REPOST_COLLECTION",
    "Backoff",
    "Mapped",
    "OnBatch",
    "StreamStats",
    "at_id",
    "map_events",
    "stream_events",
    "with_cursor",
]

log = logging.getLogger("datamoat.ingest.jetstream")

POST_COLLECTION: Final = "app.bsky.feed.post"
REPOST_COLLECTION: Final = "app.bsky.feed.repost"
#: Bluesky's public instance, asking for posts and reposts only (it sends identity and
#: account events anyway). :func:`stream_events` adds ``cursor=``.
JETSTREAM_URL: Final = (
    "wss://jetstream2.us-east.bsky.network/subscribe"
    f"?wantedCollections={POST_COLLECTION}&wantedCollections={REPOST_COLLECTION}"
)
_TAG: Final = "app.bsky.richtext.facet#tag"
_EMBED_RECORD: Final = "app.bsky.embed.record"
_EMBED_RECORD_WITH_MEDIA: Final = "app.bsky.embed.recordWithMedia"
#: The first event after connecting this far past the cursor (s) is a gap.
GAP_S: Final = 5.0
#: Largest frame accepted (bytes). A frame over the limit closes the connection, and the
#: resume would meet it again: the limit is far above any record atproto allows (1 MiB).
MAX_FRAME_BYTES: Final = 8 * 1024 * 1024
_OPEN_TIMEOUT_S: Final = 10.0
_CLOSE_TIMEOUT_S: Final = 2.0


def at_id(text: str) -> int:
    """A stable positive 63-bit id for an AT URI (a post) or a DID (an author): the first 8
    bytes of its blake2b digest, top bit cleared; 0 becomes 1 (ids start at 1)."""
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
    return (value & (2**63 - 1)) or 1


@dataclass(frozen=True, eq=False)
class Mapped:
    """One batch of frames, mapped (see the module docstring for the table)."""

    #: The posts, exactly POST_SCHEMA, in the frames' order.
    posts: pl.DataFrame
    #: (the frame's bytes, untouched; the reason) of each frame that could not be mapped.
    dead: list[tuple[bytes, str]]
    #: Events left out on purpose: ``"<collection>:<operation>"``, or the ``kind`` of an
    #: identity or account event -> how many.
    dropped: dict[str, int]
    #: The largest ``time_us`` of the batch (whatever became of its event); None if none.
    newest_us: int | None


class _NotJson:
    """The stand-in for a frame orjson can't parse."""


_NOT_JSON: Final = _NotJson()


class _Dead(Exception):
    """A frame lacks what the mapping needs; ``args[0]`` is the reason."""


def _decode(frame: bytes) -> object:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _time_us(obj: object) -> int | None:
    """The event's ``time_us``, or None when it has none that is an integer."""
    if isinstance(obj, dict):
        t = obj.get("time_us")
        if type(t) is int:
            return t
    return None


def _reason(value: object, where: str) -> str:
    return f"missing_field:{where}" if value is None else f"wrong_type:{where}"


def _obj(parent: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = parent.get(key)
    if isinstance(value, dict):
        return value
    raise _Dead(_reason(value, where))


def _str(parent: dict[str, Any], key: str, where: str) -> str:
    """A non-empty string field."""
    value = parent.get(key)
    if isinstance(value, str) and value:
        return value
    raise _Dead(_reason(None if value == "" else value, where))


def _quoted_uri(embed: object) -> str | None:
    """The URI of the post an embed quotes; None if it quotes no post."""
    if not isinstance(embed, dict):
        return None
    kind = embed.get("$type")
    if kind == _EMBED_RECORD:
        ref, where = embed.get("record"), "record.embed.record"
    elif kind == _EMBED_RECORD_WITH_MEDIA:
        outer = embed.get("record")
        ref, where = (
            (outer.get("record") if isinstance(outer, dict) else None),
            ("record.embed.record.record"),
        )
    else:
        return None
    if not isinstance(ref, dict):
        raise _Dead(_reason(ref, where))
    uri = _str(ref, "uri", f"{where}.uri")
    parts = uri.split("/", 4)  # at: / "" / DID / COLLECTION / RKEY
    return uri if len(parts) == 5 and parts[3] == POST_COLLECTION else None


def _raw_tags(record: dict[str, Any]) -> list[str]:
    """Facet tags then ``tags``, as written (normalised column-wise later)."""
    found: list[str] = []
    facets = record.get("facets")
    if isinstance(facets, list):
        for facet in facets:
            features = facet.get("features") if isinstance(facet, dict) else None
            if isinstance(features, list):
                for feature in features:
                    if isinstance(feature, dict) and feature.get("$type") == _TAG:
                        tag = feature.get("tag")
                        if isinstance(tag, str):
                            found.append(tag)
    tags = record.get("tags")
    if isinstance(tags, list):
        found.extend(t for t in tags if isinstance(t, str))
    return found


def _first_lang(record: dict[str, Any]) -> str | None:
    langs = record.get("langs")
    if isinstance(langs, list) and langs and isinstance(langs[0], str):
        return langs[0]
    return None


class _Columns:
    """The posts of a batch, column by column."""

    def __init__(self) -> None:
        self.post_id: list[int] = []
        self.author_id: list[int] = []
        self.created_at: list[int] = []
        self.kind: list[str] = []
        self.parent_id: list[int | None] = []
        self.root_id: list[int | None] = []
        self.text: list[str] = []
        self.lang: list[str | None] = []
        #: The hashtags flat: (row, tag) pairs, each row led by an empty tag, so that a row
        #: without tags still has a group (building a list column from Python lists of
        #: lists costs about 4x more).
        self.tag_row: list[int] = []
        self.tag: list[str] = []

    def add(self, obj: dict[str, Any], commit: dict[str, Any], collection: str, t: int) -> None:
        """Append the row of one post or repost create; raises :class:`_Dead`, and then
        appends nothing."""
        did = _str(obj, "did", "did")
        rkey = _str(commit, "rkey", "commit.rkey")
        record = _obj(commit, "record", "commit.record")
        parent: int | None
        root: int | None
        if collection == REPOST_COLLECTION:
            subject = _obj(record, "subject", "record.subject")
            parent = root = at_id(_str(subject, "uri", "record.subject.uri"))
            kind, text, tags, lang = "repost", "", [], None
        else:
            body = record.get("text")
            if not isinstance(body, str):
                raise _Dead(_reason(body, "record.text"))
            text = body
            reply = record.get("reply")
            if reply is not None:
                if not isinstance(reply, dict):
                    raise _Dead(_reason(reply, "record.reply"))
                up = _obj(reply, "parent", "record.reply.parent")
                top = _obj(reply, "root", "record.reply.root")
                parent = at_id(_str(up, "uri", "record.reply.parent.uri"))
                root = at_id(_str(top, "uri", "record.reply.root.uri"))
                kind = "reply"
            else:
                quoted = _quoted_uri(record.get("embed"))
                if quoted is None:
                    kind, parent, root = "post", None, None
                else:
                    kind = "quote"
                    parent = root = at_id(quoted)
            tags = _raw_tags(record)
            lang = _first_lang(record)
        self.tag_row.extend([len(self.post_id)] * (len(tags) + 1))
        self.tag.append("")
        self.tag.extend(tags)
        self.post_id.append(at_id(f"at://{did}/{collection}/{rkey}"))
        self.author_id.append(at_id(did))
        self.created_at.append(t // 1000)
        self.kind.append(kind)
        self.parent_id.append(parent)
        self.root_id.append(root)
        self.text.append(text)
        self.lang.append(lang)

    def frame(self) -> pl.DataFrame:
        tag = pl.col("tag")
        hashtags = (
            pl.LazyFrame(
                [
                    pl.Series("row", self.tag_row, dtype=pl.Int64),
                    pl.Series("tag", self.tag, dtype=pl.String),
                ]
            )
            .with_columns(tag.str.to_lowercase().str.strip_chars_start("#"))
            .group_by("row", maintain_order=True)
            .agg(tag.filter(tag != "").unique(maintain_order=True))
            .collect()
            .get_column("tag")
            .alias("hashtags")
        )
        lang = pl.col("lang").str.to_lowercase()
        return (
            pl.DataFrame(
                [
                    pl.Series("post_id", self.post_id, dtype=pl.Int64),
                    pl.Series("author_id", self.author_id, dtype=pl.Int64),
                    pl.Series("created_at", self.created_at, dtype=pl.Int64),
                    pl.Series("kind", self.kind, dtype=pl.String),
                    pl.Series("parent_id", self.parent_id, dtype=pl.Int64),
                    pl.Series("root_id", self.root_id, dtype=pl.Int64),
                    pl.Series("text", self.text, dtype=pl.String),
                    hashtags,
                    pl.Series("lang", self.lang, dtype=pl.String),
                ]
            )
            .with_columns(
                pl.when(lang != "").then(lang).otherwise(pl.lit("und")).alias("lang"),
                pl.lit(0, pl.Int64).alias("followers"),
            )
            .select(POST_SCHEMA.names())
        )


def map_events(frames: Sequence[bytes]) -> Mapped:
    """Map Jetstream frames (one JSON event each) to posts; see the module docstring."""
    return _map(frames, [_decode(f) for f in frames])


def _map(frames: Sequence[bytes], events: Sequence[object]) -> Mapped:
    columns = _Columns()
    dead: list[tuple[bytes, str]] = []
    dropped: dict[str, int] = {}
    newest: int | None = None
    for frame, obj in zip(frames, events, strict=True):
        if obj is _NOT_JSON:
            dead.append((frame, "not_json"))
            continue
        if not isinstance(obj, dict):
            dead.append((frame, "not_object"))
            continue
        t = _time_us(obj)
        if t is None:
            dead.append((frame, _reason(obj.get("time_us"), "time_us")))
            continue
        if newest is None or t > newest:
            newest = t
        kind = obj.get("kind")
        if kind != "commit":
            if isinstance(kind, str):
                dropped[kind] = dropped.get(kind, 0) + 1
            else:
                dead.append((frame, _reason(kind, "kind")))
            continue
        try:
            commit = _obj(obj, "commit", "commit")
            collection = _str(commit, "collection", "commit.collection")
            operation = _str(commit, "operation", "commit.operation")
            if operation != "create" or collection not in (POST_COLLECTION, REPOST_COLLECTION):
                key = f"{collection}:{operation}"
                dropped[key] = dropped.get(key, 0) + 1
                continue
            columns.add(obj, commit, collection, t)
        except _Dead as exc:
            dead.append((frame, str(exc.args[0])))
    return Mapped(posts=columns.frame(), dead=dead, dropped=dropped, newest_us=newest)


# --- the client -------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Waits between reconnection attempts: exponential, with full jitter.

    Attempt n (from 0) of a run of reconnections waits a uniform random time in
    ``[0, min(max_s, first_s * factor**n)]``: with the defaults at most 0.5 s, 1 s, 2 s, ...,
    then at most 30 s from the seventh on. A run ends when a connection delivers a frame.
    When ``max_retries`` reconnections in a row have delivered nothing, the next loss
    raises its error instead (0: never reconnect); None retries for ever.
    """

    first_s: float = 0.5
    max_s: float = 30.0
    factor: float = 2.0
    max_retries: int | None = None

    def ceiling_s(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt`` (from 0)."""
        return min(self.max_s, self.first_s * self.factor ** min(attempt, 64))

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, self.ceiling_s(attempt))


@dataclass
class StreamStats:
    """What :func:`stream_events` did (returned when it stops)."""

    #: Frames handed on (mapped), replays skipped not included.
    events: int = 0
    #: Frames skipped: replayed by the server, at or before the cursor resumed from.
    replayed: int = 0
    posts: int = 0
    dead: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    #: Calls of ``on_batch``.
    batches: int = 0
    #: Successful connections; ``reconnects`` of them after the first.
    connects: int = 0
    reconnects: int = 0
    #: Connection attempts that failed (refused, timed out, HTTP 5xx, ...).
    failed_connects: int = 0
    #: Times the first event after connecting was more than ``gap_s`` past the cursor, and
    #: the time those gaps skipped over (µs).
    gaps: int = 0
    gap_us: int = 0
    #: The newest ``time_us`` handed on: where a restart resumes (``cursor_us=``).
    cursor_us: int | None = None


def with_cursor(url: str, cursor_us: int | None) -> str:
    """``url`` with its ``cursor`` query parameter set to ``cursor_us`` (or removed)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "cursor"]
    if cursor_us is not None:
        query.append(("cursor", str(cursor_us)))
    return urlunsplit(parts._replace(query=urlencode(query, safe=":*")))


def _event_key(obj: dict[str, Any]) -> tuple[object, ...]:
    """What tells two events of one microsecond apart."""
    commit = obj.get("commit")
    fields = commit if isinstance(commit, dict) else {}
    values = (
        obj.get("did"),
        obj.get("kind"),
        fields.get("collection"),
        fields.get("rkey"),
        fields.get("operation"),
        fields.get("rev"),
    )
    return tuple(v if v is None or isinstance(v, str) else repr(v) for v in values)


class _Resume:
    """Skips the prefix a server replays after connecting with ``cursor``: the events
    before it, and at it those in ``seen`` (every one when ``seen`` is None). The prefix
    ends at the first event past the cursor; later events are never skipped."""

    def __init__(self, cursor: int | None, seen: set[tuple[object, ...]] | None) -> None:
        self.cursor = cursor
        self.seen = seen
        self.active = cursor is not None

    def skips(self, t: int, obj: dict[str, Any]) -> bool:
        if not self.active or self.cursor is None:
            return False
        if t < self.cursor:
            return True
        if t == self.cursor:
            return self.seen is None or _event_key(obj) in self.seen
        self.active = False
        return False


OnBatch: TypeAlias = Callable[[Mapped], Awaitable[None]] | Callable[[Mapped], None]


class _Stream:
    """The state :func:`stream_events` keeps across connections."""

    def __init__(
        self,
        on_batch: OnBatch,
        stats: StreamStats,
        max_events: int | None,
        batch_events: int,
        batch_ms: int,
        gap_s: float,
    ) -> None:
        self.on_batch = on_batch
        self.stats = stats
        self.max_events = max_events
        self.batch_events = batch_events
        self.batch_s = batch_ms / 1000
        self.gap_us = round(gap_s * 1_000_000)
        self.frames: list[bytes] = []
        self.events: list[object] = []
        #: Keys of the events handed on at ``stats.cursor_us``; None when the cursor came
        #: from outside (nothing handed on yet).
        self.seen: set[tuple[object, ...]] | None = None

    @property
    def done(self) -> bool:
        return self.max_events is not None and self.stats.events >= self.max_events

    async def flush(self) -> None:
        if not self.frames:
            return
        frames, events = self.frames, self.events
        self.frames, self.events = [], []
        mapped = _map(frames, events)
        result = self.on_batch(mapped)
        if inspect.isawaitable(result):
            await result
        stats = self.stats
        stats.batches += 1
        stats.posts += mapped.posts.height
        stats.dead += len(mapped.dead)
        for key, n in mapped.dropped.items():
            stats.dropped[key] = stats.dropped.get(key, 0) + n
        for obj in events:
            t = _time_us(obj)
            if t is None or not isinstance(obj, dict):
                continue
            if stats.cursor_us is None or t > stats.cursor_us:
                stats.cursor_us = t
                self.seen = {_event_key(obj)}
            elif t == stats.cursor_us and self.seen is not None:
                # (None, a cursor from outside: every event at it counts as handed on)
                self.seen.add(_event_key(obj))

    async def session(self, ws: ClientConnection) -> Exception | None:
        """Read one connection until ``max_events`` (None) or its loss (the error); what
        was received is handed on either way."""
        from websockets.exceptions import ConnectionClosed

        resume = _Resume(self.stats.cursor_us, None if self.seen is None else set(self.seen))
        first = resume.cursor is not None
        loop = asyncio.get_running_loop()
        deadline = 0.0
        while True:
            try:
                if self.frames:
                    async with asyncio.timeout_at(deadline):
                        frame = await ws.recv(decode=False)
                else:
                    frame = await ws.recv(decode=False)
            except TimeoutError:
                await self.flush()
                continue
            except ConnectionClosed as exc:
                await self.flush()
                return exc
            obj = _decode(frame)
            t = _time_us(obj)
            if t is not None and isinstance(obj, dict):
                if first and resume.cursor is not None:
                    first = False
                    self._check_gap(resume.cursor, t)
                if resume.skips(t, obj):
                    self.stats.replayed += 1
                    continue
            if not self.frames:
                deadline = loop.time() + self.batch_s
            self.frames.append(frame)
            self.events.append(obj)
            self.stats.events += 1
            if self.done:
                await self.flush()
                return None
            if len(self.frames) >= self.batch_events or loop.time() >= deadline:
                await self.flush()

    def _check_gap(self, cursor: int, t: int) -> None:
        if t - cursor <= self.gap_us:
            return
        self.stats.gaps += 1
        self.stats.gap_us += t - cursor
        log.warning(
            "jetstream: gap of %.1f s: the first event after connecting (time_us %d) is far "
            "past the cursor %d; the server no longer has the events between, or the cursor "
            "was in the future",
            (t - cursor) / 1e6,
            t,
            cursor,
        )


async def _close(ws: ClientConnection) -> None:
    """Close ``ws`` cleanly and at once: frames still coming are read and thrown away
    meanwhile (with its receive queue full, the connection would not read the server's
    close frame and would wait ``close_timeout`` for it)."""
    from websockets.exceptions import ConnectionClosed

    async def drain() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await ws.recv(decode=False)

    drainer = asyncio.create_task(drain())
    try:
        await ws.close()
    finally:
        drainer.cancel()


async def stream_events(
    url: str,
    *,
    cursor_us: int | None,
    on_batch: OnBatch,
    max_events: int | None = None,
    batch_events: int = 1000,
    batch_ms: int = 200,
    reconnect: Backoff = Backoff(),  # frozen: one shared default is safe
    gap_s: float = GAP_S,
    rng: random.Random | None = None,
    stats: StreamStats | None = None,
) -> StreamStats:
    """Read Jetstream at ``url`` from ``cursor_us`` (None: live) and hand each batch of
    frames, mapped, to ``on_batch`` (a function or a coroutine function; it is awaited
    before the next frame is read, and an exception from it ends the stream, the cursor
    left at the last batch it took). Returns after ``max_events`` frames (replays skipped
    not counted), or never: cancel the task to stop (frames not yet handed on are lost, and
    the cursor says so). See the module docstring for the cursor semantics. ``stats``:
    the counters to keep (read while it runs, e.g. by ``/metrics``); a new one by default.
    """
    try:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus
    except ImportError as exc:
        raise ConfigError(
            "reading Bluesky's Jetstream needs the websockets package: "
            "pip install 'datamoat[jetstream]'"
        ) from exc
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ConfigError(f"the Jetstream URL must be ws:// or wss://HOST/...: {url!r}")
    if batch_events < 1 or batch_ms < 0 or (max_events is not None and max_events < 1):
        raise ConfigError(
            "batch_events and max_events must be at least 1, and batch_ms at least 0: "
            f"got {batch_events}, {max_events} and {batch_ms}"
        )
    if stats is None:
        stats = StreamStats()
    stats.cursor_us = cursor_us
    stream = _Stream(on_batch, stats, max_events, batch_events, batch_ms, gap_s)
    rng = rng or random.Random()
    attempt = 0  # consecutive attempts without a frame
    lost: Exception
    while True:
        target = with_cursor(url, stats.cursor_us)
        try:
            ws = await connect(
                target,
                open_timeout=_OPEN_TIMEOUT_S,
                close_timeout=_CLOSE_TIMEOUT_S,
                max_size=MAX_FRAME_BYTES,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if 400 <= status < 500 and status != 429:
                raise ConfigError(
                    f"Jetstream refused the subscription {target!r}: HTTP {status}"
                ) from exc
            lost = exc
            stats.failed_connects += 1
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            lost = exc
            stats.failed_connects += 1
        else:
            stats.connects += 1
            if stats.connects > 1:
                stats.reconnects += 1
            before = stats.events + stats.replayed
            try:
                ended = await stream.session(ws)
            finally:
                await _close(ws)
            if ended is None:
                return stats
            lost = ended
            if stats.events + stats.replayed > before:
                attempt = 0
        if reconnect.max_retries is not None and attempt >= reconnect.max_retries:
            raise lost
        delay = reconnect.delay_s(attempt, rng)
        attempt += 1
        log.warning(
            "jetstream: connection to %s lost or refused (%s); reconnecting in %.2f s "
            "from cursor %s (attempt %d)",
            parts.hostname,
            str(lost) or type(lost).__name__,
            delay,
            stats.cursor_us,
            attempt,
        )
        await asyncio.sleep(delay)
