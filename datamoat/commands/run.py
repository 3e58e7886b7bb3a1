"""``datamoat run``: the main job. Broker (started when none is reachable), firehose and
worker together, a live line, metrics over HTTP, and a summary at exit."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from datamoat.broker import LocalCluster, is_reachable
from datamoat.commands.process import serve
from datamoat.config import Config
from datamoat.options import add_common, add_firehose, config_from, now_ms, port, positive_int
from datamoat.pipeline import build_worker, make_firehose, output_dir
from datamoat.report import format_summary, make_summary, output_of, write_summary
from datamoat.terminal import TerminalView
from datamoat.transport import Transport, kafka_transport, memory_transport
from ingest.firehose import encode_keys, encode_values
from ingest.pacer import Pacer, PaceStats

__all__ = ["register"]

#: How long a Ctrl-C waits for the worker to catch up before it stops anyway.
DRAIN_TIMEOUT_S = 30.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="the main job: firehose + worker (+ a local broker if none is reachable)",
        description="Run the firehose and a worker together until Ctrl-C, --duration or --posts.",
    )
    add_common(p)
    add_firehose(p)
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    stop.add_argument("--posts", type=positive_int, default=None, help="exactly N posts")
    p.add_argument("--transport", choices=["kafka", "memory"], default="kafka")
    p.add_argument(
        "--unpaced",
        action="store_true",
        help="generate as fast as possible (event times still follow --rate)",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="where signals/ goes")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--http-port", type=port, default=None, help="/metrics port (default 8000)")
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.set_defaults(func=run_run)


def run_run(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.duration is not None and args.duration <= 0:
        from datamoat.errors import ConfigError

        raise ConfigError("--duration must be a positive number of seconds")
    out = output_dir(args, config)
    cluster: LocalCluster | None = None
    if args.transport == "kafka" and not is_reachable(config.kafka.bootstrap, 3.0):
        cluster = _start_local_broker(config.kafka.bootstrap)
    transport: Transport = (
        memory_transport(config, out)
        if args.transport == "memory"
        else kafka_transport(config, out)
    )
    try:
        return _run(args, config, transport)
    finally:
        transport.close()
        if cluster is not None:
            print("datamoat run: stopping the local broker", file=sys.stderr)
            cluster.stop()


def _start_local_broker(bootstrap: str) -> LocalCluster:
    host, _, port_text = bootstrap.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port_text.isdigit():
        from datamoat.errors import BrokerError

        raise BrokerError(
            f"no Kafka broker reachable at {bootstrap}: start it, or point --bootstrap at one"
        )
    print(f"datamoat run: no broker at {bootstrap}, starting a local one ...", file=sys.stderr)
    cluster = LocalCluster(port=int(port_text))
    cluster.start()
    return cluster


def _run(args: argparse.Namespace, config: Config, transport: Transport) -> int:
    metrics = transport.metrics
    # Event time starts now, once the broker and topics are ready, unless --start says.
    start_ms = now_ms() if args.start is None else args.start
    worker = build_worker(
        config, transport.source, transport.sinks, transport.dead_letters, metrics
    )
    rate = args.rate or config.firehose.rate
    pacer = Pacer(
        firehose=make_firehose(config, args, start_ms),
        writer=transport.writer,
        encode_values=encode_values,
        encode_keys=encode_keys,
        start_ms=start_ms,
        partitions=config.kafka.partitions,
        rate=rate,
        realtime=not args.unpaced,
    )
    stop_producing, stop_working = threading.Event(), threading.Event()
    produced = PaceStats()
    producer_done = threading.Event()
    failure: list[BaseException] = []

    def on_chunk(stats: PaceStats, n: int) -> None:
        nonlocal produced
        produced = stats
        metrics.posts_produced.inc(n)

    def produce() -> None:
        nonlocal produced
        try:
            produced = pacer.run(
                posts=args.posts, duration_s=args.duration, stop=stop_producing, on_chunk=on_chunk
            )
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            stop_working.set()
        finally:
            transport.producer_finished()
            producer_done.set()

    interrupted: list[float] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if interrupted:
            stop_working.set()  # a second Ctrl-C: stop now
        else:
            interrupted.append(time.monotonic())
            stop_producing.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    server = serve(worker, config, 8000 if args.http_port is None else args.http_port, started)
    print(
        f"datamoat run: {rate:,.0f} posts/s over {args.transport}; metrics at "
        f"{server.url}metrics; Ctrl-C to stop",
        file=sys.stderr,
        flush=True,
    )

    def caught_up() -> bool:
        if not producer_done.is_set():
            return False
        if worker.stats.consumed >= produced.produced:
            return True
        return bool(interrupted) and time.monotonic() - interrupted[0] > DRAIN_TIMEOUT_S

    thread = threading.Thread(target=produce, name="datamoat-firehose", daemon=True)
    thread.start()
    view = TerminalView(metrics, rate, args.duration, args.posts)
    live = None if args.quiet else view.start()
    try:
        worker.run(stop_working, done=caught_up)
    finally:
        stop_producing.set()
        thread.join(timeout=10)
        if live:
            live.stop()
        server.stop()
    if failure:
        raise failure[0]
    s = worker.stats
    summary = make_summary(
        produced=produced.produced,
        consumed=s.consumed,
        processed=s.processed,
        dead_lettered=s.dead_lettered,
        late=s.late,
        duration_s=time.monotonic() - started,
        producing_s=produced.elapsed_s,
        latencies=s.latencies,
        target_rate=rate,
        windows_emitted=s.windows,
        signals_emitted=s.signals,
        dead_letter_reasons=s.dead_letter_reasons,
        trending=[k for k, _ in s.trending],
        trended=metrics.trended.report(),
        windows_flushed_early=metrics.signals_view()["windows_flushed_early"],
        transport=args.transport,
        output=output_of(transport.sinks, transport.dead_letters),
    )
    write_summary(summary, args.summary_json)
    print(format_summary(summary))
    return 0
