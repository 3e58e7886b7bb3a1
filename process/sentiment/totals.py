"""VADER's ``score_valence`` on arrays: per-text sums of the valences, punctuation
emphasis, the normalised compound and the pos/neu/neg shares, rounded like the reference.

Every floating-point operation is the reference's, in its order, so the results are the
same bits: the valences are summed as this interpreter's ``sum`` does (left to right up
to Python 3.11, with Neumaier's compensation from 3.12), the pos/neg sums left to right as
the reference's loop does, and rounding is Python's correctly rounded ``round``.
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["py_round", "running_sums", "scores"]

_ALPHA = 15
#: ``sum()`` of floats is compensated (Neumaier) from CPython 3.12.
COMPENSATED = sys.version_info >= (3, 12)
#: With compensation, the k-th value of every text is added in one vectorised step for k
#: below this; the values of texts with more scored words are added by Python itself.
_RANKS = 4096


def _positive(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values + 1.0, 0.0)


def _negative(values: np.ndarray) -> np.ndarray:
    return np.where(values < 0, values - 1.0, 0.0)


def _python_sum(values: list[float]) -> float:
    """The reference's own ``sum()``, for one text with very many scored words."""
    return float(sum(values))


def _compensated_sums(row: np.ndarray, values: np.ndarray, rows: int) -> np.ndarray:
    """Per text, the Neumaier-compensated ``sum()`` of ``values`` (Python 3.12+)."""
    count = np.bincount(row, minlength=rows)
    rank = np.arange(len(row)) - (np.cumsum(count) - count)[row]
    sums = np.zeros(rows)
    low = np.zeros(rows)  # Neumaier's running compensation
    short = count[row] <= _RANKS
    order = np.flatnonzero(short)[np.argsort(rank[short], kind="stable")]
    bounds = np.cumsum(np.bincount(rank[short], minlength=1))
    for start, stop in zip(np.concatenate(([0], bounds[:-1])), bounds, strict=True):
        at = order[start:stop]
        target = row[at]  # each text once per rank: no update is lost
        high, add = sums[target], values[at]
        total = high + add
        big = np.abs(high) >= np.abs(add)
        low[target] += np.where(big, (high - total) + add, (add - total) + high)
        sums[target] = total
    fix = (low != 0) & np.isfinite(low)
    sums[fix] += low[fix]
    for text in np.unique(row[~short]):
        sums[text] = _python_sum(values[row == text].tolist())
    return sums


def running_sums(
    row: np.ndarray, values: np.ndarray, rows: int, compensated: bool = COMPENSATED
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per text (``row`` sorted, ``rows`` texts): the ``sum()`` of ``values``, the sums
    of ``v + 1`` over the positive ones and of ``v - 1`` over the negative ones, and the
    count of non-zero values. Zeros left out change no sum.

    ``bincount`` adds each text's weights left to right from 0.0, as the reference's loop
    and ``sum()`` up to Python 3.11 do.
    """
    if compensated:
        total = _compensated_sums(row, values, rows)
    else:
        total = np.bincount(row, values, minlength=rows)
    return (
        total,
        np.bincount(row, _positive(values), minlength=rows),
        np.bincount(row, _negative(values), minlength=rows),
        np.bincount(row[values != 0.0], minlength=rows),
    )


def py_round(x: np.ndarray, digits: int) -> np.ndarray:
    """``round(x, digits)`` for each element, bit for bit as Python's correctly rounded
    ``round``: ``rint`` where ``x * 10**digits`` is clearly off a half, Python otherwise."""
    scale = 10.0**digits
    shifted = x * scale
    out: np.ndarray = np.rint(shifted) / scale
    near_half = np.abs(np.abs(shifted - np.floor(shifted)) - 0.5) < 1e-6
    for i in np.flatnonzero(near_half):
        out[i] = round(float(x[i]), digits)
    return out


def scores(
    sum_s: np.ndarray,
    pos_sum: np.ndarray,
    neg_sum: np.ndarray,
    neutral: np.ndarray,
    bangs: np.ndarray,
    quests: np.ndarray,
) -> dict[str, np.ndarray]:
    """compound, pos, neu, neg of texts with at least one token, from their sums, count of
    neutral tokens and counts of '!' and '?'."""
    sum_s = sum_s + 0.0  # Python's sum() starts from 0, so it never ends on -0.0
    neu = neutral.astype(np.float64)
    ep = np.minimum(bangs, 4).astype(np.float64) * 0.292
    qm = np.where(quests > 1, np.where(quests <= 3, quests.astype(np.float64) * 0.18, 0.96), 0.0)
    amp = ep + qm
    sum_s = np.where(sum_s > 0, sum_s + amp, np.where(sum_s < 0, sum_s - amp, sum_s))
    compound = np.clip(sum_s / np.sqrt(sum_s * sum_s + _ALPHA), -1.0, 1.0)
    pos_wins, neg_wins = pos_sum > np.abs(neg_sum), pos_sum < np.abs(neg_sum)
    pos_sum = np.where(pos_wins, pos_sum + amp, pos_sum)
    neg_sum = np.where(neg_wins, neg_sum - amp, neg_sum)
    total = pos_sum + np.abs(neg_sum) + neu
    return {
        "compound": py_round(compound, 4),
        "pos": py_round(np.abs(pos_sum / total), 3),
        "neu": py_round(np.abs(neu / total), 3),
        "neg": py_round(np.abs(neg_sum / total), 3),
    }
