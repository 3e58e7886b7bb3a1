"""``GroupLag`` (ingest/kafka/lag.py) makes its admin client again after a failed read:
kafka-python's client keeps the group coordinator it found, so after a broker restart moved
the coordinator every read of the old client failed and the lag went blank for good (found
by the soak)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from ingest.kafka import lag as lag_module
from ingest.kafka.testing import KafkaError, OffsetAndMetadata, TopicPartition

TP = TopicPartition("posts", 0)


class Admin:
    made: ClassVar[list[Admin]] = []
    coordinator_moved = True

    def __init__(self, **config: Any) -> None:
        self.closed = False
        Admin.made.append(self)

    def list_group_offsets(self, groups: dict[str, None]) -> dict[str, Any]:
        if Admin.coordinator_moved and self is Admin.made[0]:
            raise KafkaError("NotCoordinatorError")
        return {"g": {TP: OffsetAndMetadata(40, "", -1)}}

    def close(self) -> None:
        self.closed = True


class Consumer:
    def __init__(self, **config: Any) -> None:
        pass

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}

    def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {TP: 100}

    def close(self) -> None:
        pass


def test_a_failed_read_makes_the_admin_client_again(monkeypatch: pytest.MonkeyPatch) -> None:
    Admin.made = []
    monkeypatch.setattr(lag_module, "KafkaAdminClient", Admin)
    monkeypatch.setattr(lag_module, "KafkaConsumer", Consumer)
    lag = lag_module.GroupLag("b:9092", "posts", "g")
    assert lag.read() == {}  # the old client asks the old coordinator
    assert Admin.made[0].closed and lag.renewals == 0
    assert lag.read() == {0: 60}  # a new client found the new one
    assert len(Admin.made) == 2 and lag.renewals == 1
    lag.close()
