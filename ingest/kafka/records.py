"""Kafka's v2 record format, written and read in bulk (no kafka-python internals).

:func:`record_bytes` writes a batch body's records as ``DefaultRecordBatchBuilder.append``
would (numpy for the sizes, one join for the bytes); :func:`decode_records` reads an
uncompressed batch body back into flat lists in one pass. :mod:`ingest.kafka.private` puts
them to work inside kafka-python's producer and fetcher.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from kafka.errors import CorruptRecordError
from kafka.record.util import decode_varint, encode_varint

__all__ = ["decode_records", "record_bytes", "record_sizes"]

I64 = npt.NDArray[np.int64]


# -- writing --------------------------------------------------


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
    ``first_offset``, all with timestamp delta ``ts_delta``.

    Each record is eight pieces (length, attributes and timestamp delta, offset delta, key
    length, key, value length, value, header count), laid side by side in one list by
    strided slice assignments and joined once: no Python loop turn per record."""
    n = len(values)
    if not n:
        return b""
    klen = np.fromiter(map(len, keys), np.int64, n)
    vlen = np.fromiter(map(len, values), np.int64, n)
    body, _ = record_sizes(klen, vlen, first_offset, ts_delta)
    last_offset = first_offset + n
    small = max(int(body.max()), int(vlen.max()), last_offset, int(klen.max())) < len(_VZ)
    z = _VZ.__getitem__ if small else _zigzag
    parts: list[bytes] = [b"\x00" + _zigzag(ts_delta)] * (8 * n)
    parts[0::8] = map(z, body.tolist())
    parts[2::8] = (
        _VZ[first_offset:last_offset] if small else map(z, range(first_offset, last_offset))
    )
    parts[3::8] = map(z, klen.tolist())
    parts[4::8] = keys
    parts[5::8] = map(z, vlen.tolist())
    parts[6::8] = values
    parts[7::8] = [b"\x00"] * n
    return b"".join(parts)


# -- reading ---------------------------------------------------------------------------


_PAD = bytes(16)  # read past the end by the vectorised varints: zeros, never a continuation


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

    Two passes: one Python loop finds where each record starts and ends (its length
    varint alone), then numpy reads every record's fields at once, one varint field after
    the other; what is left per record is slicing out its key and value. Raises
    ``CorruptRecordError`` on a record whose fields don't add up to its length, or on bytes
    left after the last record.
    """
    try:
        starts, ends, end = _spans(buf, pos, count)
    except (ValueError, IndexError) as err:
        raise CorruptRecordError(f"Found invalid record structure: {err!r}") from None
    if end != len(buf):
        raise CorruptRecordError(f"{len(buf) - end} unconsumed bytes after all records consumed")
    if not count:
        return
    data = np.frombuffer(buf + _PAD, np.uint8)
    last = len(buf)
    start, stop = np.array(starts, np.int64), np.array(ends, np.int64)
    _, at = _varints(data, start)  # attributes (a varint, as kafka-python reads them)
    _, at = _varints(data, np.minimum(at, last))  # timestamp delta
    delta, at = _varints(data, np.minimum(at, last))
    klen, at = _varints(data, np.minimum(at, last))
    kpos = at
    vlen, at = _varints(data, np.minimum(at + np.maximum(klen, 0), last))
    vpos = at
    headers, at = _varints(data, np.minimum(at + np.maximum(vlen, 0), last))
    if headers.any():
        at = _skip_headers(buf, headers, at)
    wrong = np.flatnonzero(at != stop)
    if len(wrong):
        i = int(wrong[0])
        raise CorruptRecordError(
            f"Invalid record size: expected to read {ends[i] - starts[i]} bytes in record "
            f"payload, but instead read {int(at[i]) - starts[i]}"
        )
    offsets.extend((delta + base_offset).tolist())
    keys.extend(_slices(buf, kpos, klen))
    values.extend(_slices(buf, vpos, vlen))


def _spans(buf: bytes, pos: int, count: int) -> tuple[list[int], list[int], int]:
    """Where each record's fields start and where the record ends; the end of the last.
    One- and two-byte lengths (records below 8 KiB) are read inline."""
    dv = decode_varint
    starts, ends = [0] * count, [0] * count
    for i in range(count):
        b = buf[pos]
        if b < 0x80:
            length = (b >> 1) ^ -(b & 1)
            pos += 1
        else:
            c = buf[pos + 1]
            if c < 0x80:
                raw = (b & 0x7F) | (c << 7)
                length = (raw >> 1) ^ -(raw & 1)
                pos += 2
            else:
                length, pos = dv(buf, pos)
        if length < 0:
            raise ValueError(f"negative record length {length}")
        starts[i] = pos
        pos += length
        ends[i] = pos
    return starts, ends, pos


def _varints(data: npt.NDArray[np.uint8], at: I64) -> tuple[I64, I64]:
    """The zigzag varints at positions ``at`` of ``data``, and the positions after them."""
    b = data[at]
    more = b >= 0x80
    raw = (b & 0x7F).astype(np.int64)
    size = np.ones(len(at), np.int64)
    k = 1
    while more.any():
        if k == 10:
            raise CorruptRecordError("Found invalid record structure: a varint of over 10 bytes")
        b = data[at + k]
        raw |= np.where(more, (b & 0x7F).astype(np.int64) << (7 * k), 0)
        size += more
        more &= b >= 0x80
        k += 1
    return (raw >> 1) ^ -(raw & 1), at + size


def _slices(buf: bytes, at: I64, length: I64) -> list[bytes | None]:
    """``buf[at:at + length]`` per record; None where the length is negative (absent)."""
    firsts = at.tolist()
    if (length >= 0).all():
        return [buf[i:j] for i, j in zip(firsts, (at + length).tolist(), strict=True)]
    lengths = length.tolist()
    return [buf[i : i + n] if n >= 0 else None for i, n in zip(firsts, lengths, strict=True)]


def _skip_headers(buf: bytes, counts: I64, at: I64) -> I64:
    """The positions after the headers of the records that have any (rare: read one by
    one)."""
    at = at.copy()
    for i in np.flatnonzero(counts).tolist():
        count, pos = int(counts[i]), int(at[i])
        if count < 0:
            raise CorruptRecordError(f"Found invalid number of record headers {count}")
        try:
            for _ in range(count):
                n, pos = decode_varint(buf, pos)
                if n < 0:
                    raise CorruptRecordError(f"Invalid negative header key size {n}")
                pos += n
                n, pos = decode_varint(buf, pos)
                pos += max(n, 0)
        except (ValueError, IndexError) as err:
            raise CorruptRecordError(f"Found invalid record structure: {err!r}") from None
        at[i] = pos
    return at
