"""Counter-based randomness: a post's attributes are a pure function of (seed, post id, salt).

Whatever process or batch materialises a post, it gets the same author, text and hashtags,
which is what makes batch-size invariance and sharding exact. SplitMix64 finaliser,
vectorised over numpy uint64 arrays (wrap-around multiplication is intended).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["bits", "mix64", "seed_key", "uniform"]

U64 = npt.NDArray[np.uint64]
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / float(1 << 53)


def mix64(x: U64) -> U64:
    """SplitMix64 finaliser: a bijective, well-mixed 64-bit hash of each element."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    out: U64 = z ^ (z >> _S31)
    return out


def seed_key(seed: int, salt: int) -> np.uint64:
    """A 64-bit key for one (seed, salt) stream."""
    x = np.array([(seed * 0x2545F4914F6CDD1D + salt * 0x9E3779B97F4A7C15) & (2**64 - 1)])
    return np.uint64(mix64(x.astype(np.uint64))[0])


def bits(ids: npt.NDArray[np.int64], key: np.uint64) -> U64:
    """64 random bits per id for the stream ``key``."""
    return mix64(ids.astype(np.uint64) ^ key)


def uniform(ids: npt.NDArray[np.int64], key: np.uint64) -> npt.NDArray[np.float64]:
    """A uniform [0, 1) float per id for the stream ``key``."""
    out: npt.NDArray[np.float64] = (bits(ids, key) >> _S11).astype(np.float64) * _INV53
    return out
