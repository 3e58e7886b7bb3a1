"""Decode throughput (records/s): clean firehose batches, and batches with bad records mixed in.

.venv/bin/python tests/benchmark/bench_decode.py [--posts N] [--batch B] [--bad 0.01]

The posts come from ``ingest.firehose.generate`` + ``encode_values``; the bad records
cycle through every rejection category. Each figure is the best of ``--repeat`` runs over
all the batches (``--batch`` records each, default the whole set as one batch).
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from ingest.firehose import FirehoseConfig, encode_values, generate
from process.decode import decode

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = START + 3_600_000


def bad_records(template: bytes) -> list[bytes]:
    """One record of each rejection category, built from a valid post."""
    post: dict[str, Any] = orjson.loads(template)
    head = template[:-1]
    return [
        b"",
        b"not json",
        template[: len(template) // 2],
        b"[1, 2]",
        b"\xff\xfe" + template,
        orjson.dumps({**post, "text": 5}),
        orjson.dumps({**post, "hashtags": ["ok", None]}),
        orjson.dumps({**post, "post_id": "7"}),
        b'{"post_id":99999999999999999999' + template[template.index(b',"author_id"') :],
        head + b',"post_id":2}',
        head + b',"x":NaN}',
        head.replace(b'"text":"', b'"text":"\\ud800', 1) + b"}",
        head + b',"x":' + b"[" * 100 + b"]" * 100 + b"}",
        orjson.dumps({**post, "created_at": 1_000}),
        orjson.dumps({**post, "created_at": NOW + 400 * 86_400_000}),
        orjson.dumps({k: v for k, v in post.items() if k != "lang"}),
    ]


def mix(values: list[bytes], fraction: float) -> list[bytes]:
    """``values`` with bad records interleaved at about ``fraction`` of the total."""
    if fraction <= 0:
        return list(values)
    bad = bad_records(values[0])
    every = max(1, round(1 / fraction))
    out: list[bytes] = []
    for i, v in enumerate(values):
        if i % every == every - 1:
            out.append(bad[(i // every) % len(bad)])
        out.append(v)
    return out


def best_rate(run: Callable[[], None], records: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return records / min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=0, help="records per batch (0: all)")
    parser.add_argument("--bad", type=float, default=0.01, help="bad fraction, mixed run")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    clean = encode_values(generate(FirehoseConfig(), 1, START, args.posts))
    mixed = mix(clean, args.bad)
    # Older decoders take no clock; pass it only where the signature has it.
    extra = {"now_ms": NOW} if "now_ms" in inspect.signature(decode).parameters else {}

    def runner(values: list[bytes]) -> Callable[[], None]:
        size = args.batch or len(values)
        batches = [values[i : i + size] for i in range(0, len(values), size)]

        def run() -> None:
            for b in batches:
                decode(b, 65_536, **extra)

        return run

    result = {
        "posts": args.posts,
        "batch": args.batch or args.posts,
        "bad_fraction": args.bad,
        "clean_records_per_s": round(best_rate(runner(clean), len(clean), args.repeat)),
        "mixed_records_per_s": round(best_rate(runner(mixed), len(mixed), args.repeat)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
