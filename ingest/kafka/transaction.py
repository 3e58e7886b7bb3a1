"""Kafka records committed atomically with the consumed offsets that produced them.

One :class:`Transaction` per batch: the records are sent, the input offsets (with their
metadata) are added with ``send_offsets_to_transaction`` and the whole is committed, or
aborted. Keyed records without headers (the merger's signals: tens of thousands per
window) are appended a partition at a time into the producer's record batches
(:class:`ingest.kafka.private.BulkAppender`, about 1 us a record instead of ``send()``'s
15), on the partition Kafka's default partitioner gives their key (murmur2, as ``send()``
would); the rest, and everything when the bulk path's self-test fails, go by ``send()``.

A ``read_committed`` reader sees every record exactly once, and a crash at any
point leaves either all of a batch's effects or none.

Errors are sorted for the caller: :class:`ingest.errors.GroupMovedOn` when the group
rebalanced under the batch (abort; the partitions' next owners read it again),
:class:`ingest.errors.InstanceFenced` when a newer process took over the transactional id
(stop), and :class:`ingest.errors.SinkError` for anything else (retry the same batch).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kerrors
from kafka.structs import TopicPartition

try:  # kafka-python 3.0's client class, which transactional producers refine
    from kafka.net.compat import KafkaNetClient
except ImportError:  # pragma: no cover - another kafka-python: its own client serves
    KafkaNetClient = None

from ingest.batch import OutColumns, OutRecord
from ingest.errors import DeliveryError, GroupMovedOn, InstanceFenced, SinkError
from ingest.kafka.client_config import secured
from ingest.kafka.partitioner import KeyPartitions, by_partition
from ingest.kafka.private import (
    BulkAppender,
    bulk_problem,
    drop_producer,
    transaction_error,
    transaction_step,
)
from ingest.kafka.source import KafkaSource

__all__ = ["OutColumns", "OutRecord", "ReadyOrNotClient", "Transaction", "transactional_producer"]

log = logging.getLogger("datamoat.transaction")

_MOVED_ON = (
    kerrors.CommitFailedError,
    kerrors.IllegalGenerationError,
    kerrors.UnknownMemberIdError,
    kerrors.RebalanceInProgressError,
    kerrors.FencedInstanceIdError,
)
_FENCED = (kerrors.ProducerFencedError, kerrors.InvalidProducerEpochError)


class _ReadyOrNot:
    """``await_ready`` that answers False where kafka-python 3.0's client raises.

    A transactional producer's sender sends a request (``AddOffsetsToTxn``,
    ``TxnOffsetCommit``, ``EndTxn``) once ``await_ready`` says its coordinator is ready; on
    False it looks the coordinator up again and requeues the request, as the Java client
    does. kafka-python 3.0.12's client raises instead when the connection is refused (the
    coordinator's node killed a moment ago), and the sender's ``except`` path looks the
    coordinator up without requeueing: the request is gone and the step waiting for it never
    ends (a worker stalled its step's whole deadline, 30 s, whenever its group's coordinator
    was killed; ``tests/benchmark/bench_coordinator_loss.py``). With False the request waits
    for the coordinator's new node. Given to the producer through kafka-python's own
    ``kafka_client`` setting."""

    def await_ready(self, node_id: Any, timeout_ms: int = 30_000) -> bool:
        try:
            return bool(super().await_ready(node_id, timeout_ms=timeout_ms))  # type: ignore[misc]
        except kerrors.KafkaError as exc:
            log.debug("node %s not ready: %s", node_id, exc)
            return False


#: The client class of transactional producers (None: a kafka-python without that client,
#: whose own then serves).
ReadyOrNotClient: type | None = (
    None if KafkaNetClient is None else type("ReadyOrNotClient", (_ReadyOrNot, KafkaNetClient), {})
)


def transactional_producer(
    bootstrap: str, transactional_id: str, start_within_s: float = 120.0, **overrides: Any
) -> KafkaProducer:
    """A producer for one worker's or merger's outputs. A restarted process with the same
    ``transactional_id`` aborts its predecessor's open transaction at once (instead of
    readers waiting for it to time out).

    Starting its transactions asks the id's transaction coordinator; one that is moving (its
    broker killed a moment ago) answers nothing for a while, so a retriable failure is tried
    again, with a new producer, for ``start_within_s`` before it is an error."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "transactional_id": transactional_id,
        "transaction_timeout_ms": 30_000,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_request_size": 16 * 2**20,
        "batch_size": 1 * 2**20,
        "compression_type": "lz4",
        "client_id": transactional_id,
        "reconnect_backoff_max_ms": 2_000,
        "max_block_ms": 30_000,
        # A transaction's first request right after the previous commit is often answered
        # CONCURRENT_TRANSACTIONS (the coordinator still writes that commit's markers);
        # kafka-python retries AddOffsetsToTxn after retry_backoff_ms, 100 ms by default:
        # a tenth of a second per batch of a drained backlog.
        "retry_backoff_ms": 20,
    }
    if ReadyOrNotClient is not None:
        config["kafka_client"] = ReadyOrNotClient
    config.update(overrides)
    deadline = time.monotonic() + start_within_s
    while True:
        producer = KafkaProducer(**secured(config))
        try:
            producer.init_transactions()
            return producer
        except _FENCED as exc:
            producer.close(timeout=5)
            raise InstanceFenced(
                f"transactional id {transactional_id} is in use by a newer process ({exc})"
            ) from None
        except kerrors.KafkaError as exc:
            producer.close(timeout=5)
            if not exc.retriable or time.monotonic() >= deadline:
                raise SinkError(
                    f"could not start transactions as {transactional_id} ({exc})"
                ) from exc
            log.warning("could not start transactions as %s yet (%s); trying again",
                        transactional_id, exc)  # fmt: skip
            time.sleep(1.0)


class Transaction:
    """Commits records plus input offsets atomically (see the module docstring).

    ``make_producer`` builds (and initialises) the transactional producer; it is called
    again to replace a producer whose transaction could not be finished in time (a broker
    that went away mid-commit): the new one, with the same transactional id, aborts or
    completes what its predecessor left open. Whether a lost commit went through is then
    read back from the group's committed offsets, so a batch is never committed twice.
    """

    def __init__(
        self,
        make_producer: Callable[[], KafkaProducer],
        source: KafkaSource,
        step_timeout_s: float = 30.0,
        producer: KafkaProducer | None = None,
    ) -> None:
        """``producer``: one made already (before the source read its committed offsets:
        making it aborts a predecessor's open transaction, which those reads wait for)."""
        self.make_producer = make_producer
        self.source = source
        self.step_timeout_s = step_timeout_s
        self.producer: KafkaProducer | None = producer or make_producer()
        self._bulk: tuple[KafkaProducer, BulkAppender | None] | None = None
        self._partitions = KeyPartitions()
        self._never = threading.Event()

    def commit(
        self,
        records: Sequence[OutRecord | OutColumns],
        offsets: Mapping[int, tuple[int, str]],
        group: Any = None,
    ) -> None:
        """``group``: the consumer's group metadata when the batch was read (so a batch
        read before a rebalance can't commit after it); None takes the current one."""
        try:
            self._attempt(records, offsets, group)
        except _FENCED as exc:
            raise InstanceFenced(
                f"another process took over this transactional id ({exc}); stopping"
            ) from None
        except kerrors.KafkaError as exc:
            # A later step only says "in an error state": the cause is the error that put
            # the transaction there (read before the abort clears it), judged by its type.
            cause = transaction_error(self.producer) if self.producer is not None else None
            # A step that timed out can still be queued in the producer: sent late (after an
            # abort, or as the producer closes and flushes), its offsets join the next
            # transaction of the same producer id (two chaos runs committed a failed
            # batch's offsets while its delta was aborted: the cascades of its posts were
            # lost). Such a producer is dropped at once, sending nothing more; its
            # successor's init_transactions aborts the open transaction. Otherwise abort,
            # and replace a producer whose abort failed.
            if isinstance(exc, kerrors.KafkaTimeoutError) or not self._abort():
                self.renew(flush=False)
            if isinstance(exc, _MOVED_ON) or isinstance(cause, _MOVED_ON):
                raise GroupMovedOn(f"the group rebalanced under this batch ({exc})") from exc
            if offsets and self._already_committed(offsets):
                log.info("a commit whose answer was lost went through; not sent again")
            else:
                raise SinkError(f"Kafka refused or lost the batch ({exc})") from exc
        self.source.committed_now({part: o for part, (o, _) in offsets.items()})

    def _attempt(
        self,
        records: Sequence[OutRecord | OutColumns],
        offsets: Mapping[int, tuple[int, str]],
        group: Any,
    ) -> None:
        if self.producer is None:
            self.renew()
            if self.producer is None:
                raise kerrors.KafkaConnectionError("no transactional producer (broker away?)")
        p, timeout = self.producer, self.step_timeout_s
        p.begin_transaction()
        futures, failed = self.send(p, records)
        if offsets:
            group = group if group is not None else self.source.group_metadata()
            txn_offsets = self.source.transaction_offsets(offsets)
            transaction_step(p, "send_offsets_to_transaction", timeout, txn_offsets, group)
        # The commit is asked for only once the offsets are in: a producer given up on while
        # adding them must never have been asked to commit (its successor then aborts the
        # transaction). Asking for both at once (session 16) saved 6 ms a commit, and a
        # fault test that killed the coordinator then found a window's cascades doubled.
        transaction_step(p, "begin_commit", timeout)
        for future in futures:
            if future.failed():
                raise future.exception
        if failed:
            first = failed[0]
            if isinstance(first, kerrors.KafkaError):
                raise first
            raise kerrors.KafkaError(repr(first))

    def send(
        self, p: KafkaProducer, records: Sequence[OutRecord | OutColumns]
    ) -> tuple[list[Any], list[BaseException]]:
        """Send ``records`` in the open transaction: the futures of those sent one by one,
        and a list that the bulk batches' errors are added to as they fail."""
        bulk = self.bulk_of(p)
        futures = []
        groups: dict[TopicPartition, tuple[list[bytes], list[bytes]]] = {}
        counts: dict[str, int] = {}

        def count_of(topic: str) -> int:
            count = counts.get(topic)
            if count is None:
                count = counts[topic] = self._partition_count(p, topic)
            return count

        for r in records:
            if isinstance(r, OutColumns):
                if bulk is None:
                    futures += [p.send(r.topic, value=x.value, key=x.key) for x in r]
                    continue
                parts = self._partitions.many(r.topic, count_of(r.topic), r.keys)
                for part, keys, values in by_partition(r.keys, r.values, parts):
                    into = groups.setdefault(TopicPartition(r.topic, part), ([], []))
                    into[0].extend(keys)
                    into[1].extend(values)
            elif bulk is not None and r.key is not None and not r.headers:
                tp = TopicPartition(r.topic, self._partitions.of(r.topic, count_of(r.topic))(r.key))
                keys, values = groups.setdefault(tp, ([], []))
                keys.append(r.key)
                values.append(r.value)
            else:
                futures.append(
                    p.send(r.topic, value=r.value, key=r.key, headers=list(r.headers) or None)
                )
        failed: list[BaseException] = []
        for tp, (keys, values) in groups.items():
            assert bulk is not None
            try:
                bulk.append(tp, keys, values, lambda n, exc: failed.append(exc))
            except DeliveryError as exc:
                raise kerrors.KafkaTimeoutError(str(exc)) from exc
        return futures, failed

    def bulk_of(self, producer: KafkaProducer) -> BulkAppender | None:
        """The bulk appender of ``producer`` (checked once per producer), or None."""
        if self._bulk is None or self._bulk[0] is not producer:
            problem = bulk_problem(producer, transactional=True)
            if problem is not None:
                log.warning("records go by send(): the bulk path is off (%s)", problem)
            appender = None if problem else BulkAppender(producer, self._never, self.step_timeout_s)
            self._bulk = (producer, appender)
        return self._bulk[1]

    def _partition_count(self, producer: KafkaProducer, topic: str) -> int:
        """How many partitions ``topic`` has, for Kafka's default partition of a key
        (murmur2, as ``send()`` and the Java client choose it; :attr:`_partitions` caches
        it per key while the count stays the same). Asking ``producer`` for the count also
        makes it fetch the topic's metadata, which a new producer lacks and without which
        its bulk batches would never be sent."""
        count = len(producer.partitions_for(topic) or ())
        if count == 0:
            raise kerrors.UnknownTopicOrPartitionError(f"no partitions known for {topic}")
        return count

    def _abort(self) -> bool:
        """Abort the open transaction; False when that failed (the producer is unusable)."""
        if self.producer is None:
            return False
        try:
            transaction_step(self.producer, "begin_abort", self.step_timeout_s)
        except kerrors.KafkaError as exc:
            log.debug("abort failed: %s", exc)
            return False
        return True

    def renew(self, flush: bool = True) -> None:
        """A fresh producer with the same transactional id (None while that fails);
        ``flush=False`` drops what the old one still holds instead of sending it."""
        if self.producer is not None:
            if flush:
                _close(self.producer, 1.0)
            else:
                drop_producer(self.producer)
            self.producer = None
        try:
            self.producer = self.make_producer()
        except (SinkError, kerrors.KafkaError) as exc:
            log.debug("no transactional producer yet: %s", exc)

    def _already_committed(self, offsets: Mapping[int, tuple[int, str]]) -> bool:
        try:
            committed = self.source.committed(set(offsets))
        except kerrors.KafkaError:
            return False
        return all(
            (c := committed.get(p)) is not None and c.offset == o for p, (o, _) in offsets.items()
        )

    def close(self) -> None:
        if self.producer is not None:
            _close(self.producer, 10.0)


def _close(producer: KafkaProducer, timeout_s: float) -> None:
    """Close a producer; one whose records can't be delivered is closed all the same (an
    open transaction of it is aborted by its successor, or times out on the broker)."""
    try:
        producer.close(timeout=timeout_s)
    except kerrors.KafkaError as exc:
        log.debug("producer closed with records undelivered: %s", exc)
