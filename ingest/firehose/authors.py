"""Authors: follower counts (log-normal bulk, power-law tail) and heavy-tailed activity.

The follower table is drawn once from the seed. Which author writes a post is a pure
function of the post id: a rank from a truncated power law (rank^-a activity), scrambled
into an author id by an affine bijection so busy authors are not the low ids.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ingest.firehose.config import FirehoseConfig
from ingest.firehose.hashing import seed_key, uniform

__all__ = ["Authors"]

I64 = npt.NDArray[np.int64]
_SALT_TABLE = 0xA7
_SALT_PICK = 0xA8


class Authors:
    def __init__(self, config: FirehoseConfig, seed: int) -> None:
        n = max(1, config.authors)
        self.count = n
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SALT_TABLE])))
        f = rng.lognormal(config.followers_log_mean, config.followers_log_sd, n)
        tail = f > config.followers_tail_min
        alpha = config.followers_tail_exponent
        # Pareto(xmin, alpha) by inversion: survival (x / xmin) ** (1 - alpha).
        u = rng.uniform(size=int(tail.sum()))
        f[tail] = config.followers_tail_min * (1.0 - u) ** (-1.0 / (alpha - 1.0))
        self.followers: I64 = np.minimum(np.floor(f), config.followers_max).astype(np.int64)
        self._a = min(max(config.activity_exponent, 0.0), 0.99)
        self._key = seed_key(seed, _SALT_PICK)
        # Affine bijection rank -> index: stride coprime with n.
        stride = int(rng.integers(n // 3 + 1, n // 2 + 2)) if n > 2 else 1
        while math.gcd(stride, n) != 1:
            stride += 1
        self._stride = stride
        self._offset = int(rng.integers(n))

    def _index(self, rank: I64) -> I64:
        out: I64 = (rank * self._stride + self._offset) % self.count
        return out

    def activity(self) -> npt.NDArray[np.float64]:
        """The probability that a post is by author index i, for every i."""
        one_minus_a = 1.0 - self._a
        edges = np.arange(self.count + 1, dtype=np.float64) + 1.0
        cdf = (edges**one_minus_a - 1.0) / ((self.count + 1.0) ** one_minus_a - 1.0)
        p = np.empty(self.count)
        p[self._index(np.arange(self.count, dtype=np.int64))] = np.diff(cdf)
        return p

    def of_posts(self, post_ids: I64) -> I64:
        """Author index (0-based) of each post."""
        u = uniform(post_ids, self._key)
        one_minus_a = 1.0 - self._a
        # Continuous truncated power law on [1, n + 1): density ~ r^-a.
        top = (self.count + 1.0) ** one_minus_a
        r = np.floor((1.0 + u * (top - 1.0)) ** (1.0 / one_minus_a)).astype(np.int64) - 1
        r = np.clip(r, 0, self.count - 1)
        return self._index(r)
