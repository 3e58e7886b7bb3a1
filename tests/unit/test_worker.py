from __future__ import annotations

import logging
import threading
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.metrics import Metrics
from datamoat.pipeline import local_pipeline, score
from datamoat.stage_one.worker import Worker
from ingest.batch import RawBatch
from ingest.errors import GroupMovedOn, SinkError, SinkUnavailable
from ingest.firehose import FirehoseConfig, encode_keys, encode_values, generate
from ingest.memory import MemorySource, MemoryTopic
from ingest.producer import partitions_of
from process.delta import END
from process.truth import truth_signals
from process.windows import WindowSpec
from sinks.memory import ListDeadLetterSink, ListSink

START = 1_767_225_600_000
SPEC = WindowSpec(size_ms=5_000, hop_ms=5_000, allowed_lateness_ms=1_000)
BAD = [b"", b"{broken", b"[1]", b'{"post_id": -5}', b"\xff"]


def fill(topic: MemoryTopic, frame: pl.DataFrame, bad_every: int = 0) -> list[bytes]:
    values, keys = encode_values(frame), encode_keys(frame)
    parts = partitions_of(frame, topic.partitions)
    inserted: list[bytes] = []
    for i in range(0, frame.height, 500):
        topic.write(parts[i : i + 500], keys[i : i + 500], values[i : i + 500])
        if bad_every and (i // 500) % bad_every == 0:
            raw = BAD[(i // 500) % len(BAD)]
            topic.write([i % topic.partitions], [None], [raw])
            inserted.append(raw)
    topic.close()
    return inserted


def make_worker(topic: MemoryTopic, sink: ListSink, dead: ListDeadLetterSink) -> Worker:
    built = local_pipeline(
        MemorySource(topic), [sink], dead, Metrics(), SPEC, max_records=3_000, max_wait_ms=20
    )
    return built.worker


def test_worker_output_equals_truth_and_accounting_holds() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 12_000)
    topic = MemoryTopic(partitions=4)
    bad = fill(topic, frame, bad_every=3)
    sink, dead = ListSink(), ListDeadLetterSink()
    worker = make_worker(topic, sink, dead)
    source = worker.source
    assert isinstance(source, MemorySource)
    worker.run(threading.Event(), done=source.exhausted)

    s = worker.stats
    assert s.consumed == frame.height + len(bad)
    assert s.processed == frame.height
    assert s.dead_lettered == len(bad) and s.late == 0
    assert s.consumed == s.processed + s.dead_lettered + s.late
    assert sorted(dead.values) == sorted(bad)  # the original bytes, untouched
    assert all(r for r in dead.reasons)
    assert sum(c.offset for c in source.commits.values()) == s.consumed

    want = truth_signals(score(frame), SPEC)
    got = sink.frame()
    order = ["window_start", "key"]
    assert_frame_equal(got.sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)

    metrics = worker.metrics.registry
    assert metrics.get_sample_value("datamoat_posts_consumed_total") == s.consumed
    assert metrics.get_sample_value("datamoat_posts_processed_total") == s.processed
    dlq = sum(
        sample.value
        for metric in metrics.collect()
        if metric.name == "datamoat_dead_letters"
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    assert dlq == s.dead_lettered


def test_a_sink_written_twice_keeps_one_copy_of_a_window() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 3_000)
    signals = truth_signals(score(frame), SPEC)
    sink = ListSink()
    sink.write(signals)
    sink.write(signals)
    assert sink.frame().height == signals.height


class FlakySink(ListSink):
    """Fails its first ``failures`` writes (a full disk, an unavailable topic)."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        super().__init__()
        self.failures = failures
        self.error = error or SinkError("No space left on device")

    def write(self, signals: pl.DataFrame) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        super().write(signals)


def test_a_failing_sink_pauses_the_worker_and_nothing_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    sink, dead = FlakySink(failures=4), ListDeadLetterSink()
    worker = make_worker(topic, sink, dead)
    naps: list[float] = []
    assert worker.durably is not None
    worker.durably.wait = naps.append
    source = worker.source
    assert isinstance(source, MemorySource)
    with caplog.at_level(logging.WARNING, logger="datamoat"):
        worker.run(threading.Event(), done=source.exhausted)

    want = truth_signals(score(frame), SPEC)
    order = ["window_start", "key"]
    assert_frame_equal(sink.frame().sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)
    assert naps == [0.1, 0.2, 0.4, 0.8]  # exponential backoff
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "failing" in lines[0] and "recovered" in lines[1]
    retries = worker.metrics.registry.get_sample_value(
        "datamoat_sink_retries_total", {"sink": "FlakySink"}
    )
    assert retries == 4


def test_a_sink_bug_is_not_retried_and_nothing_is_committed() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    sink = FlakySink(failures=10**9, error=TypeError("a programming error"))
    worker = make_worker(topic, sink, ListDeadLetterSink())
    source = worker.source
    assert isinstance(source, MemorySource)
    with pytest.raises(TypeError, match="programming error"):
        worker.run(threading.Event(), done=source.exhausted)
    assert not source.commits
    assert (
        worker.metrics.registry.get_sample_value(
            "datamoat_sink_retries_total", {"sink": "FlakySink"}
        )
        is None
    )


def test_shutdown_during_a_sink_outage_gives_up_without_committing() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    worker = make_worker(topic, FlakySink(failures=10**9), ListDeadLetterSink())
    stop = threading.Event()
    assert worker.durably is not None
    worker.durably.wait = lambda s: stop.set()  # the operator presses Ctrl-C during the outage
    with pytest.raises(SinkUnavailable):
        worker.run(stop)
    source = worker.source
    assert isinstance(source, MemorySource)
    assert not source.commits


class _DeafSource(MemorySource):
    """A memory source that can lose touch with its input (a broker away)."""

    heard_for_s = 0.0

    def listened_s(self) -> float:
        return self.heard_for_s


def test_silence_while_the_source_is_not_heard_is_not_idleness() -> None:
    """A broker away (or a loop stuck in a commit's retries) for longer than the idle
    timeout: the partitions are silent, but nobody listened. They must not go idle, or the
    merger closes windows on the other partitions' watermarks and their records come late."""
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 2_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    source = _DeafSource(topic)
    built = local_pipeline(
        source, [ListSink()], ListDeadLetterSink(), Metrics(), SPEC,
        idle_timeout_ms=1_000, max_records=5_000, max_wait_ms=50,
    )  # fmt: skip
    worker, t0 = built.worker, frame["created_at"].item(-1)
    clock = [t0]
    worker.wall_ms = lambda: clock[0]
    source.heard_for_s = float("inf")
    worker.step()  # every record read
    assert worker.stats.processed == frame.height

    def idle_after(heard_for_s: float, silent_ms: int) -> set[int]:
        source.heard_for_s, clock[0] = heard_for_s, t0 + silent_ms
        worker.step()
        return {p for p, c in worker.stage.clocks.items() if c.mark(clock[0], 1_000).idle}

    assert idle_after(0.2, 60_000) == set()  # just back in touch after a minute away
    assert idle_after(0.9, 60_700) == set()  # not yet heard for the idle timeout
    assert idle_after(2.0, 61_800) == {0, 1}  # heard, and silent, for longer than that


def test_a_source_heard_throughout_lets_silent_partitions_go_idle() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 2_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    built = local_pipeline(
        MemorySource(topic), [ListSink()], ListDeadLetterSink(), Metrics(), SPEC,
        idle_timeout_ms=1_000, max_records=5_000, max_wait_ms=50,
    )  # fmt: skip
    worker, t0 = built.worker, frame["created_at"].item(-1)
    worker.wall_ms = lambda: t0
    worker.step()
    worker.wall_ms = lambda: t0 + 1_000
    worker.step()
    assert all(c.mark(t0 + 1_000, 1_000).idle for c in worker.stage.clocks.values())


Commits = list[tuple[Any, dict[int, int]]]


def _recorded_drain(frame: pl.DataFrame, max_records: int) -> tuple[Worker, Commits]:
    """Drain ``frame`` (two partitions) through a worker whose every commit is recorded:
    its delta and the offsets it commits."""
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    source = MemorySource(topic)
    built = local_pipeline(source, [ListSink()], ListDeadLetterSink(), Metrics(), SPEC,
                           max_records=max_records, max_wait_ms=20)  # fmt: skip
    worker, commits = built.worker, []
    inner = worker.output

    class Recording:
        def early(self, increments: Any) -> None:  # early signals: not these tests'
            return None

        def commit(self, delta, letters, offsets, group):
            commits.append((delta, {p: o for p, (o, _) in offsets.items()}))
            inner.commit(delta, letters, offsets, group)

    worker.output = Recording()
    assert worker.run(threading.Event(), done=source.exhausted)
    return worker, commits


def test_each_delta_says_which_input_offsets_hold_the_posts_it_sums() -> None:
    """A delta's ``ranges`` cover, per partition, every record its rows sum: from the first
    record of a window open at the previous commit to the next offset of this one."""
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    _, deltas = _recorded_drain(frame, 700)
    with_rows = [(d, o) for d, o in deltas if d.partials.height]
    assert len(with_rows) >= 3
    parts = partitions_of(frame, 2)
    where = frame.with_columns(
        pl.Series("partition", parts),
        (pl.col("created_at") // SPEC.hop_ms * SPEC.hop_ms).alias("window_start"),
    ).with_columns(pl.int_range(pl.len()).over("partition").alias("offset"))
    for delta, offsets in with_rows:
        assert set(delta.ranges) == {0, 1}
        summed = where.filter(
            pl.col("window_start").is_in(delta.partials["window_start"].implode())
        )
        for p, (first, end) in delta.ranges.items():
            held = summed.filter(pl.col("partition") == p)["offset"]
            assert first <= held.min() and held.max() < end, (p, first, end)
            assert end == offsets.get(p, end)
    assert max(d.ranges[0][0] for d, _ in with_rows) > 0  # it moves on as windows close


def test_the_batch_that_ends_a_drain_ends_every_partition_in_its_own_commit() -> None:
    """The last batch of a drain (caught up, and the input over) closes every window and
    ends every partition in the commit that carries its records: no commit after it."""
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    worker, commits = _recorded_drain(frame, 2_500)
    last, offsets = commits[-1]
    assert last.stats.consumed > 0 and last.partials.height  # the last batch's own records
    assert {p: m.closed_through for p, m in last.marks.items()} == {0: END, 1: END}
    assert all(m.closed_through != END for d, _ in commits[:-1] for m in d.marks.values())
    ends = partitions_of(frame, 2)
    assert offsets == {p: ends.count(p) for p in (0, 1)}
    assert sum(d.stats.consumed for d, _ in commits) == frame.height == worker.stats.consumed
    assert len(commits) == -(-frame.height // 2_500)  # one per batch, none to end


class _Regrouped(MemorySource):
    """A reader whose group moves under a batch: the rewind goes back to the commits and
    tells the worker as on an assignment, and records before them can be read again."""

    def __init__(self, topic: MemoryTopic, raw: dict[int, list[tuple[bytes | None, bytes]]]):
        super().__init__(topic)
        self.raw = raw
        self.listener: Worker | None = None

    def read_range(self, partition: int, start: int, end: int) -> RawBatch:
        part = self.raw[partition][start:end]
        return RawBatch([v for _, v in part], [k for k, _ in part], [partition] * len(part),
                        list(range(start, start + len(part))))  # fmt: skip

    def rewind(self) -> None:
        for p in self.partitions():
            self.positions[p] = self.committed_offset(p)
        assert self.listener is not None
        self.listener.assigned(self.all_committed())


def test_a_batch_aborted_by_a_rebalance_loses_none_of_the_windows_still_open() -> None:
    """The group moves on under a commit (GroupMovedOn): the batch is aborted, and the
    worker goes back to the commits, rebuilding each partition's open windows from the
    records before them. (A chaos run lost the first window's posts before the last commit:
    the rewind ran while the worker still counted itself as committing, so the partitions
    were dropped and never rebuilt.)"""
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 9_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    parts = partitions_of(frame, topic.partitions)
    values, keys = encode_values(frame), encode_keys(frame)
    raw: dict[int, list[tuple[bytes | None, bytes]]] = {0: [], 1: []}
    for p, k, v in zip(parts, keys, values, strict=True):
        raw[p].append((k, v))
    source = _Regrouped(topic, raw)
    sink = ListSink()
    built = local_pipeline(source, [sink], ListDeadLetterSink(), Metrics(), SPEC,
                           max_records=700, max_wait_ms=20)  # fmt: skip
    worker = built.worker
    source.listener = worker
    inner, calls = worker.output, list[int]()

    class MovesOnOnce:
        def early(self, increments: Any) -> None:  # early signals: not these tests'

            return None

        def commit(self, delta, letters, offsets, group):
            calls.append(len(calls))
            if len(calls) == 4:  # windows are open, with posts before the last commit
                raise GroupMovedOn("the group rebalanced under this batch (test)")
            inner.commit(delta, letters, offsets, group)

    worker.output = MovesOnOnce()
    worker.run(threading.Event(), done=source.exhausted)
    assert len(calls) > 4
    want = truth_signals(score(frame), SPEC)
    order = ["window_start", "key"]
    assert_frame_equal(sink.frame().sort(order), want.sort(order), check_exact=False,
                       abs_tol=1e-9)  # fmt: skip


@pytest.mark.parametrize("posts", [3_000, 2_000])  # a full batch, and one cut short
def test_the_end_of_a_drain_is_found_without_one_more_empty_poll(posts: int) -> None:
    """``done`` is asked after a batch that read the last records, full or not: a drain
    does not wait out another poll (up to max_wait_ms) to learn that the input is over."""
    frame = generate(FirehoseConfig(rate=300.0), 5, START, posts)
    topic = MemoryTopic(partitions=4)
    fill(topic, frame)
    topic.closed = False  # a live topic: only done() says the input is over
    sink, dead = ListSink(), ListDeadLetterSink()
    worker = make_worker(topic, sink, dead)
    source = worker.source
    assert isinstance(source, MemorySource)
    reads: list[int] = []
    read = source.read

    def counted(max_records: int, timeout_ms: int) -> RawBatch:
        got = read(max_records, timeout_ms)
        reads.append(len(got))
        return got

    source.read = counted  # type: ignore[method-assign]
    assert worker.run(threading.Event(), done=lambda: not any(source.backlog().values()))
    assert worker.stats.processed == posts
    assert sum(reads) == posts
    assert reads.count(0) <= 1  # at most the poll that found a short batch's end
