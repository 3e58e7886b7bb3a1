"""The batch truth of top_cascades against a naive reference written one post at a time."""

from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from process.cascades import CascadeConfig
from process.windows import WindowSpec
from tests.support.cascades import HOPPING, TUMBLING, Row, entry, frame, truth_tops


def reference(
    rows: list[Row], spec: WindowSpec, config: CascadeConfig
) -> dict[int, list[dict[str, int]]]:
    """The definitions of process.cascades, one post at a time."""
    hop = spec.hop_ms
    root_of = {p: (p if r is None or r == p else r) for p, _, _, _, r in rows}
    by_root: dict[int, list[Row]] = defaultdict(list)  # the posts beyond each root
    for row in rows:
        if root_of[row[0]] != row[0]:
            by_root[root_of[row[0]]].append(row)
    session: dict[int, int] = {}  # row index -> session within its cascade
    index = {id(row): i for i, row in enumerate(rows)}
    for members in by_root.values():
        buckets = sorted({t // hop * hop for _, t, _, _, _ in members})
        n, prev = 0, None
        for b in buckets:
            here = [m for m in members if m[1] // hop * hop == b]
            if prev is not None and prev < b - config.ttl_ms:
                n += 1
            for m in here:
                session[index[id(m)]] = n
            prev = max(m[1] for m in here)

    @functools.cache
    def depth(i: int) -> int:
        post, t, _, parent, root = rows[i]
        if root is None or root == post:
            return 0
        if parent is None or parent == root:
            return 1
        found = [
            depth(j)
            for j, other in enumerate(rows)
            if other[0] == parent
            and root_of[other[0]] == root
            and session[j] == session[i]
            and other[1] < t
        ]
        return max([2, *(d + 1 for d in found)])

    out: dict[int, list[dict[str, int]]] = {}
    starts = {s for _, t, _, _, _ in rows for s in range(t // hop * hop, t - spec.size_ms, -hop)}
    for s in sorted(starts):
        end = s + spec.size_ms
        entries = []
        for root, members in by_root.items():
            reposts = sum(1 for m in members if m[2] == "repost" and s <= m[1] < end)
            if not reposts:
                continue
            seen = [index[id(m)] for m in members if m[1] < end]
            newest = max(seen, key=lambda i: rows[i][1])
            live = [i for i in seen if session[i] == session[newest]]
            size = 1 + len(live)  # the root counts, seen or not
            entries.append(entry(root, reposts, size, max(depth(i) for i in live)))
        entries.sort(key=lambda e: (-e["reposts"], e["root_id"]))
        out[s] = entries[: config.top_k]
    return out


def random_forest(seed: int, n: int, span_ms: int) -> list[Row]:
    """Posts in random cascades: chains, unseen parents, ties, duplicated ids."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, span_ms // 250, n) * 250).tolist()  # with ties
    rows: list[Row] = []
    for i, t in enumerate(times):
        post = 100 + i
        earlier = [r for r in rows if r[1] < t]
        if not earlier or rng.random() < 0.25:
            rows.append((post, t, "post", None, None))
            continue
        parent = earlier[int(rng.integers(len(earlier)))]
        root = parent[4] if parent[4] is not None else parent[0]
        parent_id = parent[0] if rng.random() > 0.1 else 5 + int(rng.integers(3))
        kind = str(rng.choice(["repost", "repost", "reply", "quote"]))
        rows.append((post, t, kind, parent_id, root))
        if rng.random() < 0.03:
            rows.append((post, t, kind, parent_id, root))
    return rows


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(0, 120),
    hopping=st.booleans(),
    ttl_ms=st.sampled_from([0, 15_000, 30_000, 10**9]),
    top_k=st.integers(1, 4),
)
def test_truth_matches_the_naive_reference(
    seed: int, n: int, hopping: bool, ttl_ms: int, top_k: int
) -> None:
    spec = HOPPING if hopping else TUMBLING
    config = CascadeConfig(top_k=top_k, ttl_ms=ttl_ms)
    rows = random_forest(seed, n, 120_000)
    if not rows:
        return
    got = truth_tops(frame(rows), spec, config)
    want = reference(rows, spec, config)
    assert got == {s: want.get(s, []) for s in got}
    assert not {s for s, e in want.items() if e} - set(got)
