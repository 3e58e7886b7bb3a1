"""The Kafka source: one consumer of a consumer group, polled into raw batches.

The source owns the read positions. In a group (``subscribe``), partitions come and go with
rebalances; every time, the group's committed offsets are where reading resumes, and the
:class:`PartitionListener` is told first, so the worker can hand a revoked partition's
state over (by having committed it) and rebuild an assigned one's from the committed
offset's metadata. Without a group (``assign=True``) the source reads every partition of
the topic itself, from the committed offsets of ``group``.

Commits are made by the caller, normally inside a Kafka transaction (see
:meth:`transaction_offsets` and :meth:`group_metadata`); :meth:`commit` is the plain
variant.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest.batch import RawBatch
from ingest.errors import SourceTimeout
from ingest.kafka.client_config import secured
from ingest.kafka.private import fetch_raw, group_session_alive
from ingest.source import Committed, Offsets, PartitionListener

__all__ = ["KafkaSource", "consumer_config"]

log = logging.getLogger("datamoat.source")
#: How long reading a committed offset waits for a broker that is away before it fails.
COMMITTED_WAIT_S = 120.0

#: Contact with the broker broken for longer than this starts :meth:`KafkaSource.listened_s`
#: from zero again (a broker away, or a loop stuck in a commit's retries).
CONTACT_GAP_S = 5.0
#: With no records coming, ask the broker for the end offsets this often (a proof of contact).
ASK_EVERY_S = 1.0
#: How long a reader of every partition retries asking for them while the broker fails.
START_WAIT_S = 60.0
#: How long a new subscriber waits for its topic's metadata before it first joins its group.
LEARN_TOPIC_MS = 2_000


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, source: KafkaSource) -> None:
        self.source = source

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.source.on_revoked({tp.partition for tp in revoked})

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.source.on_assigned({tp.partition for tp in assigned})


def _learn_topic(consumer: KafkaConsumer, topic: str) -> None:
    """Fetch the metadata of the topic just subscribed to, before the first poll joins
    the group.

    kafka-python asks for it only ``retry_backoff_ms`` (100 ms) after its bootstrap, so the
    first join would come first, knowing no partition of the topic: an empty assignment,
    a 100 ms sleep in ``poll``, then a second join (about 0.1 s of every worker's start).
    A second bootstrap asks for the subscription's metadata at once (a few ms). Best
    effort: if it fails, the first poll learns the topic as before."""
    try:
        consumer.bootstrap(timeout_ms=LEARN_TOPIC_MS, refresh=True)
    except KafkaError as exc:
        log.debug("no metadata for %s before the first join: %s", topic, exc)


def consumer_config(bootstrap: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Consumer settings for the worker: manual commits, earliest start, big fetches,
    read_committed (a partition taken over waits for the old owner's open transaction)."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": group,
        "client_id": f"datamoat-{group}",
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 20_000,
        "fetch_max_wait_ms": 100,
        "fetch_min_bytes": 1,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "allow_auto_create_topics": False,
        # Reconnect within seconds after a broker restart (the default backs off to 30 s).
        "reconnect_backoff_max_ms": 2_000,
        # A lost worker's partitions move on after 10 s (the default waits 45 s).
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 2_000,
    }
    config.update(overrides)
    return secured(config)


class KafkaSource:
    """Reads ``topic`` in micro-batches; commits only when told to."""

    def __init__(
        self,
        topic: str,
        config: Mapping[str, Any],
        *,
        listener: PartitionListener | None = None,
        assign: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.topic = topic
        self.config = dict(config)
        self.listener = listener
        self.sleep = sleep
        self._down_since: float | None = None
        #: Broker outages seen by this consumer: how many, and their total seconds.
        self.outages = 0
        self.outage_s = 0.0
        self._revoked: set[int] = set()
        self._committed: dict[int, int] = {}
        self._replayer: KafkaConsumer | None = None
        self._assigned_pending: set[int] = set()
        self._moved_away: set[int] = set()
        self._rebalancing = False
        #: Contact with the broker (monotonic s): the latest, and where the unbroken run began.
        self._heard_at: float | None = None
        self._listening_since = 0.0
        self.consumer = KafkaConsumer(**config)
        self._assign = assign
        if assign:
            partitions = self._partitions_of(topic)
            if not partitions:
                raise LookupError(f"topic {topic!r} does not exist: run 'datamoat topics'")
            self.consumer.assign([self._tp(p) for p in sorted(partitions)])
            self.on_assigned(set(partitions))
            self._deliver_assigned()
        else:
            self.consumer.subscribe([topic], listener=_Rebalance(self))
            _learn_topic(self.consumer, topic)

    def _partitions_of(self, topic: str) -> set[int]:
        """``topic``'s partitions, asked again while the broker answers with a retriable
        error (a node that is starting or was just killed resets the connection) for up to
        :data:`START_WAIT_S`; a merger started beside a restarting cluster must not die."""
        deadline = time.monotonic() + START_WAIT_S
        while True:
            try:
                return set(self.consumer.partitions_for_topic(topic) or ())
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() >= deadline:
                    raise
                log.warning("no partitions of %s yet (%s); asking again", topic, exc)
                self.sleep(0.5)

    def _tp(self, partition: int) -> TopicPartition:
        return TopicPartition(self.topic, partition)

    # --- rebalances -----------------------------------------------------------------------

    def on_revoked(self, partitions: set[int]) -> None:
        # On kafka-python's IO thread: nothing that blocks (no requests) may happen here.
        self._revoked |= partitions
        self._assigned_pending -= partitions
        self._rebalancing = True
        if self.listener is not None:
            self.listener.revoked(partitions)

    def on_assigned(self, partitions: set[int]) -> None:
        # On the IO thread too: the listener hears of it when poll returns (_deliver).
        # The whole new assignment: a partition revoked and assigned again stays ours with
        # its position (kafka-python keeps it), so only the others moved away.
        self._assigned_pending |= partitions
        self._moved_away |= self._revoked - partitions
        self._revoked = set()
        self._rebalancing = False

    @property
    def joined(self) -> bool:
        """In its group: the coordinator answered a heartbeat within the session timeout and
        no rebalance is under way (a reader of assigned partitions: the broker reachable).
        Safe to read from another thread."""
        if self._assign:
            return not self.down
        return group_session_alive(self.consumer) and not self._rebalancing

    @property
    def rebalancing(self) -> bool:
        """True between a revocation and the assignment that follows it."""
        return self._rebalancing

    def _deliver_assigned(self) -> None:
        """Tell the listener of the partitions assigned in the last poll, with their
        committed offsets, before any of their records is processed."""
        partitions, self._assigned_pending = self._assigned_pending, set()
        if not partitions:
            return
        committed = self.committed(partitions)
        self._committed.update({p: c.offset for p, c in committed.items() if c is not None})
        if self.listener is not None:
            self.listener.assigned(committed)

    def take_revoked(self) -> set[int]:
        """Partitions that moved to another consumer since the last call: records of
        theirs polled before are read again by their next owner (from the committed
        offset), so drop them. (Partitions kept through a rebalance are not in it.)"""
        moved, self._moved_away = self._moved_away, set()
        return moved

    def committed(self, partitions: set[int]) -> dict[int, Committed | None]:
        """The group's committed offsets (with metadata); waits out pending transactions,
        and a broker that is away (bounded: ``COMMITTED_WAIT_S``, then the error)."""
        out: dict[int, Committed | None] = {}
        for p in sorted(partitions):
            c = self._committed_of(self._tp(p))
            out[p] = None if c is None or c.offset < 0 else Committed(c.offset, c.metadata or "")
        return out

    def _committed_of(self, tp: TopicPartition) -> Any:
        deadline = time.monotonic() + COMMITTED_WAIT_S
        while True:
            try:
                return self.consumer.committed(tp, metadata=True, timeout_ms=30_000)
            except KafkaError as exc:  # the group's coordinator is away: wait for it
                if time.monotonic() > deadline:
                    raise
                log.warning("committed offset of %s unreadable (%s); retrying", tp, exc)
                self.sleep(1.0)

    def committed_on(self, topic: str, partition: int) -> Committed | None:
        """The group's committed offset on another topic (None: none, or no such topic)."""
        try:
            c = self.consumer.committed(
                TopicPartition(topic, partition), metadata=True, timeout_ms=10_000
            )
        except KafkaError:
            return None
        return None if c is None or c.offset < 0 else Committed(c.offset, c.metadata or "")

    def all_committed(self) -> dict[int, Committed | None]:
        """The group's committed offsets of every partition of the topic, owned or not."""
        partitions = self.consumer.partitions_for_topic(self.topic) or set()
        return self.committed(set(partitions))

    # --- reading --------------------------------------------------------------------------

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        """Up to ``max_records`` records, decoded in bulk (``ingest.kafka.private.fetch_raw``)."""
        try:
            batch = fetch_raw(self.consumer, max_records, timeout_ms)
        except KafkaError as exc:  # the broker is away: say so once, wait, try again later
            if self._down_since is None:
                self._down_since = time.monotonic()
                self.outages += 1
                log.warning("Kafka unavailable (%s); waiting and retrying", exc)
            self.sleep(min(timeout_ms, 1000) / 1000.0)
            return RawBatch()
        if self._down_since is not None:
            took = time.monotonic() - self._down_since
            self.outage_s += took
            log.warning("Kafka is back after %.1f s", took)
            self._down_since = None
        self._deliver_assigned()
        if len(batch):
            self._heard(time.monotonic())
        return batch

    def _heard(self, now: float) -> None:
        if self._heard_at is None or now - self._heard_at > CONTACT_GAP_S:
            self._listening_since = now
        self._heard_at = now

    def listened_s(self) -> float:
        """Seconds of unbroken contact with the broker up to now: records fetched, or (at
        most once a second when none come) the end offsets answered. From the loop's own
        thread only: it may ask the broker (for at most a second)."""
        now = time.monotonic()
        assigned = self.consumer.assignment()
        if assigned and (self._heard_at is None or now - self._heard_at >= ASK_EVERY_S):
            try:
                self.consumer.end_offsets(list(assigned), timeout_ms=1_000)
            except KafkaError:
                pass  # no answer: no contact
            else:
                self._heard(time.monotonic())
            now = time.monotonic()
        if self._heard_at is None or now - self._heard_at > CONTACT_GAP_S:
            return 0.0
        return now - self._listening_since

    def read_range(self, partition: int, start: int, end: int, timeout_s: float = 60.0) -> RawBatch:
        """Records ``[start, end)`` of ``partition`` again, with a reader of its own (the
        group's positions are untouched): to rebuild a partition's open windows."""
        batch = RawBatch()
        if end <= start:
            return batch
        if self._replayer is None:
            config = {k: v for k, v in self.config.items() if k != "group_instance_id"}
            config.update(group_id=None, client_id=f"{config.get('client_id', 'datamoat')}-replay")
            self._replayer = KafkaConsumer(**config)
        tp = self._tp(partition)
        self._replayer.assign([tp])
        self._replayer.seek(tp, start)
        deadline = time.monotonic() + timeout_s
        while self._replayer.position(tp) < end:
            if time.monotonic() > deadline:
                raise SourceTimeout(
                    f"could not read back partition {partition} offsets {start}-{end} of "
                    f"{self.topic} within {timeout_s:.0f} s: is the broker up?"
                )
            got = fetch_raw(self._replayer, 20_000, 500)
            if got.offsets and got.offsets[-1] >= end:
                keep = sum(1 for o in got.offsets if o < end)
                got = RawBatch(
                    got.values[:keep], got.keys[:keep], got.partitions[:keep], got.offsets[:keep]
                )
            batch.extend(got)
        return batch

    def rewind(self) -> None:
        """Go back to the committed offsets of every assigned partition (after an aborted
        batch), and tell the listener as on an assignment."""
        assigned = self.partitions()
        committed = self.committed(assigned)
        for p, c in committed.items():
            if c is not None:
                self.consumer.seek(self._tp(p), c.offset)
            else:
                self.consumer.seek_to_beginning(self._tp(p))
        self._committed.update({p: c.offset for p, c in committed.items() if c is not None})
        if self.listener is not None:
            self.listener.assigned(committed)

    def seek(self, partition: int, offset: int) -> None:
        """Continue ``partition`` from ``offset`` (assign mode: restoring a merger)."""
        self.consumer.seek(self._tp(partition), offset)

    # --- positions and lag ----------------------------------------------------------------

    @property
    def down(self) -> bool:
        """True while the last poll failed (the broker is away)."""
        return self._down_since is not None

    def partitions(self) -> set[int]:
        return {tp.partition for tp in self.consumer.assignment()}

    def position(self, partition: int) -> int:
        return int(self.consumer.position(self._tp(partition)))

    def first_offset(self, partition: int) -> int:
        """The oldest offset ``partition`` still holds (what retention has not deleted)."""
        tp = self._tp(partition)
        return int(self.consumer.beginning_offsets([tp], timeout_ms=30_000)[tp])

    def caught_up(self) -> bool:
        """Asks the broker: has this consumer read every assigned partition to its end?
        (False when the broker can't tell, e.g. while it is away.)"""
        assigned = self.consumer.assignment()
        if not assigned:
            return False
        try:
            ends = self.consumer.end_offsets(list(assigned))
            return all(self.consumer.position(tp) >= end for tp, end in ends.items())
        except KafkaError:
            return False

    def backlog(self) -> dict[int, int]:
        """From the high-water marks of the last fetches (no extra request)."""
        out: dict[int, int] = {}
        try:
            for tp in self.consumer.assignment():
                high = self.consumer.highwater(tp)
                if high is not None:
                    out[tp.partition] = max(0, high - self.consumer.position(tp))
        except KafkaError:
            return out  # unknown while the broker is away
        return out

    def lag(self) -> dict[int, int]:
        """Log-end offset minus committed offset, as ``kafka-consumer-groups`` shows it
        (high-water marks from the last fetches; no extra request)."""
        out: dict[int, int] = {}
        for tp in self.consumer.assignment():
            high = self.consumer.highwater(tp)
            committed = self._committed.get(tp.partition)
            if high is not None and committed is not None:
                out[tp.partition] = max(0, high - committed)
        return out

    # --- committing -----------------------------------------------------------------------

    def transaction_offsets(
        self, offsets: Mapping[int, tuple[int, str]]
    ) -> dict[TopicPartition, OffsetAndMetadata]:
        return {self._tp(p): OffsetAndMetadata(o, m, -1) for p, (o, m) in offsets.items()}

    def group_metadata(self) -> Any:
        return self.consumer.group_metadata()

    def committed_now(self, offsets: Mapping[int, int]) -> None:
        """Note offsets committed by a transaction (for :meth:`lag`)."""
        self._committed.update(offsets)

    def commit(self, offsets: Offsets) -> None:
        """Commit outside a transaction (each offset with its metadata)."""
        if not offsets:
            return
        self.consumer.commit(
            {self._tp(p): OffsetAndMetadata(o, m, -1) for p, (o, m) in offsets.items()}
        )
        self._committed.update({p: o for p, (o, _) in offsets.items()})

    def pause(self) -> None:
        """Stop fetching (backpressure) while :meth:`poll` keeps the group membership."""
        self.consumer.pause(*self.consumer.assignment())

    def resume(self) -> None:
        self.consumer.resume(*self.consumer.paused())

    def close(self) -> None:
        if self._replayer is not None:
            self._replayer.close(autocommit=False)
        self.consumer.close(autocommit=False)
