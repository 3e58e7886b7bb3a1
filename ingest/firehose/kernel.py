"""The cascade delay kernel: how long after its parent a repost, reply or quote arrives.

SEISMIC-style: flat for ``flat`` ms, then a power law of exponent ``1 + theta`` cut off at
``cutoff`` ms (all in activity time). Both the distribution function's inverse (to draw
delays) and the survival function S(d) = P(delay > d) with its inverse (to draw delays
conditioned on a range, which the warm start needs) are closed forms.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["DelayKernel"]

F64 = npt.NDArray[np.float64]


class DelayKernel:
    def __init__(self, flat: float, cutoff: float, exponent: float) -> None:
        self.flat = flat
        self.cutoff = max(cutoff, flat + 1.0)
        self.theta = exponent - 1.0
        self._ratio = (self.cutoff / flat) ** (-self.theta)
        self._tail_norm = 1.0 - self._ratio  # tail mass = flat / theta * tail_norm
        self.p_flat = 1.0 / (1.0 + self._tail_norm / self.theta)

    def delays(self, u: F64) -> F64:
        """The delay at distribution-function value u in [0, 1) (inverse transform)."""
        flat = u < self.p_flat
        v = np.clip((u - self.p_flat) / (1.0 - self.p_flat), 0.0, 1.0)
        tail = self.flat * (1.0 - v * self._tail_norm) ** (-1.0 / self.theta)
        out: F64 = np.where(flat, u / self.p_flat * self.flat, tail)
        return out

    def survival(self, d: F64) -> F64:
        """S(d) = P(delay > d): 1 at 0, falling to 0 at the cut-off."""
        x = np.clip(d, 0.0, self.cutoff)
        head = 1.0 - self.p_flat * x / self.flat
        ratio = np.maximum(x, self.flat) / self.flat
        tail = (1.0 - self.p_flat) * (ratio ** (-self.theta) - self._ratio) / self._tail_norm
        out: F64 = np.maximum(np.where(x < self.flat, head, tail), 0.0)
        return out

    def inverse_survival(self, s: F64) -> F64:
        """The delay d with S(d) = s, for s in (0, 1]."""
        return self.delays(1.0 - s)
