"""The pipeline's Kafka topics, planned for the cluster they go on (idempotent creation).

Replication follows the cluster: a new topic gets ``max(kafka.replication_factor,
min(3, brokers))`` replicas, so 1 on a single broker and 3 on a cluster of three or more,
where every topic also gets ``min.insync.replicas=2`` (an acknowledged write is on two
disks, and one node down stops nothing). ``kafka.replication_factor`` is a floor: 0 or 1
mean "automatic"; more than the cluster's brokers is an error. Topics made by an earlier
run are left as they are, with a one-line warning when they are replicated less than
wanted.

The internal topics belong to one worker group, as Kafka Streams names its internal topics
after the application: ``<group>.partials`` (worker -> merger; ``kafka.internal_prefix``
replaces the group in the name) has one partition (the merger reads it in order), takes
records up to 16 MiB (one worker's partial aggregates of a batch) and keeps them for the
cascade TTL plus an hour, so a restarted merger can rebuild its state from it;
``<group>.merger-snapshots`` (one partition, compacted) holds the merger's snapshots, so a
restart reads the newest one and the deltas after it; ``<group>.early`` (one partition,
kept ten minutes) carries the workers' increments for early signals, outside the
transactions. The outputs (posts, dead letters, signals, and with ``[early] enabled`` the
compacted early signals and the alerts) are named by the user.
"""

from __future__ import annotations

import logging

from datamoat.config import Config
from datamoat.errors import ConfigError
from ingest.kafka.admin import TopicSpec, broker_count, ensure_topics, replication_factors

__all__ = [
    "PARTIALS_MAX_BYTES",
    "create_internal_topics",
    "create_topics",
    "internal_topics",
    "plan_topics",
    "replication_for",
    "stage_topics",
    "topic_names",
]

log = logging.getLogger("datamoat.topics")

#: ``max.message.bytes`` of the partials topic (and of the snapshots'): 16 MiB.
PARTIALS_MAX_BYTES = 16 * 1024 * 1024
#: Segments of the snapshots topic: compaction only cleans closed segments, so they are
#: kept small enough that superseded snapshots go within a few of them.
SNAPSHOT_SEGMENT_BYTES = 64 * 1024 * 1024
_HOUR_MS = 3_600_000
#: The early channel's increments matter only while their windows are open.
EARLY_RETENTION_MS = 600_000


def replication_for(configured: int, brokers: int) -> tuple[int, int]:
    """``(replication factor, min.insync.replicas)`` for new topics on ``brokers`` brokers."""
    if configured > brokers:
        raise ConfigError(
            f"kafka.replication_factor is {configured} but the cluster has only {brokers} "
            f"broker{'s' if brokers != 1 else ''}: lower it (0 = automatic)"
        )
    factor = max(configured, min(3, brokers), 1)
    return factor, 2 if factor >= 3 else 1


def internal_topics(config: Config, group: str, brokers: int) -> dict[str, TopicSpec]:
    """The internal topics of worker group ``group`` (name -> spec) on ``brokers`` brokers."""
    factor, min_isr = replication_for(config.kafka.replication_factor, brokers)
    retention_ms = round(config.cascades.ttl_s * 1000) + _HOUR_MS
    partials = {
        "min.insync.replicas": str(min_isr),
        "max.message.bytes": str(PARTIALS_MAX_BYTES),
        "retention.ms": str(retention_ms),
    }
    snapshots = {
        "min.insync.replicas": str(min_isr),
        "max.message.bytes": str(PARTIALS_MAX_BYTES),
        "cleanup.policy": "compact",
        "segment.bytes": str(SNAPSHOT_SEGMENT_BYTES),
        "segment.ms": str(_HOUR_MS),
        "min.cleanable.dirty.ratio": "0.5",
    }
    topics = {
        config.kafka.partials_topic(group): TopicSpec(1, factor, partials),
        config.kafka.snapshots_topic(group): TopicSpec(1, factor, snapshots),
    }
    if config.early.enabled:
        early = {
            "min.insync.replicas": str(min_isr),
            "max.message.bytes": str(PARTIALS_MAX_BYTES),
            "retention.ms": str(EARLY_RETENTION_MS),
        }
        topics[config.kafka.early_channel(group)] = TopicSpec(1, factor, early)
    return topics


def plan_topics(config: Config, brokers: int, group: str | None = None) -> dict[str, TopicSpec]:
    """Every topic the pipeline of worker group ``group`` (default: ``kafka.group``) needs,
    as it would be created on ``brokers`` brokers."""
    k = config.kafka
    factor, min_isr = replication_for(k.replication_factor, brokers)
    common = {"min.insync.replicas": str(min_isr)}
    plan = {
        k.posts_topic: TopicSpec(k.partitions, factor, common),
        k.dlq_topic: TopicSpec(k.partitions, factor, common),
        **internal_topics(config, group or k.group, brokers),
        k.signals_topic: TopicSpec(k.partitions, factor, common),
    }
    if config.early.enabled:
        compacted = {**common, "cleanup.policy": "compact", "segment.ms": str(_HOUR_MS)}
        plan[k.early_topic] = TopicSpec(k.partitions, factor, compacted)
        plan[k.alerts_topic] = TopicSpec(k.partitions, factor, common)
    return plan


def topic_names(config: Config, group: str | None = None) -> list[str]:
    """The names of :func:`plan_topics`, in its order, whatever the cluster."""
    k = config.kafka
    internal = [k.partials_topic(group or k.group), k.snapshots_topic(group or k.group)]
    early = [k.early_channel(group or k.group)] if config.early.enabled else []
    outputs = [k.early_topic, k.alerts_topic] if config.early.enabled else []
    return [k.posts_topic, k.dlq_topic, *internal, *early, k.signals_topic, *outputs]


def stage_topics(config: Config, merger: bool = False) -> dict[str, str]:
    """The topics a worker (``merger``: the merger) reads or writes besides its group's own,
    config key -> topic: the posts topic, the dead letters, and the merger's outputs. A
    missing one would be waited for, or retried, for ever."""
    k = config.kafka
    topics = {"kafka.posts_topic": k.posts_topic, "kafka.dlq_topic": k.dlq_topic}
    if merger and "kafka" in config.output.sinks:
        topics["kafka.signals_topic"] = k.signals_topic
    if merger and config.early.enabled:
        topics["kafka.early_topic"] = k.early_topic
        topics["kafka.alerts_topic"] = k.alerts_topic
    return topics


def create_topics(config: Config, group: str | None = None) -> dict[str, TopicSpec]:
    """Create the missing topics; return those made now (name -> spec). An existing topic
    with fewer replicas than wanted gets one warning line through ``log``."""
    bootstrap = config.kafka.bootstrap
    plan = plan_topics(config, broker_count(bootstrap), group)
    made = ensure_topics(bootstrap, plan)
    existing = [name for name in plan if name not in made]
    for name, factor in replication_factors(bootstrap, existing).items():
        if factor < plan[name].replication_factor:
            log.warning(
                f"topic {name!r} has replication factor {factor}, less than the "
                f"{plan[name].replication_factor} wanted here; left as is (delete it and rerun "
                "`datamoat topics` to recreate it)"
            )
    return {name: plan[name] for name in made}


def create_internal_topics(config: Config, group: str) -> list[str]:
    """Create ``group``'s internal topics when missing (``process`` and ``merge`` need
    them); the names created now."""
    bootstrap = config.kafka.bootstrap
    made = ensure_topics(bootstrap, internal_topics(config, group, broker_count(bootstrap)))
    for name in made:
        log.warning("topic %s: created for group %s", name, group)
    return made
