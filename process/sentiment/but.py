"""VADER's contrastive "but": valences before a text's first "but" count half, after it
one and a half times, with the reference's lookup-by-value quirk reproduced."""

from __future__ import annotations

import numpy as np

from process.sentiment.tokens import Batch

__all__ = ["but_rule"]


def _but_exact(values: list[float], positions: list[int], but: int) -> list[float]:
    """The reference's "but" rule verbatim: it finds each value with ``list.index``, so a
    value equal to an earlier, already scaled one scales that earlier one again. Zero
    valences may be left out: they never equal a non-zero one."""
    out = list(values)
    for k in range(len(out)):
        value = out[k]
        first = out.index(value)
        if positions[first] < but:
            out[first] = value * 0.5
        elif positions[first] > but:
            out[first] = value * 1.5
    return out


def _first_but(batch: Batch) -> np.ndarray:
    """Position of each row's first "but" (-1 if none)."""
    at = batch.buts
    rows = batch.rows(at)
    lead = np.flatnonzero(np.diff(rows, prepend=-1))  # rows ascend with the tokens
    first = np.full(len(batch.n), -1, dtype=np.int64)
    first[rows[lead]] = at[lead] - batch.start[rows[lead]]
    return first


def _keys(row: np.ndarray, values: np.ndarray) -> np.ndarray:
    """One 64-bit key per (row, value) pair (equal pairs, equal keys)."""
    return values.view(np.uint64) ^ (row.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))


def _among(keys: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Each of ``keys`` is one of ``others`` (``np.isin``, by a sort and a search)."""
    others = np.sort(others)
    at = np.minimum(np.searchsorted(others, keys), len(others) - 1)
    found: np.ndarray = others[at] == keys
    return found


def but_rule(batch: Batch, row: np.ndarray, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The valences (of tokens at ``row``, ``pos``, sorted) after the "but" rule.

    Rows where a valence may equal another one already scaled (where the reference's
    lookup by value bites) are redone one by one with :func:`_but_exact`; they are rare,
    and a row redone needlessly gets the same result.
    """
    but = _first_but(batch)[row]
    live = np.flatnonzero((but >= 0) & (values != 0.0))  # zero stays zero
    if len(live) == 0:
        return values
    first, at = but[live], pos[live]
    scaled = values.copy()
    scaled[live] = values[live] * np.where(at < first, 0.5, np.where(at > first, 1.5, 1.0))
    keys = _keys(row[live], values[live])
    clash = _among(keys, _keys(row[live], scaled[live]))
    if not clash.any():
        return scaled
    redo = live[np.isin(row[live], row[live[clash]])]
    _, starts = np.unique(row[redo], return_index=True)
    for at in np.split(redo, starts[1:]):
        exact = _but_exact(values[at].tolist(), pos[at].tolist(), int(but[at[0]]))
        scaled[at] = exact
    return scaled
