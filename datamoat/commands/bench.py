"""``datamoat bench``: load benchmarks of the real commands, with a summary, a report and
plots. See :mod:`datamoat.bench`."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from datamoat.bench.markers import replace_section
from datamoat.bench.modes import BenchOptions, run_bench
from datamoat.bench.report import markdown_table, write_report
from datamoat.bench.sampler import Sample
from datamoat.bench.summary import validate_summary
from datamoat.errors import ConfigError
from datamoat.options import positive_float, positive_int
from datamoat.report import LiveLine, format_summary, write_summary
from datamoat.resources import require_extra
from ingest.kafka.client_config import use_client_config

__all__ = ["public_command", "register"]

_EPILOG = """\
modes:
  drain  one worker and the merger against a pre-filled topic: `datamoat produce
         --unpaced` fills it, an unmeasured drain of 50,000 other posts warms the broker
         up, then `datamoat process --until-idle` and `datamoat merge --until-ended` drain
         it; posts/s from their start until both exited, and the ratio to `datamoat process
         --input` on the same posts (--transport memory: one process, no Kafka)
  fixed  `datamoat run` at --rate (default 1157 = 100M posts/day) for --duration or --posts
  max    `datamoat run` ramped from --start-rate, --step-s seconds per rate; the highest
         rate with a bounded lag over the steady window (rule: datamoat/bench/ramp.py)
--peers (drain) runs datamoat, Quix Streams and Bytewax on the same pre-filled topic in
         interleaved rounds (--rounds), reports ratios and checks that the outputs agree
--transport memory measures the processing path alone (firehose and worker in one process).
--workers N is passed to `datamoat run --workers N` once the scale-out change provides it;
until then only 1 can be measured.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "bench",
        help="load benchmarks: drain, fixed rate or the highest sustained rate",
        description="Benchmark datamoat by driving its real commands and sampling them.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mode", choices=["fixed", "max", "drain"], default="fixed")
    p.add_argument("--transport", choices=["kafka", "memory"], default="kafka")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--posts", type=positive_int, default=None, help="posts to run")
    size.add_argument("--duration", type=positive_float, default=None, help="seconds to run")
    p.add_argument("--seed", type=int, default=7, help="firehose seed (default 7)")
    p.add_argument("--rate", type=positive_float, default=1157.0, help="posts/s for fixed")
    p.add_argument("--unpaced", action="store_true", help="fixed: generate as fast as possible")
    p.add_argument("--start-rate", type=positive_float, default=5000.0, help="max: first rate")
    p.add_argument("--step-s", type=positive_float, default=20.0, help="max: seconds per rate")
    p.add_argument(
        "--peers", action="store_true",
        help="drain: also run Quix Streams and Bytewax on the same topic, in interleaved "
        "rounds, and check that their outputs agree (needs the 'peers' extra)",
    )  # fmt: skip
    p.add_argument("--rounds", type=positive_int, default=3, help="--peers: rounds (default 3)")
    p.add_argument("--workers", type=positive_int, default=1, help="workers (see below)")
    p.add_argument(
        "--bootstrap", default=None, help="an existing broker (default: start one with "
        "`datamoat broker start` in the work directory, stopped at the end)",
    )  # fmt: skip
    p.add_argument(
        "--client-config", type=Path, default=None, metavar="FILE",
        help="Kafka client settings for --bootstrap (TLS, SASL: a client.properties; default "
        "$KAFKA_CLIENT_CONFIG); not with --peers",
    )  # fmt: skip
    p.add_argument("--config", type=Path, default=None, help="pipeline config")
    p.add_argument("--interval", type=positive_float, default=0.25, help="sampling period (s)")
    p.add_argument("--summary-json", type=Path, default=None, help="write the summary here")
    p.add_argument("--report-dir", type=Path, default=None, help="Markdown report and PNGs")
    p.add_argument(
        "--update-benchmarks", type=Path, default=None, metavar="FILE",
        help="rewrite this run's section of FILE (e.g. BENCHMARKS.md) between its markers",
    )  # fmt: skip
    p.add_argument(
        "--from-summary", type=Path, default=None, metavar="JSON",
        help="don't run: render --report-dir / --update-benchmarks from a saved summary",
    )  # fmt: skip
    p.add_argument("--work-dir", type=Path, default=None, help="keep logs and outputs here")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run_bench_command)


class _Progress:
    """One status line: on a terminal refreshed in place, in a log every 5 s."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.line = LiveLine()
        self.tty = self.line.tty
        self.last_print = 0.0
        self.last: tuple[str, float, float] | None = None

    def __call__(self, label: str, s: Sample) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        m = s.metrics
        done = m.processed if m else 0.0
        rate = 0.0
        if self.last and self.last[0] == label and s.t > self.last[1]:
            rate = (done - self.last[2]) / (s.t - self.last[1])
        self.last = (label, s.t, done)
        if not self.tty and now - self.last_print < 5.0:
            return
        self.last_print = now
        cpu = " ".join(f"{n} {p.cpu_s:.1f}s" for n, p in s.procs.items())
        line = f"[{label}] {s.t:6.1f}s | processed {done:,.0f} ({rate:,.0f}/s)"
        if m is not None:
            lag = max(m.lag, m.produced - m.consumed, 0)
            line += f" | produced {m.produced:,.0f} | lag {lag:,.0f}"
        line += f" | cpu {cpu}"
        self.line.show(line)

    def log(self, text: str) -> None:
        if not self.quiet:
            self.line.stop()  # off its line, so the message starts on one of its own
            sys.stderr.write(f"datamoat bench: {text}\n")
            sys.stderr.flush()


def section_name(summary: dict[str, Any]) -> str:
    extra = "-peers" if summary.get("peers") else ""
    extra += "-unpaced" if summary.get("unpaced") else ""
    return f"{summary['mode']}-{summary['transport']}{extra}"


def run_bench_command(args: argparse.Namespace) -> int:
    if args.report_dir is not None:  # before a long run, not after it
        require_extra("matplotlib", "reports", "--report-dir")
    if use_client_config(args.client_config).secured and (args.peers or not args.bootstrap):
        raise ConfigError(
            "--client-config with a secured protocol needs --bootstrap (the bench's own broker "
            "is plaintext) and no --peers (Quix Streams and Bytewax run with their defaults)"
        )
    progress = _Progress(args.quiet)
    if args.from_summary is not None:
        try:
            summary = orjson.loads(args.from_summary.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise ConfigError(f"--from-summary {args.from_summary}: {exc}") from None
        timeline = None
    else:
        with tempfile.TemporaryDirectory(prefix="datamoat-bench-") as tmp:
            options = BenchOptions(
                mode=args.mode, transport=args.transport, posts=args.posts,
                duration_s=args.duration, seed=args.seed, rate=args.rate,
                workers=args.workers, bootstrap=args.bootstrap,
                work=args.work_dir or Path(tmp), interval_s=args.interval,
                unpaced=args.unpaced, start_rate=args.start_rate, step_s=args.step_s,
                config=args.config, peers=args.peers, rounds=args.rounds,
            )  # fmt: skip
            summary, tl = run_bench(options, sys.argv[1:], progress, progress.log)
            timeline = tl
        progress.log("done")
    problems = validate_summary(summary)
    if problems:
        raise ConfigError(f"summary does not match its schema: {'; '.join(problems)}")
    write_summary(summary, args.summary_json)
    if args.report_dir is not None:
        if timeline is None:
            from datamoat.bench.timeline import Timeline

            timeline = Timeline()
        path = write_report(summary, timeline, args.report_dir)
        progress.log(f"report: {path}")
    if args.update_benchmarks is not None:
        _update(args.update_benchmarks, summary)
    shown = {k: v for k, v in summary.items() if not isinstance(v, dict | list)}
    print(format_summary(shown))
    print(markdown_table(summary))
    return 0


#: Options whose values belong to one machine or run (paths, ports): left out of the command
#: BENCHMARKS.md shows.
_PRIVATE = ("--bootstrap", "--client-config", "--summary-json", "--work-dir", "--from-summary",
            "--update-benchmarks")  # fmt: skip


def public_command(command: str) -> str:
    """``command`` without the machine-specific options (and --quiet)."""
    words = shlex.split(command)
    out: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in _PRIVATE:
            skip = "=" not in word
            continue
        if word != "--quiet":
            out.append(word)
    return shlex.join(out)


def _update(path: Path, summary: dict[str, Any]) -> None:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"--update-benchmarks {path}: {exc.strerror}") from None
    notes = "\n".join(f"- {n}" for n in summary.get("notes", []))
    body = (
        f"`{public_command(summary.get('command', 'datamoat bench'))}` "
        f"({summary.get('date', '')}; "
        f"{summary.get('machine', '')})\n\n{markdown_table(summary)}\n\n{notes}"
    )
    path.write_text(replace_section(text, section_name(summary), body))
