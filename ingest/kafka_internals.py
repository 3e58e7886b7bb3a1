"""The one module that touches kafka-python's internals: bulk appends into its accumulator.

``KafkaProducer.send()`` costs about 15 us of Python per record (checks, a future,
varints), which caps one process near 40k posts/s. :class:`BulkAppender` instead writes a
partition's posts straight into the producer's open record batch, in the bytes
``DefaultRecordBatchBuilder.append`` writes (:func:`record_bytes`, Kafka's v2 record
format), with one error callback per batch: about 1 us per record. The firehose writes
posts this way, and :class:`sinks.transaction.Transaction` the merger's signals: with a
transactional producer each partition joins the open transaction before its first append,
as in ``send()``, and the sender stamps producer id, epoch and sequence numbers on the
batches as it drains them, whoever filled them.

That leans on private attributes of kafka-python (pinned exactly in pyproject.toml), so
:func:`bulk_problem` guards it once per producer: the attributes must be there, and
:func:`self_test` builds a record batch the way the bulk path does and reads it back with
kafka-python's own reader (``kafka.record.MemoryRecords``), CRC included. When anything is
off, the writer falls back to ``send()`` (:mod:`ingest.producer` logs that once).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError
from kafka.producer.producer_batch import ProducerBatch
from kafka.record import MemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.record.util import encode_varint
from kafka.structs import TopicPartition

from ingest.errors import DeliveryError

__all__ = [
    "BulkAppender",
    "bulk_problem",
    "record_bytes",
    "record_sizes",
    "self_test",
    "transaction_step",
]

I64 = npt.NDArray[np.int64]
StopFlag = threading.Event

#: The accumulator's private attributes the bulk path uses.
_ACCUMULATOR_ATTRS = ("_batches", "_tp_lock", "_incomplete", "_appends_in_progress", "config")
#: The record batch builder's private attributes the bulk path writes.
_BUILDER_ATTRS = ("_buffer", "_num_records", "_last_offset", "_first_timestamp", "_max_timestamp")


# -- Kafka's v2 record format, vectorised --------------------------------------------------


def _zigzag(value: int) -> bytes:
    out = bytearray()
    encode_varint(value, out.append)
    return bytes(out)


_VZ = [_zigzag(v) for v in range(1 << 14)]  # Kafka's zigzag varints of small numbers


def _varint_sizes(v: I64) -> I64:
    z = np.where(v >= 0, 2 * v, -2 * v - 1)
    out = np.ones(len(z), dtype=np.int64)
    for k in range(1, 10):
        out += z >= 1 << (7 * k)
    return out


def record_sizes(klen: I64, vlen: I64, first_offset: int, ts_delta: int) -> tuple[I64, I64]:
    """Body and total size of each record (v2 format, no headers)."""
    offsets = np.arange(first_offset, first_offset + len(vlen), dtype=np.int64)
    body = 2 + len(_zigzag(ts_delta)) + _varint_sizes(offsets) + _varint_sizes(klen) + klen
    body = body + _varint_sizes(vlen) + vlen
    return body, body + _varint_sizes(body)


def record_bytes(
    keys: Sequence[bytes], values: Sequence[bytes], first_offset: int, ts_delta: int
) -> bytes:
    """Records in Kafka's v2 batch format (no headers), offset deltas counted from
    ``first_offset``, all with timestamp delta ``ts_delta``."""
    n = len(values)
    klen = np.fromiter(map(len, keys), np.int64, n)
    vlen = np.fromiter(map(len, values), np.int64, n)
    body, _ = record_sizes(klen, vlen, first_offset, ts_delta)
    attrs_ts, vz = b"\x00" + _zigzag(ts_delta), _VZ
    parts: list[bytes] = []
    small = n and max(int(body.max()), int(vlen.max()), first_offset + n, int(klen.max())) < len(vz)
    z = vz.__getitem__ if small else _zigzag
    ext = parts.extend
    for o, k, v, b in zip(
        range(first_offset, first_offset + n), keys, values, body.tolist(), strict=True
    ):
        ext((z(b), attrs_ts, z(o), z(len(k)), k, z(len(v)), v, b"\x00"))
    return b"".join(parts)


# -- Writing into a producer batch ---------------------------------------------------------


def _new_batch(tp: TopicPartition, version: int, codec: int, size: int, now: float) -> Any:
    return ProducerBatch(tp, MemoryRecordsBuilder(version, codec, size), now=now)


def _used(batch: Any) -> int:
    return len(batch.records._builder._buffer)


def _fill(
    batch: Any, keys: Sequence[bytes], values: Sequence[bytes], ts: int, now: float, size: int
) -> None:
    """Append records (all stamped ``ts``) to ``batch``, as ``builder.append`` would;
    ``size`` is the largest record's size."""
    records, take = batch.records, len(values)
    builder = records._builder
    base = records.next_offset()
    first = ts if builder._first_timestamp is None else builder._first_timestamp
    builder._buffer += record_bytes(keys, values, base, ts - first)
    builder._num_records += take
    builder._last_offset = base + take - 1
    builder._first_timestamp = first
    builder._max_timestamp = max(builder._max_timestamp or ts, ts)
    records._next_offset = base + take
    batch.last_append = now
    batch.max_record_size = max(batch.max_record_size, size)


def _fits(klen: I64, vlen: I64, base: int, ts_delta: int, room: int) -> tuple[int, I64]:
    """How many of the records fit in ``room`` bytes, and every record's total size."""
    _, sizes = record_sizes(klen, vlen, base, ts_delta)
    return int(np.searchsorted(np.cumsum(sizes), room, side="right")), sizes


class BulkAppender:
    """Appends one partition's records at a time into kafka-python's accumulator.

    Every wait has a deadline (``wait_s``) and gives up early when ``stop`` is set."""

    MAX_PENDING_BYTES = 64 * 1024 * 1024  # back-pressure: kafka-python 3 has no buffer limit

    def __init__(self, producer: KafkaProducer, stop: StopFlag, wait_s: float) -> None:
        self._producer = producer
        self._acc = producer._accumulator
        txn = getattr(producer, "_transaction_manager", None)
        #: A transactional producer's manager: each partition joins the open transaction
        #: before its first append, as ``send()`` does (sequence numbers, producer id and
        #: epoch are stamped on each batch when the sender drains it, as for ``send()``).
        self._txn = txn if txn is not None and txn.is_transactional() else None
        cfg = self._acc.config
        self._version, self._codec = cfg["message_version"], cfg["compression_attrs"]
        self._batch_size = int(cfg["batch_size"])
        self._stop, self._wait_s = stop, wait_s

    def pending_batches(self) -> int:
        return len(self._acc._incomplete.all())

    def _wait_for_room(self) -> None:
        most = max(2, self.MAX_PENDING_BYTES // self._batch_size)
        deadline = time.monotonic() + self._wait_s
        while self.pending_batches() > most and not self._stop.is_set():
            if time.monotonic() > deadline:
                raise DeliveryError(
                    f"Kafka took none of {self.pending_batches()} pending batches in "
                    f"{self._wait_s:.0f} s: is the broker up?"
                )
            self._stop.wait(0.002)

    def append(
        self,
        tp: TopicPartition,
        keys: Sequence[bytes],
        values: Sequence[bytes],
        on_error: Callable[[int, BaseException], None],
    ) -> None:
        acc, n, start, wake = self._acc, len(values), 0, False
        now, ts = time.monotonic(), time.time_ns() // 1_000_000
        klen = np.fromiter(map(len, keys), np.int64, n)
        vlen = np.fromiter(map(len, values), np.int64, n)
        if self._txn is not None:
            self._txn.maybe_add_partition_to_transaction(tp)
        acc._appends_in_progress.increment()
        try:
            while start < n:
                with acc._tp_lock(tp):
                    dq = acc._batches[tp]
                    batch: Any = dq[-1] if dq and not dq[-1].records.is_full() else None
                    take, window = 0, slice(start, start + 8192)
                    if batch is not None:
                        first = batch.records._builder._first_timestamp
                        base = batch.records.next_offset()
                        room = self._batch_size - _used(batch)
                        take, sizes = _fits(klen[window], vlen[window], base, ts - first, room)
                    if take == 0:  # no open batch, or no room in it: a new one
                        batch = _new_batch(tp, self._version, self._codec, self._batch_size, now)
                        room = self._batch_size - _used(batch)
                        take, sizes = _fits(klen[window], vlen[window], 0, 0, room)
                        take, wake = max(1, take), True
                        dq.append(batch)
                        acc._incomplete.add(batch)
                    end = start + take
                    _fill(
                        batch, keys[start:end], values[start:end], ts, now, int(sizes[:take].max())
                    )
                    batch.produce_future.add_errback(partial(on_error, take))
                    wake = wake or len(dq) > 1 or batch.records.is_full()
                start += take
        finally:
            acc._appends_in_progress.decrement()
        if wake:
            self._producer._sender.wakeup()
        self._wait_for_room()


# -- The guard -----------------------------------------------------------------------------


@functools.cache
def self_test(version: int, codec: int) -> str | None:
    """Build a record batch the way :class:`BulkAppender` does (two appends, odd sizes, the
    producer's compression) and read it back with kafka-python's own reader. None when
    every record comes back as written; else what went wrong."""
    keys = [str(i).encode() * (i % 7) for i in range(300)]
    values = [b"v" * (i * 37 % 500) for i in range(300)]
    values[7] = b"x" * 20_000  # a long value takes the slow varint path
    ts = 1_700_000_000_000
    try:
        batch = _new_batch(TopicPartition("datamoat-self-test", 0), version, codec, 1 << 20, 0.0)
        _fill(batch, keys[:100], values[:100], ts, 0.0, 20_100)
        _fill(batch, keys[100:], values[100:], ts + 1234, 0.0, 600)
        if not callable(getattr(batch.produce_future, "add_errback", None)):
            return "ProducerBatch.produce_future has no add_errback"
        batch.records.close()
        decoded = MemoryRecords(bytes(batch.records.buffer())).next_batch()
        if decoded is None or not decoded.validate_crc():
            return "the batch does not read back (or its CRC is wrong)"
        got = [(r.offset, r.timestamp, r.key, r.value, list(r.headers)) for r in decoded]
    except Exception as exc:  # any failure means: don't use the bulk path
        return f"building a record batch failed: {exc!r}"
    stamps = [ts] * 100 + [ts + 1234] * 200
    expected: list[tuple[int, int, bytes, bytes, list[Any]]] = [
        (i, stamps[i], keys[i], values[i], []) for i in range(300)
    ]
    if got != expected:
        bad = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        return f"record {bad} of the self-test batch reads back wrong ({len(got)} of 300 read)"
    return None


def bulk_problem(producer: KafkaProducer, transactional: bool = False) -> str | None:
    """Why :class:`BulkAppender` can't be used on ``producer``, or None when it can
    (``transactional``: the caller commits what it appends in transactions)."""
    acc = getattr(producer, "_accumulator", None)
    missing = [a for a in _ACCUMULATOR_ATTRS if not hasattr(acc, a)]
    if acc is None or missing:
        return f"the producer's accumulator lacks {', '.join(missing) or '_accumulator'}"
    if not hasattr(getattr(producer, "_sender", None), "wakeup"):
        return "the producer has no _sender.wakeup"
    txn = getattr(producer, "_transaction_manager", None)
    if txn is not None and txn.is_transactional():
        if not transactional:
            return "the producer is transactional"
        if not callable(getattr(txn, "maybe_add_partition_to_transaction", None)):
            return "the transaction manager has no maybe_add_partition_to_transaction"
    version, codec = acc.config.get("message_version"), acc.config.get("compression_attrs")
    if version != 2:
        return f"message format v{version} (the bulk path writes v2)"
    builder = MemoryRecordsBuilder(version, codec, 1024)._builder
    missing = [a for a in _BUILDER_ATTRS if not hasattr(builder, a)]
    if missing:
        return f"the record batch builder lacks {', '.join(missing)}"
    return self_test(version, codec)


# -- transactions with deadlines -----------------------------------------------------------

#: The transaction manager's steps :func:`transaction_step` may call.
_TXN_STEPS = ("send_offsets_to_transaction", "begin_commit", "begin_abort")


def transaction_step(producer: KafkaProducer, step: str, timeout_s: float, *args: Any) -> None:
    """One step of a transaction (``send_offsets_to_transaction``, ``begin_commit``,
    ``begin_abort``) that gives up after ``timeout_s`` with ``KafkaTimeoutError``.

    kafka-python's public calls wait without a deadline, and a step whose request was lost
    with a broker that went away never completes; here the step is started on the
    producer's transaction manager and waited for with a deadline. Without those internals
    the public, unbounded call is used."""
    manager = getattr(producer, "_transaction_manager", None)
    sender = getattr(producer, "_sender", None)
    if step not in _TXN_STEPS:
        raise ValueError(f"unknown transaction step {step!r}")
    if manager is None or sender is None or not hasattr(manager, step):
        public = {
            "send_offsets_to_transaction": producer.send_offsets_to_transaction,
            "begin_commit": producer.commit_transaction,
            "begin_abort": producer.abort_transaction,
        }[step]
        public(*args)
        return
    result = getattr(manager, step)(*args)
    sender.wakeup()
    if not result.wait(timeout_ms=timeout_s * 1000):
        raise KafkaTimeoutError(f"{step} did not complete within {timeout_s:.0f} s")
