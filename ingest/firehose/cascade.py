"""Originals and their cascades, one block of event time at a time.

Block b covers event times [b W, (b+1) W) ms after start. Its originals are a Poisson
process of constant rate in activity time (so diurnal in event time) plus burst posts
(thinned in event time). Each original seeds a cluster of a self-exciting Hawkes process:
a post has Poisson(m) direct children, m = p * fitness * (followers / ref) ** gamma (capped),
delays drawn from a SEISMIC-style kernel (flat for ``kernel_flat_s``, then a power law of
exponent ``kernel_exponent``, cut off at ``kernel_cutoff_s``) in activity time. The whole
forest is generated at once from the block's own random stream, so block b is a pure
function of (config, seed, start, b), and its posts go to the calendar to wait their turn.
Post ids are ``b << 32 | n`` (n = 1, 2, ... within the block's forest).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.firehose.authors import Authors
from ingest.firehose.bursts import BurstBook
from ingest.firehose.calendar import ID_SHIFT, MAX_LEAD_MS, Events, Posts, pack
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.hashing import seed_key, uniform
from ingest.firehose.kernel import DelayKernel
from ingest.firehose.profile import TimeWarp, burst_shape
from ingest.firehose.warm import EPOCH_BLOCKS, GhostSampler, generations

__all__ = ["CascadeModel", "child_kinds"]
_SALT_BLOCK = 0xB10C
_SALT_GHOST = 0x6057
_FIELDS = ("t", "id", "parent", "root", "src", "src_t", "topic", "kind")
_SALT_KIND = 0xC1D
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def child_kinds(ids: I64, config: FirehoseConfig, seed: int) -> npt.NDArray[np.int8]:
    """Kind code (1 repost, 2 reply, 3 quote) of each child post: a function of its id."""
    u = uniform(ids, seed_key(seed, _SALT_KIND))
    repost, reply, _ = config.child_kinds
    total = sum(config.child_kinds)
    kinds = np.where(u < repost / total, 1, np.where(u < (repost + reply) / total, 2, 3))
    return kinds.astype(np.int8)


class CascadeModel:
    def __init__(
        self,
        config: FirehoseConfig,
        seed: int,
        warp: TimeWarp,
        authors: Authors,
        bursts: BurstBook,
        block_ms: int,
    ) -> None:
        self._c = config
        self._seed = seed
        self._warp = warp
        self._authors = authors
        self._bursts = bursts
        self._block_ms = block_ms
        scale = config.time_scale
        self._kernel = DelayKernel(
            config.kernel_flat_s * 1000.0 * scale,
            config.kernel_cutoff_s * 1000.0 * scale,
            config.kernel_exponent,
        )
        self._horizon = config.cascade_horizon_s * 1000.0 * scale
        # leads are int32 ms; the warp can move a time by 2 A = 2 a / omega either way, and a
        # warm-start repost can carry the text of a post a whole kernel before its block
        slack = 2.0 * warp.amplitude / warp.omega + 2.0 * block_ms
        reach = max(self._horizon, 2.0 * self._kernel.cutoff if config.warm_start else 0.0)
        if reach + slack >= MAX_LEAD_MS:
            raise ValueError(
                f"cascade_horizon_s (or twice kernel_cutoff_s) too long for this day length: at "
                f"most {(MAX_LEAD_MS - slack) / 1000.0 / scale:.0f} model seconds"
            )
        weight = authors.activity()
        g_all = self._g(authors.followers.astype(np.float64))
        shares = np.array(config.child_kinds, dtype=np.float64) / sum(config.child_kinds)
        kind_factor = shares[0] + shares[1] * config.reply_infectiousness + shares[2]
        self._mean_g_root = float(weight @ g_all)
        self._mean_g = self._mean_g_root * kind_factor
        self._fitness_max = config.max_branching / (config.infectiousness * self._mean_g)
        sizes = self.expected_cascade_size()
        self.expected_size = sizes
        total_roots_per_ms = config.rate / 1000.0 / sizes
        self._root_rate = total_roots_per_ms * (1.0 - bursts.random_volume_share)
        self._burst_rate = total_roots_per_ms
        self._ghosts = (
            GhostSampler(
                config,
                self._kernel,
                warp,
                total_roots_per_ms,
                g_all,
                weight,
                self._fitness_max,
                lambda ids: child_kinds(ids, config, seed),
            )
            if config.warm_start
            else None
        )

    # --- model pieces -------------------------------------------------------------------
    def _g(self, followers: F64) -> F64:
        c = self._c
        g = (followers / c.followers_ref) ** c.infectiousness_exponent
        out: F64 = np.minimum(g, c.max_children_mean / c.infectiousness)
        return out

    def _mean_children(
        self, fitness: F64, followers: F64, kinds: npt.NDArray[np.int8], depth: I64
    ) -> F64:
        c = self._c
        m = c.infectiousness * fitness * self._g(followers) * c.depth_decay**depth
        factor = np.where(kinds == 0, c.original_infectiousness, 1.0)
        factor = np.where(kinds == 2, c.reply_infectiousness, factor)
        out: F64 = m * factor
        return out

    def expected_cascade_size(self) -> float:
        """E[cascade size] (original included), integrated over the fitness distribution."""
        _, weight, gens = generations(self._c, self._mean_g_root, self._fitness_max)
        return float(weight @ sum(gens))

    # --- one block ----------------------------------------------------------------------
    def _roots(
        self, rng: np.random.Generator, lo: float, hi: float, tau_lo: float, tau_hi: float
    ) -> tuple[F64, I64]:
        """Originals of [lo, hi): activity times and burst topics (0 = none)."""
        warp = self._warp
        n = int(rng.poisson(self._root_rate * (tau_hi - tau_lo)))
        taus = [rng.uniform(tau_lo, tau_hi, n)]
        topics = [np.zeros(n, np.int64)]
        for burst in self._bursts.overlapping(lo, hi):
            x_lo = (lo - burst.start) / burst.rise
            x_hi = (hi - burst.start) / burst.rise
            h_max = float(burst_shape(np.array([min(max(1.0, x_lo), x_hi)]))[0])
            lam = self._burst_rate * burst.peak * h_max * (hi - lo)
            m = int(rng.poisson(lam))
            x = rng.uniform(lo, hi, m)
            keep = rng.uniform(size=m) * h_max < burst_shape((x - burst.start) / burst.rise)
            taus.append(warp.tau(x[keep]))
            topics.append(np.full(int(keep.sum()), burst.topic, np.int64))
        tau = np.concatenate(taus)
        order = np.argsort(tau, kind="stable")
        return tau[order], np.concatenate(topics)[order]

    def _rng(self, salt: int, b: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self._seed, salt, b])))

    def block(self, b: int) -> Events:
        """Every post of the cascade forest rooted in block b (any due time): its originals,
        the warm start's children of pre-start posts due in it, and all their descendants."""
        c = self._c
        rng = self._rng(_SALT_BLOCK, b)
        lo = float(b * self._block_ms)
        hi = lo + self._block_ms
        tau_lo, tau_hi = (float(x) for x in self._warp.tau(np.array([lo, hi])))
        tau, topic = self._roots(rng, lo, hi, tau_lo, tau_hi)
        n = len(tau)
        base = np.int64(b) << np.int64(ID_SHIFT)
        ids = base + np.arange(1, n + 1, dtype=np.int64)
        t = np.clip(np.floor(self._warp.inverse(tau)), lo, hi - 1).astype(np.int64)
        fitness = np.minimum(rng.lognormal(0.0, c.fitness_sd, n), self._fitness_max)
        kind = np.zeros(n, np.int8)
        zero = np.zeros(n, np.int64)
        parts = [Posts(t, ids, zero, zero, ids, t, topic, kind)]
        root, src, src_t, root_tau, depth = ids, ids, t, tau, zero
        next_id = n + 1
        if self._ghosts is not None and self._ghosts.active(tau_lo):
            first = b - b % EPOCH_BLOCKS
            edges = np.array([first, first + EPOCH_BLOCKS], dtype=np.float64) * self._block_ms
            e0, e1 = (float(x) for x in self._warp.tau(edges))
            g, next_id = self._ghosts.block(
                self._rng(_SALT_GHOST, b), lo, (tau_lo, tau_hi), (e0, e1), base, next_id
            )
            g_topic = np.zeros(len(g.id), np.int64)
            parts.append(Posts(g.t, g.id, g.parent, g.root, g.src, g.src_t, g_topic, g.kind))
            tau, t, ids = (np.concatenate(p) for p in ((tau, g.tau), (t, g.t), (ids, g.id)))
            root, src = np.concatenate([root, g.root]), np.concatenate([src, g.src])
            src_t, root_tau = (
                np.concatenate([src_t, g.src_t]),
                np.concatenate([root_tau, g.root_tau]),
            )
            topic, kind = np.concatenate([topic, g_topic]), np.concatenate([kind, g.kind])
            fitness, depth = np.concatenate([fitness, g.fitness]), np.concatenate([depth, g.depth])
            n = len(ids)
        for _ in range(c.max_depth):
            if n == 0:
                break
            followers = self._authors.followers[self._authors.of_posts(ids)]
            m = self._mean_children(fitness, followers.astype(np.float64), kind, depth)
            k = rng.poisson(np.where(depth < c.max_depth, m, 0.0))
            parent = np.repeat(np.arange(n), k)
            child_tau = tau[parent] + self._kernel.delays(rng.uniform(size=len(parent)))
            alive = child_tau - root_tau[parent] <= self._horizon
            parent, child_tau = parent[alive], child_tau[alive]
            n = len(parent)
            if n == 0:
                break
            child_t = np.maximum(
                np.floor(self._warp.inverse(child_tau)).astype(np.int64), t[parent] + 1
            )
            child_ids = base + np.arange(next_id, next_id + n, dtype=np.int64)
            next_id += n
            child_kind = child_kinds(child_ids, c, self._seed)
            repost = child_kind == 1
            child_src = np.where(repost, src[parent], child_ids)
            child_src_t = np.where(repost, src_t[parent], child_t)
            root, root_tau, topic = root[parent], root_tau[parent], topic[parent]
            parts.append(
                Posts(
                    child_t, child_ids, ids[parent], root, child_src, child_src_t, topic, child_kind
                )
            )
            tau, t, ids, src, src_t = child_tau, child_t, child_ids, child_src, child_src_t
            fitness, kind, depth = fitness[parent], child_kind, depth[parent] + 1
        if next_id >= 1 << ID_SHIFT:
            raise OverflowError("a block's cascade forest outgrew its id space")
        forest = Posts(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))
        return pack(b, self._block_ms, forest)
