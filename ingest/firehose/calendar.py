"""A hierarchical timing wheel of pending posts, keyed by the block they fall due in.

Cascades unfold over hours, but posts must leave in event-time order: each generated block
inserts its whole cascade forest here, and ``pop(b)`` returns what falls due in block b.
Level 0 holds block b itself; level k (1 <= k < L) posts in b's fanout**k group but not in
its fanout**(k-1) group; level L everything later. Level k is re-sorted into lower levels
only when b enters a new fanout**(k-1) group, so each post is touched O(L * fanout) times
in vectorised passes, and memory is bounded by the kernel cut-off.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EVENT", "Calendar"]

#: One pending post: everything emission and materialisation need.
EVENT = np.dtype(
    [
        ("t", np.int64),  # created_at, ms relative to start
        ("id", np.int64),
        ("parent", np.int64),  # 0 = none
        ("root", np.int64),  # 0 = none
        ("src", np.int64),  # post whose text this one carries (itself unless a repost)
        ("src_t", np.int64),  # created_at of src, relative
        ("topic", np.int64),  # burst topic, 0 = none
        ("kind", np.int8),
    ]
)

Events = npt.NDArray[np.void]


class Calendar:
    def __init__(self, block_ms: int, fanout: int = 64, levels: int = 3) -> None:
        self._block_ms = block_ms
        self._fanout = fanout
        self._levels = levels
        self._slots: list[list[Events]] = [[] for _ in range(levels + 1)]
        self._block = 0

    def __len__(self) -> int:
        return sum(len(c) for slot in self._slots for c in slot)

    def _insert(self, events: Events) -> None:
        if len(events) == 0:
            return
        target = events["t"] // self._block_ms
        b = self._block
        level = np.full(len(events), self._levels, dtype=np.int64)
        for k in range(self._levels - 1, -1, -1):
            width = self._fanout**k
            level[target // width == b // width] = k
        for k in np.unique(level).tolist():
            self._slots[k].append(events[level == k])

    def advance(self, block: int) -> None:
        """Move to ``block`` (one step at a time), re-sorting the levels it makes due."""
        if block != self._block + 1:
            raise ValueError(f"calendar must advance one block at a time: {self._block} -> {block}")
        if self._slots[0]:
            raise RuntimeError("calendar advanced with posts still due in the current block")
        self._block = block
        for k in range(self._levels, 0, -1):
            if block % self._fanout ** (k - 1) == 0 and self._slots[k]:
                chunks = self._slots[k]
                self._slots[k] = []
                self._insert(np.concatenate(chunks) if len(chunks) > 1 else chunks[0])

    def add(self, events: Events) -> None:
        """Schedule posts due in the current block or later."""
        self._insert(events)

    def pop(self) -> Events:
        """The posts due in the current block, sorted by (created_at, id)."""
        chunks = self._slots[0]
        self._slots[0] = []
        if not chunks:
            return np.empty(0, dtype=EVENT)
        due = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        order = np.lexsort((due["id"], due["t"]))
        out: Events = due[order]
        return out
