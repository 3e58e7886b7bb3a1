"""Checks before a command starts anything: paths, ports, the broker, the topics.

Each failure is one :class:`~datamoat.errors.ConfigError` or
:class:`~datamoat.errors.BrokerError` line that says what is wrong and what to do (a broker
that does not answer: :class:`~datamoat.errors.BrokerUnreachable`; one that refuses this
client: :class:`~datamoat.errors.AccessDenied`). The Kafka checks import the Kafka client
(:mod:`ingest.kafka`) only when they run.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from datamoat.errors import BrokerError, BrokerUnreachable, ConfigError

__all__ = [
    "check_output_dir",
    "check_port_free",
    "require_topics",
    "start_with_broker",
    "wait_for_broker",
]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


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


#: How long one look for a broker may take (less when the wait has less left).
PROBE_S = 3.0
#: The first look at a port that takes connections: long enough for a refusal to show.
LISTENING_S = 15.0


def wait_for_broker(bootstrap: str, wait_s: float, say: Callable[[str], None] = log.info) -> None:
    """Return once ``bootstrap`` answers; retry with backoff for up to ``wait_s`` seconds,
    then raise :class:`BrokerUnreachable`. A broker that refuses this client raises
    :class:`~datamoat.errors.AccessDenied` at once: waiting would not change its answer."""
    from ingest.kafka.diagnose import listens

    # A port that takes connections gets longer for the first look (up to the wait): a
    # refused login shows first as dropped connections, and only a later attempt says why
    # (where kafka-python drops the refusal that comes with the close: datamoat's socket
    # reads keep it, :func:`ingest.kafka.private.receive`, on the kafka-python it knows).
    first = max(PROBE_S, min(LISTENING_S, wait_s)) if listens(bootstrap) else PROBE_S
    if _answers(bootstrap, first):
        return
    hint = "start one with 'datamoat broker start' or point --bootstrap at one"
    if wait_s <= 0:
        from ingest.kafka.diagnose import protocol_hint

        raise BrokerUnreachable(
            f"no Kafka broker reachable at {bootstrap}: {hint}{protocol_hint(bootstrap)}"
        )
    say(f"no Kafka broker at {bootstrap} yet; retrying for up to {wait_s:.0f} s")
    deadline = time.monotonic() + wait_s
    delay = 0.5
    while time.monotonic() < deadline:
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        if _answers(bootstrap, min(PROBE_S, max(0.5, deadline - time.monotonic()))):
            say(f"broker at {bootstrap} is up")
            return
        delay = min(delay * 2, 5.0)
    from ingest.kafka.diagnose import protocol_hint

    raise BrokerUnreachable(
        f"no Kafka broker reachable at {bootstrap} after {wait_s:.0f} s: {hint}"
        f"{protocol_hint(bootstrap)}"
    )


def start_with_broker(
    bootstrap: str,
    wait_s: float,
    start: Callable[[], _T],
    say: Callable[[str], None] = log.warning,
    retry_s: float = 1.0,
) -> _T:
    """``start()`` (a command's set-up: its topic checks and clients) once the broker at
    ``bootstrap`` answers, as :func:`wait_for_broker` waits for it; and again when the broker
    is lost on the way (it answered, then a client made after that could not bootstrap or
    timed out: a node restarting, a container name that did not resolve for a while), until
    ``wait_s`` seconds from the first look have passed. ``start`` must close what it made
    before it raises. A broker still lost then is :class:`BrokerUnreachable` (exit 69), one
    line; a refusal, a bad setting or a missing topic is raised at once."""
    from ingest.kafka.diagnose import lost_broker

    deadline = time.monotonic() + wait_s
    wait_for_broker(bootstrap, wait_s)
    while True:
        try:
            return start()
        except Exception as exc:
            if not lost_broker(exc):
                raise
            lost = exc
        left = deadline - time.monotonic()
        gone = (
            f"the Kafka broker at {bootstrap} answered, then was lost while this command "
            f"started, for longer than --wait-for-broker {wait_s:g} s: {lost}"
        )
        if left <= 0:
            raise BrokerUnreachable(gone) from lost
        say(f"lost the broker at {bootstrap} while starting ({lost}); trying again for up to "
            f"{left:.0f} s")  # fmt: skip
        time.sleep(min(retry_s, left))
        try:
            wait_for_broker(bootstrap, max(0.0, deadline - time.monotonic()))
        except BrokerUnreachable as exc:
            raise BrokerUnreachable(gone) from exc


#: The first attempt of a look: short, so that a refusal the client only logs is found soon
#: (each next attempt of the same look is twice as long).
ATTEMPT_S = 1.5


def _answers(bootstrap: str, timeout_s: float) -> bool:
    """Whether a broker answers at ``bootstrap`` within ``timeout_s`` (in attempts of
    :data:`ATTEMPT_S`); a refusal found in a failure (credentials, ACLs, a certificate) is
    raised as AccessDenied at once."""
    from ingest.kafka.admin import broker_count
    from ingest.kafka.denied import as_access_denied

    deadline = time.monotonic() + timeout_s
    attempt_s = ATTEMPT_S
    while True:
        left = deadline - time.monotonic()
        try:
            return broker_count(bootstrap, max(0.2, min(attempt_s, left))) >= 1
        except BrokerError as exc:
            denied = as_access_denied(exc)
            if denied is exc:
                raise
            if denied is not None:
                raise denied from exc
            if time.monotonic() >= deadline:
                return False
        # each attempt longer than the last: on a loaded machine a SASL handshake can take
        # longer than one short attempt, which then ends before the refusal is said
        attempt_s *= 2


def require_topics(bootstrap: str, topics: Mapping[str, str]) -> None:
    """Fail with one line on the first of ``topics`` (config key -> topic) that does not
    exist: a command would wait forever to read it, or retry forever to write to it. Only
    these topics are asked about (not the cluster's whole list); one the ACLs hide is
    :class:`~datamoat.errors.AccessDenied`."""
    from ingest.kafka.admin import missing_topics

    missing = set(missing_topics(bootstrap, list(dict.fromkeys(topics.values()))))
    for key, topic in topics.items():
        if topic in missing:
            raise ConfigError(
                f"topic {topic!r} does not exist on {bootstrap}: create it with 'datamoat "
                f"topics' or fix {key} in the config"
            )
