"""Signals as Parquet: one file per closed window under ``<dir>/signals/``.

Each window is written to a temporary file, fsynced and renamed over its final name, so a
reader sees a whole window or none, and writing a window again replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from ingest.errors import SinkError
from sinks.registry import SinkContext, sink

__all__ = ["ParquetSink", "parquet_sink"]


class ParquetSink:
    def __init__(self, output_dir: Path, suffix: str = "") -> None:
        self.root = Path(output_dir) / "signals"
        self.root.mkdir(parents=True, exist_ok=True)
        self.suffix = suffix

    def path_for(self, window_start: int) -> Path:
        tag = f"-{self.suffix}" if self.suffix else ""
        return self.root / f"{window_start}{tag}.parquet"

    def write(self, signals: pl.DataFrame) -> None:
        try:
            self._write(signals)
        except OSError as exc:  # disk full, directory gone, permissions: retryable
            raise SinkError(f"could not write signals under {self.root} ({exc})") from exc

    def _write(self, signals: pl.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        for (start,), window in signals.group_by(["window_start"], maintain_order=True):
            assert isinstance(start, int)
            final = self.path_for(start)
            tmp = final.with_name(f".{final.name}.tmp")
            window.write_parquet(tmp, statistics=False)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        if not signals.is_empty():
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def close(self) -> None:
        return None


@sink("parquet")
def parquet_sink(context: SinkContext) -> ParquetSink:
    """``[output] sinks = ["parquet"]``: one file per window under ``<output dir>/signals/``."""
    return ParquetSink(context.output_dir)
