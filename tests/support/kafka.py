"""Fixtures for tests against a real Apache Kafka broker.

``kafka_bootstrap`` is ``$KAFKA_BOOTSTRAP`` when set, else a one-node broker that this session
starts on free loopback ports in a temporary directory and stops at the end. A broker that
can't be started or reached fails the run (with the broker's log tail); it never skips.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator

import pytest

from datamoat.broker import LocalCluster
from datamoat.errors import BrokerError
from ingest.kafka.admin import delete_topics, ensure_topics, is_reachable
from ingest.kafka.testing import KafkaAdminClient

__all__ = [
    "TopicFactory",
    "coordinator",
    "datamoat_env",
    "java_hash",
    "kafka_bootstrap",
    "topic_factory",
]

#: The fixtures that give a test the broker: a test that uses one carries the kafka marker.
BROKER_FIXTURES = frozenset({"kafka_bootstrap", "topic_factory", "datamoat_env"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the broker without saying so (``pytest.mark.kafka``) is an error
    at collection, so ``-m kafka`` / ``-m "not kafka"`` select exactly the broker tests."""
    unmarked = [
        item.nodeid
        for item in items
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("kafka") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"tests using the broker without pytest.mark.kafka: {unmarked}")


#: ``topic_factory(partitions=6, *, create=True) -> topic name``
TopicFactory = Callable[..., str]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        if not is_reachable(given, timeout_s=10.0):
            pytest.fail(f"KAFKA_BOOTSTRAP={given} does not answer a Kafka metadata request")
        yield given
        return
    cluster = LocalCluster(tmp_path_factory.mktemp("kafka"), port=0, heap="512m")
    try:
        status = cluster.start()
    except BrokerError as exc:
        pytest.fail(f"could not start the test Kafka broker: {exc}", pytrace=False)
    assert status.bootstrap is not None
    try:
        yield status.bootstrap
    finally:
        cluster.stop()


@pytest.fixture
def topic_factory(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """Make uniquely named topics for one test; they are deleted after it.

    ``create=False`` only reserves a unique name (for tests that create the topic themselves);
    ``name=`` makes (or reserves) that name, deleted after the test too.
    """
    made: list[str] = []
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80]

    def make(partitions: int = 6, *, create: bool = True, name: str | None = None) -> str:
        name = name or f"test-{stem}-{uuid.uuid4().hex[:8]}"
        made.append(name)
        if create:
            ensure_topics(kafka_bootstrap, {name: partitions})
        return name

    yield make
    if made:
        delete_topics(kafka_bootstrap, made)


@pytest.fixture
def datamoat_env(kafka_bootstrap: str, topic_factory: TopicFactory) -> dict[str, str]:
    """The environment for a ``datamoat`` subprocess: the test broker, and posts, dead-letter
    and signals topics of this test's own, with a consumer group named after them whose
    internal topics (``<group>.partials``, ``.merger-snapshots``, ``.early``) are this test's too
    (all created by the commands, deleted after the test). Tests that pass ``--group`` make
    further internal topics, left to the session's broker."""
    posts = topic_factory(6, create=False)
    group = f"{posts}-group"
    topic_factory(1, create=False, name=f"{group}.partials")
    topic_factory(1, create=False, name=f"{group}.merger-snapshots")
    topic_factory(1, create=False, name=f"{group}.early")
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP": kafka_bootstrap,
        "DATAMOAT_KAFKA_POSTS_TOPIC": posts,
        "DATAMOAT_KAFKA_DLQ_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_KAFKA_EARLY_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_KAFKA_ALERTS_TOPIC": topic_factory(6, create=False),
        "DATAMOAT_KAFKA_GROUP": group,
    }


def java_hash(text: str) -> int:
    """Java's ``String.hashCode`` (UTF-16 code units, 32-bit overflow)."""
    h = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def coordinator(bootstrap: str, group: str) -> int:
    """The node coordinating ``group``: Kafka keeps a group in ``__consumer_offsets``
    partition ``abs(hashCode(group)) % partitions``, and that partition's leader is it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=10000)
    try:
        (topic,) = admin.describe_topics(["__consumer_offsets"])
    finally:
        admin.close()
    leaders = {p["partition_index"]: p["leader_id"] for p in topic["partitions"]}
    h = java_hash(group)
    return int(leaders[(0 if h == -(1 << 31) else abs(h)) % len(leaders)])
