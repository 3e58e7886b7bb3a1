"""The firehose's configuration: one frozen object, every realism knob with a default.

All durations are in *model* time: a real day has 86,400 s. With ``day_in_s`` set, model time
is compressed by ``day_in_s / 86400`` (diurnal cycle, cascade kernel, bursts and hashtag
births alike), so a whole simulated day can be watched in a few minutes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DEFAULT_LANGUAGES", "DEMO_BURSTS", "Burst", "FirehoseConfig", "Shift", "flat_demo"]

#: (BCP-47 code, share of posts). About half of X's traffic is not English.
DEFAULT_LANGUAGES: tuple[tuple[str, float], ...] = (
    ("en", 0.52),
    ("ja", 0.15),
    ("es", 0.09),
    ("pt", 0.06),
    ("ar", 0.05),
    ("id", 0.03),
    ("fr", 0.03),
    ("ko", 0.02),
    ("tr", 0.02),
    ("de", 0.02),
    ("hi", 0.01),
)


@dataclass(frozen=True)
class Burst:
    """A scheduled topic burst: extra original posts about ``hashtag``.

    The extra rate rises from 0 at ``start_ms`` to ``peak * rate`` after ``rise_s`` (model
    seconds), then decays (shape ``x e^(1-x)`` with ``x = elapsed / rise``). ``sentiment`` in
    [-1, 1] skews the burst's posts: a scandal is negative, a product launch positive.
    """

    start_ms: int
    hashtag: str
    peak: float = 1.0
    rise_s: float = 900.0
    sentiment: float = 0.0


@dataclass(frozen=True)
class Shift:
    """A scheduled sentiment shift on ``hashtag`` at flat volume: no extra posts, only feeling.

    From ``start_ms`` (epoch ms) on, a post whose source (the post itself, or what a repost
    reposts) was created in the shift's span and carries ``hashtag`` is *shifted* with
    probability ``share * x e^(1-x)`` (``x = elapsed / rise``, the burst shape: 0 at the
    start, ``share`` after ``rise_s`` model seconds, then decaying; the span lasts
    ``BURST_SPAN`` rise times). A shifted post draws its polarity with skew ``sentiment``
    in [-1, 1] instead of its topic's. ``hashtag`` is a rendered name: lower-case, no '#'.
    """

    start_ms: int
    hashtag: str
    rise_s: float = 900.0
    share: float = 0.5
    sentiment: float = -0.8


@dataclass(frozen=True)
class FirehoseConfig:
    """Everything that shapes the synthetic firehose (the stream is a pure function of it,
    the seed and the start time)."""

    rate: float = 1157.0
    """Average posts per second (100M posts/day)."""

    # --- time -----------------------------------------------------------------------------
    day_in_s: float | None = None
    """Length of a simulated day in seconds; None = a real day (86,400 s)."""
    diurnal_swing: float = 2.5
    """Peak-to-trough ratio of the daily activity cycle (1 = flat)."""
    peak_hour: float = 15.0
    """Hour of the (model) day, counted from midnight UTC, at which activity peaks."""

    # --- bursts ---------------------------------------------------------------------------
    bursts: tuple[Burst, ...] = ()
    """Scheduled bursts (their posts come on top of ``rate``)."""
    relative_bursts: tuple[Burst, ...] = ()
    """Scheduled bursts whose ``start_ms`` counts from the stream's start (the demo's)."""
    shifts: tuple[Shift, ...] = ()
    """Scheduled sentiment shifts (they change posts' polarity, never the posts themselves)."""
    random_bursts_per_day: float = 3.0
    """Random topic bursts per model day (their expected volume is part of ``rate``)."""
    random_burst_peak: float = 0.4
    """Median peak extra rate of a random burst, as a multiple of ``rate``."""
    random_burst_rise_s: float = 1200.0
    """Median rise time of a random burst (model seconds)."""

    # --- authors --------------------------------------------------------------------------
    authors: int = 2_000_000
    activity_exponent: float = 0.6
    """Author activity ~ rank^-a (a in [0, 1)): heavy-tailed posting frequency."""
    followers_log_mean: float = 5.21
    followers_log_sd: float = 1.60
    followers_tail_min: float = 1100.0
    followers_tail_exponent: float = 2.46
    """Density exponent of the power-law tail of follower counts above ``followers_tail_min``."""
    followers_max: int = 150_000_000

    # --- hashtags -------------------------------------------------------------------------
    hashtag_vocab: int = 50_000
    hashtag_zipf: float = 1.0
    hashtags_per_post: tuple[float, ...] = (0.62, 0.25, 0.09, 0.04)
    """Share of originals with 0, 1, 2, 3 hashtags (counts above 3 are cut to 3)."""
    new_hashtags_per_hour: int = 24
    """Hashtags born per model hour (each is used for about an hour)."""
    new_hashtag_share: float = 0.04
    """Share of hashtag slots filled with a hashtag born this hour."""

    # --- cascades (self-exciting Hawkes process, SEISMIC-style kernel) --------------------
    infectiousness: float = 0.0088
    """Expected direct reposts/replies/quotes of a post whose author has ``followers_ref``."""
    followers_ref: float = 183.0
    infectiousness_exponent: float = 1.13
    """Expected children grow like (followers / followers_ref) ** exponent."""
    fitness_sd: float = 1.59
    """Log-sd of a cascade's content fitness (a multiplier shared by the whole cascade)."""
    max_children_mean: float = 2000.0
    """Cap on one post's expected direct children (a celebrity's reach is not unbounded)."""
    max_branching: float = 0.816
    """Cap on a cascade's branching ratio (its children's expected children, averaged over
    authors and kinds): fitness is clipped there, which keeps every cascade finite."""
    kernel_flat_s: float = 300.0
    """The delay kernel is flat for this long (SEISMIC: 5 min) ..."""
    kernel_exponent: float = 1.15
    """... then falls as delay ** -exponent (SEISMIC fits 1.242; 1.15 with this cascade
    structure puts the 5 min / 1 h / 6 h / 24 h shares nearest the reference cascades) ..."""
    kernel_cutoff_s: float = 2 * 86_400.0
    """... and is cut off here, so every post's children arrive within a finite time."""
    child_kinds: tuple[float, float, float] = (0.74, 0.18, 0.08)
    """Shares of repost, reply and quote among children."""
    original_infectiousness: float = 1.59
    """Relative infectiousness of an original post (it is what followers see first)."""
    depth_decay: float = 0.88
    """Infectiousness multiplier per generation (content ages as it travels)."""
    reply_infectiousness: float = 0.25
    """Relative infectiousness of a reply (replies are rarely reposted)."""
    max_depth: int = 400
    cascade_horizon_s: float = 7 * 86_400.0
    """A cascade ends this long after its original (bounds the pending backlog)."""
    warm_start: bool = True
    """Start in the stationary state: posts from before the start keep being reposted,
    replied to and quoted after it, so the rate is the target from the first second (a cold
    start begins with originals only and runs about a quarter low for hours)."""

    # --- text -----------------------------------------------------------------------------
    languages: tuple[tuple[str, float], ...] = DEFAULT_LANGUAGES

    def __post_init__(self) -> None:
        checks = (
            (self.rate > 0, "rate must be a positive number of posts/s"),
            (self.day_in_s is None or self.day_in_s > 0, "day_in_s must be positive or None"),
            (self.diurnal_swing >= 1, "diurnal_swing is a peak/trough ratio: at least 1"),
            (self.authors >= 1, "authors must be at least 1"),
            (0 <= self.activity_exponent < 1, "activity_exponent must be in [0, 1)"),
            (self.followers_tail_exponent > 1, "followers_tail_exponent must exceed 1"),
            (self.hashtag_vocab >= 1, "hashtag_vocab must be at least 1"),
            (
                len(self.hashtags_per_post) >= 1 and min(self.hashtags_per_post) >= 0,
                "hashtags_per_post must be non-negative shares of 0, 1, 2 ... hashtags",
            ),
            (0 < self.max_branching < 1, "max_branching must be in (0, 1)"),
            (self.kernel_exponent > 1, "kernel_exponent must exceed 1"),
            (
                0 < self.kernel_flat_s < self.kernel_cutoff_s,
                "need 0 < kernel_flat_s < kernel_cutoff_s",
            ),
            (
                min(self.child_kinds) >= 0 and sum(self.child_kinds) > 0,
                "child_kinds must be non-negative shares of repost, reply, quote",
            ),
            (
                len(self.languages) >= 1 and min(s for _, s in self.languages) >= 0,
                "languages must be (code, share) pairs with non-negative shares",
            ),
        )
        problems = [message for ok, message in (*checks, *self._shift_checks()) if not ok]
        if problems:
            raise ValueError("invalid FirehoseConfig: " + "; ".join(problems))

    def _shift_checks(self) -> list[tuple[bool, str]]:
        out: list[tuple[bool, str]] = []
        for k, s in enumerate(self.shifts):
            tag = s.hashtag
            name_ok = bool(tag) and tag == tag.lower() and "#" not in tag
            out += [
                (
                    name_ok and not any(ch.isspace() for ch in tag),
                    f"shifts[{k}].hashtag must be a rendered hashtag name: non-empty, "
                    f"lower-case, no '#' or spaces (got {tag!r})",
                ),
                (
                    math.isfinite(s.rise_s) and s.rise_s > 0,
                    f"shifts[{k}].rise_s must be a positive number of model seconds",
                ),
                (0 < s.share <= 1, f"shifts[{k}].share must be in (0, 1]"),
                (-1 <= s.sentiment <= 1, f"shifts[{k}].sentiment must be in [-1, 1]"),
            ]
        return out

    @property
    def time_scale(self) -> float:
        """Real seconds per model second (1 for a real day)."""
        return 1.0 if self.day_in_s is None else self.day_in_s / 86_400.0


#: The default demo's bursts (``datamoat run`` at a flat rate): a new hashtag 75 s in, so
#: a trend shows within the first two minutes, then one every 4 minutes for an hour, each
#: with its own sentiment skew. Modest: peaks of 5-10 % of the rate, rising over 1-2 min.
DEMO_BURSTS: tuple[Burst, ...] = tuple(
    Burst(start_ms=75_000 + i * 240_000, hashtag=tag, peak=peak, rise_s=rise, sentiment=mood)
    for i, (tag, peak, rise, mood) in enumerate(
        (
            ("novalaunch", 0.05, 60.0, 0.7),
            ("zenoutage", 0.08, 90.0, -0.7),
            ("lumaward", 0.06, 60.0, 0.8),
            ("daxscandal", 0.1, 120.0, -0.8),
            ("solconcert", 0.05, 90.0, 0.8),
            ("mirarecall", 0.07, 60.0, -0.6),
            ("orifinale", 0.06, 120.0, 0.5),
            ("velleak", 0.05, 60.0, -0.4),
            ("quinderby", 0.08, 90.0, 0.1),
            ("korstrike", 0.06, 60.0, -0.5),
            ("takquake", 0.1, 60.0, -0.9),
            ("bexlaunch", 0.05, 90.0, 0.7),
            ("novaelection", 0.07, 120.0, -0.1),
            ("zenaward", 0.05, 60.0, 0.8),
            ("lumfinale", 0.06, 90.0, 0.5),
        )
    )
)


def flat_demo(rate: float) -> FirehoseConfig:
    """The default stream of ``datamoat run``/``produce``: a flat ``rate`` (no daily cycle,
    no random bursts) with the scheduled :data:`DEMO_BURSTS`."""
    return FirehoseConfig(
        rate=rate, diurnal_swing=1.0, random_bursts_per_day=0.0, relative_bursts=DEMO_BURSTS
    )
