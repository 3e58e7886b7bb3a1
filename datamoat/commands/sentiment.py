"""``datamoat sentiment``: VADER scores for lines of text, one JSON object per line out."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from typing import BinaryIO

import orjson
import polars as pl

from datamoat.errors import ConfigError
from process.sentiment import SCORES, score_texts

__all__ = ["register", "run_sentiment"]

log = logging.getLogger(__name__)

#: Lines scored per batch: big enough for the vectorised scorer, small enough to stream.
BATCH_LINES = 50_000


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sentiment",
        help="VADER sentiment of text lines, as JSON lines",
        description=(
            "Score each line of FILE (or standard input) with the vectorised VADER 3.3.2 port "
            "and write one JSON object per line: text, compound, pos, neu, neg. Every line "
            "is scored as English."
        ),
    )
    p.add_argument("file", nargs="?", default="-", metavar="FILE", help="text file; - = stdin")
    p.add_argument(
        "--batch-lines",
        type=int,
        default=BATCH_LINES,
        help=f"lines scored at a time (default {BATCH_LINES:,})",
    )
    p.set_defaults(func=run_sentiment)


def _batches(stream: BinaryIO, size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for raw in stream:
        line = raw[:-1] if raw.endswith(b"\n") else raw
        if line.endswith(b"\r"):
            line = line[:-1]
        batch.append(line.decode("utf-8", errors="replace"))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(out: BinaryIO, texts: list[str]) -> None:
    scores = score_texts(pl.Series("text", texts, dtype=pl.String))
    columns = [scores.get_column(name).to_list() for name in SCORES]
    lines = [
        orjson.dumps({"text": text, **dict(zip(SCORES, values, strict=True))})
        for text, *values in zip(texts, *columns, strict=True)
    ]
    out.write(b"\n".join(lines) + b"\n")


def run_sentiment(args: argparse.Namespace) -> int:
    if args.batch_lines < 1:
        raise ConfigError(f"--batch-lines must be at least 1, got {args.batch_lines}")
    started, lines = time.monotonic(), 0
    out = sys.stdout.buffer
    try:
        stream: BinaryIO = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
    except OSError as exc:
        raise ConfigError(f"can't read {args.file}: {exc.strerror}") from exc
    with stream:
        for batch in _batches(stream, args.batch_lines):
            _write(out, batch)
            out.flush()
            lines += len(batch)
    if sys.stderr.isatty():
        elapsed = time.monotonic() - started
        log.info("sentiment: %s lines scored in %.2f s", f"{lines:,}", elapsed)
    return 0
