"""Serialise posts for Kafka: values as JSON objects (keys in POST_SCHEMA order), keys as
the author id in decimal ASCII. Both vectorised: polars writes the NDJSON in one call and
the buffer is split into one ``bytes`` per row: byte for byte what ``orjson.dumps`` gives
for each row's dict (pinned by a test), about 13x faster than a per-row orjson loop.

``record_bytes`` lays records out in Kafka's v2 record-batch format (what kafka-python's
``DefaultRecordBatchBuilder.append`` writes for each, pinned by a test) for the bulk
producer path (:class:`ingest.producer.BulkAppender`)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl
from kafka.record.util import encode_varint

from ingest.schema import POST_SCHEMA

__all__ = ["encode_keys", "encode_values", "record_bytes", "record_sizes"]
I64 = npt.NDArray[np.int64]


def encode_values(df: pl.DataFrame) -> list[bytes]:
    """One UTF-8 JSON object per row, keys in POST_SCHEMA order."""
    if df.height == 0:
        return []
    buf = io.BytesIO()
    df.select(POST_SCHEMA.names()).write_ndjson(buf)
    data = buf.getvalue()
    return data.split(b"\n", df.height - 1) if data[-1:] != b"\n" else data[:-1].split(b"\n")


def encode_keys(df: pl.DataFrame) -> list[bytes]:
    """The author id of each row as decimal ASCII bytes (the Kafka record key)."""
    return [s.encode() for s in df.get_column("author_id").cast(pl.String).to_list()]


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
