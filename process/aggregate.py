"""Partial window aggregates: computed per batch, merged exactly, finalised on close.

Every aggregate is a sum, so partials from different batches and partitions merge by
adding. Unique authors are kept exactly as the distinct ``(window_start, key, author_id)``
triples of the open windows (a set union merges them); exact counts cost memory only for
the windows still open, which the watermark bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import polars as pl

__all__ = [
    "GROUP",
    "PARTIAL_SCHEMA",
    "STREAM_KEY",
    "SUM_COLUMNS",
    "UNIQUE_SCHEMA",
    "Accumulated",
    "explode_keys",
    "merge_partials",
    "partials",
    "uniques",
]

#: The key of the whole stream.
STREAM_KEY: Final = "*"
GROUP: Final = ("window_start", "key")
#: VADER's conventional thresholds on the compound score.
POSITIVE_AT: Final = 0.05
NEGATIVE_AT: Final = -0.05

SUM_COLUMNS: Final = (
    "posts",
    "originals",
    "reposts",
    "replies",
    "quotes",
    "reach",
    "scored",
    "sentiment_sum",
    "positive",
    "neutral",
    "negative",
)
PARTIAL_SCHEMA: Final = pl.Schema(
    {
        "window_start": pl.Int64,
        "key": pl.String,
        **{c: pl.Float64 if c == "sentiment_sum" else pl.Int64 for c in SUM_COLUMNS},
        "max_event": pl.Int64,
    }
)
UNIQUE_SCHEMA: Final = pl.Schema(
    {"window_start": pl.Int64, "key": pl.String, "author_id": pl.Int64}
)


def explode_keys(windowed: pl.DataFrame) -> pl.DataFrame:
    """One row per (post, window, key): each distinct non-empty hashtag, and ``*``."""
    tags = pl.col("hashtags").list.filter(pl.element() != "").list.unique(maintain_order=True)
    return windowed.with_columns(
        tags.list.concat(pl.lit([STREAM_KEY], dtype=pl.List(pl.String))).alias("key")
    ).explode("key")


def partials(keyed: pl.DataFrame, by: Sequence[str] = GROUP) -> pl.DataFrame:
    """Sum the rows of one batch per ``by`` (window_start, key, maybe partition)."""
    kind = pl.col("kind")
    has_score = "compound" in keyed.columns
    compound = pl.col("compound") if has_score else pl.lit(None, dtype=pl.Float64)
    return (
        keyed.group_by(by)
        .agg(
            pl.len().cast(pl.Int64).alias("posts"),
            (kind == "post").sum().cast(pl.Int64).alias("originals"),
            (kind == "repost").sum().cast(pl.Int64).alias("reposts"),
            (kind == "reply").sum().cast(pl.Int64).alias("replies"),
            (kind == "quote").sum().cast(pl.Int64).alias("quotes"),
            pl.col("followers").sum().cast(pl.Int64).alias("reach"),
            compound.count().cast(pl.Int64).alias("scored"),
            compound.sum().cast(pl.Float64).alias("sentiment_sum"),
            (compound >= POSITIVE_AT).sum().cast(pl.Int64).alias("positive"),
            compound.is_between(NEGATIVE_AT, POSITIVE_AT, closed="none")
            .sum()
            .cast(pl.Int64)
            .alias("neutral"),
            (compound <= NEGATIVE_AT).sum().cast(pl.Int64).alias("negative"),
            pl.col("created_at").max().alias("max_event"),
        )
        .select(*_extra(by), *PARTIAL_SCHEMA.names())
    )


def uniques(keyed: pl.DataFrame, by: Sequence[str] = GROUP) -> pl.DataFrame:
    """The distinct (window_start, key, author_id) triples of one batch (plus ``by``)."""
    return keyed.select(*_extra(by), *UNIQUE_SCHEMA.names()).unique()


def merge_partials(
    frames: list[pl.DataFrame], by: Sequence[str] = GROUP, where: pl.Expr | None = None
) -> pl.DataFrame:
    """Add up partials of the same ``by`` group (only the rows matching ``where``, if given:
    one filter over all the frames, not one per frame)."""
    frames = [f for f in frames if not f.is_empty()]
    if not frames:
        return pl.DataFrame(schema={**dict.fromkeys(_extra(by), pl.Int32), **PARTIAL_SCHEMA})
    if len(frames) == 1 and list(by) == frames[0].columns[: len(by)]:
        return frames[0] if where is None else frames[0].filter(where)
    names = [*_extra(by), *PARTIAL_SCHEMA.names()]
    picked = [f if f.columns == names else f.select(names) for f in frames]
    rows = pl.concat(picked, how="vertical_relaxed").lazy()
    if where is not None:
        rows = rows.filter(where)
    return (
        rows.group_by(by)
        .agg(*(pl.col(c).sum() for c in SUM_COLUMNS), pl.col("max_event").max())
        .select(names)
        .collect()
    )


def _extra(by: Sequence[str]) -> list[str]:
    """Group columns beyond (window_start, key), e.g. ``partition``."""
    return [c for c in by if c not in GROUP]


@dataclass(slots=True)
class Accumulated:
    """Open-window state kept as one merged frame plus the pieces added since.

    Merging every batch into the whole state costs a pass over all of it per batch (and as
    much memory again); here the pieces are merged only once they hold as many rows as the
    merged frame (and at least ``min_rows``), so each row is merged ``O(log n)`` times and
    the state is at most about twice its merged size. Readers take :meth:`frames`, whose
    rows are correct in any grouping, or :meth:`compact` for one frame.
    """

    merge: Callable[[list[pl.DataFrame]], pl.DataFrame]
    merged: pl.DataFrame
    pieces: list[pl.DataFrame] = field(default_factory=list)
    min_rows: int = 100_000

    def add(self, piece: pl.DataFrame) -> None:
        if piece.is_empty():
            return
        self.pieces.append(piece)
        if sum(p.height for p in self.pieces) >= max(self.merged.height, self.min_rows):
            self.compact()

    def compact(self) -> pl.DataFrame:
        """Merge the pieces in; the whole state as one frame."""
        if self.pieces:
            self.merged = self.merge([self.merged, *self.pieces])
            self.pieces = []
        return self.merged

    def frames(self) -> list[pl.DataFrame]:
        return [self.merged, *self.pieces]

    def take(self, where: pl.Expr) -> list[pl.DataFrame]:
        """Remove the rows matching ``where`` and return them (non-empty frames)."""
        taken = []
        kept = []
        for frame in self.frames():
            taken.append(frame.filter(where))
            kept.append(frame.filter(~where))
        self.merged, self.pieces = kept[0], [k for k in kept[1:] if not k.is_empty()]
        return [t for t in taken if not t.is_empty()]

    @property
    def height(self) -> int:
        return sum(f.height for f in self.frames())

    def estimated_size(self) -> int:
        return int(sum(f.estimated_size() for f in self.frames()))

    def column(self, name: str) -> pl.Series:
        """One column over every frame."""
        return pl.concat([f.get_column(name) for f in self.frames()])
