"""The whole experiment, wired: stream, bursts, one pass, measures, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datamoat.moat.bursts import injected_bursts, true_bursts
from datamoat.moat.config import Clock, MoatConfig
from datamoat.moat.measure import Measured, measure
from datamoat.moat.report import markdown_report, summary, write_json
from datamoat.moat.stream import Pass, Progress, run_pass, sampled_trend
from ingest.firehose import Firehose, FirehoseConfig
from process.cascades import CascadeConfig
from process.trends import TrendConfig

__all__ = ["Experiment", "Outcome", "run_experiment", "write_report"]


@dataclass(frozen=True, slots=True)
class Experiment:
    """What to run: the config (flags already applied), seed, start, and the stop."""

    config: MoatConfig
    seed: int
    start_ms: int
    posts: int | None = None
    """Stop after this many posts instead of ``config.duration_s``."""
    cascade: CascadeConfig = field(default_factory=CascadeConfig)
    trend: TrendConfig = field(default_factory=TrendConfig)


@dataclass(frozen=True, slots=True)
class Outcome:
    experiment: Experiment
    clock: Clock
    firehose: FirehoseConfig
    done: Pass
    measured: Measured
    summary: dict[str, Any]


def run_experiment(exp: Experiment, progress: Progress | None = None) -> Outcome:
    c = exp.config
    clock = c.clock(exp.start_ms)
    if exp.posts is None:
        end_ms: int | None = exp.start_ms + clock.ms(c.duration_s)
        planned_end = end_ms
    else:
        end_ms = None
        planned_end = exp.start_ms + round(exp.posts / c.rate * 1000)
    window_ms = clock.ms(c.window_s)
    warm_ms = (exp.start_ms // window_ms + exp.trend.warmup_windows) * window_ms
    assert planned_end is not None
    bursts = injected_bursts(c, exp.seed, warm_ms, planned_end - clock.ms(c.horizon_s))
    fh_config = FirehoseConfig(rate=c.rate, day_in_s=c.day_in_s, bursts=bursts)
    firehose = Firehose(fh_config, exp.seed, exp.start_ms)
    cascade = replace(exp.cascade, ttl_ms=clock.ms(exp.cascade.ttl_ms / 1000.0))
    done = run_pass(
        c,
        c.tiers,
        firehose,
        end_ms=end_ms,
        posts=exp.posts,
        cascade=cascade,
        trend=exp.trend,
        progress=progress,
    )
    truth = true_bursts(fh_config, exp.seed, exp.start_ms, done.end_ms)
    measured = measure(c, c.tiers, done, truth, clock)
    start_iso = datetime.fromtimestamp(exp.start_ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    run = {
        "seed": exp.seed,
        "start": start_iso,
        "start_ms": exp.start_ms,
        "rate": c.rate,
        "day_in_s": c.day_in_s,
        "time_scale": clock.scale,
        "duration_s": clock.sim_s(done.end_ms - exp.start_ms),
        "event_s": (done.end_ms - exp.start_ms) / 1000.0,
        "posts": done.posts,
        "window_s": c.window_s,
        "allowed_lateness_s": c.allowed_lateness_s,
        "horizon_s": c.horizon_s,
        "min_scored": c.min_scored,
        "min_posts": c.min_posts,
        "top_n": c.top_n,
        "injected_bursts": len(bursts),
        "random_bursts": truth.filter(~truth["injected"]).height,
        "detection_rules": {
            t.name: {
                k: getattr(sampled_trend(exp.trend, t.rate), k)
                for k in ("threshold", "min_support", "floor", "alpha", "warmup_windows")
            }
            for t in c.tiers
        },
    }
    return Outcome(exp, clock, fh_config, done, measured, summary(run, measured))


def write_report(outcome: Outcome, directory: Path, command: str) -> list[Path]:
    """The Markdown report and its plots in ``directory``; the files written."""
    from datamoat.moat.plots import write_plots  # matplotlib only when a report is asked for

    c = outcome.experiment.config
    plots = write_plots(
        directory,
        c,
        c.tiers,
        outcome.measured,
        outcome.clock,
        outcome.done.spec.allowed_lateness_ms,
    )
    report = directory / "report.md"
    report.write_text(markdown_report(outcome.summary, command, plots), encoding="utf-8")
    json_path = directory / "summary.json"
    write_json(json_path, outcome.summary)
    return [report, json_path, *(directory / p for p in plots)]
