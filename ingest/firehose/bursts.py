"""Topic bursts: scheduled ones from the config and random ones drawn per model day.

A burst adds original posts about one hashtag with its own sentiment skew; its intensity
rises and decays (``profile.burst_shape``). Random bursts of model day d are a pure function
of (seed, d), so every shard and every batch sees the same bursts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ingest.firehose.config import FirehoseConfig
from ingest.firehose.profile import BURST_SPAN

__all__ = ["RANDOM_TOPIC_BASE", "ActiveBurst", "BurstBook"]

RANDOM_TOPIC_BASE = 1 << 20
_SALT = 0xB0B5
_SPREAD = 0.5  # log-sd of random peaks and rise times
_BRANDS = ("zen", "kor", "vel", "mira", "tak", "nova", "lum", "quin", "dax", "ori", "sol", "bex")
_EVENTS: tuple[tuple[str, float], ...] = (
    ("launch", 0.7),
    ("scandal", -0.8),
    ("outage", -0.7),
    ("award", 0.8),
    ("finale", 0.5),
    ("leak", -0.4),
    ("recall", -0.6),
    ("derby", 0.1),
    ("election", -0.1),
    ("quake", -0.9),
    ("concert", 0.8),
    ("strike", -0.5),
)


@dataclass(frozen=True)
class ActiveBurst:
    topic: int
    hashtag: str
    start: float  # ms relative to start_ms
    rise: float  # ms
    peak: float  # extra rate / rate
    sentiment: float


class BurstBook:
    """All bursts of a stream, found by time range and by topic id."""

    def __init__(self, config: FirehoseConfig, seed: int, start_ms: int) -> None:
        self._config = config
        self._seed = seed
        scale = config.time_scale
        self._day_ms = 86_400_000.0 * scale
        self._scheduled = [
            ActiveBurst(
                topic=k + 1,
                hashtag=b.hashtag.lower().lstrip("#"),
                start=float(b.start_ms - offset),
                rise=b.rise_s * 1000.0 * scale,
                peak=b.peak,
                sentiment=b.sentiment,
            )
            for k, b in enumerate((*config.bursts, *config.relative_bursts))
            for offset in [start_ms if k < len(config.bursts) else 0]
        ]
        self._max_rise = 4.0 * config.random_burst_rise_s * 1000.0 * scale
        self._days: dict[int, list[ActiveBurst]] = {}

    @property
    def random_volume_share(self) -> float:
        """Expected share of all posts that random bursts add (kept inside ``rate``)."""
        c = self._config
        mean_product = math.exp(_SPREAD**2)  # E[peak * rise] / (median peak * median rise)
        volume_s = c.random_burst_peak * c.random_burst_rise_s * math.e * mean_product
        return min(0.9, c.random_bursts_per_day * volume_s / 86_400.0)

    def _day(self, d: int) -> list[ActiveBurst]:
        cached = self._days.get(d)
        if cached is not None:
            return cached
        c = self._config
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([self._seed, _SALT, d])))
        n = int(rng.poisson(c.random_bursts_per_day))
        out = []
        for j in range(min(n, 63)):
            start = (d + float(rng.uniform())) * self._day_ms
            peak = c.random_burst_peak * float(rng.lognormal(0.0, _SPREAD))
            rise_s = c.random_burst_rise_s * min(4.0, float(rng.lognormal(0.0, _SPREAD)))
            brand = _BRANDS[int(rng.integers(len(_BRANDS)))] + _BRANDS[int(rng.integers(12))]
            event, sentiment = _EVENTS[int(rng.integers(len(_EVENTS)))]
            out.append(
                ActiveBurst(
                    topic=RANDOM_TOPIC_BASE + d * 64 + j,
                    hashtag=brand + event,
                    start=start,
                    rise=rise_s * 1000.0 * c.time_scale,
                    peak=peak,
                    sentiment=sentiment,
                )
            )
        if len(self._days) > 64:
            self._days.pop(min(self._days))
        self._days[d] = out
        return out

    def overlapping(self, lo: float, hi: float) -> list[ActiveBurst]:
        """Bursts whose active span meets [lo, hi) (ms relative to start)."""
        found = [b for b in self._scheduled if b.start < hi and b.start + BURST_SPAN * b.rise > lo]
        if self._config.random_bursts_per_day > 0.0:
            first = max(0, math.floor((lo - BURST_SPAN * self._max_rise) / self._day_ms))
            last = max(0, math.floor(hi / self._day_ms))
            for d in range(first, last + 1):
                found.extend(
                    b for b in self._day(d) if b.start < hi and b.start + BURST_SPAN * b.rise > lo
                )
        return found

    def topic(self, topic: int) -> tuple[str, float]:
        """(hashtag, sentiment skew) of a burst topic id."""
        if topic < RANDOM_TOPIC_BASE:
            b = self._scheduled[topic - 1]
            return b.hashtag, b.sentiment
        d, j = divmod(topic - RANDOM_TOPIC_BASE, 64)
        b = self._day(d)[j]
        return b.hashtag, b.sentiment
