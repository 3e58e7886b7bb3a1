"""Dead letters to a file (for runs without Kafka): one JSON object per rejected record.

The original bytes are kept exactly, base64-encoded in ``value_b64`` (JSON can't carry
arbitrary bytes), beside ``reason``, ``partition`` and ``offset``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import IO

import orjson

from ingest.errors import SinkError
from sinks.base import DeadLetters

__all__ = ["FileDeadLetterSink"]


class FileDeadLetterSink:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, letters: DeadLetters) -> None:
        lines = [
            orjson.dumps(
                {
                    "reason": reason,
                    "partition": partition,
                    "offset": offset,
                    "value_b64": base64.b64encode(value).decode(),
                }
            )
            for value, reason, partition, offset in zip(
                letters.values, letters.reasons, letters.partitions, letters.offsets, strict=True
            )
        ]
        if lines:
            try:
                self._fh.write(b"\n".join(lines) + b"\n")
                self._fh.flush()
            except OSError as exc:
                raise SinkError(f"could not write dead letters to {self.path} ({exc})") from exc

    def close(self) -> None:
        self._fh.close()
