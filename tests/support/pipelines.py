"""Helpers the pipeline tests share: running commands, reading outputs, comparing to truth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from ingest.kafka.testing import KafkaConsumer
from process.signals import SIGNAL_SCHEMA

__all__ = [
    "DATAMOAT",
    "START",
    "assert_same_signals",
    "cli",
    "dead_letter_reasons",
    "dead_letters",
    "parquet_signals",
    "topic_signals",
    "truth",
]

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]
ORDER = ["window_start", "key"]


def cli(args: list[str], env: dict[str, str], timeout: float = 240) -> dict[str, object]:
    """Run a datamoat command (it must exit 0); its --summary-json when it wrote one."""
    done = subprocess.run(
        [*DATAMOAT, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args[0]} failed:\n{done.stderr[-3000:]}"
    if "--summary-json" in args:
        path = Path(args[args.index("--summary-json") + 1])
        result: dict[str, object] = orjson.loads(path.read_bytes())
        return result
    return {}


def truth(seeded: list[str], posts: int, out: Path, env: dict[str, str]) -> pl.DataFrame:
    cli(["truth", *seeded, "--posts", str(posts), "--output-dir", str(out)], env)
    return parquet_signals(out)


def parquet_signals(directory: Path) -> pl.DataFrame:
    return pl.read_parquet(directory / "signals" / "**" / "*.parquet").sort(ORDER)


def _records(topic: str, env: dict[str, str], quiet_ms: int) -> list[Any]:
    """Every record of ``topic`` as a ``read_committed`` consumer sees it, from the start
    until ``quiet_ms`` pass without one."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=env["KAFKA_BOOTSTRAP"],
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=quiet_ms,
    )
    records = list(consumer)
    consumer.close()
    return records


def topic_signals(env: dict[str, str]) -> pl.DataFrame:
    """Every record of the signals topic, as a ``read_committed`` consumer sees it."""
    values = [r.value for r in _records(env["DATAMOAT_KAFKA_SIGNALS_TOPIC"], env, 5_000)]
    if not values:
        return pl.DataFrame()
    return pl.read_ndjson(b"\n".join(values), schema=SIGNAL_SCHEMA)


def assert_same_signals(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal rows, one per window and key (a topic read is cast to the Parquet schema)."""
    assert got.select(ORDER).is_duplicated().sum() == 0, "a window and key appears twice"
    got = got.select(want.columns).cast(want.schema).sort(ORDER)
    assert got.height == want.height, f"{got.height} rows, truth has {want.height}"
    assert_frame_equal(got, want.sort(ORDER), check_exact=False, abs_tol=1e-9)


def dead_letters(env: dict[str, str]) -> list[dict[str, str]]:
    """Every record of the dead-letter topic (``read_committed``): its headers and value."""
    return [
        {
            **{k: v.decode() for k, v in record.headers},
            "value": (record.value or b"").decode(errors="replace"),
        }
        for record in _records(env["DATAMOAT_KAFKA_DLQ_TOPIC"], env, 3_000)
    ]


def dead_letter_reasons(env: dict[str, str]) -> dict[str, int]:
    """Dead letters counted by ``reason@p<source partition>``."""
    counts: dict[str, int] = {}
    for letter in dead_letters(env):
        where = f"{letter['reason']}@p{letter['source_partition']}"
        counts[where] = counts.get(where, 0) + 1
    return counts
