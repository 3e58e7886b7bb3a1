"""``datamoat merge``: the merger of one worker group (stage two).

Reads the partials topic, merges every input partition's closed windows into final signals
once all partitions have passed a window, and writes them to Parquet and, in one Kafka
transaction with its input offset, to the signals topic. One merger runs per group; a
restarted one rebuilds its state from the partials topic.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path
from typing import Any

from datamoat.config import Config
from datamoat.metrics import Metrics
from datamoat.options import add_common, config_from, port, positive_int
from datamoat.pipeline import KafkaMerger, kafka_merger, output_dir
from datamoat.preflight import check_port_free, require_topics, start_with_broker
from datamoat.report import LiveLine, format_summary, make_summary, write_summary
from datamoat.runtime import fault_from_env, install_stop, serve
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.stage_two.merge_loop import MergeLoop
from datamoat.topics import create_internal_topics, stage_topics

__all__ = ["merge_line", "merge_status", "register"]

log = logging.getLogger("datamoat.merge")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "merge",
        help="merge the workers' partial windows into final signals (one per group)",
        description="Read the partials topic of a worker group, finalise each window once "
        "every input partition has passed it, and write Parquet and the signals topic "
        "exactly once.",
    )
    add_common(p)
    p.add_argument("--group", default=None, help="the workers' consumer group (default: config)")
    p.add_argument(
        "--until-ended",
        action="store_true",
        help="exit once every input partition has ended (workers run with --until-idle)",
    )
    p.add_argument(
        "--max-deltas",
        type=positive_int,
        default=1_000,
        help="most partials records per merger batch (one transaction each; default 1000)",
    )
    p.add_argument("--output-dir", type=Path, default=None, help="where signals/ goes")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--http-port", type=port, default=None, help="/metrics port (0 = any)")
    p.add_argument("--quiet", action="store_true", help="no live line")
    p.set_defaults(func=run_merge)


def merge_status(loop: MergeLoop, emitter: SignalEmitter, started: float) -> dict[str, object]:
    s, e = loop.merger.stats, emitter.stats
    elapsed = max(time.monotonic() - started, 1e-9)
    return {
        "consumed": s.consumed,
        "processed": s.processed,
        "processed_per_s": round(s.processed / elapsed, 1),
        "dead_lettered": s.dead_lettered,
        "late": s.late,
        "windows_emitted": e.windows,
        "open_windows": loop.merger.open_windows,
        "trending": [k for k, _ in e.trending[:5]],
    }


def merge_line(loop: MergeLoop, emitter: SignalEmitter, elapsed: float) -> str:
    s, e = loop.merger.stats, emitter.stats
    return (
        f"merged {s.processed:,} posts ({s.processed / max(elapsed, 1e-9):,.0f}/s) | "
        f"windows {e.windows:,} | open {loop.merger.open_windows}"
        + (f" | trending #{e.trending[0][0]}" if e.trending else "")
    )


def _start(config: Config, group: str, out: Path, max_deltas: int) -> KafkaMerger:
    """The merger's topic checks, clients and restored state (its clients closed again when
    a step fails), with metrics of their own (``emitter.metrics``)."""
    require_topics(config.kafka.bootstrap, stage_topics(config, merger=True))
    create_internal_topics(config, group)
    built = kafka_merger(config, group, Metrics(), out, fault=fault_from_env())
    built.merge.max_records = max_deltas
    try:
        built.merge.restore()
    except BaseException:
        built.close()
        raise
    return built


def run_merge(args: argparse.Namespace) -> int:
    config = config_from(args)
    bootstrap = config.kafka.bootstrap
    group = args.group or config.kafka.group
    http_port = config.http.port if args.http_port is None else args.http_port
    check_port_free(config.http.host, http_port)
    out = output_dir(config)
    stop = threading.Event()
    install_stop(stop)
    built = start_with_broker(
        bootstrap, args.wait_for_broker, lambda: _start(config, group, out, args.max_deltas)
    )
    loop, emitter = built.merge, built.emitter
    metrics = emitter.metrics
    started = time.monotonic()
    try:
        server = serve(
            metrics, lambda: merge_status(loop, emitter, started), config, http_port,
            role="merger", ready=loop.ready,
        )  # fmt: skip
    except BaseException:
        built.close()
        raise
    log.warning(
        "merge: group %s on %s, partials from %s; metrics at %smetrics",
        group, bootstrap, config.kafka.partials_topic(group), server.url,
    )  # fmt: skip
    live = None if args.quiet else LiveLine(lambda e: merge_line(loop, emitter, e)).start()
    try:
        loop.run(stop, until_ended=args.until_ended)
    finally:
        if live:
            live.stop()
        built.close()
        server.stop()
    s, e = loop.merger.stats, emitter.stats
    summary = make_summary(
        produced=0,
        consumed=s.consumed,
        processed=s.processed,
        dead_lettered=s.dead_lettered,
        late=s.late,
        duration_s=time.monotonic() - started,
        latencies=e.latencies,
        windows_emitted=e.windows,
        signals_emitted=e.signals,
        dead_letter_reasons=s.reasons,
        late_after_merge=s.late_after_merge,
        restored_deltas=loop.restored_deltas,
        restored_from_snapshot=loop.restored_from.seq if loop.restored_from else None,
        restore_s=round(loop.restore_s, 3),
        snapshots_written=loop.snapshots.written if loop.snapshots else 0,
        foreign_deltas=loop.foreign_deltas,
        **_early(emitter.metrics.early_report() if loop.early else None),
    )
    summary.pop("produced")
    summary.pop("produced_per_s")
    write_summary(summary, args.summary_json)
    print(format_summary(summary))
    return 0


def _early(report: dict[str, Any] | None) -> dict[str, Any]:
    """The early path's figures for the summary (None: early signals off)."""
    if report is None:
        return {}
    return {"early": {k: v for k, v in report.items() if k != "alerts_raised"}}
