"""How X-like is a sample of the firehose? Statistics against published reference values.

References (see the real cascades' README): Goel et al. 2016 for repost counts per original,
the TiDeH/SEISMIC cascades for delays, follower tails and the daily swing. The sample must
be long enough to contain whole days and whole cascades; with ``day_in_s`` the report works
in model time, so a compressed stream is judged against the real-day figures.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

__all__ = ["REFERENCES", "realism_report", "render_report", "within_tolerance"]

#: name -> (reference value, lowest acceptable, highest acceptable)
REFERENCES: dict[str, tuple[float, float, float]] = {
    "zero_repost_share": (0.93, 0.90, 0.96),
    "one_repost_share": (0.05, 0.025, 0.08),
    "two_repost_share": (0.009, 0.003, 0.02),
    "delay_share_5m": (0.13, 0.03, 0.23),
    "delay_share_1h": (0.37, 0.27, 0.47),
    "delay_share_6h": (0.67, 0.57, 0.77),
    "delay_share_24h": (0.89, 0.79, 0.99),
    "follower_tail_exponent": (2.46, 2.26, 2.66),
    "hashtag_zipf_exponent": (1.0, 0.8, 1.2),
    "diurnal_swing": (2.5, 2.2, 2.8),
}
_DELAYS_S = {"delay_share_5m": 300, "delay_share_1h": 3600, "delay_share_6h": 21_600}
_DAY_S = 86_400.0


def _observed(
    df: pl.DataFrame, scale_ms: float, observe_s: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Originals observed for ``observe_s`` model seconds, and their reposts with delays."""
    last = df["created_at"].max()
    horizon = observe_s * scale_ms
    assert isinstance(last, int)
    roots = df.filter((pl.col("kind") == "post") & (pl.col("created_at") <= last - horizon))
    reposts = (
        df.filter(pl.col("kind") == "repost")
        .select("root_id", "created_at")
        .join(roots.select("post_id", root_t="created_at"), left_on="root_id", right_on="post_id")
        .with_columns(delay_s=(pl.col("created_at") - pl.col("root_t")) / scale_ms)
    )
    return roots.select("post_id"), reposts


def _tail_exponent(x: np.ndarray, xmin: float) -> float:
    tail = x[x >= xmin].astype(np.float64)
    if len(tail) < 10:
        return math.nan
    return 1.0 + len(tail) / float(np.log(tail / xmin).sum())


def _zipf_exponent(tags: pl.Series, ranks: int) -> float:
    counts = tags.value_counts(sort=True)["count"].to_numpy()[:ranks].astype(np.float64)
    counts = counts[counts >= 5]
    if len(counts) < 10:
        return math.nan
    r = np.arange(1, len(counts) + 1, dtype=np.float64)
    slope = np.polyfit(np.log(r), np.log(counts), 1)[0]
    return float(-slope)


def _diurnal_swing(created: np.ndarray, day_ms: float) -> float:
    """Peak/trough ratio of the first daily harmonic (robust to bursts)."""
    if len(created) == 0 or created[-1] - created[0] < day_ms:
        return math.nan
    span = created[-1] - created[0]
    whole = created[created < created[0] + math.floor(span / day_ms) * day_ms]
    phase = 2.0 * math.pi * ((whole - created[0]) % day_ms) / day_ms
    c1 = complex(np.exp(1j * phase).mean())
    a = min(2.0 * abs(c1), 0.999)
    return (1.0 + a) / (1.0 - a)


def realism_report(
    df: pl.DataFrame,
    *,
    day_in_s: float | None = None,
    observe_s: float = 7 * _DAY_S,
    large_min: int = 50,
    followers_xmin: float = 1100.0,
    zipf_ranks: int = 1000,
) -> dict[str, float]:
    """Statistics of a firehose sample (POST_SCHEMA rows in event-time order).

    Repost counts: originals observed for ``observe_s`` (model seconds). Delay shares:
    cascades with at least ``large_min`` reposts in that time, median over cascades of the
    share of reposts within 5 min / 1 h / 6 h / 24 h of the original (shares of what arrived
    within ``observe_s``; the reference cascades were observed for 7 days).
    """
    scale_ms = 1000.0 * (1.0 if day_in_s is None else day_in_s / _DAY_S)
    out: dict[str, float] = {"posts": float(df.height)}
    roots, reposts = _observed(df, scale_ms, observe_s)
    reposts = reposts.filter(pl.col("delay_s") <= observe_s)
    sizes = roots.join(
        reposts.group_by("root_id").len(), left_on="post_id", right_on="root_id", how="left"
    )
    n = sizes["len"].fill_null(0).to_numpy()
    out["originals_observed"] = float(len(n))
    for count, word in enumerate(("zero", "one", "two")):
        out[f"{word}_repost_share"] = float((n == count).mean()) if len(n) else math.nan
    out["hundred_plus_share"] = float((n >= 100).mean()) if len(n) else math.nan
    large = sizes.filter(pl.col("len") >= large_min)["post_id"]
    out["large_cascades"] = float(len(large))
    delays = reposts.filter(pl.col("root_id").is_in(large.implode()))
    shares = delays.group_by("root_id").agg(
        [(pl.col("delay_s") <= s).mean().alias(k) for k, s in _DELAYS_S.items()]
        + [(pl.col("delay_s") <= _DAY_S).mean().alias("delay_share_24h")]
    )
    for name in [*_DELAYS_S, "delay_share_24h"]:
        med = shares[name].median() if shares.height else None
        out[name] = float(med) if isinstance(med, float) else math.nan
    out["follower_tail_exponent"] = _tail_exponent(df["followers"].to_numpy(), followers_xmin)
    out["hashtag_zipf_exponent"] = _zipf_exponent(df["hashtags"].explode().drop_nulls(), zipf_ranks)
    created = df["created_at"].to_numpy()
    out["diurnal_swing"] = _diurnal_swing(created, _DAY_S * scale_ms)
    span_s = (created[-1] - created[0]) / 1000.0 if len(created) > 1 else 0.0
    out["rate"] = df.height / span_s if span_s > 0 else math.nan
    kinds = df["kind"].value_counts()
    for kind in ("repost", "reply", "quote"):
        count = int(kinds.filter(pl.col("kind") == kind)["count"].sum())
        out[f"{kind}_share"] = count / max(df.height, 1)
    out["non_english_share"] = float(np.mean(df["lang"].to_numpy() != "en")) if df.height else 0.0
    return out


def within_tolerance(report: dict[str, float]) -> dict[str, bool]:
    """For each reference statistic present (not NaN) in the report: is it in tolerance?"""
    return {
        k: lo <= report[k] <= hi
        for k, (_, lo, hi) in REFERENCES.items()
        if k in report and not math.isnan(report[k])
    }


def render_report(report: dict[str, float]) -> str:
    """A plain-text table: statistic, value, reference, accepted range, verdict."""
    ok = within_tolerance(report)
    lines = [f"{'statistic':<24} {'value':>12} {'reference':>10} {'range':>16}  ok"]
    for k, v in report.items():
        if k in REFERENCES:
            ref, lo, hi = REFERENCES[k]
            verdict = "-" if k not in ok else ("yes" if ok[k] else "NO")
            lines.append(f"{k:<24} {v:>12.4g} {ref:>10.4g} {f'{lo:.4g}..{hi:.4g}':>16}  {verdict}")
        else:
            lines.append(f"{k:<24} {v:>12.4g}")
    return "\n".join(lines)
