"""Writers of encoded posts: the :class:`PostWriter` protocol, and an NDJSON file.

The partition of a post is ``author_id % partitions``, computed for the whole batch at once
(one author's posts stay ordered in one partition, as the record contract asks, without a
per-record partitioner call). The Kafka writer is
:class:`ingest.kafka.producer.KafkaPostWriter`; the in-memory topic
(:class:`ingest.memory.MemoryTopic`) is one too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

import polars as pl

__all__ = ["FileWriter", "PostWriter", "partitions_of"]


class PostWriter(Protocol):
    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None: ...

    def flush(self) -> None: ...


def partitions_of(posts: pl.DataFrame, partitions: int) -> list[int]:
    return (posts["author_id"] % partitions).cast(pl.Int32).to_list()


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
