"""The start-up policy of the Kafka commands: a broker lost after the first look is waited for
within ``--wait-for-broker``; anything waiting would not change is raised at once.

The broker's first look (:func:`datamoat.preflight.wait_for_broker`) is replaced here by one
that answers at once or says it is gone; the real thing, with a broker lost and found again
behind a loopback gate, is ``tests/integration/test_start_lost_broker.py``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from datamoat import preflight
from datamoat.errors import AccessDenied, BrokerError, BrokerUnreachable, ConfigError
from datamoat.preflight import start_with_broker
from ingest.kafka.diagnose import lost_broker
from ingest.kafka.testing import KafkaConnectionError, KafkaError


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits asked of the broker's look (which answers at once)."""
    asked: list[float] = []

    def look(bootstrap: str, wait_s: float) -> None:
        asked.append(wait_s)

    monkeypatch.setattr(preflight, "wait_for_broker", look)
    return asked


def failing(*errors: Exception) -> Callable[[], str]:
    """A start that raises ``errors`` in turn, then returns "started"."""
    left = list(errors)

    def start() -> str:
        if left:
            raise left.pop(0)
        return "started"

    return start


def timeout_behind_broker_error() -> BrokerError:
    try:
        try:
            raise KafkaConnectionError("connection reset")
        except KafkaConnectionError as exc:
            raise BrokerError("can't describe the topics on b:9092: timed out") from exc
    except BrokerError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    ("error", "lost"),
    [
        (BrokerUnreachable("no Kafka broker answers on b:9092"), True),
        (KafkaConnectionError("connection reset"), True),
        (timeout_behind_broker_error(), True),
        (AccessDenied("SASL authentication failed"), False),
        (ConfigError("topic posts does not exist: run 'datamoat topics'"), False),
        (BrokerError("the cluster did not create __consumer_offsets within 30 s"), False),
        (KafkaError("not retriable"), False),
        (LookupError("topic 'posts' does not exist"), False),
    ],
)
def test_which_errors_are_a_lost_broker(error: Exception, lost: bool) -> None:
    assert lost_broker(error) is lost


def test_a_start_that_lost_the_broker_is_tried_again(looks: list[float]) -> None:
    said: list[str] = []
    lost = [BrokerUnreachable("no Kafka broker answers on b:9092"), KafkaConnectionError("reset")]
    got = start_with_broker("b:9092", 60.0, failing(*lost), say=said.append, retry_s=0.01)
    assert got == "started"
    assert len(looks) == 3 and looks[0] == 60.0 and all(0 < w <= 60.0 for w in looks[1:])
    assert len(said) == 2 and all(line.startswith("lost the broker at b:9092") for line in said)


@pytest.mark.parametrize(
    "error",
    [AccessDenied("SASL authentication failed"), ConfigError("bad"), ValueError("a bug")],
)
def test_what_waiting_would_not_change_is_raised_at_once(
    looks: list[float], error: Exception
) -> None:
    with pytest.raises(type(error)):
        start_with_broker("b:9092", 60.0, failing(error), say=pytest.fail, retry_s=0.01)
    assert looks == [60.0]


def test_a_broker_lost_for_longer_than_the_wait_is_69_in_one_line(looks: list[float]) -> None:
    never = failing(*[BrokerUnreachable("no Kafka broker answers on b:9092")] * 1_000)
    with pytest.raises(BrokerUnreachable) as raised:
        start_with_broker("b:9092", 0.05, never, say=lambda line: None, retry_s=0.01)
    line = str(raised.value)
    assert "answered, then was lost while this command started" in line
    assert "--wait-for-broker 0.05 s" in line and "\n" not in line
    assert raised.value.exit_status == 69


def test_a_broker_that_does_not_come_back_to_the_look_is_69(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    looked: list[float] = []

    def look(bootstrap: str, wait_s: float) -> None:
        looked.append(wait_s)
        if len(looked) > 1:
            raise BrokerUnreachable(f"no Kafka broker reachable at {bootstrap}")

    monkeypatch.setattr(preflight, "wait_for_broker", look)
    start = failing(BrokerUnreachable("no Kafka broker answers on b:9092"))
    with pytest.raises(BrokerUnreachable, match="answered, then was lost"):
        start_with_broker("b:9092", 30.0, start, say=lambda line: None, retry_s=0.01)
    assert len(looked) == 2
