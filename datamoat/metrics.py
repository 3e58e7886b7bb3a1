"""Prometheus metrics: one :class:`Metrics` object per process, on its own registry.

Names follow Prometheus conventions: ``datamoat_`` prefix, base units, ``_total`` for
counters. Labels carry bounded values only (reasons, partitions, polarities and, for the
signal gauges, a fixed number of top-K ranks with their key). ``_created`` series are off.

**Emit latency** (one definition everywhere: README, metric help, Grafana, summaries):
the wall time when a window's signals are emitted minus the window's end. In steady state
it is about the allowed lateness plus a micro-batch, so :func:`latency_buckets` puts fine
buckets (5 % apart) around ``lateness .. lateness + window + a few s``: Prometheus'
``histogram_quantile`` then stays within 5 % of the exact quantile. Windows with no
meaningful latency are counted in ``datamoat_windows_unmeasured_total`` instead:
``reason="early_flush"`` (closed at shutdown before their end: end > now) and
``reason="replay"`` (a file replay, whose event times are in the past).

:meth:`Metrics.observe_emit` is all a worker calls per emit: it updates the counters, the
latency histogram, the signal gauges and the live view that ``/status`` serves.
"""

from __future__ import annotations

import importlib.metadata
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import polars as pl
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from datamoat.live import CASCADE_K, HISTORY_WINDOWS, TOP_K, LiveModel
from datamoat.report import TrendLog, quantile
from process.accounting import Counts
from process.aggregate import STREAM_KEY

__all__ = [
    "BATCH_BUCKETS",
    "CASCADE_K",
    "HISTORY_WINDOWS",
    "LATENCY_HELP",
    "TOP_K",
    "Emitted",
    "Metrics",
    "build_info",
    "firehose_registry",
    "latency_buckets",
]

disable_created_metrics()  # type: ignore[no-untyped-call]


BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
#: Alerts and retractions a summary lists.
EARLY_ALERTS_KEPT: Final = 1_000
LATENCY_HELP: Final = (
    "Emit latency: wall time when a window's signals are emitted minus the window's end "
    "(s). Windows flushed early at shutdown or replayed from a file are not observed "
    "(datamoat_windows_unmeasured_total)."
)


def latency_buckets(window_s: float, lateness_s: float) -> tuple[float, ...]:
    """Histogram bounds (s) for the emit latency under a window size and allowed lateness.

    Coarse (x2) from 5 ms up to the fine range, fine (x1.05) over
    ``[max(0.25, 0.8 * lateness), lateness + window + 5]``, then coarse up to 10 minutes.
    """
    lo = max(0.25, 0.8 * lateness_s)
    hi = lateness_s + window_s + 5.0
    bounds: list[float] = []
    b = 0.005
    while b < lo:
        bounds.append(b)
        b *= 2
    b = lo
    while b < hi:
        bounds.append(b)
        b *= 1.05
    bounds.append(hi)
    b = hi
    while b < 600.0:
        b *= 2
        bounds.append(min(b, 600.0))
    return tuple(sorted({round(x, 4) for x in bounds}))


@dataclass(frozen=True, slots=True)
class Emitted:
    """What one emit was: windows, their exact latencies (s), and the unmeasured ones."""

    windows: int
    latencies: list[float]
    early: int
    replayed: int
    #: Top trending keys of the newest window with their scores, highest first.
    top_trending: list[tuple[str, float]]


class Metrics:
    """Every metric datamoat exports, registered on ``registry`` (a fresh one by default).

    ``window_s`` and ``lateness_s`` shape the latency buckets
    (see :func:`latency_buckets`); :meth:`fit_latency` re-shapes them for a configured
    window before anything is observed.
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        window_s: float = 10.0,
        lateness_s: float = 5.0,
        process: bool = True,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process:
            ProcessCollector(registry=r)  # process_cpu_seconds_total, resident memory, fds
        build_info(r)
        self.posts_produced = Counter(
            "datamoat_posts_produced", "Posts sent by the firehose.", registry=r
        )

        self.posts_consumed = Counter(
            "datamoat_posts_consumed", "Records read from the posts topic.", registry=r
        )
        self.posts_processed = Counter(
            "datamoat_posts_processed", "Valid posts aggregated into windows.", registry=r
        )
        self.dead_letters = Counter(
            "datamoat_dead_letters",
            "Records sent to the dead-letter topic, by reason.",
            ["reason"],
            registry=r,
        )
        self.late_records = Counter(
            "datamoat_late_records", "Records behind the watermark, routed as late.", registry=r
        )
        self.foreign_deltas = Counter(
            "datamoat_foreign_deltas",
            "Partials records the merger skipped as another pipeline's, by reason: "
            "other_group, other_topic (another input topic) or no_owner (an older format).",
            ["reason"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "datamoat_batch_processing_seconds",
            "Wall time to process one micro-batch (decode to sink write).",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.batch_records = Histogram(
            "datamoat_batch_records",
            "Records per micro-batch.",
            buckets=(1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000),
            registry=r,
        )
        self.latency = self._latency_histogram(window_s, lateness_s)
        self.unmeasured = Counter(
            "datamoat_windows_unmeasured",
            "Emitted windows without an emit latency: reason=early_flush (closed at shutdown "
            "before their end) or reason=replay (a file replay, event times in the past).",
            ["reason"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "datamoat_consumer_lag_records",
            "Consumer lag as Kafka defines it: the partition's log-end offset minus the "
            "group's committed offset (exported once per group, by its merger; group and "
            "topic empty for a pipeline without Kafka).",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.stalled = Gauge(
            "datamoat_stalled",
            "1 while this process is stalled (its commits failing or its broker away).",
            registry=r,
        )
        self.stalls = Counter(
            "datamoat_stalls", "Times this process stalled (see datamoat_stalled).", registry=r
        )
        self._stalls_counted = 0
        self.late_after_merge = Counter(
            "datamoat_late_after_merge",
            "Posts in partial rows that reached the merger after their window was final "
            "(counted, not in any signal).",
            registry=r,
        )
        self.firehose_target_rate = Gauge(
            "datamoat_firehose_target_rate",
            "The posts/s the firehose of this run is asked for.",
            registry=r,
        )
        self.firehose_kept_up = Gauge(
            "datamoat_firehose_kept_up",
            "1 while the firehose keeps up with its target rate, 0 while it falls behind.",
            registry=r,
        )
        self.windows_emitted = Counter(
            "datamoat_windows_emitted", "Closed windows written to the sinks.", registry=r
        )
        self.signals_emitted = Counter(
            "datamoat_signals_emitted", "Signal rows (window x key) written.", registry=r
        )
        self.open_windows = Gauge(
            "datamoat_open_windows", "Windows still open (waiting for the watermark).", registry=r
        )
        self.state_bytes = Gauge(
            "datamoat_state_bytes", "Estimated size of the open-window state.", registry=r
        )
        self.cascades_evicted = Counter(
            "datamoat_cascades_evicted",
            "Cascades forgotten before their time-to-live to keep within the memory budget.",
            registry=r,
        )
        self.watermark = Gauge(
            "datamoat_watermark_seconds", "Current event-time watermark (epoch s).", registry=r
        )
        self.sink_retries = Counter(
            "datamoat_sink_retries",
            "Failed sink writes that were retried (the worker pauses meanwhile).",
            ["sink"],
            registry=r,
        )
        self.window_posts = Gauge(
            "datamoat_window_posts", "Posts in the newest emitted window.", registry=r
        )
        self.window_end = Gauge(
            "datamoat_window_end_seconds", "End of the newest emitted window (epoch s).", registry=r
        )
        self.sentiment_mean = Gauge(
            "datamoat_sentiment_mean",
            "Mean VADER compound score of the scored posts of the newest emitted window.",
            registry=r,
        )
        self.sentiment_share = Gauge(
            "datamoat_sentiment_share",
            "Share of the newest window's scored posts by polarity (positive, neutral, negative).",
            ["polarity"],
            registry=r,
        )
        self.top_posts = Gauge(
            "datamoat_top_hashtag_posts",
            f"Posts of the top-{TOP_K} hashtags by volume in the newest emitted window.",
            ["rank", "key"],
            registry=r,
        )
        self.top_sentiment = Gauge(
            "datamoat_top_hashtag_sentiment",
            f"Mean sentiment of the top-{TOP_K} hashtags by volume in the newest window.",
            ["rank", "key"],
            registry=r,
        )
        self.trending = Gauge(
            "datamoat_trending_score",
            f"Trend score of the top-{TOP_K} trending hashtags in the newest emitted window.",
            ["rank", "key"],
            registry=r,
        )
        self.trending_sentiment = Gauge(
            "datamoat_trending_sentiment",
            "Mean sentiment of the trending hashtags in the newest emitted window.",
            ["rank", "key"],
            registry=r,
        )
        self.trending_posts = Gauge(
            "datamoat_trending_posts",
            "Posts of the trending hashtags in the newest emitted window.",
            ["rank", "key"],
            registry=r,
        )
        self.cascade_reposts = Gauge(
            "datamoat_cascade_reposts",
            f"Reposts in the newest window of its top-{CASCADE_K} viral cascades (by rank).",
            ["rank"],
            registry=r,
        )
        self.cascade_size = Gauge(
            "datamoat_cascade_size",
            f"Size (posts) of the newest window's top-{CASCADE_K} viral cascades (by rank).",
            ["rank"],
            registry=r,
        )
        self.alerts = Counter(
            "datamoat_alerts_total",
            "Early trend alerts raised on open windows, and retractions of alerts their "
            "windows' final signals did not confirm (kind).",
            ["kind"],
            registry=r,
        )
        self.early_delay = Histogram(
            "datamoat_early_delay_seconds",
            "From the newest post of an early update (its created_at: in a paced stream, about "
            "its append time) to its provisional signals.",
            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0),
            registry=r,
        )
        self.provisional_posts = Gauge(
            "datamoat_provisional_posts",
            "Posts so far in the newest open window (provisional: the whole stream, key *).",
            registry=r,
        )
        self.provisional_covered = Gauge(
            "datamoat_provisional_covered_ratio",
            "Share of the newest open window its provisional signals cover (0 to 1).",
            registry=r,
        )
        self.trended = TrendLog()
        #: Early updates' delays (s) and the alerts raised, for the summaries.
        self.early_delays: deque[float] = deque(maxlen=100_000)
        self.early_alerts: list[dict[str, Any]] = []
        self.replay = False
        #: The live page's model (``/status``): apart from the registry, fed by observe_emit.
        self.live = LiveModel()

    def _latency_histogram(self, window_s: float, lateness_s: float) -> Histogram:
        return Histogram(
            "datamoat_end_to_end_latency_seconds",
            LATENCY_HELP,
            buckets=latency_buckets(window_s, lateness_s),
            registry=self.registry,
        )

    def set_state(self, open_windows: int, state_bytes: int, watermark_ms: int | None) -> None:
        """The state gauges of the stage that owns them in this process (a watermark past
        the end of input, or none yet, leaves the gauge where it is)."""
        self.open_windows.set(open_windows)
        self.state_bytes.set(state_bytes)
        if watermark_ms is not None and watermark_ms < 2**61:
            self.watermark.set(watermark_ms / 1000.0)

    def set_lag(self, by_partition: dict[int, int], group: str = "", topic: str = "") -> None:
        for partition, lag in by_partition.items():
            self.consumer_lag.labels(group=group, topic=topic, partition=str(partition)).set(lag)

    def set_stalls(self, stalled: bool, stalls: int) -> None:
        """This process's stall state and how many stalls so far (the counter catches up)."""
        self.stalled.set(1 if stalled else 0)
        if stalls > self._stalls_counted:
            self.stalls.inc(stalls - self._stalls_counted)
            self._stalls_counted = stalls

    def count(self, counts: Counts) -> None:
        """Add a batch's accounting to the record counters (the one place they move)."""
        self.posts_consumed.inc(counts.consumed)
        self.posts_processed.inc(counts.processed)
        self.late_records.inc(counts.late)
        for reason, n in counts.reasons.items():
            self.dead_letters.labels(reason=reason).inc(n)

    def fit_latency(self, window_s: float, lateness_s: float) -> None:
        """Re-shape the latency buckets for the configured window (before any observation)."""
        self.registry.unregister(self.latency)
        self.latency = self._latency_histogram(window_s, lateness_s)

    def observe_emit(
        self,
        signals: pl.DataFrame,
        trending: pl.DataFrame,
        now_ms: int,
        replay: bool | None = None,
    ) -> Emitted:
        """Account for closed windows written to the sinks at wall time ``now_ms``.

        ``signals`` are the emitted rows (SIGNAL_SCHEMA); ``trending`` those of its rows
        that trend (the detection rule). ``replay`` (default: :attr:`replay`) marks a file
        replay: its windows count as unmeasured, not as latencies.
        """
        if signals.is_empty():
            return Emitted(0, [], 0, 0, [])
        replay = self.replay if replay is None else replay
        ends = signals["window_end"].unique().sort().to_list()
        measured: dict[int, float] = {}
        early = replayed = 0
        for end in ends:
            if replay:
                replayed += 1
            elif end > now_ms:
                early += 1
            else:
                measured[end] = (now_ms - end) / 1000.0
        latencies = list(measured.values())
        for v in latencies:
            self.latency.observe(v)
        if early:
            self.unmeasured.labels(reason="early_flush").inc(early)
        if replayed:
            self.unmeasured.labels(reason="replay").inc(replayed)
        self.windows_emitted.inc(len(ends))
        self.signals_emitted.inc(signals.height)
        self.trended.observe(trending)
        top = _top_trending(trending, ends[-1])
        with self.live.lock:
            self.live.update(signals, top, now_ms, measured, ends)
            self.live.early += early
            self.live.replayed += replayed
            self._export_newest()
        return Emitted(
            len(ends),
            latencies,
            early,
            replayed,
            [(k, float(v)) for k, v in top.select("key", "trend_score").iter_rows()],
        )

    def _export_newest(self) -> None:
        """The newest window's gauges, from the live model (called under its lock)."""
        live = self.live
        window = live.window
        if window:
            self.window_posts.set(window["posts"])
            self.window_end.set(window["end"])
            if window["sentiment"] is not None:
                self.sentiment_mean.set(window["sentiment"])
                for polarity in ("positive", "neutral", "negative"):
                    self.sentiment_share.labels(polarity=polarity).set(window[polarity] or 0.0)
            self.cascade_reposts.clear()
            self.cascade_size.clear()
            for rank, c in enumerate(live.cascades, start=1):
                self.cascade_reposts.labels(rank=str(rank)).set(c["reposts"])
                self.cascade_size.labels(rank=str(rank)).set(c["size"])
        self.top_posts.clear()
        self.top_sentiment.clear()
        for rank, row in enumerate(live.top_volume, start=1):
            self.top_posts.labels(rank=str(rank), key=row["key"]).set(row["posts"])
            if row["sentiment"] is not None:
                self.top_sentiment.labels(rank=str(rank), key=row["key"]).set(row["sentiment"])
        self.trending.clear()
        self.trending_sentiment.clear()
        self.trending_posts.clear()
        for rank, row in enumerate(live.trending, start=1):
            labels = {"rank": str(rank), "key": row["key"]}
            self.trending.labels(**labels).set(row["score"])
            self.trending_posts.labels(**labels).set(row["posts"])
            if row["sentiment"] is not None:
                self.trending_sentiment.labels(**labels).set(row["sentiment"])

    def signals_view(self) -> dict[str, Any]:
        """The live page's model as plain JSON values (:meth:`datamoat.live.LiveModel.view`)."""
        return self.live.view(self.trended.report())

    def observe_early(
        self, provisional: pl.DataFrame, alerts: list[dict[str, Any]], now_ms: int
    ) -> None:
        """Account for an early update at wall time ``now_ms``: its provisional rows
        (``process.early.PROVISIONAL_SCHEMA``) and its alerts and retractions."""
        for alert in alerts:
            self.alerts.labels(kind=alert["kind"]).inc()
            if len(self.early_alerts) < EARLY_ALERTS_KEPT:
                self.early_alerts.append({k: alert[k] for k in (
                    "kind", "key", "window_start", "score", "as_of", "fired_at")})  # fmt: skip
        if provisional.height:
            newest = provisional["as_of"].max()
            if isinstance(newest, int):
                delay = max(0.0, (now_ms - newest) / 1000.0)
                self.early_delay.observe(delay)
                self.early_delays.append(delay)
            stream = provisional.filter(pl.col("key") == STREAM_KEY).sort("window_start")
            if stream.height:
                row = stream.row(-1, named=True)
                self.provisional_posts.set(row["posts"])
                self.provisional_covered.set(row["covered"])
        with self.live.lock:
            self.live.update_early(provisional, alerts)

    def early_report(self) -> dict[str, Any]:
        """The early path in a summary: alerts, retractions, the early delay's p50 and p99
        (s, over the last 100,000 updates) and the alerts raised (the first 1,000)."""
        delays = sorted(self.early_delays)
        kinds = [a["kind"] for a in self.early_alerts]
        return {
            "alerts": kinds.count("alert"),
            "retractions": kinds.count("retraction"),
            "early_updates": len(delays),
            "early_delay_p50_s": quantile(delays, 0.5),
            "early_delay_p99_s": quantile(delays, 0.99),
            "alerts_raised": list(self.early_alerts),
        }

    def totals(self) -> dict[str, float]:
        """The operations figures as /metrics shows them right now (sums over labels)."""
        wanted = {
            "datamoat_posts_produced_total": "produced",
            "datamoat_posts_consumed_total": "consumed",
            "datamoat_posts_processed_total": "processed",
            "datamoat_dead_letters_total": "dead_lettered",
            "datamoat_late_records_total": "late",
            "datamoat_consumer_lag_records": "lag",
            "datamoat_windows_emitted_total": "windows_emitted",
            "datamoat_open_windows": "open_windows",
            "datamoat_watermark_seconds": "watermark_s",
            "process_resident_memory_bytes": "rss_bytes",
            "process_cpu_seconds_total": "cpu_s",
        }
        out = dict.fromkeys(wanted.values(), 0.0)
        for family in self.registry.collect():
            for sample in family.samples:
                name = wanted.get(sample.name)
                if name is not None:
                    out[name] += sample.value
        return out


def build_info(registry: CollectorRegistry) -> None:
    """``datamoat_build_info{version}`` = 1: which datamoat a target runs."""
    try:
        version = importlib.metadata.version("datamoat")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    info = Gauge("datamoat_build_info", "The datamoat version this process runs.", ["version"],
                 registry=registry)  # fmt: skip
    info.labels(version=version).set(1)


def firehose_registry(
    produced: Callable[[], float],
    target_rate: float | None = None,
    kept_up: Callable[[], bool] | None = None,
) -> CollectorRegistry:
    """The firehose process's metrics: ``datamoat_posts_produced_total`` read from
    ``produced()`` at scrape time, its target rate and kept-up state, and the process
    series (CPU, memory)."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    build_info(registry)
    registry.register(_ProducedCollector(produced, target_rate, kept_up))
    return registry


class _ProducedCollector(Collector):
    def __init__(
        self,
        produced: Callable[[], float],
        target_rate: float | None,
        kept_up: Callable[[], bool] | None,
    ) -> None:
        self.produced, self.target_rate, self.kept_up = produced, target_rate, kept_up

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "datamoat_posts_produced", "Posts sent by the firehose.", value=self.produced()
        )
        if self.target_rate is not None:
            yield GaugeMetricFamily(
                "datamoat_firehose_target_rate",
                "The posts/s the firehose of this run is asked for.",
                value=self.target_rate,
            )
        if self.kept_up is not None:
            yield GaugeMetricFamily(
                "datamoat_firehose_kept_up",
                "1 while the firehose keeps up with its target rate, 0 while it falls behind.",
                value=1.0 if self.kept_up() else 0.0,
            )


def _top_trending(trending: pl.DataFrame, end: int) -> pl.DataFrame:
    return (
        trending.filter(pl.col("window_end") == end)
        .sort(["trend_score", "key"], descending=[True, False])
        .head(TOP_K)
    )
