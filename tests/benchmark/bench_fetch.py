"""Kafka input decoding: ``ingest.kafka.private.fetch_raw`` (bulk) against ``consumer.poll()``
(one ConsumerRecord per post) on the same pre-filled topic, interleaved rounds, same run.

Also the physical limit of this path: the same fetches with decoding skipped (record batch
bytes only, counted through kafka-python's batch headers), i.e. what the network, the
broker and kafka-python's fetch protocol cost alone.

    .venv/bin/python tests/benchmark/bench_fetch.py [--posts 300000] [--rounds 3]
    KAFKA_BOOTSTRAP=127.0.0.1:9092 ... (an existing broker; else one is started on free ports)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from datamoat.broker import LocalCluster
from ingest.kafka.private import fetch_raw, fetch_undecoded, poll_records
from ingest.kafka.testing import KafkaConsumer, TopicPartition

PARTITIONS = 6


@contextmanager
def broker() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="datamoat-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "kafka", port=0)
        status = cluster.start()
        try:
            assert status.bootstrap is not None
            yield status.bootstrap
        finally:
            cluster.stop()


def fill(bootstrap: str, topic: str, posts: int, seed: int) -> None:
    """``datamoat produce --unpaced``: the same seeded posts the worker benchmarks read."""
    env = {**os.environ, "DATAMOAT_KAFKA_POSTS_TOPIC": topic}
    subprocess.run([sys.executable, "-m", "datamoat.cli", "produce", "--unpaced", "--quiet",
                    "--bootstrap", bootstrap, "--posts", str(posts), "--seed", str(seed),
                    "--start", "2026-01-01T00:00:00Z"],
                   check=True, env=env, stdout=subprocess.DEVNULL)  # fmt: skip


def consumer(bootstrap: str, topic: str) -> KafkaConsumer:
    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=20_000,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        group_id=None,
    )
    c.assign([TopicPartition(topic, p) for p in range(PARTITIONS)])
    return c


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def drain(bootstrap: str, topic: str, posts: int, read: Callable[[Any], int]) -> dict[str, float]:
    c = consumer(bootstrap, topic)
    try:
        got, deadline = 0, time.monotonic() + 300
        t0, c0 = time.perf_counter(), cpu()
        while got < posts and time.monotonic() < deadline:
            got += read(c)
        wall, used = time.perf_counter() - t0, cpu() - c0
    finally:
        c.close()
    assert got == posts, f"read {got} of {posts}"
    return {"wall_s": wall, "cpu_s": used, "records_per_s": posts / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=300_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    ways: dict[str, Callable[[Any], int]] = {
        "poll": lambda c: len(poll_records(c, 20_000, 500)),
        "bulk": lambda c: len(fetch_raw(c, 20_000, 500)),
        "raw_fetch": fetch_undecoded,
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in ways}
    with broker() as bootstrap:
        topic = f"bench-fetch-{uuid.uuid4().hex[:8]}"
        fill(bootstrap, topic, args.posts, args.seed)
        for _ in range(args.rounds):
            for name, way in ways.items():
                results[name].append(drain(bootstrap, topic, args.posts, way))
    med = {k: statistics.median(r["records_per_s"] for r in v) for k, v in results.items()}
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "posts": args.posts,
        "rounds": {k: [round(r["records_per_s"]) for r in v] for k, v in results.items()},
        "cpu_s": {k: [round(r["cpu_s"], 2) for r in v] for k, v in results.items()},
        "median_records_per_s": {k: round(v) for k, v in med.items()},
        "bulk_over_poll": round(med["bulk"] / med["poll"], 2),
        "bulk_over_raw_fetch": round(med["bulk"] / med["raw_fetch"], 2),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
