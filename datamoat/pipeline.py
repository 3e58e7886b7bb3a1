"""Wiring: config and flags into a firehose, a worker and its sinks."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from datamoat.config import Config
from datamoat.metrics import Metrics
from datamoat.worker import Worker
from ingest.firehose import Firehose, FirehoseConfig
from ingest.firehose.config import flat_demo
from ingest.source import Source
from process.cascades import CascadeConfig
from process.engine import WindowEngine
from process.sentiment import with_sentiment
from process.windows import WindowSpec
from sinks.base import DeadLetterSink, SignalSink

__all__ = [
    "build_worker",
    "cascade_config",
    "firehose_config",
    "make_firehose",
    "output_dir",
    "score",
    "window_spec",
]


def window_spec(config: Config) -> WindowSpec:
    w = config.window
    size = round(w.size_s * 1000)
    hop = round(w.hop_s * 1000) or size
    return WindowSpec(
        size_ms=size, hop_ms=hop, allowed_lateness_ms=round(w.allowed_lateness_s * 1000)
    )


def cascade_config(config: Config) -> CascadeConfig:
    c = config.cascades
    return CascadeConfig(
        top_k=c.top_k,
        ttl_ms=round(c.ttl_s * 1000),
        max_state_bytes=round(c.max_state_mib * 2**20),
    )


def firehose_config(config: Config, args: argparse.Namespace) -> FirehoseConfig:
    """The firehose's config: flat rate with the demo bursts by default, the daily cycle
    with ``--diurnal``."""
    rate = args.rate or config.firehose.rate
    day_in = getattr(args, "day_in", None)
    if getattr(args, "diurnal", False) or day_in:
        return FirehoseConfig(rate=rate, day_in_s=day_in)
    return flat_demo(rate)


def make_firehose(
    config: Config, args: argparse.Namespace, start_ms: int, shard: int = 0, shards: int = 1
) -> Firehose:
    seed = config.firehose.seed if args.seed is None else args.seed
    fh_config = firehose_config(config, args)
    if shards == 1:
        return Firehose(fh_config, seed, start_ms)
    return Firehose(fh_config, seed, start_ms, shard=shard, shards=shards)


def score(posts: pl.DataFrame) -> pl.DataFrame:
    """Add VADER sentiment (``compound``; null for non-English posts)."""
    return with_sentiment(posts, text="text", lang="lang").drop("pos", "neu", "neg")


def build_worker(
    config: Config,
    source: Source,
    sinks: Sequence[SignalSink],
    dead_letters: DeadLetterSink,
    metrics: Metrics,
) -> Worker:
    metrics.fit_latency(config.window.size_s, config.window.allowed_lateness_s)
    engine = WindowEngine(
        window_spec(config),
        idle_timeout_ms=round(config.window.idle_timeout_s * 1000),
        cascade_config=cascade_config(config),
    )
    return Worker(
        source=source,
        engine=engine,
        sinks=list(sinks),
        dead_letters=dead_letters,
        metrics=metrics,
        max_records=config.batch.max_records,
        max_wait_ms=config.batch.max_wait_ms,
        max_record_bytes=config.batch.max_record_bytes,
        max_future_ms=round(config.batch.max_future_s * 1000),
        scorer=score,
    )


def output_dir(args: argparse.Namespace, config: Config) -> Path:
    return Path(getattr(args, "output_dir", None) or config.output.dir)
