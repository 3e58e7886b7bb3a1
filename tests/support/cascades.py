"""Shared helpers of the cascade tests: hand-built posts and the truth's top cascades."""

from __future__ import annotations

from typing import Any

import polars as pl

from ingest.schema import POST_SCHEMA
from process.cascades import CascadeConfig
from process.truth import truth_signals
from process.windows import WindowSpec

__all__ = ["HOPPING", "TUMBLING", "Row", "entry", "frame", "truth_tops"]

TUMBLING = WindowSpec(size_ms=10_000, hop_ms=10_000, allowed_lateness_ms=2_000)
HOPPING = WindowSpec(size_ms=20_000, hop_ms=10_000, allowed_lateness_ms=2_000)
Row = tuple[int, int, str, int | None, int | None]  # post_id, created_at, kind, parent, root


def frame(rows: list[Row]) -> pl.DataFrame:
    given = {c: POST_SCHEMA[c] for c in ("post_id", "created_at", "kind", "parent_id", "root_id")}
    rest = {"author_id": 1, "text": "", "hashtags": [], "lang": "en", "followers": 1}
    posts = pl.DataFrame(rows, schema=given, orient="row")
    constants = [pl.lit(v, dtype=POST_SCHEMA[c]).alias(c) for c, v in rest.items()]
    return posts.with_columns(constants).select(POST_SCHEMA.names())


def truth_tops(posts: pl.DataFrame, spec: WindowSpec, config: CascadeConfig) -> dict[int, Any]:
    signals = truth_signals(posts, spec, cascade_config=config)
    star = signals.filter(pl.col("key") == "*")
    return dict(zip(star["window_start"], star["top_cascades"].to_list(), strict=True))


def entry(root: int, reposts: int, size: int, depth: int) -> dict[str, int]:
    return {"root_id": root, "reposts": reposts, "size": size, "depth": depth}
