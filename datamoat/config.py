"""Configuration: ``configs/datamoat.toml``, a profile, ``--config FILE``, then the environment.

One frozen object per component. Environment overrides are ``DATAMOAT_<SECTION>_<KEY>``
(``DATAMOAT_WINDOW_SIZE_S=5``); ``KAFKA_BOOTSTRAP`` sets ``kafka.bootstrap``. Every error is
a :class:`~datamoat.errors.ConfigError` whose message names where the bad value came from
(the file and key, or the environment variable) and the fix. A ``DATAMOAT_*`` variable
datamoat does not read is an error when it is a misspelling of one it reads (within an edit
or two), is ignored silently when it has the shape of a Kubernetes service link (a Service
named ``datamoat`` or ``datamoat-*`` in the pod's namespace), and is a warning otherwise.

The ``[window]``, ``[cascades]`` and ``[trends]`` keys set the engine's
:class:`~process.windows.WindowSpec`, :class:`~process.cascades.CascadeConfig` and
:class:`~process.trends.TrendConfig`, whose rules are theirs alone: the config asks them
(``problems``) and says what they find in its own keys (:data:`WINDOW_KEYS`,
:data:`CASCADES_KEYS`, :data:`TRENDS_KEYS`); the sections' :meth:`WindowConfig.spec`,
:meth:`CascadesConfig.engine` and :meth:`TrendsConfig.engine` are the one conversion to the
engine's types.

A profile (``--profile NAME`` or ``DATAMOAT_PROFILE``) is a shipped file of the same shape,
``configs/profiles/NAME.toml``, for a kind of source (``bluesky``: a real network's tens of
posts a second). Each key comes from the first of: a flag, the environment, the file of
``--config`` (or ``DATAMOAT_CONFIG``), the profile, the default file, the built-in default.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_origin, get_type_hints

from datamoat.errors import ConfigError
from datamoat.resources import config_path
from process.cascades import CascadeConfig
from process.early import AlertRule
from process.problems import Problem
from process.trends import TrendConfig
from process.windows import WindowSpec

__all__ = [
    "CASCADES_KEYS",
    "TRENDS_KEYS",
    "WINDOW_KEYS",
    "BatchConfig",
    "CascadesConfig",
    "Config",
    "FirehoseSection",
    "KafkaConfig",
    "TrendsConfig",
    "WindowConfig",
    "default_config_path",
    "env_variable",
    "in_keys",
    "known_variables",
    "load_config",
    "profile_names",
    "profile_path",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_config_path() -> Path | None:
    """``$DATAMOAT_CONFIG``, else ``configs/datamoat.toml`` in the working directory, else the
    checkout's or the installed copy's (``datamoat.resources.config_path``); None when there
    is none (a build without its configs then runs on the defaults)."""
    given = os.environ.get("DATAMOAT_CONFIG")
    if given:
        return Path(given)
    for candidate in (Path("configs/datamoat.toml"), config_path("datamoat.toml")):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str = "127.0.0.1:9092"
    posts_topic: str = "posts"
    dlq_topic: str = "posts.dlq"
    signals_topic: str = "signals"
    #: Early signals (provisional, latest wins per window and key: compacted) and trend
    #: alerts with their retractions (``[early]``).
    early_topic: str = "signals.early"
    alerts_topic: str = "alerts"
    #: Internal topics are ``<prefix>.<name>``; empty: the worker group's name, so
    #: pipelines on one cluster never read each other's internal records.
    internal_prefix: str = ""
    partitions: int = 6
    #: The least replication factor of new topics; they get at least min(3, brokers) (0: that).
    replication_factor: int = 1
    group: str = "datamoat"
    #: A worker that does not poll for this long leaves its group (Kafka's
    #: max.poll.interval.ms); a worker waiting out a sink outage keeps polling.
    max_poll_interval_s: float = 300.0

    def internal_topic(self, group: str, name: str) -> str:
        """The internal topic ``name`` of worker group ``group``: ``<group>.<name>``, or
        ``<internal_prefix>.<name>`` when the prefix is set."""
        return f"{self.internal_prefix or group}.{name}"

    def partials_topic(self, group: str) -> str:
        """Where the workers of ``group`` hand their deltas to the merger."""
        return self.internal_topic(group, "partials")

    def early_channel(self, group: str) -> str:
        """Where the workers of ``group`` hand their batches' increments to the merger for
        early signals: written after each commit, outside the transactions, and never read
        by the final path."""
        return self.internal_topic(group, "early")

    def snapshots_topic(self, group: str) -> str:
        """Where the merger of ``group`` keeps its state's snapshots (compacted)."""
        return self.internal_topic(group, "merger-snapshots")


@dataclass(frozen=True)
class FirehoseSection:
    rate: float = 1157.0
    seed: int = 1
    #: Follow a daily activity cycle instead of a flat rate with the demo bursts.
    diurnal: bool = False
    #: Compress a simulated day into this many seconds (0: a real day; implies diurnal).
    day_in_s: float = 0.0


@dataclass(frozen=True)
class WindowConfig:
    """The engine's windows (:class:`~process.windows.WindowSpec`) in seconds, and the
    worker's idle timeout. The spec's rules are its own: see :meth:`problems`."""

    size_s: float = 10.0
    #: 0: tumbling (the hop is the size).
    hop_s: float = 0.0
    allowed_lateness_s: float = 5.0
    #: The worker's, not the engine's (the config checks it itself).
    idle_timeout_s: float = 30.0

    def spec(self) -> WindowSpec:
        """The engine's windows; ValueError when :meth:`problems` finds any."""
        return WindowSpec(**self._spec_fields())

    def problems(self) -> list[Problem]:
        """What :class:`~process.windows.WindowSpec` finds wrong with these values, in its
        field names (:data:`WINDOW_KEYS` has the key that sets each)."""
        return WindowSpec.problems(**self._spec_fields())

    @property
    def idle_timeout_ms(self) -> int:
        """The idle timeout in the worker's unit, milliseconds."""
        return _ms(self.idle_timeout_s)

    def _spec_fields(self) -> dict[str, int]:
        """The spec's fields, unchecked: milliseconds, and the size as the hop when
        ``hop_s`` is 0."""
        size = _ms(self.size_s)
        return {
            "size_ms": size,
            "hop_ms": _ms(self.hop_s) if self.hop_s else size,
            "allowed_lateness_ms": _ms(self.allowed_lateness_s),
        }


@dataclass(frozen=True)
class BatchConfig:
    max_records: int = 50_000
    max_wait_ms: int = 250
    max_record_bytes: int = 65_536
    max_future_s: float = 86_400.0


@dataclass(frozen=True)
class CascadesConfig:
    """The engine's cascade tracking (:class:`~process.cascades.CascadeConfig`) in seconds
    and MiB. Its rules are the engine's own: see :meth:`problems`."""

    top_k: int = 5
    ttl_s: float = 86_400.0
    max_state_mib: float = 256.0

    def engine(self) -> CascadeConfig:
        """The engine's cascade config; ValueError when :meth:`problems` finds any."""
        return CascadeConfig(**self._engine_fields())

    def problems(self) -> list[Problem]:
        """What :class:`~process.cascades.CascadeConfig` finds wrong with these values, in
        its field names (:data:`CASCADES_KEYS` has the key that sets each)."""
        return CascadeConfig.problems(**self._engine_fields())

    def _engine_fields(self) -> dict[str, int]:
        """The engine's fields, unchecked: milliseconds and bytes."""
        return {
            "top_k": self.top_k,
            "ttl_ms": _ms(self.ttl_s),
            "max_state_bytes": round(self.max_state_mib * 2**20),
        }


@dataclass(frozen=True)
class TrendsConfig:
    """The merger's trend rule (:class:`~process.trends.TrendConfig`) in its own units:
    counts of windows and of original posts, rates in originals/s. The defaults are tuned
    for 1,157 posts/s in 10-s windows (the ``bluesky`` profile: tens of posts a second).
    Its rules are the engine's own: see :meth:`problems`."""

    alpha: float = 0.02
    floor: float = 0.5
    min_support: int = 20
    threshold: float = 4.5
    outlier: float = 3.0
    ttl_windows: int = 360
    top_k: int = 10
    warmup_windows: int = 6

    def engine(self) -> TrendConfig:
        """The engine's trend rule; ValueError when :meth:`problems` finds any."""
        return TrendConfig(**self._engine_fields())

    def problems(self) -> list[Problem]:
        """What :class:`~process.trends.TrendConfig` finds wrong with these values, in its
        field names (:data:`TRENDS_KEYS` has the key that sets each)."""
        return TrendConfig.problems(**self._engine_fields())

    def _engine_fields(self) -> dict[str, Any]:
        """The engine's fields, unchecked (the same units)."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EarlyConfig:
    """Early signals and trend alerts (:mod:`process.early`): provisional values of open
    windows and the alert rule (:class:`~process.early.AlertRule`) in its own units."""

    enabled: bool = True
    threshold: float = 7.5
    min_originals: int = 10
    min_elapsed_s: float = 2.0

    def engine(self) -> AlertRule:
        """The engine's alert rule; ValueError when :meth:`problems` finds any."""
        return AlertRule(**self._engine_fields())

    def problems(self) -> list[Problem]:
        """What :class:`~process.early.AlertRule` finds wrong with these values."""
        return AlertRule.problems(**self._engine_fields())

    def _engine_fields(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        del fields["enabled"]
        return fields


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
    port: int = 8000
    #: /readyz turns 503 when a worker is further behind than this many seconds of input.
    ready_max_lag_s: float = 60.0


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "out"
    #: The signal sinks, by name (sinks/registry.py): shipped ones are "parquet" (files under
    #: dir) and "kafka" (the signals topic, exactly once; only with Kafka); a sink of your
    #: own is a module on the Python path that registers its name.
    sinks: tuple[str, ...] = ("parquet", "kafka")


@dataclass(frozen=True)
class MergeConfig:
    #: Seconds between snapshots of the merger's state (0: none, and a restart applies
    #: every delta since the group began again): a restart replays at most about this
    #: much input after loading the newest snapshot.
    snapshot_interval_s: float = 60.0


@dataclass(frozen=True)
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    firehose: FirehoseSection = field(default_factory=FirehoseSection)
    window: WindowConfig = field(default_factory=WindowConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    cascades: CascadesConfig = field(default_factory=CascadesConfig)
    trends: TrendsConfig = field(default_factory=TrendsConfig)
    early: EarlyConfig = field(default_factory=EarlyConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    source: str = "defaults"

    def __post_init__(self) -> None:
        problem = _problem({name: getattr(self, name) for name in SECTIONS})
        if problem is not None:
            raise ConfigError(f"{self.source}: {problem[1]}")


def _ms(seconds: float) -> int:
    """``seconds`` in whole milliseconds, the engine's unit."""
    return round(seconds * 1000)


#: The key that sets each field of the engine's :class:`~process.windows.WindowSpec`.
WINDOW_KEYS = {
    "size_ms": "window.size_s",
    "hop_ms": "window.hop_s",
    "allowed_lateness_ms": "window.allowed_lateness_s",
}
#: The key that sets each field of the engine's :class:`~process.cascades.CascadeConfig`.
CASCADES_KEYS = {
    "top_k": "cascades.top_k",
    "ttl_ms": "cascades.ttl_s",
    "max_state_bytes": "cascades.max_state_mib",
}
#: The key that sets each field of the engine's :class:`~process.trends.TrendConfig`.
TRENDS_KEYS = {f.name: f"trends.{f.name}" for f in dataclasses.fields(TrendConfig)}
#: The key that sets each field of the engine's :class:`~process.early.AlertRule`.
EARLY_KEYS = {f.name: f"early.{f.name}" for f in dataclasses.fields(AlertRule)}
#: What a key means beyond the engine's field, said after a problem blamed on it.
KEY_NOTES = {"window.hop_s": "0: tumbling"}

#: A problem in the config's words: the keys it involves (the one at fault first) and the
#: message, which names them.
Found = tuple[tuple[str, ...], str]


def in_keys(problems: list[Problem], keys: Mapping[str, str]) -> list[Found]:
    """An engine type's problems in the config's words: each field as the key that sets it
    (``keys``), with that key's note (:data:`KEY_NOTES`) when it has one."""
    found = []
    for problem in problems:
        names = problem.names(keys)
        note = KEY_NOTES.get(names[0])
        message = problem.says(keys)
        found.append((names, f"{message} ({note})" if note else message))
    return found


def _problem(sections: Mapping[str, Any]) -> Found | None:
    """The first invalid value, in section order: the keys it involves and what is wrong,
    or None. The window and cascade rules are the engine's, said in the config's keys."""
    infinite = _infinite(sections)
    if infinite is not None:  # before any conversion to the engine's whole units
        return infinite
    window, cascades = sections["window"], sections["cascades"]
    found = [
        *_own_problems(sections),
        *in_keys(window.problems(), WINDOW_KEYS),
        *in_keys(cascades.problems(), CASCADES_KEYS),
        *in_keys(sections["trends"].problems(), TRENDS_KEYS),
        *in_keys(sections["early"].problems(), EARLY_KEYS),
    ]
    order = list(SECTIONS)
    found.sort(key=lambda f: order.index(f[0][0].partition(".")[0]))  # stable: rule order
    return found[0] if found else None


def _infinite(sections: Mapping[str, Any]) -> Found | None:
    """The first float that is infinite or NaN (``inf``, ``nan``), or None."""
    for name, section in sections.items():
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                key = f"{name}.{f.name}"
                return (key,), f"{key} must be a finite number, got {value}"
    return None


def _own_problems(sections: Mapping[str, Any]) -> list[Found]:
    """The values that break the config's own rules (those of no engine type)."""
    kafka, firehose, window = sections["kafka"], sections["firehose"], sections["window"]
    batch, http, output = sections["batch"], sections["http"], sections["output"]
    checks: list[tuple[tuple[str, ...], bool, str]] = [
        (("kafka.partitions",), kafka.partitions >= 1, "must be at least 1"),
        (("kafka.max_poll_interval_s",), kafka.max_poll_interval_s >= 1, "must be >= 1"),
        (
            ("kafka.replication_factor",),
            kafka.replication_factor >= 0,
            "must be >= 0 (0: automatic, 3 on 3+ brokers)",
        ),
        (("firehose.rate",), firehose.rate > 0, "must be a positive number of posts/s"),
        (("firehose.day_in_s",), firehose.day_in_s >= 0, "must be >= 0 (0: a real day)"),
        (("window.idle_timeout_s",), window.idle_timeout_s > 0, "must be positive"),
        (("batch.max_records",), batch.max_records >= 1, "must be at least 1"),
        (("batch.max_wait_ms",), batch.max_wait_ms >= 0, "must be >= 0"),
        (("batch.max_record_bytes",), batch.max_record_bytes >= 64, "must be >= 64"),
        (("batch.max_future_s",), batch.max_future_s >= 0, "must be >= 0 (0: no check)"),
        (("http.port",), 0 <= http.port <= 65535, "must be 0-65535"),
        (("http.ready_max_lag_s",), http.ready_max_lag_s > 0, "must be a positive number of s"),
        (("output.sinks",), bool(output.sinks), "must name at least one sink (e.g. parquet)"),
        (
            ("merge.snapshot_interval_s",),
            sections["merge"].snapshot_interval_s >= 0,
            "must be >= 0 (0: no snapshots)",
        ),
    ]
    return [(keys, f"{keys[0]} {message}") for keys, ok, message in checks if not ok]


def _coerce(value: Any, kind: type, where: str) -> Any:
    if kind is bool:
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
            return value.lower() in ("1", "true", "yes")
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str and isinstance(value, str):
        return value
    elif get_origin(kind) is tuple:
        items = value.split(",") if isinstance(value, str) else value
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return tuple(i.strip() for i in items if i.strip())
        raise ConfigError(
            f"{where} must be a list of names (a comma-separated string in the environment), "
            f"got {value!r}"
        )
    raise ConfigError(f"{where} must be a {kind.__name__}, got {value!r}")


#: Keys that are gone, with what to do instead (a config that sets one gets this line).
REMOVED = {
    "kafka.partials_topic": "internal topics are named after the worker group now "
    "(<group>.partials, so pipelines sharing a cluster stay apart): drop the key, or set "
    'kafka.internal_prefix to name them (internal_prefix = "posts" keeps posts.partials)',
}


def _removed(key: str, where: str) -> None:
    if key in REMOVED:
        raise ConfigError(f"{where}: {key} was removed: {REMOVED[key]}")


#: A config file's tables, with the file's name (what its errors say).
Layer = tuple[str, dict[str, Any]]


def _section(
    cls: type, layers: list[Layer], env: Mapping[str, str], name: str
) -> tuple[Any, dict[str, str]]:
    """Section ``name`` from the files (``layers``, the last wins) and the environment,
    and the file that set each key the environment does not."""
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    raw: dict[str, tuple[str, Any]] = {}
    for origin, tables in layers:
        table = tables.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        for key in sorted(table):
            _removed(f"{name}.{key}", origin)
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigError(
                f"{origin}: unknown key {name}.{unknown[0]} (known: {', '.join(sorted(known))})"
            )
        raw.update((key, (origin, value)) for key, value in table.items())
    values: dict[str, Any] = {}
    set_by: dict[str, str] = {}
    for key in known:
        variable = env_variable(name, key)
        if variable in env:
            values[key] = _coerce(env[variable], hints[key], f"environment {variable}")
        elif key in raw:
            origin, value = raw[key]
            values[key] = _coerce(value, hints[key], f"{origin}: {name}.{key}")
            set_by[f"{name}.{key}"] = origin
    return cls(**values), set_by


SECTIONS: dict[str, type] = {
    "kafka": KafkaConfig,
    "firehose": FirehoseSection,
    "window": WindowConfig,
    "batch": BatchConfig,
    "cascades": CascadesConfig,
    "trends": TrendsConfig,
    "early": EarlyConfig,
    "http": HttpConfig,
    "output": OutputConfig,
    "merge": MergeConfig,
}

#: ``DATAMOAT_*`` variables read elsewhere than the config (the others: ``_check_variables``).
OTHER_VARIABLES = frozenset(
    {"DATAMOAT_CONFIG", "DATAMOAT_PROFILE", "DATAMOAT_HOME", "DATAMOAT_CRASH_AT"}
)

log = logging.getLogger(__name__)

#: What Kubernetes puts in every pod's environment for each Service of its namespace (with
#: ``enableServiceLinks``, the default), for a Service named ``datamoat`` or ``datamoat-*``
#: (upper-cased, ``-`` as ``_``): ``DATAMOAT_SERVICE_HOST`` (its cluster IP),
#: ``DATAMOAT_SERVICE_PORT`` and ``DATAMOAT_SERVICE_PORT_<PORT NAME>`` (port numbers), and
#: Docker's link variables ``DATAMOAT_PORT``, ``DATAMOAT_PORT_8000_TCP`` (``tcp://IP:8000``)
#: and ``DATAMOAT_PORT_8000_TCP_PROTO``, ``_PORT`` and ``_ADDR`` (also UDP and SCTP). Matched
#: on ``NAME=value``: a variable of that name with another kind of value is not one of them.
_IP = r"[0-9A-Fa-f.:]+"  # the Service's cluster IP, v4 or v6
_PORT = r"\d{1,5}"
_URL = rf"(?:tcp|udp|sctp)://(?:[0-9.]+|\[[0-9A-Fa-f:.]+\]):{_PORT}"
SERVICE_LINK = re.compile(
    r"DATAMOAT(?:_[A-Z0-9]+)*"  # the Service: datamoat, datamoat-merger, ...
    rf"(?:_SERVICE_HOST={_IP}"
    rf"|_SERVICE_PORT(?:_[A-Z0-9_]*[A-Z][A-Z0-9_]*)?={_PORT}"  # a port's name has a letter
    rf"|_PORT={_URL}"
    rf"|_PORT_{_PORT}_(?:TCP|UDP|SCTP)"
    rf"(?:={_URL}|_PROTO=(?:tcp|udp|sctp)|_PORT={_PORT}|_ADDR={_IP}))"
)


def env_variable(section: str, key: str) -> str:
    """The environment variable that overrides ``section.key``."""
    return f"DATAMOAT_{section}_{key}".upper()


def known_variables() -> dict[str, str]:
    """Every ``DATAMOAT_*`` variable datamoat reads, with the config key it sets (or "")."""
    known = {
        env_variable(name, f.name): f"{name}.{f.name}"
        for name, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
    }
    return known | dict.fromkeys(OTHER_VARIABLES, "")


def is_service_link(variable: str, value: str) -> bool:
    """Whether ``variable=value`` is what Kubernetes injects for a Service named
    ``datamoat`` or ``datamoat-*`` (:data:`SERVICE_LINK`)."""
    return SERVICE_LINK.fullmatch(f"{variable}={value}") is not None


def misspelt(variable: str, known: Iterable[str]) -> list[str]:
    """The known variables nearest to ``variable`` if it is one of them misspelt: within
    one edit (an inserted, deleted, replaced or swapped character) of a name of up to 7
    characters after ``DATAMOAT_``, two of a longer one."""
    stem = variable.removeprefix("DATAMOAT_")
    near: dict[str, int] = {}
    for name in known:
        other = name.removeprefix("DATAMOAT_")
        allowed = 1 if len(other) <= 7 else 2
        distance = _edits(stem, other, allowed)
        if distance <= allowed:
            near[name] = distance
    best = min(near.values(), default=0)
    return sorted(name for name, distance in near.items() if distance == best)


def _edits(a: str, b: str, most: int) -> int:
    """Optimal string alignment distance of ``a`` and ``b`` (``most + 1`` once above
    ``most``)."""
    if abs(len(a) - len(b)) > most:
        return most + 1
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        before, row = row, current
        if min(row) > most:
            return most + 1
    return row[-1]


def _check_variables(env: Mapping[str, str]) -> dict[str, str]:
    """Config key -> the variable that set it. A ``DATAMOAT_*`` variable datamoat does not
    read is an error when it is a known one misspelt, nothing when it is a Kubernetes service
    link, and one warning line otherwise."""
    known = known_variables()
    for variable in sorted(env):
        for key in REMOVED:
            if variable == env_variable(*key.split(".")):
                _removed(key, f"environment {variable}")
        if not variable.startswith("DATAMOAT_") or variable in known:
            continue
        if is_service_link(variable, env[variable]):
            continue
        near = misspelt(variable, known)
        if near:
            raise ConfigError(
                f"unknown environment variable {variable}: did you mean {' or '.join(near)}? "
                "(overrides are DATAMOAT_<SECTION>_<KEY>)"
            )
        log.warning(
            "environment variable %s is not one datamoat reads: ignored (overrides are "
            "DATAMOAT_<SECTION>_<KEY>; see configs/datamoat.toml for the keys)",
            variable,
        )
    return {key: variable for variable, key in known.items() if key and variable in env}


def _without_service_links(env: Mapping[str, str]) -> Mapping[str, str]:
    """``env`` less the known variables whose value is a Kubernetes service link: a Service
    named ``datamoat-http`` gives every pod ``DATAMOAT_HTTP_PORT=tcp://IP:PORT``, which is
    Kubernetes', never a port of ours (one warning line each)."""
    known = known_variables()
    links = [v for v in sorted(env) if v in known and is_service_link(v, env[v])]
    for variable in links:
        log.warning(
            "environment %s=%s is a Kubernetes service link (a Service of that name), not a "
            "setting: ignored (rename the Service, or set enableServiceLinks: false)",
            variable, env[variable],
        )  # fmt: skip
    return {k: v for k, v in env.items() if k not in links} if links else env


def load_config(
    path: Path | None = None, env: Mapping[str, str] | None = None, profile: str | None = None
) -> Config:
    """Load and validate the config; ``path=None`` means the default file. ``profile``
    (else ``$DATAMOAT_PROFILE``; empty: none) lays a shipped profile over the default file,
    or under the file of ``path`` or ``$DATAMOAT_CONFIG``; the environment overrides both."""
    env = _without_service_links(os.environ if env is None else env)
    from_env = _check_variables(env)
    given = path is not None or bool(os.environ.get("DATAMOAT_CONFIG"))
    path = path or default_config_path()
    layers: list[Layer] = [] if path is None else [(str(path), _read_toml(path))]
    overlay = _profile_layer(profile, env)
    if overlay is not None:
        layers.insert(0 if given else len(layers), overlay)
    for origin, raw in layers:
        unknown = sorted(set(raw) - set(SECTIONS))
        if unknown:
            raise ConfigError(
                f"{origin}: unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})"
            )
    sections: dict[str, Any] = {}
    set_by: dict[str, str] = {}
    for name, cls in SECTIONS.items():
        sections[name], found = _section(cls, layers, env, name)
        set_by.update(found)
    if "KAFKA_BOOTSTRAP" in env and "DATAMOAT_KAFKA_BOOTSTRAP" not in env:
        sections["kafka"] = dataclasses.replace(sections["kafka"], bootstrap=env["KAFKA_BOOTSTRAP"])
    top = layers[-1][0] if layers else "built-in defaults"
    problem = _problem(sections)
    if problem is not None:
        keys, message = problem
        blamed = [f"{from_env[key]}={env[from_env[key]]}" for key in keys if key in from_env]
        files = [set_by[key] for key in keys if key in set_by]
        where = f"environment {', '.join(blamed)}" if blamed else (files or [top])[0]
        raise ConfigError(f"{where}: {message}")
    return Config(**sections, source=" + ".join(o for o, _ in layers) or top)


#: Where the shipped profiles are, under ``configs/``: ``NAME.toml`` each.
PROFILES = "profiles"


def profile_names() -> list[str]:
    """The shipped profiles' names (``configs/profiles/*.toml``), sorted."""
    folder = config_path(PROFILES)
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def profile_path(name: str, where: str = "--profile") -> Path:
    """The file of profile ``name``; a one-line ConfigError naming the known ones (and
    ``where`` the name came from) when there is none."""
    known = profile_names()
    if name not in known:
        raise ConfigError(
            f"{where}: unknown profile {name!r} (known: {', '.join(known) or 'none shipped'})"
        )
    return config_path(PROFILES) / f"{name}.toml"


def _profile_layer(profile: str | None, env: Mapping[str, str]) -> Layer | None:
    """The profile's file and tables: ``profile``, else ``$DATAMOAT_PROFILE``; None when
    neither names one."""
    if profile:
        path = profile_path(profile)
    elif env.get("DATAMOAT_PROFILE"):
        name = env["DATAMOAT_PROFILE"]
        path = profile_path(name, f"environment DATAMOAT_PROFILE={name}")
    else:
        return None
    return str(path), _read_toml(path)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} not found: pass --config with an existing file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} can't be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc}); fix the file or pass --config") from None
