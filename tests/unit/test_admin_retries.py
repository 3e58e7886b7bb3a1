"""``replication_factors`` (ingest/kafka/admin.py) asks again when a node refuses or drops
the connection, within its time, and says which cluster when it gives up: a chaos run's
firehose exited at start when one of three nodes, slow on a loaded machine, refused it."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.errors import BrokerError
from ingest.kafka import admin
from ingest.kafka.testing import KafkaError

REFUSED = type("Refused", (KafkaError,), {"retriable": True})
DENIED = type("Denied", (KafkaError,), {"retriable": False})


class Admin:
    def __init__(self, failures: list[type[KafkaError]], always: bool = False) -> None:
        self.failures, self.calls, self.always = failures, 0, always

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.calls += 1
        if self.always:
            raise REFUSED("111 ECONNREFUSED")
        if self.failures:
            raise self.failures.pop(0)("111 ECONNREFUSED")
        return [{"name": n, "error_code": 0, "partitions": [{"replica_nodes": [1, 2, 3]}]}
                for n in names]  # fmt: skip

    def close(self) -> None:
        pass


def test_a_refused_connection_is_asked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = Admin([REFUSED, REFUSED])
    monkeypatch.setattr(admin, "_admin", lambda *a, **k: fake)
    monkeypatch.setattr("ingest.kafka.admin.time.sleep", lambda s: None)
    assert admin.replication_factors("b:9092", ["posts"]) == {"posts": 3}
    assert fake.calls == 3


def test_it_gives_up_at_its_time_or_at_once_when_retrying_cannot_help(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ingest.kafka.admin.time.sleep", lambda s: None)
    monkeypatch.setattr(admin, "_admin", lambda *a, **k: Admin([], always=True))
    with pytest.raises(BrokerError, match="can't describe topics on b:9092"):
        admin.replication_factors("b:9092", ["posts"], timeout_s=0.05)
    fake = Admin([DENIED])
    monkeypatch.setattr(admin, "_admin", lambda *a, **k: fake)
    with pytest.raises(BrokerError):
        admin.replication_factors("b:9092", ["posts"])
    assert fake.calls == 1


class Cluster:
    """describe_cluster refused by the node a client bootstraps from, ``refusals`` times."""

    refusals = 2
    made = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Cluster.made += 1

    def describe_cluster(self) -> dict[str, Any]:
        if Cluster.refusals:
            Cluster.refusals -= 1
            raise REFUSED("111 ECONNREFUSED")
        return {"brokers": [{"node_id": n} for n in (1, 2, 3)]}

    def close(self) -> None:
        pass


def test_broker_count_asks_again_with_a_new_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admin, "_admin", Cluster)
    monkeypatch.setattr("ingest.kafka.admin.time.sleep", lambda s: None)
    Cluster.refusals, Cluster.made = 2, 0
    assert admin.broker_count("a:1,b:2,c:3") == 3
    assert Cluster.made == 3
