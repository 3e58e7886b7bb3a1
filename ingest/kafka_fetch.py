"""Bulk input decoding for kafka-python: a poll's records as flat lists, no record objects.

``consumer.poll()`` builds a ``DefaultRecord`` and a ``ConsumerRecord`` (13 fields, headers,
two deserializer calls) for every post; on a drain that is about a fifth of the worker's
time. :func:`fetch_raw` runs the same ``poll()`` (group heartbeats, offset resets, fetch
pipelining and waits all stay kafka-python's) but swaps, for the duration of the call, the
fetcher's ``fetched_records`` step for :func:`_bulk_fetched`, which decodes each fetched
partition's record batches in one tight loop straight into the ``RawBatch`` columns.

What it keeps from kafka-python's ``Fetcher.PartitionRecords``:

- batch CRC-32C validated when ``check_crcs`` (the default), ``CorruptRecordError``
  otherwise; records of the batches before a bad one are returned first, the error is
  raised on the next call (as kafka-python does);
- control batches skipped; under ``isolation_level='read_committed'`` the batches of
  aborted transactions skipped, by the fetch response's aborted-transaction list;
- records before the fetch offset (the head of a compressed batch) skipped;
- positions advanced as ``poll()`` advances them, and only for records returned; a
  partition that was sought, paused or revoked meanwhile drops what was fetched for it.

It relies on kafka-python internals (3.0.x): ``consumer._fetcher`` and its
``_completed_fetches``, ``_parse_fetched_data``, ``_subscriptions``. A self-test at first
use decodes batches built by kafka-python's own builder (every codec installed, keys,
null values, headers, offset gaps) both ways and checks those internals exist; if it
fails, :func:`fetch_raw` falls back to ``consumer.poll()`` and logs once why.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import CorruptRecordError
from kafka.record import MemoryRecords
from kafka.record.util import decode_varint
from kafka.structs import OffsetAndMetadata

from ingest.batch import RawBatch

__all__ = ["bulk_available", "decode_records", "fetch_raw"]

log = logging.getLogger(__name__)

#: IsolationLevel.READ_COMMITTED in kafka-python's protocol module.
_READ_COMMITTED = 1


def _skip_varint(buf: bytes, pos: int) -> int:
    while buf[pos] & 0x80:
        pos += 1
    return pos + 1


def decode_records(
    buf: bytes,
    pos: int,
    count: int,
    base_offset: int,
    values: list[bytes | None],
    keys: list[bytes | None],
    offsets: list[int],
) -> None:
    """Decode ``count`` v2 records of an (uncompressed) batch body from ``buf[pos:]``, which
    must end with the last record, appending to the three lists.

    One pass, no object per record but the key and value slices; one- and two-byte varints
    (every length below 8 KiB) are read inline. Raises ``CorruptRecordError`` on a record
    whose fields don't add up to its length, or on bytes left after the last record.
    """
    dv = decode_varint
    add_value, add_key, add_offset = values.append, keys.append, offsets.append
    try:
        for _ in range(count):
            b = buf[pos]
            if b < 0x80:
                length = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                length, pos = dv(buf, pos)
            start = pos
            pos = pos + 1 if buf[pos] < 0x80 else _skip_varint(buf, pos)  # attributes
            while buf[pos] & 0x80:  # timestamp delta, unused
                pos += 1
            pos += 1
            b = buf[pos]
            if b < 0x80:
                add_offset(base_offset + ((b >> 1) ^ -(b & 1)))
                pos += 1
            else:
                delta, pos = dv(buf, pos)
                add_offset(base_offset + delta)
            b = buf[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                n, pos = dv(buf, pos)
            if n < 0:
                add_key(None)
            else:
                add_key(buf[pos : pos + n])
                pos += n
            b = buf[pos]
            if b < 0x80:
                n = (b >> 1) ^ -(b & 1)
                pos += 1
            else:
                c = buf[pos + 1]
                if c < 0x80:
                    raw = (b & 0x7F) | (c << 7)
                    n = (raw >> 1) ^ -(raw & 1)
                    pos += 2
                else:
                    n, pos = dv(buf, pos)
            if n < 0:
                add_value(None)
            else:
                add_value(buf[pos : pos + n])
                pos += n
            if buf[pos] == 0:  # no headers
                pos += 1
            else:
                pos = _skip_headers(buf, pos)
            if pos - start != length:
                raise CorruptRecordError(
                    f"Invalid record size: expected to read {length} bytes in record "
                    f"payload, but instead read {pos - start}"
                )
    except (ValueError, IndexError) as err:
        raise CorruptRecordError(f"Found invalid record structure: {err!r}") from None
    if pos != len(buf):
        raise CorruptRecordError(f"{len(buf) - pos} unconsumed bytes after all records consumed")


def _skip_headers(buf: bytes, pos: int) -> int:
    count, pos = decode_varint(buf, pos)
    if count < 0:
        raise CorruptRecordError(f"Found invalid number of record headers {count}")
    for _ in range(count):
        n, pos = decode_varint(buf, pos)
        if n < 0:
            raise CorruptRecordError(f"Invalid negative header key size {n}")
        pos += n
        n, pos = decode_varint(buf, pos)
        pos += max(n, 0)
    return pos


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
                    part._consume_aborted_transactions_up_to(batch.last_offset)
                    if part._contains_abort_marker(batch):
                        part.aborted_producer_ids.discard(batch.producer_id)
                    elif part._is_batch_aborted(batch):
                        out.end_offset = batch.next_offset
                        batch = records.next_batch()
                        continue
                if batch.is_control_batch:
                    out.end_offset = batch.next_offset
                    batch = records.next_batch()
                    continue
                batch._maybe_uncompress()
                first = len(out.offsets)
                decode_records(
                    bytes(batch._buffer),
                    batch._pos,
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
    subs = fetcher._subscriptions
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
    fetcher._subscriptions.assignment[d.tp].position = OffsetAndMetadata(
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
    subs = fetcher._subscriptions
    for tp in list(fetcher._paused_completed_fetches):
        if not subs.is_paused(tp):
            fetcher._completed_fetches.append(fetcher._paused_completed_fetches.pop(tp))
    out = RawBatch()
    left = max_records
    tp, at = None, -1
    try:
        while left > 0:
            d = state.pending
            if d is None:
                if not fetcher._completed_fetches:
                    break
                completion = fetcher._completed_fetches.popleft()
                tp, at = completion.topic_partition, completion.fetched_offset
                if subs.is_paused(tp):
                    fetcher._paused_completed_fetches[tp] = completion
                    continue
                part = fetcher._parse_fetched_data(completion)
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
    partial = bool(fetcher._completed_fetches)
    return ({"bulk": out} if len(out) else {}), partial


def _poll_records(consumer: Any, max_records: int, timeout_ms: int) -> RawBatch:
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
    "_paused_completed_fetches",
    "_parse_fetched_data",
    "_subscriptions",
    "_next_partition_records",
    "config",
)


@functools.cache
def _self_test() -> str | None:
    """None when the bulk decoder gives what kafka-python gives; else the reason."""
    from kafka.consumer.fetcher import Fetcher
    from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

    try:
        for name in ("_parse_fetched_data", "fetched_records", "PartitionRecords"):
            if not hasattr(Fetcher, name):
                return f"kafka-python's Fetcher has no {name}"
        for codec in (0, 1, 3, 4):
            builder = DefaultRecordBatchBuilder(2, codec, 0, -1, -1, -1, 1 << 20)
            rows = [
                (0, b"k0", b'{"text":"hello"}' * 20, []),
                (1, None, b"", []),
                (2, b"", None, []),
                (4, b"key", b"x" * 9000, [("h", b"v"), ("e", None)]),
                (5, None, b"\x00\xff" * 3, []),
            ]
            for offset, key, value, headers in rows:
                builder.append(offset, 1_700_000_000_000 + offset * 999, key, value, headers)
            raw = bytes(builder.build())
            expect = [(r.offset, r.key, r.value) for r in DefaultRecordBatch(raw)]
            batch = DefaultRecordBatch(raw)
            if not batch.validate_crc():
                return "kafka-python's own batch fails its CRC check"
            batch._maybe_uncompress()
            values: list[bytes | None] = []
            keys: list[bytes | None] = []
            offsets: list[int] = []
            decode_records(
                bytes(batch._buffer), batch._pos, batch.records_count, 100, values, keys, offsets
            )
            got = [(o - 100, k, v) for o, k, v in zip(offsets, keys, values, strict=True)]
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
    if reason is None and fetcher._next_partition_records is not None:
        return _poll_records(consumer, max_records, timeout_ms)  # an earlier poll()'s leftovers
    if reason is not None:
        if reason not in _warned:
            _warned.add(reason)
            warn(f"bulk Kafka decoding off, using consumer.poll(): {reason}")
        return _poll_records(consumer, max_records, timeout_ms)
    state = _states.setdefault(consumer, _State())
    fetcher.fetched_records = functools.partial(_bulk_fetched, fetcher, state)
    try:
        polled = consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
    finally:
        del fetcher.fetched_records
    got = polled.get("bulk")
    return got if isinstance(got, RawBatch) else RawBatch()
