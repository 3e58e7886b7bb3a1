"""``datamoat ingest jetstream --http-port``: the adapter's ``/metrics``, read at scrape time
from the stream's own counters (:class:`ingest.jetstream.StreamStats`).

It counts its posts as ``datamoat_posts_produced_total``, the firehose's name, so the
dashboard's input panels show a real network's posts as they show the synthetic ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from datamoat.metrics import build_info
from ingest.jetstream import StreamStats

__all__ = ["ingest_registry"]


def ingest_registry(
    stats: StreamStats, posts: Callable[[], int], clock: Callable[[], float] = time.time
) -> CollectorRegistry:
    """The adapter's metrics: its counters, its cursor's lag, the process series."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    build_info(registry)
    registry.register(_StreamCollector(stats, posts, clock))
    return registry


class _StreamCollector(Collector):
    def __init__(
        self, stats: StreamStats, posts: Callable[[], int], clock: Callable[[], float]
    ) -> None:
        self.stats, self.posts, self.clock = stats, posts, clock

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        yield CounterMetricFamily(
            "datamoat_posts_produced", "Posts written by the ingest.", value=self.posts()
        )
        counters = (
            ("events", "Events received and mapped (replays skipped not counted).", s.events),
            ("dead_lettered", "Events that could not be mapped: dead-lettered.", s.dead),
            ("reconnects", "Connections made again after the first.", s.reconnects),
            ("failed_connects", "Connection attempts that failed.", s.failed_connects),
            ("gaps", "Reconnections whose first event was far past the cursor.", s.gaps),
        )
        for name, doc, value in counters:
            yield CounterMetricFamily(f"datamoat_ingest_{name}", doc, value=value)
        dropped = CounterMetricFamily(
            "datamoat_ingest_dropped",
            "Events left out on purpose (likes, follows, deletes...), by kind.",
            labels=["kind"],
        )
        for kind, n in sorted(s.dropped.items()):
            dropped.add_metric([kind], n)
        yield dropped
        if s.cursor_us is not None:
            yield GaugeMetricFamily(
                "datamoat_ingest_cursor_lag_seconds",
                "Now minus the newest event's time_us handed on.",
                value=max(0.0, self.clock() - s.cursor_us / 1e6),
            )
