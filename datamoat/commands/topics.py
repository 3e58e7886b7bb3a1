"""``datamoat topics``: create the pipeline's topics (idempotent)."""

from __future__ import annotations

import argparse

from datamoat.broker import ensure_topics
from datamoat.config import Config
from datamoat.options import add_common, config_from
from datamoat.preflight import wait_for_broker

__all__ = ["create_topics", "register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("topics", help="create the posts, dead-letter and signals topics")
    add_common(p)
    p.set_defaults(func=run_topics)


def create_topics(config: Config) -> dict[str, int]:
    k = config.kafka
    topics = {
        k.posts_topic: k.partitions,
        k.dlq_topic: k.partitions,
        k.signals_topic: k.partitions,
        k.partials_topic: 1,
    }
    ensure_topics(k.bootstrap, topics, replication_factor=k.replication_factor)
    return topics


def run_topics(args: argparse.Namespace) -> int:
    config = config_from(args)
    wait_for_broker(config.kafka.bootstrap, args.wait_for_broker)
    topics = create_topics(config)
    for name, partitions in topics.items():
        print(f"topic {name}: {partitions} partitions on {config.kafka.bootstrap}")
    return 0
