"""The moat experiment's configuration: ``configs/moat.toml`` (or ``--moat-config FILE``).

Every duration here is **simulated** time. With a compressed day (``day_in_s``), a
simulated second lasts ``day_in_s / 86400`` seconds of event time (the stream's
``created_at``): the firehose compresses its diurnal cycle, cascades and bursts by that
factor, and :class:`Clock` converts the moat's windows, lateness, delays, batch periods and
horizons the same way, so a 15-minute delay is 15 simulated minutes whatever the
compression. Every error is one :class:`~datamoat.errors.ConfigError` line naming the file,
the key and the fix.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamoat.config import in_keys
from datamoat.errors import ConfigError
from datamoat.resources import config_path
from process.problems import Problem
from process.windows import WindowSpec

__all__ = [
    "BURST_KINDS",
    "Clock",
    "MoatConfig",
    "Tier",
    "check_moat",
    "default_moat_path",
    "load_moat_config",
]

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TIER_KEYS = ("name", "ms", "delay_s", "every_s")
_WHOLE = (
    "bursts_per_day",
    "min_bursts",
    "calibration_seeds",
    "holdout_seeds",
    "sentiment_baseline_windows",
    "min_scored",
    "min_posts",
    "top_n",
)
#: Keys of earlier versions, and what replaced them.
_RENAMED = {
    "rate": "moat.posts_per_day (posts per simulated day: rate x day_in_s)",
    "burst_peaks": "moat.burst_sizes (extra original posts per simulated minute at the peak)",
}
BURST_KINDS = ("new", "established", "shift")
#: The key that sets each field of the engine's :class:`WindowSpec` (tumbling: the hop is
#: the window).
_WINDOW_KEYS = {
    "size_ms": "moat.window_s",
    "hop_ms": "moat.window_s",
    "allowed_lateness_ms": "moat.allowed_lateness_s",
}


@dataclass(frozen=True, slots=True)
class Tier:
    """One access tier: which posts it sees and when its signals become available.

    ``ms`` = (first, last): the tier sees the posts whose ``created_at`` millisecond
    (``created_at % 1000``) is in ``first..last`` inclusive (None: every post), so its
    sampling rate is ``(last - first + 1) / 1000``. A window's signals are available
    ``delay_s`` after the window closes; with ``every_s`` they come in batches, at the first
    multiple of ``every_s`` (counted from the stream start) at or after the close.
    """

    name: str
    ms: tuple[int, int] | None = None
    delay_s: float = 0.0
    every_s: float | None = None

    @property
    def rate(self) -> float:
        """Share of posts the tier sees."""
        return 1.0 if self.ms is None else (self.ms[1] - self.ms[0] + 1) / 1000.0

    @property
    def kind(self) -> str:
        parts = [] if self.ms is None else [f"ms {self.ms[0]}-{self.ms[1]}"]
        if self.every_s is not None:
            parts.append(f"every {_dur(self.every_s)}")
        if self.delay_s:
            parts.append(f"+{_dur(self.delay_s)}")
        return ", ".join(parts) or "all, at close"


def _dur(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


@dataclass(frozen=True, slots=True)
class MoatConfig:
    """The experiment: stream, windows, injected bursts, comparison thresholds, tiers."""

    posts_per_day: float = 2_520_000.0
    """The platform's size: posts per simulated day (X: 400-500M)."""
    day_in_s: float | None = 3600.0
    """A simulated day lasts this many seconds of event time (None: a real day)."""
    duration_s: float = 86_400.0
    """Simulated seconds covered by a run."""
    window_s: float = 300.0
    """Tumbling window (simulated seconds)."""
    allowed_lateness_s: float = 60.0
    """A window closes this long after its end (simulated seconds)."""
    bursts_per_day: int = 16
    """Injected bursts per simulated day, after the trend warm-up (random ones come on top).
    A run shorter than a day still injects at least ``min_bursts``."""
    min_bursts: int = 16
    """Fewest injected bursts of a run, whatever its length (they may overlap in time)."""
    burst_sizes: tuple[float, ...] = (5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
    """Extra original posts per simulated minute at an injected burst's peak (used in turn)."""
    burst_kinds: tuple[str, ...] = ("new", "established")
    """Kinds of the injected bursts, in turn: ``new`` (a hashtag nobody used before),
    ``established`` (a rise on a hashtag in every window), ``shift`` (a sentiment shift of
    an established hashtag at flat volume: its size is the posts per minute that change)."""
    burst_rise_s: tuple[float, float] = (600.0, 1800.0)
    """Range of the injected bursts' rise times (simulated seconds)."""
    horizon_s: float = 7200.0
    """A burst counts as detected when a tier flags it within this long of its onset."""
    false_alarms_per_day: float = 1.0
    """The common operating point: every tier's detectors are calibrated to this many false
    alarms per simulated day on burst-free streams."""
    calibration_seeds: int = 8
    """Burst-free streams the thresholds are calibrated on (seeds used nowhere else)."""
    holdout_seeds: int = 8
    """Other burst-free streams the false-alarm rate is reported on."""
    sentiment_baseline_windows: int = 12
    """The sentiment-shift test compares a window with this many windows before it."""
    min_scored: int = 50
    """Sentiment is compared on (window, key) cells with this many scored posts in all."""
    min_posts: int = 50
    """Counts are compared on (window, key) cells with this many posts in all."""
    top_n: int = 10
    """Hashtags compared per window in the tier table (top-n by posts)."""
    tiers: tuple[Tier, ...] = ()
    source: str = "defaults"

    @property
    def rate(self) -> float:
        """Posts per second of event time."""
        return self.posts_per_day / (self.day_in_s or 86_400.0)

    @property
    def posts_per_minute(self) -> float:
        """The platform's average posts per simulated minute."""
        return self.posts_per_day / 1440.0

    def clock(self, start_ms: int) -> Clock:
        return Clock(start_ms, 1.0 if self.day_in_s is None else self.day_in_s / 86_400.0)

    def window_spec(self) -> WindowSpec:
        """The engine's windows; ValueError when :meth:`window_problems` finds any."""
        return WindowSpec(**self._spec_fields())

    def window_problems(self) -> list[Problem]:
        """What :class:`WindowSpec` finds wrong with the windows, in its field names."""
        return WindowSpec.problems(**self._spec_fields())

    def _spec_fields(self) -> dict[str, int]:
        """The spec's fields, unchecked: tumbling, in event-time ms (:meth:`clock`)."""
        clock = self.clock(0)
        size = clock.ms(self.window_s)
        return {
            "size_ms": size,
            "hop_ms": size,
            "allowed_lateness_ms": clock.ms(self.allowed_lateness_s),
        }


@dataclass(frozen=True, slots=True)
class Clock:
    """Simulated seconds <-> event-time milliseconds (``scale`` event s per simulated s)."""

    start_ms: int
    scale: float

    def ms(self, simulated_s: float) -> int:
        """A simulated duration in event-time milliseconds."""
        return round(simulated_s * 1000.0 * self.scale)

    def sim_s(self, event_ms: float) -> float:
        """An event-time duration (ms) in simulated seconds."""
        return event_ms / 1000.0 / self.scale


def default_moat_path() -> Path | None:
    """``configs/moat.toml`` in the working directory, else the checkout's or the installed
    copy's; None when there is none."""
    for candidate in (Path("configs/moat.toml"), config_path("moat.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_moat_config(path: Path | None = None) -> MoatConfig:
    """The ``[moat]`` section and its ``[[moat.tiers]]`` (``path=None``: the default file)."""
    path = path or default_moat_path()
    if path is None:
        raise ConfigError("configs/moat.toml not found: pass --moat-config FILE")
    origin = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"moat config {path} not found: pass an existing file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"moat config {path} can't be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    section = raw.get("moat")
    if not isinstance(section, dict):
        raise ConfigError(f"{origin}: needs a [moat] section with [[moat.tiers]]")
    return parse_moat(section, origin)


def parse_moat(section: dict[str, Any], origin: str) -> MoatConfig:
    known = set(MoatConfig.__dataclass_fields__) - {"source"}
    renamed = sorted(set(section) & set(_RENAMED))
    if renamed:
        raise ConfigError(f"{origin}: moat.{renamed[0]} is gone: use {_RENAMED[renamed[0]]}")
    unknown = sorted(set(section) - known)
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key moat.{unknown[0]} (known: {', '.join(sorted(known))})"
        )
    raw_tiers = section.get("tiers")
    if not isinstance(raw_tiers, list) or not raw_tiers:
        raise ConfigError(f"{origin}: [moat] needs at least one [[moat.tiers]] table")
    tiers = tuple(_tier(t, i, origin) for i, t in enumerate(raw_tiers, 1))
    names = [t.name for t in tiers]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(f"{origin}: tier name {dup!r} is used twice; tier names must be unique")
    if "firehose" not in names or tiers[names.index("firehose")] != Tier("firehose"):
        raise ConfigError(
            f"{origin}: a tier named 'firehose' with every post and no delay is required "
            "(it is the reference the other tiers are measured against)"
        )
    values: dict[str, Any] = {"tiers": tiers, "source": origin}
    for key in known - {"tiers"}:
        if key in section:
            values[key] = _value(key, section[key], origin)
    config = MoatConfig(**values)
    check_moat(config, origin)
    return config


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def _value(key: str, value: Any, origin: str) -> Any:
    where = f"{origin}: moat.{key}"
    if key == "day_in_s":
        return None if value == 0 else _number(value, where)
    if key in _WHOLE:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be a whole number, got {value!r}")
        return value
    if key == "burst_sizes":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where} must be a non-empty list of posts per simulated minute")
        return tuple(_number(v, where) for v in value)
    if key == "burst_kinds":
        if not isinstance(value, list) or not value or any(v not in BURST_KINDS for v in value):
            raise ConfigError(f"{where} must be a non-empty list of {', '.join(BURST_KINDS)}")
        return tuple(value)
    if key == "burst_rise_s":
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(f"{where} must be [shortest, longest] (simulated seconds)")
        lo, hi = (_number(v, where) for v in value)
        return (lo, hi)
    return _number(value, where)


def check_moat(c: MoatConfig, origin: str) -> None:
    """One :class:`ConfigError` line for the first thing wrong with ``c`` (from ``origin``)."""
    window_posts = c.posts_per_day * c.window_s / 86_400.0
    checks = (
        (c.posts_per_day > 0, "moat.posts_per_day must be a positive number of posts"),
        (
            c.posts_per_day <= 0 or c.window_s <= 0 or window_posts >= 1.0,
            f"moat.posts_per_day {c.posts_per_day:g} is below one post a "
            f"{c.window_s:g}-s window: raise it or widen moat.window_s",
        ),
        (c.day_in_s is None or c.day_in_s > 0, "moat.day_in_s must be positive (0: a real day)"),
        (c.duration_s > 0, "moat.duration_s must be positive"),
        (c.bursts_per_day >= 0 and c.min_bursts >= 0, "moat.bursts_per_day must be >= 0"),
        (min(c.burst_sizes) > 0, "moat.burst_sizes must be positive posts per minute"),
        (
            max(c.burst_sizes) <= c.posts_per_minute,
            f"moat.burst_sizes: a burst of {max(c.burst_sizes):g} posts a minute is larger "
            f"than the platform ({c.posts_per_minute:,.0f} posts a minute): lower it or raise "
            "moat.posts_per_day",
        ),
        (0 < c.burst_rise_s[0] <= c.burst_rise_s[1], "moat.burst_rise_s must be 0 < lo <= hi"),
        (c.horizon_s > 0, "moat.horizon_s must be positive"),
        (c.false_alarms_per_day > 0, "moat.false_alarms_per_day must be positive"),
        (c.calibration_seeds >= 1, "moat.calibration_seeds must be at least 1"),
        (c.holdout_seeds >= 1, "moat.holdout_seeds must be at least 1"),
        (c.sentiment_baseline_windows >= 1, "moat.sentiment_baseline_windows must be >= 1"),
        (c.min_scored >= 1 and c.min_posts >= 1, "moat.min_scored and min_posts must be >= 1"),
        (c.top_n >= 2, "moat.top_n must be at least 2"),
    )
    found = [message for ok, message in checks if not ok]
    found += [message for _, message in in_keys(c.window_problems(), _WINDOW_KEYS)]
    if found:
        raise ConfigError(f"{origin}: {found[0]}")


def _tier(raw: Any, i: int, origin: str) -> Tier:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: [[moat.tiers]] #{i} must be a table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            f"{origin}: [[moat.tiers]] #{i}: name must be 1-32 of a-z 0-9 _ - "
            f"starting with a letter, got {name!r}"
        )
    where = f"{origin}: tier {name!r}"
    unknown = sorted(set(raw) - set(_TIER_KEYS))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(_TIER_KEYS)})")
    ms = raw.get("ms")
    if ms is not None:
        ok = (
            isinstance(ms, list)
            and len(ms) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in ms)
            and 0 <= ms[0] <= ms[1] <= 999
        )
        if not ok:
            raise ConfigError(
                f"{where}: ms must be [first, last] milliseconds with 0 <= first <= last "
                f"<= 999, got {ms!r}"
            )
        ms = (ms[0], ms[1])
    delay = _number(raw.get("delay_s", 0.0), f"{where}: delay_s")
    if delay < 0:
        raise ConfigError(f"{where}: delay_s must be >= 0 simulated seconds, got {delay:g}")
    every = raw.get("every_s")
    if every is not None:
        every = _number(every, f"{where}: every_s")
        if every <= 0:
            raise ConfigError(f"{where}: every_s must be a positive batch period, got {every:g}")
    return Tier(name, ms, delay, every)
