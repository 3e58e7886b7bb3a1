"""Prometheus metrics: one :class:`Metrics` object per process, on its own registry.

Names follow Prometheus conventions: ``datamoat_`` prefix, base units, ``_total`` for
counters. Labels carry bounded values only (reasons, partitions, top-K ranks).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS", "Metrics"]

#: Seconds; from a few milliseconds (in-memory) to a minute (a stalled consumer).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60, 120)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Every metric datamoat exports, registered on ``registry`` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
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
        self.latency = Histogram(
            "datamoat_end_to_end_latency_seconds",
            "Signal emit time minus the event time of the window's last post.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "datamoat_consumer_lag_records",
            "Records in the partition not yet consumed by this worker.",
            ["partition"],
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
        self.trending = Gauge(
            "datamoat_trending_score",
            "Trend score of the top-K trending hashtags in the last closed window.",
            ["rank", "key"],
            registry=r,
        )
