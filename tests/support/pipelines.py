"""Helpers the pipeline tests share: running commands, reading outputs, comparing to truth."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from polars.testing import assert_frame_equal

from ingest.kafka.testing import KafkaConsumer, TopicPartition
from process.signals import SIGNAL_SCHEMA

__all__ = [
    "DATAMOAT",
    "START",
    "assert_same_signals",
    "cli",
    "dead_letter_reasons",
    "dead_letters",
    "parquet_signals",
    "topic_records",
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


def topic_records(
    bootstrap: str, topic: str, committed: bool = True, timeout_s: float = 60.0
) -> list[Any]:
    """Every record of ``topic`` below its end offsets as they are when asked, every
    partition from its start: for a topic whose writers have finished, all of it, read
    without waiting for a quiet spell. ``committed``: as a ``read_committed`` consumer
    sees it (the end is then the last stable offset, past every ended transaction)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed" if committed else "read_uncommitted",
    )
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or ())  # none: no such topic
        tps = [TopicPartition(topic, p) for p in parts]
        if not tps:
            return []
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"{topic}: not read to its end in {timeout_s} s"
            for batch in consumer.poll(timeout_ms=500).values():
                records += batch
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def topic_signals(env: dict[str, str]) -> pl.DataFrame:
    """Every record of the signals topic, as a ``read_committed`` consumer sees it."""
    records = topic_records(env["KAFKA_BOOTSTRAP"], env["DATAMOAT_KAFKA_SIGNALS_TOPIC"])
    values = [r.value for r in records]
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
        for record in topic_records(env["KAFKA_BOOTSTRAP"], env["DATAMOAT_KAFKA_DLQ_TOPIC"])
    ]


def dead_letter_reasons(env: dict[str, str]) -> dict[str, int]:
    """Dead letters counted by ``reason@p<source partition>``."""
    counts: dict[str, int] = {}
    for letter in dead_letters(env):
        where = f"{letter['reason']}@p{letter['source_partition']}"
        counts[where] = counts.get(where, 0) + 1
    return counts
