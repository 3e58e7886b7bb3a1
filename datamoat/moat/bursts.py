"""Ground truth: the events the moat injects into the stream, and every burst the firehose
generator puts in it (injected and random), with onset, hashtag, kind and size.

The injected events are a pure function of (config, seed, window of onsets): at least
``min_bursts`` (``bursts_per_day`` per simulated day when more), onsets spread evenly over
the part of the run after the trend warm-up and before the detection horizon (events may
overlap in time; each has its own hashtag), sizes taken in turn from ``burst_sizes``
(shuffled by the seed) and kinds in turn from ``burst_kinds``:

* ``new``: a burst of a hashtag nobody used before;
* ``established``: a burst on a hashtag of the generator's vocabulary, which has posts in
  every window (a rise over its own baseline);
* ``shift``: people suddenly feeling differently about an established hashtag, at flat
  volume (:class:`ingest.firehose.Shift`): its size is the posts per minute whose feeling
  changes at the peak, so it goes to a hashtag busy enough to carry it.

A size is in **extra original posts per simulated minute at the peak** (the generator adds
cascades of reposts and replies on top, as it does for every original). The truth is read
back from the generator's own burst book (:class:`ingest.firehose.bursts.BurstBook`, a pure
function of the firehose config, seed and start), so random bursts count too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from datamoat.moat.config import Clock, MoatConfig
from ingest.firehose import Burst, Shift, vocabulary_hashtag
from ingest.firehose.bursts import RANDOM_TOPIC_BASE, BurstBook
from ingest.firehose.config import FirehoseConfig
from ingest.firehose.profile import BURST_SPAN

__all__ = [
    "TRUTH_SCHEMA",
    "Injected",
    "hashtag_share",
    "inject",
    "shift_capacity",
    "true_bursts",
]

_SALT = 0x30A7
_EVENTS = (
    ("launch", 0.7),
    ("scandal", -0.8),
    ("outage", -0.7),
    ("award", 0.8),
    ("final", 0.5),
    ("leak", -0.4),
    ("recall", -0.6),
    ("derby", 0.1),
)
#: Established hashtags for rises: these vocabulary ranks (a handful of posts a minute at
#: the default size, in every window).
_RISE_RANKS = range(5, 120)
#: A shift changes at most this share of its hashtag's posts.
_SHIFT_SHARE = 0.8

TRUTH_SCHEMA = pl.Schema(
    {
        "burst": pl.Int64,
        "hashtag": pl.String,
        "kind": pl.String,  # new, established, shift, random
        "size_ppm": pl.Float64,  # extra (or shifted) posts per simulated minute at the peak
        "onset_ms": pl.Int64,  # epoch ms (event time)
        "end_ms": pl.Int64,  # the burst's active span ends here
        "rise_s": pl.Float64,  # simulated seconds
        "sentiment": pl.Float64,
        "injected": pl.Boolean,
    }
)


@dataclass(frozen=True, slots=True)
class Injected:
    """What a run injects: bursts and shifts for the firehose, and their truth rows."""

    bursts: tuple[Burst, ...]
    shifts: tuple[Shift, ...]
    truth: pl.DataFrame  # TRUTH_SCHEMA, injected events only


def hashtag_share(fh: FirehoseConfig, rank: int) -> float:
    """Expected share of all posts that carry the vocabulary hashtag of ``rank``: the slots
    an original fills (``hashtags_per_post``), less the fresh-hashtag share, times the
    Zipf(1) probability of the rank as the renderer draws it (a repost carries its
    source's hashtags, so the share holds for every kind of post)."""
    shares = np.asarray(fh.hashtags_per_post, dtype=np.float64)
    shares = shares / shares.sum()
    slots = float(sum(shares[j + 1 :].sum() for j in range(len(shares) - 1)))
    p_rank = math.log((rank + 2) / (rank + 1)) / math.log(fh.hashtag_vocab + 1)
    return slots * (1.0 - fh.new_hashtag_share) * p_rank


def inject(
    config: MoatConfig,
    fh: FirehoseConfig,
    seed: int,
    first_ms: int,
    last_ms: int,
    clock: Clock,
    *,
    kinds: tuple[str, ...] | None = None,
    sizes: tuple[float, ...] | None = None,
    count: int | None = None,
    plan: tuple[tuple[str, float], ...] | None = None,
) -> Injected:
    """Events with onsets evenly spread over ``[first_ms, last_ms)`` (epoch ms): kinds in
    turn and sizes shuffled, or each (kind, size) of ``plan`` once, in a shuffled order."""
    kinds = kinds or config.burst_kinds
    sizes = sizes or config.burst_sizes
    days = config.duration_s / 86_400.0
    n = count if count is not None else max(round(config.bursts_per_day * days), config.min_bursts)
    if plan is not None:
        n = len(plan)
    if n <= 0 or last_ms <= first_ms:
        return Injected((), (), pl.DataFrame(schema=TRUTH_SCHEMA))
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SALT])))
    size_of = np.array(sizes)[np.arange(n) % len(sizes)][rng.permutation(n)]
    kind_of = [kinds[k % len(kinds)] for k in range(n)]
    if plan is not None:
        order = rng.permutation(n)
        kind_of = [plan[i][0] for i in order]
        size_of = np.array([plan[i][1] for i in order])
    per_minute = config.posts_per_minute
    ranks = iter(rng.permutation(np.array(_RISE_RANKS)).tolist())
    step = (last_ms - first_ms) / n
    bursts: list[Burst] = []
    shifts: list[Shift] = []
    rows = []
    used: set[int] = set()
    for k in range(n):
        kind = kind_of[k]
        onset = first_ms + round((k + float(rng.uniform(0.1, 0.9))) * step)
        rise = float(rng.uniform(*config.burst_rise_s))
        event, sentiment = _EVENTS[int(rng.integers(len(_EVENTS)))]
        size = float(size_of[k])
        if kind == "new":
            tag = f"moat{event}{k}"
            bursts.append(Burst(onset, tag, size / per_minute, rise, sentiment))
        elif kind == "established":
            rank = next(r for r in ranks if r not in used)
            used.add(rank)
            tag = vocabulary_hashtag(fh, rank)
            bursts.append(Burst(onset, tag, size / per_minute, rise, sentiment))
        else:
            rank = _shift_rank(fh, per_minute, size, used)
            used.add(rank)
            tag = vocabulary_hashtag(fh, rank)
            share = min(1.0, size / (per_minute * hashtag_share(fh, rank)))
            size = share * per_minute * hashtag_share(fh, rank)
            sentiment = -0.9 if sentiment >= 0 else 0.9  # a turn against the usual mood
            shifts.append(Shift(onset, tag, rise, share, sentiment))
        rows.append(
            {
                "burst": k + 1,
                "hashtag": tag.lower().lstrip("#"),
                "kind": kind,
                "size_ppm": size,
                "onset_ms": onset,
                "end_ms": onset + round(BURST_SPAN * clock.ms(rise)),
                "rise_s": rise,
                "sentiment": sentiment,
                "injected": True,
            }
        )
    truth = pl.DataFrame(rows, schema=TRUTH_SCHEMA)
    return Injected(tuple(bursts), tuple(shifts), truth)


def _shift_rank(fh: FirehoseConfig, per_minute: float, size: float, used: set[int]) -> int:
    """The quietest vocabulary hashtag that carries ``size`` shifted posts a minute with at
    most ``_SHIFT_SHARE`` of its posts changed (the busiest one when none can)."""
    for rank in range(200, -1, -1):
        if rank not in used and per_minute * hashtag_share(fh, rank) * _SHIFT_SHARE >= size:
            return rank
    return min(set(range(201)) - used)


def shift_capacity(fh: FirehoseConfig, per_minute: float) -> float:
    """The largest shift (posts per minute) the busiest hashtag can carry."""
    return per_minute * hashtag_share(fh, 0) * _SHIFT_SHARE


def true_bursts(
    fh_config: FirehoseConfig,
    seed: int,
    start_ms: int,
    end_ms: int,
    injected: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every event of the stream with its onset in ``[start_ms, end_ms)`` (TRUTH_SCHEMA):
    the ``injected`` rows as given, and the generator's random bursts from its book."""
    book = BurstBook(fh_config, seed, start_ms)
    scale = fh_config.time_scale
    per_minute = fh_config.rate * 60.0 * scale
    rows = []
    for b in book.overlapping(0.0, float(end_ms - start_ms)):
        onset = start_ms + round(b.start)
        if b.topic < RANDOM_TOPIC_BASE or not start_ms <= onset < end_ms:
            continue
        rows.append(
            {
                "burst": b.topic,
                "hashtag": b.hashtag,
                "kind": "random",
                "size_ppm": b.peak * per_minute,
                "onset_ms": onset,
                "end_ms": onset + round(BURST_SPAN * b.rise),
                "rise_s": b.rise / 1000.0 / scale,
                "sentiment": b.sentiment,
                "injected": False,
            }
        )
    parts = [pl.DataFrame(rows, schema=TRUTH_SCHEMA)]
    if injected is not None:
        parts.append(injected.filter(pl.col("onset_ms").is_between(start_ms, end_ms - 1)))
    return pl.concat(parts).sort("onset_ms", "burst")
