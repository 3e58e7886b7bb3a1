"""Firehose throughput: posts/s for generation and for generation + serialisation.

.venv/bin/python tests/benchmark/bench_firehose.py [--posts N] [--batch B] [--cold]

The first posts of a warm-started stream (the default) cost more than its average: the
cascades of the pre-start past are drawn as they show up. ``--cold`` starts empty instead.
"""

from __future__ import annotations

import argparse
import json
import time

from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values

START = 1_700_000_000_000


def run(posts: int, batch: int, encode: bool, config: FirehoseConfig) -> float:
    fh = Firehose(config, 1, START)
    t0 = time.perf_counter()
    done = 0
    while done < posts:
        df = fh.take(min(batch, posts - done))
        if encode:
            encode_values(df)
            encode_keys(df)
        done += df.height
    return posts / (time.perf_counter() - t0)


def run_encode(posts: int, batch: int, config: FirehoseConfig) -> float:
    frames = []
    fh = Firehose(config, 1, START)
    for _ in range(0, posts, batch):
        frames.append(fh.take(batch))
    t0 = time.perf_counter()
    for df in frames:
        encode_values(df)
        encode_keys(df)
    return sum(f.height for f in frames) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--cold", action="store_true", help="no warm start")
    args = parser.parse_args()
    config = FirehoseConfig(warm_start=not args.cold)
    result = {
        "posts": args.posts,
        "batch": args.batch,
        "warm_start": config.warm_start,
        "generate_posts_per_s": round(run(args.posts, args.batch, False, config)),
        "generate_encode_posts_per_s": round(run(args.posts, args.batch, True, config)),
        "encode_posts_per_s": round(run_encode(args.posts, args.batch, config)),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
