"""The statistics of the moat experiment: intervals over seeds, paired tests, exact Poisson
limits, rank correlation and the top-n agreement of a sampled stream with the firehose.

* :func:`bootstrap_ci` -- the percentile bootstrap interval (Efron & Tibshirani 1993, *An
  Introduction to the Bootstrap*, ch. 13) of any statistic, resampling whole clusters (the
  experiment's seeds) with replacement, the cluster bootstrap of Davison & Hinkley (1997,
  *Bootstrap Methods and their Application*, sec. 3.8). :func:`ratio_ci` (a ratio of sums
  over clusters, e.g. bursts detected / bursts eligible) and :func:`mean_ci` are the same
  interval, vectorised, over the very same resamples (the same seed gives the same index
  matrix).
* :func:`mcnemar_exact` -- McNemar's (1947, *Psychometrika* 12) test of paired binary
  outcomes in its exact conditional form: a two-sided binomial test of the ``b`` against the
  ``c`` discordant pairs, ``p = min(1, 2 P(X <= min(b, c)))``, ``X ~ Bin(b + c, 1/2)``
  (Fagerland, Lydersen & Laake 2013, *BMC Med. Res. Methodol.* 13:91), in exact integers.
* :func:`wilcoxon_signed_rank` -- Wilcoxon's (1945, *Biometrics Bulletin* 1(6)) signed-rank
  test: zero differences dropped (Wilcoxon's convention), average ranks for tied ``|d|``;
  the exact null distribution of ``W+`` (the recurrence over rank sums, e.g. Hollander,
  Wolfe & Chicken 2014, *Nonparametric Statistical Methods*, sec. 3.1) for up to 50 untied
  pairs, otherwise the normal approximation with the tie-corrected variance
  ``n(n+1)(2n+1)/24 - sum(t^3 - t)/48`` (Lehmann 1975, *Nonparametrics*, sec. 3.2) and a
  continuity correction of 1/2.
* :func:`poisson_rate_ci` -- the exact (Garwood 1936, *Biometrika* 28) limits of a Poisson
  rate, ``lower = G^-1(alpha/2; k)``, ``upper = G^-1(1 - alpha/2; k + 1)`` (``G`` the
  unit-scale gamma distribution function, ``lower = 0`` for ``k = 0``), divided by the
  exposure; the regularised incomplete gamma function by its series and its Lentz continued
  fraction (Press et al. 2007, *Numerical Recipes*, 3rd ed., sec. 6.2), inverted by a
  bracketed Newton iteration.
* :func:`kendall_tau_b` -- Kendall's (1945, *Biometrika* 33, "The treatment of ties in
  ranking problems") tau-b, counted as Knight (1966, *JASA* 61) does: sort by ``(x, y)``,
  count the discordant pairs as the inversions of ``y`` by a merge sort (here bottom-up and
  vectorised over every block of a level, and over many groups at once), and the ties from
  runs of equal values.
* :func:`top_n_keys`, :func:`top_n_agreement`, :func:`summarise_agreement` -- the comparison
  of Morstatter, Pfeffer, Liu & Carley (2013, ICWSM, "Is the sample good enough? Comparing
  data from Twitter's Streaming API with Twitter's firehose"): per time bucket, the sample's
  top-n hashtags against the firehose's, as the share of the firehose's top n that the
  sample finds and as Kendall's tau-b of the two counts over the union of both top-n lists.
  Top n is tie-aware: competition ("min") ranking by posts, every key ranked ``<= n`` kept,
  so that ties at the boundary are never broken arbitrarily. The stream total
  (``STREAM_KEY``) is never ranked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray

from process.aggregate import STREAM_KEY

__all__ = [
    "Wilcoxon",
    "bootstrap_ci",
    "kendall_tau_b",
    "mcnemar_exact",
    "mean_ci",
    "poisson_rate_ci",
    "ratio_ci",
    "summarise_agreement",
    "top_n_agreement",
    "top_n_keys",
    "wilcoxon_signed_rank",
]

T = TypeVar("T")
Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

#: Index matrices are drawn in chunks of at most this many entries (rows of ``k``).
_CHUNK = 1 << 22
#: Above this many untied non-zero pairs the signed-rank test is normal by default.
_EXACT_MAX_N = 50


# --- bootstrap ---------------------------------------------------------------------------


def _check_boot(n_boot: int, level: float) -> None:
    if n_boot < 1:
        raise ValueError(f"n_boot must be positive, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _resamples(k: int, n_boot: int, seed: int) -> Iterator[NDArray[np.int64]]:
    """The bootstrap index matrix (``n_boot`` rows of ``k`` cluster indices drawn with
    replacement), in row chunks; the same for every function given the same arguments."""
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK // k)
    for start in range(0, n_boot, rows):
        yield rng.integers(0, k, size=(min(rows, n_boot - start), k), dtype=np.int64)


def _percentile(values: Floats, level: float) -> tuple[float, float] | None:
    """The equal-tailed percentile interval of the finite values (linear interpolation)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    alpha = 1.0 - level
    lo, hi = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def bootstrap_ci(
    clusters: Sequence[T],
    statistic: Callable[[Sequence[T]], float | None],
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``statistic`` over resamples of whole clusters.

    Each of ``n_boot`` resamples draws ``len(clusters)`` clusters with replacement; a
    statistic of None (or not finite) is skipped. None with fewer than 2 clusters or when
    no resample gives a finite value.
    """
    _check_boot(n_boot, level)
    k = len(clusters)
    if k < 2:
        return None
    values = np.full(n_boot, np.nan)
    row = 0
    for chunk in _resamples(k, n_boot, seed):
        for picks in chunk.tolist():
            value = statistic([clusters[i] for i in picks])
            if value is not None:
                values[row] = value
            row += 1
    return _percentile(values, level)


def _vector(values: ArrayLike, name: str) -> Floats:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite")
    return array


def ratio_ci(
    num: ArrayLike,
    den: ArrayLike,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Cluster bootstrap interval of ``sum(num) / sum(den)`` (one entry of each per cluster),
    vectorised; resamples whose denominator sums to 0 are skipped. The same resamples as
    :func:`bootstrap_ci` with the same ``n_boot`` and ``seed``."""
    _check_boot(n_boot, level)
    top, bottom = _vector(num, "num"), _vector(den, "den")
    if top.shape != bottom.shape:
        raise ValueError(f"num and den differ in length: {top.size} != {bottom.size}")
    if top.size < 2:
        return None
    ratios = []
    for idx in _resamples(top.size, n_boot, seed):
        n, d = top[idx].sum(axis=1), bottom[idx].sum(axis=1)
        ratios.append(np.divide(n, d, out=np.full(n.shape, np.nan), where=d != 0))
    return _percentile(np.concatenate(ratios), level)


def mean_ci(
    values: ArrayLike,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Cluster bootstrap interval of the mean of one value per cluster, vectorised; the same
    resamples as :func:`bootstrap_ci` with the same ``n_boot`` and ``seed``."""
    _check_boot(n_boot, level)
    array = _vector(values, "values")
    if array.size < 2:
        return None
    means = [array[idx].mean(axis=1) for idx in _resamples(array.size, n_boot, seed)]
    return _percentile(np.concatenate(means), level)


# --- McNemar -----------------------------------------------------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value of ``b`` against ``c`` discordant pairs: the binomial
    test ``min(1, 2 P(X <= min(b, c)))``, ``X ~ Bin(b + c, 1/2)``; 1.0 when ``b + c == 0``.
    Summed in exact integers (one correctly rounded division at the end)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n, m = b + c, min(b, c)
    if 2 * m >= n:
        return 1.0
    term, tail = 1, 1
    for i in range(m):
        term = term * (n - i) // (i + 1)
        tail += term
    return min(1.0, tail / (1 << (n - 1)))


# --- Wilcoxon signed rank ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wilcoxon:
    """A signed-rank test: ``n`` non-zero differences, ``statistic`` W+ (the sum of the
    ranks of the positive ones), the two-sided ``p_value`` and how it was computed."""

    n: int
    statistic: float
    p_value: float
    method: Literal["exact", "normal"]


def _average_ranks(values: Floats) -> tuple[Floats, Ints]:
    """Ranks 1..n of ``values``, ties given their average rank, and the size of every group
    of equal values."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, ordered.size])
    # positions start+1 .. start+size share the rank start + (size + 1) / 2
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(starts + (sizes + 1) / 2.0, sizes)
    return ranks, sizes.astype(np.int64)


@lru_cache(maxsize=64)
def _signed_rank_cdf(n: int) -> Floats:
    """P(W+ <= w) for w = 0 .. n(n+1)/2 under the null (n untied non-zero pairs), by the
    recurrence over ranks: each rank k joins W+ with probability 1/2. The probabilities are
    multiples of 2^-n and exact in float64 for n <= 53."""
    total = n * (n + 1) // 2
    pmf = np.zeros(total + 1)
    pmf[0] = 1.0
    for k in range(1, n + 1):
        shifted = np.zeros_like(pmf)
        shifted[k:] = pmf[:-k]
        pmf = (pmf + shifted) / 2.0
    cdf = np.cumsum(pmf)
    cdf.flags.writeable = False
    return cdf


def _exact_p(w: int, n: int) -> float:
    cdf = _signed_rank_cdf(n)
    # W+ is symmetric about n(n+1)/4: P(W+ >= w) = P(W+ <= n(n+1)/2 - w)
    low = min(w, n * (n + 1) // 2 - w)
    return min(1.0, 2.0 * float(cdf[low]))


def _normal_p(w: float, n: int, ties: Ints) -> float:
    mean = n * (n + 1) / 4.0
    var = n * (n + 1) * (2 * n + 1) / 24.0 - float((ties**3 - ties).sum()) / 48.0
    z = max(abs(w - mean) - 0.5, 0.0) / math.sqrt(var)
    return min(1.0, math.erfc(z / math.sqrt(2.0)))


def wilcoxon_signed_rank(
    d: ArrayLike, *, method: Literal["auto", "exact", "normal"] = "auto"
) -> Wilcoxon:
    """Wilcoxon's signed-rank test of the paired differences ``d`` (two-sided).

    Zero differences are dropped; tied ``|d|`` get average ranks. ``method="auto"`` is exact
    for at most 50 untied pairs, normal (tie-corrected variance, continuity correction)
    otherwise; ``"exact"`` insists (a ValueError with tied ``|d|``), ``"normal"`` never is.
    No non-zero difference gives p = 1.
    """
    diffs = _vector(d, "d")
    diffs = diffs[diffs != 0.0]
    n = int(diffs.size)
    if n == 0:
        return Wilcoxon(0, 0.0, 1.0, "exact")
    ranks, sizes = _average_ranks(np.abs(diffs))
    w = float(ranks[diffs > 0].sum())
    tied = bool((sizes > 1).any())
    if method == "exact" and tied:
        raise ValueError("the exact signed-rank distribution needs untied |d|")
    if method == "exact" or (method == "auto" and not tied and n <= _EXACT_MAX_N):
        return Wilcoxon(n, w, _exact_p(round(w), n), "exact")
    return Wilcoxon(n, w, _normal_p(w, n, sizes), "normal")


# --- Poisson rate ------------------------------------------------------------------------

_EPS = 1e-15
_TINY = 1e-300


def _gamma_p(a: float, x: float) -> float:
    """The regularised lower incomplete gamma function P(a, x), a > 0 (Numerical Recipes
    ``gser`` below x = a + 1, ``gcf`` by modified Lentz above)."""
    if x <= 0.0:
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    cap = 1000 + int(50 * math.sqrt(a))
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(cap):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                return min(1.0, total * math.exp(log_front))
    else:
        b = x + 1.0 - a
        c, dd = 1.0 / _TINY, 1.0 / b
        h = dd
        for i in range(1, cap):
            an = -i * (i - a)
            b += 2.0
            dd = an * dd + b
            dd = _TINY if abs(dd) < _TINY else dd
            c = b + an / c
            c = _TINY if abs(c) < _TINY else c
            dd = 1.0 / dd
            delta = dd * c
            h *= delta
            if abs(delta - 1.0) < _EPS:
                return max(0.0, 1.0 - math.exp(log_front) * h)
    raise ArithmeticError(f"incomplete gamma P({a}, {x}) did not converge")


def _gamma_quantile(p: float, a: float) -> float:
    """The x with P(a, x) = p, 0 < p < 1: Newton steps kept inside a shrinking bracket."""
    lo, hi = 0.0, max(1.0, 2.0 * a)
    while _gamma_p(a, hi) < p:
        lo, hi = hi, 2.0 * hi
    x = 0.5 * (lo + hi)
    for _ in range(200):
        f = _gamma_p(a, x) - p
        if f == 0.0:
            return x
        if f < 0.0:
            lo = x
        else:
            hi = x
        density = math.exp((a - 1.0) * math.log(x) - x - math.lgamma(a))
        step = x - f / density if density > 0.0 else lo - 1.0
        nxt = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(nxt - x) <= 4.0 * _EPS * x or hi - lo <= 4.0 * _EPS * hi:
            return nxt
        x = nxt
    return x


def poisson_rate_ci(events: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson rate from ``events`` counted over ``exposure``:
    ``(G^-1(alpha/2; events), G^-1(1 - alpha/2; events + 1)) / exposure``, lower 0 for no
    events."""
    if events < 0:
        raise ValueError(f"events must be non-negative, got {events}")
    if not exposure > 0.0:
        raise ValueError(f"exposure must be positive, got {exposure}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    alpha = 1.0 - level
    lower = 0.0 if events == 0 else _gamma_quantile(alpha / 2.0, float(events))
    upper = _gamma_quantile(1.0 - alpha / 2.0, float(events + 1))
    return lower / exposure, upper / exposure


# --- Kendall's tau-b ---------------------------------------------------------------------


def _runs(*columns: NDArray[np.generic]) -> NDArray[np.bool_]:
    """True where a run of equal rows (over all columns) starts; the rows are sorted."""
    start = np.zeros(columns[0].size, dtype=bool)
    start[:1] = True
    for col in columns:
        start[1:] |= col[1:] != col[:-1]
    return start


def _tied_pairs(start: NDArray[np.bool_], group: Ints, groups: int) -> Floats:
    """Per group, the pairs within runs (``start`` marks the runs of sorted rows)."""
    first = np.flatnonzero(start)
    t = np.diff(np.r_[first, start.size]).astype(np.float64)
    pairs = np.bincount(group[first], weights=t * (t - 1) / 2.0, minlength=groups)
    return pairs.astype(np.float64)


def _inversions(v: Ints, owner: Ints, groups: int) -> Floats:
    """Per group, the pairs i < j with v[i] > v[j], by a bottom-up merge sort: at block width
    w every element of a right block counts the larger elements of its left block (one
    ``searchsorted`` over all blocks, keyed by ``pair * span + v``). ``v`` must order groups
    before values (an earlier group's values are all smaller) so that only pairs within a
    group count; ``owner[v]`` is the group of the value v."""
    n = v.size
    span = int(v.max()) + 1 if n else 1
    idx = np.arange(n, dtype=np.int64)
    found = np.zeros(groups)
    width = 1
    while width < n:
        pair = idx // (2 * width)
        keys = pair * span + v
        left = (idx // width) % 2 == 0
        lk, rk, rp = keys[left], keys[~left], pair[~left]
        larger = np.searchsorted(lk, (rp + 1) * span, "left") - np.searchsorted(lk, rk, "right")
        found += np.bincount(owner[v[~left]], weights=larger, minlength=groups)
        v = np.sort(keys, kind="stable") - pair * span
        width *= 2
    return found


def _tau_b_groups(group: Ints, x: Floats, y: Floats, groups: int) -> Floats:
    """Kendall's tau-b of (x, y) within each group 0 .. groups-1 (NaN where undefined)."""
    order = np.lexsort((y, x, group))
    g, xs, ys = group[order], x[order], y[order]
    # the rank of (group, y), dense: groups first, so pairs across groups never invert
    by_y = np.lexsort((ys, g))
    y_start = _runs(g[by_y], ys[by_y])
    v = np.empty(g.size, dtype=np.int64)
    v[by_y] = np.cumsum(y_start) - 1
    discordant = _inversions(v, g[by_y][y_start], groups)
    size = np.bincount(g, minlength=groups).astype(np.float64)
    n0 = size * (size - 1) / 2.0
    n1 = _tied_pairs(_runs(g, xs), g, groups)
    n2 = _tied_pairs(y_start, g[by_y], groups)
    n3 = _tied_pairs(_runs(g, xs, ys), g, groups)
    denom = np.sqrt((n0 - n1) * (n0 - n2))
    numer = n0 - n1 - n2 + n3 - 2.0 * discordant
    tau: Floats = np.full(groups, np.nan)
    np.divide(numer, denom, out=tau, where=denom > 0)
    np.clip(tau, -1.0, 1.0, out=tau)
    return tau


def kendall_tau_b(x: ArrayLike, y: ArrayLike) -> float | None:
    """Kendall's tau-b of two equally long vectors, ties in either allowed, in O(n log^2 n);
    None when n < 2 or either vector is constant."""
    xs, ys = _vector(x, "x"), _vector(y, "y")
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} != {ys.size}")
    if xs.size < 2:
        return None
    tau = float(_tau_b_groups(np.zeros(xs.size, dtype=np.int64), xs, ys, 1)[0])
    return None if math.isnan(tau) else tau


# --- top n -------------------------------------------------------------------------------


def _rank() -> pl.Expr:
    """Competition rank by posts (1 = most), within a bucket."""
    return pl.col("posts").rank("min", descending=True).over("bucket").cast(pl.Int64)


def top_n_keys(counts: pl.DataFrame, n: int) -> pl.DataFrame:
    """Per ``bucket``, the keys ranked ``<= n`` by ``posts`` (competition ranking, so every
    key tied at the boundary is in), with their ``rank``; ``STREAM_KEY`` is never ranked."""
    return (
        counts.filter(pl.col("key") != STREAM_KEY)
        .with_columns(_rank().alias("rank"))
        .filter(pl.col("rank") <= n)
        .sort("bucket", "rank", "key")
    )


def _bucketed(frame: pl.DataFrame, bucket_ms: int) -> pl.DataFrame:
    """Posts summed per (bucket, key), the keys ranked within their bucket."""
    return (
        frame.filter(pl.col("key") != STREAM_KEY)
        .group_by((pl.col("window_start") // bucket_ms * bucket_ms).alias("bucket"), "key")
        .agg(pl.col("posts").cast(pl.Float64).sum())
        .with_columns(_rank().alias("rank"))
    )


def top_n_agreement(
    truth: pl.DataFrame, estimate: pl.DataFrame, ns: Sequence[int], bucket_ms: int
) -> pl.DataFrame:
    """Per bucket (``window_start`` floored to ``bucket_ms``) and n: ``overlap`` |T & E| / |T|
    of the tie-aware top n of the truth (T) and of the estimate (E), null when T is empty;
    ``tau`` Kendall's tau-b of the two post counts over T | E (0 where a side lacks the key),
    null when undefined; ``truth_keys`` |T|. One row per bucket present in either input."""
    if bucket_ms <= 0:
        raise ValueError(f"bucket_ms must be positive, got {bucket_ms}")
    sizes = sorted(set(ns))
    if not sizes or sizes[0] < 1:
        raise ValueError(f"ns must be positive sizes, got {list(ns)}")
    t, e = _bucketed(truth, bucket_ms), _bucketed(estimate, bucket_ms)
    both = (
        t.join(e, on=["bucket", "key"], how="full", coalesce=True, suffix="_e")
        .filter(pl.min_horizontal("rank", "rank_e") <= sizes[-1])
        .with_columns(pl.col("posts", "posts_e").fill_null(0.0))
    )
    union = (
        pl.concat(
            both.filter((pl.col("rank") <= n) | (pl.col("rank_e") <= n)).with_columns(
                pl.lit(n, dtype=pl.Int64).alias("n"),
                (pl.col("rank") <= n).fill_null(False).alias("in_t"),
                (pl.col("rank_e") <= n).fill_null(False).alias("in_e"),
            )
            for n in sizes
        )
        .sort("bucket", "n")
        .with_columns(pl.struct("bucket", "n").rle_id().cast(pl.Int64).alias("group"))
    )
    groups = union["group"].n_unique()
    taus = _tau_b_groups(
        union["group"].to_numpy(),
        union["posts"].to_numpy(),
        union["posts_e"].to_numpy(),
        groups,
    )
    per_group = union.group_by("group", "bucket", "n").agg(
        pl.col("in_t").sum().cast(pl.Int64).alias("truth_keys"),
        (pl.col("in_t") & pl.col("in_e")).sum().alias("hits"),
    )
    scores = per_group.with_columns(
        pl.when(pl.col("truth_keys") > 0)
        .then(pl.col("hits") / pl.col("truth_keys"))
        .cast(pl.Float64)
        .alias("overlap"),
        pl.Series("tau", taus, dtype=pl.Float64).gather(per_group["group"]).fill_nan(None),
    )
    buckets = pl.concat([truth.select("window_start"), estimate.select("window_start")]).select(
        (pl.col("window_start") // bucket_ms * bucket_ms).cast(pl.Int64).unique().alias("bucket")
    )
    grid = buckets.join(pl.DataFrame({"n": sizes}, schema={"n": pl.Int64}), how="cross")
    return (
        grid.join(scores, on=["bucket", "n"], how="left")
        .select(
            "bucket",
            "n",
            "overlap",
            "tau",
            pl.col("truth_keys").fill_null(0),
        )
        .sort("bucket", "n")
    )


def summarise_agreement(rows: pl.DataFrame) -> pl.DataFrame:
    """Per n, the mean ``overlap`` and mean ``tau`` over buckets (nulls ignored) and the
    number of ``buckets``, from the rows of :func:`top_n_agreement`."""
    return (
        rows.group_by("n")
        .agg(
            pl.col("overlap").mean(),
            pl.col("tau").mean(),
            pl.len().cast(pl.Int64).alias("buckets"),
        )
        .sort("n")
    )
