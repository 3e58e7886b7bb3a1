"""Constants and inputs the tests and benchmarks share."""

from __future__ import annotations

import polars as pl

from ingest.producer import partitions_of

__all__ = ["START", "moat_tiers", "stage_one_input"]

#: 2026-01-01T00:00:00Z in epoch milliseconds: where the unit tests' generated streams start.
START = 1_767_225_600_000


#: The sampled tiers every moat test has: the firehose and X's decahose and 1% sample.
_SAMPLED_TIERS = """
[[moat.tiers]]
name = "firehose"
[[moat.tiers]]
name = "decahose"
ms = [600, 699]
[[moat.tiers]]
name = "sample"
ms = [657, 666]
"""


def moat_tiers(delay_s: float | None = None, every_s: float | None = None) -> str:
    """``[[moat.tiers]]`` TOML: the firehose, the decahose and the 1% sample, and a
    ``delayed`` tier (``delay_s``) and an ``hourly`` one (``every_s``) when given."""
    text = _SAMPLED_TIERS
    if delay_s is not None:
        text += f'[[moat.tiers]]\nname = "delayed"\ndelay_s = {delay_s!r}\n'
    if every_s is not None:
        text += f'[[moat.tiers]]\nname = "hourly"\nevery_s = {every_s!r}\n'
    return text


def stage_one_input(posts: pl.DataFrame, partitions: int, first: int = 0) -> pl.DataFrame:
    """Posts as stage one takes them, without VADER: a deterministic stand-in ``compound``
    (null off English), the partition their key goes to among ``partitions`` and a row
    index from ``first`` (the state's size and layout do not depend on the scores)."""
    compound = (pl.col("post_id") * 7919 % 2001 - 1000) / 1000.0
    return posts.with_columns(
        pl.when(pl.col("lang") == "en").then(compound).alias("compound"),
        pl.Series("partition", partitions_of(posts, partitions), dtype=pl.Int32),
        pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias("_idx"),
    )
