"""The merger alone: how fast stage two turns a drain's partials into final signals, against
stage one's own cost for the same posts (issue 23: "the merger is not the wall").

The seeded firehose's first ``--posts`` posts (1,157 posts/s of event time, 6 partitions)
go through stage one as a draining worker takes them: batches of ``--batch`` records (the
worker's ``max_records``), each folded into its partitions' open windows and handed on as
one delta, encoded as the partials record the worker commits (Arrow IPC, lz4), and the
input's end closes every window. Then, timed apart, a fresh
:class:`process.stage_two.merger.Merger` decodes each record and applies it, closing the
windows its marks allow, as the merge loop does between its commits. No Kafka and no
sinks: this is the merger's own work per post, which the 1M drain's merger CPU is compared
with (the rest of the merger process's CPU is fetching, writing signals and committing).

Sentiment: a deterministic stand-in score instead of VADER (stage two only sums the scores;
stage one's figure here is its folding alone, without decode or VADER).

.venv/bin/python tests/benchmark/bench_merger.py [--posts 1000000] [--batch 20000]
    [--rounds 3] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from datamoat.config import Config
from ingest.firehose import Firehose, FirehoseConfig
from process.aggregate import STREAM_KEY
from process.delta import Origin, decode_delta, encode_delta
from process.stage_one.partitions import PartitionStage
from process.stage_two.merger import Merger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.support, run as a script
from tests.support.common import stage_one_input

RATE = 1157.0
PARTITIONS = 6
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def posts_of(n: int, seed: int) -> pl.DataFrame:
    """The firehose's first ``n`` posts."""
    firehose = Firehose(FirehoseConfig(rate=RATE), seed, START_MS)
    parts, have, until = [], 0, START_MS
    while have < n:
        until += 60_000
        part = firehose.take_until(until)
        parts.append(part)
        have += part.height
    return pl.concat(parts).head(n)


def stage_one(posts: pl.DataFrame, batch: int, config: Config) -> tuple[list[bytes], float]:
    """The partials records of ``posts`` in batches of ``batch``; stage one's CPU seconds."""
    stage = PartitionStage(config.window.spec())
    origin = Origin("bench", "posts")
    records = []
    cpu = 0.0
    for at in range(0, posts.height, batch):
        chunk = stage_one_input(posts.slice(at, batch), PARTITIONS, at)
        now: int = chunk.select(pl.col("created_at").max()).item()
        t0 = time.process_time()
        stage.add(chunk, now_ms=now)
        delta = stage.advance(now_ms=now)
        cpu += time.process_time() - t0
        records.append(encode_delta(delta, origin))
    end = stage.end(now_ms=now + 3_600_000)
    records.append(encode_delta(end, origin))
    return records, cpu


def merge_all(records: list[bytes], config: Config) -> tuple[float, float, int, int]:
    """A fresh merger over ``records``: wall s, CPU s, signal rows, posts it counted."""
    merger = Merger(config.window.spec(), config.trends.engine(), config.cascades.engine(),
                    partitions=set(range(PARTITIONS)))  # fmt: skip
    out = []
    w0, c0 = time.perf_counter(), time.process_time()
    for value in records:
        merger.apply(decode_delta(value))
        merger.take_late()
        out.append(merger.close())
    out.append(merger.flush())
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    signals = pl.concat(out)
    counted = signals.filter(pl.col("key") == STREAM_KEY)["posts"].sum()
    return wall, cpu, signals.height, int(counted)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000, help="records per worker batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = Config()
    t0 = time.perf_counter()
    posts = posts_of(args.posts, args.seed)
    made_s = time.perf_counter() - t0
    rounds: list[dict[str, Any]] = []
    for r in range(args.rounds):
        records, one_cpu = stage_one(posts, args.batch, config)
        wall, cpu, rows, counted = merge_all(records, config)
        if counted != args.posts:
            sys.exit(f"the merger counted {counted:,} posts of {args.posts:,}")
        size = sum(len(v) for v in records)
        rounds.append({"round": r + 1, "records": len(records), "bytes": size,
                       "stage_one_cpu_s": one_cpu, "merger_wall_s": wall, "merger_cpu_s": cpu,
                       "signal_rows": rows})  # fmt: skip
        print(
            f"round {r + 1}: {len(records)} partials records "
            f"({size / 2**20:.1f} MiB); stage one (folding) {one_cpu:.2f} CPU s; "
            f"merger {wall:.2f} s wall, {cpu:.2f} CPU s, {rows:,} signal rows",
            file=sys.stderr,
        )
    merger_cpu = sorted(x["merger_cpu_s"] for x in rounds)[len(rounds) // 2]
    merger_wall = sorted(x["merger_wall_s"] for x in rounds)[len(rounds) // 2]
    folding = sorted(x["stage_one_cpu_s"] for x in rounds)[len(rounds) // 2]
    per_m = 1e6 / args.posts
    print(
        json.dumps(
            {
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()} {os.cpu_count()} cores",
                "command": " ".join(["tests/benchmark/bench_merger.py", *sys.argv[1:]]),
                "posts": args.posts,
                "batch": args.batch,
                "generate_s": round(made_s, 2),
                "rounds": rounds,
                "median": {
                    "merger_wall_s": round(merger_wall, 3),
                    "merger_cpu_s_per_million": round(merger_cpu * per_m, 3),
                    "merger_posts_per_s": round(args.posts / merger_wall),
                    "stage_one_folding_cpu_s_per_million": round(folding * per_m, 3),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
