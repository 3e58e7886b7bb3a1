from __future__ import annotations

from pathlib import Path

import pytest

from datamoat.config import Config, load_config
from datamoat.errors import ConfigError
from datamoat.pipeline import cascade_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_the_shipped_config_loads_with_its_documented_defaults() -> None:
    config = load_config(env={})
    assert config.kafka.posts_topic == "posts"
    assert config.kafka.partitions == 6
    assert config.firehose.rate == 1157.0
    assert config.window.size_s == 10.0
    assert config.cascades.max_state_mib == 256.0


def test_the_cascade_section_reaches_the_engine() -> None:
    config = load_config(
        env={"DATAMOAT_CASCADES_MAX_STATE_MIB": "1", "DATAMOAT_CASCADES_TTL_S": "60"}
    )
    cascades = cascade_config(config)
    assert (cascades.max_state_bytes, cascades.ttl_ms, cascades.top_k) == (2**20, 60_000, 5)


def test_environment_overrides_file_and_kafka_bootstrap_is_honoured(tmp_path: Path) -> None:
    path = write(tmp_path, "[window]\nsize_s = 20\n")
    config = load_config(path, env={"DATAMOAT_WINDOW_SIZE_S": "30", "KAFKA_BOOTSTRAP": "h:1"})
    assert config.window.size_s == 30.0
    assert config.kafka.bootstrap == "h:1"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[window\nsize_s = 1", "invalid TOML"),
        ("[windows]\nsize_s = 1", "unknown section [windows]"),
        ("[window]\nsize = 1", "unknown key window.size"),
        ('[window]\nsize_s = "ten"', "window.size_s must be a float"),
        ("[window]\nsize_s = -1", "window.size_s must be positive"),
        ("[window]\nsize_s = 10\nhop_s = 3", "whole multiple"),
        ("[kafka]\npartitions = 0", "kafka.partitions must be at least 1"),
        ("[cascades]\nmax_state_mib = -1", "cascades.max_state_mib must be >= 0"),
    ],
)
def test_bad_config_gives_one_line_naming_file_and_key(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert str(path) in message


def test_missing_file_and_bad_env_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="DATAMOAT_BATCH_MAX_RECORDS must be a int"):
        load_config(env={"DATAMOAT_BATCH_MAX_RECORDS": "many"})


def test_config_is_frozen() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.kafka = config.kafka  # type: ignore[misc]
