"""Trend scores: each key's rate of original posts against its own baseline; trending.

A trend is many people starting to post about a key, so the score counts original posts
(``kind == "post"``): reposts, replies and quotes are one post's cascade, which is the
virality signal's business (``top_cascades``). Scoring all posts lets a single viral post
carrying a rare hashtag trend for minutes on otherwise quiet traffic (on the firehose,
seed 11: 14 to 27 alarm windows per hour, nearly all single cascades; none on originals).

Per key the state holds a baseline of ``rate`` = originals/s in a window: a mean and a
variance, the start of the key's last window and its ``velocity`` (all posts/s) there.
Windows where a key has no posts count as rate 0. For window number ``t`` of the stream
(``windows_seen``) the baseline's weight is ``a_t = max(alpha, 1 / (t + 1))``: over the
first ``1 / alpha`` windows the baseline is the exact mean and (population) variance of all
windows so far, so it starts without a transient; after that it is an EWMA.

For a newly closed window of a key:

* the baseline first takes in the windows the key was absent, in closed form: mean and
  mean square decay by ``d``, the product of ``1 - a_j`` over those windows, so
  ``mean *= d`` and ``var = d * (var + mean**2 * (1 - d))``;
* ``acceleration`` = velocity - velocity of the previous window (0 when the key was absent);
* ``trend_score`` = ``(rate - mean) / sqrt(noise + floor**2)`` with
  ``noise = max(var, mean / size_s)``: the baseline's variance, but never below the
  variance of a Poisson count at the baseline's mean (a young baseline of a few windows
  can underestimate it badly, which let a busy key "trend" on noise), set to 0 when the window has
  fewer than ``min_support`` original posts (a rare hashtag can't trend on two posts) and
  during the first ``warmup_windows`` windows of the stream (no baseline yet). A key the
  tracker has never seen (or has forgotten, see below) has the baseline 0, so a brand-new
  hashtag scores ``rate / floor``;
* then the baseline takes the new rate in: ``mean += a_t * diff`` and
  ``var = (1 - a_t) * (var + a_t * diff**2)`` with ``diff = rate - mean``. After the
  warm-up, an outlier window (``|diff| >= outlier * sqrt(noise + floor**2)``, whatever its
  support) leaves the variance as it was: a burst moves the mean (a lasting level becomes
  the new normal) but does not widen the noise band it is measured against, so a rise is
  caught before the baseline has learnt it as noise.

**Trending** (the detection rule): a key other than ``*`` is trending in a window when its
``trend_score >= threshold`` (which implies ``originals >= min_support`` and the warm-up
done); :meth:`TrendConfig.trending` is that rule as an expression on signal rows.
:meth:`TrendTracker.top` returns the top ``top_k`` trending keys of the newest window.

A key absent from ``ttl_windows`` windows in a row is forgotten (if it comes back, its
baseline starts again from 0), so the state holds only the keys of the current window and
the ``ttl_windows`` before it: the long tail of hashtags does not grow it without bound.
A forgotten baseline had decayed to almost nothing anyway (``(1 - alpha) ** ttl_windows``).
Windows must be applied in ascending order.

The defaults were chosen on the synthetic firehose at 1,157 posts/s in 10-s windows with
``tests/benchmark/bench_trends.py`` (detection delays of injected bursts, false alarms on
traffic without bursts); its docstring has the figures.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from process.aggregate import STREAM_KEY
from process.problems import Problem

__all__ = ["TREND_STATE_SCHEMA", "TrendConfig", "TrendTracker"]

TREND_STATE_SCHEMA: Final = pl.Schema(
    {
        "key": pl.String,
        "mean": pl.Float64,
        "var": pl.Float64,
        "last_start": pl.Int64,
        "last_velocity": pl.Float64,
    }
)


@dataclass(frozen=True, slots=True)
class TrendConfig:
    """Baseline, score and detection rule of the trend tracker (counts are windows)."""

    alpha: float = 0.02
    """EWMA weight of a new window in the baseline (about ``1 / alpha`` windows of memory)."""
    floor: float = 0.5
    """Originals/s: the noise floor added to the baseline's deviation (a quiet key's scale)."""
    min_support: int = 20
    """Original posts a window needs before its key can score (and trend) at all."""
    threshold: float = 4.5
    """A key trends in a window when its ``trend_score`` reaches this."""
    outlier: float = 3.0
    """A window this many deviations off its baseline does not update the variance."""
    ttl_windows: int = 360
    """A key silent this many windows is forgotten (its baseline starts again from 0)."""
    top_k: int = 10
    """Most trending keys reported per window (signals output and Prometheus labels)."""
    warmup_windows: int = 6
    """Every score is 0 over the stream's first windows, while the baselines form."""

    def __post_init__(self) -> None:
        problems = self.problems(**{f.name: getattr(self, f.name) for f in fields(self)})
        if problems:
            raise ValueError("invalid TrendConfig: " + "; ".join(p.says() for p in problems))

    @staticmethod
    def problems(
        alpha: float,
        floor: float,
        min_support: int,
        threshold: float,
        outlier: float,
        ttl_windows: int,
        top_k: int,
        warmup_windows: int,
    ) -> list[Problem]:
        """Every rule these fields break (none: a valid config). The one place the trend
        rules live: the config says these problems in its own keys."""
        checks = (
            (0.0 < alpha <= 1.0, Problem(("alpha",), "must be in (0, 1]")),
            (floor > 0.0, Problem(("floor",), "must be a positive rate (originals/s)")),
            (min_support >= 1, Problem(("min_support",), "must be at least 1 original post")),
            (threshold > 0.0, Problem(("threshold",), "must be positive")),
            (outlier > 0.0, Problem(("outlier",), "must be positive")),
            (ttl_windows >= 1, Problem(("ttl_windows",), "must be at least 1")),
            (top_k >= 0, Problem(("top_k",), "must not be negative")),
            (warmup_windows >= 0, Problem(("warmup_windows",), "must not be negative")),
        )
        return [problem for ok, problem in checks if not ok]

    def trending(self) -> pl.Expr:
        """True on signal rows whose key trends (the rule above)."""
        return (
            (pl.col("trend_score") >= self.threshold)
            & (pl.col("originals") >= self.min_support)
            & (pl.col("key") != STREAM_KEY)
        )


class TrendTracker:
    """Scores closed windows in order; ``state`` and ``windows_seen`` are all its state.

    The baselines live in numpy arrays, one slot per key (a dict from key to slot), so a
    window is a few dozen array operations on its own rows: no join, no rebuilt frame.
    ``state`` is the same baselines as a frame (TREND_STATE_SCHEMA), in the order the keys
    were last updated (a key updated moves to the end), made when asked; assigning it
    loads a frame (a restored snapshot).
    """

    __slots__ = ("_frame", "_keys", "_last", "_live", "_mean", "_next_seq", "_seq", "_slot",
                 "_var", "_vel", "config", "hop_ms", "windows_seen")  # fmt: skip
    config: TrendConfig
    hop_ms: int
    windows_seen: int
    _frame: pl.DataFrame | None  # ``state``, made when asked
    _slot: dict[str, int]
    # Per slot: the key, its baseline, its last window's start and velocity, when it was
    # last updated (the order of ``state``) and whether it is remembered.
    _keys: pl.Series
    _mean: npt.NDArray[np.float64]
    _var: npt.NDArray[np.float64]
    _last: npt.NDArray[np.int64]
    _vel: npt.NDArray[np.float64]
    _seq: npt.NDArray[np.int64]
    _live: npt.NDArray[np.bool_]
    _next_seq: int

    def __init__(
        self,
        config: TrendConfig,
        hop_ms: int,
        state: pl.DataFrame | None = None,
        windows_seen: int = 0,
    ) -> None:
        self.config, self.hop_ms, self.windows_seen = config, hop_ms, windows_seen
        self.state = pl.DataFrame(schema=TREND_STATE_SCHEMA) if state is None else state

    @property
    def state(self) -> pl.DataFrame:
        """The baselines of the keys remembered: ``key``, ``mean``, ``var``,
        ``last_start`` (the key's last window) and ``last_velocity`` (its velocity there)."""
        if self._frame is None:
            live = np.flatnonzero(self._live)
            idx = live[np.argsort(self._seq[live], kind="stable")]
            self._frame = pl.DataFrame(
                {
                    "key": self._keys.gather(idx),
                    "mean": self._mean[idx],
                    "var": self._var[idx],
                    "last_start": self._last[idx],
                    "last_velocity": self._vel[idx],
                },
                schema=TREND_STATE_SCHEMA,
            )
        return self._frame

    @state.setter
    def state(self, frame: pl.DataFrame) -> None:
        frame = frame.select(TREND_STATE_SCHEMA.names()).cast(TREND_STATE_SCHEMA)
        self._keys = frame["key"]
        self._slot = {k: i for i, k in enumerate(self._keys.to_list())}
        self._mean = frame["mean"].to_numpy().astype(np.float64, copy=True)
        self._var = frame["var"].to_numpy().astype(np.float64, copy=True)
        self._last = frame["last_start"].to_numpy().astype(np.int64, copy=True)
        self._vel = frame["last_velocity"].to_numpy().astype(np.float64, copy=True)
        self._seq = np.arange(frame.height, dtype=np.int64)
        self._live = np.ones(frame.height, dtype=np.bool_)
        self._next_seq = frame.height
        self._frame = frame

    def apply(self, signals: pl.DataFrame) -> pl.DataFrame:
        """Fill ``acceleration`` and ``trend_score`` of closed windows, oldest first (the
        rows grouped by window, ascending; a window's rows in their order)."""
        if signals.is_empty():
            return signals
        starts = signals["window_start"].to_numpy()
        if (np.diff(starts) < 0).any():
            order = np.argsort(starts, kind="stable")
            signals, starts = signals[order], starts[order]
        slots = self._slots_of(signals["key"].to_list())
        originals = signals["originals"].to_numpy().astype(np.float64)
        velocity = signals["velocity"].to_numpy().astype(np.float64)
        posts = signals["posts"].to_numpy().astype(np.float64)
        size_s = (signals["window_end"].to_numpy() - starts) / 1000.0
        acceleration = np.empty(signals.height)
        score = np.empty(signals.height)
        bounds = [0, *(np.flatnonzero(np.diff(starts)) + 1).tolist(), signals.height]
        with np.errstate(divide="ignore", invalid="ignore"):
            for lo, hi in itertools.pairwise(bounds):
                rows = slice(lo, hi)
                acceleration[rows], score[rows] = self._window(
                    int(starts[lo]), slots[rows], originals[rows], velocity[rows],
                    posts[rows], size_s[rows],
                )  # fmt: skip
        self._frame = None
        self._compact()
        return signals.with_columns(
            pl.Series("acceleration", acceleration, dtype=pl.Float64),
            pl.Series("trend_score", score, dtype=pl.Float64),
        )

    def _slots_of(self, keys: list[str]) -> npt.NDArray[np.int64]:
        """Each key's slot; new keys get new (empty, not live) slots."""
        slot, new = self._slot, list[str]()
        out = np.empty(len(keys), dtype=np.int64)
        for i, key in enumerate(keys):
            s = slot.get(key)
            if s is None:
                s = slot[key] = len(self._mean) + len(new)
                new.append(key)
            out[i] = s
        if new:
            n = len(new)
            self._keys = pl.concat([self._keys, pl.Series("key", new, dtype=pl.String)])
            self._mean = np.concatenate([self._mean, np.zeros(n)])
            self._var = np.concatenate([self._var, np.zeros(n)])
            self._last = np.concatenate([self._last, np.zeros(n, dtype=np.int64)])
            self._vel = np.concatenate([self._vel, np.zeros(n)])
            self._seq = np.concatenate([self._seq, np.zeros(n, dtype=np.int64)])
            self._live = np.concatenate([self._live, np.zeros(n, dtype=np.bool_)])
        return out

    def _decay(self, gap: npt.NDArray[np.int64], t: int) -> npt.NDArray[np.float64]:
        """Product of ``1 - a_j`` over the ``gap`` windows just before window ``t``.

        ``a_j = 1 / (j + 1)`` for ``j < k`` (the product telescopes to ``lo / hi``), then
        ``alpha``.
        """
        alpha = self.config.alpha
        k = math.floor(1.0 / alpha)
        lo = np.maximum(t - gap, 1)
        cum_hi = min(t, k)
        cumulative = np.where(lo < cum_hi, lo / max(cum_hi, 1), 1.0)
        steady = np.maximum(t - np.maximum(lo, k), 0)
        powers, at = np.unique(steady, return_inverse=True)
        d: npt.NDArray[np.float64] = (
            cumulative * np.array([(1.0 - alpha) ** float(p) for p in powers.tolist()])[at]
        )
        return d

    def _window(
        self,
        start: int,
        slots: npt.NDArray[np.int64],
        originals: npt.NDArray[np.float64],
        velocity: npt.NDArray[np.float64],
        posts: npt.NDArray[np.float64],
        size_s: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """Score one window's rows and take them into the baselines: (acceleration,
        trend_score) per row."""
        c = self.config
        t = self.windows_seen
        warm = t >= c.warmup_windows
        a = max(c.alpha, 1.0 / (t + 1))
        self.windows_seen += 1
        self._live &= self._last >= start - c.ttl_windows * self.hop_ms  # forget the silent
        known = self._live[slots]
        gap = np.where(known, (start - self._last[slots]) // self.hop_ms - 1, 0)
        d = self._decay(gap, t)
        mean0 = self._mean[slots]
        mean = np.where(known, mean0 * d, 0.0)
        var = np.where(known, d * (self._var[slots] + mean0**2 * (1.0 - d)), 0.0)
        prev = np.where(known & (gap == 0), self._vel[slots], 0.0)
        rate = originals * velocity / posts  # originals / size
        noise = np.maximum(var, mean / size_s)  # >= Poisson's
        diff = rate - mean
        z = diff / np.sqrt(noise + c.floor**2)
        score = np.where((originals >= c.min_support) & warm, z, 0.0)
        outlier = (np.abs(z) >= c.outlier) & warm
        self._mean[slots] = mean + a * diff
        self._var[slots] = np.where(outlier, var, (1.0 - a) * (var + a * diff**2))
        self._last[slots] = start
        self._vel[slots] = velocity
        self._live[slots] = True
        self._seq[slots] = np.arange(self._next_seq, self._next_seq + len(slots))
        self._next_seq += len(slots)
        return velocity - prev, score

    def _compact(self) -> None:
        """Drop forgotten keys' slots once they outnumber the remembered ones (and 1,024)."""
        live = np.flatnonzero(self._live)
        if len(self._live) - len(live) <= max(len(live), 1_024):
            return
        self._keys = self._keys.gather(live)
        self._slot = {k: i for i, k in enumerate(self._keys.to_list())}
        self._mean, self._var = self._mean[live], self._var[live]
        self._last, self._vel = self._last[live], self._vel[live]
        self._seq, self._live = self._seq[live], self._live[live]

    def top(self, signals: pl.DataFrame) -> pl.DataFrame:
        """The top-K trending keys of the newest window in ``signals``: ``key`` and
        ``trend_score``, highest score first, ties by key (ascending)."""
        if signals.is_empty():
            return signals.select("key", "trend_score")
        newest = signals["window_start"].max()
        return (
            signals.filter((pl.col("window_start") == newest) & self.config.trending())
            .sort(["trend_score", "key"], descending=[True, False])
            .head(self.config.top_k)
            .select("key", "trend_score")
        )
