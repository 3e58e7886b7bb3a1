"""``--mode max``: the rate ramp and the rule that says a rate was sustained.

Each step runs the pipeline at one rate for ``step_s`` seconds. The first ``warmup_s`` are
ignored (start-up, first windows); the rest is the *steady window*. A rate is **sustained**
when, over the steady window:

1. the firehose delivered at least ``min_delivery`` (95%) of the target rate (otherwise the
   producer, not the worker, is the limit, and the step fails as "producer behind");
2. the lag (posts produced and not yet consumed) grew by at most ``tolerance_s`` seconds of
   input (rate x 1 s): a worker that keeps up has a flat lag, one that doesn't, a growing one;
3. the lag never exceeded ``max_lag_s`` seconds of input (rate x 5 s).

The ramp multiplies the rate by ``factor`` (1.5) from ``start`` while steps pass, then
bisects between the highest pass and the lowest failure until they are within
``precision`` (10%) of each other, in at most ``max_steps`` steps. The result is the highest
sustained rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Point", "Step", "best", "judge", "next_rate"]


@dataclass(frozen=True, slots=True)
class Point:
    t: float  # seconds since the step started
    produced: float
    consumed: float


@dataclass(frozen=True, slots=True)
class Step:
    rate: float
    sustained: bool
    reason: str
    delivered_per_s: float = 0.0
    consumed_per_s: float = 0.0
    lag_growth: float = 0.0
    max_lag: float = 0.0


def judge(
    points: Sequence[Point],
    rate: float,
    warmup_s: float,
    *,
    min_delivery: float = 0.95,
    tolerance_s: float = 1.0,
    max_lag_s: float = 5.0,
) -> Step:
    """Apply the rule (module doc) to one step's samples."""
    steady = [p for p in points if p.t >= warmup_s]
    if len(steady) < 2 or steady[-1].t - steady[0].t <= 0:
        return Step(rate, False, "too few samples in the steady window")
    first, last = steady[0], steady[-1]
    span = last.t - first.t
    delivered = (last.produced - first.produced) / span
    consumed = (last.consumed - first.consumed) / span
    lags = [max(0.0, p.produced - p.consumed) for p in steady]
    growth = lags[-1] - lags[0]
    worst = max(lags)
    figures = dict(
        delivered_per_s=delivered, consumed_per_s=consumed, lag_growth=growth, max_lag=worst
    )
    if delivered < min_delivery * rate:
        reason = f"producer behind: {delivered:,.0f}/s of {rate:,.0f}/s"
        return Step(rate, False, reason, **figures)
    if growth > rate * tolerance_s:
        reason = f"lag grew by {growth:,.0f} posts (> {tolerance_s:g} s of input)"
        return Step(rate, False, reason, **figures)
    if worst > rate * max_lag_s:
        reason = f"lag reached {worst:,.0f} posts (> {max_lag_s:g} s of input)"
        return Step(rate, False, reason, **figures)
    return Step(rate, True, "sustained", **figures)


def best(steps: Sequence[Step]) -> Step | None:
    passed = [s for s in steps if s.sustained]
    return max(passed, key=lambda s: s.rate) if passed else None


def next_rate(
    steps: Sequence[Step],
    start: float,
    *,
    factor: float = 1.5,
    precision: float = 1.1,
    max_steps: int = 8,
) -> float | None:
    """The next rate to try, or None when the search is over."""
    if not steps:
        return start
    if len(steps) >= max_steps:
        return None
    top = best(steps)
    failed = [s.rate for s in steps if not s.sustained and (top is None or s.rate > top.rate)]
    if not failed:
        return steps[-1].rate * factor if top is not None else None
    low_fail = min(failed)
    if top is None:
        # even the start failed: halve, down to 1/8 of the start
        return low_fail / 2 if low_fail / 2 >= start / 8 else None
    if low_fail / top.rate <= precision:
        return None
    return float((top.rate * low_fail) ** 0.5)  # geometric midpoint
