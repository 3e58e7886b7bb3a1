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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafka import KafkaProducer
from kafka import errors as kerrors

from ingest.errors import GroupMovedOn, InstanceFenced, SinkError
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
    """Commits records plus input offsets atomically (see the module docstring)."""

    def __init__(self, producer: KafkaProducer, source: KafkaSource) -> None:
        self.producer = producer
        self.source = source

    def commit(
        self,
        records: Sequence[OutRecord],
        offsets: Mapping[int, tuple[int, str]],
        group: Any = None,
    ) -> None:
        """``group``: the consumer's group metadata when the batch was read (so a batch
        read before a rebalance can't commit after it); None takes the current one."""
        p = self.producer
        try:
            p.begin_transaction()
            futures = [
                p.send(r.topic, value=r.value, key=r.key, headers=list(r.headers) or None)
                for r in records
            ]
            if offsets:
                p.send_offsets_to_transaction(
                    self.source.transaction_offsets(offsets),
                    group if group is not None else self.source.group_metadata(),
                )
            p.commit_transaction()
            for future in futures:
                if future.failed():
                    raise future.exception
        except _FENCED as exc:
            raise InstanceFenced(
                f"another process took over this transactional id ({exc}); stopping"
            ) from None
        except kerrors.KafkaError as exc:
            self._abort()
            if isinstance(exc, _MOVED_ON) or isinstance(exc.__cause__, _MOVED_ON):
                raise GroupMovedOn(f"the group rebalanced under this batch ({exc})") from exc
            if "consumer group metadata mismatch" in str(exc):
                raise GroupMovedOn(f"the group rebalanced under this batch ({exc})") from exc
            raise SinkError(f"Kafka refused the batch's records or offsets ({exc})") from exc
        self.source.committed_now({part: o for part, (o, _) in offsets.items()})

    def _abort(self) -> None:
        try:
            self.producer.abort_transaction()
        except kerrors.KafkaError as exc:  # the next begin_transaction reports what is wrong
            log.debug("abort failed: %s", exc)

    def close(self) -> None:
        self.producer.close(timeout=10)
