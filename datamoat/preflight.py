"""Checks before a command starts anything: paths, ports, the broker, the topics.

Each failure is one :class:`~datamoat.errors.ConfigError` or
:class:`~datamoat.errors.BrokerError` line that says what is wrong and what to do. The
Kafka checks import the Kafka client (:mod:`ingest.kafka`) only when they run.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable
from pathlib import Path

from datamoat.errors import BrokerError, ConfigError

__all__ = ["check_output_dir", "check_port_free", "require_topic", "wait_for_broker"]

log = logging.getLogger(__name__)


def check_output_dir(path: Path, flag: str = "--output-dir") -> Path:
    """Create ``path`` (and its parents) unless it is a directory already; a file or an
    unwritable place in the way is one line naming ``flag``."""
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{flag} {path} is a file, not a directory: pass a directory (it is created "
            "when missing)"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{flag} {path} can't be created ({exc.strerror}): pick another"
        ) from None
    return path


def check_port_free(host: str, port: int, flag: str = "--http-port") -> None:
    """Fail now, before a broker or a worker starts, when ``host:port`` can't be listened
    on. Port 0 (any free port) always passes. Binds the way the HTTP server does
    (``SO_REUSEADDR``), so a port in TIME_WAIT is not reported busy."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"{flag} {port}: port {port} on {host} is already in use (another "
                    f"datamoat?): stop that process or pass {flag} with a free port (0: any)"
                ) from None
            raise ConfigError(
                f"{flag} {port}: can't listen on {host}:{port} ({exc.strerror})"
            ) from None


def wait_for_broker(bootstrap: str, wait_s: float, say: Callable[[str], None] = log.info) -> None:
    """Return once ``bootstrap`` answers; retry with backoff for up to ``wait_s`` seconds."""
    from ingest.kafka.admin import is_reachable

    if is_reachable(bootstrap, 3.0):
        return
    hint = "start one with 'datamoat broker start' or point --bootstrap at one"
    if wait_s <= 0:
        raise BrokerError(f"no Kafka broker reachable at {bootstrap}: {hint}")
    say(f"no Kafka broker at {bootstrap} yet; retrying for up to {wait_s:.0f} s")
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        if is_reachable(bootstrap, 3.0):
            say(f"broker at {bootstrap} is up")
            return
        delay = min(delay * 2, 5.0)
    raise BrokerError(f"no Kafka broker reachable at {bootstrap} after {wait_s:.0f} s: {hint}")


def require_topic(bootstrap: str, topic: str, key: str = "kafka.posts_topic") -> None:
    """Fail with one line when ``topic`` (config ``key``) does not exist (the worker would
    wait forever)."""
    from ingest.kafka.admin import topic_names

    if topic not in topic_names(bootstrap):
        raise ConfigError(
            f"topic {topic!r} does not exist on {bootstrap}: create it with 'datamoat topics' "
            f"or fix {key} in the config"
        )
