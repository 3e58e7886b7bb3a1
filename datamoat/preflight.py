"""Checks before a command touches Kafka: the broker answers, the topics exist.

Each failure is one line that says what is wrong and what to do.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from datamoat.broker import is_reachable
from datamoat.errors import BrokerError, ConfigError

__all__ = ["require_topic", "wait_for_broker"]


def _stderr(line: str) -> None:
    print(f"datamoat: {line}", file=sys.stderr, flush=True)


def wait_for_broker(bootstrap: str, wait_s: float, log: Callable[[str], None] = _stderr) -> None:
    """Return once ``bootstrap`` answers; retry with backoff for up to ``wait_s`` seconds."""
    if is_reachable(bootstrap, 3.0):
        return
    hint = "start one with 'datamoat broker start' or point --bootstrap at one"
    if wait_s <= 0:
        raise BrokerError(f"no Kafka broker reachable at {bootstrap}: {hint}")
    log(f"no Kafka broker at {bootstrap} yet; retrying for up to {wait_s:.0f} s")
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        if is_reachable(bootstrap, 3.0):
            log(f"broker at {bootstrap} is up")
            return
        delay = min(delay * 2, 5.0)
    raise BrokerError(f"no Kafka broker reachable at {bootstrap} after {wait_s:.0f} s: {hint}")


def require_topic(bootstrap: str, topic: str) -> None:
    """Fail with one line when ``topic`` does not exist (the worker would wait forever)."""
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    except KafkaError as exc:
        raise BrokerError(f"can't reach Kafka at {bootstrap}: {exc}") from None
    try:
        topics = consumer.topics()
    finally:
        consumer.close()
    if topic not in topics:
        raise ConfigError(
            f"topic {topic!r} does not exist on {bootstrap}: create it with 'datamoat topics' "
            "or fix kafka.posts_topic in the config"
        )
