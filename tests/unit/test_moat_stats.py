"""The moat's statistics (datamoat/moat/stats.py) against brute force, closed forms and
textbook values: bootstrap coverage, exact McNemar, Wilcoxon's signed ranks, Garwood's
Poisson limits, Kendall's tau-b with ties and the tie-aware top-n agreement."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import polars as pl
import pytest

from datamoat.moat.stats import (
    Wilcoxon,
    bootstrap_ci,
    kendall_tau_b,
    mcnemar_exact,
    mean_ci,
    poisson_rate_ci,
    ratio_ci,
    summarise_agreement,
    top_n_agreement,
    top_n_keys,
    wilcoxon_signed_rank,
)

# --- bootstrap ---------------------------------------------------------------------------


def _mean(clusters: Sequence[float]) -> float:
    return sum(clusters) / len(clusters)


def test_percentile_interval_of_a_mean_covers_it_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    reps, covered = 400, 0
    for rep in range(reps):
        ci = mean_ci(rng.normal(0.0, 1.0, 30), n_boot=1000, seed=rep)
        assert ci is not None
        covered += ci[0] <= 0.0 <= ci[1]
    # the percentile interval of a mean of 30 normals covers ~0.937 (simulated); the share of
    # 400 repetitions has sd ~0.012, so both bounds lie more than 4 sd away
    assert 0.88 <= covered / reps <= 0.99


def test_mean_ci_and_ratio_ci_draw_the_resamples_bootstrap_ci_draws() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(5.0, 2.0, 25)
    generic = bootstrap_ci(list(values), _mean, n_boot=500, seed=3)
    assert generic == pytest.approx(mean_ci(values, n_boot=500, seed=3), rel=1e-12)

    found = rng.integers(0, 10, 40).astype(float)
    bursts = found + rng.integers(0, 5, 40)
    pairs = list(zip(found, bursts, strict=True))

    def recall(sample: Sequence[tuple[float, float]]) -> float | None:
        den = sum(b for _, b in sample)
        return None if den == 0 else sum(f for f, _ in sample) / den

    fast = ratio_ci(found, bursts, n_boot=800, level=0.9, seed=11)
    slow = bootstrap_ci(pairs, recall, n_boot=800, level=0.9, seed=11)
    assert fast is not None and slow is not None
    assert fast == pytest.approx(slow, rel=1e-12)
    point = found.sum() / bursts.sum()
    assert fast[0] < point < fast[1]
    assert ratio_ci(found, bursts, n_boot=800, level=0.9, seed=12) != fast


def test_bootstrap_skips_undefined_statistics_and_needs_two_clusters() -> None:
    assert bootstrap_ci([1.0], _mean) is None
    assert mean_ci([1.0]) is None
    assert ratio_ci([1.0], [2.0]) is None
    assert bootstrap_ci([1.0, 2.0, 3.0], lambda _: None, n_boot=50) is None
    assert ratio_ci([1.0, 2.0], [0.0, 0.0], n_boot=50) is None
    # resamples without the one cluster of a non-zero denominator are skipped
    ci = ratio_ci([1.0, 0.0, 0.0], [2.0, 0.0, 0.0], n_boot=200)
    assert ci == (0.5, 0.5)

    def without_first(sample: Sequence[int]) -> float | None:
        return None if 0 in sample else float(np.mean(sample))

    ci = bootstrap_ci([0, 1, 2, 3], without_first, n_boot=300)
    assert ci is not None and 1.0 <= ci[0] <= ci[1] <= 3.0
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)


def test_bootstrap_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([1.0, 2.0], _mean, n_boot=0)
    with pytest.raises(ValueError, match="differ"):
        ratio_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        mean_ci([1.0, math.nan])


# --- McNemar -----------------------------------------------------------------------------


def _binomial_test(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(Fraction(math.comb(n, i), 2**n) for i in range(min(b, c) + 1))
    return float(min(Fraction(1), 2 * tail))


def test_mcnemar_exact_is_the_two_sided_binomial_test() -> None:
    assert mcnemar_exact(0, 6) == 0.03125
    assert mcnemar_exact(2, 8) == 0.109375
    assert mcnemar_exact(8, 2) == 0.109375
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 1) == 1.0
    for b, c in itertools.product(range(25), repeat=2):
        assert mcnemar_exact(b, c) == pytest.approx(_binomial_test(b, c), rel=1e-14, abs=0)
    for b, c in [(900, 1100), (1500, 1520), (10, 3000)]:
        assert mcnemar_exact(b, c) == pytest.approx(_binomial_test(b, c), rel=1e-12, abs=0)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# --- Wilcoxon ----------------------------------------------------------------------------


def signs_of(n: int) -> itertools.product[tuple[int, ...]]:
    return itertools.product((0, 1), repeat=n)


def _enumerated_p(w: float, n: int) -> float:
    """Two-sided exact p of W+ = w by enumerating all 2^n sign patterns of ranks 1..n."""
    ranks = np.arange(1, n + 1)
    sums = [int(ranks[np.array(signs, dtype=bool)].sum()) for signs in signs_of(n)]
    low = sum(s <= w for s in sums) / len(sums)
    high = sum(s >= w for s in sums) / len(sums)
    return min(1.0, 2.0 * min(low, high))


def test_signed_rank_exact_p_matches_enumerating_the_signs() -> None:
    rng = np.random.default_rng(3)
    for n in range(1, 11):
        for _ in range(4):
            d = rng.permutation(np.arange(1, n + 1) * 0.37) * rng.choice([-1.0, 1.0], n)
            result = wilcoxon_signed_rank(d)
            ranks = np.argsort(np.argsort(np.abs(d))) + 1
            assert (result.n, result.method) == (n, "exact")
            assert result.statistic == float(ranks[d > 0].sum())
            assert result.p_value == pytest.approx(_enumerated_p(result.statistic, n), abs=1e-15)


def test_signed_rank_textbook_values() -> None:
    # n = 10: P(W+ <= 8) = 25/1024 (subsets of 1..10 summing to at most 8), two-sided 50/1024
    d = [-1, -2, -3, 4, -5, -6, -7, -8, -9, -10]
    # W+ = 4: {}, {1}, {2}, {3}, {4}, {1, 2}, {1, 3} sum to at most 4: two-sided 14/1024
    assert wilcoxon_signed_rank(d) == Wilcoxon(10, 4.0, 14 / 1024, "exact")
    d = [1, 2, -3, -4, 5, -6, -7, -8, -9, -10]
    assert wilcoxon_signed_rank(d).statistic == 8.0
    assert wilcoxon_signed_rank(d).p_value == pytest.approx(0.048828125, abs=1e-15)
    assert wilcoxon_signed_rank(np.negative(d)).p_value == pytest.approx(0.048828125, abs=1e-15)
    # all ten the same sign: 2 / 2^10
    assert wilcoxon_signed_rank(np.arange(1, 11)).p_value == pytest.approx(2 / 1024, abs=1e-15)
    assert wilcoxon_signed_rank([]) == Wilcoxon(0, 0.0, 1.0, "exact")
    assert wilcoxon_signed_rank([0.0, 0.0]) == Wilcoxon(0, 0.0, 1.0, "exact")


def test_signed_rank_drops_zeros_and_averages_tied_ranks() -> None:
    d = [0, 0, 1, -1, 2, 2, -3, 4]
    result = wilcoxon_signed_rank(d)
    # |d| 1 1 2 2 3 4 -> ranks 1.5 1.5 3.5 3.5 5 6; positive: 1, 2, 2, 4
    assert (result.n, result.statistic, result.method) == (6, 14.5, "normal")
    ranks = np.array([1.5, 1.5, 3.5, 3.5, 5.0, 6.0])
    var = (ranks**2).sum() / 4.0  # the variance of W+ under random signs of these ranks
    assert var == 6 * 7 * 13 / 24 - (6 + 6) / 48
    z = (abs(14.5 - 6 * 7 / 4) - 0.5) / math.sqrt(var)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-12)
    with pytest.raises(ValueError, match="untied"):
        wilcoxon_signed_rank(d, method="exact")
    # a zero does not take a rank: same test as without it
    assert wilcoxon_signed_rank([0.0, 1.0, -2.0, 3.0]) == wilcoxon_signed_rank([1.0, -2.0, 3.0])


def test_tie_corrected_normal_p_is_close_to_the_exact_conditional_p() -> None:
    rng = np.random.default_rng(5)
    d = rng.integers(-4, 5, 14).astype(float)
    d[d == 0] = 1.0
    result = wilcoxon_signed_rank(d)
    assert result.method == "normal"
    magnitudes = np.abs(d)
    ranks = np.array([np.mean(np.flatnonzero(np.sort(magnitudes) == m)) + 1 for m in magnitudes])
    sums = np.array([ranks[np.array(signs, dtype=bool)].sum() for signs in signs_of(d.size)])
    w = result.statistic
    exact = min(1.0, 2 * min(np.mean(sums <= w), np.mean(sums >= w)))
    assert result.p_value == pytest.approx(exact, abs=0.03)


def test_normal_approximation_is_close_to_exact_at_n_40() -> None:
    rng = np.random.default_rng(9)
    for shift in np.linspace(-0.6, 0.6, 13):
        d = rng.normal(shift, 1.0, 40)
        exact = wilcoxon_signed_rank(d)
        normal = wilcoxon_signed_rank(d, method="normal")
        assert exact.method == "exact" and normal.method == "normal"
        assert exact.statistic == normal.statistic
        assert normal.p_value == pytest.approx(exact.p_value, abs=0.005)
    assert wilcoxon_signed_rank(rng.normal(0.0, 1.0, 51)).method == "normal"
    assert wilcoxon_signed_rank(rng.normal(0.0, 1.0, 60), method="exact").method == "exact"


# --- Poisson rate ------------------------------------------------------------------------


def _poisson_cdf(k: int, mu: float) -> float:
    return sum(math.exp(j * math.log(mu) - mu - math.lgamma(j + 1)) for j in range(k + 1))


def test_garwood_limits_known_values() -> None:
    assert poisson_rate_ci(0, 1.0) == pytest.approx((0.0, 3.688879), abs=1e-6)
    assert poisson_rate_ci(1, 1.0) == pytest.approx((0.025318, 5.571643), abs=1e-6)
    assert poisson_rate_ci(5, 1.0) == pytest.approx((1.623486, 11.668332), abs=1e-6)
    assert poisson_rate_ci(10, 1.0) == pytest.approx((4.795389, 18.390356), abs=1e-6)
    assert poisson_rate_ci(0, 1.0, level=0.9)[1] == pytest.approx(-math.log(0.05), rel=1e-13)
    lo, hi = poisson_rate_ci(10, 4.0)
    assert (lo * 4.0, hi * 4.0) == pytest.approx(poisson_rate_ci(10, 1.0), rel=1e-14)


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_garwood_limits_leave_alpha_over_two_in_each_tail(level: float) -> None:
    half = (1.0 - level) / 2.0
    for k in [*range(0, 40), 75, 150, 400]:
        lo, hi = poisson_rate_ci(k, 1.0, level)
        assert _poisson_cdf(k, hi) == pytest.approx(half, rel=1e-9)
        if k:
            assert 1.0 - _poisson_cdf(k - 1, lo) == pytest.approx(half, rel=1e-9)


def test_garwood_limits_cover_at_least_their_level() -> None:
    limits = [poisson_rate_ci(k, 1.0) for k in range(80)]
    for mu in np.linspace(0.05, 30.0, 120):
        covered = sum(
            math.exp(k * math.log(mu) - mu - math.lgamma(k + 1))
            for k, (lo, hi) in enumerate(limits)
            if lo <= mu <= hi
        )
        assert covered >= 0.95 - 1e-9
    rng = np.random.default_rng(2)
    exposure, rate = 3.0, 1.7
    draws = rng.poisson(rate * exposure, 3000)
    hits = [lo <= rate <= hi for lo, hi in (poisson_rate_ci(int(k), exposure) for k in draws)]
    assert 0.94 <= np.mean(hits) <= 1.0


def test_garwood_limits_for_many_events_and_bad_arguments() -> None:
    lo, hi = poisson_rate_ci(1_000_000, 1.0)
    assert lo == pytest.approx(1e6 - 1.96 * 1e3, rel=1e-5)
    assert hi == pytest.approx(1e6 + 1.96 * 1e3, rel=1e-5)
    with pytest.raises(ValueError):
        poisson_rate_ci(-1, 1.0)
    with pytest.raises(ValueError):
        poisson_rate_ci(3, 0.0)
    with pytest.raises(ValueError):
        poisson_rate_ci(3, 1.0, level=0.0)


# --- Kendall's tau-b ---------------------------------------------------------------------


def _brute_tau_b(x: np.ndarray, y: np.ndarray) -> float | None:
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    denom = math.sqrt(float(np.abs(dx).sum()) * float(np.abs(dy).sum()))
    return None if denom == 0 else float((dx * dy).sum()) / denom


def test_kendall_tau_b_matches_brute_force_with_ties() -> None:
    rng = np.random.default_rng(4)
    for _ in range(300):
        n = int(rng.integers(2, 70))
        x = rng.integers(0, int(rng.integers(1, 8)), n).astype(float)
        y = (x * rng.integers(-1, 2) + rng.integers(0, int(rng.integers(1, 6)), n)) / 3.0
        expected = _brute_tau_b(x, y)
        got = kendall_tau_b(x, y)
        if expected is None:
            assert got is None
        else:
            assert got == pytest.approx(expected, abs=1e-12)


def test_kendall_tau_b_at_3000_matches_brute_force() -> None:
    rng = np.random.default_rng(8)
    x = rng.zipf(1.8, 3001).astype(float)
    y = x + rng.poisson(3.0, 3001)
    assert kendall_tau_b(x, y) == pytest.approx(_brute_tau_b(x, y), abs=1e-12)


def test_kendall_tau_b_known_and_undefined_cases() -> None:
    assert kendall_tau_b([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 1, 2, 2], [1, 1, 2, 2]) == 1.0
    # (10, 9) (8, 2) (8, 7) (5, 7): C 3, D 1, one tie in each: 2 / sqrt(5 * 5)
    assert kendall_tau_b([10, 8, 8, 5], [9, 2, 7, 7]) == pytest.approx(0.4, abs=1e-15)
    assert kendall_tau_b([], []) is None
    assert kendall_tau_b([1.0], [2.0]) is None
    assert kendall_tau_b([3, 3, 3], [1, 2, 3]) is None
    assert kendall_tau_b([1, 2, 3], [0, 0, 0]) is None
    with pytest.raises(ValueError):
        kendall_tau_b([1, 2], [1, 2, 3])


# --- top n -------------------------------------------------------------------------------


def _counts(rows: list[tuple[int, str, float]], time: str = "window_start") -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={time: pl.Int64, "key": pl.String, "posts": pl.Float64}, orient="row"
    )


def test_top_n_keys_keeps_every_key_tied_at_the_boundary() -> None:
    counts = _counts(
        [
            (0, "*", 99.0),
            (0, "a", 9.0),
            (0, "b", 7.0),
            (0, "c", 7.0),
            (0, "d", 5.0),
            (0, "e", 5.0),
            (1, "*", 5.0),
            (1, "z", 1.0),
        ],
        time="bucket",
    )
    top = top_n_keys(counts, 2)
    assert top.select("bucket", "key", "rank").rows() == [
        (0, "a", 1),
        (0, "b", 2),
        (0, "c", 2),
        (1, "z", 1),
    ]
    assert top_n_keys(counts, 3)["key"].to_list() == ["a", "b", "c", "z"]
    assert top_n_keys(counts, 4)["key"].to_list() == ["a", "b", "c", "d", "e", "z"]
    assert "*" not in top_n_keys(counts, 100)["key"].to_list()


def _day(rng: np.random.Generator, buckets: int, keys: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "window_start": np.repeat(np.arange(buckets, dtype=np.int64) * 60_000, keys),
            "key": np.tile([f"#k{i}" for i in range(keys)], buckets),
            "posts": rng.zipf(1.7, buckets * keys).clip(max=10_000),
        }
    )


def test_identical_and_scaled_estimates_agree_perfectly() -> None:
    truth = _day(np.random.default_rng(6), 12, 200)
    for estimate in (truth, truth.with_columns(pl.col("posts") * 10.0)):
        rows = top_n_agreement(truth, estimate, [5, 10, 50], 120_000)
        assert rows.height == 6 * 3
        assert rows["overlap"].to_list() == [1.0] * rows.height
        assert rows["tau"].to_list() == pytest.approx([1.0] * rows.height, abs=1e-12)
        assert (rows["truth_keys"] >= rows["n"]).all()


def test_top_n_agreement_of_a_hand_made_day() -> None:
    truth = _counts(
        [
            (0, "*", 500.0),
            (0, "a", 6.0),
            (50, "a", 4.0),  # same bucket of 100 ms: a = 10
            (0, "b", 8.0),
            (0, "c", 8.0),
            (0, "d", 5.0),
            (0, "e", 1.0),
            (100, "x", 3.0),
            (100, "y", 2.0),
            (150, "z", 1.0),
            (200, "*", 9.0),
        ]
    )
    estimate = _counts(
        [
            (0, "*", 400.0),
            (0, "a", 9.0),
            (0, "c", 7.0),
            (0, "d", 7.0),
            (0, "f", 6.0),
            (0, "b", 2.0),
            (100, "x", 1.0),
            (100, "w", 5.0),
            (300, "q", 1.0),
        ]
    )
    rows = top_n_agreement(truth, estimate, [2, 1], 100)
    assert rows.schema == pl.Schema(
        {
            "bucket": pl.Int64,
            "n": pl.Int64,
            "overlap": pl.Float64,
            "tau": pl.Float64,
            "truth_keys": pl.Int64,
        }
    )
    got = {(b, n): (o, t, k) for b, n, o, t, k in rows.iter_rows()}
    assert sorted(got) == [(b, n) for b in (0, 100, 200, 300) for n in (1, 2)]
    # bucket 0, n 2: T {a, b, c} (b, c tied 2nd), E {a, c, d}; over {a, b, c, d} truth
    # (10, 8, 8, 5) and estimate (9, 2, 7, 7): C 3, D 1, one tie each: 2 / 5
    overlap, tau, keys = got[0, 2]
    assert (overlap, keys) == (pytest.approx(2 / 3), 3)
    assert tau == pytest.approx(0.4)
    assert got[0, 1] == (1.0, None, 1)  # T = E = {a}: one key, tau undefined
    # bucket 100, n 2: T {x, y}, E {w, x}; over {x, y, w}: (3, 2, 0) vs (1, 0, 5): C 1, D 2
    overlap, tau, keys = got[100, 2]
    assert (overlap, keys) == (0.5, 2)
    assert tau == pytest.approx(-1 / 3)
    assert got[100, 1] == (0.0, -1.0, 1)  # T {x}, E {w}: (3, 0) vs (1, 5)
    assert got[200, 2] == (None, None, 0)  # only the stream total
    assert got[300, 2] == (None, None, 0)  # an estimate's key the truth lacks


def test_top_n_agreement_matches_a_reference_implementation() -> None:
    rng = np.random.default_rng(12)
    truth = _day(rng, 9, 60).with_columns(pl.col("posts") % 7)
    estimate = (
        truth.with_columns((pl.col("posts") + pl.Series(rng.integers(-2, 3, truth.height))).clip(0))
        .filter(pl.col("posts") > 0)
        .sample(fraction=0.8, seed=1)
    )
    ns = [1, 3, 10, 40]
    rows = top_n_agreement(truth, estimate, ns, 60_000)
    assert rows.height == 9 * len(ns)
    for bucket, n, overlap, tau, keys in rows.iter_rows():
        t = dict(truth.filter(pl.col("window_start") == bucket).select("key", "posts").rows())
        e = dict(estimate.filter(pl.col("window_start") == bucket).select("key", "posts").rows())
        top_t = {k for k, v in t.items() if sum(w > v for w in t.values()) < n}
        top_e = {k for k, v in e.items() if sum(w > v for w in e.values()) < n}
        union = sorted(top_t | top_e)
        expected = _brute_tau_b(
            np.array([t.get(k, 0.0) for k in union], dtype=float),
            np.array([e.get(k, 0.0) for k in union], dtype=float),
        )
        assert keys == len(top_t)
        assert overlap == pytest.approx(len(top_t & top_e) / len(top_t))
        assert tau == (None if expected is None else pytest.approx(expected, abs=1e-12))


def test_top_n_agreement_rejects_bad_arguments_and_takes_empty_input() -> None:
    empty = _counts([])
    assert top_n_agreement(empty, empty, [10], 1000).height == 0
    with pytest.raises(ValueError):
        top_n_agreement(empty, empty, [0], 1000)
    with pytest.raises(ValueError):
        top_n_agreement(empty, empty, [10], 0)


def test_summarise_agreement_means_ignore_nulls() -> None:
    rows = pl.DataFrame(
        {
            "bucket": [0, 0, 1, 1, 2, 2],
            "n": [1, 2, 1, 2, 1, 2],
            "overlap": [1.0, 0.5, 0.0, None, None, 1.0],
            "tau": [None, 0.2, None, 0.4, None, None],
            "truth_keys": [1, 2, 1, 0, 0, 3],
        },
        schema_overrides={"bucket": pl.Int64, "n": pl.Int64, "truth_keys": pl.Int64},
    )
    summary = summarise_agreement(rows)
    assert summary.rows() == [(1, 0.5, None, 3), (2, 0.75, pytest.approx(0.3), 3)]
