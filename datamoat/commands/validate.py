"""``datamoat validate``: what the pipeline's decoder makes of an NDJSON file of posts.

The file is read as ``datamoat process --input`` reads it (:class:`ingest.file_source.FileSource`:
one record per line, blank lines included) and decoded in batches by the worker's decoder,
:func:`process.decode.decode`, with the worker's settings from the config (``[batch]``
``max_records``, ``max_record_bytes`` and ``max_future_s``, against this machine's clock).
Nothing else runs: no windows (so no ``late``), no Kafka. Per dead-letter reason it prints
the count and the first example; exit status 0 when every record is valid, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from datamoat.config import BatchConfig
from datamoat.errors import ConfigError
from datamoat.options import add_config, config_from, now_ms
from ingest.file_source import FileSource
from process.decode import INDEX, decode

__all__ = [
    "EXAMPLE_BYTES",
    "Example",
    "Verdict",
    "as_json",
    "check",
    "register",
    "report",
    "run_validate",
]

#: How much of a rejected record is shown.
EXAMPLE_BYTES = 200
#: Control characters, shown escaped so that an example stays on one line.
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "validate",
        help="decode an NDJSON file of posts: what would be dead-lettered, and why",
        description=(
            "Decode FILE (one post per line, as 'datamoat process --input' reads it; - = "
            "standard input) with the pipeline's decoder and its [batch] settings, and print "
            "the number of valid records and, per dead-letter reason, the count and the first "
            f"example (line number and first {EXAMPLE_BYTES} bytes). Exit status 0 when "
            "nothing was rejected, 1 when anything was. The record contract: 'datamoat "
            "schema post'."
        ),
    )
    p.add_argument("file", metavar="FILE", help="NDJSON file of posts; - = stdin")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_config(p)
    p.set_defaults(func=run_validate)


@dataclass(slots=True)
class Example:
    """One dead-letter reason: how many records, and the first of them."""

    count: int
    line: int  #: 1-based line number of the first record
    size: int  #: its length in bytes
    head: bytes  #: its first EXAMPLE_BYTES bytes

    def text(self) -> str:
        """The head as text: invalid UTF-8 as ``\\xNN`` escapes, control characters too."""
        return self.head.decode("utf-8", errors="backslashreplace").translate(_CONTROLS)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "line": self.line, "bytes": self.size, "example": self.text()}


@dataclass(slots=True)
class Verdict:
    records: int = 0
    valid: int = 0
    #: Per reason, in the order first seen.
    reasons: dict[str, Example] = field(default_factory=dict)

    @property
    def rejected(self) -> int:
        return self.records - self.valid

    def ranked(self) -> list[tuple[str, Example]]:
        """The reasons, most frequent first (ties: first seen first)."""
        return sorted(self.reasons.items(), key=lambda item: (-item[1].count, item[1].line))


def check(source: FileSource, batch: BatchConfig, clock: Callable[[], int] = now_ms) -> Verdict:
    """Decode every record of ``source`` as the worker would with ``batch``'s settings
    (``clock``: epoch ms, for ``future:created_at``)."""
    verdict = Verdict()
    max_future_ms = round(batch.max_future_s * 1000)
    while True:
        raw = source.read(batch.max_records, 0)
        if not len(raw):
            if source.exhausted():
                return verdict
            continue
        decoded = decode(
            raw.values,
            batch.max_record_bytes,
            now_ms=clock() if max_future_ms else None,
            max_future_ms=max_future_ms,
        )
        verdict.records += len(raw)
        verdict.valid += decoded.posts.height
        per_reason = decoded.rejects.group_by("reason", maintain_order=True).agg(
            pl.len(), pl.col(INDEX).first()
        )
        for reason, count, i in per_reason.iter_rows():
            seen = verdict.reasons.get(reason)
            if seen is not None:
                seen.count += count
                continue
            value = raw.values[i]
            line = raw.offsets[i] + 1
            verdict.reasons[reason] = Example(count, line, len(value), value[:EXAMPLE_BYTES])


def _open(name: str) -> FileSource:
    path = Path(name)
    if name != "-" and not (path.is_file() or path.is_fifo()):
        raise ConfigError(
            f"{name}: no such file or named pipe (give an NDJSON file of posts, or - for "
            "standard input)"
        )
    try:
        return FileSource(path)
    except OSError as exc:
        raise ConfigError(f"can't read {name}: {exc.strerror}") from exc


def report(verdict: Verdict, name: str) -> str:
    """The text report: a summary line, then one line per reason."""
    where = "standard input" if name == "-" else name
    lines = [
        f"{where}: {verdict.records:,} records, {verdict.valid:,} valid, "
        f"{verdict.rejected:,} rejected"
    ]
    ranked = verdict.ranked()
    width = max((len(reason) for reason, _ in ranked), default=0)
    digits = max((len(f"{e.count:,}") for _, e in ranked), default=0)
    for reason, example in ranked:
        cut = f" ... ({example.size:,} bytes)" if example.size > len(example.head) else ""
        lines.append(
            f"  {reason:<{width}}  {example.count:>{digits},}  "
            f"line {example.line}: {example.text()}{cut}"
        )
    return "\n".join(lines) + "\n"


def as_json(verdict: Verdict, name: str) -> dict[str, Any]:
    return {
        "file": name,
        "records": verdict.records,
        "valid": verdict.valid,
        "rejected": verdict.rejected,
        "reasons": {reason: example.as_json() for reason, example in verdict.ranked()},
    }


def run_validate(args: argparse.Namespace) -> int:
    config = config_from(args)
    source = _open(args.file)
    try:
        verdict = check(source, config.batch)
    finally:
        source.close()
    if args.json:
        out = orjson.dumps(as_json(verdict, args.file)) + b"\n"
    else:
        out = report(verdict, args.file).encode()
    sys.stdout.flush()
    sys.stdout.buffer.write(out)
    sys.stdout.flush()
    return 1 if verdict.rejected else 0
