"""Kafka probes run inside the compose network (``python - <command>`` in the app image).

Prints one JSON object:

``lag GROUP TOPIC``   end offsets and the group's committed offsets, summed over partitions;
``signals TOPIC``     a ``read_committed`` read of TOPIC from the start to its end offsets:
                      the record count and how many (window_start, key) pairs occur twice.

With ``$KAFKA_CLIENT_CONFIG`` set (docker-compose.secured.yml), through that client.properties.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

import orjson

from ingest.kafka.client_config import secured
from ingest.kafka.testing import KafkaConsumer, TopicPartition

BOOTSTRAP = "broker:19092"


def lag(group: str, topic: str) -> dict[str, int]:
    consumer = KafkaConsumer(
        **secured({"bootstrap_servers": BOOTSTRAP, "group_id": group, "enable_auto_commit": False})
    )
    try:  # committed() reads the group's offsets without joining the group
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        ends = consumer.end_offsets(parts)
        done = {tp: consumer.committed(tp) or 0 for tp in parts}
        return {
            "end": sum(ends.values()),
            "committed": sum(done.values()),
            "lag": sum(ends[tp] - done[tp] for tp in parts),
        }
    finally:
        consumer.close()


def signals(topic: str) -> dict[str, object]:
    consumer = KafkaConsumer(
        **secured(
            {
                "bootstrap_servers": BOOTSTRAP,
                "isolation_level": "read_committed",
                "enable_auto_commit": False,
                "auto_offset_reset": "earliest",
            }
        )
    )
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        seen: Counter[tuple[object, object]] = Counter()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if all(consumer.position(tp) >= ends[tp] for tp in parts):
                break
            for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
                for r in records:
                    row = orjson.loads(r.value)
                    seen[(row["window_start"], row["key"])] += 1
        else:
            raise SystemExit(f"read of {topic} did not reach its end offsets in 120 s")
        return {
            "records": sum(seen.values()),
            "pairs": len(seen),
            "duplicated": sorted(str(k) for k, n in seen.items() if n > 1)[:20],
        }
    finally:
        consumer.close()


def main(argv: list[str]) -> None:
    command, *args = argv
    result = lag(*args) if command == "lag" else signals(*args)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
