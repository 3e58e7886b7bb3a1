"""Read a datamoat process's ``/metrics`` into the few figures a benchmark follows."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["MetricsSample", "parse_metrics", "scrape"]


@dataclass(frozen=True, slots=True)
class MetricsSample:
    produced: float = 0.0
    consumed: float = 0.0
    processed: float = 0.0
    lag: float = 0.0  # sum over partitions of datamoat_consumer_lag_records
    #: The end-to-end latency histogram: (upper bound, cumulative count), +Inf last.
    latency_buckets: tuple[tuple[float, float], ...] = field(default=())


_COUNTERS = {
    "datamoat_posts_produced_total": "produced",
    "datamoat_posts_consumed_total": "consumed",
    "datamoat_posts_processed_total": "processed",
}


def parse_metrics(text: str) -> MetricsSample:
    values = {"produced": 0.0, "consumed": 0.0, "processed": 0.0, "lag": 0.0}
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name in _COUNTERS:
                values[_COUNTERS[s.name]] = float(s.value)
            elif s.name == "datamoat_consumer_lag_records":
                values["lag"] += float(s.value)
            elif s.name == "datamoat_end_to_end_latency_seconds_bucket":
                buckets.append((float(s.labels["le"]), float(s.value)))
    buckets.sort()
    return MetricsSample(latency_buckets=tuple(buckets), **values)


def scrape(url: str, timeout_s: float = 2.0) -> MetricsSample | None:
    """One scrape of ``url`` (a /metrics endpoint); None while it does not answer."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return parse_metrics(response.read().decode())
    except (urllib.error.URLError, OSError, ValueError):
        return None
