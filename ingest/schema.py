"""The post record: the contract between the firehose, Kafka and the processing stages.

One Kafka record per post. Value: a UTF-8 JSON object (orjson). Key: the author id as
decimal ASCII bytes, so one author's posts stay ordered in one partition.
See docs/ARCHITECTURE.md, "Post record (contract)".
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = [
    "KINDS",
    "POST_COLUMNS",
    "POST_SCHEMA",
    "REQUIRED_COLUMNS",
]

#: The four kinds of post, in a fixed order (their index is the kind code used internally).
KINDS: Final[tuple[str, ...]] = ("post", "repost", "reply", "quote")

#: Column name -> polars dtype, in the order the firehose writes the JSON keys.
POST_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "post_id": pl.Int64(),
        "author_id": pl.Int64(),
        "created_at": pl.Int64(),
        "kind": pl.String(),
        "parent_id": pl.Int64(),
        "root_id": pl.Int64(),
        "text": pl.String(),
        "hashtags": pl.List(pl.String()),
        "lang": pl.String(),
        "followers": pl.Int64(),
    }
)

POST_COLUMNS: Final[tuple[str, ...]] = tuple(POST_SCHEMA.names())

#: Fields that must be present and non-null (parent_id and root_id may be null).
REQUIRED_COLUMNS: Final[tuple[str, ...]] = tuple(
    c for c in POST_COLUMNS if c not in ("parent_id", "root_id")
)
