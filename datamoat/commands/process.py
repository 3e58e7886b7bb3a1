"""``datamoat process``: one worker of the consumer group, or a replay of an NDJSON file.

A worker is stage one of the pipeline: it hands its partitions' closed windows to the
partials topic, where ``datamoat merge`` turns them into signals. With ``--input`` both
stages run in this process and the signals are written here.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datamoat.config import Config
from datamoat.errors import ConfigError
from datamoat.metrics import Metrics
from datamoat.options import add_common, config_from, port
from datamoat.pipeline import KafkaWorker, instance_name, kafka_worker, local_worker, output_dir
from datamoat.preflight import check_port_free, require_topics, start_with_broker
from datamoat.report import LiveLine, format_summary, make_summary, write_summary
from datamoat.runtime import fault_from_env, install_stop, on_signals, serve
from datamoat.stage_one.worker import Worker
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.topics import create_internal_topics, stage_topics
from ingest.file_source import FileSource

__all__ = ["register", "status_of", "worker_line"]

log = logging.getLogger("datamoat.process")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "process",
        help="run one worker of the consumer group (or replay a file with --input)",
        description="Consume posts from Kafka in micro-batches and hand each partition's "
        "closed windows to the merger ('datamoat merge') through the partials topic.",
    )
    add_common(p)
    p.add_argument("--group", default=None, help="consumer group (default: config, datamoat)")
    p.add_argument(
        "--instance-id",
        default=None,
        help="this worker's stable name in its transactional id: a restarted worker with the "
        "same name aborts its predecessor's open transaction at once (default: host-pid)",
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
    p.add_argument(
        "--output-dir", type=Path, default=None, help="where signals/ goes (with --input)"
    )
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument(
        "--http-port",
        type=port,
        default=None,
        help="/metrics port (default: config; 0 = any; with --input, none unless given)",
    )
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.add_argument("--ready-file", type=Path, default=None, help=argparse.SUPPRESS)
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
        "open_windows": worker.stage.open_windows,
        "partitions": sorted(worker.stage.clocks),
        "stalled": worker.stall()[0],
    }


def worker_line(worker: Worker, elapsed: float) -> str:
    s = worker.stats
    rate = s.processed / max(elapsed, 1e-9)
    return (
        f"processed {s.processed:,} ({rate:,.0f}/s) | dead-lettered {s.dead_lettered:,} | "
        f"late {s.late:,} | partitions {sorted(worker.stage.clocks)} | "
        f"open {worker.stage.open_windows}" + (" | STALLED" if worker.stall()[0] else "")
    )


def run_process(args: argparse.Namespace) -> int:
    config = config_from(args)
    stop = threading.Event()
    if args.input is not None:
        if args.http_port is not None:
            check_port_free(config.http.host, args.http_port)
        return _replay(args, config, output_dir(config), Metrics(), stop)
    install_stop(stop)  # a SIGTERM while starting up stops it cleanly too, once built
    bootstrap = config.kafka.bootstrap
    group = args.group or config.kafka.group
    http_port = config.http.port if args.http_port is None else args.http_port
    check_port_free(config.http.host, http_port)
    built = start_with_broker(bootstrap, args.wait_for_broker, lambda: _start(config, group, args))
    worker = built.worker
    source = worker.source
    started = time.monotonic()
    try:
        server = serve(
            worker.metrics, lambda: status_of(worker, started), config, http_port,
            ready=lambda: worker.ready(config.http.ready_max_lag_s),
        )  # fmt: skip
    except BaseException:
        built.close()
        raise
    log.warning(
        "process: group %s on %s, partials to %s; metrics at %smetrics",
        group, bootstrap, config.kafka.partials_topic(group), server.url,
    )  # fmt: skip
    finishing = threading.Event()
    on_signals(finishing.set, signal.SIGUSR1)
    if args.ready_file is not None:  # for 'run': SIGUSR1 (input is over) is safe from now
        args.ready_file.touch()
    idle_since: float | None = None
    waited = 0.0  # the idle wait that ended the run: not counted in processed_per_s

    def idle() -> bool:
        nonlocal idle_since, waited
        if not (args.until_idle or finishing.is_set()):
            return False
        if getattr(source, "down", False) or worker.lag_total() or not source.caught_up():  # type: ignore[attr-defined]
            idle_since = None
            return False
        now = time.monotonic()
        if idle_since is None:
            idle_since = now
        waited = now - idle_since
        return bool(finishing.is_set() or waited >= args.idle_s)

    live = None if args.quiet else LiveLine(lambda e: worker_line(worker, e)).start()
    try:
        worker.run(stop, done=idle)
    finally:
        if live:
            live.stop()
        built.close()
        server.stop()
    return _finish(worker, None, started, args.summary_json, idle_wait_s=waited)


def _start(config: Config, group: str, args: argparse.Namespace) -> KafkaWorker:
    """The worker's topic check and clients (closed again when a step fails), with metrics
    of their own."""
    require_topics(config.kafka.bootstrap, stage_topics(config))
    # The group's internal topics are made (when missing) while the consumer joins and the
    # producers start: nothing writes to them before the first commit, and creating one
    # waits on the controller (about 70 ms of every start).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="datamoat-topics") as pool:
        topics = pool.submit(create_internal_topics, config, group)
        try:
            built = kafka_worker(
                config, group, instance_name(args.instance_id), Metrics(), fault=fault_from_env()
            )
        except BaseException:
            topics.cancel()
            raise
        try:
            topics.result()
        except BaseException:
            built.close()
            raise
    return built


def _replay(
    args: argparse.Namespace, config: Config, out: Path, metrics: Metrics, stop: threading.Event
) -> int:
    if str(args.input) != "-" and not (args.input.is_file() or args.input.is_fifo()):
        raise ConfigError(
            f"--input {args.input}: no such file or named pipe"
            " (write one with 'datamoat produce --output', or give - for standard input)"
        )
    source = FileSource(args.input)
    # A replay's windows are long past: no early signals (nothing is early), like no latency.
    built = local_worker(config, source, out, metrics, early=False)
    worker = built.worker
    built.emitter.replay = True  # event times are in the past: no emit latency
    started = time.monotonic()
    # a replay serves /metrics only when asked: it is usually a batch job beside others
    server = (
        None
        if args.http_port is None
        else serve(metrics, lambda: status_of(worker, started), config, args.http_port)
    )
    install_stop(stop)
    live = None if args.quiet else LiveLine(lambda e: worker_line(worker, e)).start()
    try:
        worker.run(stop, done=source.exhausted)
    finally:
        if live:
            live.stop()
        built.close()
        source.close()
        if server:
            server.stop()
    return _finish(worker, built.emitter, started, args.summary_json)


def _finish(
    worker: Worker,
    emitter: SignalEmitter | None,
    started: float,
    summary_json: Path | None,
    idle_wait_s: float = 0.0,
) -> int:
    """Print and write the summary; ``processed_per_s`` leaves out ``idle_wait_s`` (the
    ``--until-idle`` wait at the end), which ``idle_wait_s`` in the summary shows."""
    s = worker.stats
    duration = time.monotonic() - started
    e = emitter.stats if emitter is not None else None
    summary = make_summary(
        produced=0,
        consumed=s.consumed,
        processed=s.processed,
        dead_lettered=s.dead_lettered,
        late=s.late,
        duration_s=duration,
        latencies=e.latencies if e else [],
        windows_emitted=e.windows if e else 0,
        signals_emitted=e.signals if e else 0,
        dead_letter_reasons=s.reasons,
        rebuilt=s.rebuilt,
        stalls=worker.stall()[1],
        stalled_s=worker.stall()[2],
    )
    summary.pop("produced")
    summary.pop("produced_per_s")
    if idle_wait_s > 0:
        busy = max(duration - idle_wait_s, 1e-9)
        summary["processed_per_s"] = round(s.processed / busy, 1)
        summary["idle_wait_s"] = round(idle_wait_s, 3)
    write_summary(summary, summary_json)
    print(format_summary(summary))
    return 0
