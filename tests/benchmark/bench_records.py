"""Reading Kafka record batches: ``ingest.kafka.records.decode_records`` against kafka-python's
own reader (``DefaultRecordBatch``, one record object each), same batches, interleaved rounds.

.venv/bin/python tests/benchmark/bench_records.py [--posts 120000] [--batch 1200] [--rounds 5]

The batches hold firehose posts keyed as ``datamoat produce`` keys them, ``--batch`` records
each (a 256 KiB producer batch holds about 1,200 posts), uncompressed: what the worker's
fetch decodes after kafka-python has split a response into batches and checked their CRC.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable

from ingest.firehose import FirehoseConfig, encode_keys, encode_values, generate
from ingest.kafka.private import built_batch, decode_batch
from ingest.kafka.testing import DefaultRecordBatch

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def batches(posts: int, size: int) -> list[bytes]:
    frame = generate(FirehoseConfig(), 1, START, posts)
    values, keys = encode_values(frame), encode_keys(frame)
    return [
        built_batch([(i - lo, keys[i], values[i], []) for i in range(lo, min(lo + size, posts))])
        for lo in range(0, posts, size)
    ]


def ours(raw: list[bytes]) -> int:
    return sum(len(decode_batch(data)[2]) for data in raw)


def kafka_python(raw: list[bytes]) -> int:
    n = 0
    for data in raw:
        values = [r.value for r in DefaultRecordBatch(data)]
        n += len(values)
    return n


def rate(read: Callable[[list[bytes]], int], raw: list[bytes]) -> float:
    t0 = time.perf_counter()
    n = read(raw)
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=120_000)
    ap.add_argument("--batch", type=int, default=1_200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    raw = batches(args.posts, args.batch)
    readers = {"decode_records": ours, "kafka-python": kafka_python}
    got: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.rounds):
        for name, read in readers.items():
            got[name].append(rate(read, raw))
    medians = {name: statistics.median(r) for name, r in got.items()}
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "posts": args.posts, "batch": args.batch,
        "records_per_s": {name: [round(x) for x in r] for name, r in got.items()},
        "median_records_per_s": {name: round(m) for name, m in medians.items()},
        "decode_records_over_kafka_python": round(
            medians["decode_records"] / medians["kafka-python"], 2
        ),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
