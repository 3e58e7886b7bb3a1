"""``datamoat moat``: the same seeded stream through every access tier, measured.

One pass over the generated stream, no broker. Durations (``--duration``, the config's
windows, delays and batch periods) are simulated time; ``--day-in`` compresses a simulated
day into that many seconds of event time and everything scales with it.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from datamoat.errors import ConfigError
from datamoat.moat.config import load_moat_config
from datamoat.moat.experiment import Experiment, run_experiment, write_report
from datamoat.moat.report import text_table, write_json
from datamoat.options import config_from, parse_start, positive_float, positive_int
from datamoat.report import LiveLine

__all__ = ["parse_duration", "register"]

DEFAULT_START = "2026-01-01T00:00:00Z"
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """Simulated seconds from ``86400``, ``90s``, ``30m``, ``6h`` or ``1d``."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(s|m|min|h|d)?\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive duration (e.g. 86400, 90m, 6h, 1d)"
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def day_in(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "moat",
        help="the moat, measured: one seeded stream through firehose, sampled and delayed tiers",
        description="Measure burst detection, sentiment, top hashtags, reach and virality of "
        "each access tier (configs/moat.toml) on one seeded stream, without Kafka.",
    )
    p.add_argument("--config", type=Path, default=None, help="pipeline config (cascades)")
    p.add_argument(
        "--moat-config", type=Path, default=None, help="tiers and thresholds (configs/moat.toml)"
    )
    p.add_argument("--seed", type=int, default=None, help="random seed (default: config)")
    p.add_argument(
        "--start",
        type=parse_start,
        default=parse_start(DEFAULT_START),
        help=f"event time of the first post, ISO 8601 or epoch ms (default {DEFAULT_START})",
    )
    stop = p.add_mutually_exclusive_group()
    stop.add_argument(
        "--duration",
        type=parse_duration,
        default=None,
        help="simulated time to cover: 86400, 90m, 6h, 1d (default: the config's, 1 day)",
    )
    stop.add_argument("--posts", type=positive_int, default=None, help="exactly N posts instead")
    p.add_argument("--rate", type=positive_float, default=None, help="posts/s of event time")
    p.add_argument(
        "--day-in",
        type=day_in,
        default=None,
        metavar="SECONDS",
        help="a simulated day lasts SECONDS of event time (0: a real day; default: config)",
    )
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--report-dir", type=Path, default=None, help="Markdown report + PNG plots")
    p.add_argument("--quiet", action="store_true", help="no progress line, no table")
    p.set_defaults(func=run_moat)


class _Progress:
    """A progress line on a terminal, rewritten at most twice a second."""

    def __init__(self, stream: TextIO, start_ms: int, end_ms: int | None, posts: int | None):
        self.line = LiveLine(stream=stream)
        self.start_ms, self.end_ms, self.posts = start_ms, end_ms, posts
        self.began = time.monotonic()
        self.shown = 0.0

    def __call__(self, t_ms: int, seen: int) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5:
            return
        self.shown = now
        if self.end_ms is not None:
            done = (t_ms - self.start_ms) / max(self.end_ms - self.start_ms, 1)
        else:
            done = seen / max(self.posts or 1, 1)
        elapsed = now - self.began
        eta = elapsed * (1 - done) / done if done > 0 else 0.0
        self.line.show(
            f"datamoat moat: {done:6.1%}  {seen:,} posts  "
            f"{seen / max(elapsed, 1e-9):,.0f} posts/s  {elapsed:.0f} s, ~{eta:.0f} s left"
        )

    def clear(self) -> None:
        self.line.clear()


def run_moat(args: argparse.Namespace) -> int:
    config = config_from(args)
    moat = load_moat_config(args.moat_config)
    if args.rate is not None:
        moat = replace(moat, rate=args.rate)
    if args.day_in is not None:
        moat = replace(moat, day_in_s=args.day_in or None)
    if args.duration is not None:
        moat = replace(moat, duration_s=args.duration)
    if moat.day_in_s is not None and moat.day_in_s * moat.window_s / 86_400.0 < 0.05:
        raise ConfigError(
            f"a {moat.window_s:g}-s window is under 50 ms of event time with --day-in "
            f"{moat.day_in_s:g}: compress less or widen moat.window_s"
        )
    seed = config.firehose.seed
    exp = Experiment(moat, seed, args.start, args.posts, config.cascades.engine())
    clock = moat.clock(args.start)
    end_ms = None if args.posts else args.start + clock.ms(moat.duration_s)
    live = sys.stderr.isatty() and not args.quiet
    progress = _Progress(sys.stderr, args.start, end_ms, args.posts) if live else None
    began = time.monotonic()
    outcome = run_experiment(exp, progress)
    if progress is not None:
        progress.clear()
    command = "datamoat " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["moat"] else [])
    command = command.replace("datamoat ", "datamoat moat ", 1).rstrip()
    if args.summary_json:
        write_json(args.summary_json, outcome.summary)
    if args.report_dir:
        write_report(outcome, args.report_dir, command)
    elapsed = time.monotonic() - began
    if not args.quiet:
        print(text_table(outcome.summary["tiers"]), flush=True)
    s = outcome.summary
    print(
        f"datamoat moat: {s['posts']:,} posts, {s['duration_s'] / 3600:.1f} simulated h "
        f"({s['event_s']:,.0f} s of event time), {s['eligible_bursts']} bursts measured, "
        f"in {elapsed:.1f} s ({s['posts'] / max(elapsed, 1e-9):,.0f} posts/s)",
        file=sys.stderr,
    )
    return 0
