"""The moat, measured: one seeded stream seen through access tiers (firehose, decahose,
1% sample, delayed, hourly, and any tier from ``configs/moat.toml``), each tier's burst
detection, sentiment, top hashtags, reach and virality against the ground truth.

config   MoatConfig / Tier / Clock, loaded from ``[moat]`` and ``[[moat.tiers]]``
bursts   the injected bursts and the generator's ground truth
stream   one pass over the stream through the signal engine, one engine per post slice
measure  the measures per tier
report   terminal table, summary JSON, Markdown report; plots: the PNG plots
"""

from __future__ import annotations

from datamoat.moat.bursts import injected_bursts, true_bursts
from datamoat.moat.config import Clock, MoatConfig, Tier, load_moat_config
from datamoat.moat.measure import Measured, measure
from datamoat.moat.stream import Pass, millis_filter, run_pass, sampled_trend

__all__ = [
    "Clock",
    "Measured",
    "MoatConfig",
    "Pass",
    "Tier",
    "injected_bursts",
    "load_moat_config",
    "measure",
    "millis_filter",
    "run_pass",
    "sampled_trend",
    "true_bursts",
]
