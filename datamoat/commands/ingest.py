"""``datamoat ingest``: real posts into the pipeline's contract.

* ``ingest file F``: a dump of posts (NDJSON or CSV, a field map, or the X API v1.1 and v2
  presets: :mod:`ingest.dumps`). Disorder beyond the allowed lateness is reported before
  anything is sent (``--sort`` sends in time order), duplicate ``post_id``\\ s are dropped
  and counted, and a record that can't become a post goes to the dead letters with its
  text and a reason.
* ``ingest jetstream``: Bluesky's Jetstream, the public JSON-over-WebSocket stream of the
  whole network (:mod:`ingest.jetstream`), with reconnects from a cursor.

Both write NDJSON with ``--output F`` (the format ``datamoat process --input`` replays), or
to the ``posts`` topic (key = author id).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from datamoat.errors import ConfigError
from datamoat.options import (
    add_config,
    add_kafka,
    config_from,
    port,
    positive_float,
    positive_int,
)
from datamoat.preflight import check_port_free, start_with_broker
from datamoat.report import LiveLine, write_summary
from ingest.firehose import encode_keys, encode_values
from ingest.producer import FileWriter, PostWriter, partitions_of

if TYPE_CHECKING:
    from datamoat.http import MetricsServer

__all__ = ["BATCH_EVENTS", "register"]

#: Events per batch (one Kafka transaction each; a batch also closes after 200 ms): at
#: Jetstream's own 400-2,000 events/s a batch is the 200 ms, at a replay's 20k/s and more
#: the transactions stay few enough not to be the wall.
BATCH_EVENTS = 5_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ingest",
        help="real posts in: a dump file, or Bluesky's Jetstream",
        description="Bring real posts into datamoat's post contract ('datamoat schema post'), "
        "to an NDJSON file (--output) or the posts topic.",
    )
    kinds = p.add_subparsers(dest="source", required=True, metavar="{file,jetstream}")
    f = kinds.add_parser(
        "file",
        help="a dump of posts: NDJSON or CSV, a field map, or the X API presets",
        description="Read a dump of posts and write them in datamoat's contract.",
    )
    f.add_argument("file", type=Path, metavar="FILE", help="the dump (.ndjson/.jsonl/.json/.csv)")
    f.add_argument("--format", choices=("ndjson", "jsonl", "json", "csv"), default=None)
    f.add_argument("--preset", choices=("x-v1.1", "x-v2"), default=None, help="X API tweets")
    f.add_argument(
        "--map",
        default=None,
        metavar="FIELD=SOURCE,...",
        help="datamoat field = the dump's field (dotted path), e.g. post_id=id,created_at=ts",
    )
    f.add_argument("--sort", action="store_true", help="send the posts in time order")
    f.add_argument(
        "--lateness-s",
        type=positive_float,
        default=5.0,
        help="disorder beyond this many seconds is reported (default 5, the pipeline's)",
    )
    _outputs(f)
    f.set_defaults(func=run_file)

    j = kinds.add_parser(
        "jetstream",
        help="Bluesky's Jetstream: posts, replies, quotes and reposts of the whole network",
        description="Read a Jetstream endpoint (JSON over WebSocket) and write its posts in "
        "datamoat's contract; reconnects with backoff from the last event's cursor.",
    )
    j.add_argument("--url", default=None, help="the endpoint (default: Bluesky's public one)")
    j.add_argument("--cursor", type=int, default=None, metavar="US", help="start at time_us")
    j.add_argument("--max-events", type=positive_int, default=None, help="stop after N events")
    j.add_argument(
        "--name",
        default="jetstream",
        help="this ingest's name: its transactional id and its cursor's key and topic "
        "(<name>.cursor); a restarted ingest of the same name resumes after its cursor",
    )
    j.add_argument(
        "--http-port",
        type=port,
        default=None,
        help="serve /metrics, /healthz and /readyz on this port (0 = any free one; "
        "default: none): events, posts, drops by kind, dead letters, reconnects, cursor lag",
    )
    _outputs(j)
    j.set_defaults(func=run_jetstream)


def _outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", type=Path, default=None, help="write NDJSON here, not Kafka")
    p.add_argument(
        "--dead-letters",
        type=Path,
        default=None,
        metavar="F",
        help="write what can't become a post here (JSON lines: line, reason, record)",
    )
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--quiet", action="store_true", help="no live line")
    add_config(p)
    add_kafka(p)


def _writer(args: argparse.Namespace) -> tuple[PostWriter, int, str]:
    """The posts' writer, its partition count and where it writes."""
    if args.output is not None:
        return FileWriter(args.output), 1, str(args.output)
    from ingest.kafka.producer import kafka_writer

    config = config_from(args)
    k = config.kafka
    writer = start_with_broker(
        k.bootstrap, args.wait_for_broker, lambda: kafka_writer(k.bootstrap, k.posts_topic)
    )
    return writer, k.partitions, f"{k.posts_topic}@{k.bootstrap}"


def _kafka_ingest(args: argparse.Namespace) -> tuple[Any, int, str, int | None]:
    """Exactly once into Kafka: the topics, the ingest's last committed cursor, and its
    transactional writer (which fences a predecessor of the same name)."""
    from datamoat.topics import create_topics
    from ingest.kafka.cursor import CursorWriter, read_cursor

    config = config_from(args)
    k = config.kafka

    def start() -> tuple[CursorWriter, int | None]:
        create_topics(config)
        writer = CursorWriter(k.bootstrap, args.name, k.posts_topic, k.dlq_topic)
        try:
            return writer, read_cursor(k.bootstrap, args.name)  # after the fence: none open
        except BaseException:
            writer.close()
            raise

    writer, committed = start_with_broker(k.bootstrap, args.wait_for_broker, start)
    return writer, k.partitions, f"{k.posts_topic}@{k.bootstrap}", committed


def _close(writer: PostWriter) -> None:
    writer.flush()
    close = getattr(writer, "close", None)
    if close is not None:
        close()


def run_file(args: argparse.Namespace) -> int:
    from ingest.dumps import parse_map, read_dump

    mapping = parse_map(args.map) if args.map else None
    began = time.monotonic()
    dump = read_dump(
        args.file,
        fmt=args.format,
        preset=args.preset,
        mapping=mapping,
        sort=args.sort,
        lateness_ms=round(args.lateness_s * 1000),
    )
    say = sys.stderr
    print(
        f"datamoat ingest: {args.file}: {dump.records:,} records, {dump.posts.height:,} posts, "
        f"{dump.rejects.height:,} rejected, {dump.duplicates:,} duplicate post ids dropped",
        file=say,
    )
    if dump.disorder:
        print(
            f"datamoat ingest: {dump.disorder:,} posts are more than {args.lateness_s:g} s "
            f"behind a newer one (up to {dump.max_disorder_ms / 1000:,.1f} s): a pipeline "
            "with that lateness counts them late; pass --sort to send them in time order",
            file=say,
        )
    writer, partitions, where = _writer(args)
    posts = dump.posts
    try:
        writer.write(partitions_of(posts, partitions), encode_keys(posts), encode_values(posts))
    finally:
        _close(writer)
    if args.dead_letters is not None and dump.rejects.height:
        with open(args.dead_letters, "wb") as fh:
            for row in dump.rejects.iter_rows(named=True):
                fh.write(orjson.dumps(row) + b"\n")
    summary = {
        "file": str(args.file),
        "output": where,
        "records": dump.records,
        "posts": posts.height,
        "rejected": dump.rejects.height,
        "reasons": dict(dump.rejects.group_by("reason").len().iter_rows()),
        "duplicates": dump.duplicates,
        "disorder": dump.disorder,
        "max_disorder_ms": dump.max_disorder_ms,
        "sorted": args.sort,
        "elapsed_s": round(time.monotonic() - began, 3),
    }
    write_summary(summary, args.summary_json)
    print(f"datamoat ingest: {posts.height:,} posts to {where}", file=say)
    return 0


class _Jetstream:
    """The batch hook: posts to the writer (or, into Kafka, posts, dead letters and the
    cursor in one transaction), dead letters to their file, a live line."""

    def __init__(
        self,
        writer: PostWriter | None,
        partitions: int,
        dead: Path | None,
        live: bool,
        kafka: Any = None,
        cursor_us: int | None = None,
        counters: Any = None,
    ):
        from ingest.jetstream import StreamStats

        self.writer, self.partitions, self.kafka = writer, partitions, kafka
        #: The stream's counters (the same object stream_events keeps).
        self.counters: StreamStats = counters if counters is not None else StreamStats()
        self.cursor_us = cursor_us
        self.dead = open(dead, "wb") if dead is not None else None  # noqa: SIM115 - closed below
        self.line = LiveLine(stream=sys.stderr) if live else None
        self.posts = 0
        self.began = time.monotonic()

    def __call__(self, mapped: Any) -> None:
        posts = mapped.posts
        if mapped.newest_us is not None:
            self.cursor_us = max(self.cursor_us or 0, mapped.newest_us)
        parts, keys, values = (
            partitions_of(posts, self.partitions), encode_keys(posts), encode_values(posts)
        )  # fmt: skip
        if self.kafka is not None:
            if self.cursor_us is not None:
                self.kafka.commit(parts, keys, values, mapped.dead, self.cursor_us)
        elif posts.height and self.writer is not None:
            self.writer.write(parts, keys, values)
        self.posts += posts.height
        if self.dead is not None:
            for raw, reason in mapped.dead:
                self.dead.write(orjson.dumps({"reason": reason, "record": raw.decode(
                    "utf-8", errors="backslashreplace")}) + b"\n")  # fmt: skip
        if self.line is not None and mapped.newest_us is not None:
            self.line.show(self.says())

    def says(self) -> str:
        """The live line: events/s, kept, dropped, dead-lettered, reconnects, cursor lag."""
        s = self.counters
        rate = s.events / max(time.monotonic() - self.began, 1e-9)
        lag = "-" if s.cursor_us is None else f"{time.time() - s.cursor_us / 1e6:,.1f} s"
        return (
            f"datamoat ingest jetstream: {s.events:,} events ({rate:,.0f}/s) | kept "
            f"{self.posts:,} | dropped {sum(s.dropped.values()):,} | dead {s.dead:,} | "
            f"reconnects {s.reconnects} | cursor lag {lag}"
        )

    def close(self) -> None:
        if self.line is not None:
            self.line.clear()
        if self.dead is not None:
            self.dead.close()


def _serve(host: str, http_port: int, counters: Any, hook: _Jetstream) -> MetricsServer:
    """The adapter's endpoint: ``/metrics`` from its counters, ``/status`` a summary."""
    from datamoat.http import MetricsServer
    from datamoat.ingest_metrics import ingest_registry

    registry = ingest_registry(counters, lambda: hook.posts)
    status = lambda: {"role": "ingest", "posts": hook.posts, "events": counters.events}  # noqa: E731
    server = MetricsServer(registry, status, host, http_port).start()
    print(f"datamoat ingest jetstream: metrics at {server.url}metrics", file=sys.stderr)
    return server


def run_jetstream(args: argparse.Namespace) -> int:
    from ingest.jetstream import JETSTREAM_URL, StreamStats, stream_events

    url = args.url or JETSTREAM_URL
    if not url.startswith(("ws://", "wss://")):
        raise ConfigError(f"--url {url!r} is not a WebSocket address (ws:// or wss://)")
    live = sys.stderr.isatty() and not args.quiet
    host = config_from(args).http.host
    if args.http_port is not None:  # a busy port fails before anything starts
        check_port_free(host, args.http_port)
    cursor, kafka, writer = args.cursor, None, None
    if args.output is not None:
        writer, partitions, where = _writer(args)
    else:
        kafka, partitions, where, committed = _kafka_ingest(args)
        if cursor is None and committed is not None:
            cursor = committed
            print(f"datamoat ingest jetstream: resuming after cursor {committed}", file=sys.stderr)
    counters = StreamStats()
    hook = _Jetstream(writer, partitions, args.dead_letters, live, kafka, cursor, counters)
    server = None
    try:
        if args.http_port is not None:
            server = _serve(host, args.http_port, counters, hook)
        stats: StreamStats | None = asyncio.run(
            stream_events(
                url,
                cursor_us=cursor,
                on_batch=hook,
                max_events=args.max_events,
                batch_events=BATCH_EVENTS,
                stats=counters,
            )
        )
    except KeyboardInterrupt:
        stats = None
    finally:
        hook.close()
        if server is not None:
            server.stop()
        if writer is not None:
            _close(writer)
        if kafka is not None:
            kafka.close()
    summary: dict[str, Any] = {"url": url, "output": where, "posts": hook.posts,
                               "cursor_us": hook.cursor_us}  # fmt: skip
    if stats is not None:
        summary.update(
            {
                "events": stats.events,
                "events_per_s": round(stats.events / max(time.monotonic() - hook.began, 1e-9), 1),
                "cursor_lag_s": None
                if stats.cursor_us is None
                else round(max(0.0, time.time() - stats.cursor_us / 1e6), 3),
                "dead_lettered": stats.dead,
                "dropped": dict(stats.dropped),
                "reconnects": stats.reconnects,
                "gaps": stats.gaps,
            }
        )
    write_summary(summary, args.summary_json)
    print(f"datamoat ingest jetstream: {hook.posts:,} posts to {where}", file=sys.stderr)
    return 0
