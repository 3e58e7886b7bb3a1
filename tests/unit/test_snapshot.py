"""The merger's snapshots (process/stage_two/snapshot.py, datamoat/stage_two/snapshots.py):
a merger restored from a snapshot and given the deltas after it goes on bit for bit as one
that never stopped, its state laid out the same (pieces, sorted runs, evictions); the
chunks that carry a snapshot through Kafka are read back whole or not at all."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.stage_two.snapshots import SnapshotMissing, SnapshotRef, Snapshots
from ingest.batch import OutRecord
from ingest.firehose import FirehoseConfig, generate
from process.cascades import CascadeConfig
from process.delta import Delta, decode_delta
from process.stage_two import snapshot
from process.stage_two.merger import Merger
from process.trends import TrendConfig
from process.windows import WindowSpec
from tests.unit.test_merge_loop import _deltas
from tests.unit.test_worker import SPEC, START

TRENDS = TrendConfig(min_support=3, warmup_windows=1)
#: A cascade budget small enough that the cascades silent longest are evicted in the run.
CASCADES = CascadeConfig(ttl_ms=20_000, max_state_bytes=6_000)


@functools.cache
def deltas() -> list[Delta]:
    frame = generate(FirehoseConfig(rate=300.0), 9, START, 9_000)
    return [decode_delta(v) for v in _deltas(frame)]


def merger() -> Merger:
    m = Merger(SPEC, TRENDS, CASCADES, partitions={0, 1, 2})
    m.open.min_rows = 40  # pieces merge now and then within the run
    return m


def feed(m: Merger, some: list[Delta]) -> list[pl.DataFrame]:
    out = []
    for delta in some:
        m.apply(delta)
        m.take_late()
        out.append(m.close())
    return out


@pytest.mark.parametrize("cut", [0.2, 0.55, 0.9])
def test_a_merger_restored_from_a_snapshot_goes_on_exactly_as_one_never_stopped(
    cut: float,
) -> None:
    every = deltas()
    whole = merger()
    want = pl.concat(feed(whole, every))
    assert whole.cascades.evicted > 0 and whole.ended  # the budget path is exercised

    k = int(len(every) * cut)
    first = merger()
    got = feed(first, every[:k])
    second = merger()
    snapshot.load(second, snapshot.dump(first))
    got += feed(second, every[k:])
    assert_frame_equal(pl.concat(got), want, check_exact=True)
    assert second.stats == whole.stats and second.cascades.evicted == whole.cascades.evicted

    # and the state itself, as laid out in memory, is the one the merger never stopped has
    mine, theirs = snapshot.parse(snapshot.dump(second)), snapshot.parse(snapshot.dump(whole))
    assert mine[0] == theirs[0]
    assert mine[1].keys() == theirs[1].keys()
    for name, frame in mine[1].items():
        assert_frame_equal(frame, theirs[1][name], check_exact=True)


def test_a_snapshot_of_other_settings_or_damaged_is_refused_and_changes_nothing() -> None:
    first = merger()
    feed(first, deltas()[:20])
    blob = snapshot.dump(first)
    other = Merger(WindowSpec(size_ms=10_000, hop_ms=10_000, allowed_lateness_ms=1_000), TRENDS,
                   CASCADES)  # fmt: skip
    with pytest.raises(snapshot.SnapshotMismatch, match="other settings"):
        snapshot.load(other, blob)
    assert other.open.height == 0 and other.marks == {}
    for bad in (b"", b"DMSNAP1\n", blob[:-7], blob + b"x", b"PAR1" + blob[4:]):
        with pytest.raises(snapshot.SnapshotError):
            snapshot.load(merger(), bad)


@dataclass
class StateLog:
    """The state topic in memory: records appended as their commit goes through."""

    topic: str = "g.merger-state"
    log: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    def end_offset(self) -> int:
        return len(self.log)

    def records(self, start: int) -> Iterator[tuple[bytes | None, bytes, int]]:
        for offset in range(start, len(self.log)):
            key, value = self.log[offset]
            yield key, value, offset

    def commit(self, records: list[OutRecord]) -> None:
        self.log += [(r.key, r.value) for r in records if r.topic == self.topic]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_snapshot_rides_along_several_commits_and_is_read_back_whole() -> None:
    state, clock = StateLog(), Clock()
    snaps = Snapshots(state, "g-merge", interval_s=60, chunk_bytes=10, per_commit_bytes=35,
                      monotonic=clock)  # fmt: skip
    state.log.append((b"other", b"x"))
    assert not snaps.due()  # the first one an interval after start
    clock.now = 61
    assert snaps.due()
    blob = bytes(range(95))
    snaps.start(blob, offset=500)
    assert not snaps.due()  # one at a time
    refs = []
    while True:
        records, ref = snaps.take()
        assert sum(len(r.value) - 16 for r in records) <= 35 or len(records) == 1
        state.commit(records)
        snaps.committed()
        refs.append(ref)
        if ref is not None:
            break
    assert refs[:-1] == [None] * (len(refs) - 1) and len(refs) >= 3
    ref = refs[-1]
    assert ref is not None and (ref.seq, ref.offset, ref.first, ref.chunks) == (1, 500, 1, 10)
    assert snaps.latest == ref and snaps.read(ref) == blob
    assert SnapshotRef.from_json(ref.to_json()) == ref
    assert SnapshotRef.from_json({"seq": "x"}) is None


def test_the_next_snapshot_goes_to_the_other_slot_and_a_broken_one_is_not_read() -> None:
    state, clock = StateLog(), Clock()
    snaps = Snapshots(state, "g-merge", interval_s=1, chunk_bytes=4, monotonic=clock)

    def write(blob: bytes, offset: int) -> SnapshotRef:
        clock.now += 2
        assert snaps.due()
        snaps.start(blob, offset)
        records, ref = snaps.take()
        state.commit(records)
        snaps.committed()
        assert ref is not None
        return ref

    assert not snaps.due()
    one = write(b"first state", 10)
    two = write(b"second state!", 20)
    assert {k for k, _ in state.log if k and k.startswith(b"g-merge/1/")} == {
        b"g-merge/1/0", b"g-merge/1/1", b"g-merge/1/2"
    }  # fmt: skip
    assert two.seq == 2 and snaps.read(two) == b"second state!"
    assert snaps.read(one) == b"first state"

    # the next one is half written when the merger dies: the newest complete one stands
    clock.now += 2
    snaps.start(b"third state, never finished", 30)
    snaps.per_commit_bytes = 8
    records, ref = snaps.take()
    state.commit(records)
    snaps.committed()
    assert ref is None and snaps.latest == two
    assert Snapshots(state, "g-merge").read(two) == b"second state!"

    # chunks gone (compacted away, or another topic): missing, not a wrong state
    with pytest.raises(SnapshotMissing, match="1 of its 7 chunks"):
        Snapshots(state, "g-merge").read(SnapshotRef(3, 30, 0, 7, 27, two.digest))
    with pytest.raises(SnapshotMissing, match="digest"):
        Snapshots(state, "g-merge").read(SnapshotRef(2, 20, 0, 4, 13, one.digest))
    with pytest.raises(SnapshotMissing):
        Snapshots(state, "h-merge").read(two)


def test_with_the_broker_away_a_snapshot_is_skipped_until_the_next_interval() -> None:
    from ingest.errors import SourceTimeout

    class Away(StateLog):
        down = True

        def end_offset(self) -> int:
            if self.down:
                raise SourceTimeout("no end offset of g.merger-state (timed out)")
            return super().end_offset()

    state, clock, made = Away(), Clock(), []
    snaps = Snapshots(state, "g-merge", interval_s=10, monotonic=clock)
    assert not snaps.due()
    clock.now = 11
    assert snaps.due()
    snaps.start(lambda: made.append(1) or b"state", 5)  # type: ignore[func-returns-value]
    assert made == [] and snaps.take() == ([], None)  # nothing serialised, nothing written
    clock.now = 15
    assert not snaps.due()  # not at every batch while the broker is away
    state.down, clock.now = False, 22
    assert snaps.due()
    snaps.start(lambda: made.append(1) or b"state", 6)  # type: ignore[func-returns-value]
    records, ref = snaps.take()
    assert made == [1] and ref is not None and ref.offset == 6 and len(records) == 1
