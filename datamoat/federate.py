"""One ``/metrics`` for a local group: the worker-only series of ``datamoat run``'s worker
processes, read from their own endpoints at each scrape and labelled ``worker``.

``run`` counts the group's posts from the deltas it merges; what only a worker knows (how
long its batches take, how big they are) comes from here, so Prometheus and the live page
need one target for a local run, as they need one per worker under docker-compose.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = ["WORKER_ONLY", "WorkerMetrics"]

WORKER_ONLY = frozenset({"datamoat_batch_processing_seconds", "datamoat_batch_records"})


class WorkerMetrics(Collector):
    def __init__(
        self, urls: Sequence[str], names: Iterable[str] = WORKER_ONLY, timeout_s: float = 0.5
    ) -> None:
        self.urls = list(urls)
        self.names = frozenset(names)
        self.timeout_s = timeout_s

    def describe(self) -> list[Metric]:
        return []  # nothing to check at registration: the workers may not be up yet

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for i, url in enumerate(self.urls):
            try:
                with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                    text = response.read().decode()
            except OSError:
                continue  # a worker starting or gone: its series are absent this scrape
            for family in text_string_to_metric_families(text):
                if family.name not in self.names:
                    continue
                out = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    out.add_sample(sample.name, {**sample.labels, "worker": str(i)}, sample.value)
        yield from merged.values()
