"""The report's PNG plots, drawn from the summary alone (matplotlib, Agg backend), each with
its 95 % intervals as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

__all__ = ["write_plots"]

_DPI = 110


def write_plots(directory: Path, summary: dict[str, Any]) -> list[str]:
    """Write every plot the summary has data for; their file names."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    sweeps = summary.get("sweeps", {})
    jobs = (
        ("tiers.png", "tiers" in summary, _tiers),
        ("recall_vs_false_alarms.png", "curve" in summary, _curve),
        ("volume.png", "volume" in sweeps, _volume),
        ("burst_sizes.png", "burst_sizes" in sweeps, _burst_sizes),
        ("manipulation.png", "manipulation" in summary, _manipulation),
        ("topn.png", "topn" in sweeps, _topn),
    )
    for name, present, draw in jobs:
        if present:
            draw(directory / name, summary)
            written.append(name)
    return written


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    plt.close(fig)


def _err(
    value: float | None, ci: list[float] | None, scale: float = 1.0
) -> tuple[float, list[float]]:
    if value is None:
        return float("nan"), [0.0, 0.0]
    if ci is None:
        return value * scale, [0.0, 0.0]
    return value * scale, [max(0.0, (value - ci[0]) * scale), max(0.0, (ci[1] - value) * scale)]


def _ci(lo: float | None, hi: float | None) -> list[float] | None:
    return None if lo is None or hi is None else [lo, hi]


def _tiers(path: Path, summary: dict[str, Any]) -> None:
    tiers = summary["tiers"]
    names = list(tiers)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 0.5 * len(names) + 2))
    for i, name in enumerate(names):
        t = tiers[name]
        v, e = _err(t["recall"], t.get("recall_ci95"), 100.0)
        a.errorbar(v, i, xerr=[[e[0]], [e[1]]], fmt="o", capsize=4)
        v, e = _err(t["lead_time_p50_s"], t.get("lead_time_p50_s_ci95"), 1 / 60)
        b.errorbar(v, i, xerr=[[e[0]], [e[1]]], fmt="o", capsize=4)
    for ax in (a, b):
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
    a.set_xlabel("bursts found (%), 95 % interval over seeds")
    b.set_xlabel("lead time p50 (simulated minutes)")
    fig.suptitle(f"Every tier at {summary['settings']['false_alarms_per_day']:g} false alarm a day")
    _save(fig, path)


def _curve(path: Path, summary: dict[str, Any]) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = summary["curve"]
    for name in summary["tiers"]:
        mine = sorted((r for r in rows if r["tier"] == name), key=lambda r: r["false_alarms_per_h"])
        x = [r["false_alarms_per_h"] * 24 for r in mine]
        y, lo, hi = [], [], []
        for r in mine:
            v, e = _err(r["recall"], _ci(r["recall_lo"], r["recall_hi"]), 100.0)
            y.append(v)
            lo.append(e[0])
            hi.append(e[1])
        ax.errorbar(x, y, yerr=[lo, hi], marker="o", capsize=3, label=name)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("false alarms per simulated day (hold-out burst-free seeds)")
    ax.set_ylabel("bursts found (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Recall against false alarms, each tier calibrated on its own")
    _save(fig, path)


def _volume(path: Path, summary: dict[str, Any]) -> None:
    points = summary["sweeps"]["volume"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    names = list(points[0]["tiers"])
    for ax, group in zip(axes, ("niche", "large"), strict=True):
        for name in names:
            xs: list[float] = []
            ys: list[float] = []
            errs: list[list[float]] = [[], []]
            for p in points:
                if not p["scorable"]:
                    continue
                t = p["tiers"][name][group]
                v, e = _err(t["recall"], t.get("recall_ci95"), 100.0)
                xs.append(p["posts_per_day"])
                ys.append(v)
                errs[0].append(e[0])
                errs[1].append(e[1])
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("platform size (posts per simulated day)")
        ax.set_title(f"{group} bursts")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("bursts found (%)")
    axes[1].legend()
    _save(fig, path)


def _burst_sizes(path: Path, summary: dict[str, Any]) -> None:
    rows = summary["sweeps"]["burst_sizes"]
    kinds = sorted({r["kind"] for r in rows}, key=("new", "established", "shift").index)
    fig, axes = plt.subplots(1, len(kinds), figsize=(4.2 * len(kinds), 4), sharey=True)
    axes = [axes] if len(kinds) == 1 else list(axes)
    for ax, kind in zip(axes, kinds, strict=True):
        for name in dict.fromkeys(r["tier"] for r in rows):
            mine = sorted((r for r in rows if r["tier"] == name and r["kind"] == kind),
                          key=lambda r: r["size_ppm"])  # fmt: skip
            xs = [r["size_ppm"] for r in mine]
            ys, lo, hi = [], [], []
            for r in mine:
                v, e = _err(r["recall"], r.get("recall_ci95"), 100.0)
                ys.append(v)
                lo.append(e[0])
                hi.append(e[1])
            ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_xlabel("posts per simulated minute at the peak")
        ax.set_title({"new": "new hashtag", "established": "rise on an established one",
                      "shift": "sentiment shift, flat volume"}[kind])  # fmt: skip
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("found (%)")
    axes[-1].legend()
    _save(fig, path)


def _manipulation(path: Path, summary: dict[str, Any]) -> None:
    m = summary["manipulation"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    minutes = m["campaign_s"] / 60.0
    for name, t in m["tiers"].items():
        pairs = sorted(t["detected_by_rate"])
        ax.plot(
            [r * minutes for r, _ in pairs], [100 * p for _, p in pairs], marker="o", label=name
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"campaign posts ({m['accounts']} accounts, all in ms {m['ms'][0]}-{m['ms'][1]})")
    ax.set_ylabel("campaigns that trended (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Posts timed into the sampled milliseconds")
    _save(fig, path)


def _topn(path: Path, summary: dict[str, Any]) -> None:
    rows = summary["sweeps"]["topn"]
    windows = sorted({r["window_s"] for r in rows})
    fig, axes = plt.subplots(2, len(windows), figsize=(4.2 * len(windows), 7), sharex=True)
    for j, window in enumerate(windows):
        for name in dict.fromkeys(r["tier"] for r in rows):
            mine = sorted((r for r in rows if r["tier"] == name and r["window_s"] == window),
                          key=lambda r: r["n"])  # fmt: skip
            for i, key in enumerate(("overlap", "tau")):
                xs, ys, lo, hi = [], [], [], []
                for r in mine:
                    v, e = _err(r[key], r.get(f"{key}_ci95"))
                    xs.append(r["n"])
                    ys.append(v)
                    lo.append(e[0])
                    hi.append(e[1])
                axes[i][j].errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
        axes[0][j].set_title(f"windows of {window / 60:g} min")
        axes[1][j].set_xlabel("n (top-n hashtags)")
        for i in range(2):
            axes[i][j].set_xscale("log")
            axes[i][j].grid(alpha=0.3)
    axes[0][0].set_ylabel("top-n overlap with the truth")
    axes[1][0].set_ylabel("Kendall's tau-b")
    axes[0][-1].legend()
    _save(fig, path)
