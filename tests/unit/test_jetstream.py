"""Bluesky's Jetstream as datamoat posts (``ingest/jetstream.py``): the mapping against posts
written by hand from hand-written events (``tests/data/jetstream/``), and the client against
a local replay server (``tests/support/jetstream_server.py``; never the real network)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import sys
from typing import Any

import orjson
import polars as pl
import pytest
from jsonschema import Draft202012Validator

import process.decode
from ingest.errors import ConfigError
from ingest.firehose import encode_values
from ingest.jetstream import (
    Backoff,
    Mapped,
    StreamStats,
    at_id,
    map_events,
    stream_events,
    with_cursor,
)
from ingest.schema import POST_SCHEMA
from tests.support.jetstream_server import RECORDED, JetstreamReplay, recorded_frames

pytestmark = pytest.mark.timeout(10)

FRAMES = recorded_frames()
EXPECTED: list[dict[str, Any]] = [
    orjson.loads(line)
    for line in (RECORDED / "expected_posts.ndjson").read_bytes().splitlines()
    if line
]
#: time_us of each frame (None for the malformed one), by line.
TIMES: list[int | None] = [orjson.loads(f)["time_us"] if f.endswith(b"}") else None for f in FRAMES]
LOGGER = "datamoat.ingest.jetstream"
#: Quick reconnections for the tests (the default first wait is up to 0.5 s).
QUICK = Backoff(first_s=0.01, max_s=0.05)
ALICE_POST = "at://did:plc:r3j7tkd4jx2uzwqbe5lyn6hs/app.bsky.feed.post/3l3qo2vutsw2b"


def line(n: int) -> bytes:
    """The frame of line ``n`` (from 1) of events.jsonl."""
    return FRAMES[n - 1]


# --- the mapping --------------------------------------------------------------------------


def test_the_recording_is_what_the_tests_say() -> None:
    assert len(FRAMES) == 26
    assert TIMES[12] is None  # line 13, cut short
    assert line(18)[:60] != line(19)[:60] and TIMES[17] == TIMES[18]  # one microsecond


def test_the_mapping_is_the_posts_written_by_hand() -> None:
    mapped = map_events(FRAMES)
    assert mapped.posts.schema == POST_SCHEMA
    assert mapped.posts.to_dicts() == EXPECTED


def test_dropped_events_are_counted_by_collection_and_operation() -> None:
    assert map_events(FRAMES).dropped == {
        "app.bsky.feed.like:create": 2,
        "app.bsky.feed.like:delete": 1,
        "app.bsky.graph.follow:create": 1,
        "app.bsky.graph.block:create": 1,
        "app.bsky.feed.post:delete": 1,
        "app.bsky.feed.post:update": 1,
        "app.bsky.feed.repost:delete": 1,
        "identity": 1,
        "account": 1,
    }


def test_dead_letters_keep_the_frame_and_say_why() -> None:
    mapped = map_events(FRAMES)
    assert mapped.dead == [
        (line(13), "not_json"),
        (line(14), "missing_field:commit.rkey"),
        (line(25), "missing_field:record.reply.parent"),
    ]
    assert all(any(frame is f for f in FRAMES) for frame, _ in mapped.dead)  # the same bytes
    # every frame is a post, a drop or a dead letter
    assert mapped.posts.height + sum(mapped.dropped.values()) + len(mapped.dead) == len(FRAMES)
    assert mapped.newest_us == max(t for t in TIMES if t is not None) == 1725911165407731


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"", "not_json"),
        (b"\xff\xfe", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'{"kind": "commit"}', "missing_field:time_us"),
        (b'{"time_us": "1", "kind": "commit"}', "wrong_type:time_us"),
        (b'{"time_us": 1}', "missing_field:kind"),
        (b'{"time_us": 1, "kind": "commit"}', "missing_field:commit"),
        (b'{"time_us": 1, "kind": ["commit"]}', "wrong_type:kind"),
        (b'{"time_us": 1, "kind": "commit", "commit": {"operation": "create"}}',
         "missing_field:commit.collection"),
        (b'{"time_us": 1, "kind": "commit", "commit": {"operation": "create", "rkey": "r",'
         b' "collection": "app.bsky.feed.post", "record": {"text": "x"}}}', "missing_field:did"),
        (b'{"did": "d", "time_us": 1, "kind": "commit", "commit": {"operation": "create",'
         b' "rkey": "r", "collection": "app.bsky.feed.repost", "record": {"subject": {}}}}',
         "missing_field:record.subject.uri"),
        (b'{"did": ["d"], "time_us": 1, "kind": "commit", "commit": {"operation": "create",'
         b' "rkey": "r", "collection": "app.bsky.feed.repost", "record": {"subject": {}}}}',
         "wrong_type:did"),
        (b'{"did": "d", "time_us": 1, "kind": "commit", "commit": {"operation": "create",'
         b' "rkey": "r", "collection": "app.bsky.feed.post", "record": {"text": "",'
         b' "reply": "at://x"}}}', "wrong_type:record.reply"),
        (b'{"did": "d", "time_us": 1, "kind": "commit", "commit": {"operation": "create",'
         b' "rkey": "r", "collection": "app.bsky.feed.post", "record": {"text": 5}}}',
         "wrong_type:record.text"),
        (b'{"did": "d", "time_us": 1, "kind": "commit", "commit": {"operation": "create",'
         b' "rkey": "r", "collection": "app.bsky.feed.post", "record": {"text": "",'
         b' "embed": {"$type": "app.bsky.embed.record", "record": {"cid": "c"}}}}}',
         "missing_field:record.embed.record.uri"),
    ],
)  # fmt: skip
def test_each_dead_letter_reason(frame: bytes, reason: str) -> None:
    mapped = map_events([frame])
    assert mapped.dead == [(frame, reason)]
    assert mapped.posts.is_empty() and mapped.posts.schema == POST_SCHEMA


def test_no_frames_no_posts() -> None:
    mapped = map_events([])
    assert mapped.posts.is_empty() and mapped.posts.schema == POST_SCHEMA
    assert (mapped.dead, mapped.dropped, mapped.newest_us) == ([], {}, None)


def test_ids_are_stable_and_link_replies_to_their_parents() -> None:
    assert at_id(ALICE_POST) == 4898086641082781549  # pinned: ids must never change
    assert at_id("did:plc:r3j7tkd4jx2uzwqbe5lyn6hs") == 4357694450698901154
    for text in ("", "x", ALICE_POST, "did:web:example.com", *map(str, range(1000))):
        assert 1 <= at_id(text) < 2**63
    posts = map_events(FRAMES).posts
    # one frame alone maps to the ids it gets in a batch
    assert map_events([line(3)]).posts.row(0) == posts.row(1)
    ids = dict(zip(posts["text"], posts["post_id"], strict=False))
    by_id = {row["post_id"]: row for row in posts.to_dicts()}
    alice = ids["Morning! Shipping a #Rust release today"]
    bob = ids["Congrats, can't wait to try it"]
    carol = by_id[ids["Same here #RustLang, see also this"]]
    assert (by_id[bob]["parent_id"], by_id[bob]["root_id"]) == (alice, alice)
    assert (carol["parent_id"], carol["root_id"]) == (bob, alice)  # a reply even if it quotes
    # every parent in the recording is a post of the recording
    children = posts.filter(pl.col("parent_id").is_not_null())
    assert set(children["parent_id"]) <= set(posts["post_id"])


def test_the_posts_are_valid_datamoat_records() -> None:
    """Through the worker's own decoder and the published JSON Schema."""
    posts = map_events(FRAMES).posts
    values = encode_values(posts)
    decoded = process.decode.decode(values)
    assert decoded.rejects.is_empty()
    assert decoded.posts.select(POST_SCHEMA.names()).to_dicts() == EXPECTED
    schema = json.loads((RECORDED.parents[2] / "docs/schema/post.schema.json").read_text())
    validator = Draft202012Validator(schema)
    assert [e.message for v in values for e in validator.iter_errors(orjson.loads(v))] == []


def test_with_cursor_sets_or_replaces_the_cursor() -> None:
    base = "wss://h/subscribe?wantedCollections=app.bsky.feed.post&wantedCollections=app.bsky.*"
    assert with_cursor(base, None) == base
    assert with_cursor(base, 17) == base + "&cursor=17"
    assert with_cursor(with_cursor(base, 17), 18) == base + "&cursor=18"
    assert with_cursor("ws://h/subscribe?cursor=5", None) == "ws://h/subscribe"
    assert (
        with_cursor("ws://h/s?wantedDids=did:plc:abc", 1)
        == "ws://h/s?wantedDids=did:plc:abc&cursor=1"
    )


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    backoff = Backoff()
    assert [backoff.ceiling_s(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling_s(10**6) == 30  # no overflow
    rng = random.Random(1)
    for n in range(8):
        delays = [backoff.delay_s(n, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= backoff.ceiling_s(n)
        assert max(delays) > 0.8 * backoff.ceiling_s(n)  # the whole range is used


# --- the client ---------------------------------------------------------------------------


class Collect:
    """An ``on_batch`` that keeps every batch (async, or sync with ``sync=True``)."""

    def __init__(self) -> None:
        self.batches: list[Mapped] = []

    async def __call__(self, mapped: Mapped) -> None:
        await asyncio.sleep(0)
        self.batches.append(mapped)

    def sync(self, mapped: Mapped) -> None:
        self.batches.append(mapped)

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [row for b in self.batches for row in b.posts.to_dicts()]

    @property
    def dead(self) -> list[tuple[bytes, str]]:
        return [d for b in self.batches for d in b.dead]


def run(
    server: JetstreamReplay, collect: Collect, url: str | None = None, **kwargs: Any
) -> StreamStats:
    async def main() -> StreamStats:
        async with server:
            return await stream_events(
                url or server.url, on_batch=collect, reconnect=QUICK, **kwargs
            )

    return asyncio.run(main())


def test_every_post_arrives_once_in_order() -> None:
    server = JetstreamReplay(FRAMES)
    collect = Collect()
    stats = run(
        server, collect, cursor_us=None, max_events=len(FRAMES), batch_events=4, batch_ms=10_000
    )
    assert collect.posts == EXPECTED
    assert [len(b.posts) + len(b.dead) + sum(b.dropped.values()) for b in collect.batches] == [
        4, 4, 4, 4, 4, 4, 2,
    ]  # fmt: skip
    assert collect.dead == map_events(FRAMES).dead
    assert server.cursors == [None]
    assert stats == StreamStats(
        events=26,
        posts=13,
        dead=3,
        dropped=map_events(FRAMES).dropped,
        batches=7,
        connects=1,
        cursor_us=TIMES[-1],
    )


def test_odd_frames_in_the_stream_become_dead_letters() -> None:
    odd = [
        b'{"did": {"x": 1}, "time_us": 1725911162412731, "kind": "commit", "commit": {'
        b'"operation": "create", "collection": "app.bsky.feed.post", "rkey": ["r"]}}',
        b"\xff not even UTF-8",
    ]
    server = JetstreamReplay([line(1), *odd, line(3)])
    collect = Collect()
    stats = run(server, collect, cursor_us=None, max_events=4)
    assert collect.posts == EXPECTED[:2]
    assert collect.dead == [(odd[0], "wrong_type:did"), (odd[1], "not_json")]
    assert stats.cursor_us == TIMES[2]


def test_a_sync_on_batch_and_the_batch_timer() -> None:
    """Ten frames, batches of up to 1000: the timer hands them on; the stream goes on."""
    server = JetstreamReplay(FRAMES[:10])
    collect = Collect()

    def handed_on() -> int:
        return sum(len(b.posts) + len(b.dead) + sum(b.dropped.values()) for b in collect.batches)

    async def main() -> None:
        async with server:
            task = asyncio.create_task(
                stream_events(server.url, cursor_us=None, on_batch=collect.sync, batch_ms=20)
            )
            for _ in range(200):
                await asyncio.sleep(0.01)
                if handed_on() == 10:
                    break
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert collect.posts == EXPECTED[:6]
    assert handed_on() == 10


def test_a_dropped_connection_resumes_from_the_cursor_without_duplicates(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # connection 0 sends lines 1-5; connection 1 (cursor = line 5) resends line 5, then
    # 6-12; connection 2 (cursor = line 12) resends 12 and sends the rest.
    server = JetstreamReplay(FRAMES, drop_after=[5, 8])
    collect = Collect()
    with caplog.at_level(logging.WARNING, LOGGER):
        stats = run(server, collect, cursor_us=None, max_events=len(FRAMES), batch_events=3)
    assert server.cursors == [None, TIMES[4], TIMES[11]]
    assert server.sent == [5, 8, 15]
    assert collect.posts == EXPECTED
    assert collect.dead == map_events(FRAMES).dead
    assert (stats.events, stats.replayed, stats.reconnects, stats.gaps) == (26, 2, 2, 0)
    lines = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(lines) == 2
    assert all("lost" in m and "reconnecting" in m for m in lines)
    assert f"from cursor {TIMES[4]}" in lines[0]


def test_two_events_of_one_microsecond_split_by_a_drop_are_both_delivered() -> None:
    # line 18 and line 19 share a time_us: the drop comes between them
    server = JetstreamReplay(FRAMES, drop_after=[18])
    collect = Collect()
    stats = run(server, collect, cursor_us=None, max_events=len(FRAMES))
    assert server.cursors == [None, TIMES[17]]
    assert collect.posts == EXPECTED
    assert (stats.replayed, stats.reconnects) == (1, 1)


def test_an_aborted_connection_loses_nothing_and_repeats_nothing() -> None:
    server = JetstreamReplay(FRAMES, drop_after=[3, 4, 6, 5], drop="abort")
    collect = Collect()
    stats = run(server, collect, cursor_us=None, max_events=len(FRAMES), batch_events=2)
    assert collect.posts == EXPECTED
    assert stats.reconnects == 4
    resumed = server.cursors[1:]
    assert None not in resumed and resumed == sorted(resumed)  # type: ignore[type-var]


def test_resuming_from_a_cursor_skips_what_came_before() -> None:
    # line 7 (frank's repost) was the last event handed on before the restart
    server = JetstreamReplay(FRAMES)
    collect = Collect()
    stats = run(server, collect, cursor_us=TIMES[6], max_events=len(FRAMES) - 7)
    assert server.cursors == [TIMES[6]]
    assert collect.posts == EXPECTED[6:]  # the posts of lines 18 to 26
    assert (stats.replayed, stats.gaps, stats.cursor_us) == (1, 0, TIMES[-1])


def test_a_cursor_the_server_no_longer_has_is_a_gap(caplog: pytest.LogCaptureFixture) -> None:
    server = JetstreamReplay(FRAMES)
    collect = Collect()
    minute_early = 1725911162329308 - 60_000_000  # line 1's time_us, less a minute
    with caplog.at_level(logging.WARNING, LOGGER):
        stats = run(server, collect, cursor_us=minute_early, max_events=5)
    assert (stats.gaps, stats.gap_us, stats.replayed) == (1, 60_000_000, 0)
    assert collect.posts == EXPECTED[:4]
    (message,) = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert "gap of 60.0 s" in message


def test_max_events_stops_the_stream() -> None:
    server = JetstreamReplay(FRAMES)
    collect = Collect()
    stats = run(server, collect, cursor_us=None, max_events=5)
    assert (stats.events, stats.posts, stats.cursor_us) == (5, 4, TIMES[4])
    assert collect.posts == EXPECTED[:4]


def test_wanted_collections_pass_to_the_server() -> None:
    server = JetstreamReplay(FRAMES)
    collect = Collect()

    async def main() -> StreamStats:
        async with server:
            url = server.url + "?wantedCollections=app.bsky.feed.post"
            return await stream_events(url, cursor_us=None, on_batch=collect, max_events=18)

    stats = asyncio.run(main())
    assert collect.posts == [p for p in EXPECTED if p["kind"] != "repost"]
    assert stats.dropped == {
        "app.bsky.feed.post:delete": 1,
        "app.bsky.feed.post:update": 1,
        "identity": 1,
        "account": 1,
    }


def test_from_a_thread_as_a_subprocess_test_would() -> None:
    collect = Collect()
    with JetstreamReplay(FRAMES, drop_after=[10]).threaded() as server:
        stats = asyncio.run(
            stream_events(
                server.url, cursor_us=None, on_batch=collect, max_events=26, reconnect=QUICK
            )
        )
    assert collect.posts == EXPECTED
    assert stats.reconnects == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_unreachable_server_is_retried_then_given_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"ws://127.0.0.1:{closed_port()}/subscribe"
    with caplog.at_level(logging.WARNING, LOGGER), pytest.raises(OSError):
        asyncio.run(
            stream_events(
                url, cursor_us=None, on_batch=Collect(), reconnect=Backoff(0.01, 0.02, 2.0, 3)
            )
        )
    assert len([r for r in caplog.records if r.name == LOGGER]) == 3


def test_a_refused_subscription_is_a_config_error() -> None:
    server = JetstreamReplay(FRAMES, reject_status=400)
    with pytest.raises(ConfigError, match="HTTP 400"):
        run(server, Collect(), cursor_us=None)


def test_an_error_in_on_batch_ends_the_stream() -> None:
    def fail(mapped: Mapped) -> None:
        raise RuntimeError("sink down")

    server = JetstreamReplay(FRAMES)

    async def main() -> StreamStats:
        async with server:
            return await stream_events(server.url, cursor_us=None, on_batch=fail, max_events=5)

    with pytest.raises(RuntimeError, match="sink down"):
        asyncio.run(main())


@pytest.mark.parametrize(
    ("url", "kwargs"),
    [
        ("https://jetstream.example/subscribe", {}),
        ("ws:///subscribe", {}),
        ("ws://h/subscribe", {"batch_events": 0}),
        ("ws://h/subscribe", {"max_events": 0}),
    ],
)
def test_bad_arguments_are_config_errors(url: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        asyncio.run(stream_events(url, cursor_us=None, on_batch=Collect(), **kwargs))


def test_without_websockets_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "websockets.asyncio.client", None)
    with pytest.raises(ConfigError, match=r"pip install 'datamoat\[jetstream\]'") as info:
        asyncio.run(stream_events("ws://h/s", cursor_us=None, on_batch=Collect()))
    assert "\n" not in str(info.value)
