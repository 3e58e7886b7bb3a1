"""Configuration: ``configs/datamoat.toml`` (or ``--config FILE``), then the environment.

One frozen object per component. Environment overrides are ``DATAMOAT_<SECTION>_<KEY>``
(``DATAMOAT_WINDOW_SIZE_S=5``); ``KAFKA_BOOTSTRAP`` sets ``kafka.bootstrap``. Every error is
a :class:`~datamoat.errors.ConfigError` whose message names the file, the key and the fix.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from datamoat.errors import ConfigError

__all__ = [
    "BatchConfig",
    "CascadesConfig",
    "Config",
    "FirehoseSection",
    "KafkaConfig",
    "WindowConfig",
    "default_config_path",
    "load_config",
]

REPO_ROOT = Path(__file__).resolve().parents[1]


def default_config_path() -> Path | None:
    """``$DATAMOAT_CONFIG``, else ``configs/datamoat.toml`` in the working directory or the
    source tree; None when there is none (an installed copy then runs on the defaults)."""
    given = os.environ.get("DATAMOAT_CONFIG")
    if given:
        return Path(given)
    for candidate in (Path("configs/datamoat.toml"), REPO_ROOT / "configs" / "datamoat.toml"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap: str = "127.0.0.1:9092"
    posts_topic: str = "posts"
    dlq_topic: str = "posts.dlq"
    signals_topic: str = "signals"
    partials_topic: str = "posts.partials"
    partitions: int = 6
    #: The least replication factor of new topics; they get at least min(3, brokers) (0: that).
    replication_factor: int = 1
    group: str = "datamoat"


@dataclass(frozen=True)
class FirehoseSection:
    rate: float = 1157.0
    seed: int = 1


@dataclass(frozen=True)
class WindowConfig:
    size_s: float = 10.0
    hop_s: float = 0.0
    allowed_lateness_s: float = 5.0
    idle_timeout_s: float = 30.0


@dataclass(frozen=True)
class BatchConfig:
    max_records: int = 20_000
    max_wait_ms: int = 250
    max_record_bytes: int = 65_536
    max_future_s: float = 86_400.0


@dataclass(frozen=True)
class CascadesConfig:
    top_k: int = 5
    ttl_s: float = 86_400.0
    max_state_mib: float = 256.0


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"  # 0.0.0.0 in a container, so Prometheus can scrape it
    port: int = 8000


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "out"


@dataclass(frozen=True)
class Config:
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    firehose: FirehoseSection = field(default_factory=FirehoseSection)
    window: WindowConfig = field(default_factory=WindowConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    cascades: CascadesConfig = field(default_factory=CascadesConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    source: str = "defaults"

    def __post_init__(self) -> None:
        checks = [
            (self.kafka.partitions >= 1, "kafka.partitions must be at least 1"),
            (
                self.kafka.replication_factor >= 0,
                "kafka.replication_factor must be >= 0 (0: automatic, 3 on 3+ brokers)",
            ),
            (self.firehose.rate > 0, "firehose.rate must be a positive number of posts/s"),
            (self.window.size_s > 0, "window.size_s must be positive"),
            (self.window.hop_s >= 0, "window.hop_s must be 0 (tumbling) or positive"),
            (self.window.allowed_lateness_s >= 0, "window.allowed_lateness_s must be >= 0"),
            (self.window.idle_timeout_s > 0, "window.idle_timeout_s must be positive"),
            (self.batch.max_records >= 1, "batch.max_records must be at least 1"),
            (self.batch.max_wait_ms >= 0, "batch.max_wait_ms must be >= 0"),
            (self.batch.max_record_bytes >= 64, "batch.max_record_bytes must be >= 64"),
            (self.batch.max_future_s >= 0, "batch.max_future_s must be >= 0 (0: no check)"),
            (self.cascades.top_k >= 0, "cascades.top_k must be >= 0"),
            (self.cascades.ttl_s >= 0, "cascades.ttl_s must be >= 0"),
            (self.cascades.max_state_mib >= 0, "cascades.max_state_mib must be >= 0 (0: none)"),
            (0 <= self.http.port <= 65535, "http.port must be 0-65535"),
        ]
        hop = self.window.hop_s or self.window.size_s
        checks.append(
            (
                round(self.window.size_s * 1000) % round(hop * 1000) == 0,
                "window.size_s must be a whole multiple of window.hop_s",
            )
        )
        for ok, message in checks:
            if not ok:
                raise ConfigError(f"{self.source}: {message}")


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
    raise ConfigError(f"{where} must be a {kind.__name__}, got {value!r}")


def _section(cls: type, raw: Any, env: Mapping[str, str], name: str, origin: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: [{name}] must be a table")
    hints = get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{origin}: unknown key {name}.{unknown[0]} (known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for key in known:
        env_name = f"DATAMOAT_{name}_{key}".upper()
        if env_name in env:
            values[key] = _coerce(env[env_name], hints[key], f"environment {env_name}")
        elif key in raw:
            values[key] = _coerce(raw[key], hints[key], f"{origin}: {name}.{key}")
    return cls(**values)


SECTIONS: dict[str, type] = {
    "kafka": KafkaConfig,
    "firehose": FirehoseSection,
    "window": WindowConfig,
    "batch": BatchConfig,
    "cascades": CascadesConfig,
    "http": HttpConfig,
    "output": OutputConfig,
}


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config; ``path=None`` means the default file."""
    env = os.environ if env is None else env
    path = path or default_config_path()
    if path is None:
        origin, raw = "built-in defaults", {}
    else:
        origin, raw = str(path), _read_toml(path)
    unknown = sorted(set(raw) - set(SECTIONS))
    if unknown:
        raise ConfigError(
            f"{origin}: unknown section [{unknown[0]}] (known: {', '.join(SECTIONS)})"
        )
    sections = {
        name: _section(cls, raw.get(name, {}), env, name, origin) for name, cls in SECTIONS.items()
    }
    if "KAFKA_BOOTSTRAP" in env and "DATAMOAT_KAFKA_BOOTSTRAP" not in env:
        sections["kafka"] = dataclasses.replace(sections["kafka"], bootstrap=env["KAFKA_BOOTSTRAP"])
    return Config(**sections, source=origin)


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
