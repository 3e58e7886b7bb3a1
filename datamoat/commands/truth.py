"""``datamoat truth``: the exact signals a correct run must produce, straight from the
generator (no Kafka, no streaming), in the same output layout as a run."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from datamoat.errors import ConfigError
from datamoat.options import add_config, add_firehose, config_from, positive_int
from datamoat.pipeline import local_outputs, make_firehose, output_dir, score
from process.truth import truth_signals

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "truth",
        help="expected signals for --seed/--start/--posts, computed without streaming",
        description="Compute the exact expected signals from the generator, without Kafka.",
    )
    add_config(p)  # no Kafka: no --bootstrap
    add_firehose(p)
    p.add_argument("--posts", type=positive_int, required=True, help="how many posts")
    p.add_argument("--output-dir", type=Path, required=True, help="where signals/ goes")
    p.set_defaults(func=run_truth)


def run_truth(args: argparse.Namespace) -> int:
    if args.start is None:
        raise ConfigError("--start is required: the truth of 'now' is not reproducible")
    config = config_from(args)
    out = output_dir(config)
    started = time.monotonic()
    posts = make_firehose(config, args.start).take(args.posts)
    signals = truth_signals(
        score(posts),
        config.window.spec(),
        trend_config=config.trends.engine(),
        cascade_config=config.cascades.engine(),
    )
    outputs = local_outputs(config, out)
    try:
        for sink in outputs.idempotent:
            sink.write(signals)
    finally:
        outputs.close()
    log.info(
        "truth: %s posts -> %s signal rows in %s windows, %s (%.1f s)",
        f"{args.posts:,}",
        f"{signals.height:,}",
        f"{signals['window_start'].n_unique():,}",
        out / "signals",
        time.monotonic() - started,
    )
    return 0
