"""Kafka records committed atomically with the consumed offsets that produced them.

One :class:`Transaction` per batch: the records are sent, the input offsets (with their
metadata) are added with ``send_offsets_to_transaction`` and the whole is committed, or
aborted. A ``read_committed`` reader sees every record exactly once, and a crash at any
point leaves either all of a batch's effects or none.

Errors are sorted for the caller: :class:`ingest.errors.GroupMovedOn` when the group
rebalanced under the batch (abort; the partitions' next owners read it again),
:class:`ingest.errors.InstanceFenced` when a newer process took over the transactional id
(stop), and :class:`ingest.errors.SinkError` for anything else (retry the same batch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kerrors

from ingest.errors import GroupMovedOn, InstanceFenced, SinkError
from ingest.kafka_internals import transaction_step
from ingest.kafka_source import KafkaSource

__all__ = ["OutRecord", "Transaction", "transactional_producer"]

log = logging.getLogger("datamoat.transaction")

_MOVED_ON = (
    kerrors.CommitFailedError,
    kerrors.IllegalGenerationError,
    kerrors.UnknownMemberIdError,
    kerrors.RebalanceInProgressError,
    kerrors.FencedInstanceIdError,
)
_FENCED = (kerrors.ProducerFencedError, kerrors.InvalidProducerEpochError)


@dataclass(frozen=True, slots=True)
class OutRecord:
    topic: str
    value: bytes
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()


def transactional_producer(
    bootstrap: str, transactional_id: str, **overrides: Any
) -> KafkaProducer:
    """A producer for one worker's or merger's outputs. A restarted process with the same
    ``transactional_id`` aborts its predecessor's open transaction at once (instead of
    readers waiting for it to time out)."""
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
    }
    config.update(overrides)
    producer = KafkaProducer(**config)
    try:
        producer.init_transactions()
    except _FENCED as exc:
        producer.close(timeout=5)
        raise InstanceFenced(
            f"transactional id {transactional_id} is in use by a newer process ({exc})"
        ) from None
    except kerrors.KafkaError as exc:
        producer.close(timeout=5)
        raise SinkError(f"could not start transactions as {transactional_id} ({exc})") from exc
    return producer


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

    def commit(
        self,
        records: Sequence[OutRecord],
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
            if not self._abort():
                self._renew()
            if isinstance(exc, _MOVED_ON) or "consumer group metadata mismatch" in str(exc):
                raise GroupMovedOn(f"the group rebalanced under this batch ({exc})") from exc
            if offsets and self._already_committed(offsets):
                log.info("a commit whose answer was lost went through; not sent again")
            else:
                raise SinkError(f"Kafka refused or lost the batch ({exc})") from exc
        self.source.committed_now({part: o for part, (o, _) in offsets.items()})

    def _attempt(
        self, records: Sequence[OutRecord], offsets: Mapping[int, tuple[int, str]], group: Any
    ) -> None:
        if self.producer is None:
            self._renew()
            if self.producer is None:
                raise kerrors.KafkaConnectionError("no transactional producer (broker away?)")
        p, timeout = self.producer, self.step_timeout_s
        p.begin_transaction()
        futures = [
            p.send(r.topic, value=r.value, key=r.key, headers=list(r.headers) or None)
            for r in records
        ]
        if offsets:
            group = group if group is not None else self.source.group_metadata()
            txn_offsets = self.source.transaction_offsets(offsets)
            transaction_step(p, "send_offsets_to_transaction", timeout, txn_offsets, group)
        transaction_step(p, "begin_commit", timeout)
        for future in futures:
            if future.failed():
                raise future.exception

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

    def _renew(self) -> None:
        """A fresh producer with the same transactional id (None while that fails)."""
        if self.producer is not None:
            _close(self.producer, 1.0)
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
