"""Ground truth: the bursts the moat injects into the stream, and every burst the
firehose generator puts in it (injected and random), with onset, hashtag and sentiment.

The injected bursts are a pure function of (config, seed, start): ``bursts_per_day`` per
simulated day, spread evenly over the part of the run after the trend warm-up and before
the detection horizon, peaks taken in turn from ``burst_peaks`` (shuffled by the seed),
rise times uniform in ``burst_rise_s``. The truth is read back from the generator's own
burst book (:class:`ingest.firehose.bursts.BurstBook`, a pure function of the firehose
config, seed and start), so random bursts count too.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from datamoat.moat.config import MoatConfig
from ingest.firehose import Burst
from ingest.firehose.bursts import RANDOM_TOPIC_BASE, BurstBook
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.profile import BURST_SPAN

__all__ = ["TRUTH_SCHEMA", "injected_bursts", "true_bursts"]

_SALT = 0x30A7
_EVENTS = (
    ("launch", 0.7),
    ("scandal", -0.8),
    ("outage", -0.7),
    ("award", 0.8),
    ("final", 0.5),
    ("leak", -0.4),
    ("recall", -0.6),
    ("derby", 0.1),
)

TRUTH_SCHEMA = pl.Schema(
    {
        "burst": pl.Int64,
        "hashtag": pl.String,
        "onset_ms": pl.Int64,  # epoch ms (event time)
        "end_ms": pl.Int64,  # the burst's active span ends here
        "peak": pl.Float64,  # extra rate at the peak / rate
        "rise_s": pl.Float64,  # simulated seconds
        "sentiment": pl.Float64,
        "injected": pl.Boolean,
    }
)


def injected_bursts(
    config: MoatConfig, seed: int, first_ms: int, last_ms: int
) -> tuple[Burst, ...]:
    """Bursts with onsets evenly spread over ``[first_ms, last_ms)`` (epoch ms)."""
    days = config.duration_s / 86_400.0
    n = round(config.bursts_per_day * days)
    if n <= 0 or last_ms <= first_ms:
        return ()
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SALT])))
    peaks = np.array(config.burst_peaks)[np.arange(n) % len(config.burst_peaks)]
    peaks = peaks[rng.permutation(n)]
    step = (last_ms - first_ms) / n
    out = []
    for k in range(n):
        onset = first_ms + round((k + float(rng.uniform(0.1, 0.9))) * step)
        rise = float(rng.uniform(*config.burst_rise_s))
        event, sentiment = _EVENTS[int(rng.integers(len(_EVENTS)))]
        out.append(Burst(onset, f"moat{event}{k}", float(peaks[k]), rise, sentiment))
    return tuple(out)


def true_bursts(fh_config: FirehoseConfig, seed: int, start_ms: int, end_ms: int) -> pl.DataFrame:
    """Every burst of the stream with its onset in ``[start_ms, end_ms)`` (TRUTH_SCHEMA)."""
    book = BurstBook(fh_config, seed, start_ms)
    scale = fh_config.time_scale
    rows = []
    for b in book.overlapping(0.0, float(end_ms - start_ms)):
        onset = start_ms + round(b.start)
        if not start_ms <= onset < end_ms:
            continue
        rows.append(
            {
                "burst": b.topic,
                "hashtag": b.hashtag,
                "onset_ms": onset,
                "end_ms": onset + round(BURST_SPAN * b.rise),
                "peak": b.peak,
                "rise_s": b.rise / 1000.0 / scale,
                "sentiment": b.sentiment,
                "injected": b.topic < RANDOM_TOPIC_BASE,
            }
        )
    return pl.DataFrame(rows, schema=TRUTH_SCHEMA).sort("onset_ms", "burst")
