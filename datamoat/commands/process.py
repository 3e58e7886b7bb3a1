"""``datamoat process``: one worker of the consumer group, or a replay of an NDJSON file."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from datamoat.checkpoint import CheckpointStore
from datamoat.config import Config
from datamoat.errors import ConfigError
from datamoat.http import MetricsServer
from datamoat.metrics import Metrics
from datamoat.options import add_common, config_from, port
from datamoat.pipeline import build_worker, output_dir
from datamoat.preflight import require_topic, wait_for_broker
from datamoat.report import LiveLine, format_summary, make_summary, write_summary
from datamoat.worker import Worker
from ingest.file_source import FileSource
from ingest.kafka_source import KafkaSource, consumer_config
from sinks.file import FileDeadLetterSink
from sinks.kafka import KafkaDeadLetterSink, KafkaSignalSink, signal_producer
from sinks.parquet import ParquetSink

__all__ = ["register", "serve", "status_of", "worker_line"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "process",
        help="run one worker of the consumer group (or replay a file with --input)",
        description="Consume posts from Kafka in micro-batches and write window signals.",
    )
    add_common(p)
    p.add_argument("--group", default=None, help="consumer group (default: config, datamoat)")
    p.add_argument(
        "--instance-id",
        default=None,
        help="static group membership id: a restarted worker takes its partitions back at "
        "once instead of waiting for the session timeout",
    )
    p.add_argument(
        "--until-idle", action="store_true", help="exit once caught up and idle (then flush)"
    )
    p.add_argument("--idle-s", type=float, default=3.0, help="idle time for --until-idle")
    p.add_argument(
        "--input",
        type=Path,
        default=None,
        help="replay an NDJSON file, a named pipe or - (stdin), no Kafka",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="where signals/ goes")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument(
        "--http-port",
        type=port,
        default=None,
        help="/metrics port (default: config; 0 = any; with --input, none unless given)",
    )
    p.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=None,
        help="where the open-window state is checkpointed (default OUTPUT_DIR/checkpoints)",
    )
    p.add_argument(
        "--checkpoint-interval", type=float, default=5.0, help="seconds between checkpoints"
    )
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.set_defaults(func=run_process)


def status_of(worker: Worker, started: float) -> dict[str, object]:
    s = worker.stats
    elapsed = max(time.monotonic() - started, 1e-9)
    return {
        "consumed": s.consumed,
        "processed": s.processed,
        "processed_per_s": round(s.processed / elapsed, 1),
        "dead_lettered": s.dead_lettered,
        "late": s.late,
        "windows_emitted": s.windows,
        "open_windows": worker.engine.open_windows,
        "trending": [k for k, _ in s.trending[:5]],
    }


def serve(worker: Worker, config: Config, port: int, started: float) -> MetricsServer:
    """Start the worker's HTTP endpoint (/metrics, /status, /) on ``port`` (0: any free)."""
    server = MetricsServer.for_metrics(
        worker.metrics, lambda: status_of(worker, started), host=config.http.host, port=port
    )
    return server.start()


def worker_line(worker: Worker, elapsed: float) -> str:
    s = worker.stats
    rate = s.processed / max(elapsed, 1e-9)
    return (
        f"processed {s.processed:,} ({rate:,.0f}/s) | dead-lettered {s.dead_lettered:,} | "
        f"late {s.late:,} | windows {s.windows:,} | open {worker.engine.open_windows}"
    )


def fault_from_env() -> Callable[[str], None]:
    """``DATAMOAT_CRASH_AT=point:n`` kills this process (SIGKILL) the n-th time the worker
    reaches ``point`` (``between_sinks``, ``after_sink_write``, ``after_checkpoint``).
    For the crash tests; unset, it does nothing."""
    spec = os.environ.get("DATAMOAT_CRASH_AT", "")
    if not spec:
        return lambda point: None
    target, _, count = spec.partition(":")
    left = [int(count or 1)]

    def fault(point: str) -> None:
        if point == target:
            left[0] -= 1
            if left[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    return fault


def _install_stop(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_process(args: argparse.Namespace) -> int:
    config = config_from(args)
    out = output_dir(args, config)
    metrics = Metrics()
    stop = threading.Event()
    if args.input is not None:
        return _replay(args, config, out, metrics, stop)
    bootstrap = config.kafka.bootstrap
    group = args.group or config.kafka.group
    wait_for_broker(bootstrap, args.wait_for_broker)
    require_topic(bootstrap, config.kafka.posts_topic)
    overrides = {"group_instance_id": args.instance_id} if args.instance_id else {}
    source = KafkaSource(config.kafka.posts_topic, consumer_config(bootstrap, group, **overrides))
    producer = signal_producer(bootstrap)
    worker = build_worker(
        config,
        source,
        [ParquetSink(out), KafkaSignalSink(producer, config.kafka.signals_topic)],
        KafkaDeadLetterSink(producer, config.kafka.dlq_topic),
        metrics,
    )
    worker.checkpoints = CheckpointStore(args.checkpoint_dir or out / "checkpoints", group)
    worker.checkpoint_interval_s = args.checkpoint_interval
    worker.fault = fault_from_env()
    restored = worker.restore()
    if restored is not None:
        print(
            f"datamoat process: resuming from checkpoint {worker.checkpoints.path} "
            f"(offsets {restored.offsets})",
            file=sys.stderr,
            flush=True,
        )
    started = time.monotonic()
    http_port = config.http.port if args.http_port is None else args.http_port
    server = serve(worker, config, http_port, started)
    print(
        f"datamoat process: group {group} on {bootstrap}; metrics at {server.url}metrics",
        file=sys.stderr,
        flush=True,
    )
    _install_stop(stop)
    idle_since: float | None = None

    def idle() -> bool:
        nonlocal idle_since
        if not args.until_idle or source.down or worker.lag_total() or not source.caught_up():
            idle_since = None
            return False
        now = time.monotonic()
        if idle_since is None:
            idle_since = now
        return bool(now - idle_since >= args.idle_s)

    live = None if args.quiet else LiveLine(lambda e: worker_line(worker, e)).start()
    try:
        worker.run(stop, done=idle)
    finally:
        if live:
            live.stop()
        source.close()
        producer.close(timeout=10)
        server.stop()
    return _finish(worker, started, args.summary_json)


def _replay(
    args: argparse.Namespace, config: Config, out: Path, metrics: Metrics, stop: threading.Event
) -> int:
    if str(args.input) != "-" and not (args.input.is_file() or args.input.is_fifo()):
        raise ConfigError(
            f"--input {args.input}: no such file or named pipe"
            " (write one with 'datamoat produce --output', or give - for standard input)"
        )
    source = FileSource(args.input)
    dead = FileDeadLetterSink(out / "dead_letters.ndjson")
    worker = build_worker(config, source, [ParquetSink(out)], dead, metrics)
    worker.replay = True  # event times are in the past: no emit latency
    started = time.monotonic()
    # a replay serves /metrics only when asked: it is usually a batch job beside others
    server = None if args.http_port is None else serve(worker, config, args.http_port, started)
    _install_stop(stop)
    live = None if args.quiet else LiveLine(lambda e: worker_line(worker, e)).start()
    try:
        worker.run(stop, done=source.exhausted)
    finally:
        if live:
            live.stop()
        source.close()
        dead.close()
        if server:
            server.stop()
    return _finish(worker, started, args.summary_json)


def _finish(worker: Worker, started: float, summary_json: Path | None) -> int:
    s = worker.stats
    summary = make_summary(
        produced=0,
        consumed=s.consumed,
        processed=s.processed,
        dead_lettered=s.dead_lettered,
        late=s.late,
        duration_s=time.monotonic() - started,
        latencies=s.latencies,
        windows_emitted=s.windows,
        signals_emitted=s.signals,
        dead_letter_reasons=s.dead_letter_reasons,
    )
    summary.pop("produced")
    summary.pop("produced_per_s")
    write_summary(summary, summary_json)
    print(format_summary(summary))
    return 0
