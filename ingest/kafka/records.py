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


# -- reading


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
    (every length and offset delta below 8 Ki) are read inline. Raises
    ``CorruptRecordError`` on a record whose fields don't add up to its length, or on bytes
    left after the last record.
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
                c = buf[pos + 1]
                if c < 0x80:  # a record of 64 B to 8 KiB: most of them
                    raw = (b & 0x7F) | (c << 7)
                    length = (raw >> 1) ^ -(raw & 1)
                    pos += 2
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
                c = buf[pos + 1]
                if c < 0x80:  # offset deltas 64 to 8191
                    raw = (b & 0x7F) | (c << 7)
                    add_offset(base_offset + ((raw >> 1) ^ -(raw & 1)))
                    pos += 2
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
