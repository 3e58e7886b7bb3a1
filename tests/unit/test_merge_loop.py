"""The merger's loop (datamoat/stage_two/merge_loop.py) over an in-memory partials log: a
merger killed part of the way and restored, reading the deltas in other batches than the
live loop did, goes on to exactly the signals of a merger never stopped (cascades, trends
and all), which equal the truth.

(A chaos run found the top cascades of a window different after a merger restart: windows
were closed once per poll, so which posts a window's cascades saw depended on where the
polls cut the deltas, and the restore cut them elsewhere.)"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.metrics import Metrics
from datamoat.pipeline import local_pipeline, score
from datamoat.retry import Durably
from datamoat.stage_two.emitter import SignalEmitter
from datamoat.stage_two.merge_loop import MergeLoop
from datamoat.stage_two.snapshots import Snapshots
from ingest.batch import RawBatch
from ingest.firehose import FirehoseConfig, generate
from ingest.memory import MemorySource, MemoryTopic
from ingest.source import Committed
from process.cascades import CascadeConfig
from process.delta import Origin, encode_delta
from process.stage_two.merger import Merger
from process.truth import truth_signals
from sinks.memory import ListDeadLetterSink, ListSink
from tests.unit.test_worker import SPEC, START, fill

ORIGIN = Origin("g", "posts")
ORDER = ["window_start", "key"]
CASCADES = CascadeConfig(ttl_ms=20_000)  # cascades forgotten within the run


@dataclass
class Partials:
    """A one-partition partials log with a committed offset, read ``size`` records a poll."""

    values: list[bytes]
    size: int
    committed_at: Committed | None = None
    at: int = 0
    topic: str = "g.partials"
    down: bool = False
    #: The oldest offset retention has left (the deltas before it are deleted).
    first: int = 0

    def committed(self, partitions: set[int]) -> dict[int, Committed | None]:
        return {0: self.committed_at}

    def position(self, partition: int) -> int:
        return self.at

    def first_offset(self, partition: int) -> int:
        return self.first

    def seek(self, partition: int, offset: int) -> None:
        self.at = offset

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        end = min(self.at + self.size, len(self.values))
        n = end - self.at
        batch = RawBatch(self.values[self.at : end], [None] * n, [0] * n, list(range(self.at, end)))
        self.at = end
        return batch


@dataclass
class Committing:
    """The merger's transaction: records the offset (and its metadata) it commits, and
    appends the records for the state topic to ``state`` (a ``StateLog``)."""

    log: Partials
    commits: list[int] = field(default_factory=list)
    state: Any = None

    def commit(self, records: Any, offsets: dict[int, tuple[int, str]]) -> None:
        offset, meta = offsets[0]
        self.log.committed_at = Committed(offset, meta)
        self.commits.append(offset)
        if self.state is not None:
            self.state.commit(records)


def _deltas(frame: pl.DataFrame) -> list[bytes]:
    """The encoded deltas a worker hands on for ``frame`` (3 partitions, small batches)."""
    topic = MemoryTopic(partitions=3)
    fill(topic, frame)
    source = MemorySource(topic)
    built = local_pipeline(source, [ListSink()], ListDeadLetterSink(), Metrics(), SPEC,
                           cascade_config=CASCADES, max_records=250, max_wait_ms=5)  # fmt: skip
    worker, inner, values = built.worker, built.worker.output, []

    class Recording:
        def early(self, increments: Any) -> None:  # early signals: not these tests'

            return None

        def commit(self, delta: Any, letters: Any, offsets: Any, group: Any) -> None:
            values.append(encode_delta(delta, ORIGIN))
            inner.commit(delta, letters, offsets, group)

    worker.output = Recording()
    worker.run(threading.Event(), done=source.exhausted)
    return values


def _loop(log: Partials, sink: ListSink, state: Any = None) -> MergeLoop:
    metrics = Metrics()
    merger = Merger(SPEC, cascade_config=CASCADES, partitions={0, 1, 2})
    emitter = SignalEmitter(merger, [sink], metrics, Durably(metrics))
    loop = MergeLoop(log, merger, emitter, Committing(log, state=state), [], "dlq", ORIGIN)  # type: ignore[arg-type]
    if state is not None:  # a snapshot every 4th step, written over a few commits
        ticks = iter(range(10**9))
        loop.snapshots = Snapshots(
            state, "g-merge", 3.5, 4_096, 40_000, monotonic=lambda: next(ticks)
        )
    return loop


def _drain(loop: MergeLoop, log: Partials, until: int) -> None:
    while log.at < until:
        loop.step()


@pytest.mark.parametrize(("live", "restored", "kill_at"), [(7, 50, 0.4), (3, 1, 0.7)])
def test_a_restored_merger_goes_on_exactly_as_one_never_stopped(
    live: int, restored: int, kill_at: float
) -> None:
    frame = generate(FirehoseConfig(rate=300.0), 9, START, 9_000)
    values = _deltas(frame)
    assert len(values) > 30

    whole = ListSink()
    log = Partials(values, size=13)
    _drain(_loop(log, whole), log, len(values))
    want = truth_signals(score(frame), SPEC, cascade_config=CASCADES)
    assert_frame_equal(whole.frame().sort(ORDER), want.sort(ORDER), check_exact=False,
                       abs_tol=1e-9)  # fmt: skip
    assert whole.frame()["top_cascades"].is_not_null().sum() > 3  # cascades are compared

    first, second = ListSink(), ListSink()
    log = Partials(values, size=live)
    _drain(_loop(log, first), log, int(len(values) * kill_at))  # then killed
    assert log.committed_at is not None
    log.size, log.at = restored, 0
    loop = _loop(log, second)
    loop.restore()
    assert loop.restored_deltas == log.committed_at.offset and log.at == log.committed_at.offset
    _drain(loop, log, len(values))
    got = pl.concat([first.frame(), second.frame()])
    assert_frame_equal(got.sort(ORDER), whole.frame().sort(ORDER), check_exact=False,
                       abs_tol=1e-9)  # fmt: skip


@pytest.mark.parametrize("kill_at", [0.45, 0.8])
def test_a_merger_restored_from_its_snapshot_replays_only_the_deltas_after_it(
    kill_at: float,
) -> None:
    from tests.unit.test_snapshot import StateLog

    frame = generate(FirehoseConfig(rate=300.0), 9, START, 9_000)
    values = _deltas(frame)
    whole = ListSink()
    log = Partials(values, size=1)
    _drain(_loop(log, whole), log, len(values))

    first, second, state = ListSink(), ListSink(), StateLog()
    log = Partials(values, size=1)
    live = _loop(log, first, state)
    _drain(live, log, int(len(values) * kill_at))  # then killed, mid-snapshot or not
    assert live.snapshots is not None and live.snapshots.written >= 2
    assert len({k for k, _ in state.log}) > 2  # several chunks each
    log.at = 0
    loop = _loop(log, second, state)
    loop.restore()
    ref = loop.restored_from
    assert log.committed_at is not None and ref is not None and ref.seq >= 2
    assert loop.restored_deltas == log.committed_at.offset - ref.offset < 12
    _drain(loop, log, len(values))
    got = pl.concat([first.frame(), second.frame()])
    assert_frame_equal(got.sort(ORDER), whole.frame().sort(ORDER), check_exact=True)


def test_without_its_snapshot_a_merger_rebuilds_from_every_delta() -> None:
    from tests.unit.test_snapshot import StateLog

    frame = generate(FirehoseConfig(rate=300.0), 9, START, 9_000)
    values = _deltas(frame)
    whole, first, second, state = ListSink(), ListSink(), ListSink(), StateLog()
    log = Partials(values, size=1)
    _drain(_loop(log, whole), log, len(values))
    log = Partials(values, size=1)
    _drain(_loop(log, first, state), log, len(values) // 2)
    state.log.clear()  # the state topic deleted: the reference names nothing
    log.at = 0
    loop = _loop(log, second, state)
    loop.restore()
    assert loop.restored_from is None and log.committed_at is not None
    assert loop.restored_deltas == log.committed_at.offset
    _drain(loop, log, len(values))
    got = pl.concat([first.frame(), second.frame()])
    assert_frame_equal(got.sort(ORDER), whole.frame().sort(ORDER), check_exact=True)


def test_deltas_past_retention_without_a_snapshot_are_a_clear_error_not_a_wrong_state() -> None:
    from datamoat.errors import StateLost
    from tests.unit.test_snapshot import StateLog

    frame = generate(FirehoseConfig(rate=300.0), 9, START, 9_000)
    values = _deltas(frame)
    log, state = Partials(values, size=1), StateLog()
    _drain(_loop(log, ListSink(), state), log, len(values) // 2)
    ref = _loop(log, ListSink(), state)
    log.at, log.first = 0, 3  # retention deleted the first deltas: the snapshot covers them
    ref.restore()
    assert ref.restored_from is not None
    state.log.clear()  # no snapshot: every delta since offset 0 is needed, and they are gone
    lost = _loop(log, ListSink(), state)
    with pytest.raises(StateLost, match="begins at 3"):
        lost.restore()
