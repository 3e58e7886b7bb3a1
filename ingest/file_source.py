"""Replay an NDJSON file of posts as a source (``datamoat process --input``).

The file is read in large blocks and split into lines at C speed; each line is one record
of partition 0 whose offset is its line number. Blank lines are records too (they are bad
records, and go to the dead letters like any other). A named pipe, or ``-`` for standard
input, streams the same way: ``datamoat produce --output FIFO`` feeding ``datamoat process
--input FIFO`` runs the firehose and the worker as two processes without a broker.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from ingest.batch import RawBatch
from ingest.source import SoloSource

__all__ = ["FileSource"]

BLOCK_BYTES = 8 * 1024 * 1024


class FileSource(SoloSource):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        stdin = str(path) == "-"
        self._fh: IO[bytes] = sys.stdin.buffer if stdin else open(path, "rb")  # noqa: SIM115
        self._pending: list[bytes] = []
        self._tail = b""
        self._eof = False
        self._offset = 0

    def _fill(self, want: int) -> None:
        while len(self._pending) < want and not self._eof:
            block = self._fh.read(BLOCK_BYTES)
            if not block:
                self._eof = True
                if self._tail:
                    self._pending.append(self._tail)
                    self._tail = b""
                break
            lines = (self._tail + block).split(b"\n")
            self._tail = lines.pop()
            self._pending.extend(lines)

    def read(self, max_records: int, timeout_ms: int) -> RawBatch:
        self._fill(max_records)
        if len(self._pending) <= max_records:
            take, self._pending = self._pending, []
        else:
            take = self._pending[:max_records]
            del self._pending[:max_records]
        n = len(take)
        batch = RawBatch(
            values=take,
            keys=[None] * n,
            partitions=[0] * n,
            offsets=list(range(self._offset, self._offset + n)),
        )
        self._offset += n
        return batch

    def partitions(self) -> set[int]:
        return {0}

    def position(self, partition: int) -> int:
        return self._offset

    def backlog(self) -> dict[int, int]:
        return {0: len(self._pending)}

    def lag(self) -> dict[int, int]:
        return {0: self._offset + len(self._pending) - self.committed_offset(0)}

    def exhausted(self) -> bool:
        return self._eof and not self._pending

    def close(self) -> None:
        self._fh.close()
