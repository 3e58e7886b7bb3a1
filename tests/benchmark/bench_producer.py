"""Kafka producer ceiling: posts/s from the firehose into a real broker, unpaced.

Starts its own broker (``datamoat.broker.LocalCluster`` on free ports, in a temporary
directory) and stops it at the end. Each row produces ``--posts`` posts the way
``datamoat produce --unpaced`` does (generate, encode, send, flush with acks=all), with
one producer setting changed; ``send only`` replays pre-encoded posts (kafka-python's own
ceiling); ``--procs 2`` rows split the stream over two processes. ``--pacing S`` instead
runs one paced run of S seconds at ``--rate`` and reports the achieved rate per 60 s.

.venv/bin/python tests/benchmark/bench_producer.py [--posts N] [--rate R] [--json F]
.venv/bin/python tests/benchmark/bench_producer.py --pacing 180 --rate 1157
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from datamoat.broker import LocalCluster
from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values
from ingest.firehose.parallel import PaceSpec, ShardPlan, new_stop, pace_shards
from ingest.kafka.admin import ensure_topics
from ingest.kafka.producer import kafka_writer
from ingest.pacer import Pacer, PaceStats
from ingest.producer import partitions_of

START = 1_700_000_000_000
PARTITIONS = 6
VARIANTS: list[tuple[str, dict[str, Any], int]] = [
    ("default (linger 20 ms, batch 256 KiB, none)", {}, 1),
    ("linger 5 ms", {"linger_ms": 5}, 1),
    ("linger 100 ms", {"linger_ms": 100}, 1),
    ("batch 64 KiB", {"batch_size": 64 * 1024}, 1),
    ("batch 1 MiB", {"batch_size": 1024 * 1024}, 1),
    ("lz4", {"compression_type": "lz4"}, 1),
    ("zstd", {"compression_type": "zstd"}, 1),
    ("gzip", {"compression_type": "gzip"}, 1),
    ("send() per post (no bulk append)", {"bulk": False}, 1),
    ("--procs 2", {}, 2),
    ("--procs 2, lz4", {"compression_type": "lz4"}, 2),
]


@contextmanager
def broker() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="datamoat-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "kafka", port=0)
        status = cluster.start()
        try:
            assert status.bootstrap is not None
            yield status.bootstrap
        finally:
            cluster.stop()


def flat(rate: float) -> FirehoseConfig:
    return FirehoseConfig(rate=rate, diurnal_swing=1.0, random_bursts_per_day=0.0)


def one_process(bootstrap: str, topic: str, config: FirehoseConfig, posts: int, **kw: Any) -> float:
    writer = kafka_writer(bootstrap, topic, **kw)
    firehose = Firehose(config, 1, START)
    pacer = Pacer(
        firehose, writer, encode_values, encode_keys, START, PARTITIONS, config.rate, False
    )
    stats = pacer.run(posts=posts)
    writer.close()
    return stats.produced / stats.elapsed_s


def send_only(bootstrap: str, topic: str, config: FirehoseConfig, posts: int) -> float:
    frames = [Firehose(config, 1, START).take(posts)]
    encoded = [(partitions_of(f, PARTITIONS), encode_keys(f), encode_values(f)) for f in frames]
    writer = kafka_writer(bootstrap, topic)
    started = time.perf_counter()
    for parts, keys, values in encoded:
        writer.write(parts, keys, values)
    writer.flush()
    elapsed = time.perf_counter() - started
    writer.close()
    return posts / elapsed


def sharded(
    bootstrap: str, topic: str, config: FirehoseConfig, posts: int, procs: int, **kw: Any
) -> float:
    plan = ShardPlan(config, 1, START, procs, posts=posts)
    spec = PaceSpec(PARTITIONS, config.rate, realtime=False)
    result = pace_shards(plan, spec, partial(kafka_writer, bootstrap, topic, **kw), new_stop())
    return result["produced"] / result["elapsed_s"]


def ceiling(bootstrap: str, posts: int, rate: float) -> list[dict[str, Any]]:
    config = flat(rate)
    rows = []
    for k, (name, kw, procs) in enumerate(VARIANTS):
        topic = f"bench-{k}"
        ensure_topics(bootstrap, {topic: PARTITIONS})
        if procs == 1:
            per_s = one_process(bootstrap, topic, config, posts, **kw)
        else:
            per_s = sharded(bootstrap, topic, config, posts, procs, **kw)
        rows.append({"variant": name, "procs": procs, "posts_per_s": round(per_s)})
        print(f"| {name:<44} | {procs} | {per_s:>10,.0f} |", flush=True)
    ensure_topics(bootstrap, {"bench-send": PARTITIONS})
    per_s = send_only(bootstrap, "bench-send", config, posts)
    rows.append({"variant": "send only (pre-encoded)", "procs": 1, "posts_per_s": round(per_s)})
    print(f"| {'send only (pre-encoded, default settings)':<44} | 1 | {per_s:>10,.0f} |")
    return rows


def pacing(bootstrap: str, seconds: float, rate: float) -> dict[str, Any]:
    """A real paced run: posts sent per wall-clock 60 s (sliding by 10 s) against the rate."""
    ensure_topics(bootstrap, {"bench-paced": PARTITIONS})
    writer = kafka_writer(bootstrap, "bench-paced")
    samples: list[tuple[float, int]] = []
    pacer = Pacer(Firehose(flat(rate), 1, START), writer, encode_values, encode_keys, START,
                  PARTITIONS, rate)  # fmt: skip

    def on_chunk(stats: PaceStats, n: int) -> None:
        samples.append((time.monotonic(), stats.produced))

    stats = pacer.run(duration_s=seconds, on_chunk=on_chunk)
    writer.close()
    t0 = samples[0][0]
    windows = []
    for start in range(0, int(seconds) - 60 + 1, 10):
        inside = [n for t, n in samples if t0 + start <= t < t0 + start + 60]
        windows.append((inside[-1] - inside[0]) / 60.0 / rate if len(inside) > 1 else 0.0)
    # the stream's own event-time rate over the same windows (a Hawkes stream fluctuates)
    created = Firehose(flat(rate), 1, START).take_until(START + round(seconds * 1000))
    t = (created["created_at"].to_numpy() - START) / 1000.0
    stream = [
        ((t >= a) & (t < a + 60)).sum() / 60.0 / rate for a in range(0, len(windows) * 10, 10)
    ]
    return {
        "rate": rate,
        "seconds": seconds,
        "stream_60s_min": round(float(min(stream)), 4),
        "stream_60s_max": round(float(max(stream)), 4),
        "achieved_per_s": round(stats.rate, 1),
        "achieved_over_target": round(stats.rate / rate, 4),
        "window_60s_min": round(min(windows), 4),
        "window_60s_max": round(max(windows), 4),
        "max_behind_s": round(stats.max_behind_s, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--rate", type=float, default=50_000.0, help="event-time posts/s")
    parser.add_argument("--pacing", type=float, default=None, metavar="SECONDS")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with broker() as bootstrap:
        if args.pacing:
            result: Any = pacing(bootstrap, args.pacing, args.rate)
        else:
            print(f"{args.posts:,} posts per row, event rate {args.rate:,.0f}/s\n")
            print(f"| {'variant':<44} | procs | posts/s |\n|---|---|---|")
            result = ceiling(bootstrap, args.posts, args.rate)
    print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
