"""``datamoat run``: the main job. Broker (started when none is reachable), firehose,
workers and their merger together, a live line, metrics over HTTP, and a summary at exit.

Over Kafka the topology is the docker-compose one: the firehose in a process of its own
(:mod:`ingest.firehose.child`), ``--workers N`` worker processes (``datamoat process``) in
one consumer group, and the merger in this process. With ``--transport memory`` the
firehose, one worker and the merger run here, without a broker.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datamoat.broker import LocalCluster, free_port
from datamoat.config import Config, env_variable
from datamoat.errors import BrokerError, BrokerUnreachable, ConfigError
from datamoat.federate import WorkerMetrics
from datamoat.metrics import Metrics
from datamoat.options import add_common, add_firehose, config_from, now_ms, port, positive_int
from datamoat.pipeline import (
    DEAD_LETTERS_FILE,
    firehose_config,
    kafka_merger,
    local_worker,
    make_firehose,
    output_dir,
    start_group_at_end,
)
from datamoat.preflight import check_port_free
from datamoat.report import format_summary, make_summary, write_summary
from datamoat.runtime import Interrupts, serve
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.terminal import TerminalView
from datamoat.topics import create_topics
from ingest.feed import Feed, ThreadFeed
from ingest.firehose import encode_keys, encode_values
from ingest.firehose.child import FirehoseProcess, FirehoseSpec
from ingest.kafka.admin import is_reachable
from ingest.memory import MemorySource, MemoryTopic
from ingest.pacer import Pacer, PaceStats

__all__ = ["register"]

log = logging.getLogger("datamoat.run")

#: How long a Ctrl-C waits for the workers to catch up before it stops anyway.
DRAIN_TIMEOUT_S = 30.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "run",
        help="the main job: firehose + workers + merger (+ a local broker if none answers)",
        description="Run the firehose, the workers and their merger together until Ctrl-C, "
        "--duration or --posts.",
    )
    add_common(p)
    add_firehose(p)
    stop = p.add_mutually_exclusive_group()
    stop.add_argument("--duration", type=float, default=None, help="seconds (default: Ctrl-C)")
    stop.add_argument("--posts", type=positive_int, default=None, help="exactly N posts")
    p.add_argument("--transport", choices=["kafka", "memory"], default="kafka")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="worker processes in the consumer group (Kafka transport; default 1)",
    )
    p.add_argument(
        "--unpaced",
        action="store_true",
        help="generate as fast as possible (event times still follow --rate)",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="where signals/ goes")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--http-port", type=port, default=None, help="/metrics port (default: config)")
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.set_defaults(func=run_run)


@dataclass
class _Progress:
    """What the firehose thread has done, read by the main thread."""

    produced: PaceStats = field(default_factory=PaceStats)
    done: threading.Event = field(default_factory=threading.Event)
    failure: list[BaseException] = field(default_factory=list)
    #: Event time of the stream's first post (epoch ms): the demo bursts count from it.
    stream_start_ms: int | None = None


def run_run(args: argparse.Namespace) -> int:
    config = config_from(args)
    if args.duration is not None and args.duration <= 0:
        raise ConfigError("--duration must be a positive number of seconds")
    if args.transport == "memory" and args.workers != 1:
        raise ConfigError("--workers needs --transport kafka (memory runs one worker)")
    check_port_free(config.http.host, _http_port(args, config))
    out = output_dir(config)
    cluster: LocalCluster | None = None
    if args.transport == "kafka" and not is_reachable(config.kafka.bootstrap, 3.0):
        cluster = _start_local_broker(config.kafka.bootstrap)
    try:
        if args.transport == "memory":
            return _run_memory(args, config, out)
        return _run_kafka(args, config, out)
    finally:
        if cluster is not None:
            log.warning("run: stopping the local broker")
            cluster.stop()


def _start_local_broker(bootstrap: str) -> LocalCluster:
    host, _, port_text = bootstrap.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost") or not port_text.isdigit():
        raise BrokerUnreachable(
            f"no Kafka broker reachable at {bootstrap}: start it, or point --bootstrap at one"
        )
    # The one step of a run that needs Java (and, the first time, Maven for the jars).
    log.warning(
        "run: no broker at %s, starting a local one (Java; jars fetched once) ...", bootstrap
    )
    cluster = LocalCluster(port=int(port_text))
    cluster.start()
    return cluster


def _feed(args: argparse.Namespace, config: Config, topic: MemoryTopic | None) -> Feed:
    """The run's input: the synthetic firehose, into the in-memory ``topic`` from a thread
    of this process, or (no topic) into Kafka from a process of its own, where it does not
    share the GIL with the merger. The one place a run's input is chosen."""
    k = config.kafka
    fh_config, seed = firehose_config(config), config.firehose.seed
    if topic is None:
        return FirehoseProcess(
            FirehoseSpec(
                config=fh_config, seed=seed, bootstrap=k.bootstrap, topic=k.posts_topic,
                partitions=k.partitions, realtime=not args.unpaced, posts=args.posts,
                duration_s=args.duration,
            )
        )  # fmt: skip

    def pacer(start_ms: int) -> Pacer:
        return Pacer(
            firehose=make_firehose(config, start_ms),
            writer=topic,
            encode_values=encode_values,
            encode_keys=encode_keys,
            start_ms=start_ms,
            partitions=k.partitions,
            rate=fh_config.rate,
            realtime=not args.unpaced,
        )

    return ThreadFeed(pacer, args.posts, args.duration, on_done=topic.close)


def _follow(
    feed: Feed, metrics: Metrics, stop: threading.Event, on_done: list[Callable[[], None]],
    target_rate: float,
) -> _Progress:  # fmt: skip
    """Follow ``feed`` from a thread: its progress into ``metrics`` and the returned
    :class:`_Progress`; ``stop`` set stops it; ``on_done`` called when it ended (its
    failure is kept for the main thread to raise)."""
    progress = _Progress()
    counted = 0
    metrics.firehose_target_rate.set(target_rate)
    metrics.firehose_kept_up.set(1)

    def on_progress(stats: PaceStats) -> None:
        nonlocal counted
        progress.produced = stats
        metrics.firehose_kept_up.set(0 if stats.behind else 1)
        metrics.posts_produced.inc(max(0, stats.produced - counted))
        counted = max(counted, stats.produced)
        if stop.is_set():
            feed.stop()

    def main() -> None:
        try:
            progress.produced = feed.join(on_progress)
        except BaseException as exc:  # reported by the main thread
            progress.failure.append(exc)
        finally:
            for callback in on_done:
                callback()
            progress.done.set()

    threading.Thread(target=main, name="datamoat-feed-watch", daemon=True).start()
    return progress


def _run_memory(args: argparse.Namespace, config: Config, out: Path) -> int:
    metrics = Metrics()
    topic = MemoryTopic(config.kafka.partitions)
    built = local_worker(config, MemorySource(topic), out, metrics)
    worker, emitter = built.worker, built.emitter
    stop_producing, stop_now = threading.Event(), threading.Event()
    interrupts = Interrupts(stop_producing, stop_now, DRAIN_TIMEOUT_S)
    feed = _feed(args, config, topic).start()
    feed.wait_ready()
    stream_start = now_ms() if args.start is None else args.start
    feed.go(stream_start)
    progress = _follow(feed, metrics, stop_producing, [], config.firehose.rate)
    progress.stream_start_ms = stream_start
    started = time.monotonic()
    server = serve(metrics, lambda: _status(progress, worker.stats.processed, emitter, started),
                   config, _http_port(args, config),
                   ready=lambda: worker.ready(config.http.ready_max_lag_s))  # fmt: skip
    log.warning("run: %s posts/s in memory; metrics at %smetrics", _rate(args, config), server.url)

    def caught_up() -> bool:
        if not progress.done.is_set():
            return False
        return worker.stats.consumed >= progress.produced.produced or interrupts.drain_expired()

    live = None if args.quiet else _view(args, config, metrics).start()
    try:
        worker.run(stop_now, done=caught_up)
    finally:
        stop_producing.set()
        if live:
            live.stop()
        server.stop()
        built.close()
    if progress.failure:
        raise progress.failure[0]
    s = worker.stats
    return interrupts.exit_status(_summarise(
        args, config, progress, emitter, started,
        consumed=s.consumed, processed=s.processed, dead_lettered=s.dead_lettered, late=s.late,
        reasons=s.reasons, out=out,
        output={"dead_letters_file": str(out / DEAD_LETTERS_FILE)},
    ))  # fmt: skip


def _run_kafka(args: argparse.Namespace, config: Config, out: Path) -> int:
    # The run's consumer group is its own, but its internal topics are the configured
    # group's (<kafka.group>.partials): a run reuses them rather than leave one per run.
    k = config.kafka
    k = dataclasses.replace(k, internal_prefix=k.internal_prefix or k.group)
    config = dataclasses.replace(config, kafka=k)
    create_topics(config)
    group = f"{k.group}-run-{uuid.uuid4().hex[:8]}"
    start_group_at_end(config, group)
    metrics = Metrics()
    built = kafka_merger(config, group, metrics, out, count_group=True)
    loop, emitter = built.merge, built.emitter
    workers = _Workers(args, config, group)
    metrics.registry.register(WorkerMetrics(workers.metrics_urls()))
    feed = _feed(args, config, None)
    stop_producing, stop_now = threading.Event(), threading.Event()
    interrupts = Interrupts(stop_producing, stop_now, DRAIN_TIMEOUT_S)
    started = time.monotonic()
    server = None
    producing = False
    try:
        workers.start()
        feed.start()
        loop.restore()
        workers.wait_ready()
        feed.wait_ready()
        # Live event time starts now, once the pipeline is up: a post is sent when the wall
        # clock reaches its event time, so none starts its life the start-up's seconds late.
        stream_start = now_ms() if args.start is None else args.start
        feed.go(stream_start)
        producing = True
        progress = _follow(feed, metrics, stop_producing, [workers.finish], config.firehose.rate)
        progress.stream_start_ms = stream_start
        stats = loop.merger.stats
        server = serve(metrics, lambda: _status(progress, stats.processed, emitter, started),
                       config, _http_port(args, config), ready=loop.ready)  # fmt: skip
        log.warning(
            "run: %s posts/s through Kafka at %s, %d worker(s); metrics at %smetrics",
            _rate(args, config), k.bootstrap, args.workers, server.url,
        )  # fmt: skip
        live = None if args.quiet else _view(args, config, metrics).start()
        try:
            while not stop_now.is_set():
                loop.step()
                if loop.merger.ended:
                    break
                if workers.failed():
                    raise BrokerError(f"a worker exited early: {workers.failed()}")
                if interrupts.drain_expired():
                    log.warning("run: workers did not catch up within %.0f s; stopping",
                                DRAIN_TIMEOUT_S)  # fmt: skip
                    break
        finally:
            stop_producing.set()
            if live:
                live.stop()
    finally:
        if not producing:
            feed.abandon()
        workers.stop()
        if server is not None:
            server.stop()
        built.close()
    if progress.failure:
        raise progress.failure[0]
    s = loop.merger.stats
    return interrupts.exit_status(_summarise(
        args, config, progress, emitter, started,
        consumed=s.consumed, processed=s.processed, dead_lettered=s.dead_lettered, late=s.late,
        reasons=s.reasons, out=out, workers=args.workers, group=group,
        foreign_deltas=loop.foreign_deltas,
        output={"signals_topic": k.signals_topic, "dead_letters_topic": k.dlq_topic},
    ))  # fmt: skip


class _Workers:
    """The worker processes of a run: ``datamoat process`` in one consumer group."""

    def __init__(self, args: argparse.Namespace, config: Config, group: str) -> None:
        self.args, self.config, self.group = args, config, group
        self.dir = Path(tempfile.mkdtemp(prefix="datamoat-run-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.ports = [free_port() for _ in range(args.workers)]

    def metrics_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}/metrics" for p in self.ports]

    def start(self) -> None:
        for i in range(self.args.workers):
            cmd = [
                sys.executable, "-m", "datamoat.cli", "process", "--quiet",
                "--group", self.group, "--instance-id", f"{self.group}-{i}",
                "--bootstrap", self.config.kafka.bootstrap, "--http-port", str(self.ports[i]),
                "--summary-json", str(self.dir / f"worker-{i}.json"),
                "--ready-file", str(self.dir / f"worker-{i}.ready"),
            ]  # fmt: skip
            if self.args.config is not None:
                cmd += ["--config", str(self.args.config)]
            if self.args.profile:
                cmd += ["--profile", self.args.profile]
            log_file = open(self.dir / f"worker-{i}.log", "wb")  # noqa: SIM115
            # The workers' group is the run's own; their partials go to the run's topic.
            prefix = {env_variable("kafka", "internal_prefix"): self.config.kafka.internal_prefix}
            env = {**os.environ, **prefix}
            self.procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log_file, env=env)
            )

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Until every worker is up (joined or joining its group, signals handled)."""
        deadline = time.monotonic() + timeout_s
        while not all((self.dir / f"worker-{i}.ready").exists() for i in range(len(self.procs))):
            problem = self.failed()
            if problem:
                raise BrokerError(f"a worker could not start: {problem}")
            if time.monotonic() > deadline:
                raise BrokerError(f"workers not up after {timeout_s:.0f} s (logs in {self.dir})")
            time.sleep(0.1)

    def finish(self) -> None:
        """The input is over: each worker drains, ends its partitions and exits."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)

    def failed(self) -> str | None:
        for i, proc in enumerate(self.procs):
            code = proc.poll()
            if code not in (None, 0):
                tail = (self.dir / f"worker-{i}.log").read_bytes()[-400:].decode(errors="replace")
                return f"worker {i} exit status {code}: {tail.strip()}"
        return None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def summaries(self) -> list[dict[str, object]]:
        found = []
        for path in sorted(self.dir.glob("worker-*.json")):
            found.append(orjson.loads(path.read_bytes()))
        return found


def _http_port(args: argparse.Namespace, config: Config) -> int:
    return int(config.http.port if args.http_port is None else args.http_port)


def _rate(args: argparse.Namespace, config: Config) -> str:
    return f"{config.firehose.rate:,.0f}"


def _status(
    progress: _Progress, processed: int, emitter: SignalEmitter, started: float
) -> dict[str, object]:
    elapsed = max(time.monotonic() - started, 1e-9)
    e = emitter.stats
    return {
        "produced": progress.produced.produced,
        "processed": processed,
        "processed_per_s": round(processed / elapsed, 1),
        "windows_emitted": e.windows,
        "open_windows": emitter.merger.open_windows,
        "trending": [k for k, _ in e.trending[:5]],
    }


def _view(args: argparse.Namespace, config: Config, metrics: Metrics) -> TerminalView:
    return TerminalView(metrics, config.firehose.rate, args.duration, args.posts)


def _summarise(
    args: argparse.Namespace, config: Config, progress: _Progress, emitter: SignalEmitter,
    started: float, *, consumed: int, processed: int, dead_lettered: int, late: int,
    reasons: dict[str, int], out: Path, output: dict[str, str], **extra: object,
) -> int:  # fmt: skip
    e = emitter.stats
    summary = make_summary(
        produced=progress.produced.produced,
        consumed=consumed,
        processed=processed,
        dead_lettered=dead_lettered,
        late=late,
        duration_s=time.monotonic() - started,
        producing_s=progress.produced.elapsed_s,
        latencies=e.latencies,
        target_rate=config.firehose.rate,
        windows_emitted=e.windows,
        signals_emitted=e.signals,
        dead_letter_reasons=reasons,
        trending=[k for k, _ in e.trending],
        transport=args.transport,
        kept_up=progress.produced.kept_up,
        producer_stalls=progress.produced.stalls,
        producer_stalled_s=round(progress.produced.stalled_s, 3),
        trended=emitter.metrics.trended.report(),
        stream_start_ms=progress.stream_start_ms,
        **_early(emitter.metrics, config.early.enabled),
        windows_flushed_early=emitter.metrics.signals_view()["windows_flushed_early"],
        output={"signals_parquet": str(out / "signals"), **output},
        **extra,
    )
    write_summary(summary, args.summary_json)
    print(format_summary(summary))
    return 0


def _early(metrics: Metrics, enabled: bool) -> dict[str, Any]:
    """The early path in the summary: its figures on one line, and the alerts raised."""
    if not enabled:
        return {}
    report = metrics.early_report()
    raised = report.pop("alerts_raised")
    return {"early": report, "alerts_raised": raised}
