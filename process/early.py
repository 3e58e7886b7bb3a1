"""Early signals and trend alerts: what an open window says before it is final.

A final signal waits for its window to end, for the allowed lateness and for every input
partition to pass it; at 10-s windows the first posts of a burst become a visible trend
15-25 s after they were written. Stage one sees every post first, so after each committed
micro-batch it hands on the batch's own partial sums per (window, key) (its *increments*,
:meth:`process.stage_one.partitions.PartitionStage.take_early`). :class:`EarlySignals` adds
them up per open window and key, as the merger adds final partials, and after each update
gives:

* **provisional signals** for the keys the update touched: the sums so far, the sentiment
  so far, ``velocity`` over the part of the window seen (``elapsed_s``: from the window's
  start to its newest post), ``covered`` = that part's share of the window, and an early
  ``trend_score``; marked provisional, never written where the final signals are;
* **alerts**: a key is flagged in an open window when its rate of original posts so far is
  far enough above its baseline that the final rule is likely to trend it (below), once per
  episode (a key alerting in consecutive windows is one alert), each with an ``alert_id``
  (``<window_start>/<key>``: a consumer that sees an alert twice, delivered at least once,
  keeps one);
* **retractions**: when the final signals of an alert's window and of the next one are in
  and neither trends the key, a retraction naming the ``alert_id``.

The early rule is the final rule (:mod:`process.trends`) applied to the part of the window
seen so far, as if it were a window of ``elapsed_s`` seconds: ``rate`` = originals so far /
``elapsed_s``, against the key's baseline (its ``mean`` and ``var`` as of its last final
window), with the Poisson noise of a count over ``elapsed_s`` (``mean / elapsed_s``, larger
the less of the window is seen). It fires when that score reaches ``threshold`` with at
least ``min_originals`` original posts and ``min_elapsed_s`` of the window seen, after the
trend tracker's warm-up. The threshold is higher than the final rule's (7.5 against 4.5):
the score of a part of a window is noisier than a whole window's, and it is looked at after
every micro-batch (about 40 times a window). At the final rule's threshold, 9 hours of
burst-free streams raised 18 alerts (2 an hour) where the final rule raised none; at 7.5,
none, and the demo bursts still alert with a lead of 12.75 s (p50) on their final signals
(``tests/benchmark/bench_alerts.py``, BENCHMARKS.md). The baselines' decay over windows a
key was absent is not applied (the mean is overstated, so the score is understated: it errs
towards not alerting).

Increments are sent after their batch committed and never again (a batch replayed after a
crash is handed on by its replayer, whose increments start after the commit), so the sums
never count a post twice; an increment lost in a crash leaves the provisional sums short
until the window is final, which the final path gets right whatever happened here.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, fields
from typing import Any, Final

import polars as pl

from process.aggregate import GROUP, PARTIAL_SCHEMA, STREAM_KEY, Accumulated, merge_partials
from process.problems import Problem
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = [
    "ALERT_SCHEMA",
    "EARLY_SCHEMA",
    "PROVISIONAL_SCHEMA",
    "AlertRule",
    "EarlySignals",
    "alert_id",
    "decode_increments",
    "encode_increments",
]

#: An increment: one batch's sums per (window, key) (the final partials' columns).
EARLY_SCHEMA: Final = PARTIAL_SCHEMA

#: A provisional signal (one per touched window and key and update; latest wins).
PROVISIONAL_SCHEMA: Final = pl.Schema(
    {
        "window_start": pl.Int64,
        "window_end": pl.Int64,
        "key": pl.String,
        "posts": pl.Int64,
        "originals": pl.Int64,
        "reposts": pl.Int64,
        "replies": pl.Int64,
        "quotes": pl.Int64,
        "reach": pl.Int64,
        "scored": pl.Int64,
        "sentiment_mean": pl.Float64,
        "positive_share": pl.Float64,
        "neutral_share": pl.Float64,
        "negative_share": pl.Float64,
        "velocity": pl.Float64,
        "trend_score": pl.Float64,
        "covered": pl.Float64,
        "as_of": pl.Int64,
    }
)

#: An alert or its retraction.
ALERT_SCHEMA: Final = pl.Schema(
    {
        "alert_id": pl.String,
        "kind": pl.String,
        "key": pl.String,
        "window_start": pl.Int64,
        "window_end": pl.Int64,
        "score": pl.Float64,
        "posts": pl.Int64,
        "originals": pl.Int64,
        "sentiment_mean": pl.Float64,
        "as_of": pl.Int64,
        "fired_at": pl.Int64,
    }
)


def encode_increments(rows: pl.DataFrame) -> bytes:
    """One batch's increments as a record value (Arrow IPC, lz4)."""
    out = io.BytesIO()
    rows.select(EARLY_SCHEMA.names()).write_ipc(out, compression="lz4")
    return out.getvalue()


def decode_increments(value: bytes) -> pl.DataFrame:
    """The increments :func:`encode_increments` made; ValueError for anything else."""
    try:
        rows = pl.read_ipc(io.BytesIO(value))
    except Exception as exc:  # polars raises several kinds for bytes that are not IPC
        raise ValueError(f"not early increments ({type(exc).__name__})") from None
    if rows.schema != EARLY_SCHEMA:
        raise ValueError(f"not early increments (columns {rows.columns})")
    return rows


def alert_id(window_start: int, key: str) -> str:
    """The id of the alert on ``key`` in the window starting at ``window_start``."""
    return f"{window_start}/{key}"


@dataclass(frozen=True, slots=True)
class AlertRule:
    """When an open window's running count flags its key (see the module docstring)."""

    threshold: float = 7.5
    """Early trend score a key needs: above the final rule's ``trends.threshold`` (4.5), as
    the early score is looked at after every micro-batch, on a part of a window (see the
    module docstring)."""
    min_originals: int = 10
    """Original posts so far the window needs before its key can alert."""
    min_elapsed_s: float = 2.0
    """Seconds of the window seen (its start to its newest post) before anything alerts."""

    def __post_init__(self) -> None:
        problems = self.problems(**{f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ValueError("invalid AlertRule: " + "; ".join(p.says() for p in problems))

    @staticmethod
    def problems(threshold: float, min_originals: int, min_elapsed_s: float) -> list[Problem]:
        """Every rule these fields break (none: a valid rule)."""
        checks = (
            (threshold > 0.0, Problem(("threshold",), "must be positive")),
            (min_originals >= 1, Problem(("min_originals",), "must be at least 1")),
            (min_elapsed_s > 0.0, Problem(("min_elapsed_s",), "must be positive (seconds)")),
        )
        return [problem for ok, problem in checks if not ok]


def _merge(frames: list[pl.DataFrame]) -> pl.DataFrame:
    return merge_partials(frames, GROUP)


@dataclass(slots=True)
class EarlySignals:
    """Open windows' running sums from increments; provisional signals, alerts, retractions.

    ``trends`` is the final path's tracker (its baselines and warm-up are read, never
    changed). Feed :meth:`add` the increments, call :meth:`update` after each batch of
    them and :meth:`finalise` with every frame of final signals.
    """

    spec: WindowSpec
    trends: TrendTracker
    rule: AlertRule = field(default_factory=AlertRule)
    open: Accumulated = field(init=False)
    #: Every window ending at or before this is final (its increments are dropped).
    closed_through: int | None = None
    #: The (window, key) groups the increments since the last update touched.
    _touched: list[pl.DataFrame] = field(default_factory=list)
    #: Per key, the last window where the rule held (an episode continues in the next).
    _holding: dict[str, int] = field(default_factory=dict)
    #: Alerts awaiting their windows' final signals: (window_start, key) -> the alert.
    pending: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    #: Keys trending in the final signals, per window start (for confirmations).
    _trending: dict[int, set[str]] = field(default_factory=dict)
    alerts: int = 0
    retractions: int = 0
    confirmed: int = 0

    def __post_init__(self) -> None:
        self.open = Accumulated(_merge, pl.DataFrame(schema=EARLY_SCHEMA), min_rows=20_000)

    @property
    def config(self) -> TrendConfig:
        return self.trends.config

    def add(self, rows: pl.DataFrame) -> None:
        """Take one batch's increments (EARLY_SCHEMA); rows of final windows are dropped."""
        if rows.is_empty():
            return
        if self.closed_through is not None:
            rows = rows.filter(pl.col("window_start") + self.spec.size_ms > self.closed_through)
            if rows.is_empty():
                return
        self.open.add(rows)
        self._touched.append(rows.select(GROUP))

    def update(self, fired_at: int) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """The provisional signals of the groups touched since the last update, and the
        alerts they raise (``fired_at``: the wall-clock time, epoch ms)."""
        if not self._touched:
            return pl.DataFrame(schema=PROVISIONAL_SCHEMA), []
        touched = pl.concat(self._touched).unique()
        self._touched = []
        windows = touched["window_start"].unique().implode()
        wanted = pl.col("window_start").is_in(windows)
        state = merge_partials(self.open.frames(), GROUP, wanted)
        as_of = state.filter(pl.col("key") == STREAM_KEY).select(
            "window_start", pl.col("max_event").alias("as_of")
        )
        rows = state.join(touched, on=list(GROUP), how="semi").join(
            as_of, on="window_start", how="left"
        )
        provisional = self._score(rows)
        return provisional, self._alerts(provisional, fired_at)

    def _score(self, rows: pl.DataFrame) -> pl.DataFrame:
        c, size_ms = self.config, self.spec.size_ms
        elapsed_ms = (
            (pl.col("as_of").fill_null(pl.col("max_event")) - pl.col("window_start") + 1)
            .clip(1, size_ms)
        )  # fmt: skip
        elapsed_s = elapsed_ms / 1000.0
        baseline = self.trends.state.select("key", "mean", "var")
        mean, var = pl.col("mean").fill_null(0.0), pl.col("var").fill_null(0.0)
        noise = pl.max_horizontal(var, mean / elapsed_s)
        z = (pl.col("originals") / elapsed_s - mean) / (noise + c.floor**2).sqrt()
        warm = self.trends.windows_seen >= c.warmup_windows
        scored = pl.col("scored")

        def share(name: str) -> pl.Expr:
            return pl.when(scored > 0).then(pl.col(name) / scored)

        return (
            rows.join(baseline, on="key", how="left")
            .with_columns(
                (pl.col("window_start") + size_ms).alias("window_end"),
                pl.when(scored > 0).then(pl.col("sentiment_sum") / scored).alias("sentiment_mean"),
                share("positive").alias("positive_share"),
                share("neutral").alias("neutral_share"),
                share("negative").alias("negative_share"),
                (pl.col("posts") / elapsed_s).alias("velocity"),
                pl.when(
                    (pl.col("originals") >= self.rule.min_originals)
                    & (elapsed_s >= self.rule.min_elapsed_s)
                    & pl.lit(warm)
                )
                .then(z)
                .otherwise(0.0)
                .alias("trend_score"),
                (elapsed_ms / size_ms).alias("covered"),
                pl.col("as_of").fill_null(pl.col("max_event")),
            )
            .select(PROVISIONAL_SCHEMA.names())
            .cast(PROVISIONAL_SCHEMA)
            .sort(GROUP)
        )

    def _alerts(self, provisional: pl.DataFrame, fired_at: int) -> list[dict[str, Any]]:
        holding = provisional.filter(
            (pl.col("trend_score") >= self.rule.threshold) & (pl.col("key") != STREAM_KEY)
        )
        out: list[dict[str, Any]] = []
        hop = self.spec.hop_ms
        for row in holding.iter_rows(named=True):
            start, key = row["window_start"], row["key"]
            last = self._holding.get(key)
            if last is not None and last >= start:
                continue  # this window (or a later one) holds already
            self._holding[key] = start
            if last is not None and last >= start - hop:
                continue  # the episode goes on: one alert for it
            alert = {
                "alert_id": alert_id(start, key),
                "kind": "alert",
                "key": key,
                "window_start": start,
                "window_end": row["window_end"],
                "score": row["trend_score"],
                "posts": row["posts"],
                "originals": row["originals"],
                "sentiment_mean": row["sentiment_mean"],
                "as_of": row["as_of"],
                "fired_at": fired_at,
            }
            self.pending[(start, key)] = alert
            out.append(alert)
        self.alerts += len(out)
        return out

    def finalise(
        self, signals: pl.DataFrame, through: int | None, fired_at: int
    ) -> list[dict[str, Any]]:
        """Take the final signals of the windows ending at or before ``through``; the
        retractions of alerts that neither their window nor the next one confirmed."""
        if signals.height:
            trending = signals.filter(self.config.trending())
            for start in signals["window_start"].unique().to_list():
                self._trending[start] = set()
            for start, key in trending.select("window_start", "key").iter_rows():
                self._trending[start].add(key)
        if through is None or (self.closed_through is not None and through <= self.closed_through):
            return []
        self.closed_through = through
        size, hop = self.spec.size_ms, self.spec.hop_ms
        self.open.take(pl.col("window_start") + size <= through)
        out: list[dict[str, Any]] = []
        for (start, key), alert in sorted(self.pending.items()):
            if start + hop + size > through:
                continue  # the next window is not final yet
            del self.pending[(start, key)]
            if any(key in self._trending.get(s, ()) for s in (start, start + hop)):
                self.confirmed += 1
                continue
            out.append({**alert, "kind": "retraction", "fired_at": fired_at})
        self.retractions += len(out)
        for start in [s for s in self._trending if s + hop + size <= through - hop]:
            del self._trending[start]
        for key in [k for k, s in self._holding.items() if s + size + hop <= through]:
            del self._holding[key]
        return out

    @property
    def state_bytes(self) -> int:
        return self.open.estimated_size()
