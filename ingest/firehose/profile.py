"""Event time: the diurnal rate profile, its time warp, bursts and the pacing schedule.

Cascades and the background process live in *activity time* tau, in which the stream is
stationary; wall-clock event time t maps to tau through ``dtau/dt = D(t)``, the diurnal
modulation (mean 1, peak/trough ``diurnal_swing``). Posts are therefore dense by day, sparse
by night, and cascades slow down overnight, as in TiDeH. Times are float milliseconds
relative to ``start_ms`` unless said otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.firehose.config import FirehoseConfig

__all__ = ["TimeWarp", "burst_shape", "schedule"]

F64 = npt.NDArray[np.float64]
BURST_SPAN = 12.0
"""A burst lasts BURST_SPAN rise times (its shape has decayed to 0.02 % of the peak by then)."""


@dataclass(frozen=True)
class TimeWarp:
    """tau(x) = x + A (sin(w x + phi) - sin(phi)), x = t - start_ms (ms)."""

    amplitude: float  # a in D = 1 + a cos(...)
    omega: float
    phase: float

    @classmethod
    def of(cls, config: FirehoseConfig, start_ms: int) -> TimeWarp:
        swing = max(config.diurnal_swing, 1.0)
        a = (swing - 1.0) / (swing + 1.0)
        day_ms = 86_400_000.0 * config.time_scale
        peak_ms = config.peak_hour / 24.0 * day_ms
        phase = 2.0 * math.pi * math.fmod(float(start_ms) - peak_ms, day_ms) / day_ms
        return cls(a, 2.0 * math.pi / day_ms, phase)

    def density(self, x: F64) -> F64:
        """D(t): the relative activity at x (mean 1)."""
        out: F64 = 1.0 + self.amplitude * np.cos(self.omega * x + self.phase)
        return out

    def tau(self, x: F64) -> F64:
        if self.amplitude == 0.0:
            return x.astype(np.float64)
        a_over_w = self.amplitude / self.omega
        out: F64 = x + a_over_w * (np.sin(self.omega * x + self.phase) - math.sin(self.phase))
        return out

    def inverse(self, tau: F64) -> F64:
        """x such that tau(x) = tau (Newton; the derivative is at least 1 - a > 0)."""
        x = tau.astype(np.float64, copy=True)
        if self.amplitude == 0.0:
            return x
        for _ in range(8):
            x -= (self.tau(x) - tau) / self.density(x)
        return x


def schedule(config: FirehoseConfig, start_ms: int, index: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Expected event time (epoch ms) of post number ``index`` (0-based): the pacing curve.

    The generated posts follow it up to Poisson noise and bursts; a producer that sleeps
    should sleep until each post's own ``created_at`` (see ``Firehose.take_until``).
    """
    idx = np.asarray(index, dtype=np.float64)
    warp = TimeWarp.of(config, start_ms)
    x = warp.inverse(idx * (1000.0 / config.rate))
    return np.floor(x).astype(np.int64) + np.int64(start_ms)


def burst_shape(x: F64) -> F64:
    """Relative burst intensity at x rise times after its start (peak 1 at x = 1)."""
    inside = (x >= 0.0) & (x <= BURST_SPAN)
    xs = np.where(inside, x, 0.0)
    out: F64 = np.where(inside, xs * np.exp(1.0 - xs), 0.0)
    return out
