"""The moat, measured: seeded streams seen through access tiers (firehose, decahose, 1%
sample, delayed, hourly, and any tier from ``configs/moat.toml``), each tier's detectors held
to one false-alarm rate, every figure with an interval over seeds.

config      MoatConfig / Tier / Clock, loaded from ``[moat]`` and ``[[moat.tiers]]``
bursts      the injected events (new, established, shift; sized in posts a minute) and the
            generator's ground truth
adversary   campaigns timed into the sampled milliseconds
stream      one pass over a stream through the signal engine, one engine per post slice
detect      the detectors' statistics, alarm episodes and their calibration
early       early alerts: the pipeline's early trend rule at checkpoints of open windows
measure     one seed's measures per tier, against the truth
seeds       calibration, hold-out and measured seeds in parallel processes (cached)
results     figures over seeds: intervals and paired tests against the firehose
stats       bootstrap, McNemar, Wilcoxon, Poisson intervals, Kendall's tau-b, top-n
sweeps      the experiments: tiers, volume, bursts, manipulation, topn
report      provenance, tables, summary JSON, Markdown, the README block; plots: PNGs
"""

from __future__ import annotations

from datamoat.moat.bursts import inject, true_bursts
from datamoat.moat.config import Clock, MoatConfig, Tier, load_moat_config
from datamoat.moat.stream import Pass, millis_filter, run_pass, sampled_trend

__all__ = [
    "Clock",
    "MoatConfig",
    "Pass",
    "Tier",
    "inject",
    "load_moat_config",
    "millis_filter",
    "run_pass",
    "sampled_trend",
    "true_bursts",
]
