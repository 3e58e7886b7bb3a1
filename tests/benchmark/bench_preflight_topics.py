"""The preflight's topic check on a cluster with many topics: the topics a command needs
described alone (``ingest.kafka.admin.missing_topics``) against the cluster's whole topic
list (what it asked before), interleaved rounds, same run, on a broker started here.

    .venv/bin/python tests/benchmark/bench_preflight_topics.py [--topics 1000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from datamoat.broker import LocalCluster
from ingest.kafka.admin import TopicSpec, ensure_topics, missing_topics
from ingest.kafka.testing import KafkaAdminClient

NEEDED = ["posts", "posts.dlq", "datamoat.partials", "datamoat.early"]


def _listed(bootstrap: str) -> list[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
    try:
        names = set(admin.list_topics())
    finally:
        admin.close()
    return [name for name in NEEDED if name not in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=1000, help="other topics on the cluster")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp) / "kafka", port=0, heap="512m")
        bootstrap = cluster.start().bootstrap
        assert bootstrap is not None
        try:
            names = NEEDED + [f"other-{i}" for i in range(args.topics)]
            for start in range(0, len(names), 200):  # in slices: one request each
                chunk = names[start : start + 200]
                ensure_topics(bootstrap, dict.fromkeys(chunk, TopicSpec(args.partitions)))
            ways: dict[str, Callable[[str], list[str]]] = {
                "whole list": _listed,
                "needed topics described": lambda b: missing_topics(b, NEEDED),
            }
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.rounds):
                for name, way in ways.items():
                    began = time.perf_counter()
                    assert way(bootstrap) == []
                    times[name].append(time.perf_counter() - began)
        finally:
            cluster.stop()
    print(f"{args.topics + len(NEEDED)} topics of {args.partitions} partitions, one broker, "
          f"{args.rounds} interleaved rounds (a new admin client each):")  # fmt: skip
    for name, taken in times.items():
        print(f"  {name}: median {statistics.median(taken):.3f} s, min {min(taken):.3f} s")


if __name__ == "__main__":
    main()
