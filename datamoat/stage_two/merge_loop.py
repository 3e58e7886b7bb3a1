"""Stage two's loop: deltas from the partials topic into final signals, exactly once.

One :class:`MergeLoop` per consumer group of workers. It reads the partials topic (one
partition, ``read_committed``: only the workers' committed batches), applies each delta to
a :class:`process.stage_two.merger.Merger`, and commits every batch as one Kafka transaction: the
signals that became final go to the signals topic together with the partials offset. The
Parquet files are written before the commit, one file per window under a name only this
writer uses, so a batch done again replaces its files with the same rows.

The merger's state is a function of the deltas in order. Every minute or so it is also
snapshotted into the group's state topic within the same transactions
(:mod:`datamoat.stage_two.snapshots`), and the committed offset's metadata names the newest
complete snapshot. On start the loop loads that snapshot and applies again the deltas after
it up to the committed offset, writing nothing, then goes on: a restart costs the state's
size, not the run's history. Without a usable snapshot (none yet, or one made under other
settings) it applies every delta from ``since``, where this merger group began; the
partials topic keeps the cascade time-to-live plus an hour of them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
import polars as pl

from datamoat.stage_two.early import EarlyStage
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.stage_two.snapshots import SnapshotMissing, SnapshotRef, Snapshots
from ingest.batch import OutColumns, OutRecord
from ingest.errors import DeltaError, SourceTimeout, StateLost
from ingest.kafka.source import KafkaSource
from ingest.kafka.transaction import Transaction
from process.delta import Delta, Origin, decode_delta
from process.stage_two import snapshot
from process.stage_two.merger import Merger
from sinks.base import DeadLetters, TransactionalSink
from sinks.kafka import dead_letter_records

__all__ = ["MergeLoop", "merge_group"]

log = logging.getLogger("datamoat.merge")
PARTITION = 0


#: The partials poll's wait (ms) when early signals are on.
EARLY_WAIT_MS = 50


def merge_group(group: str) -> str:
    """The consumer group (and transactional id) of the merger of worker group ``group``."""
    return f"{group}-merge"


@dataclass
class MergeLoop:
    source: KafkaSource
    merger: Merger
    emitter: SignalEmitter
    transaction: Transaction
    #: Sinks whose records commit in the merger's transaction (the signals topic).
    transactional: Sequence[TransactionalSink]
    dlq_topic: str
    #: The worker group and input topic whose deltas this merger merges; any other's
    #: are skipped and counted (pipelines that share a partials topic stay apart).
    origin: Origin
    max_records: int = 1_000
    max_wait_ms: int = 250
    fault: Callable[[str], None] = field(default=lambda point: None)
    since: int = 0
    restored_deltas: int = 0
    monotonic: Callable[[], float] = time.monotonic
    #: Count the group's records in this process's metrics too (``run``: the only endpoint).
    count_group: bool = False
    #: Deltas skipped as another pipeline's, by (reason, whose).
    foreign: dict[tuple[str, str], int] = field(default_factory=dict)
    #: Set once :meth:`restore` is done (readiness).
    is_restored: bool = False
    #: Where the state is snapshotted (None: never; a restart replays from ``since``).
    snapshots: Snapshots | None = None
    #: How the last restore went: the snapshot it loaded (None: none) and its seconds.
    restored_from: SnapshotRef | None = None
    restore_s: float = 0.0
    #: Early signals and alerts from the workers' increments (None: off).
    early: EarlyStage | None = None
    _late_counted: int = 0

    def restore(self) -> None:
        """Rebuild the merger from the deltas up to the committed offset (writing nothing)."""
        self._restore()
        self._late_counted = self.merger.stats.late_after_merge
        self.is_restored = True

    def _restore(self) -> None:
        started = self.monotonic()
        committed = self.source.committed({PARTITION})[PARTITION]
        if committed is None:
            self.since = self.source.position(PARTITION)
            return
        try:
            meta = orjson.loads(committed.metadata)
            self.since = int(meta["since"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            meta, self.since = {}, committed.offset
        start = self._load_snapshot(meta.get("snapshot") if isinstance(meta, dict) else None)
        if start < committed.offset:
            self._replay(start, committed.offset)
        self.emitter.gauges()
        self.restore_s = self.monotonic() - started
        ref = self.restored_from
        log.info(
            "merger restored from %s and %d deltas (offsets %d-%d) in %.2f s",
            f"snapshot {ref.seq} ({ref.size:,} bytes)" if ref else "no snapshot",
            self.restored_deltas, start, committed.offset, self.restore_s,
        )  # fmt: skip

    def _replay(self, start: int, end: int) -> None:
        """Apply the deltas ``[start, end)`` again, writing nothing; then read on from ``end``."""
        first = self.source.first_offset(PARTITION)
        if start < first:
            raise StateLost(
                f"the merger of group {self.origin.group} needs the deltas of "
                f"{self.source.topic} from offset {start}, but the topic now begins at {first} "
                "(past its retention) and no usable snapshot covers them; its signals can't be "
                "rebuilt exactly. Keep merge.snapshot_interval_s above 0, or start the group's "
                "merger afresh: `kafka-consumer-groups --delete-offsets` for its group "
                f"{merge_group(self.origin.group)} on {self.source.topic}"
            )
        self.source.seek(PARTITION, start)
        while self.source.position(PARTITION) < end:
            batch = self.source.poll(self.max_records, 500)
            # Workers keep writing while a merger restarts: a poll may well return deltas
            # past the committed offset. Those are the live loop's, read again from there.
            for value, offset in zip(batch.values, batch.offsets, strict=True):
                if offset >= end:
                    break
                self._apply(value)
                self.merger.close()  # after every delta, as live: see step
                self.merger.take_late()  # dead-lettered when first merged
                self.restored_deltas += 1
        if self.source.position(PARTITION) != end:
            self.source.seek(PARTITION, end)

    @property
    def scope(self) -> dict[str, object]:
        """Whose deltas this merger merges: a snapshot of another's is not its state."""
        partitions = sorted(self.merger.partitions) if self.merger.partitions else None
        return {"group": self.origin.group, "topic": self.origin.topic, "partitions": partitions}

    def _load_snapshot(self, data: object) -> int:
        """Load the snapshot the committed metadata names; the partials offset to replay
        the deltas from (``since`` without a usable snapshot)."""
        ref = SnapshotRef.from_json(data) if data is not None else None
        if ref is None or self.snapshots is None:
            return self.since
        self.snapshots.latest = ref
        try:
            snapshot.load(self.merger, self.snapshots.read(ref), self.scope)
        except (SnapshotMissing, snapshot.SnapshotError, SourceTimeout) as exc:
            # (load checks everything before it changes the merger: it is still fresh)
            log.warning("merge: %s; rebuilding the state from every delta since offset %d",
                        exc, self.since)  # fmt: skip
            return self.since
        self.restored_from = ref
        return ref.offset

    def _apply(self, value: bytes, live: bool = False) -> str | None:
        """Apply one delta; the reason when it is not one."""
        try:
            delta = decode_delta(value)
        except DeltaError as exc:
            return str(exc)
        if delta.origin != self.origin:
            self._skip(delta)
            return None
        self.merger.apply(delta)
        if live and self.count_group and delta.stats:
            self.emitter.metrics.count(delta.stats)
        return None

    def ready(self) -> tuple[bool, str]:
        """Ready (``/readyz``): restored, the broker reachable, and its writes not failing."""
        if not self.is_restored:
            return False, "restoring its state from the partials topic"
        if self.source.down:
            return False, "the broker is away"
        if self.emitter.durably.failing_since is not None:
            return False, "stalled: the signals' transaction keeps failing"
        return True, "ready"

    def _skip(self, delta: Delta) -> None:
        """Count a delta of another pipeline; say so once per writer."""
        o = delta.origin
        if o is None:
            reason, whose = "no_owner", "a format-1 delta of an earlier version"
        else:
            reason = "other_group" if o.group != self.origin.group else "other_topic"
            whose = str(o)
        seen = self.foreign.get((reason, whose), 0)
        self.foreign[(reason, whose)] = seen + 1
        self.emitter.metrics.foreign_deltas.labels(reason=reason).inc()
        if not seen:
            log.warning(
                "merge: skipping deltas of %s in %s: this merger merges %s only "
                "(datamoat_foreign_deltas_total counts them)",
                whose, self.source.topic, self.origin,
            )  # fmt: skip

    @property
    def foreign_deltas(self) -> int:
        return sum(self.foreign.values())

    def step(self) -> int:
        # With early signals the partials are waited for briefly: a worker sends its
        # increments just after the commit whose delta wakes this poll, so they are read
        # on a step soon after (every wait here is up to one early update late).
        wait = self.max_wait_ms if self.early is None else min(self.max_wait_ms, EARLY_WAIT_MS)
        batch = self.source.poll(self.max_records, wait)
        if self.early is not None:
            self.early.poll()
        if not len(batch):
            if self.early is not None:
                self.early.after(pl.DataFrame(), self.merger.closed_through)
            return 0
        letters = DeadLetters([], [], [], [], [])

        def letter(value: bytes, key: bytes | None, reason: str, offset: int) -> None:
            letters.values.append(value)
            letters.keys.append(key)
            letters.reasons.append(reason)
            letters.partitions.append(PARTITION)
            letters.offsets.append(offset)

        # Windows are closed after every delta, not once per poll: what is final, and which
        # rows come late, then depend on the deltas' order alone, so a restore (which reads
        # them in other batches) rebuilds exactly the state the live loop had.
        closed: list[pl.DataFrame] = []
        for value, key, offset in zip(batch.values, batch.keys, batch.offsets, strict=True):
            reason = self._apply(value, live=True)
            if reason is not None:
                log.warning("partials offset %d: %s; sent to the dead letters", offset, reason)
                letter(value, key, "not_a_delta", offset)
            for late in self.merger.take_late():  # rows of a final window: kept whole
                letter(late.to_json(), None, "late_after_merge", offset)
            closed.append(self.merger.close())
        final = [frame for frame in closed if frame.height]
        signals = pl.concat(final) if final else closed[0]
        next_offset = batch.next_offsets()[PARTITION]
        if self.snapshots is not None and self.snapshots.due():
            self.snapshots.start(lambda: snapshot.dump(self.merger, self.scope), next_offset)
        self.commit(signals, letters, next_offset)
        if self.early is not None:
            self.early.poll()  # what came while this batch was merged and committed
            self.early.after(signals, self.merger.closed_through)
        self._gauges()
        return len(batch)

    def _gauges(self) -> None:
        """The merger's own counters: posts that came after their window was final, and
        its stalls (its transaction failing, or its broker away)."""
        m, late = self.emitter.metrics, self.merger.stats.late_after_merge
        if late > self._late_counted:
            m.late_after_merge.inc(late - self._late_counted)
            self._late_counted = late
        d = self.emitter.durably
        m.set_stalls(d.failing_since is not None or self.source.down, d.stalls)

    def commit(self, signals: pl.DataFrame, letters: DeadLetters, next_offset: int) -> None:
        self.emitter.write(signals)  # the idempotent sinks first: per window, again or not
        records: list[OutRecord | OutColumns] = [
            r for sink in self.transactional for r in sink.records(signals)
        ]
        records += dead_letter_records(
            self.dlq_topic, letters, merge_group(self.origin.group), self.source.topic
        )
        meta: dict[str, object] = {"since": self.since}
        if self.snapshots is not None:
            chunks, completed = self.snapshots.take()
            records += chunks
            ref = completed or self.snapshots.latest
            if ref is not None:
                meta["snapshot"] = ref.to_json()
        text = orjson.dumps(meta).decode()
        self.fault("before_merge_commit")
        self.emitter.durably(
            lambda: self.transaction.commit(records, {PARTITION: (next_offset, text)}),
            "signals",
        )
        if self.snapshots is not None:
            self.snapshots.committed()
        self.fault("after_merge_commit")
        self.emitter.count(signals)

    def run(self, stop: threading.Event, until_ended: bool = False) -> bool:
        """Step until ``stop``; with ``until_ended``, until every input partition has
        ended and its windows are written (True)."""
        self.emitter.durably.stop = stop
        while not stop.is_set():
            self.step()
            if until_ended and self.merger.ended:
                return True
        return False
