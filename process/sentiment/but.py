"""VADER's contrastive "but": valences before a text's first "but" count half, after it
one and a half times, with the reference's lookup-by-value quirk reproduced."""

from __future__ import annotations

import numpy as np
import polars as pl

from process.sentiment.lexicon import CODES
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
    at = np.flatnonzero((batch.code == CODES["but"])[batch.word])
    first = np.full(len(batch.n), -1, dtype=np.int64)
    rows, index = np.unique(batch.row[at], return_index=True)
    first[rows] = batch.pos[at[index]]
    return first


def but_rule(batch: Batch, row: np.ndarray, pos: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The valences (of tokens at ``row``, ``pos``) after the "but" rule.

    Rows where a valence equals an earlier one already scaled (where the reference's
    lookup by value bites) are redone one by one with :func:`_but_exact`; they are rare.
    """
    but = _first_but(batch)[row]
    factor = np.where(but < 0, 1.0, np.where(pos < but, 0.5, np.where(pos > but, 1.5, 1.0)))
    scaled = np.where(factor == 1.0, values, values * factor)
    live = np.flatnonzero((but >= 0) & (values != 0.0))
    if len(live) < 2:
        return scaled
    nonzero = pl.DataFrame(
        {"at": live, "row": row[live], "pos": pos[live], "v": values[live], "m": scaled[live]}
    )
    earlier = nonzero.select("row", pl.col("pos").alias("earlier"), pl.col("m").alias("v"))
    clashes = (
        nonzero.select("row", "pos", "v")
        .join(earlier, on=["row", "v"])
        .filter(pl.col("earlier") < pl.col("pos"))
        .get_column("row")
        .unique()
    )
    if clashes.len() == 0:
        return scaled
    redo = (
        nonzero.filter(pl.col("row").is_in(clashes.implode()))
        .group_by("row", maintain_order=True)
        .agg("at", "v", "pos")
    )
    for _, at, v, p in redo.iter_rows():
        scaled[at] = _but_exact(v, p, int(but[at[0]]))
    return scaled
