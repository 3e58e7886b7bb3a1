"""``datamoat moat``: what full real-time access is worth against sampled or delayed access.

Seeded streams through every access tier, no broker. Every tier's detectors are calibrated
to one false-alarm rate on burst-free seeds, every figure has a 95 % interval over seeds,
and each experiment is its own ``--sweep``; ``--sweep all`` makes everything the README
and ``docs/moat/`` show. Durations are simulated time; ``--day-in`` compresses a simulated
day into that many seconds of event time and everything scales with it.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

import orjson

from datamoat.errors import ConfigError
from datamoat.moat.config import check_moat, load_moat_config
from datamoat.moat.report import (
    provenance,
    require_plotting,
    text_table,
    update_readme,
    write_json,
    write_report,
)
from datamoat.moat.seeds import Study, default_cache_dir
from datamoat.moat.sweeps import SWEEPS, run_sweep
from datamoat.options import add_profile, config_from, parse_start, positive_float, positive_int
from datamoat.report import LiveLine

__all__ = ["SWEEP_SEEDS", "parse_duration", "register"]

log = logging.getLogger("datamoat.moat")

DEFAULT_START = "2026-01-01T00:00:00Z"
_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86_400.0}
#: Measured seeds per experiment unless --seeds says otherwise.
SWEEP_SEEDS = {"tiers": 20, "volume": 2, "bursts": 10, "manipulation": 8, "topn": 4}


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
        help="the moat, measured: seeded streams through firehose, sampled and delayed tiers",
        description="Measure what full real-time access is worth: burst detection at one "
        "false-alarm rate, sentiment, top hashtags, reach and virality of each access tier "
        "(configs/moat.toml) over many seeds, with 95%% intervals, without Kafka.",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="pipeline config (cascades; with --input also the [trends] rule)",
    )
    add_profile(p)
    p.add_argument(
        "--moat-config", type=Path, default=None, help="tiers and thresholds (configs/moat.toml)"
    )
    p.add_argument(
        "--sweep",
        choices=(*SWEEPS, "all"),
        default="tiers",
        help="the experiment: tiers (default: the tier table), volume, bursts, "
        "manipulation, topn, or all of them",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="measured seeds (default per experiment: "
        + ", ".join(f"{k} {v}" for k, v in SWEEP_SEEDS.items())
        + ")",
    )
    p.add_argument("--seed", type=int, default=1, help="the first measured seed (default 1)")
    p.add_argument(
        "--procs",
        type=positive_int,
        default=None,
        help="seeds run in this many processes at once (default: the CPU count)",
    )
    p.add_argument(
        "--start",
        type=parse_start,
        default=parse_start(DEFAULT_START),
        help=f"event time of the first post, ISO 8601 or epoch ms (default {DEFAULT_START})",
    )
    p.add_argument(
        "--duration",
        type=parse_duration,
        default=None,
        help="simulated time per seed: 86400, 90m, 6h, 1d (default: the config's, 1 day)",
    )
    p.add_argument(
        "--posts-per-day",
        type=positive_float,
        default=None,
        metavar="N",
        help="the platform's size in posts per simulated day (default: the config's, 2.52M; "
        "X: 500M)",
    )
    p.add_argument(
        "--day-in",
        type=day_in,
        default=None,
        metavar="SECONDS",
        help="a simulated day lasts SECONDS of event time (0: a real day; default: config)",
    )
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="Markdown report + PNG plots (the plots need: pip install 'datamoat[reports]')",
    )
    p.add_argument(
        "--update-readme",
        type=Path,
        default=None,
        metavar="README",
        help="rewrite the moat table between the datamoat-moat markers of this file",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"burst-free streams' statistics (default {default_cache_dir()})",
    )
    p.add_argument("--no-cache", action="store_true", help="calibrate from scratch, keep nothing")
    p.add_argument(
        "--input",
        type=Path,
        default=None,
        metavar="F",
        help="real posts instead of seeded streams: an NDJSON file in the post contract "
        "(what 'datamoat ingest' writes); event time is real time unless --day-in is given",
    )
    p.add_argument(
        "--from-summary",
        type=Path,
        default=None,
        metavar="F",
        help="run nothing: write the report and the README table from a saved summary",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line, no table")
    p.set_defaults(func=run_moat)


class _Progress:
    """Seeds done and the time left, on a terminal, rewritten at most twice a second."""

    def __init__(self, stream: TextIO, sweep: str) -> None:
        self.line = LiveLine(stream=stream)
        self.sweep = sweep
        self.began = time.monotonic()
        self.shown = 0.0

    def __call__(self, done: int, total: int, what: str) -> None:
        now = time.monotonic()
        if now - self.shown < 0.5 and done < total:
            return
        self.shown = now
        elapsed = now - self.began
        eta = elapsed * (total - done) / done if done else 0.0
        self.line.show(
            f"datamoat moat {self.sweep}: {done}/{total} streams ({what})  "
            f"{elapsed:.0f} s, ~{eta:.0f} s left"
        )

    def clear(self) -> None:
        self.line.clear()


def _from_summary(args: argparse.Namespace) -> int:
    try:
        summary = orjson.loads(args.from_summary.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ConfigError(f"--from-summary {args.from_summary}: can't be read ({exc})") from None
    if not isinstance(summary, dict) or "settings" not in summary:
        raise ConfigError(f"--from-summary {args.from_summary}: not a datamoat moat summary")
    if args.report_dir:
        write_report(summary, args.report_dir)
    if args.update_readme:
        update_readme(args.update_readme, summary)
    if not args.quiet and "tiers" in summary:
        order = [t["name"] for t in summary["tier_definitions"]]
        print(text_table(summary["tiers"], order), flush=True)
    return 0


def _real(args: argparse.Namespace) -> int:
    from datamoat.moat.real import real_markdown, real_study

    config = config_from(args)
    moat = load_moat_config(args.moat_config)
    moat = replace(moat, day_in_s=args.day_in or None)  # real posts: real time by default
    check_moat(moat, "flags")
    summary = real_study(moat, args.input, config.trends.engine(), config.cascades.engine())
    summary["command"] = "datamoat moat " + shlex.join(
        sys.argv[2:] if sys.argv[1:2] == ["moat"] else []
    )
    if args.summary_json:
        write_json(args.summary_json, summary)
    if args.report_dir:
        args.report_dir.mkdir(parents=True, exist_ok=True)
        (args.report_dir / "report.md").write_text(real_markdown(summary), encoding="utf-8")
        write_json(args.report_dir / "summary.json", summary)
    if not args.quiet:
        print(real_markdown(summary), flush=True)
    return 0


def run_moat(args: argparse.Namespace) -> int:
    if args.report_dir is not None and args.input is None:
        # its PNG plots need the reports extra: say so now, not after the seeds ran
        require_plotting("--report-dir")
    if args.from_summary is not None:
        return _from_summary(args)
    if args.input is not None:
        return _real(args)
    config = config_from(args)
    moat = load_moat_config(args.moat_config)
    if args.posts_per_day is not None:
        moat = replace(moat, posts_per_day=args.posts_per_day)
    if args.day_in is not None:
        moat = replace(moat, day_in_s=args.day_in or None)
    if args.duration is not None:
        moat = replace(moat, duration_s=args.duration)
    check_moat(moat, "flags")
    if moat.day_in_s is not None and moat.day_in_s * moat.window_s / 86_400.0 < 0.05:
        raise ConfigError(
            f"a {moat.window_s:g}-s window is under 50 ms of event time with --day-in "
            f"{moat.day_in_s:g}: compress less or widen moat.window_s"
        )
    sweeps = SWEEPS if args.sweep == "all" else (args.sweep,)
    live = sys.stderr.isatty() and not args.quiet
    cache = None if args.no_cache else (args.cache_dir or default_cache_dir())
    base = Study(
        moat,
        args.start,
        seed=args.seed,
        procs=args.procs or os.cpu_count() or 1,
        cascade=config.cascades.engine(),
        cache_dir=cache,
    )
    warm_s = base.trend.warmup_windows * moat.window_s
    if moat.duration_s < warm_s + 2 * moat.window_s:
        raise ConfigError(
            f"--duration {moat.duration_s:g} s leaves no hold-out after the trend warm-up "
            f"({base.trend.warmup_windows} windows of {moat.window_s:g} s = {warm_s:g} s of "
            f"simulated time per seed): use at least {warm_s + 2 * moat.window_s:g} s "
            "(the default is a day, 1d)"
        )
    if moat.duration_s < warm_s + moat.horizon_s:
        log.warning(
            "moat: --duration %g s leaves no room for a burst after the warm-up (%g s) and "
            "its horizon (moat.horizon_s %g s): no events are injected, so recall and lead "
            "have no figures; use at least %g s for them",
            moat.duration_s, warm_s, moat.horizon_s, warm_s + moat.horizon_s,
        )  # fmt: skip
    command = "datamoat moat " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["moat"] else [])
    began = time.monotonic()
    summary: dict[str, Any] = provenance(moat, base, command.rstrip())
    timings: dict[str, float] = {}
    for name in sweeps:
        seeds = args.seeds or SWEEP_SEEDS[name]
        progress = _Progress(sys.stderr, name) if live else None
        t0 = time.monotonic()
        section = run_sweep(name, replace(base, seeds=seeds), progress)
        if progress is not None:
            progress.clear()
        timings[name] = time.monotonic() - t0
        if name in ("tiers", "manipulation"):
            summary.update(section)
        else:
            summary.setdefault("sweeps", {}).update(section)
        summary.setdefault("measured_seeds", {})[name] = seeds
        if name == "tiers":
            summary["seeds"] = seeds
        # each experiment kept as soon as it is done
        for path in (args.summary_json, args.report_dir and args.report_dir / "summary.json"):
            if path:
                write_json(path, {**summary, "wall_s": timings})
    summary["wall_s"] = timings
    if args.summary_json:
        write_json(args.summary_json, summary)
    if args.report_dir:
        write_report(summary, args.report_dir)
    if args.update_readme:
        update_readme(args.update_readme, summary)
    if not args.quiet and "tiers" in summary:
        order = [t.name for t in moat.tiers]
        print(text_table(summary["tiers"], order), flush=True)
    elapsed = time.monotonic() - began
    print(
        f"datamoat moat: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}; "
        f"{elapsed:.1f} s in all",
        file=sys.stderr,
    )
    return 0
