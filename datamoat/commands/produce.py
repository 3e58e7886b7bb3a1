"""``datamoat produce``: the firehose alone, paced into Kafka or unpaced into a file."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from datamoat.config import Config
from datamoat.errors import ConfigError
from datamoat.http import serve_firehose
from datamoat.options import add_common, add_firehose, config_from, now_ms, port, positive_int
from datamoat.pipeline import firehose_config
from datamoat.report import LiveLine, format_summary, make_summary, write_summary
from datamoat.runtime import on_signals
from ingest.firehose import Firehose, encode_keys, encode_values, realism_report, render_report
from ingest.firehose.parallel import PaceSpec, ShardPlan, merged_ndjson, new_stop, pace_shards
from ingest.kafka.producer import kafka_writer
from ingest.pacer import BEHIND_S, Pacer, PaceStats
from ingest.producer import FileWriter, PostWriter

__all__ = ["register"]

_EPILOG = """\
--report compares the stream with published figures (repost counts per original, cascade
delays, follower and hashtag tails, daily swing). It needs whole model days: e.g.
  datamoat produce --day-in 60 --posts 600000 --output /dev/null --report
With the default flat rate the daily swing is 1 by design and reported as out of range.
--procs N runs N processes, each generating its own slice of the same stream: a file is
byte for byte the one --procs 1 writes; into Kafka the union of the slices is the same posts.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "produce",
        help="run the synthetic firehose into Kafka (paced) or a file (--output, unpaced)",
        description="The synthetic X-scale firehose. Event times follow --rate from --start.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
    p.add_argument(
        "--procs", type=positive_int, default=1, help="producer processes sharing the stream"
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="print the realism report (stream statistics next to the reference values)",
    )
    p.add_argument(
        "--report-json", type=Path, default=None, help="write the realism report here (JSON)"
    )
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.add_argument(
        "--http-port", type=port, default=None, help="serve /metrics here (default: none)"
    )
    p.set_defaults(func=run_produce)


@dataclass
class _Progress:
    produced: int = 0
    rate: float = 0.0  # recent posts/s
    behind_s: float = 0.0
    warned: bool = False
    stalled: bool = False


def _line(progress: _Progress, target: float, realtime: bool) -> str:
    line = f"produced {progress.produced:,} ({progress.rate:,.0f}/s"
    line += f" of {target:,.0f}/s target)" if realtime else ")"
    if realtime and progress.behind_s > BEHIND_S:
        line += f" | CAN'T KEEP UP: {progress.behind_s:,.1f} s behind schedule"
    if progress.stalled:
        line += " | STALLED: Kafka acknowledges nothing"
    return line


def _warn_once(progress: _Progress, target: float) -> None:
    if progress.behind_s > BEHIND_S and not progress.warned:
        progress.warned = True
        print(
            f"datamoat produce: can't keep up with {target:,.0f} posts/s: sending "
            f"{progress.rate:,.0f}/s, {progress.behind_s:.1f} s behind schedule",
            file=sys.stderr,
            flush=True,
        )


def run_produce(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be a positive number of seconds")
    if args.output is not None and args.posts is None and args.duration is None:
        raise ConfigError("--output needs --posts N or --duration S (a file can't be endless)")
    if (args.report or args.report_json) and args.posts is None and args.duration is None:
        raise ConfigError("--report needs --posts N or --duration S (a sample to judge)")
    if args.output is None:  # before the clock starts: live posts are sent at their time
        _kafka_ready(config, args)
    start_ms = now_ms() if args.start is None else args.start
    fh_config, seed = firehose_config(config), config.firehose.seed
    end_ms = None if args.duration is None else start_ms + round(args.duration * 1000)
    plan = ShardPlan(fh_config, seed, start_ms, args.procs, args.posts, end_ms)
    realtime = args.output is None and not args.unpaced
    progress = _Progress()
    stop = new_stop() if args.procs > 1 else threading.Event()

    restore_signals = on_signals(stop.set, signal.SIGINT, signal.SIGTERM)
    live = None if args.quiet else LiveLine(lambda _: _line(progress, plan.config.rate, realtime))
    started = time.monotonic()
    server = None
    if args.http_port is not None:
        server = serve_firehose(
            lambda: progress.produced, config.http.host, args.http_port,
            target_rate=config.firehose.rate if realtime else None,
            kept_up=lambda: progress.behind_s <= BEHIND_S and not progress.stalled,
        )  # fmt: skip
    try:
        if live:
            live.start()
        if args.output is not None:
            result = _to_file(plan, args.output, stop, progress)
        else:
            result = _to_kafka(plan, config, args, realtime, stop, progress)
    finally:
        restore_signals()
        if live:
            live.stop()
        if server:
            server.stop()
    summary = make_summary(
        produced=int(result["produced"]),
        consumed=0,
        processed=0,
        dead_lettered=0,
        late=0,
        duration_s=time.monotonic() - started,
        producing_s=result["elapsed_s"],
        latencies=[],
        target_rate=plan.config.rate,
        procs=args.procs,
        max_behind_s=round(result["max_behind_s"], 3),
        kept_up=result["max_behind_s"] <= BEHIND_S and not result.get("stalls", 0),
        stalls=int(result.get("stalls", 0)),
        stalled_s=round(result.get("stalled_s", 0.0), 3),
    )
    for key in ("consumed", "processed", "dead_lettered", "late", "processed_per_s",
                "latency_p50_s", "latency_p99_s", "accounting_ok"):  # fmt: skip
        summary.pop(key)
    if summary["stalls"]:
        print(
            f"datamoat produce: STALLED {summary['stalls']} time(s), {summary['stalled_s']:.1f} s "
            "in all: Kafka acknowledged no send for that long (a broker, or the replicas of "
            "some partitions, down); nothing was dropped",
            file=sys.stderr,
        )
    elif realtime and not summary["kept_up"]:
        print(
            f"datamoat produce: COULD NOT KEEP UP with {plan.config.rate:,.0f} posts/s: "
            f"achieved {summary['produced_per_s']:,.0f}/s, up to {result['max_behind_s']:.1f} s "
            "behind schedule (broker unavailable or too slow: try --procs 2, "
            "--compression lz4 or a lower --rate)",
            file=sys.stderr,
        )
    write_summary(summary, args.summary_json)
    print(format_summary(summary))
    if args.report or args.report_json:
        _report(plan, args)
    return 0


def _to_file(plan: ShardPlan, path: Path, stop: Any, progress: _Progress) -> dict[str, float]:
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if plan.shards == 1:
        return _single(plan, FileWriter(path), False, 0, stop, progress)
    with path.open("wb") as fh:
        for chunk in merged_ndjson(plan):
            fh.write(chunk)
            progress.produced += chunk.count(b"\n")
            progress.rate = progress.produced / max(time.monotonic() - started, 1e-9)
            if stop.is_set():
                break
    elapsed = time.monotonic() - started
    return {"produced": progress.produced, "elapsed_s": elapsed, "max_behind_s": 0.0}


def _kafka_ready(config: Config, args: argparse.Namespace) -> None:
    """Wait for the broker and create the topics."""
    from datamoat.preflight import start_with_broker
    from datamoat.topics import create_topics

    start_with_broker(config.kafka.bootstrap, args.wait_for_broker, lambda: create_topics(config))


def _to_kafka(
    plan: ShardPlan,
    config: Config,
    args: argparse.Namespace,
    realtime: bool,
    stop: Any,
    progress: _Progress,
) -> dict[str, float]:
    compression = None if args.compression == "none" else args.compression
    make_writer = partial(
        kafka_writer, config.kafka.bootstrap, config.kafka.posts_topic, compression_type=compression
    )
    partitions = config.kafka.partitions
    if plan.shards == 1:
        return _single(plan, make_writer(), realtime, partitions, stop, progress)
    spec = PaceSpec(partitions, plan.config.rate, realtime)
    samples: list[tuple[float, float]] = []

    def on_progress(values: list[float]) -> None:
        now, produced = time.monotonic(), sum(values[0::3])
        samples.append((now, produced))
        while len(samples) > 2 and now - samples[0][0] > 10.0:
            samples.pop(0)
        then, before = samples[0]
        progress.produced = int(produced)
        progress.rate = (produced - before) / (now - then) if now > then else 0.0
        progress.behind_s = max(values[1::3])
        _warn_once(progress, plan.config.rate)

    return pace_shards(plan, spec, make_writer, stop, on_progress)


def _single(
    plan: ShardPlan,
    writer: PostWriter,
    realtime: bool,
    partitions: int,
    stop: Any,
    progress: _Progress,
) -> dict[str, float]:
    def log(line: str) -> None:
        progress.stalled = line.startswith("STALLED")
        print(f"datamoat produce: {line}", file=sys.stderr, flush=True)

    pacer = Pacer(
        firehose=Firehose(plan.config, plan.seed, plan.start_ms),
        writer=writer,
        encode_values=encode_values,
        encode_keys=encode_keys,
        start_ms=plan.start_ms,
        partitions=max(partitions, 1),
        rate=plan.config.rate,
        realtime=realtime,
        log=log,
    )

    def on_chunk(stats: PaceStats, n: int) -> None:
        progress.produced, progress.behind_s = stats.produced, stats.behind_s
        progress.rate = stats.recent_rate()
        if realtime:
            _warn_once(progress, plan.config.rate)

    duration = None if plan.end_ms is None else (plan.end_ms - plan.start_ms) / 1000.0
    try:
        stats = pacer.run(posts=plan.posts, duration_s=duration, stop=stop, on_chunk=on_chunk)
    finally:
        close = getattr(writer, "close", None)
        if close is not None:
            close()
    return {
        "produced": stats.produced,
        "elapsed_s": stats.elapsed_s,
        "max_behind_s": stats.max_behind_s,
        "stalls": stats.stalls,
        "stalled_s": stats.stalled_s,
    }


def _report(plan: ShardPlan, args: argparse.Namespace) -> None:
    """The realism report of the same posts (regenerated: the stream is a pure function)."""
    firehose = Firehose(plan.config, plan.seed, plan.start_ms)
    posts = firehose.take(plan.posts) if plan.posts else firehose.take_until(plan.end_ms or 0)
    report = {k: float(v) for k, v in realism_report(posts, day_in_s=plan.config.day_in_s).items()}
    if args.report_json is not None:
        args.report_json.parent.mkdir(parents=True, exist_ok=True)
        args.report_json.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    if args.report:
        print(f"\nrealism of {posts.height:,} posts (model days judged as real days):")
        print(render_report(report))
