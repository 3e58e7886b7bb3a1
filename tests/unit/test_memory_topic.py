from __future__ import annotations

import threading

import pytest

from ingest.memory import MemorySource, MemoryTopic


def test_records_keep_their_partition_order_and_offsets() -> None:
    topic = MemoryTopic(partitions=2)
    topic.write([0, 1, 0], [b"a", b"b", b"c"], [b"1", b"2", b"3"])
    batch = MemorySource(topic).poll(10, 0)
    assert list(zip(batch.partitions, batch.offsets, batch.values, strict=True)) == [
        (0, 0, b"1"),
        (0, 1, b"3"),
        (1, 0, b"2"),
    ]
    assert batch.next_offsets() == {0: 2, 1: 1}


def test_committed_records_are_dropped_and_offsets_stay_absolute() -> None:
    topic = MemoryTopic(partitions=1)
    source = MemorySource(topic)
    topic.write([0] * 5, [None] * 5, [b"%d" % i for i in range(5)])
    first = source.poll(3, 0)
    source.commit({p: (o, "") for p, o in first.next_offsets().items()})
    assert topic.end_offsets() == [5]
    rest = source.poll(10, 0)
    assert rest.offsets == [3, 4] and rest.values == [b"3", b"4"]
    assert source.lag() == {0: 2} and source.backlog() == {0: 0}
    with pytest.raises(LookupError):
        topic.read([0], 10, 0)  # a reader behind what was committed finds it dropped


def test_a_full_backlog_makes_the_writer_wait_for_the_reader() -> None:
    topic = MemoryTopic(partitions=1, max_backlog=10)
    source = MemorySource(topic)
    topic.write([0] * 10, [None] * 10, [b"x"] * 10)
    wrote = threading.Event()

    def writer() -> None:
        topic.write([0], [None], [b"y"])
        wrote.set()

    thread = threading.Thread(target=writer)
    thread.start()
    assert not wrote.wait(0.3)  # blocked: 10 records unconsumed
    source.commit({p: (o, "") for p, o in source.poll(5, 0).next_offsets().items()})
    assert wrote.wait(5)
    thread.join()
    topic.close()
    assert len(source.poll(100, 0)) == 6 and source.exhausted()
