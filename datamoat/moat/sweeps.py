"""The experiments of ``datamoat moat``, each its own command (``--sweep NAME``).

* ``tiers`` (the default): every tier at the common false-alarm rate, over many seeds, with
  the recall against false-alarm curve.
* ``volume``: the platform's size from the default up to X's (500M posts a day): recall and
  lead time of niche bursts (a few posts a minute) and of large ones (a share of the
  platform) per tier. A large platform simulates a shorter span (``VOLUMES``), with a
  horizon, warm-up and rise times that fit in it; each point injects at least 16 events.
* ``bursts``: burst size in posts per simulated minute, for bursts of new hashtags, rises
  on established ones and sentiment shifts at flat volume.
* ``manipulation``: campaigns timed into the 1 % sample's milliseconds (Pfeffer et al.
  2018): how many posts make a hashtag trend in each tier.
* ``topn``: top-n hashtags against the truth, as Morstatter et al. (ICWSM 2013) measured
  the sample: overlap and Kendall's tau for n from 10 to 1,000, over windows of 5 minutes,
  an hour and a day.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import polars as pl

from datamoat.moat.adversary import Campaign
from datamoat.moat.bursts import shift_capacity
from datamoat.moat.config import MoatConfig
from datamoat.moat.measure import DETECTOR_OF
from datamoat.moat.results import curve, detection, leads_frame, tier_figures
from datamoat.moat.seeds import Progress, Study, StudyRuns, run_study
from datamoat.moat.stats import bootstrap_ci, mean_ci
from ingest.firehose import FirehoseConfig

__all__ = [
    "CURVE_TARGETS",
    "SWEEPS",
    "VOLUMES",
    "at_volume",
    "campaigns",
    "run_sweep",
]

SWEEPS = ("tiers", "bursts", "manipulation", "topn", "volume")
#: False alarms per simulated day of the recall against false-alarm curve (the config's
#: common rate is added).
CURVE_TARGETS = (0.25, 0.5, 2.0, 4.0, 8.0, 16.0)
#: (posts per simulated day, simulated span) of the volume sweep: X's volume is 400-500M.
VOLUMES: tuple[tuple[float, float], ...] = (
    (2_520_000.0, 86_400.0),
    (25_000_000.0, 4 * 3600.0),
    (100_000_000.0, 2 * 3600.0),
    (500_000_000.0, 3600.0),
)
#: Niche bursts of the volume sweep (posts per simulated minute) ...
NICHE_SIZES = (5.0, 10.0, 20.0, 50.0)
#: ... and large ones, as shares of the platform's posts per minute.
LARGE_SHARES = (0.01, 0.02, 0.05, 0.1)
#: The burst-size sweep's sizes (posts per simulated minute) and kinds.
BURST_SIZES = (2.0, 5.0, 10.0, 20.0, 40.0, 100.0, 200.0, 500.0)
BURST_KINDS = ("new", "established", "shift")
#: Campaign rates (posts per simulated minute), each on its own hashtag.
CAMPAIGN_RATES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0)
CAMPAIGN_SPAN_S = 900.0
CAMPAIGN_ACCOUNTS = 50
#: The top-n sweep's n and window lengths (simulated seconds; the config's window first).
TOPN_NS = (10, 30, 100, 300, 1000)
TOPN_WINDOWS_S = (3600.0, 86_400.0)


def at_volume(config: MoatConfig, posts_per_day: float, span_s: float) -> MoatConfig:
    """The config at a platform size: the span, a horizon of at most half of what follows
    the warm-up, rise times that fit the horizon; two burst-free calibration and two
    hold-out seeds, each as long as the span (the thresholds of the largest platforms come
    from the tail, and their hold-out rates are reported per point)."""
    quiet = 2
    warm_s = 6 * config.window_s
    horizon = min(config.horizon_s, max(config.window_s * 2, (span_s - warm_s) / 2))
    rise = (min(config.burst_rise_s[0], horizon / 12), min(config.burst_rise_s[1], horizon / 4))
    return replace(
        config,
        posts_per_day=posts_per_day,
        duration_s=span_s,
        horizon_s=horizon,
        burst_rise_s=rise,
        calibration_seeds=min(config.calibration_seeds, quiet),
        holdout_seeds=min(config.holdout_seeds, quiet),
    )


def campaigns(config: MoatConfig, seed: int, first_ms: int, last_ms: int) -> tuple[Campaign, ...]:
    """One campaign per rate of CAMPAIGN_RATES, each on its own hashtag, spread over the run."""
    clock = config.clock(first_ms)
    span = clock.ms(CAMPAIGN_SPAN_S)
    n = len(CAMPAIGN_RATES)
    step = (last_ms - first_ms) / n
    order = np.random.Generator(np.random.PCG64([seed, 0xAD])).permutation(n)
    out = []
    for slot, k in enumerate(order.tolist()):
        start = first_ms + round(slot * step)
        out.append(
            Campaign(
                number=k + 1,
                hashtag=f"astroturf{k + 1}",
                start_ms=start,
                end_ms=start + span,
                per_minute=CAMPAIGN_RATES[k],
                minute_ms=clock.ms(60.0),
                accounts=CAMPAIGN_ACCOUNTS,
            )
        )
    return tuple(out)


def run_sweep(name: str, base: Study, progress: Progress | None = None) -> dict[str, Any]:
    """Run one experiment; its section of the summary."""
    targets = (base.config.false_alarms_per_day, *CURVE_TARGETS)
    if name == "tiers":
        runs = run_study(replace(base, targets=targets), progress)
        return {
            "tiers": tier_figures(runs),
            "curve": curve(runs).to_dicts(),
            "bursts": _events(runs),
            **_calibration(runs),
            "wall_s": runs.wall_s,
        }
    if name == "volume":
        return _volume(base, progress)
    if name == "bursts":
        return _bursts(base, progress)
    if name == "manipulation":
        return _manipulation(base, progress)
    if name == "topn":
        return _topn(base, progress)
    raise ValueError(f"unknown sweep {name!r}")


def _calibration(runs: StudyRuns) -> dict[str, Any]:
    cal = runs.calibrated
    return {
        "calibration_seeds": list(cal.calibration_seeds),
        "holdout_seeds": list(cal.holdout_seeds),
        "holdout_hours": cal.holdout_hours,
        "seeds": [m.seed for m in runs.measured],
        "posts_per_seed": [m.posts for m in runs.measured],
    }


def _events(runs: StudyRuns) -> list[dict[str, Any]]:
    """Every measured event with each tier's lead time at the common rate (null: missed)."""
    leads = leads_frame(runs).filter(pl.col("target") == 0)
    wide = leads.pivot(on="tier", index=["seed", "burst"], values="lead_s")
    events = leads.select("seed", "burst", "hashtag", "kind", "size_ppm", "onset_ms").unique()
    return events.join(wide, on=["seed", "burst"]).sort("seed", "onset_ms").to_dicts()


def _volume(base: Study, progress: Progress | None) -> dict[str, Any]:
    points = []
    for posts_per_day, span in VOLUMES:
        c = at_volume(base.config, posts_per_day, span)
        per_minute = c.posts_per_minute
        large = tuple(round(s * per_minute, 1) for s in LARGE_SHARES)
        is_large = pl.col("size_ppm").round(1).is_in(list(large))
        plan = tuple(("new", s) for s in (*NICHE_SIZES, *large)) * 2
        study = replace(base, config=c, plan=plan, targets=(c.false_alarms_per_day,))
        runs = run_study(study, progress)
        leads = leads_frame(runs).filter(pl.col("target") == 0)
        seeds = [m.seed for m in runs.measured]
        row: dict[str, Any] = {
            "posts_per_day": posts_per_day,
            "span_s": span,
            "horizon_s": c.horizon_s,
            "rise_s": list(c.burst_rise_s),
            "large_sizes_ppm": list(large),
            "calibration_seeds": c.calibration_seeds,
            "holdout_seeds": c.holdout_seeds,
            "posts_per_seed": [m.posts for m in runs.measured],
            "events_per_seed": len(plan),
            "wall_s": runs.wall_s,
            "tiers": {},
        }
        for tier in c.tiers:
            mine = leads.filter(pl.col("tier") == tier.name)
            row["tiers"][tier.name] = {
                "niche": detection(mine.filter(~is_large), seeds),
                "large": detection(mine.filter(is_large), seeds),
                "threshold": runs.calibrated.thresholds[tier.name]["trend"][0].value,
                "method": runs.calibrated.thresholds[tier.name]["trend"][0].method,
                "holdout_per_h": runs.calibrated.holdout[tier.name]["trend"][0]
                / runs.calibrated.holdout_hours,
            }
        row["scorable"] = min(
            r["niche"]["bursts"] + r["large"]["bursts"] for r in row["tiers"].values()
        ) >= 16  # fmt: skip
        points.append(row)
    return {"volume": points, "niche_sizes": list(NICHE_SIZES), "large_shares": list(LARGE_SHARES)}


def _bursts(base: Study, progress: Progress | None) -> dict[str, Any]:
    c = base.config
    capacity = shift_capacity(FirehoseConfig(rate=c.rate, day_in_s=c.day_in_s), c.posts_per_minute)
    plan = tuple(
        (kind, size)
        for kind in BURST_KINDS
        for size in BURST_SIZES
        if kind != "shift" or size <= capacity
    )
    runs = run_study(replace(base, plan=plan, targets=(c.false_alarms_per_day,)), progress)
    leads = leads_frame(runs).filter(pl.col("target") == 0)
    seeds = [m.seed for m in runs.measured]
    rows = []
    for tier in c.tiers:
        for kind, size in plan:
            mine = leads.filter(
                (pl.col("tier") == tier.name) & (pl.col("kind") == kind)
                & (pl.col("size_ppm").round(6) == round(size, 6) if kind != "shift"
                   else (pl.col("size_ppm") - size).abs() < 1e-6)
            )  # fmt: skip
            rows.append({"tier": tier.name, "kind": kind, "size_ppm": size,
                         "detector": DETECTOR_OF[kind], **detection(mine, seeds)})  # fmt: skip
    return {
        "burst_sizes": rows,
        "shift_capacity_ppm": capacity,
        "seeds": seeds,
        "wall_s": runs.wall_s,
    }


def _manipulation(base: Study, progress: Progress | None) -> dict[str, Any]:
    c = base.config
    study = replace(base, events=0, plan=(), campaigns=campaigns, targets=(c.false_alarms_per_day,))
    runs = run_study(study, progress)
    leads = leads_frame(runs).filter(pl.col("target") == 0)
    minute = CAMPAIGN_SPAN_S / 60.0
    per_tier: dict[str, Any] = {}
    needed: dict[str, list[float | None]] = {}
    for tier in c.tiers:
        mine = leads.filter(pl.col("tier") == tier.name)
        per_seed = []
        for m in runs.measured:
            found = mine.filter((pl.col("seed") == m.seed) & pl.col("lead_s").is_not_null())
            smallest = found["size_ppm"].min()
            per_seed.append(None if smallest is None else float(smallest) * minute)  # type: ignore[arg-type]
        needed[tier.name] = per_seed
        detected = mine.group_by("size_ppm").agg(pl.col("lead_s").is_not_null().mean().alias("p"))
        got = np.array([v for v in per_seed if v is not None])
        per_tier[tier.name] = {
            "posts_to_trend": float(np.median(got)) if len(got) else None,
            "posts_to_trend_ci95": _pair(mean_ci(got)) if len(got) > 1 else None,
            "never": sum(v is None for v in per_seed),
            "detected_by_rate": sorted(detected.rows()),
        }
    amplification: dict[str, float | None] = {}
    fh = per_tier["firehose"]["posts_to_trend"] if "firehose" in per_tier else None
    for name, t in per_tier.items():
        amplification[name] = (
            fh / t["posts_to_trend"] if fh is not None and t["posts_to_trend"] else None
        )
    ratios = [
        (f / s) for f, s in zip(needed.get("firehose", []), needed.get("sample", []), strict=False)
        if f is not None and s is not None
    ]  # fmt: skip
    return {
        "manipulation": {
            "rates_per_minute": list(CAMPAIGN_RATES),
            "campaign_s": CAMPAIGN_SPAN_S,
            "accounts": CAMPAIGN_ACCOUNTS,
            "ms": [657, 666],
            "posts_to_trend": {k: v["posts_to_trend"] for k, v in per_tier.items()},
            "tiers": per_tier,
            "amplification": amplification.get("sample"),
            "amplification_by_tier": amplification,
            "amplification_ci95": _pair(
                bootstrap_ci([[r] for r in ratios], lambda xs: float(np.median([x[0] for x in xs])))
            ),
            "seeds": [m.seed for m in runs.measured],
            "reference": "Pfeffer, Mayer and Morstatter, Tampering with Twitter's Sample API, "
            "EPJ Data Science 7:50 (2018)",
            "wall_s": runs.wall_s,
        }
    }


def _topn(base: Study, progress: Progress | None) -> dict[str, Any]:
    c = base.config
    clock = c.clock(base.start_ms)
    buckets = tuple(clock.ms(s) for s in (c.window_s, *TOPN_WINDOWS_S))
    names = {b: s for b, s in zip(buckets, (c.window_s, *TOPN_WINDOWS_S), strict=True)}
    study = replace(base, topn=(TOPN_NS, buckets), targets=(c.false_alarms_per_day,))
    runs = run_study(study, progress)
    frames = [m.topn.with_columns(pl.lit(m.seed).alias("seed")) for m in runs.measured
              if m.topn is not None]  # fmt: skip
    allrows = pl.concat(frames, how="diagonal_relaxed")
    rows = []
    for (tier, bucket, n), g in allrows.group_by("tier", "bucket_ms", "n", maintain_order=True):
        overlap = g["overlap"].drop_nulls().to_numpy()
        tau = g["tau"].drop_nulls().to_numpy()
        rows.append(
            {
                "tier": tier,
                "window_s": names[int(str(bucket))],
                "n": n,
                "overlap": float(overlap.mean()) if len(overlap) else None,
                "overlap_ci95": _pair(mean_ci(overlap)) if len(overlap) > 1 else None,
                "tau": float(tau.mean()) if len(tau) else None,
                "tau_ci95": _pair(mean_ci(tau)) if len(tau) > 1 else None,
            }
        )
    return {"topn": rows, "seeds": [m.seed for m in runs.measured], "wall_s": runs.wall_s}


def _pair(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(ci[0]), float(ci[1])]
