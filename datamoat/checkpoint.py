"""Checkpoints: the worker's open-window state together with the input offsets it covers.

A checkpoint is one file, replaced atomically (write a temporary file, fsync, rename, fsync
the directory), so a crash at any moment leaves either the old checkpoint or the new one:

    b"DMCK2\\n" | Arrow IPC blobs | JSON header | header length (8 bytes, big-endian)

The header holds the offsets (``{partition: next offset}``), scalar state and, per frame,
its name and byte length. It comes last so that each frame is streamed straight into the
file as it is encoded: a checkpoint of a few hundred MB of state costs no copy of it in
memory. (Files of the first layout, ``DMCK1``, header first, are still read.)

The worker writes a checkpoint after the sinks have durably written every window the
covered records closed, and only then commits the offsets to Kafka; on start it restores
the checkpoint and resumes from its offsets.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from datamoat.errors import CheckpointError

__all__ = ["Checkpoint", "CheckpointError", "CheckpointStore"]

MAGIC = b"DMCK2\n"
_MAGIC_V1 = b"DMCK1\n"


@dataclass(frozen=True)
class Checkpoint:
    offsets: dict[int, int]
    scalars: dict[str, Any] = field(default_factory=dict)
    frames: dict[str, pl.DataFrame] = field(default_factory=dict)


class CheckpointStore:
    """Keeps the latest checkpoint of one worker at ``<directory>/<name>.ckpt``."""

    def __init__(self, directory: Path, name: str = "worker") -> None:
        self.directory = Path(directory)
        self.path = self.directory / f"{name}.ckpt"
        self.writes = 0

    def save(self, checkpoint: Checkpoint) -> int:
        """Write atomically; returns the bytes written."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        frames_meta = []
        with open(tmp, "wb") as fh:
            fh.write(MAGIC)
            for name, frame in checkpoint.frames.items():
                at = fh.tell()
                frame.write_ipc(fh, compression="lz4")
                frames_meta.append({"name": name, "bytes": fh.tell() - at})
            header = orjson.dumps(
                {
                    "offsets": {str(p): o for p, o in checkpoint.offsets.items()},
                    "scalars": checkpoint.scalars,
                    "frames": frames_meta,
                }
            )
            fh.write(header)
            fh.write(len(header).to_bytes(8, "big"))
            fh.flush()
            os.fsync(fh.fileno())
            written = fh.tell()
        os.replace(tmp, self.path)
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.writes += 1
        return written

    def load(self) -> Checkpoint | None:
        """The latest checkpoint, or None when there is none yet."""
        try:
            data = memoryview(self.path.read_bytes())
        except FileNotFoundError:
            return None
        try:
            if data[: len(MAGIC)] == MAGIC:  # blobs, header, its length
                size = int.from_bytes(data[-8:], "big")
                if not 0 < size <= len(data) - len(MAGIC) - 8:
                    raise ValueError("truncated")
                header = orjson.loads(data[-8 - size : -8])
                at = len(MAGIC)
            elif data[: len(_MAGIC_V1)] == _MAGIC_V1:  # header length, header, blobs
                size = int.from_bytes(data[len(_MAGIC_V1) : len(_MAGIC_V1) + 8], "big")
                at = len(_MAGIC_V1) + 8 + size
                header = orjson.loads(data[at - size : at])
            else:
                raise ValueError("not a datamoat checkpoint")
            frames: dict[str, pl.DataFrame] = {}
            for meta in header["frames"]:
                frames[meta["name"]] = pl.read_ipc(io.BytesIO(data[at : at + meta["bytes"]]))
                at += meta["bytes"]
            offsets = {int(p): int(o) for p, o in header["offsets"].items()}
        except (
            ValueError,
            KeyError,
            TypeError,
            orjson.JSONDecodeError,
            pl.exceptions.PolarsError,
        ) as exc:
            raise CheckpointError(
                f"checkpoint {self.path} is unreadable ({exc}): delete it to start over "
                "from the committed offsets"
            ) from None
        return Checkpoint(offsets=offsets, scalars=header["scalars"], frames=frames)

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
