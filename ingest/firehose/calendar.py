"""A hierarchical timing wheel of pending posts, keyed by the block they fall due in.

Cascades unfold over hours, but posts must leave in event-time order: each generated block
inserts its whole cascade forest here, and ``pop(b)`` returns what falls due in block b.
Level 0 holds block b itself; level k (1 <= k < L) posts in b's fanout**k group but not in
its fanout**(k-1) group; level L everything later. Level k is re-sorted into lower levels
only when b enters a new fanout**(k-1) group, so each post is touched O(L * fanout) times
in vectorised passes, and memory is bounded by the kernel cut-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["EVENT", "ID_SHIFT", "MAX_LEAD_MS", "Calendar", "Posts", "event_times", "pack", "unpack"]

_LOW = 0xFFFFFFFF

#: One pending post, packed (33 bytes): ``id`` is ``block << 32 | n``; the other posts it
#: refers to belong to the same block's forest, so only their n is kept (0 = none), and
#: times are ms leads over the block's start.
EVENT = np.dtype(
    [
        ("id", np.int64),
        ("lead", np.int32),  # created_at - block start
        ("parent", np.uint32),
        ("root", np.uint32),
        ("src", np.uint32),  # the post whose text this one carries (itself unless a repost)
        ("src_lead", np.int32),
        ("topic", np.int32),  # burst topic, 0 = none
        ("kind", np.int8),
    ]
)
ID_SHIFT = 32
MAX_LEAD_MS = 2**31 - 1

Events = npt.NDArray[np.void]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Posts:
    """Unpacked event columns (times in ms relative to the stream start, ids absolute)."""

    t: I64
    id: I64
    parent: I64  # 0 = none
    root: I64  # 0 = none
    src: I64
    src_t: I64
    topic: I64
    kind: npt.NDArray[np.int8]


def pack(block: int, block_ms: int, posts: Posts) -> Events:
    """Pack one block's forest (every id in ``posts`` belongs to ``block``)."""
    start = np.int64(block) * np.int64(block_ms)
    low = np.int64(_LOW)
    out = np.empty(len(posts.id), dtype=EVENT)
    out["id"] = posts.id
    out["lead"] = posts.t - start
    out["parent"] = posts.parent & low
    out["root"] = posts.root & low
    out["src"] = posts.src & low
    out["src_lead"] = posts.src_t - start
    out["topic"] = posts.topic
    out["kind"] = posts.kind
    return out


def event_times(events: Events, block_ms: int) -> I64:
    """created_at of each event, ms relative to the stream start."""
    out: I64 = (events["id"] >> ID_SHIFT) * np.int64(block_ms) + events["lead"]
    return out


def unpack(events: Events, block_ms: int) -> Posts:
    ids = events["id"].astype(np.int64)
    base = ids & ~np.int64(_LOW)
    start = (ids >> ID_SHIFT) * np.int64(block_ms)

    def ref(field: str) -> I64:
        local = events[field].astype(np.int64)
        out: I64 = np.where(local > 0, base | local, 0)
        return out

    return Posts(
        t=start + events["lead"],
        id=ids,
        parent=ref("parent"),
        root=ref("root"),
        src=base | events["src"].astype(np.int64),
        src_t=start + events["src_lead"],
        topic=events["topic"].astype(np.int64),
        kind=events["kind"],
    )


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
        target = event_times(events, self._block_ms) // self._block_ms
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
        order = np.lexsort((due["id"], event_times(due, self._block_ms)))
        out: Events = due[order]
        return out
