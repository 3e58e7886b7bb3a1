"""A worker's consumer against the real broker: its first join already knows its topic."""

from __future__ import annotations

import time
import uuid

import pytest

from ingest.kafka.source import KafkaSource, consumer_config
from tests.support.kafka import TopicFactory

pytestmark = pytest.mark.kafka


class _Recording(KafkaSource):
    """A source that keeps every assignment it is told of, in order."""

    def __init__(self, topic: str, config: dict[str, object]) -> None:
        self.assignments: list[set[int]] = []
        super().__init__(topic, config)

    def on_assigned(self, partitions: set[int]) -> None:
        self.assignments.append(set(partitions))
        super().on_assigned(partitions)


def test_the_first_join_assigns_every_partition(
    kafka_bootstrap: str, topic_factory: TopicFactory
) -> None:
    # Without the topic's metadata at its first join, a consumer is assigned nothing, sleeps
    # and joins again: two rebalances (and about 0.1 s) before its first record. kafka-python
    # asks for that metadata retry_backoff_ms after its bootstrap: made long here, so that
    # only a consumer that learns its topic before the first poll is assigned it at once.
    # A group joined first warms the broker up: a new one's first joins are slow enough to
    # let the metadata come first anyway.
    topic = topic_factory(3)
    for _ in range(2):
        group = f"learn-{uuid.uuid4().hex[:8]}"
        source = _Recording(topic, consumer_config(kafka_bootstrap, group, retry_backoff_ms=5_000))
        try:
            deadline = time.monotonic() + 30
            while source.partitions() != {0, 1, 2} and time.monotonic() < deadline:
                source.poll(100, 100)
            assert source.partitions() == {0, 1, 2}
        finally:
            source.close()
    assert source.assignments == [{0, 1, 2}]
