"""Stage one's loop: poll, decode, score, fold into per-partition windows, hand on.

One :class:`Worker` owns a source, a :class:`process.stage_one.partitions.PartitionStage` and a
:class:`datamoat.stage_one.output.StageOutput`. Each step accumulates polls into a micro-batch
bounded by count and time, processes it with a handful of polars calls and ends with one
commit: the windows its partitions closed (as a delta), its dead letters and its offsets,
each offset carrying its partition's resume point. Accounting holds for every batch:
read = processed + dead-lettered + late.

Partitions move between workers through Kafka alone: a worker given a partition reads its
resume point from the committed offset's metadata and rebuilds the partition's open
windows from the records since the first of them (:meth:`Worker.assigned`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import polars as pl

from datamoat.metrics import Metrics
from datamoat.retry import Durably
from datamoat.stage_one.output import StageOutput
from ingest.batch import RawBatch
from ingest.errors import GroupMovedOn
from ingest.source import Committed, Source
from process.accounting import Counts
from process.decode import decode
from process.delta import END, Delta, Mark
from process.stage_one.partitions import PartitionStage, Resume
from sinks.base import DeadLetters

__all__ = ["Worker", "WorkerStats"]

Scorer = Callable[[pl.DataFrame], pl.DataFrame]
log = logging.getLogger("datamoat.stage_one.worker")


@dataclass(slots=True)
class WorkerStats(Counts):
    """This worker's accounting, and its batches."""

    batches: int = 0
    #: Records read again to rebuild partitions taken over (not counted as consumed).
    rebuilt: int = 0


@dataclass
class Worker:
    source: Source
    stage: PartitionStage
    output: StageOutput
    metrics: Metrics
    max_records: int = 50_000
    max_wait_ms: int = 250
    max_record_bytes: int | None = 65_536
    #: Posts stamped further than this ahead of the wall clock are dead letters (0: no check).
    max_future_ms: int = 86_400_000
    scorer: Scorer | None = None
    #: Called at named points of the commit protocol; the crash tests kill the worker there.
    fault: Callable[[str], None] = field(default=lambda point: None)
    wall_ms: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    monotonic: Callable[[], float] = time.monotonic
    durably: Durably | None = None
    #: Export the consumer lag gauge (one process per group does: alone, the worker; in a
    #: consumer group, the merger, from the group's commits).
    exports_lag: bool = True
    #: Export the open-window, state and watermark gauges (one owner per process: with the
    #: merger in the same process, the merger's emitter does).
    exports_state: bool = True
    stats: WorkerStats = field(default_factory=WorkerStats)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Per partition, the offset this worker last committed (its state matches it).
    _committed: dict[int, int] = field(default_factory=dict)
    #: Per partition, the first offset of a window open at the last commit (the start of
    #: the offsets a delta's rows may sum: :attr:`process.delta.Delta.ranges`).
    _rebuild_from: dict[int, int] = field(default_factory=dict)
    _last_marks: dict[int, Mark] = field(default_factory=dict)
    _committing: bool = False
    _moved: bool = False
    _last_lag_at: float = 0.0
    #: Readiness inputs, taken by the loop (the consumer is not thread-safe): records
    #: waiting, and (time, consumed) samples for the recent input rate.
    _waiting: int = 0
    _consumed_at: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=31))
    _ended_checked_at: float = 0.0
    #: The last batch read all there was (a poll came back empty, or the last fetches'
    #: high-water marks were reached): the input may be over.
    _caught_up: bool = False

    def __post_init__(self) -> None:
        if self.durably is None:
            self.durably = Durably(self.metrics)
        self.durably.on_pause = self.source.pause
        self.durably.on_resume = self.source.resume
        self.durably.wait = lambda s: self._keep_alive(s)

    # --- the loop -------------------------------------------------------------------------

    def run(self, stop: threading.Event, done: Callable[[], bool] | None = None) -> bool:
        """Step until ``done()`` says the input is over (then end every partition: True) or
        ``stop`` is set (False: everything read so far is committed; nothing else to do).

        In a group, a worker whose own partitions are done stays until every partition of
        the topic has been ended by its owner (:meth:`group_ended`): a partition left by a
        lost worker comes to one of those still here, to be rebuilt and ended."""
        assert self.durably is not None
        self.durably.stop = stop
        while not stop.is_set():
            read = self.step(done)
            # Asked after a batch that caught up too, not only after an empty one: the end
            # of a drain is found without waiting out one more poll.
            if (not read or self._caught_up) and done is not None and done():
                if any(c.closed_through != END for c in self.stage.clocks.values()):
                    self.finish()
                if self.group_ended():
                    return True
        return False

    def group_ended(self) -> bool:
        """Has every partition's input been ended by whoever reads it? (Checked at most once
        a second against the commits.)"""
        now = self.monotonic()
        if now - self._ended_checked_at < 1.0:
            return False
        self._ended_checked_at = now
        for c in self.source.all_committed().values():
            if c is None:
                return False
            try:
                if Resume.from_json(orjson.loads(c.metadata)).closed_through != END:
                    return False
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                return False
        return True

    def poll_batch(self) -> RawBatch:
        """Accumulate polls until ``max_records`` or ``max_wait_ms``, whichever comes first."""
        batch = RawBatch()
        deadline = self.monotonic() + self.max_wait_ms / 1000.0
        self._caught_up = False
        while len(batch) < self.max_records:
            left_ms = int((deadline - self.monotonic()) * 1000)
            if left_ms <= 0:
                break
            got = self.source.poll(self.max_records - len(batch), left_ms)
            batch = batch.without(self.source.take_revoked())
            if not len(got):
                if len(batch):
                    self._caught_up = True
                    break  # caught up: don't sit on what we have
                continue
            if len(batch):
                batch.extend(got)
            else:
                batch = got
        # A rebalance under way: wait (bounded) for its assignment before this batch is
        # processed, so that the records of partitions that moved away can be dropped.
        until = self.monotonic() + 60.0
        while self.source.rebalancing and self.monotonic() < until:
            batch.extend(self.source.poll(self.max_records, 200))
        batch = batch.without(self.source.take_revoked())
        if len(batch) and not self._caught_up:  # full, but maybe the last records there are
            backlog = self.source.backlog()
            self._caught_up = bool(backlog) and not any(backlog.values())
        return batch

    def step(self, done: Callable[[], bool] | None = None) -> int:
        """Process one micro-batch; returns how many records it read. A batch that caught
        up when ``done()`` says the input is over ends every partition in its own commit
        (:meth:`finish` in it): a drain's last batch, without one more transaction."""
        batch = self.poll_batch()
        group = self.source.group_metadata()
        now = self.wall_ms()
        assigned = self.source.partitions()
        self.stage.track(assigned, self._unheard_or_waiting(assigned), now)
        if len(batch):
            end = self._caught_up and done is not None and done()
            self.process_batch(batch, now, group, end=end)
        elif assigned:
            self._hand_on(self.stage.advance(now), DeadLetters([], [], [], [], []), {}, group)
        self._update_gauges()
        return len(batch)

    def _unheard_or_waiting(self, assigned: set[int]) -> set[int]:
        """The partitions whose silence is no evidence of idleness: those with records
        waiting (or not known to have none), and every one while the source has not been
        heard for the idle timeout (the broker away, or this loop stuck in a retry: the
        silence so far was not listened to; it starts again from now)."""
        if self.source.listened_s() * 1000 < self.stage.idle_timeout_ms:
            return set(assigned)
        backlog = self.source.backlog()
        return {p for p in assigned if backlog.get(p, 1) > 0}

    def process_batch(
        self, batch: RawBatch, now: int, group: Any = None, end: bool = False
    ) -> None:
        """Decode, fold and hand on ``batch``; ``end``: the input is over with it, so every
        window of every partition read is closed and committed with it (as :meth:`finish`)."""
        started = self.monotonic()
        posts, rejects = self._decode(batch, now)
        added = self.stage.add(posts, now)
        if added.late_idx:
            late = pl.DataFrame({"_idx": added.late_idx, "reason": "late"})
            rejects = pl.concat([rejects, late.cast({"_idx": pl.Int64})])
        letters = self._letters(batch, rejects)
        reasons = dict(
            rejects.filter(pl.col("reason") != "late").group_by("reason").len().iter_rows()
        )
        dead = sum(reasons.values())
        counts = Counts(len(batch), added.processed, dead, len(added.late_idx), reasons)
        offsets = batch.next_offsets()
        if end:
            delta = self.stage.end(now, counts)
            offsets = {**offsets, **self._positions()}
        else:
            delta = self.stage.advance(now, counts)
        self._hand_on(delta, letters, offsets, group)
        with self._lock:
            self.stats.add(counts)
            self.stats.batches += 1
        self.metrics.count(counts)
        self.metrics.batch_records.observe(len(batch))
        self.metrics.batch_seconds.observe(self.monotonic() - started)

    def finish(self) -> None:
        """End of input: close every window of every partition read, and commit that."""
        now = self.wall_ms()
        group = self.source.group_metadata()
        self._hand_on(
            self.stage.end(now), DeadLetters([], [], [], [], []), self._positions(), group
        )
        self._update_gauges(force=True)

    def _positions(self) -> dict[int, int]:
        """Where reading each assigned partition goes on (what an end commits)."""
        return {p: self.source.position(p) for p in self.source.partitions()}

    def _decode(self, batch: RawBatch, now: int) -> tuple[pl.DataFrame, pl.DataFrame]:
        decoded = decode(
            batch.values,
            self.max_record_bytes,
            now_ms=now if self.max_future_ms else None,
            max_future_ms=self.max_future_ms,
        )
        idx = decoded.posts["_idx"]
        posts = decoded.posts.with_columns(
            pl.Series("partition", batch.partitions, dtype=pl.Int32).gather(idx),
            pl.Series("offset", batch.offsets, dtype=pl.Int64).gather(idx),
        )
        if self.scorer is not None:
            posts = self.scorer(posts)
        return posts, decoded.rejects

    def _letters(self, batch: RawBatch, rejects: pl.DataFrame) -> DeadLetters:
        idx = rejects["_idx"].to_list()
        return DeadLetters(
            values=[batch.values[i] for i in idx],
            keys=[batch.keys[i] for i in idx],
            reasons=rejects["reason"].to_list(),
            partitions=[batch.partitions[i] for i in idx],
            offsets=[batch.offsets[i] for i in idx],
        )

    # --- committing -----------------------------------------------------------------------

    def _hand_on(
        self, delta: Delta, letters: DeadLetters, offsets: dict[int, int], group: Any
    ) -> None:
        if not (delta.carries_data() or len(letters) or offsets or delta.marks != self._last_marks):
            return
        increments = self.stage.take_early()  # this batch's, handed on once it commits
        resumes = {p: self.stage.resume_point(p, o) for p, o in offsets.items()}
        commits = {p: (offsets[p], orjson.dumps(r.to_json()).decode()) for p, r in resumes.items()}
        if delta.carries_data():  # where the posts its rows sum are, per partition
            ends = {**self._committed, **offsets}
            ranges = {p: (self._rebuild_from.get(p, 0), ends[p]) for p in self.stage.clocks
                      if p in ends}  # fmt: skip
            delta = replace(delta, ranges=ranges)
        self.fault("before_commit")
        self._committing = True
        try:
            assert self.durably is not None
            self.durably(lambda: self.output.commit(delta, letters, commits, group), "commit")
        except GroupMovedOn as exc:
            # Not committing any more: the rewind's assignment must rebuild the partitions
            # (an assignment seen while committing only marks the batch as moved).
            self._committing = False
            log.warning("%s: this batch is aborted; its partitions' owners read it again", exc)
            self._rewind()
            return
        finally:
            self._committing = False
        self.fault("after_commit")
        if self.stage.early:
            self.output.early(increments)
        self._committed.update(offsets)
        self._rebuild_from.update({p: r.rebuild_from for p, r in resumes.items()})
        self._last_marks = delta.marks
        if self._moved:  # the group moved while we committed: start again from the commits
            self._rewind()

    def _rewind(self) -> None:
        """After an aborted batch: drop every partition's state and continue from the
        committed offsets (rebuilding the partitions still ours)."""
        self.stage.drop(set(self.stage.clocks))
        self._committed.clear()
        self._rebuild_from.clear()
        self._last_marks = {}
        self._moved = False
        self.source.rewind()

    def _keep_alive(self, seconds: float) -> None:
        """Wait while a commit fails, polling the paused consumer to stay in the group."""
        deadline = self.monotonic() + seconds
        while True:
            left_ms = int((deadline - self.monotonic()) * 1000)
            if left_ms <= 0:
                return
            self.source.poll(1, min(left_ms, 500))  # paused: returns nothing, keeps membership

    # --- rebalances (called by a Kafka source from inside poll) ---------------------------

    def revoked(self, partitions: set[int]) -> None:
        if self._committing:
            self._moved = True  # the pending commit will be refused: see _hand_on

    def assigned(self, committed: dict[int, Committed | None]) -> None:
        if self._committing:
            self._moved = True
            return
        now = self.wall_ms()
        for p, c in committed.items():
            offset = None if c is None else c.offset
            if p in self.stage.clocks and offset is not None and self._committed.get(p) == offset:
                continue  # ours before the rebalance, and nobody committed since: state holds
            self._restore(p, c, now)

    def _restore(self, partition: int, committed: Committed | None, now: int) -> None:
        if committed is None:
            self.stage.resume(partition, Resume(None, None, 0), now)
            self._rebuild_from[partition] = 0
            return
        try:
            resume = Resume.from_json(orjson.loads(committed.metadata))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            resume = Resume(None, None, committed.offset)  # committed by something else
        self.stage.resume(partition, resume, now)
        self._committed[partition] = committed.offset
        self._rebuild_from[partition] = min(resume.rebuild_from, committed.offset)
        if resume.rebuild_from >= committed.offset:
            return
        started = self.monotonic()
        raw = self.source.read_range(partition, resume.rebuild_from, committed.offset)
        posts, _ = self._decode(raw, now)
        self.stage.rebuild(posts)
        with self._lock:
            self.stats.rebuilt += len(raw)
        log.info(
            "partition %d taken over at offset %d: %d records read again in %.2f s",
            partition,
            committed.offset,
            len(raw),
            self.monotonic() - started,
        )

    # --- gauges ---------------------------------------------------------------------------

    def _update_gauges(self, force: bool = False) -> None:
        now = self.monotonic()
        if not force and now - self._last_lag_at < 1.0:
            return
        self._last_lag_at = now
        self._waiting = sum(self.source.backlog().values())
        self._consumed_at.append((now, self.stats.consumed))
        m = self.metrics
        if self.exports_state:
            marks = [c.closed_through for c in self.stage.clocks.values() if c.closed_through]
            mark = min(marks) if marks else None
            m.set_state(self.stage.open_windows, self.stage.state_bytes, mark)
        if self.exports_lag:
            m.set_lag(self.source.lag())
        stalled, stalls, _ = self.stall()
        m.set_stalls(stalled, stalls)

    def stall(self) -> tuple[bool, int, float]:
        """Stalled now?, how many stalls so far, and their seconds (commits refused or
        failing, and the broker away)."""
        d = self.durably
        stalls = d.stalls if d else 0
        seconds = d.stalled_s if d else 0.0
        now = d is not None and d.failing_since is not None
        if d is not None and d.failing_since is not None:
            seconds += self.monotonic() - d.failing_since
        stalls += self.source.outages
        seconds += self.source.outage_s
        now = now or self.source.down
        return now, stalls, round(seconds, 3)

    def ready(self, max_lag_s: float) -> tuple[bool, str]:
        """Ready for traffic (``/readyz``): in its group, not stalled, and no further
        behind than ``max_lag_s`` seconds of its recent input rate; else why not."""
        if not self.source.joined:  # read live: the loop may be stuck in a retry
            return False, "not in its group (joining, rebalancing, or the broker is away)"
        stalled, _, _ = self.stall()
        if stalled:
            return False, "stalled: commits failing or the broker away"
        if self._waiting and len(self._consumed_at) >= 2:
            (t0, c0), (t1, c1) = self._consumed_at[0], self._consumed_at[-1]
            rate = (c1 - c0) / max(t1 - t0, 1e-9)
            behind_s = self._waiting / rate if rate > 0 else float("inf")
            if behind_s > max_lag_s:
                return False, f"{self._waiting:,} records behind (more than {max_lag_s:g} s)"
        return True, "ready"

    def lag_total(self) -> int:
        return sum(self.source.backlog().values())
