"""``datamoat produce``: the firehose alone, paced into Kafka or unpaced into a file."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from datamoat.errors import ConfigError
from datamoat.options import add_common, add_firehose, config_from, now_ms, positive_int
from datamoat.pipeline import make_firehose
from datamoat.report import LiveLine, format_summary, make_summary, write_summary
from ingest.firehose import encode_keys, encode_values
from ingest.pacer import Pacer, PaceStats
from ingest.producer import FileWriter, KafkaPostWriter, PostWriter, post_producer
from sinks.prometheus import Metrics

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "produce",
        help="run the synthetic firehose into Kafka (paced) or a file (--output, unpaced)",
        description="The synthetic X-scale firehose. Event times follow --rate from --start.",
    )
    add_common(p)
    add_firehose(p)
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, default=None, help="seconds of event time")
    stop.add_argument("--posts", type=positive_int, default=None, help="exactly N posts")
    p.add_argument("--output", type=Path, default=None, help="write NDJSON here, not Kafka")
    p.add_argument(
        "--unpaced",
        action="store_true",
        help="send to Kafka as fast as possible (event times still follow --rate)",
    )
    p.add_argument("--compression", choices=["none", "lz4", "zstd", "gzip"], default="none")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.set_defaults(func=run_produce)


def run_produce(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be a positive number of seconds")
    if args.output is not None and args.posts is None and args.duration is None:
        raise ConfigError("--output needs --posts N or --duration S (a file can't be endless)")
    start_ms = now_ms() if args.start is None else args.start
    firehose = make_firehose(config, args, start_ms)
    rate = args.rate or config.firehose.rate
    writer: PostWriter
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        writer = FileWriter(args.output)
    else:
        from datamoat.commands.topics import create_topics

        create_topics(config)
        compression = None if args.compression == "none" else args.compression
        producer = post_producer(config.kafka.bootstrap, compression_type=compression)
        writer = KafkaPostWriter(producer, config.kafka.posts_topic)
    metrics = Metrics()
    pacer = Pacer(
        firehose=firehose,
        writer=writer,
        encode_values=encode_values,
        encode_keys=encode_keys,
        start_ms=start_ms,
        partitions=config.kafka.partitions,
        rate=rate,
        realtime=args.output is None and not args.unpaced,
    )
    progress = PaceStats()

    def on_chunk(stats: PaceStats, n: int) -> None:
        nonlocal progress
        progress = stats
        metrics.posts_produced.inc(n)

    def line(elapsed: float) -> str:
        behind = f" | BEHIND by {progress.behind_s:.1f} s" if progress.behind_s > 1 else ""
        rate_now = progress.produced / max(elapsed, 1e-9)
        return f"produced {progress.produced:,} ({rate_now:,.0f}/s){behind}"

    stop = threading.Event()
    live = None if args.quiet else LiveLine(line).start()
    started = time.monotonic()
    try:
        stats = pacer.run(posts=args.posts, duration_s=args.duration, stop=stop, on_chunk=on_chunk)
    except KeyboardInterrupt:
        stop.set()
        writer.flush()
        stats = progress
    finally:
        if live:
            live.stop()
        close = getattr(writer, "close", None)
        if close is not None:
            close()
    summary = make_summary(
        produced=stats.produced,
        consumed=0,
        processed=0,
        dead_lettered=0,
        late=0,
        duration_s=time.monotonic() - started,
        latencies=[],
        target_rate=rate,
        max_behind_s=round(stats.max_behind_s, 3),
    )
    for key in ("consumed", "processed", "dead_lettered", "late", "processed_per_s",
                "latency_p50_s", "latency_p99_s", "accounting_ok"):  # fmt: skip
        summary.pop(key)
    if stats.max_behind_s > 1.0:
        print(
            f"datamoat produce: fell behind schedule by up to {stats.max_behind_s:.1f} s: "
            f"this machine can't sustain {rate:,.0f} posts/s (try --compression lz4 or a "
            "lower --rate)",
            file=sys.stderr,
        )
    write_summary(summary, args.summary_json)
    print(format_summary(summary))
    return 0
