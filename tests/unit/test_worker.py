from __future__ import annotations

import threading

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.metrics import Metrics
from datamoat.pipeline import score
from datamoat.worker import SinkUnavailable, Worker
from ingest.batch import RawBatch
from ingest.firehose import FirehoseConfig, encode_keys, encode_values, generate
from ingest.memory import MemorySource, MemoryTopic
from ingest.producer import partitions_of
from process.engine import WindowEngine
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
    return Worker(
        source=MemorySource(topic),
        engine=WindowEngine(SPEC),
        sinks=[sink],
        dead_letters=dead,
        metrics=Metrics(),
        max_records=3_000,
        max_wait_ms=20,
        scorer=score,
    )


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
    assert sum(source.committed.values()) == s.consumed

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

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def write(self, signals: pl.DataFrame) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise OSError(28, "No space left on device")
        super().write(signals)


def test_a_failing_sink_pauses_the_worker_and_nothing_is_lost() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    sink, dead = FlakySink(failures=4), ListDeadLetterSink()
    worker = make_worker(topic, sink, dead)
    lines: list[str] = []
    naps: list[float] = []
    worker.log, worker.sleep = lines.append, naps.append
    source = worker.source
    assert isinstance(source, MemorySource)
    worker.run(threading.Event(), done=source.exhausted)

    want = truth_signals(score(frame), SPEC)
    order = ["window_start", "key"]
    assert_frame_equal(sink.frame().sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)
    assert naps == [0.1, 0.2, 0.4, 0.8]  # exponential backoff
    assert len(lines) == 2 and "failing" in lines[0] and "recovered" in lines[1]
    retries = worker.metrics.registry.get_sample_value(
        "datamoat_sink_retries_total", {"sink": "FlakySink"}
    )
    assert retries == 4


def test_shutdown_during_a_sink_outage_gives_up_without_committing() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    topic = MemoryTopic(partitions=2)
    fill(topic, frame)
    worker = make_worker(topic, FlakySink(failures=10**9), ListDeadLetterSink())
    stop = threading.Event()
    worker.log = lambda line: None
    worker.sleep = lambda s: stop.set()  # the operator presses Ctrl-C during the outage
    with pytest.raises(SinkUnavailable):
        worker.run(stop)
    source = worker.source
    assert isinstance(source, MemorySource)
    assert not source.committed


class LateAssignment(MemorySource):
    """Like a Kafka consumer right after a restart: no partitions for the first steps."""

    def __init__(self, topic: MemoryTopic, silent_steps: int) -> None:
        super().__init__(topic)
        self.silent_steps = silent_steps

    def poll(self, max_records: int, timeout_ms: int) -> RawBatch:
        return RawBatch() if self.silent_steps > 0 else super().poll(max_records, timeout_ms)

    def partitions(self) -> set[int]:  # the worker asks once per step
        self.silent_steps -= 1
        return set() if self.silent_steps >= 0 else super().partitions()


def test_restored_state_that_saw_one_partition_waits_for_the_assignment() -> None:
    frame = generate(FirehoseConfig(rate=300.0), 5, START, 6_000)
    parts = pl.Series(partitions_of(frame, 2))
    ahead, behind = frame.filter(parts == 0), frame.filter(parts == 1)
    # A checkpoint taken when only partition 0 had been read, all of it:
    first = make_worker(MemoryTopic(partitions=2), ListSink(), ListDeadLetterSink())
    first.engine.add(
        score(ahead).with_columns(
            pl.lit(0, dtype=pl.Int32).alias("partition"),
            pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
        ),
        now_ms=0,
    )
    scalars, frames = first.engine.snapshot()

    topic = MemoryTopic(partitions=2)
    fill(topic, behind)
    sink = ListSink()
    worker = make_worker(topic, sink, ListDeadLetterSink())
    worker.source = LateAssignment(topic, silent_steps=3)
    worker.engine.restore(scalars, frames, now_ms=0)
    worker.run(threading.Event(), done=lambda: (topic.closed and not any(topic.end_offsets())) or
               worker.stats.consumed == behind.height)  # fmt: skip
    assert worker.stats.late == 0
    want = truth_signals(score(frame), SPEC)
    order = ["window_start", "key"]
    assert_frame_equal(sink.frame().sort(order), want.sort(order), check_exact=False, abs_tol=1e-9)
