"""Warm start: the stream begins in its stationary state, not with an empty past.

A cold Hawkes process starts with originals only: reposts, replies and quotes of posts from
before ``start_ms`` are missing, and as the delay kernel is heavy-tailed (hours to days) the
rate starts about a quarter low and recovers over days. Simulating days of history to
avoid that would cost hundreds of millions of posts. Instead the pre-start past is sampled
exactly where it shows: as the *ghost parents* (posts from before the start, never
emitted) that have children after it.

In activity time the stationary past is a Poisson process of posts with rate R and marks
(fitness phi, depth d, author, kind) distributed as in the stream, each with m expected
children at delays from the kernel K. Block b, covering [t0, t1) after the start, takes the
ghost parents whose *first* child after the start falls in it (by the marking theorem these
sets are independent Poisson processes, so block b stays a pure function of its seed):

1. proposals: parents sized by their child intensity, ``R m K(a + t)`` for age a > 0 and
   t in [t0, t1), with mark weights ``m`` (size-biased: the (phi, d) table and
   followers-weighted authors below);
2. acceptance ``(m / m_bar) exp(-m (S(a + e0) - S(a + t0))) (1 - e^-x) / x``, with
   ``x = m (S(a + t0) - S(a + t1))``: no child between the epoch start e0 and t0, at least
   one in the block;
3. children: a zero-truncated Poisson(x) number in the block and Poisson(m (S(a + t1) -
   S(a + e1))) later in the epoch [e0, e1), delays from K restricted to those ranges.

The children then grow their own cascades in the block's forest like any post, so the mean
rate is the target from the first second, and sibling reposts of a busy pre-start post stay
together within an epoch. Epochs (EPOCH_BLOCKS blocks, about 15 min at the default rate)
bound the ghost backlog at any rate: a pre-start post's children in the next epoch come
from a new ghost (exact in each epoch, not linked across them). Other approximations: a
ghost's grandparent is not shared with other ghosts (each non-original ghost gets its own
root), the cascade horizon is not applied to pre-start roots, and scheduled bursts from
before the start do not echo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.firehose.config import FirehoseConfig
from ingest.firehose.kernel import DelayKernel
from ingest.firehose.profile import TimeWarp

__all__ = ["EPOCH_BLOCKS", "GhostChildren", "GhostSampler", "generations"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
KindsOf = Callable[[I64], npt.NDArray[np.int8]]
_Z = np.linspace(-8.0, 8.0, 4097)  # standard-normal grid for the log-fitness
_DZ = float(_Z[1] - _Z[0])
EPOCH_BLOCKS = 256
"""Ghost cascades are followed for this many blocks (about a million posts) at a time."""


def generations(
    config: FirehoseConfig, mean_g: float, fitness_max: float
) -> tuple[F64, F64, list[F64]]:
    """Expected cascade shape by fitness, on a fine grid of the (capped) log-normal fitness:
    (phi, the probability of each grid cell, gens) with gens[d][i] the expected posts at
    depth d of a cascade whose original has fitness phi[i] (gens[0] = 1, the original).

    A post's expected children average over independent authors (mean g) and kinds, so
    generations multiply: the original has ``p phi g_mean orig`` children, a depth-d post
    ``p phi g_mean kinds decay^d``. The grid (not a Gauss rule) copes with the cap's kink.
    """
    c = config
    shares = np.array(c.child_kinds, dtype=np.float64) / sum(c.child_kinds)
    kind_mean = shares[0] + shares[1] * c.reply_infectiousness + shares[2]
    phi = np.minimum(np.exp(c.fitness_sd * _Z), fitness_max)
    pdf = np.exp(-0.5 * _Z**2) * _DZ / np.sqrt(2.0 * np.pi)
    gens = [np.ones_like(phi)]
    gen = c.infectiousness * phi * mean_g * c.original_infectiousness
    for depth in range(1, c.max_depth + 1):
        gens.append(gen)
        if float(gen.max()) < 1e-12:
            break
        gen = gen * c.infectiousness * phi * mean_g * kind_mean * c.depth_decay**depth
    return phi, pdf / pdf.sum(), gens


def _draw(cdf: F64, rng: np.random.Generator, n: int) -> I64:
    """n independent indices distributed by ``cdf`` (sorted keys keep the search in cache)."""
    found = np.searchsorted(cdf, np.sort(rng.uniform(size=n)))
    out: I64 = np.minimum(found, len(cdf) - 1)[rng.permutation(n)]
    return out


@dataclass(frozen=True)
class GhostChildren:
    """Posts of one block whose parent is a ghost (times in ms relative to the start)."""

    tau: F64
    t: I64
    id: I64
    parent: I64
    root: I64
    src: I64
    src_t: I64
    kind: npt.NDArray[np.int8]
    fitness: F64
    depth: I64
    root_tau: F64  # the ghost parent's activity time (stands in for its root's)


class GhostSampler:
    """Draws, block by block, the children of posts from before the start."""

    def __init__(
        self,
        config: FirehoseConfig,
        kernel: DelayKernel,
        warp: TimeWarp,
        roots_per_ms: float,
        author_g: F64,
        author_weight: F64,
        fitness_max: float,
        kinds_of: KindsOf,
    ) -> None:
        c = config
        self._c = config
        self._kernel = kernel
        self._warp = warp
        self._kinds_of = kinds_of
        self._fmax = fitness_max
        self._kf_max = max(1.0, c.reply_infectiousness)
        mean_g = float(author_weight @ author_g)
        phi, pdf, gens = generations(config, mean_g, fitness_max)
        kf_max = [c.original_infectiousness] + [self._kf_max] * (len(gens) - 1)
        self._depths = len(gens)
        depth = np.arange(self._depths, dtype=np.float64)
        # proposal weight of a parent at (phi, d): its share of posts times its m_bar
        weight = (
            pdf[:, None]
            * np.stack(gens, axis=1)
            * phi[:, None]
            * c.depth_decay ** depth[None, :]
            * np.array(kf_max)[None, :]
        )
        self._cells = np.cumsum(weight.ravel())
        total = float(self._cells[-1])
        self._cells /= total
        # proposals per ms of activity time, per unit of S(t)
        self._rate = roots_per_ms * c.infectiousness * mean_g * total
        sized = author_weight * author_g
        self._authors = np.cumsum(sized) / sized.sum()
        self._g = author_g
        self.children_per_ms = roots_per_ms * (float(pdf @ sum(gens[1:])))
        """Expected rate of non-original posts in the stationary stream (a check)."""

    def active(self, tau_lo: float) -> bool:
        return tau_lo < self._kernel.cutoff

    def block(
        self,
        rng: np.random.Generator,
        lo: float,
        tau: tuple[float, float],
        epoch: tuple[float, float],
        base: np.int64,
        next_id: int,
    ) -> tuple[GhostChildren, int]:
        """The children in ``epoch`` (activity times) of the ghosts first seen in the block
        starting at event time ``lo`` (activity times ``tau``), with ids ``base + next_id
        ...``; and the next free id."""
        c, k = self._c, self._kernel
        (t0, t1), (e0, e1) = tau, epoch
        s0 = float(k.survival(np.array([t0]))[0])
        n = int(rng.poisson(self._rate * s0 * (t1 - t0))) if s0 > 0 else 0
        t = rng.uniform(t0, t1, n)
        t = t[rng.uniform(size=n) * s0 < k.survival(t)]
        n = len(t)
        age = k.inverse_survival(rng.uniform(size=n) * k.survival(t)) - t
        cell = _draw(self._cells, rng, n)
        zi, depth = np.divmod(cell, self._depths)
        z = _Z[zi] + (rng.uniform(size=n) - 0.5) * _DZ
        fitness = np.minimum(np.exp(c.fitness_sd * z), self._fmax)
        author = _draw(self._authors, rng, n)
        ids = base + np.arange(next_id, next_id + n, dtype=np.int64)
        next_id += n
        kind = np.where(depth == 0, 0, self._kinds_of(ids))
        kf = np.where(kind == 2, c.reply_infectiousness, 1.0)
        kf_max = np.where(depth == 0, 1.0, self._kf_max)
        m = c.infectiousness * fitness * self._g[author] * c.depth_decay**depth
        m = m * np.where(depth == 0, c.original_infectiousness, kf)
        s_e, s_0, s_1 = k.survival(age + e0), k.survival(age + t0), k.survival(age + t1)
        x = m * (s_0 - s_1)
        at_least_one = np.where(x > 1e-12, -np.expm1(-x) / np.maximum(x, 1e-300), 1.0)
        accept = kf / kf_max * np.exp(-m * (s_e - s_0)) * at_least_one
        keep = rng.uniform(size=n) < accept
        ids, depth, kind, fitness, age = (
            ids[keep],
            depth[keep],
            kind[keep],
            fitness[keep],
            age[keep],
        )
        m, x, s_0, s_1 = m[keep], x[keep], s_0[keep], s_1[keep]
        s_end = k.survival(age + e1)
        n = len(ids)
        # a ghost original is its own root; any other ghost gets a root of its own
        deep = depth > 0
        root = ids.copy()
        root[deep] = base + np.arange(next_id, next_id + int(deep.sum()), dtype=np.int64)
        next_id += int(deep.sum())
        src = np.where(kind == 1, root, ids)  # a reposted ghost shows its root's text
        born = np.floor(self._warp.inverse(-age)).astype(np.int64)
        # children: at least one in the block (zero-truncated Poisson), any number later
        first = -np.log1p(rng.uniform(size=n) * np.expm1(-x))
        k_in = 1 + rng.poisson(np.maximum(x - first, 0.0))
        k_out = rng.poisson(m * (s_1 - s_end))
        p_in, p_out = np.repeat(np.arange(n), k_in), np.repeat(np.arange(n), k_out)
        u_in, u_out = rng.uniform(size=len(p_in)), rng.uniform(size=len(p_out))
        s_in = s_1[p_in] + u_in * (s_0[p_in] - s_1[p_in])
        s_out = s_end[p_out] + u_out * (s_1[p_out] - s_end[p_out])
        parent = np.concatenate([p_in, p_out])
        delay = k.inverse_survival(np.concatenate([s_in, s_out]))
        child_tau = np.maximum(delay - age[parent], t0)
        child_t = np.maximum(np.floor(self._warp.inverse(child_tau)), lo).astype(np.int64)
        child_ids = base + np.arange(next_id, next_id + len(parent), dtype=np.int64)
        next_id += len(parent)
        child_kind = self._kinds_of(child_ids)
        repost = child_kind == 1
        children = GhostChildren(
            tau=child_tau,
            t=child_t,
            id=child_ids,
            parent=ids[parent],
            root=root[parent],
            src=np.where(repost, src[parent], child_ids),
            src_t=np.where(repost, born[parent], child_t),
            kind=child_kind,
            fitness=fitness[parent],
            depth=depth[parent] + 1,
            root_tau=-age[parent],
        )
        return children, next_id
