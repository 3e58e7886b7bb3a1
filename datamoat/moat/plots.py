"""The report's PNG plots (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

from datamoat.moat.config import Clock, MoatConfig, Tier
from datamoat.moat.measure import Measured, available
from ingest.firehose.profile import burst_shape
from process.aggregate import STREAM_KEY

__all__ = ["PLOTS", "pick_burst", "write_plots"]

PLOTS = ("lead_time.png", "sentiment_vs_rate.png", "burst_timeline.png")
_DPI = 110


def write_plots(
    directory: Path,
    config: MoatConfig,
    tiers: tuple[Tier, ...],
    measured: Measured,
    clock: Clock,
    lateness_ms: int,
) -> list[str]:
    """Write the three plots into ``directory``; their file names."""
    directory.mkdir(parents=True, exist_ok=True)
    _lead_time(directory / PLOTS[0], tiers, measured)
    _sentiment(directory / PLOTS[1], tiers, measured)
    _timeline(directory / PLOTS[2], config, tiers, measured, clock, lateness_ms)
    return list(PLOTS)


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    plt.close(fig)


def _lead_time(path: Path, tiers: tuple[Tier, ...], measured: Measured) -> None:
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(tiers) + 1.6))
    for i, tier in enumerate(tiers):
        leads = measured.bursts[tier.name].drop_nulls().to_numpy() / 60.0
        y = (
            np.full(len(leads), float(i))
            + np.linspace(-0.15, 0.15, max(len(leads), 1))[: len(leads)]
        )
        ax.scatter(leads, y, s=22, alpha=0.75)
        t = measured.tiers[tier.name]
        if t["lead_time_p50_s"] is not None:
            ax.plot([t["lead_time_p50_s"] / 60.0] * 2, [i - 0.3, i + 0.3], color="black", lw=2)
        ax.annotate(
            f"{t['detected']}/{t['bursts']} detected",
            xy=(1.0, i),
            xycoords=("axes fraction", "data"),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(tiers)), [t.name for t in tiers])
    ax.invert_yaxis()
    ax.set_xlabel("lead time from burst onset to first trending signal (simulated minutes)")
    ax.set_title("Burst detection per access tier (bar: median)")
    ax.grid(axis="x", alpha=0.3)
    _save(fig, path)


def _sentiment(path: Path, tiers: tuple[Tier, ...], measured: Measured) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    by_rate: dict[float, list[str]] = {}
    for tier in tiers:
        by_rate.setdefault(tier.rate, []).append(tier.name)
    rates = sorted(by_rate)
    for key, label, marker in (("sentiment_mae", "MAE", "o"), ("sentiment_p90", "p90", "s")):
        values = [measured.tiers[by_rate[r][0]][key] for r in rates]
        ax.plot(rates, [np.nan if v is None else v for v in values], marker=marker, label=label)
    for r in rates:
        ax.annotate(
            ", ".join(by_rate[r]),
            xy=(r, measured.tiers[by_rate[r][0]]["sentiment_p90"] or 0.0),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("sampling rate (share of posts seen)")
    ax.set_ylabel("|tier - firehose| of window sentiment mean")
    ax.set_title("Sentiment error against the sampling rate")
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path)


def pick_burst(measured: Measured, tiers: tuple[Tier, ...]) -> dict[str, Any] | None:
    """The burst detected by the most tiers; among those the smallest (hardest) one."""
    if measured.bursts.is_empty():
        return None
    names = [t.name for t in tiers]
    ranked = measured.bursts.with_columns(
        pl.sum_horizontal(*(pl.col(n).is_not_null() for n in names)).alias("_tiers")
    ).sort(["_tiers", "peak", "burst"], descending=[True, False, False])
    row: dict[str, Any] = ranked.row(0, named=True)
    return row


def _timeline(
    path: Path,
    config: MoatConfig,
    tiers: tuple[Tier, ...],
    measured: Measured,
    clock: Clock,
    lateness_ms: int,
) -> None:
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    burst = pick_burst(measured, tiers)
    if burst is None:
        ax.text(0.5, 0.5, "no eligible burst in this run", ha="center", transform=ax.transAxes)
        _save(fig, path)
        return
    onset, tag = burst["onset_ms"], burst["hashtag"]
    per_min = 60.0 / config.window_s
    lo, hi = -30.0, config.horizon_s / 60.0
    x = np.linspace(0.0, hi, 400)
    rise_min = burst["rise_s"] / 60.0
    expected = burst["peak"] * config.rate * burst_shape(x / rise_min) * clock.scale * 60.0
    ax.plot(x, expected, color="grey", lw=1, ls="--", label="injected extra rate (truth)")
    grid = (
        measured.estimates[tiers[0].name]
        .filter(pl.col("key") == STREAM_KEY)
        .select("window_start", "window_end")
    )
    top = 0.0
    for tier in tiers:
        # Every window (0 where the tier saw no post of the tag) at the moment the tier gets
        # it; a batch tier gets many at once and shows the newest.
        rows = (
            grid.join(
                measured.estimates[tier.name].filter(pl.col("key") == tag),
                on=["window_start", "window_end"],
                how="left",
            )
            .with_columns(
                pl.col("posts").fill_null(0.0), available(tier, clock, lateness_ms).alias("at")
            )
            .with_columns(((pl.col("at") - onset) / 60_000.0 / clock.scale).alias("x"))
            .filter(pl.col("x").is_between(lo, hi))
            .sort("x", "window_start")
            .group_by("x", maintain_order=True)
            .last()
        )
        if tier.ms is None:
            top = max(top, float(rows["posts"].fill_null(0.0).max() or 0.0) * per_min)  # type: ignore[arg-type]
        line = ax.step(rows["x"], rows["posts"] * per_min, where="post", label=tier.name)
        lead = burst[tier.name]
        if lead is not None:
            ax.axvline(lead / 60.0, color=line[0].get_color(), lw=0.8, ls=":")
    if top > 0:
        ax.set_ylim(0.0, 2.5 * top)  # a 1% sample's single posts scale to spikes of 100
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set_xlim(lo, hi)
    ax.set_xlabel("simulated minutes since the burst's onset (each tier: when it sees a window)")
    ax.set_ylabel(f"#{tag} posts per simulated minute (estimate)")
    ax.set_title(f"#{tag} (peak {burst['peak']:.2f} x rate) as each tier sees it; dotted: flagged")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
