"""Kafka administration: is a cluster there, how big it is, topics, and group offsets.

Every admin request of datamoat goes through here (the managed local broker, ``datamoat
topics``, the preflight checks, ``run``'s fresh group, the bench and the tests). Failures
are :class:`~ingest.errors.BrokerError` lines that name the cluster; Kafka's answers are
read by error code, never by message text.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer
from kafka import errors as kerrors
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ConfigResource,
    ConfigResourceType,
    ResourcePattern,
    ResourceType,
)
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition

from ingest.errors import AccessDenied, BrokerError, BrokerUnreachable
from ingest.kafka.client_config import secured
from ingest.kafka.diagnose import explain, witnessed
from ingest.kafka.private import read_sockets_in_bulk

__all__ = [
    "TopicSpec",
    "alter_topic_configs",
    "broker_count",
    "commit_at_end",
    "create_internal_topics",
    "delete_topics",
    "ensure_topics",
    "grant_acls",
    "is_reachable",
    "missing_topics",
    "replication_factors",
]

# The admin clients here are the first a command makes (the preflight): they read sockets as
# the door's clients do, so a refusal a broker sends just before it closes is read, not lost.
read_sockets_in_bulk()

_T = TypeVar("_T")

#: Kafka's TOPIC_ALREADY_EXISTS error code.
_TOPIC_ALREADY_EXISTS = 36


def is_reachable(
    bootstrap: str, timeout_s: float = 2.0, brokers: int = 1, plaintext: bool = False
) -> bool:
    """True when the cluster at ``bootstrap`` answers in time with at least ``brokers``
    brokers (``plaintext``: without the client settings in force, as on a managed
    cluster's internal listener)."""
    try:
        return broker_count(bootstrap, timeout_s, plaintext) >= brokers
    except AccessDenied:
        raise
    except BrokerError:
        return False


@dataclass(frozen=True)
class TopicSpec:
    """How to create one topic: partitions, replication factor and topic-level configs."""

    partitions: int
    replication_factor: int = 1
    configs: Mapping[str, str] = field(default_factory=dict)


def broker_count(bootstrap: str, timeout_s: float = 10.0, plaintext: bool = False) -> int:
    """How many brokers the cluster at ``bootstrap`` has right now (BrokerError if none);
    asked afresh while a node is restarting (a chaos run's firehose exited at start when one
    of three nodes was being restarted)."""
    return _asked_afresh(
        bootstrap,
        timeout_s,
        f"can't describe the Kafka cluster at {bootstrap}",
        lambda admin: len(admin.describe_cluster()["brokers"]),
        plaintext,
    )


def replication_factors(
    bootstrap: str, names: Sequence[str], timeout_s: float = 10.0
) -> dict[str, int]:
    """The replication factor of each existing topic among ``names`` (absent ones left out).

    A broker's metadata lags the controller's by a moment: a topic made a moment ago can be
    unknown to the broker that answers. Topics missing from an answer are asked for again
    until ``timeout_s`` has passed, so a caller that knows the topics exist (``ensure_topics``
    said so) gets them all. A node that refuses or drops the connection (one of several,
    restarting, or slow on a loaded machine) is asked again within the same time."""
    deadline = time.monotonic() + timeout_s
    admin = _admin(bootstrap, timeout_s)
    factors: dict[str, int] = {}
    try:
        while True:
            missing = [name for name in names if name not in factors]
            if not missing:
                return factors
            try:
                found = admin.describe_topics(missing)
            except KafkaError as exc:
                again = bool(getattr(exc, "retriable", False))
                if time.monotonic() >= deadline or not again:
                    raise BrokerError(f"can't describe topics on {bootstrap}: {exc}") from exc
                time.sleep(0.5)
                continue
            factors.update(
                (t["name"], min(len(p["replica_nodes"]) for p in t["partitions"]))
                for t in found
                if t.get("error_code", 0) == 0 and t.get("partitions")
            )
            if time.monotonic() >= deadline:
                return factors
            if len(factors) < len(names):
                time.sleep(0.2)
    finally:
        admin.close()


def ensure_topics(
    bootstrap: str,
    topics: Mapping[str, int | TopicSpec],
    replication_factor: int = 1,
    timeout_s: float = 30.0,
) -> list[str]:
    """Create the missing ``topics`` (name -> partitions or a :class:`TopicSpec`); wait until
    all have leaders. Returns the names created now.

    Existing topics are left as they are, whatever their partition count, replication factor
    or configs. A bare partition count uses ``replication_factor``.
    """
    if not topics:
        return []
    specs = {
        name: spec if isinstance(spec, TopicSpec) else TopicSpec(spec, replication_factor)
        for name, spec in topics.items()
    }
    wanted = {
        name: {"num_partitions": spec.partitions, "replication_factor": spec.replication_factor,
               "configs": dict(spec.configs)}
        for name, spec in specs.items()
    }  # fmt: skip
    created: list[str] = []  # across attempts: a retry finds the earlier ones existing
    _asked_afresh(
        bootstrap,
        timeout_s,
        f"can't create topics on {bootstrap}",
        lambda admin: _create(admin, wanted, created, timeout_s),
    )
    return sorted(created)


def _create(admin: Any, wanted: dict[str, Any], created: list[str], timeout_s: float) -> None:
    """Create ``wanted`` (the names made now go to ``created``); wait for their leaders."""
    result = admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000), raise_errors=False)
    order = list(wanted)  # the broker answers in an order of its own: blame in the caller's
    for topic in sorted(result["topics"], key=lambda t: order.index(t["name"])):
        if topic["error_code"] == 0:
            created.append(topic["name"])
        elif topic["error_code"] != _TOPIC_ALREADY_EXISTS:
            _refused_topic(topic["name"], topic["error_code"], "CREATE")
            reason = topic.get("error_message") or f"error code {topic['error_code']}"
            raise BrokerError(f"can't create topic {topic['name']!r}: {reason}")
    admin.wait_for_topics(order, timeout_ms=int(timeout_s * 1000))


#: Kafka's error codes for a topic that is not there: UNKNOWN_TOPIC_OR_PARTITION, and
#: INVALID_TOPIC_EXCEPTION for a name no topic can have.
_UNKNOWN_TOPIC, _INVALID_TOPIC = 3, 17


def _refused_topic(name: str, code: int, operation: str) -> None:
    """Raise :class:`AccessDenied` naming the ACL when ``code`` is an authorisation error."""
    if issubclass(kerrors.for_code(code), kerrors.AuthorizationError):
        raise AccessDenied(
            f"Kafka refused {operation} on topic {name!r} (not authorised): this client's "
            f"principal needs the ACL {operation} on topic {name} (the README lists a "
            "pipeline's ACLs)"
        )


def _asked_afresh(
    bootstrap: str,
    timeout_s: float,
    failed: str,
    ask: Callable[[Any], _T],
    plaintext: bool = False,
) -> _T:
    """``ask(admin)`` of a new admin client of the cluster at ``bootstrap``.

    A node that refuses or drops the connection (one of several, restarting) is not the
    cluster's answer: a retriable error is asked again, with a new client (which may
    bootstrap from another node), until ``timeout_s`` has passed. Anything else, or the time
    up, is a :class:`BrokerError` line ``failed: <the error>``."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = _admin(bootstrap, timeout_s, plaintext)
        try:
            return ask(admin)
        except KafkaError as exc:
            if time.monotonic() >= deadline or not getattr(exc, "retriable", False):
                raise BrokerError(f"{failed}: {exc}") from exc
        finally:
            admin.close()
        time.sleep(0.5)


def _admin(bootstrap: str, timeout_s: float, plaintext: bool = False) -> Any:
    """An admin client of the cluster at ``bootstrap`` (``plaintext``: without the client
    settings in force). A refused login or certificate is :class:`AccessDenied` at once;
    no answer is :class:`BrokerUnreachable`."""
    ms = max(100, int(timeout_s * 1000))
    # Retry a failed connection within a second: a refused login can show first as a
    # dropped connection, and only the next attempt says why (kafka-python drops a refusal
    # read with the close; :func:`read_sockets_in_bulk` mends that on 3.0.x).
    config = {"bootstrap_servers": bootstrap.split(","), "bootstrap_timeout_ms": ms,
              "request_timeout_ms": ms, "client_id": "datamoat-broker",
              "reconnect_backoff_max_ms": 1_000}  # fmt: skip
    with witnessed() as seen:
        try:
            return KafkaAdminClient(**(config if plaintext else secured(config)))
        except KafkaError as exc:
            denied = explain(bootstrap, [*seen, exc])
            if denied is not None:
                raise denied from None
            raise BrokerUnreachable(f"no Kafka broker answers on {bootstrap}: {exc}") from exc


_INTERNAL_TOPICS = ("__consumer_offsets", "__transaction_state")


def create_internal_topics(
    bootstrap: str, timeout_s: float = 30.0, plaintext: bool = False
) -> None:
    """Have the cluster create its group and transaction state topics now, while every node
    runs. Kafka creates them on first use with the replication factor of the properties, and
    that fails while fewer nodes run than it: a cluster that lost a node before its first
    consumer group could serve no group at all until the node came back."""
    deadline = time.monotonic() + timeout_s
    admin = _admin(bootstrap, timeout_s, plaintext)
    try:
        while time.monotonic() < deadline:
            with contextlib.suppress(KafkaError):  # not there yet: the lookup creates them
                admin.describe_groups(["datamoat-warm-up"])
            with contextlib.suppress(KafkaError):
                admin.describe_transactions(["datamoat-warm-up"])
            with contextlib.suppress(KafkaError):
                if set(_INTERNAL_TOPICS) <= set(admin.list_topics()):
                    left_ms = max(100, int((deadline - time.monotonic()) * 1000))
                    admin.wait_for_topics(list(_INTERNAL_TOPICS), timeout_ms=left_ms)
                    return
            time.sleep(0.2)
    finally:
        admin.close()
    raise BrokerError(
        f"the cluster at {bootstrap} did not create {' and '.join(_INTERNAL_TOPICS)} within "
        f"{timeout_s:.0f} s"
    )


def missing_topics(bootstrap: str, names: Sequence[str], timeout_s: float = 10.0) -> list[str]:
    """Those of ``names`` that the cluster at ``bootstrap`` does not have, in their order.

    One metadata request for these topics alone: listing every topic instead costs a
    cluster of thousands of topics a response of megabytes, parsed in Python, at every
    start, and would need DESCRIBE on all of them. A topic the ACLs hide (Kafka answers the
    same for one that does not exist and may not be described) raises
    :class:`AccessDenied` naming the ACL, when it comes before any missing one. Asked
    afresh while a node is restarting (a chaos run's merger exited at start when the node
    it asked was being killed)."""
    found = _asked_afresh(
        bootstrap,
        timeout_s,
        f"can't describe the topics on {bootstrap}",
        lambda admin: admin.describe_topics(list(names)),
    )
    codes = {topic["name"]: topic["error_code"] for topic in found}
    missing = []
    for name in names:
        code = codes.get(name, _UNKNOWN_TOPIC)
        _refused_topic(name, code, "DESCRIBE")
        if code in (_UNKNOWN_TOPIC, _INVALID_TOPIC):  # others (no leader now): it exists
            missing.append(name)
    return missing


def delete_topics(bootstrap: str, names: Sequence[str], timeout_s: float = 10.0) -> None:
    """Delete those of ``names`` that exist (nothing when the broker is gone)."""
    try:
        admin = _admin(bootstrap, timeout_s)
    except BrokerError:
        return
    try:
        doomed = [name for name in names if name in set(admin.list_topics())]
        if doomed:
            admin.delete_topics(doomed, raise_errors=False)
    except KafkaError:
        return
    finally:
        admin.close()


def alter_topic_configs(bootstrap: str, topic: str, configs: Mapping[str, str]) -> None:
    """Set topic-level configs of ``topic`` (e.g. ``retention.ms``)."""
    admin = _admin(bootstrap, 10.0)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, dict(configs))])
    except KafkaError as exc:
        raise BrokerError(f"can't alter the configs of topic {topic!r}: {exc}") from exc
    finally:
        admin.close()


def commit_at_end(bootstrap: str, group: str, topic: str, metadata: str = "") -> dict[int, int]:
    """Commit ``group``'s offsets of every partition of ``topic`` at the topic's current end
    (``metadata``: ``%d`` is replaced by each offset), before anyone joins the group: it then
    reads only what comes next. Returns the offsets committed."""
    consumer = KafkaConsumer(
        **secured({"bootstrap_servers": bootstrap, "group_id": group, "enable_auto_commit": False})
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends: dict[Any, int] = consumer.end_offsets(tps)
        consumer.commit(
            {tp: OffsetAndMetadata(o, metadata.replace("%d", str(o)), -1) for tp, o in ends.items()}
        )
        return {tp.partition: o for tp, o in ends.items()}
    except KafkaError as exc:
        raise BrokerError(f"can't commit group {group!r} at the end of {topic!r}: {exc}") from exc
    finally:
        consumer.close(autocommit=False)


def grant_acls(
    bootstrap: str,
    principal: str,
    grants: Sequence[tuple[str, str, Sequence[str], bool]],
    timeout_s: float = 30.0,
) -> int:
    """Allow ``principal`` (``User:alice``) each ``(resource type, name, operations,
    prefixed)`` of ``grants``, from any host, through the managed cluster's plaintext
    internal listener at ``bootstrap``. Returns how many ACLs were made."""
    acls = [
        ACL(principal, "*", ACLOperation[op], ACLPermissionType.ALLOW,
            ResourcePattern(ResourceType[kind.upper()], name,
                            ACLResourcePatternType.PREFIXED if prefixed
                            else ACLResourcePatternType.LITERAL))
        for kind, name, ops, prefixed in grants
        for op in ops
    ]  # fmt: skip
    admin = _admin(bootstrap, timeout_s, plaintext=True)
    try:
        result = admin.create_acls(acls)
    except KafkaError as exc:
        raise BrokerError(f"can't create ACLs on {bootstrap}: {exc}") from exc
    finally:
        admin.close()
    if result.get("failed"):
        raise BrokerError(f"the cluster at {bootstrap} refused an ACL: {result['failed'][0]}")
    return len(acls)
