"""Wiring: config and flags into a firehose, workers, a merger and their sinks.

The one place that builds the pipeline, for ``run``, ``process``, ``merge`` and the tests:

* :func:`local_worker`: a worker with the merger in the same process (``--transport
  memory``, ``process --input``);
* :func:`kafka_worker`: a worker of the consumer group handing its batches to the partials
  topic in transactions;
* :func:`kafka_merger`: the merger of one consumer group, writing Parquet and the signals
  topic.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from datamoat.config import Config
from datamoat.metrics import Metrics
from datamoat.preflight import check_output_dir
from datamoat.retry import Durably
from datamoat.stage_one.output import KafkaOutput
from datamoat.stage_one.worker import Worker
from datamoat.stage_two.early import EarlyStage
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.stage_two.local import LocalOutput
from datamoat.stage_two.merge_loop import MergeLoop, merge_group
from datamoat.stage_two.snapshots import Snapshots
from ingest.kafka.admin import commit_at_end
from ingest.kafka.early import EarlyReader, PlainWriter
from ingest.kafka.lag import GroupLag
from ingest.kafka.source import KafkaSource, consumer_config
from ingest.kafka.state_log import KafkaStateLog
from ingest.kafka.transaction import Transaction, transactional_producer
from ingest.source import Source
from process.cascades import CascadeConfig
from process.delta import Origin
from process.early import AlertRule, EarlySignals
from process.engine import WindowEngine
from process.sentiment import with_sentiment
from process.stage_one.partitions import PartitionStage
from process.stage_two.merger import Merger
from process.trends import TrendConfig
from process.windows import WindowSpec
from sinks.base import DeadLetterSink, SignalSink
from sinks.file import FileDeadLetterSink
from sinks.registry import Outputs, SinkContext, build_outputs

if TYPE_CHECKING:  # the firehose is imported by the commands that run one (not a worker's)
    from ingest.firehose import Firehose, FirehoseConfig

__all__ = [
    "Built",
    "KafkaMerger",
    "KafkaWorker",
    "LocalPipeline",
    "firehose_config",
    "instance_name",
    "kafka_merger",
    "kafka_worker",
    "local_outputs",
    "local_pipeline",
    "local_worker",
    "make_firehose",
    "merge_group",
    "output_dir",
    "score",
]

Fault = Callable[[str], None]
#: Where a pipeline without Kafka writes its dead letters, under its output directory.
DEAD_LETTERS_FILE = "dead_letters.ndjson"
log = logging.getLogger("datamoat.pipeline")


def firehose_config(config: Config) -> FirehoseConfig:
    """The firehose's config: flat rate with the demo bursts by default, the daily cycle
    with ``firehose.diurnal`` (``--diurnal``, ``--day-in``)."""
    from ingest.firehose import FirehoseConfig
    from ingest.firehose.config import flat_demo

    f = config.firehose
    if f.diurnal or f.day_in_s:
        return FirehoseConfig(rate=f.rate, day_in_s=f.day_in_s or None)
    return flat_demo(f.rate)


def make_firehose(config: Config, start_ms: int, shard: int = 0, shards: int = 1) -> Firehose:
    from ingest.firehose import Firehose

    fh_config, seed = firehose_config(config), config.firehose.seed
    if shards == 1:
        return Firehose(fh_config, seed, start_ms)
    return Firehose(fh_config, seed, start_ms, shard=shard, shards=shards)


def score(posts: pl.DataFrame) -> pl.DataFrame:
    """Add VADER sentiment (``compound``; null for non-English posts)."""
    return with_sentiment(posts, text="text", lang="lang").drop("pos", "neu", "neg")


def output_dir(config: Config) -> Path:
    """The output directory, ``output.dir`` (``--output-dir``), created; a file in the way
    is a one-line error."""
    return check_output_dir(Path(config.output.dir))


def instance_name(given: str | None) -> str:
    """A worker's name in transactional ids: ``--instance-id``, else host and pid."""
    return given or f"{socket.gethostname()}-{os.getpid()}"


@dataclass(kw_only=True)
class Built:
    """What to close after a built pipeline has run (in reverse order)."""

    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


@dataclass(kw_only=True)
class LocalPipeline(Built):
    """Both stages in one process: the worker, and the emitter of its in-process merger."""

    worker: Worker
    emitter: SignalEmitter


@dataclass(kw_only=True)
class KafkaWorker(Built):
    """One worker of a consumer group."""

    worker: Worker


@dataclass(kw_only=True)
class KafkaMerger(Built):
    """The merger of a worker group: its loop and the emitter that writes the sinks."""

    merge: MergeLoop
    emitter: SignalEmitter


def _stage(config: Config) -> PartitionStage:
    stage = PartitionStage(config.window.spec(), config.window.idle_timeout_ms)
    stage.early = config.early.enabled
    return stage


def _merger(config: Config, partitions: set[int] | None) -> Merger:
    return Merger(
        config.window.spec(),
        trend_config=config.trends.engine(),
        cascade_config=config.cascades.engine(),
        partitions=partitions,
    )


def _worker(
    config: Config, source: Source, output: KafkaOutput, metrics: Metrics, fault: Fault
) -> Worker:
    b = config.batch
    return Worker(
        source=source,
        stage=_stage(config),
        output=output,
        metrics=metrics,
        max_records=b.max_records,
        max_wait_ms=b.max_wait_ms,
        max_record_bytes=b.max_record_bytes,
        max_future_ms=round(b.max_future_s * 1000),
        scorer=score,
        fault=fault,
        exports_lag=False,  # the group's merger does
    )


def local_outputs(config: Config, out: Path) -> Outputs:
    """The sinks of a pipeline without Kafka (``[output] sinks``, the idempotent ones)."""
    context = SinkContext(out, config.kafka.signals_topic)
    return build_outputs(config.output.sinks, context, transactions=False)


def local_worker(
    config: Config,
    source: Source,
    out: Path,
    metrics: Metrics,
    fault: Fault = lambda point: None,
    early: bool = True,
) -> LocalPipeline:
    """A worker and the merger in one process (no transport between the stages): signals
    to the ``[output] sinks``, dead letters to ``<out>/dead_letters.ndjson``; early signals
    when ``[early] enabled`` and ``early`` (a file replay has none)."""
    b = config.batch
    outputs = local_outputs(config, out)
    dead_letters = FileDeadLetterSink(out / DEAD_LETTERS_FILE)
    built = local_pipeline(
        source,
        outputs.idempotent,
        dead_letters,
        metrics,
        config.window.spec(),
        trend_config=config.trends.engine(),
        cascade_config=config.cascades.engine(),
        idle_timeout_ms=config.window.idle_timeout_ms,
        max_records=b.max_records,
        max_wait_ms=b.max_wait_ms,
        max_record_bytes=b.max_record_bytes,
        max_future_ms=round(b.max_future_s * 1000),
        fault=fault,
        alert_rule=config.early.engine() if config.early.enabled and early else None,
    )
    built.closers += [dead_letters.close, outputs.close]
    return built


def local_pipeline(
    source: Source,
    sinks: Sequence[SignalSink],
    dead_letters: DeadLetterSink,
    metrics: Metrics,
    spec: WindowSpec,
    *,
    trend_config: TrendConfig | None = None,
    cascade_config: CascadeConfig | None = None,
    idle_timeout_ms: int = 30_000,
    alert_rule: AlertRule | None = None,
    **worker_options: Any,
) -> LocalPipeline:
    """Both stages in one process (:class:`process.engine.WindowEngine`, as the moat and
    the engine's tests compose them), with the worker loop, the sinks and the emitter around
    them (the tests build it this way too). ``alert_rule``: early signals and alerts under
    that rule, to the metrics and the live page (None: off)."""
    metrics.fit_latency(spec.size_ms / 1000, spec.allowed_lateness_ms / 1000)
    engine = WindowEngine(spec, idle_timeout_ms, trend_config=trend_config or TrendConfig(),
                          cascade_config=cascade_config or CascadeConfig(),
                          partitions=source.partitions())  # fmt: skip
    merger = engine.merger
    durably = Durably(metrics)
    emitter = SignalEmitter(
        merger, list(sinks), metrics, durably, fault=worker_options.get("fault", _no_fault)
    )
    early = None
    if alert_rule is not None:
        engine.stage.early = True
        early = EarlyStage(EarlySignals(spec, merger.trends, alert_rule), metrics)
    output = LocalOutput(merger, emitter, dead_letters, source, early)
    options = {"scorer": score, "exports_state": False, **worker_options}  # the emitter's
    worker = Worker(
        source=source,
        stage=engine.stage,
        output=output,
        metrics=metrics,
        durably=durably,
        **options,
    )
    return LocalPipeline(worker=worker, emitter=emitter)


def _no_fault(point: str) -> None:
    return None


def kafka_worker(
    config: Config,
    group: str,
    instance: str,
    metrics: Metrics,
    fault: Fault = lambda point: None,
) -> KafkaWorker:
    """A worker of ``group``: posts in, deltas and dead letters out, in transactions."""
    k = config.kafka
    poll_ms = round(k.max_poll_interval_s * 1000)
    source = KafkaSource(
        k.posts_topic, consumer_config(k.bootstrap, group, max_poll_interval_ms=poll_ms)
    )
    closers: list[Callable[[], None]] = [source.close]
    txn_id = f"{group}-worker-{instance}"
    try:
        transaction = Transaction(lambda: transactional_producer(k.bootstrap, txn_id), source)
    except BaseException:
        Built(closers=closers).close()
        raise
    closers.append(transaction.close)
    origin = Origin(group, k.posts_topic)
    output = KafkaOutput(transaction, k.partials_topic(group), k.dlq_topic, instance, origin)
    if config.early.enabled:
        output.early_channel = k.early_channel(group)
        try:
            output.early_writer = PlainWriter(k.bootstrap, f"{txn_id}-early")
        except BaseException:
            Built(closers=closers).close()
            raise
        closers.append(output.early_writer.close)
    worker = _worker(config, source, output, metrics, fault)
    source.listener = worker
    return KafkaWorker(worker=worker, closers=closers)


def kafka_merger(
    config: Config,
    group: str,
    metrics: Metrics,
    out: Path,
    fault: Fault = lambda point: None,
    partitions: int | None = None,
    count_group: bool = False,
) -> KafkaMerger:
    """The merger of worker group ``group``: partials in, Parquet and signals out; its
    state snapshotted every ``merge.snapshot_interval_s``."""
    k = config.kafka
    mgroup = merge_group(group)

    make_producer = functools.partial(transactional_producer, k.bootstrap, mgroup)
    producer = make_producer()  # first: it aborts what a killed predecessor left open
    try:
        source = KafkaSource(
            k.partials_topic(group),
            consumer_config(k.bootstrap, mgroup, max_poll_records=1_000),
            assign=True,
        )
    except BaseException:
        producer.close(timeout=5)
        raise
    closers: list[Callable[[], None]] = [source.close]
    try:
        count = partitions or len(source.consumer.partitions_for_topic(k.posts_topic) or ())
        transaction = Transaction(make_producer, source, producer=producer)
    except BaseException:
        Built(closers=closers).close()
        raise
    closers.append(transaction.close)
    try:
        return _merger_stages(config, group, metrics, out, fault, count_group, source,
                              transaction, count, closers)  # fmt: skip
    except BaseException:
        Built(closers=closers).close()
        raise


def _merger_stages(
    config: Config, group: str, metrics: Metrics, out: Path, fault: Fault, count_group: bool,
    source: KafkaSource, transaction: Transaction, count: int,
    closers: list[Callable[[], None]],
) -> KafkaMerger:  # fmt: skip
    """The rest of :func:`kafka_merger` once its input and transaction are made: each client
    made here joins ``closers`` (all closed by the caller when a step fails)."""
    k = config.kafka
    mgroup = merge_group(group)
    merger = _merger(config, set(range(count)) if count else None)
    metrics.fit_latency(config.window.size_s, config.window.allowed_lateness_s)
    outputs = build_outputs(config.output.sinks, SinkContext(out, k.signals_topic))
    closers.append(outputs.close)
    emitter = SignalEmitter(merger, outputs.idempotent, metrics, Durably(metrics), fault=fault)
    lag = GroupLag(k.bootstrap, k.posts_topic, group)
    closers.append(lag.close)
    lag.watch(lambda by_partition: metrics.set_lag(by_partition, group, k.posts_topic))
    snapshots = None  # interval 0: no snapshots, and none loaded (every delta replayed)
    if config.merge.snapshot_interval_s > 0:
        state = KafkaStateLog(k.bootstrap, k.snapshots_topic(group), mgroup)
        closers.append(state.close)
        snapshots = Snapshots(state, mgroup, interval_s=config.merge.snapshot_interval_s)
    early = None
    if config.early.enabled:
        early = EarlyStage(
            EarlySignals(config.window.spec(), merger.trends, config.early.engine()),
            metrics,
            reader=EarlyReader(k.bootstrap, k.early_channel(group), mgroup),
            writer=PlainWriter(k.bootstrap, f"{mgroup}-early"),
            early_topic=k.early_topic,
            alerts_topic=k.alerts_topic,
        )
        closers.append(early.close)
    merge = MergeLoop(
        source,
        merger,
        emitter,
        transaction,
        outputs.transactional,
        k.dlq_topic,
        origin=Origin(group, k.posts_topic),
        fault=fault,
        count_group=count_group,
        snapshots=snapshots,
        early=early,
    )
    _warn_of_legacy_partials(source, k.partials_topic(group), mgroup)
    return KafkaMerger(merge=merge, emitter=emitter, closers=closers)


#: The one partials topic every group shared before internal topics were named per group.
LEGACY_PARTIALS = "posts.partials"


def _warn_of_legacy_partials(source: KafkaSource, topic: str, mgroup: str) -> None:
    """One line when this merger group has no offset on its own partials topic yet but has
    one on the shared topic of earlier versions: what it had in flight there stays there."""
    if topic == LEGACY_PARTIALS or source.committed({0})[0] is not None:
        return
    if source.committed_on(LEGACY_PARTIALS, 0) is not None:
        log.warning(
            "merge: group %s read the shared topic %s of earlier versions; it now reads %s, "
            "and windows in flight there are not carried over: drain the old pipeline first "
            "(process --until-idle, merge --until-ended) or set kafka.internal_prefix = "
            '"posts" to keep the old topic',
            mgroup, LEGACY_PARTIALS, topic,
        )  # fmt: skip


def start_group_at_end(config: Config, group: str) -> None:
    """Make a new worker group (and its merger) start at the current end of the posts and
    partials topics, by committing those offsets before anyone joins: a run then reads
    exactly what its own firehose produces, whoever joins when."""
    k = config.kafka
    commit_at_end(k.bootstrap, group, k.posts_topic)
    commit_at_end(k.bootstrap, merge_group(group), k.partials_topic(group), '{"since": %d}')
