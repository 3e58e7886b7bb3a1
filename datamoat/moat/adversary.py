"""The sample's known weakness: posts timed into the sampled milliseconds.

X's public 1% sample kept the posts whose creation time fell in milliseconds 657-666 of a
second (the post id's timestamp bits), so whoever controls when posts are created decides
which ones the sample sees. Pfeffer, Mayer and Morstatter ("Tampering with Twitter's Sample
API", EPJ Data Science 7:50, 2018) showed that a few accounts posting into that slice make
a hashtag look big in the sample. A :class:`Campaign` does that here: ``accounts`` accounts
post a hashtag at ``per_minute`` original posts per simulated minute for ``span_s``
simulated seconds, every post created inside the millisecond slice ``ms``.

:func:`campaign_posts` renders the posts due in an event-time range as POST_SCHEMA rows
(plus ``polarity`` 0: the campaign has no feeling to measure), a pure function of the
campaigns and the range, so any chunking of the stream gives the same posts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ingest.schema import POST_SCHEMA

__all__ = ["ADVERSARY_AUTHOR_BASE", "Campaign", "campaign_posts"]

#: Post and author ids of the campaigns start here, far above the generator's.
ADVERSARY_ID_BASE = 1 << 61
ADVERSARY_AUTHOR_BASE = 1 << 40
_TEXT = "everyone is talking about this, see for yourself"


@dataclass(frozen=True, slots=True)
class Campaign:
    """Posts of one hashtag from ``accounts`` accounts, timed into the slice ``ms`` (a
    campaign lasts at least 2 seconds of event time, so each post's slice is in it)."""

    number: int
    hashtag: str
    start_ms: int  # epoch ms, event time
    end_ms: int
    per_minute: float  # posts per simulated minute
    minute_ms: float  # event-time ms in a simulated minute
    accounts: int = 50
    ms: tuple[int, int] = (657, 666)

    @property
    def posts(self) -> int:
        """Posts the whole campaign sends."""
        return int(self.times(self.start_ms, self.end_ms).shape[1])

    def times(self, lo: int, hi: int) -> np.ndarray:
        """Creation times (epoch ms) of its posts in ``[lo, hi)``: evenly paced, each one
        moved into the slice of its second."""
        gap = self.minute_ms / self.per_minute
        # a post moves at most a second within or next to its own: look that far around
        first = max(0, int(np.ceil((lo - 2000 - self.start_ms) / gap)))
        last = int(np.ceil((min(hi + 2000, self.end_ms) - self.start_ms) / gap))
        k = np.arange(first, max(first, last), dtype=np.int64)
        paced = self.start_ms + np.floor(k * gap).astype(np.int64)
        width = self.ms[1] - self.ms[0] + 1
        inside = paced // 1000 * 1000 + self.ms[0] + k % width
        # the slice of the first or last second may fall outside the campaign: use the
        # second next to it
        inside = np.where(inside < self.start_ms, inside + 1000, inside)
        inside = np.where(inside >= self.end_ms, inside - 1000, inside)
        keep = (
            (paced < self.end_ms)
            & (inside >= max(lo, self.start_ms))
            & (inside < min(hi, self.end_ms))
        )
        return np.stack([k[keep], inside[keep]])


def campaign_posts(campaigns: tuple[Campaign, ...], lo: int, hi: int) -> pl.DataFrame:
    """Every campaign post created in ``[lo, hi)`` (epoch ms), by time."""
    frames = []
    for c in campaigns:
        k, times = c.times(lo, hi)
        if not len(k):
            continue
        frames.append(
            pl.DataFrame(
                {
                    "post_id": ADVERSARY_ID_BASE + c.number * (1 << 32) + k,
                    "author_id": ADVERSARY_AUTHOR_BASE + c.number * 10_000 + k % c.accounts,
                    "created_at": times,
                    "kind": ["post"] * len(k),
                    "parent_id": pl.Series([None] * len(k), dtype=pl.Int64),
                    "root_id": pl.Series([None] * len(k), dtype=pl.Int64),
                    "text": [f"{_TEXT} #{c.hashtag}"] * len(k),
                    "hashtags": [[c.hashtag]] * len(k),
                    "lang": ["en"] * len(k),
                    "followers": np.full(len(k), 40, dtype=np.int64),
                }
            ).cast(POST_SCHEMA)
        )
    if not frames:
        return pl.DataFrame(schema=POST_SCHEMA)
    return pl.concat(frames).sort("created_at", "post_id")
