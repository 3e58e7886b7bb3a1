"""A study's figures: every measure over the seeds with a 95 % interval, and each tier
against the firehose on the same events.

* Recall: events found / eligible events, pooled over seeds; the interval resamples seeds
  (a seed's events together: :func:`datamoat.moat.stats.ratio_ci`).
* Lead time: the median over the events a tier found, pooled; interval by the same
  resampling of seeds.
* False alarms per simulated hour: episodes on the hold-out seeds at the tier's threshold,
  with the exact Poisson interval.
* Estimates against the truth: the mean over seeds of each seed's figure, with the seed
  bootstrap interval.
* Against the firehose, paired on the same events: exact McNemar test of found/missed, and
  Wilcoxon's signed-rank test of the lead time on the events both found (n reported);
  a difference is called significant at p < 0.05.
* With early alerts, the same recall and lead time with each burst's lead the earlier of
  the trend detector's and the early detector's (:mod:`datamoat.moat.early`), two ways:
  ``early_alerts``, each detector held to the common rate on its own (so both together
  raise more false alarms), and ``early_alerts_held``, both held to the common rate
  together (detector ``trend_early``: one threshold, the early alarms at the pipeline's
  ratio of its early threshold to its final one). Each with
  the false alarms of both together on the hold-out seeds (``either_per_h``), the paired
  comparison with the tier without early alerts and with the firehose with early alerts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from datamoat.moat.measure import DETECTOR_OF
from datamoat.moat.seeds import StudyRuns
from datamoat.moat.stats import (
    bootstrap_ci,
    mcnemar_exact,
    mean_ci,
    poisson_rate_ci,
    ratio_ci,
    wilcoxon_signed_rank,
)

__all__ = ["ALPHA", "ESTIMATES", "early_figures", "events_frame", "leads_frame", "tier_figures"]

ALPHA = 0.05
#: Estimate measures averaged over seeds (key in SeedMeasures.tiers).
ESTIMATES = (
    "coverage",
    "posts_error",
    "unique_authors_error",
    "top_cascade_size_error",
    "top_cascade_overlap",
    "cascade_coverage",
    "reach_error",
    "sentiment_coverage",
    "sentiment_mae",
    "sentiment_p90",
    "sign_errors",
    "feel_r",
    "feel_sign_agreement",
    "kendall_tau",
)


def events_frame(runs: StudyRuns) -> pl.DataFrame:
    """Every measured seed's eligible events, with a ``seed`` column."""
    return pl.concat(
        [m.events.with_columns(pl.lit(m.seed, dtype=pl.Int64).alias("seed")) for m in runs.measured]
    )


def leads_frame(runs: StudyRuns) -> pl.DataFrame:
    """tier, target, seed, burst, lead_s and early_lead_s (null: missed), with the event's
    kind and size."""
    events = events_frame(runs)
    leads = pl.concat(
        [m.leads.with_columns(pl.lit(m.seed, dtype=pl.Int64).alias("seed")) for m in runs.measured]
    )
    return leads.join(events, on=["seed", "burst"], how="left")


def _q(values: np.ndarray[Any, Any], q: float) -> float | None:
    return float(np.quantile(values, q)) if len(values) else None


def detection(frame: pl.DataFrame, seeds: list[int]) -> dict[str, Any]:
    """Recall and lead time of one tier's rows of :func:`leads_frame` (one target)."""
    per_seed = frame.group_by("seed").agg(
        pl.col("lead_s").is_not_null().sum().alias("found"), pl.len().alias("events")
    )
    counts = {r["seed"]: (r["found"], r["events"]) for r in per_seed.iter_rows(named=True)}
    found = np.array([counts.get(s, (0, 0))[0] for s in seeds], dtype=np.float64)
    events = np.array([counts.get(s, (0, 0))[1] for s in seeds], dtype=np.float64)
    leads_by_seed = [
        frame.filter((pl.col("seed") == s) & pl.col("lead_s").is_not_null())["lead_s"].to_numpy()
        for s in seeds
    ]
    pooled = np.concatenate(leads_by_seed) if leads_by_seed else np.array([])

    def median(clusters: Any) -> float | None:
        values = np.concatenate(list(clusters)) if len(clusters) else np.array([])
        return _q(values, 0.5)

    total = float(events.sum())
    return {
        "bursts": int(total),
        "detected": int(found.sum()),
        "recall": float(found.sum() / total) if total else None,
        "recall_ci95": _pair(ratio_ci(found, events)),
        "lead_time_p50_s": _q(pooled, 0.5),
        "lead_time_p50_s_ci95": _pair(bootstrap_ci(leads_by_seed, median)),
        "lead_time_p90_s": _q(pooled, 0.9),
    }


def versus(tier: pl.DataFrame, reference: pl.DataFrame) -> dict[str, Any]:
    """A tier against the reference tier on the same events (see the module)."""
    both = tier.select("seed", "burst", pl.col("lead_s").alias("t")).join(
        reference.select("seed", "burst", pl.col("lead_s").alias("r")), on=["seed", "burst"]
    )
    t_found, r_found = both["t"].is_not_null(), both["r"].is_not_null()
    b = int((r_found & ~t_found).sum())  # the reference found, the tier missed
    c = int((t_found & ~r_found).sum())
    paired = both.filter(t_found & r_found)
    diff = (paired["t"] - paired["r"]).to_numpy()
    w = wilcoxon_signed_rank(diff)
    p_found = mcnemar_exact(b, c)
    return {
        "events": both.height,
        "only_reference_found": b,
        "only_tier_found": c,
        "mcnemar_p": p_found,
        "recall_differs": p_found < ALPHA,
        "both_found": len(diff),
        "lead_difference_p50_s": _q(diff, 0.5),
        "wilcoxon_n": w.n,
        "wilcoxon_p": w.p_value,
        "lead_differs": w.p_value < ALPHA if w.n else False,
    }


def tier_figures(runs: StudyRuns, reference: str = "firehose") -> dict[str, dict[str, Any]]:
    """Per tier: detection at the common rate (and per kind), false alarms on the hold-out
    seeds, estimates against the truth, and the comparison with ``reference``."""
    study, cal = runs.study, runs.calibrated
    seeds = [m.seed for m in runs.measured]
    leads = leads_frame(runs)
    common = leads.filter(pl.col("target") == 0)
    out: dict[str, dict[str, Any]] = {}
    for tier in study.config.tiers:
        name = tier.name
        mine = common.filter(pl.col("tier") == name)
        mine = mine.filter(pl.col("kind").replace_strict(DETECTOR_OF, default="trend") == "trend")
        fig: dict[str, Any] = {
            "sampling_rate": tier.rate,
            "access": tier.kind,
            **detection(mine, seeds),
        }
        by_kind = {}
        for kind in sorted(set(common["kind"].to_list())):
            rows = common.filter((pl.col("tier") == name) & (pl.col("kind") == kind))
            by_kind[kind] = detection(rows, seeds)
        fig["by_kind"] = by_kind
        alarms = cal.holdout[name]["trend"][0]
        fig["false_alarms"] = alarms
        fig["false_alarms_per_hour"] = alarms / cal.holdout_hours if cal.holdout_hours else None
        fig["false_alarms_per_h"] = fig["false_alarms_per_hour"]
        fig["false_alarms_per_h_ci95"] = _pair(poisson_rate_ci(alarms, cal.holdout_hours))
        fig["early_alerts"] = early_figures(runs, name, common, "early_lead_s", reference)
        fig["early_alerts_held"] = early_figures(runs, name, common, "held_lead_s", reference)
        fig["detector"] = {
            d: {
                "threshold": cal.thresholds[name][d][0].value,
                "method": cal.thresholds[name][d][0].method,
                "calibration_episodes": cal.thresholds[name][d][0].episodes,
                "calibration_hours": cal.thresholds[name][d][0].hours,
                "holdout_episodes": cal.holdout[name][d][0],
                "holdout_per_h": cal.holdout[name][d][0] / cal.holdout_hours,
            }
            for d in cal.thresholds[name]
        }
        fig["measured_false_alarms_per_hour"] = float(
            sum(m.false_alarms[name] for m in runs.measured)
            / max(sum(m.hours for m in runs.measured), 1e-9)
        )
        for key in (*ESTIMATES, f"top{study.config.top_n}_overlap"):
            values = [m.tiers[name].get(key) for m in runs.measured]
            got = np.array([v for v in values if v is not None], dtype=np.float64)
            fig[key] = float(got.mean()) if len(got) else None
            fig[f"{key}_ci95"] = _pair(mean_ci(got)) if len(got) > 1 else None
        if name != reference:
            ref = common.filter(pl.col("tier") == reference)
            fig["versus_" + reference] = versus(common.filter(pl.col("tier") == name), ref)
        out[name] = fig
    return out


def early_figures(
    runs: StudyRuns, name: str, common: pl.DataFrame, column: str, reference: str = "firehose"
) -> dict[str, Any]:
    """Detection of one tier with early alerts at the common rate (``common``: the
    :func:`leads_frame` rows of the common target; ``column``: ``early_lead_s``, each
    detector at its own threshold, or ``held_lead_s``, both at one), against itself without
    them and against ``reference`` with them (see the module)."""
    cal, seeds = runs.calibrated, [m.seed for m in runs.measured]
    tier = next(t for t in runs.study.config.tiers if t.name == name)
    trend = common.filter(pl.col("kind").replace_strict(DETECTOR_OF, default="trend") == "trend")

    def early(who: str) -> pl.DataFrame:
        return trend.filter(pl.col("tier") == who).with_columns(pl.col(column).alias("lead_s"))

    applies = tier.every_s is None
    held = column == "held_lead_s"
    detector = "trend_early" if held else "early"
    threshold = cal.thresholds[name][detector][0]
    if not applies:  # a batch tier: its trend detector alone
        either = cal.holdout[name]["trend"][0]
    elif held:
        either = cal.holdout[name]["trend_early"][0]
    else:
        either = cal.holdout_either.get(name, (0,))[0]
    hours = cal.holdout_hours
    out: dict[str, Any] = {
        "applies": applies,
        "detector": detector,
        **detection(early(name), seeds),
        "threshold": threshold.value,
        "method": threshold.method,
        "either_per_h": either / hours if hours else None,
        "either_per_h_ci95": _pair(poisson_rate_ci(either, hours)),
        "versus_without": versus(early(name), trend.filter(pl.col("tier") == name)),
    }
    if name != reference:
        out["versus_" + reference] = versus(early(name), early(reference))
    return out


def curve(runs: StudyRuns) -> pl.DataFrame:
    """Recall against false alarms per hour: per tier and target, the trend detector's
    recall on the measured seeds and its false-alarm rate on the hold-out seeds."""
    leads = leads_frame(runs).filter(
        pl.col("kind").replace_strict(DETECTOR_OF, default="trend") == "trend"
    )
    seeds = [m.seed for m in runs.measured]
    cal = runs.calibrated
    rows = []
    for tier in runs.study.config.tiers:
        for k, per_day in enumerate(runs.study.rates):
            d = detection(leads.filter((pl.col("tier") == tier.name) & (pl.col("target") == k)),
                          seeds)  # fmt: skip
            alarms = cal.holdout[tier.name]["trend"][k]
            lo, hi = poisson_rate_ci(alarms, cal.holdout_hours)
            rows.append(
                {
                    "tier": tier.name,
                    "target_per_day": per_day,
                    "threshold": cal.thresholds[tier.name]["trend"][k].value,
                    "false_alarms_per_h": alarms / cal.holdout_hours,
                    "fa_lo": lo,
                    "fa_hi": hi,
                    "recall": d["recall"],
                    "recall_lo": (d["recall_ci95"] or [None, None])[0],
                    "recall_hi": (d["recall_ci95"] or [None, None])[1],
                }
            )
    return pl.DataFrame(rows)


def _pair(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(ci[0]), float(ci[1])]
