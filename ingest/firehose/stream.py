"""The firehose: an endless, deterministic stream of posts in event-time order.

The stream is a pure function of (config, seed, start_ms). Blocks of event time are
generated in order; each block's cascade forest goes into a calendar and the posts due in a
block are rendered in batches, so ``take(3) + take(997) == take(1000)`` byte for byte.

Sharding: with ``shards=N``, shard k generates the forests rooted in blocks b with
b % N == k (and their whole cascades), so the N shards emit disjoint sets of posts whose
union, ordered by (created_at, post_id), is exactly the single-process stream.

With ``polarity=True`` every frame also carries the feeling the generator gave each post
(``polarity``, Int8 -1/0/1, its source's for a repost): the ground truth behind the text.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ingest.firehose.authors import Authors
from ingest.firehose.bursts import BurstBook
from ingest.firehose.calendar import Calendar, Events, event_times
from ingest.firehose.cascade import CascadeModel
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.profile import TimeWarp
from ingest.firehose.render import Renderer
from ingest.schema import POST_SCHEMA

__all__ = ["Firehose", "generate"]

_BLOCK_POSTS = 4096  # expected posts per block at the average rate
_RENDER_MIN = 16_384  # render at least this many due posts at a time
_WITH_POLARITY = pl.Schema([*POST_SCHEMA.items(), ("polarity", pl.Int8())])


class Firehose:
    """The synthetic firehose. ``take(n)`` hands out the next n posts (POST_SCHEMA, plus a
    ``polarity`` column with ``polarity=True``)."""

    def __init__(
        self,
        config: FirehoseConfig,
        seed: int,
        start_ms: int,
        *,
        shard: int = 0,
        shards: int = 1,
        polarity: bool = False,
    ) -> None:
        if not 0 <= shard < shards:
            raise ValueError(f"shard must be in [0, {shards}), got {shard}")
        self.config = config
        self.seed = seed
        self.start_ms = start_ms
        self.shard = shard
        self.shards = shards
        self.polarity = polarity
        # the schema of every frame handed out
        self.schema = _WITH_POLARITY if polarity else POST_SCHEMA
        self.block_ms = int(min(600_000, max(1, round(_BLOCK_POSTS * 1000.0 / config.rate))))
        warp = TimeWarp.of(config, start_ms)
        authors = Authors(config, seed)
        bursts = BurstBook(config, seed, start_ms)
        self._model = CascadeModel(config, seed, warp, authors, bursts, self.block_ms)
        self._renderer = Renderer(config, seed, start_ms, self.block_ms, authors, bursts)
        self._calendar = Calendar(self.block_ms)
        self._block = -1  # last block whose due posts have been collected
        self._due: list[Events] = []
        self._due_rows = 0
        self._ready: list[pl.DataFrame] = []
        self._ready_rows = 0
        self._emitted = 0

    @property
    def emitted(self) -> int:
        """Posts handed out so far."""
        return self._emitted

    @property
    def horizon_ms(self) -> int:
        """Every post with created_at below this (epoch ms) has been generated."""
        return self.start_ms + (self._block + 1) * self.block_ms

    @property
    def pending(self) -> int:
        """Posts generated but not yet due (the cascade backlog; bounded by the kernel)."""
        return len(self._calendar)

    def _step(self) -> None:
        """Generate the next block and collect the posts due in it."""
        b = self._block + 1
        if b > 0:
            self._calendar.advance(b)
        if b % self.shards == self.shard:
            self._calendar.add(self._model.block(b))
        self._block = b
        due = self._calendar.pop()
        if len(due):
            self._due.append(due)
            self._due_rows += len(due)

    def _first_due_ms(self) -> int:
        return self.start_ms + int(event_times(self._due[0][:1], self.block_ms)[0])

    def _render_due(self) -> None:
        if not self._due:
            return
        events = np.concatenate(self._due) if len(self._due) > 1 else self._due[0]
        self._due, self._due_rows = [], 0
        self._ready.append(self._renderer.render(events, polarity=self.polarity))
        self._ready_rows += len(events)

    def _fill(self, n: int) -> None:
        """Make at least n rows ready, rendering in batches of at least _RENDER_MIN rows."""
        if self._ready_rows >= n:
            return
        want = max(n - self._ready_rows, _RENDER_MIN)
        while self._due_rows < want:
            self._step()
        self._render_due()

    def _pop_ready(self, n: int) -> pl.DataFrame:
        frame = pl.concat(self._ready) if len(self._ready) > 1 else self._ready[0]
        out, rest = frame.head(n), frame.slice(n)
        self._ready = [rest] if len(rest) else []
        self._ready_rows = len(rest)
        self._emitted += n
        return out

    def take(self, n: int) -> pl.DataFrame:
        """The next n posts (``schema``, non-decreasing created_at)."""
        if n <= 0:
            return pl.DataFrame(schema=self.schema)
        self._fill(n)
        return self._pop_ready(n)

    def prepare(self, end_ms: int) -> None:
        """Generate and render every post with created_at < end_ms (epoch ms) now, so that
        ``take_until(end_ms)`` only hands them out (a pacer calls it before its clock starts).
        Renders ahead in batches of at least _RENDER_MIN rows, so small steps stay cheap."""
        while self.horizon_ms < end_ms:
            self._step()
        if self._due and self._first_due_ms() < end_ms:
            while self._due_rows < _RENDER_MIN:
                self._step()
            self._render_due()

    def take_until(self, end_ms: int) -> pl.DataFrame:
        """Every not yet taken post with created_at < end_ms (epoch ms), for real-time pacing."""
        self.prepare(end_ms)
        if not self._ready:
            return pl.DataFrame(schema=self.schema)
        frame = pl.concat(self._ready) if len(self._ready) > 1 else self._ready[0]
        n = int(frame.get_column("created_at").search_sorted(end_ms, side="left"))
        self._ready, self._ready_rows = [frame], len(frame)
        return self._pop_ready(n)


def generate(config: FirehoseConfig, seed: int, start_ms: int, n: int) -> pl.DataFrame:
    """The first n posts of the stream: ``Firehose(config, seed, start_ms).take(n)``."""
    return Firehose(config, seed, start_ms).take(n)
