"""Many seeds, in parallel processes: calibration, hold-out and measured streams.

A study runs three sets of seeds, disjoint by construction:

* **calibration** seeds (``CALIBRATION_BASE + i``): burst-free streams (no injected events,
  no random bursts) whose detector statistics set every tier's thresholds
  (:func:`datamoat.moat.detect.calibrate`);
* **hold-out** seeds (``HOLDOUT_BASE + i``): other burst-free streams, on which the false
  alarm rate the thresholds give is reported;
* **measured** seeds (``seed .. seed + n - 1``): streams with injected events, every
  reported figure.

The statistics of a burst-free stream are cached on disk per seed and per everything that
shapes them (the experiment's stream and window settings, the tiers' slices, the trend rule
and a fingerprint of the generator's and the engine's source), so a second run, or a run
that only changes tiers' delays, only measures.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from datamoat.moat.adversary import Campaign
from datamoat.moat.bursts import inject, true_bursts
from datamoat.moat.config import MoatConfig, Tier
from datamoat.moat.detect import DETECTORS, Threshold, calibrate
from datamoat.moat.measure import SeedMeasures, detector_stats, measure_seed, warm_ms
from datamoat.moat.stream import run_pass
from ingest.firehose import Firehose, FirehoseConfig
from process.cascades import CascadeConfig
from process.trends import TrendConfig

__all__ = [
    "CALIBRATION_BASE",
    "HOLDOUT_BASE",
    "Calibrated",
    "Study",
    "StudyRuns",
    "default_cache_dir",
    "run_study",
]

CALIBRATION_BASE = 900_000
HOLDOUT_BASE = 800_000
#: Source whose code shapes a burst-free stream's statistics (folders and files).
_FINGERPRINT = (
    "ingest/firehose",
    "ingest/schema.py",
    "process",
    "datamoat/pipeline.py",
    "datamoat/moat/config.py",
    "datamoat/moat/detect.py",
    "datamoat/moat/early.py",
    "datamoat/moat/measure.py",
    "datamoat/moat/stream.py",
)

Progress = Callable[[int, int, str], None]
"""Called with (jobs done, jobs in all, what just finished)."""


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "datamoat" / "moat"


@dataclass(frozen=True, slots=True)
class Study:
    """Seeds to run and how: the config (flags applied), tiers, the event mix, the targets."""

    config: MoatConfig
    start_ms: int
    seed: int = 1
    seeds: int = 1
    procs: int = 2
    trend: TrendConfig = field(default_factory=TrendConfig)
    cascade: CascadeConfig = field(default_factory=CascadeConfig)
    targets: tuple[float, ...] | None = None
    """False alarms per simulated day to calibrate to: the common rate first, then the
    points of the recall against false-alarm curve (None: the config's common rate)."""

    @property
    def rates(self) -> tuple[float, ...]:
        """The targets, the common one first."""
        return self.targets or (self.config.false_alarms_per_day,)

    kinds: tuple[str, ...] | None = None
    sizes: tuple[float, ...] | None = None
    events: int | None = None
    """Injected events per measured seed (default: the config's)."""
    plan: tuple[tuple[str, float], ...] | None = None
    """Each (kind, size) injected once per measured seed, instead of kinds and sizes."""
    campaigns: Callable[[MoatConfig, int, int, int], tuple[Campaign, ...]] | None = None
    """Campaigns of a measured seed, from (config, seed, first onset ms, last onset ms)."""
    topn: tuple[tuple[int, ...], tuple[int, ...]] | None = None
    cache_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class Calibrated:
    """Thresholds per tier and detector (one per target) and the hold-out alarms at each."""

    thresholds: dict[str, dict[str, tuple[Threshold, ...]]]
    holdout: dict[str, dict[str, tuple[int, ...]]]  # episodes at each threshold, all seeds
    holdout_by_seed: dict[str, dict[str, tuple[tuple[int, ...], ...]]]  # [seed][target]
    holdout_hours: float
    holdout_seeds: tuple[int, ...]
    calibration_seeds: tuple[int, ...]
    holdout_either: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Per tier and target, the hold-out episodes of its trend and early detectors together
    (a batch tier: the trend detector's alone, it has no early alerts), all seeds."""


@dataclass(frozen=True, slots=True)
class StudyRuns:
    study: Study
    calibrated: Calibrated
    measured: tuple[SeedMeasures, ...]
    wall_s: float


# --- one stream, in a worker process ------------------------------------------------------


def _firehose(config: MoatConfig, seed: int, start_ms: int, **extra: Any) -> FirehoseConfig:
    return FirehoseConfig(rate=config.rate, day_in_s=config.day_in_s, **extra)


def quiet_stats(
    config: MoatConfig, tiers: tuple[Tier, ...], trend: TrendConfig, cascade: CascadeConfig,
    seed: int, start_ms: int,
) -> tuple[dict[tuple[tuple[int, int] | None, str], pl.DataFrame], float]:  # fmt: skip
    """Detector statistics of a burst-free stream, per slice; and its hours after warm-up."""
    clock = config.clock(start_ms)
    fh = _firehose(config, seed, start_ms, random_bursts_per_day=0.0)
    done = run_pass(
        config,
        tiers,
        Firehose(fh, seed, start_ms),
        end_ms=start_ms + clock.ms(config.duration_s),
        cascade=_scaled(cascade, clock.scale),
        trend=trend,
    )
    hours = clock.sim_s(done.end_ms - warm_ms(done)) / 3600.0
    return detector_stats(config, done), hours


def measured_seed(
    study: Study, thresholds: dict[str, dict[str, tuple[float, ...]]], seed: int
) -> SeedMeasures:
    """One measured stream: events injected, the pass, every tier's measures."""
    c, start = study.config, study.start_ms
    clock = c.clock(start)
    end_ms = start + clock.ms(c.duration_s)
    hop = clock.ms(c.window_s)
    first = (start // hop + study.trend.warmup_windows) * hop
    last = end_ms - clock.ms(c.horizon_s)
    plain = _firehose(c, seed, start)
    events = inject(c, plain, seed, first, last, clock, kinds=study.kinds, sizes=study.sizes,
                    count=study.events, plan=study.plan)  # fmt: skip
    fh = replace(plain, bursts=events.bursts, shifts=events.shifts)
    campaigns = study.campaigns(c, seed, first, last) if study.campaigns else ()
    done = run_pass(
        c,
        c.tiers,
        Firehose(fh, seed, start, polarity=True),
        end_ms=end_ms,
        cascade=_scaled(study.cascade, clock.scale),
        trend=study.trend,
        campaigns=campaigns,
    )
    truth = true_bursts(
        fh, seed, start, done.end_ms, _with_campaigns(events.truth, campaigns, clock)
    )
    return measure_seed(c, c.tiers, done, truth, clock, thresholds, seed=seed, topn=study.topn)


def _with_campaigns(
    truth: pl.DataFrame, campaigns: tuple[Campaign, ...], clock: Any
) -> pl.DataFrame:
    if not campaigns:
        return truth
    rows = pl.DataFrame(
        {
            "burst": [10_000 + c.number for c in campaigns],
            "hashtag": [c.hashtag for c in campaigns],
            "kind": ["new"] * len(campaigns),
            "size_ppm": [c.per_minute for c in campaigns],
            "onset_ms": [c.start_ms for c in campaigns],
            "end_ms": [c.end_ms for c in campaigns],
            "rise_s": [0.0] * len(campaigns),
            "sentiment": [0.0] * len(campaigns),
            "injected": [True] * len(campaigns),
        },
        schema=truth.schema,
    )
    return pl.concat([truth, rows])


def _scaled(cascade: CascadeConfig, scale: float) -> CascadeConfig:
    return replace(cascade, ttl_ms=round(cascade.ttl_ms * scale))


# --- the cache of burst-free streams --------------------------------------------------------


def _fingerprint() -> str:
    root = Path(__file__).resolve().parents[2]
    h = hashlib.sha256()
    for name in _FINGERPRINT:
        where = root / name
        for path in sorted(where.rglob("*.py")) if where.is_dir() else [where]:
            h.update(path.relative_to(root).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cache_key(study: Study, seed: int, code: str) -> str:
    c = study.config
    shape = {
        "posts_per_day": c.posts_per_day,
        "day_in_s": c.day_in_s,
        "duration_s": c.duration_s,
        "window_s": c.window_s,
        "lateness": c.allowed_lateness_s,
        "baseline": c.sentiment_baseline_windows,
        "slices": sorted({str(t.ms) for t in c.tiers}),
        "trend": asdict(study.trend),
        "cascade": asdict(study.cascade),
        "seed": seed,
        "start": study.start_ms,
        "code": code,
    }
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:24]


def _load(
    path: Path,
) -> tuple[dict[tuple[tuple[int, int] | None, str], pl.DataFrame], float] | None:
    meta = path / "meta.json"
    if not meta.is_file():
        return None
    info = json.loads(meta.read_text(encoding="utf-8"))
    stats = {}
    for entry in info["parts"]:
        ms = None if entry["ms"] is None else (entry["ms"][0], entry["ms"][1])
        stats[ms, entry["detector"]] = pl.read_parquet(path / entry["file"])
    return stats, float(info["hours"])


def _save(
    path: Path, stats: dict[tuple[tuple[int, int] | None, str], pl.DataFrame], hours: float
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    parts = []
    for k, ((ms, detector), frame) in enumerate(sorted(stats.items(), key=lambda kv: str(kv[0]))):
        name = f"part{k}.parquet"
        frame.write_parquet(path / name)
        parts.append({"ms": None if ms is None else list(ms), "detector": detector, "file": name})
    tmp = path / "meta.json.tmp"
    tmp.write_text(json.dumps({"hours": hours, "parts": parts}), encoding="utf-8")
    tmp.replace(path / "meta.json")  # written last: a complete entry or none


def _quiet_job(
    study: Study, seed: int, cache: Path | None
) -> tuple[dict[tuple[tuple[int, int] | None, str], pl.DataFrame], float]:
    if cache is not None:
        found = _load(cache)
        if found is not None:
            return found
    stats, hours = quiet_stats(
        study.config, study.config.tiers, study.trend, study.cascade, seed, study.start_ms
    )
    if cache is not None:
        _save(cache, stats, hours)
    return stats, hours


# --- the study -----------------------------------------------------------------------------


def run_study(study: Study, progress: Progress | None = None) -> StudyRuns:
    """Calibrate (cached), check on the hold-out seeds, measure every seed."""
    began = time.monotonic()
    c = study.config
    cal_seeds = tuple(CALIBRATION_BASE + i for i in range(c.calibration_seeds))
    hold_seeds = tuple(HOLDOUT_BASE + i for i in range(c.holdout_seeds))
    measured_seeds = tuple(range(study.seed, study.seed + study.seeds))
    cache_root = study.cache_dir
    code = _fingerprint() if cache_root is not None else ""
    total = len(cal_seeds) + len(hold_seeds) + len(measured_seeds)
    done = 0

    def tick(what: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, what)

    context = multiprocessing.get_context("spawn")
    pool: ProcessPoolExecutor | _Serial
    pool = (
        _Serial()
        if study.procs <= 1
        else ProcessPoolExecutor(max_workers=study.procs, mp_context=context)
    )
    with pool:
        quiet: dict[int, Future[Any]] = {}
        for s in (*cal_seeds, *hold_seeds):
            path = None if cache_root is None else cache_root / _cache_key(study, s, code)
            quiet[s] = pool.submit(_quiet_job, study, s, path)
        cal = []
        for s in cal_seeds:
            cal.append(quiet[s].result())
            tick(f"calibration seed {s}")
        thresholds = _thresholds(study, cal)
        values = {
            tier: {d: tuple(t.value for t in ts) for d, ts in by.items()}
            for tier, by in thresholds.items()
        }
        runs = {s: pool.submit(measured_seed, study, values, s) for s in measured_seeds}
        hold = []
        for s in hold_seeds:
            hold.append(quiet[s].result())
            tick(f"hold-out seed {s}")
        measured = []
        for s in measured_seeds:
            measured.append(runs[s].result())
            tick(f"seed {s}")
    calibrated = _holdout(study, thresholds, hold, cal_seeds, hold_seeds)
    return StudyRuns(study, calibrated, tuple(measured), time.monotonic() - began)


class _Serial:
    """The pool's interface, run in this process (``procs`` 1: no child processes)."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future


def _thresholds(
    study: Study,
    cal: list[tuple[dict[tuple[tuple[int, int] | None, str], pl.DataFrame], float]],
) -> dict[str, dict[str, tuple[Threshold, ...]]]:
    c = study.config
    hop = c.clock(study.start_ms).ms(c.window_s)
    hours = sum(h for _, h in cal)
    out: dict[str, dict[str, tuple[Threshold, ...]]] = {}
    by_slice: dict[tuple[tuple[int, int] | None, str], tuple[Threshold, ...]] = {}
    for tier in c.tiers:
        out[tier.name] = {}
        for detector in DETECTORS:
            key = (tier.ms, detector)
            if key not in by_slice:
                pooled = _pool((stats[key] for stats, _ in cal))
                by_slice[key] = tuple(
                    calibrate(pooled, hours, per_day / 24.0, hop) for per_day in study.rates
                )
            out[tier.name][detector] = by_slice[key]
    return out


def _pool(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(
        [f.with_columns(pl.lit(i, dtype=pl.Int64).alias("seed")) for i, f in enumerate(frames)]
    )


def _holdout(
    study: Study,
    thresholds: dict[str, dict[str, tuple[Threshold, ...]]],
    hold: list[tuple[dict[tuple[tuple[int, int] | None, str], pl.DataFrame], float]],
    cal_seeds: tuple[int, ...],
    hold_seeds: tuple[int, ...],
) -> Calibrated:
    from datamoat.moat.detect import alarm_episodes, either_episodes

    c = study.config
    hop = c.clock(study.start_ms).ms(c.window_s)
    totals: dict[str, dict[str, tuple[int, ...]]] = {}
    by_seed: dict[str, dict[str, tuple[tuple[int, ...], ...]]] = {}
    for tier in c.tiers:
        totals[tier.name], by_seed[tier.name] = {}, {}
        for detector in DETECTORS:
            per_seed = tuple(
                tuple(
                    alarm_episodes(stats[tier.ms, detector], t.value, hop).height
                    for t in thresholds[tier.name][detector]
                )
                for stats, _ in hold
            )
            by_seed[tier.name][detector] = per_seed
            totals[tier.name][detector] = tuple(
                sum(row[k] for row in per_seed) for k in range(len(study.rates))
            )
    either: dict[str, tuple[int, ...]] = {}
    for tier in c.tiers:
        ts = thresholds[tier.name]
        detectors = ("trend",) if tier.every_s is not None else ("trend", "early")
        either[tier.name] = tuple(
            sum(
                either_episodes(
                    [(stats[tier.ms, d], ts[d][k].value) for d in detectors], hop
                ).height
                for stats, _ in hold
            )
            for k in range(len(study.rates))
        )
    return Calibrated(
        thresholds,
        totals,
        by_seed,
        sum(h for _, h in hold),
        hold_seeds,
        cal_seeds,
        either,
    )
