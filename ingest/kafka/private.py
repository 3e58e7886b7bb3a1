"""Every use of kafka-python's private members, in one module (the door's back room).

kafka-python (pinned exactly in pyproject.toml) is fast enough on the wire but not per
record in Python, so two hot paths reach into it, and nothing else in datamoat does (a
test walks the tree for ``obj._name``, ``getattr``/``setattr``/``delattr`` of a private
name, ``vars()`` and ``__dict__``; ruff's SLF rule is on, and each access here carries a
``noqa: SLF001`` with its reason):

* **Producing** (:class:`BulkAppender`). ``KafkaProducer.send()`` costs about 15 us of
  Python per record (checks, a future, varints), which caps one process near 40k posts/s.
  The bulk path writes a partition's records straight into the producer's open record
  batch, in the bytes ``DefaultRecordBatchBuilder.append`` writes
  (:func:`ingest.kafka.records.record_bytes`), with one error callback per batch: about
  1 us per record. The firehose writes posts this way, and
  :class:`ingest.kafka.transaction.Transaction` the merger's signals: with a transactional
  producer each partition joins the open transaction before its first append, as in
  ``send()``, and the sender stamps producer id, epoch and sequence numbers on the batches
  as it drains them, whoever filled them. :func:`transaction_step` runs one transaction
  step with a deadline, and :func:`transaction_error` reads the error a failed step left.
  :func:`bulk_problem` guards the path once per producer (the attributes must be there,
  and :func:`self_test` builds a batch the bulk way and reads it back with kafka-python's
  own reader, CRC included); when anything is off, the writer falls back to ``send()``.
* **Fetching** (:func:`fetch_raw`): a poll's records as flat lists, no record objects (see
  the section below).
* **Rebalance callbacks** (:func:`rebalance_listener`): kafka-python's listener base class.
* **Reading sockets** (:func:`read_sockets_in_bulk`, done when this module is imported):
  kafka-python's plain TCP transport reads what a socket holds 4 KiB per ``recv`` call,
  about 50,000 calls (and Python loop turns) for a million posts' fetches, on its IO
  thread beside the worker's own; datamoat's reads take up to 1 MiB a call. And both its
  transports, plain and TLS, drop the bytes read in the same call as the connection's end:
  a broker that answers and closes (a refused SASL login: the refusal, then the close) is
  seen to close without a word whenever both have arrived by the time the client reads,
  which a loaded machine makes the rule. datamoat's reads hand those bytes on first.
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
from kafka import KafkaProducer
from kafka.errors import CorruptRecordError, KafkaConnectionError, KafkaTimeoutError
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport
from kafka.producer.producer_batch import ProducerBatch
from kafka.record import MemoryRecords
from kafka.record.memory_records import MemoryRecordsBuilder
from kafka.structs import OffsetAndMetadata, TopicPartition
from kafka.version import __version__ as kafka_version

from ingest.batch import RawBatch
from ingest.errors import DeliveryError
from ingest.kafka.records import decode_records, record_bytes, record_sizes

__all__ = [
    "BulkAppender",
    "bulk_available",
    "bulk_problem",
    "decode_batch",
    "drop_producer",
    "fetch_raw",
    "fetch_requests",
    "fetch_undecoded",
    "group_session_alive",
    "oldest_pending_s",
    "poll_records",
    "read_sockets_in_bulk",
    "receive",
    "self_test",
    "transaction_error",
    "transaction_step",
]

log = logging.getLogger("datamoat.kafka")
I64 = npt.NDArray[np.int64]
StopFlag = threading.Event

#: The accumulator's private attributes the bulk path uses.
_ACCUMULATOR_ATTRS = ("_batches", "_tp_lock", "_incomplete", "_appends_in_progress", "config")
#: The record batch builder's private attributes the bulk path writes.
_BUILDER_ATTRS = ("_buffer", "_num_records", "_last_offset", "_first_timestamp", "_max_timestamp")

#: IsolationLevel.READ_COMMITTED in kafka-python's protocol module.
_READ_COMMITTED = 1


# -- Writing into a producer batch ---------------------------------------------------------


def _new_batch(tp: TopicPartition, version: int, codec: int, size: int, now: float) -> Any:
    return ProducerBatch(tp, MemoryRecordsBuilder(version, codec, size), now=now)


def _used(batch: Any) -> int:
    return len(batch.records._builder._buffer)  # noqa: SLF001 - the open batch's builder, filled in bulk; the batch's bytes, appended to in bulk


def _fill(
    batch: Any, keys: Sequence[bytes], values: Sequence[bytes], ts: int, now: float, size: int
) -> None:
    """Append records (all stamped ``ts``) to ``batch``, as ``builder.append`` would;
    ``size`` is the largest record's size."""
    records, take = batch.records, len(values)
    builder = records._builder  # noqa: SLF001 - the open batch's builder, filled in bulk
    base = records.next_offset()
    first = ts if builder._first_timestamp is None else builder._first_timestamp  # noqa: SLF001 - batch header fields the bulk append keeps
    builder._buffer += record_bytes(keys, values, base, ts - first)  # noqa: SLF001 - the batch's bytes, appended to in bulk
    builder._num_records += take  # noqa: SLF001 - batch header fields the bulk append keeps
    builder._last_offset = base + take - 1  # noqa: SLF001 - batch header fields the bulk append keeps
    builder._first_timestamp = first  # noqa: SLF001 - batch header fields the bulk append keeps
    builder._max_timestamp = max(builder._max_timestamp or ts, ts)  # noqa: SLF001 - batch header fields the bulk append keeps
    records._next_offset = base + take  # noqa: SLF001 - batch header fields the bulk append keeps
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
        self._acc = producer._accumulator  # noqa: SLF001 - the producer's batches, appended to in bulk
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
        return len(self._acc._incomplete.all())  # noqa: SLF001 - batches not acknowledged yet (back-pressure, stall age)

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
        acc._appends_in_progress.increment()  # noqa: SLF001 - the accumulator's append protocol, as send() follows it
        try:
            while start < n:
                with acc._tp_lock(tp):  # noqa: SLF001 - the accumulator's append protocol, as send() follows it
                    dq = acc._batches[tp]  # noqa: SLF001 - the accumulator's append protocol, as send() follows it
                    batch: Any = dq[-1] if dq and not dq[-1].records.is_full() else None
                    take, window = 0, slice(start, start + 8192)
                    if batch is not None:
                        first = batch.records._builder._first_timestamp  # noqa: SLF001 - the open batch's builder, filled in bulk; batch header fields the bulk append keeps
                        base = batch.records.next_offset()
                        room = self._batch_size - _used(batch)
                        take, sizes = _fits(klen[window], vlen[window], base, ts - first, room)
                    if take == 0:  # no open batch, or no room in it: a new one
                        batch = _new_batch(tp, self._version, self._codec, self._batch_size, now)
                        room = self._batch_size - _used(batch)
                        take, sizes = _fits(klen[window], vlen[window], 0, 0, room)
                        take, wake = max(1, take), True
                        dq.append(batch)
                        acc._incomplete.add(batch)  # noqa: SLF001 - batches not acknowledged yet (back-pressure, stall age)
                    end = start + take
                    _fill(
                        batch, keys[start:end], values[start:end], ts, now, int(sizes[:take].max())
                    )
                    batch.produce_future.add_errback(partial(on_error, take))
                    wake = wake or len(dq) > 1 or batch.records.is_full()
                start += take
        finally:
            acc._appends_in_progress.decrement()  # noqa: SLF001 - the accumulator's append protocol, as send() follows it
        if wake:
            self._producer._sender.wakeup()  # noqa: SLF001 - woken after a bulk append or a transaction step
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
    builder = MemoryRecordsBuilder(version, codec, 1024)._builder  # noqa: SLF001 - the open batch's builder, filled in bulk
    missing = [a for a in _BUILDER_ATTRS if not hasattr(builder, a)]
    if missing:
        return f"the record batch builder lacks {', '.join(missing)}"
    return self_test(version, codec)


# -- transactions with deadlines -----------------------------------------------------------


def oldest_pending_s(producer: KafkaProducer) -> float:
    """Seconds since the oldest send the broker has not acknowledged yet was made (0: none,
    or the accumulator looks different)."""
    accumulator = getattr(producer, "_accumulator", None)  # private: no public view of it
    incomplete = getattr(accumulator, "_incomplete", None)  # private: unacknowledged batches
    batches = incomplete.all() if incomplete is not None else ()
    return max(0.0, time.monotonic() - min(b.created for b in batches)) if batches else 0.0


def transaction_error(producer: KafkaProducer) -> BaseException | None:
    """The error that put ``producer``'s transaction in its error state (read before the
    abort clears it): a later step only says "in an error state", this says which."""
    manager = getattr(producer, "_transaction_manager", None)  # private: the step's cause
    error = getattr(manager, "last_error", None)
    return error if isinstance(error, BaseException) else None


def drop_producer(producer: KafkaProducer) -> None:
    """Stop ``producer`` at once, sending nothing more: its sender thread is force-closed
    before anything it still holds (a transaction step that timed out, unacknowledged
    batches) can go out. ``close(timeout=0)`` flushes first, and can send them."""
    sender = getattr(producer, "_sender", None)  # private: close() has no "don't flush"
    if sender is not None:
        sender.force_close()
    try:
        producer.close(timeout=0)
    except Exception as exc:  # the sender is gone: what is left is cleanup
        log.debug("producer dropped with records undelivered: %s", exc)


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


# == Reading sockets ==================================================================

#: Bytes asked of a plain socket per ``recv`` call (kafka-python's transport asks for 4 KiB).
RECV_BYTES = 1 << 20
#: Bytes asked of a TLS socket per call: one TLS record holds at most 16 KiB, and a call
#: returns at most one record, so a bigger buffer only costs its allocation.
TLS_RECV_BYTES = 1 << 14
#: What a non-blocking read raises when the socket is drained (TLS: mid-record, or a
#: renegotiation's write); anything else closes the connection.
_DRAINED = (BlockingIOError, InterruptedError)
_TLS_DRAINED = (*_DRAINED, ssl.SSLWantReadError, ssl.SSLWantWriteError)


def receive(
    sock: Any,
    who: Any = None,
    size: int = RECV_BYTES,
    drained: tuple[type[BaseException], ...] = _DRAINED,
) -> tuple[bytes, Exception | None]:
    """Everything non-blocking ``sock`` holds, read ``size`` bytes at most per call, and
    the error that ended the read (the peer closed, or the socket failed; None when it was
    just drained): what kafka-python's ``_sock_recv`` (3.0.x) returns for the transport
    ``who``, with one difference. When the peer's close comes after bytes read in the same
    call, the bytes are returned alone: kafka-python drops whatever comes with an error, so
    a broker's last answer before it closes (why it refused a login) was lost. The socket
    stays readable at its end, so the next call reads the close and reports it."""
    received: list[bytes] = []
    error: Exception | None = None
    while True:
        try:
            data = sock.recv(size)
        except drained:
            break
        except OSError as exc:  # a reset, a network or TLS failure: one line, no traceback
            log.warning("%s: connection lost while receiving (%r); closing the socket", who, exc)
            error = KafkaConnectionError(exc)
            break
        except BaseException as exc:  # as kafka-python: any failure closes the connection
            log.exception("%s: Error receiving network data closing socket", who)
            error = KafkaConnectionError(exc)
            break
        if not data:
            if received:
                break  # the bytes first; the next call reads the end again
            log.error("%s: socket disconnected", who)
            error = KafkaConnectionError("socket disconnected")
            break
        received.append(data)
    return b"".join(received), error


def _sock_recv(self: Any) -> tuple[bytes, Exception | None]:
    return receive(self._sock, self)


def _tls_sock_recv(self: Any) -> tuple[bytes, Exception | None]:
    return receive(self._sock, self, TLS_RECV_BYTES, _TLS_DRAINED)


def read_sockets_in_bulk() -> bool:
    """Make kafka-python's transports read with :func:`receive`: up to :data:`RECV_BYTES` per
    ``recv`` on plain TCP, a TLS record a call on TLS, and in both the bytes that came with
    the connection's end handed on before the end. Only on the kafka-python it was written
    against (3.0.x, its ``_sock_recv`` as shipped); True when in place."""
    if not kafka_version.startswith("3.0."):
        return False
    KafkaTCPTransport._sock_recv = _sock_recv  # noqa: SLF001 - bigger reads, bytes before the end
    KafkaSSLTransport._sock_recv = _tls_sock_recv  # noqa: SLF001 - the bytes before the end
    return True


read_sockets_in_bulk()  # every Kafka client of a process that imports the door reads so


# == Fetching: bulk decoding inside the consumer's fetcher ==============================
#
# Bulk input decoding for kafka-python: a poll's records as flat lists, no record objects.
#
# ``consumer.poll()`` builds a ``DefaultRecord`` and a ``ConsumerRecord`` (13 fields, headers,
# two deserializer calls) for every post; on a drain that is about a fifth of the worker's
# time. :func:`fetch_raw` runs the same ``poll()`` (group heartbeats, offset resets, fetch
# pipelining and waits all stay kafka-python's) but swaps, for the duration of the call, the
# fetcher's ``fetched_records`` step for :func:`_bulk_fetched`, which decodes each fetched
# partition's record batches in one tight loop straight into the ``RawBatch`` columns.
#
# What it keeps from kafka-python's ``Fetcher.PartitionRecords``:
#
# - batch CRC-32C validated when ``check_crcs`` (the default), ``CorruptRecordError``
#   otherwise; records of the batches before a bad one are returned first, the error is
#   raised on the next call (as kafka-python does);
# - control batches skipped; under ``isolation_level='read_committed'`` the batches of
#   aborted transactions skipped, by the fetch response's aborted-transaction list;
# - records before the fetch offset (the head of a compressed batch) skipped;
# - positions advanced as ``poll()`` advances them, and only for records returned; a
#   partition that was sought, paused or revoked meanwhile drops what was fetched for it.
#
# And one thing it does differently: every call that returns records ends with the next
# fetch out for each partition whose fetched records are all returned. kafka-python sends
# fetches only once nothing fetched is left, and not after records that came after a wait,
# so a batch cut in the middle of a fetch response (a worker's ``max_records``) left the
# drained partitions unfetched while that batch was processed, and the next call waited
# for the broker. The partition partly returned is left out of
# that fetch (kafka-python leaves out its own ``_next_partition_records`` the same way);
# partitions with fetched records waiting are left out by kafka-python itself.
#
# It relies on kafka-python internals (3.0.x): ``consumer._fetcher`` and its
# ``_completed_fetches``, ``_parse_fetched_data``, ``_subscriptions``. A self-test at first
# use decodes batches built by kafka-python's own builder (every codec installed, keys,
# null values, headers, offset gaps) both ways and checks those internals exist; if it
# fails, :func:`fetch_raw` falls back to ``consumer.poll()`` and logs once why.


@dataclass(slots=True)
class _Decoded:
    """One fetched partition, decoded; ``taken`` records of it already returned."""

    tp: Any
    part: Any  # kafka-python's PartitionRecords: its settings, metrics and drain hook
    values: list[bytes | None] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    end_offset: int = 0  # the position once every record is returned
    leader_epoch: int = -1
    error: Exception | None = None  # raised once the records before it are returned
    taken: int = 0
    position: int = 0  # where the consumer must stand for the next take to be in line

    def left(self) -> int:
        return len(self.values) - self.taken

    def finish(self) -> None:
        """kafka-python's drain: fetch metrics, and the partition goes to the back."""
        self.part.records_read = self.taken
        self.part.drain()


def _decode_partition(tp: Any, data: bytes, part: Any) -> _Decoded:
    """What ``PartitionRecords._unpack_records`` yields, as columns (see the module doc)."""
    fetch_offset = part.fetch_offset
    out = _Decoded(tp, part, end_offset=fetch_offset, position=fetch_offset)
    committed_only = int(part.isolation_level) == _READ_COMMITTED
    records = MemoryRecords(data)
    batch = records.next_batch()
    last = None
    try:
        while batch is not None:
            last = batch
            if part.check_crcs and not batch.validate_crc():
                raise CorruptRecordError(
                    f"Record batch for partition {tp} at offset {batch.base_offset} "
                    "failed crc check"
                )
            if batch.magic == 2:
                out.leader_epoch = batch.leader_epoch
                if committed_only and batch.has_producer_id():
                    part._consume_aborted_transactions_up_to(batch.last_offset)  # noqa: SLF001 - read_committed filtering, as the fetcher does it
                    if part._contains_abort_marker(batch):  # noqa: SLF001 - read_committed filtering, as the fetcher does it
                        part.aborted_producer_ids.discard(batch.producer_id)
                    elif part._is_batch_aborted(batch):  # noqa: SLF001 - read_committed filtering, as the fetcher does it
                        out.end_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                if batch.is_control_batch:
                    out.end_offset = batch.next_offset
                    batch = records.next_batch()
                    continue
                batch._maybe_uncompress()  # noqa: SLF001 - a fetched batch decoded in bulk
                first = len(out.offsets)
                decode_records(
                    bytes(batch._buffer),  # noqa: SLF001 - the batch's bytes, appended to in bulk
                    batch._pos,  # noqa: SLF001 - a fetched batch decoded in bulk
                    batch.records_count,
                    batch.base_offset,
                    out.values,
                    out.keys,
                    out.offsets,
                )
            else:  # message format v0/v1: kafka-python's own records (rare, old producers)
                first = len(out.offsets)
                for record in batch:
                    if part.check_crcs and not record.validate_crc():
                        raise CorruptRecordError(
                            f"Record for partition {tp} at offset {record.offset} failed crc check"
                        )
                    out.values.append(record.value)
                    out.keys.append(record.key)
                    out.offsets.append(record.offset)
            if first < len(out.offsets) and out.offsets[first] < fetch_offset:
                _drop_before(out, first, fetch_offset)
            if len(out.offsets) > first:
                out.end_offset = out.offsets[-1] + 1
            batch = records.next_batch()
        if last is not None and last.magic == 2:
            out.end_offset = last.next_offset
    except Exception as exc:
        out.error = exc
    return out


def _drop_before(out: _Decoded, first: int, fetch_offset: int) -> None:
    keep = first
    while keep < len(out.offsets) and out.offsets[keep] < fetch_offset:
        keep += 1
    del out.values[first:keep], out.keys[first:keep], out.offsets[first:keep]


@dataclass
class _State:
    pending: _Decoded | None = None
    error: tuple[Any, int, Exception] | None = None  # (tp, position it applies at, error)


_states: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _in_line(fetcher: Any, tp: Any, position: int) -> bool:
    subs = fetcher._subscriptions  # noqa: SLF001 - fetch positions, advanced as poll() does
    if not subs.is_assigned(tp) or not subs.is_fetchable(tp):
        return False
    current = subs.assignment[tp].position
    return current is not None and int(current.offset) == position


def _take(fetcher: Any, d: _Decoded, n: int, out: RawBatch) -> int:
    """Up to ``n`` records of ``d`` into ``out``, advancing the position; how many."""
    lo = d.taken
    hi = min(lo + n, len(d.values))
    if hi > lo:
        out.values.extend(d.values[lo:hi])  # type: ignore[arg-type]
        out.keys.extend(d.keys[lo:hi])
        out.offsets.extend(d.offsets[lo:hi])
        out.partitions.extend([d.tp.partition] * (hi - lo))
        d.taken = hi
    if hi == len(d.values) and d.error is None:
        d.position = d.end_offset  # past trailing control or aborted batches too
    elif hi > lo:
        d.position = d.offsets[hi - 1] + 1
    else:
        return 0
    fetcher._subscriptions.assignment[d.tp].position = OffsetAndMetadata(  # noqa: SLF001 - fetch positions, advanced as poll() does
        d.position, "", d.leader_epoch
    )
    return hi - lo


def _bulk_fetched(
    fetcher: Any, state: _State, max_records: int | None = None, update_offsets: bool = True
) -> tuple[dict[Any, RawBatch], bool]:
    """Stands in for ``Fetcher.fetched_records``: returns ``{"bulk": RawBatch}`` (every
    partition's records in one batch) instead of ``{tp: [ConsumerRecord]}``."""
    if max_records is None:
        max_records = int(fetcher.config["max_poll_records"])
    if state.error is not None:
        tp, at, exc = state.error
        state.error = None
        if _in_line(fetcher, tp, at):
            raise exc
    subs = fetcher._subscriptions  # noqa: SLF001 - fetch positions, advanced as poll() does
    for tp in list(fetcher._paused_completed_fetches):  # noqa: SLF001 - the fetcher's queue, drained in bulk
        if not subs.is_paused(tp):
            fetcher._completed_fetches.append(fetcher._paused_completed_fetches.pop(tp))  # noqa: SLF001 - the fetcher's queue, drained in bulk
    out = RawBatch()
    left = max_records
    tp, at = None, -1
    try:
        while left > 0:
            d = state.pending
            if d is None:
                if not fetcher._completed_fetches:  # noqa: SLF001 - the fetcher's queue, drained in bulk
                    break
                completion = fetcher._completed_fetches.popleft()  # noqa: SLF001 - the fetcher's queue, drained in bulk
                tp, at = completion.topic_partition, completion.fetched_offset
                if subs.is_paused(tp):
                    fetcher._paused_completed_fetches[tp] = completion  # noqa: SLF001 - the fetcher's queue, drained in bulk
                    continue
                part = fetcher._parse_fetched_data(completion)  # noqa: SLF001 - the fetcher's own checks on a completed fetch
                if part is None:
                    continue
                d = state.pending = _decode_partition(tp, completion.partition_data.records, part)
            tp, at = d.tp, d.position
            if not _in_line(fetcher, d.tp, d.position):
                state.pending = None  # sought, paused or revoked meanwhile: drop it
                d.finish()
                continue
            left -= _take(fetcher, d, left, out)
            if d.left() == 0:
                state.pending = None
                d.finish()
                if d.error is not None:
                    tp, at = d.tp, d.position
                    raise d.error
    except Exception as exc:
        if not len(out):
            raise
        state.error = (tp, at, exc)  # raised by the next call, as kafka-python does
    # Never "partial": the drained partitions are fetched again now (see the module notes).
    return ({"bulk": out} if len(out) else {}), False


def _fetchable(fetchable: Callable[[], list[Any]], state: _State) -> list[Any]:
    """Stands in for ``Fetcher._fetchable_partitions``: also leaves out the partition whose
    fetched records are partly returned (a fetch for it now would come back at an offset
    already passed, and be dropped)."""
    pending = state.pending
    partitions = fetchable()
    return partitions if pending is None else [tp for tp in partitions if tp != pending.tp]


def poll_records(consumer: Any, max_records: int, timeout_ms: int) -> RawBatch:
    """The fallback: ``consumer.poll()`` and one attribute read per record."""
    batch = RawBatch()
    for tp, records in consumer.poll(timeout_ms=timeout_ms, max_records=max_records).items():
        batch.values.extend([r.value for r in records])
        batch.keys.extend([r.key for r in records])
        batch.offsets.extend([r.offset for r in records])
        batch.partitions.extend([tp.partition] * len(records))
    return batch


_INTERNALS = (
    "_completed_fetches",
    "_fetchable_partitions",
    "send_fetches",
    "_paused_completed_fetches",
    "_parse_fetched_data",
    "_subscriptions",
    "_next_partition_records",
    "config",
)


#: A record to build into a batch: (offset, key, value, headers).
Row = tuple[int, bytes | None, bytes | None, list[tuple[str, bytes | None]]]


def built_batch(rows: Sequence[Row], codec: int = 0) -> bytes:
    """A v2 record batch of ``rows``, built by kafka-python's own builder (base offset 0)."""
    from kafka.record.default_records import DefaultRecordBatchBuilder

    builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 26)
    for offset, key, value, headers in rows:
        builder.append(offset, 1_700_000_000_000 + offset * 999, key, value, headers)
    return bytes(builder.build())


def read_batch(raw: bytes, base_offset: int = 0) -> tuple[list[Any], list[Any]]:
    """The (offset + ``base_offset``, key, value) of each record of ``raw``, as kafka-python
    reads them and as :func:`decode_records` does; raises ValueError on a bad CRC."""
    from kafka.record.default_records import DefaultRecordBatch

    expect = [(r.offset + base_offset, r.key, r.value) for r in DefaultRecordBatch(raw)]
    if not DefaultRecordBatch(raw).validate_crc():
        raise ValueError("kafka-python's own batch fails its CRC check")
    offsets, keys, values = decode_batch(raw, base_offset)
    return expect, list(zip(offsets, keys, values, strict=True))


def decode_batch(
    raw: bytes, base_offset: int = 0
) -> tuple[list[int], list[bytes | None], list[bytes | None]]:
    """The offsets (plus ``base_offset``), keys and values of the v2 batch ``raw``, read by
    :func:`decode_records` after kafka-python's header parsing and decompression, as a
    fetch reads them (the CRC is not checked)."""
    from kafka.record.default_records import DefaultRecordBatch

    batch = DefaultRecordBatch(raw)
    batch._maybe_uncompress()  # noqa: SLF001 - a fetched batch decoded in bulk
    values: list[bytes | None] = []
    keys: list[bytes | None] = []
    offsets: list[int] = []
    body = bytes(batch._buffer)  # noqa: SLF001 - a fetched batch decoded in bulk
    start = batch._pos  # noqa: SLF001 - a fetched batch decoded in bulk
    decode_records(body, start, batch.records_count, base_offset, values, keys, offsets)
    return offsets, keys, values


@functools.cache
def _self_test() -> str | None:
    """None when the bulk decoder gives what kafka-python gives; else the reason."""
    from kafka.consumer.fetcher import Fetcher

    try:
        for name in ("_parse_fetched_data", "fetched_records", "PartitionRecords"):
            if not hasattr(Fetcher, name):
                return f"kafka-python's Fetcher has no {name}"
        rows: list[Row] = [
            (0, b"k0", b'{"text":"hello"}' * 20, []),
            (1, None, b"", []),
            (2, b"", None, []),
            (4, b"key", b"x" * 9000, [("h", b"v"), ("e", None)]),
            (5, None, b"\x00\xff" * 3, []),
            (200, b"k", b"y" * 70, []),  # two-byte offset delta and length
            (10_000, b"k2", b"z", []),  # a three-byte offset delta
        ]
        for codec in (0, 1, 3, 4):
            expect, got = read_batch(built_batch(rows, codec), 100)
            if got != expect:
                return f"bulk decode differs from kafka-python's (codec {codec})"
    except Exception as exc:  # any surprise in the internals means: don't use them
        return f"{type(exc).__name__}: {exc}"
    return None


def bulk_available(consumer: Any) -> str | None:
    """None if :func:`fetch_raw` decodes in bulk for ``consumer``; else why it falls back."""
    reason = _self_test()
    if reason is not None:
        return reason
    fetcher = getattr(consumer, "_fetcher", None)
    missing = [n for n in _INTERNALS if fetcher is None or not hasattr(fetcher, n)]
    return f"kafka-python's fetcher lacks {', '.join(missing)}" if missing else None


_warned: set[str] = set()


def fetch_raw(
    consumer: Any,
    max_records: int,
    timeout_ms: int,
    *,
    warn: Callable[[str], None] = log.warning,
) -> RawBatch:
    """One ``consumer.poll(timeout_ms, max_records)``, returned as a :class:`RawBatch`
    decoded in bulk (or through ``poll()`` itself when the self-test failed: logged once
    through ``warn``). Raises what ``poll()`` raises."""
    reason = bulk_available(consumer)
    fetcher: Any = getattr(consumer, "_fetcher", None)
    if reason is None and fetcher._next_partition_records is not None:  # noqa: SLF001 - leftovers of an earlier poll() come first
        return poll_records(consumer, max_records, timeout_ms)  # an earlier poll()'s leftovers
    if reason is not None:
        if reason not in _warned:
            _warned.add(reason)
            warn(f"bulk Kafka decoding off, using consumer.poll(): {reason}")
        return poll_records(consumer, max_records, timeout_ms)
    state = _states.setdefault(consumer, _State())
    fetcher.fetched_records = functools.partial(_bulk_fetched, fetcher, state)
    fetchable = fetcher._fetchable_partitions  # noqa: SLF001 - which partitions the next fetch asks for
    fetcher._fetchable_partitions = functools.partial(_fetchable, fetchable, state)  # noqa: SLF001 - which partitions the next fetch asks for
    try:
        polled = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        got = polled.get("bulk")
        if isinstance(got, RawBatch) and len(got):
            # Records that came after a wait are returned without a fetch sent after them
            # (kafka-python sends at the start of its next call): send it now, while they
            # are processed (none when one is already out). Their positions are taken: a
            # failure here must not lose them, and the next call sends the fetch anyway.
            try:
                fetcher.send_fetches()
            except Exception as exc:  # an early fetch only; never at the cost of the batch
                log.debug("the next fetch is left to the next poll: %r", exc)
    finally:
        del fetcher.fetched_records
        del fetcher._fetchable_partitions  # noqa: SLF001 - which partitions the next fetch asks for
    return got if isinstance(got, RawBatch) else RawBatch()


@contextmanager
def fetch_requests(consumer: Any) -> Iterator[list[set[int]]]:
    """For the tests of the fetch pipelining: the partitions each fetch request made
    meanwhile asks for, in order (one set per request)."""
    fetcher = consumer._fetcher  # noqa: SLF001 - which partitions each fetch asks for
    create = fetcher._create_fetch_requests  # noqa: SLF001 - which partitions each fetch asks for
    asked: list[set[int]] = []

    def recorded() -> Any:
        requests = create()
        asked.extend({tp.partition for tp in offsets} for _, offsets in requests.values())
        return requests

    fetcher._create_fetch_requests = recorded  # noqa: SLF001 - which partitions each fetch asks for
    try:
        yield asked
    finally:
        del fetcher._create_fetch_requests  # noqa: SLF001 - which partitions each fetch asks for


def fetch_undecoded(c: Any) -> int:
    """Fetch only, for the fetch benchmark (tests/benchmark/bench_fetch.py): take the
    fetcher's completed fetches, count records from batch headers, advance the positions;
    no record is decoded (the ceiling of any decoder)."""
    fetcher = c._fetcher  # noqa: SLF001 - the consumer's fetcher, drained in bulk
    n = 0

    def fetched(max_records: int | None = None, update_offsets: bool = True) -> tuple[Any, bool]:
        nonlocal n
        while fetcher._completed_fetches:  # noqa: SLF001 - the fetcher's queue, drained in bulk
            done = fetcher._completed_fetches.popleft()  # noqa: SLF001 - the fetcher's queue, drained in bulk
            part = fetcher._parse_fetched_data(done)  # noqa: SLF001 - the fetcher's own checks on a completed fetch
            if part is None:
                continue
            records = MemoryRecords(done.partition_data.records)
            batch, end = records.next_batch(), None
            while batch is not None:
                n += batch.records_count
                end = batch.next_offset
                batch = records.next_batch()
            if end is not None:
                fetcher._subscriptions.assignment[  # noqa: SLF001 - fetch positions, advanced as poll() does
                    done.topic_partition
                ].position = fetcher._subscriptions.assignment[  # noqa: SLF001 - fetch positions, advanced as poll() does
                    done.topic_partition
                ].position._replace(offset=end)
            part.drain()
        return ({"raw": n} if n else {}), False

    fetcher.fetched_records = fetched
    try:
        c.poll(timeout_ms=500)
    finally:
        del fetcher.fetched_records
    return n


def group_session_alive(consumer: Any) -> bool:
    """Has ``consumer``'s group coordinator answered a heartbeat within the session timeout?
    (False while joining for longer than that, or while the broker is away.) Reads two
    timestamps only: safe from another thread, no request."""
    beat = consumer._coordinator.heartbeat  # noqa: SLF001 - no public view of the group's state
    return not beat.session_timeout_expired()
