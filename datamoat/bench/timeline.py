"""A run's samples as plain columns (what the report plots and the JSON keeps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from datamoat.bench.sampler import Sample

__all__ = ["Timeline", "timeline_of"]


@dataclass
class Timeline:
    t: list[float] = field(default_factory=list)
    produced: list[float] = field(default_factory=list)
    consumed: list[float] = field(default_factory=list)
    processed: list[float] = field(default_factory=list)
    lag: list[float] = field(default_factory=list)
    #: Per process: cumulative CPU seconds and RSS bytes at each sample (nan when absent).
    cpu_s: dict[str, list[float]] = field(default_factory=dict)
    rss_bytes: dict[str, list[float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def rates(self, column: list[float], window_s: float = 2.0) -> list[float]:
        """Rate (per second) of a cumulative column over the last ``window_s`` at each
        sample (the worker counts whole micro-batches: shorter windows only show steps)."""
        out = []
        j = 0
        for i in range(len(self.t)):
            while self.t[i] - self.t[j] > window_s:
                j += 1
            dt = self.t[i] - self.t[j]
            out.append((column[i] - column[j]) / dt if dt > 0 else 0.0)
        return out


def timeline_of(samples: Sequence[Sample], *, lag_from_gauge: bool) -> Timeline:
    """``lag_from_gauge``: the worker's own lag gauge (``process``); else produced - consumed
    (``run``, where the firehose is in the same process)."""
    tl = Timeline()
    names = sorted({n for s in samples for n in s.procs})
    for name in names:
        tl.cpu_s[name], tl.rss_bytes[name] = [], []
    last = None
    for s in samples:
        m = s.metrics or last
        if m is None:
            continue
        last = m
        tl.t.append(s.t)
        tl.produced.append(m.produced)
        tl.consumed.append(m.consumed)
        tl.processed.append(m.processed)
        tl.lag.append(m.lag if lag_from_gauge else max(0.0, m.produced - m.consumed))
        for name in names:
            p = s.procs.get(name)
            tl.cpu_s[name].append(p.cpu_s if p else float("nan"))
            tl.rss_bytes[name].append(float(p.rss_bytes) if p else float("nan"))
    return tl
