"""One pass over the generated stream: every tier's signals from the signal engine.

Posts are generated in chunks of event time, scored once (VADER, as the pipeline does),
then each distinct slice of ``created_at`` milliseconds gets its own
:class:`process.engine.WindowEngine`. Tiers that see the same posts (firehose, delayed,
hourly) share one engine: they differ only in when the signals become available, which
:mod:`datamoat.moat.measure` applies afterwards.

A sampled engine (rate p < 1) scores trends as the firehose's rule does on counts scaled by
1/p, which is the same as its own counts with the noise floor and the support scaled by p
(:func:`sampled_trend`). No tier's detection threshold is set here: every tier's detector is
calibrated afterwards to one false-alarm rate (:mod:`datamoat.moat.detect`).

For the early alerts (:mod:`datamoat.moat.early`), each engine's posts are also counted per
(window, key, checkpoint of the open window): original posts only, as the trend rule counts.

Beside the engines, the pass keeps what only the generator knows: per (window, key) the sum
of the generator's own per-post polarity over every post (``feel``), the "how people felt"
that sentiment estimates are held against. Campaign posts (:mod:`datamoat.moat.adversary`)
join the stream where their times fall.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import polars as pl

from datamoat.moat.adversary import Campaign, campaign_posts
from datamoat.moat.config import MoatConfig, Tier
from datamoat.moat.early import EARLY_STEP_S, step_counts, sum_steps
from datamoat.pipeline import score
from process.aggregate import NEGATIVE_AT, POSITIVE_AT, explode_keys
from process.cascades import CascadeConfig
from process.engine import WindowEngine
from process.trends import TrendConfig
from process.windows import WindowSpec

__all__ = ["Pass", "Progress", "Stream", "millis_filter", "run_pass", "sampled_trend"]

Slice = tuple[int, int] | None


class Stream(Protocol):
    """What a pass reads: the generator (:class:`ingest.firehose.Firehose`) or a file of
    posts (:class:`datamoat.moat.real.PostsFile`), in time order."""

    @property
    def start_ms(self) -> int: ...

    def take_until(self, end_ms: int) -> pl.DataFrame: ...

    def take(self, n: int) -> pl.DataFrame: ...


#: Called with (event ms reached, posts so far).
Progress = Callable[[int, int], None]

_CHUNK_WINDOWS = 4
_CHUNK_POSTS = 400_000


def _chunk_ms(config: MoatConfig) -> int:
    return max(1, round(_CHUNK_POSTS / config.rate * 1000))


def millis_filter(ms: Slice) -> pl.Expr:
    """True for the posts a tier with this ``created_at`` millisecond slice sees."""
    if ms is None:
        return pl.lit(True)
    return (pl.col("created_at") % 1000).is_between(ms[0], ms[1], closed="both")


def sampled_trend(base: TrendConfig, rate: float) -> TrendConfig:
    """The score rule of a tier seeing a share ``rate`` of the posts: the firehose's rule on
    counts scaled by 1/p (noise floor and support scaled by p, at least one post)."""
    if rate >= 1.0:
        return base
    support = max(1, math.ceil(base.min_support * rate))
    return replace(base, floor=base.floor * rate, min_support=support)


@dataclass(slots=True)
class _Group:
    ms: Slice
    engine: WindowEngine
    out: list[pl.DataFrame] = field(default_factory=list)
    texts: list[pl.DataFrame] = field(default_factory=list)
    steps: list[pl.DataFrame] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass produced: signals per millisecond slice, and the stream's extent."""

    signals: dict[Slice, pl.DataFrame]
    trend: dict[Slice, TrendConfig]
    feel: pl.DataFrame
    """Per (window_start, key) over every post: ``feel_sum`` (the generator's polarities,
    -1/0/1, summed) and ``feel_posts``; empty when the stream has no ``polarity``."""
    texts: dict[Slice, pl.DataFrame]
    """Per slice, the sentiment of its own texts per (window, key): every scored post but
    reposts (a repost repeats its source's text). ``window_start``, ``window_end``, ``key``,
    ``scored``, ``positive_share``, ``negative_share``, as signal rows name them."""
    spec: WindowSpec
    posts: int
    first_ms: int
    end_ms: int
    steps: dict[Slice, pl.DataFrame] = field(default_factory=dict)
    """Per slice, original posts per (window, key, checkpoint) (STEP_SCHEMA of
    :mod:`datamoat.moat.early`); empty when the pass counted none."""
    step_ms: int = 0
    """Checkpoints of an open window are this many event-time ms apart (0: none)."""


def run_pass(
    config: MoatConfig,
    tiers: tuple[Tier, ...],
    firehose: Stream,
    *,
    end_ms: int | None = None,
    posts: int | None = None,
    cascade: CascadeConfig | None = None,
    trend: TrendConfig | None = None,
    campaigns: tuple[Campaign, ...] = (),
    progress: Progress | None = None,
    early_step_s: float | None = EARLY_STEP_S,
) -> Pass:
    """Feed the stream up to ``end_ms`` (epoch ms, event time) or ``posts`` posts; with
    ``early_step_s`` (simulated seconds), count original posts per checkpoint that far apart
    in each open window (None: no early alerts)."""
    if (end_ms is None) == (posts is None):
        raise ValueError("give exactly one of end_ms and posts")
    spec = config.window_spec()
    base = trend or TrendConfig()
    cascade = cascade or CascadeConfig()
    # a few windows at a time, fewer at a large platform's rate (memory stays bounded)
    step_ms = max(spec.size_ms // 4, min(spec.size_ms * _CHUNK_WINDOWS, _chunk_ms(config)))
    groups: dict[Slice, _Group] = {}
    for tier in tiers:
        if tier.ms not in groups:
            engine = WindowEngine(
                spec,
                idle_timeout_ms=2**40,
                trend_config=sampled_trend(base, tier.rate),
                cascade_config=cascade,
            )
            groups[tier.ms] = _Group(tier.ms, engine)
    t, seen, last_ms = firehose.start_ms, 0, firehose.start_ms
    feel: list[pl.DataFrame] = []
    chunk_posts = max(1, round(config.rate * step_ms / 1000))
    early_ms = 0 if early_step_s is None else max(1, config.clock(0).ms(early_step_s))
    while True:
        if end_ms is not None:
            if t >= end_ms:
                break
            t = min(t + step_ms, end_ms)
            batch = firehose.take_until(t)
            if campaigns:
                batch = _with_campaigns(batch, campaigns, t - step_ms, t)
        else:
            assert posts is not None
            if seen >= posts:
                break
            batch = firehose.take(min(chunk_posts, posts - seen))
            t = int(batch["created_at"][-1]) + 1
        if batch.height:
            if "polarity" in batch.columns:
                feel.append(_feel(spec, batch))
                batch = batch.drop("polarity")
            _feed(groups, batch, seen, t, early_ms)
            seen += batch.height
            last_ms = int(batch["created_at"][-1])
        if progress is not None:
            progress(t, seen)
    for g in groups.values():
        g.out.append(g.engine.flush())
    signals = {ms: pl.concat(g.out) for ms, g in groups.items()}
    texts = {ms: _texts_of(g.texts, spec) for ms, g in groups.items()}
    trends = {ms: g.engine.trend_config for ms, g in groups.items()}
    steps = {ms: sum_steps(g.steps) for ms, g in groups.items()} if early_ms else {}
    felt = (
        pl.concat(feel).group_by("window_start", "key").sum()
        if feel
        else pl.DataFrame(schema=_FEEL_SCHEMA)
    )
    return Pass(signals, trends, felt, texts, spec, seen, firehose.start_ms,
                max(t, last_ms + 1), steps, early_ms)  # fmt: skip


_FEEL_SCHEMA = pl.Schema(
    {"window_start": pl.Int64, "key": pl.String, "feel_sum": pl.Int64, "feel_posts": pl.UInt32}
)


def _feel(spec: WindowSpec, batch: pl.DataFrame) -> pl.DataFrame:
    """Sums of the generator's polarity per (window, key) of a batch (keys: ``*`` and each
    hashtag, as the engine keys posts)."""
    keyed = explode_keys(spec.assign(batch.select("created_at", "hashtags", "polarity")))
    return keyed.group_by("window_start", "key").agg(
        pl.col("polarity").cast(pl.Int64).sum().alias("feel_sum"),
        pl.len().alias("feel_posts"),
    )


def _with_campaigns(
    batch: pl.DataFrame, campaigns: tuple[Campaign, ...], lo: int, hi: int
) -> pl.DataFrame:
    extra = campaign_posts(campaigns, lo, hi)
    if extra.is_empty():
        return batch
    if "polarity" in batch.columns:
        extra = extra.with_columns(pl.lit(0, dtype=pl.Int8).alias("polarity"))
    return pl.concat([batch, extra.select(batch.columns)]).sort("created_at", maintain_order=True)


def _feed(
    groups: dict[Slice, _Group], batch: pl.DataFrame, offset: int, now_ms: int, early_ms: int
) -> None:
    scored = score(batch).with_columns(
        pl.lit(0, dtype=pl.Int32).alias("partition"),
        pl.int_range(offset, offset + batch.height, dtype=pl.Int64).alias("_idx"),
    )
    for g in groups.values():
        part = scored if g.ms is None else scored.filter(millis_filter(g.ms))
        added = g.engine.add(part, now_ms)
        if added.late_idx:  # the stream is in event-time order: nothing can be late
            raise RuntimeError(f"{len(added.late_idx)} posts arrived after their window closed")
        closed = g.engine.close(now_ms)
        if closed.height:
            g.out.append(closed)
        g.texts.append(_texts(g.engine.spec, part))
        if early_ms:
            g.steps.append(step_counts(g.engine.spec, part, early_ms))


def _texts(spec: WindowSpec, scored: pl.DataFrame) -> pl.DataFrame:
    """Counts of scored, positive and negative texts per (window, key) of one batch."""
    own = scored.filter((pl.col("kind") != "repost") & pl.col("compound").is_not_null())
    keyed = explode_keys(spec.assign(own.select("created_at", "hashtags", "compound")))
    return keyed.group_by("window_start", "key").agg(
        pl.len().cast(pl.Int64).alias("scored"),
        (pl.col("compound") >= POSITIVE_AT).sum().cast(pl.Int64).alias("positive"),
        (pl.col("compound") <= NEGATIVE_AT).sum().cast(pl.Int64).alias("negative"),
    )


def _texts_of(parts: list[pl.DataFrame], spec: WindowSpec) -> pl.DataFrame:
    summed = pl.concat(parts).group_by("window_start", "key").sum()
    return summed.select(
        "window_start",
        (pl.col("window_start") + spec.size_ms).alias("window_end"),
        "key",
        "scored",
        (pl.col("positive") / pl.col("scored")).alias("positive_share"),
        (pl.col("negative") / pl.col("scored")).alias("negative_share"),
    ).sort("window_start", "key")
