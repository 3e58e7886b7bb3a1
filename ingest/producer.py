"""Writers of encoded posts: the Kafka ``posts`` topic, the in-memory topic, an NDJSON file.

The partition of a post is ``author_id % partitions``, computed for the whole batch at once
(one author's posts stay ordered in one partition, as the record contract asks, without a
per-record partitioner call).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import polars as pl
from kafka import KafkaProducer

__all__ = ["FileWriter", "KafkaPostWriter", "PostWriter", "partitions_of", "post_producer"]


class PostWriter(Protocol):
    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None: ...

    def flush(self) -> None: ...


def partitions_of(posts: pl.DataFrame, partitions: int) -> list[int]:
    return (posts["author_id"] % partitions).cast(pl.Int32).to_list()


def post_producer(bootstrap: str, **overrides: Any) -> KafkaProducer:
    """A producer tuned for throughput: idempotent, batched, acks from all replicas."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": "datamoat-firehose",
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 20,
        "batch_size": 256 * 1024,
        "max_request_size": 4 * 1024 * 1024,
        "allow_auto_create_topics": False,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class KafkaPostWriter:
    def __init__(self, producer: KafkaProducer, topic: str, flush_timeout_s: float = 60.0):
        self.producer = producer
        self.topic = topic
        self.flush_timeout_s = flush_timeout_s

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        send, topic = self.producer.send, self.topic
        for p, k, v in zip(partitions, keys, values, strict=True):
            send(topic, value=v, key=k, partition=p)

    def flush(self) -> None:
        self.producer.flush(timeout=self.flush_timeout_s)

    def close(self) -> None:
        self.producer.close(timeout=self.flush_timeout_s)


class FileWriter:
    """NDJSON, one post per line (the format ``datamoat process --input`` replays)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        if values:
            self._fh.write(b"\n".join(values))
            self._fh.write(b"\n")

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
