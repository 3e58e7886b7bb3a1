"""``datamoat topics``: create the pipeline's topics (idempotent; see datamoat.topics)."""

from __future__ import annotations

import argparse

from datamoat.options import add_common, config_from
from datamoat.preflight import start_with_broker
from datamoat.topics import create_topics, topic_names

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "topics",
        help="create the posts, dead-letter, signals and a group's partials topics",
        description="Create the pipeline's missing topics. Replication factor 3 and "
        "min.insync.replicas=2 on a cluster of 3+ brokers, 1 on a single broker "
        "(kafka.replication_factor is the floor). Existing topics are left as they are.",
    )
    add_common(p)
    p.add_argument(
        "--group",
        default=None,
        help="the worker group whose internal topics (<group>.partials, "
        "<group>.merger-snapshots, <group>.early) to create "
        "(default: config kafka.group)",
    )
    p.set_defaults(func=run_topics)


def run_topics(args: argparse.Namespace) -> int:
    config = config_from(args)
    group = args.group or config.kafka.group
    made = start_with_broker(
        config.kafka.bootstrap, args.wait_for_broker, lambda: create_topics(config, group)
    )
    for name in topic_names(config, group):
        spec = made.get(name)
        if spec is None:
            print(f"topic {name}: exists on {config.kafka.bootstrap}")
        else:
            isr = spec.configs.get("min.insync.replicas", "1")
            print(f"topic {name}: created with {spec.partitions} partitions, replication factor "
                  f"{spec.replication_factor}, min.insync.replicas {isr} "
                  f"on {config.kafka.bootstrap}")  # fmt: skip
    return 0
