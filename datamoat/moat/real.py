"""The moat on real posts (``datamoat moat --input F``): the access tiers over a file of
posts in the pipeline's contract (what ``datamoat ingest`` writes), with no generator
behind it.

Without a burst book there is no ground truth of what happened, and without burst-free
seeds no detector can be calibrated, so what applies is narrower than on the synthetic
streams, and the report says so:

* **Estimates** against the exact values over every post of the file (the firehose tier
  sees them all): coverage, count and sentiment errors and top-n, as on synthetic streams.
* **Detection agreement**: the firehose tier's own trend episodes (the pipeline's trend
  rule at its threshold) are the reference. A tier agrees on an episode when it flags the
  same hashtag in a window ending after the episode began and available within the horizon
  of it; its lead is its first availability minus the firehose's. Each sampled tier uses
  the firehose's rule on its scaled counts, at the same threshold: not a common
  false-alarm rate, which needs burst-free streams to calibrate on.
* **Intervals** resample the reference episodes (percentile bootstrap).

On Bluesky, which gives everyone the whole stream, the millisecond tiers are a simulation
of X's products on real posts, not access anyone is sold there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from datamoat.errors import ConfigError
from datamoat.moat.config import MoatConfig, Tier
from datamoat.moat.detect import alarm_episodes, trend_stat
from datamoat.moat.measure import against_truth, available, estimates
from datamoat.moat.stats import bootstrap_ci
from datamoat.moat.stream import Pass, run_pass
from ingest.schema import POST_SCHEMA, REQUIRED_COLUMNS
from process.cascades import CascadeConfig
from process.trends import TrendConfig

__all__ = ["PostsFile", "real_markdown", "real_study"]


class PostsFile:
    """A file of posts as the pass reads a stream: ``take_until`` in time order."""

    def __init__(self, posts: pl.DataFrame) -> None:
        self.posts = posts.sort("created_at", "post_id")
        first = self.posts["created_at"].min() if self.posts.height else 0
        self.start_ms = int(first) if isinstance(first, int) else 0
        self._at = 0

    @classmethod
    def read(cls, path: Path) -> PostsFile:
        try:
            frame = pl.read_ndjson(path, schema=POST_SCHEMA)
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise ConfigError(
                f"--input {path}: can't read it as posts in datamoat's contract ({exc}); "
                "'datamoat validate' says what is wrong"
            ) from None
        if frame.height == 0:
            raise ConfigError(f"--input {path}: no posts in it")
        missing = [c for c in REQUIRED_COLUMNS if frame[c].null_count()]
        if missing:
            raise ConfigError(
                f"--input {path}: {frame[missing[0]].null_count():,} records have no "
                f"{missing[0]}; 'datamoat validate {path}' lists what is wrong"
            )
        return cls(frame)

    def take_until(self, end_ms: int) -> pl.DataFrame:
        times = self.posts["created_at"]
        stop = int(times.search_sorted(end_ms, side="left"))
        out = self.posts.slice(self._at, stop - self._at)
        self._at = max(self._at, stop)
        return out

    def take(self, n: int) -> pl.DataFrame:
        out = self.posts.slice(self._at, n)
        self._at += out.height
        return out

    @property
    def end_ms(self) -> int:
        last = self.posts["created_at"].max()
        return int(last) + 1 if isinstance(last, int) else self.start_ms


@dataclass(frozen=True, slots=True)
class _Reference:
    episodes: pl.DataFrame  # key, first, last, peak, available_ms


def real_study(
    config: MoatConfig, path: Path, trend: TrendConfig, cascade: CascadeConfig
) -> dict[str, Any]:
    """Every tier over the file's posts; the summary (see the module)."""
    source = PostsFile.read(path)
    end_ms = source.end_ms
    done = run_pass(config, config.tiers, source, end_ms=end_ms, cascade=cascade, trend=trend,
                    early_step_s=None)  # fmt: skip
    clock = config.clock(source.start_ms)
    spec = done.spec
    horizon = clock.ms(config.horizon_s)
    hop = spec.hop_ms
    exact = estimates(done.signals[None], 1.0)
    ref = _reference(done, config.tiers[0], trend, clock, spec.allowed_lateness_ms)
    tiers: dict[str, dict[str, Any]] = {}
    for tier in config.tiers:
        est = estimates(done.signals[tier.ms], tier.rate)
        stat = trend_stat(done.signals[tier.ms], done.trend[tier.ms])
        hits = stat.filter(pl.col("stat") >= done.trend[tier.ms].threshold).with_columns(
            available(tier, clock, spec.allowed_lateness_ms).alias("available_ms")
        )
        leads = _agreement(ref, hits, horizon, clock.scale)
        found = leads["lead_s"].is_not_null().to_numpy()
        lead = leads["lead_s"].drop_nulls().to_numpy()
        clusters = list(leads.iter_rows())
        tiers[tier.name] = {
            "sampling_rate": tier.rate,
            "access": tier.kind,
            "episodes": leads.height,
            "agreement": float(found.mean()) if len(found) else None,
            "agreement_ci95": _pair(
                bootstrap_ci(
                    clusters, lambda rows: float(np.mean([r[1] is not None for r in rows]))
                )
            ),
            "lead_vs_firehose_p50_s": float(np.median(lead)) if len(lead) else None,
            "lead_vs_firehose_p50_s_ci95": _pair(
                bootstrap_ci(
                    clusters,
                    lambda rows: _median([r[1] for r in rows if r[1] is not None]),
                )
            ),
            **against_truth(config, exact, est, done.feel, hop),
        }
    return {
        "input": str(path),
        "posts": done.posts,
        "first_ms": source.start_ms,
        "end_ms": end_ms,
        "hours": (end_ms - source.start_ms) / 3_600_000 / clock.scale,
        "windows": int(exact["window_start"].n_unique()),
        "reference_episodes": ref.episodes.height,
        "trend_threshold": trend.threshold,
        "tiers": tiers,
        "applies": [
            "estimates against every post of the file (coverage, errors, top-n)",
            "detection agreement and lead against the firehose tier's own trend episodes",
        ],
        "does_not_apply": [
            "recall and lead against known onsets (no burst book)",
            "a common false-alarm rate (no burst-free streams to calibrate on): every tier "
            "uses the firehose's trend rule on its scaled counts",
            "agreement with how people felt (no generator behind the posts)",
        ],
    }


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _reference(
    done: Pass, tier: Tier, trend: TrendConfig, clock: Any, lateness_ms: int
) -> _Reference:
    """The firehose tier's trend episodes and the availability of each one's first window."""
    stat = trend_stat(done.signals[None], done.trend[None])
    episodes = alarm_episodes(stat, trend.threshold, done.spec.hop_ms)
    first_end = pl.col("first") + done.spec.size_ms
    return _Reference(
        episodes.with_row_index("episode").with_columns(
            (first_end + lateness_ms + clock.ms(tier.delay_s)).alias("available_ms")
        )
    )


def _agreement(ref: _Reference, hits: pl.DataFrame, horizon: int, scale: float) -> pl.DataFrame:
    """Per reference episode: the tier's lead (its first alarm's availability minus the
    firehose's, simulated seconds), null when it did not flag the key within the horizon."""
    e = ref.episodes.select("episode", "key", "first", pl.col("available_ms").alias("ref_ms"))
    joined = e.join(hits.select("key", "window_end", "available_ms"), on="key").filter(
        (pl.col("window_end") > pl.col("first"))
        & (pl.col("available_ms") <= pl.col("first") + horizon)
    )
    first = joined.group_by("episode").agg(
        ((pl.col("available_ms") - pl.col("ref_ms")).min() / 1000.0 / scale).alias("lead_s")
    )
    return e.select("episode").join(first, on="episode", how="left").sort("episode")


def _pair(ci: tuple[float, float] | None) -> list[float] | None:
    return None if ci is None else [float(ci[0]), float(ci[1])]


def real_markdown(summary: dict[str, Any]) -> str:
    """The report of ``moat --input``: what applies, the table, what does not apply."""
    lines = [
        "# The moat on real posts",
        "",
        f"`{summary.get('command', 'datamoat moat --input')}`",
        "",
        f"{summary['posts']:,} posts of `{summary['input']}` over {summary['hours']:.1f} hours "
        f"({summary['windows']} windows); {summary['reference_episodes']} trend episodes of "
        f"the firehose tier (trend score >= {summary['trend_threshold']:g}) are the reference.",
        "",
        "| tier | access | agreement | lead vs firehose p50 | coverage | sent. MAE | top-10 "
        "| authors err |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, t in summary["tiers"].items():
        ci = t.get("agreement_ci95")
        agree = "-" if t["agreement"] is None else f"{t['agreement']:.1%}"
        if ci:
            agree += f" [{ci[0]:.1%}, {ci[1]:.1%}]"
        lead = t["lead_vs_firehose_p50_s"]
        lines.append(
            f"| {name} | {t['access']} | {agree} | "
            f"{'-' if lead is None else f'{lead / 60:+.1f} min'} | "
            f"{_pct(t.get('coverage'))} | {_num(t.get('sentiment_mae'))} | "
            f"{_num(t.get('top10_overlap'))} | {_pct(t.get('unique_authors_error'))} |"
        )
    lines += ["", "What applies without a burst book or seeds:", ""]
    lines += [f"- {x}" for x in summary["applies"]]
    lines += ["", "What does not:", ""]
    lines += [f"- {x}" for x in summary["does_not_apply"]]
    lines += [
        "",
        "On Bluesky, which gives everyone the whole stream, the millisecond tiers are a "
        "simulation of X's products on real posts.",
        "",
    ]
    return "\n".join(lines)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:.1%}"


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}"
