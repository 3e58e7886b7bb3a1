"""A frame kept as a few runs sorted by an integer key: lookups without scanning it all.

Long-lived state (one row per cascade or post over hours of event time) is looked up a
few thousand keys at a time. A hash join or ``is_in`` scans every row per lookup; here each
run is searched by bisection (``O(keys * log rows)`` per run). New rows become a new run,
and a run merges into the one before it once that one is at most twice its size, so there
are ``O(log rows)`` runs and each row is re-sorted ``O(log rows)`` times (a small
log-structured merge). Runs are ordered oldest first, and merges keep insertion order among
equal keys, so the newest row of a key is its last match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["Ints", "SortedRuns", "matches"]

Ints = npt.NDArray[np.int64]


def matches(column: Ints, needles: Ints) -> tuple[Ints, Ints]:
    """Every pair (needle index, column index) of equal values; ``column`` ascending."""
    lo = np.searchsorted(column, needles, side="left")
    count = np.searchsorted(column, needles, side="right") - lo
    ends = np.cumsum(count)
    at = np.repeat(lo - ends + count, count) + np.arange(ends[-1] if len(ends) else 0)
    return np.repeat(np.arange(len(needles)), count), at


@dataclass(slots=True)
class SortedRuns:
    key: str
    schema: pl.Schema
    #: Keep only the newest row per key when runs merge (a table updated by appending).
    latest_only: bool = False
    runs: list[pl.DataFrame] = field(default_factory=list)

    @classmethod
    def of(cls, frame: pl.DataFrame, key: str, *, latest_only: bool = False) -> SortedRuns:
        runs = cls(key, frame.schema, latest_only)
        runs.insert(frame)
        return runs

    @property
    def height(self) -> int:
        return sum(r.height for r in self.runs)

    def estimated_size(self) -> int:
        return int(sum(r.estimated_size() for r in self.runs))

    def frame(self) -> pl.DataFrame:
        """Every row (the newest per key only when ``latest_only``), sorted by key."""
        if not self.runs:
            return pl.DataFrame(schema=self.schema)
        whole = self._merge(self.runs)
        self.runs = [whole]
        return whole

    def rows(self) -> pl.DataFrame:
        """Every row as stored, runs oldest first, without merging them (no copy): what a
        checkpoint saves. :meth:`of` on it gives the same lookups; superseded rows of a
        ``latest_only`` table stay until a merge drops them."""
        if not self.runs:
            return pl.DataFrame(schema=self.schema)
        return pl.concat(self.runs, rechunk=False)

    def insert(self, frame: pl.DataFrame, *, presorted: bool = False) -> None:
        """Add rows (``presorted``: already in key order, with exactly the schema's columns)."""
        if frame.is_empty():
            return
        if not presorted:
            run = frame.lazy().select(self.schema.names()).sort(self.key, maintain_order=True)
            frame = run.collect(engine="in-memory")
        self.runs.append(frame)
        while len(self.runs) > 1 and self.runs[-2].height <= 2 * self.runs[-1].height:
            newer = self.runs.pop()
            self.runs[-1] = self._merge([self.runs[-1], newer])

    def lookup(self, keys: Ints) -> pl.DataFrame:
        """The rows whose key is in ``keys`` (distinct), oldest first."""
        found = []
        for run in self.runs:
            _, idx = matches(run[self.key].to_numpy(), keys)
            if len(idx):
                found.append(run[np.sort(idx)])
        return pl.concat(found) if found else pl.DataFrame(schema=self.schema)

    def keep(self, predicate: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
        """Apply a row filter to every run in place (for expiry: a pass over all rows, one
        run's copy at a time; runs stay sorted and are not merged)."""
        for i, run in enumerate(self.runs):
            self.runs[i] = predicate(run)
        self.runs = [run for run in self.runs if not run.is_empty()]

    def _merge(self, runs: list[pl.DataFrame]) -> pl.DataFrame:
        # The order is worked out on the keys alone, then each column is gathered once: the
        # merged run is the only copy made of the rows, which matters when the runs hold a
        # few hundred MB. Two runs (every merge of an insert) merge by binary search.
        columns = [run[self.key].to_numpy() for run in runs]
        if len(columns) == 2:
            older, newer = columns
            at = np.searchsorted(older, newer, side="right") + np.arange(len(newer))
            from_older = np.ones(len(older) + len(newer), dtype=np.bool_)
            from_older[at] = False
            take = np.empty(len(from_older), dtype=np.int64)
            take[at] = np.arange(len(older), len(from_older))
            take[from_older] = np.arange(len(older))
            keys = np.empty(len(from_older), dtype=older.dtype)
            keys[at] = newer
            keys[from_older] = older
        else:  # a stable sort (timsort merges the sorted runs in linear time)
            keys = np.concatenate(columns)
            take = np.argsort(keys, kind="stable")
            keys = keys[take]
        if self.latest_only:  # the last of equal keys is the newest
            take = take[np.r_[keys[1:] != keys[:-1], True]]
        whole = pl.concat(runs, rechunk=False)
        return whole[take]
