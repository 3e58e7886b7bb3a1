from __future__ import annotations

from pathlib import Path

import pytest

from datamoat.config import Config, known_variables, load_config
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


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"DATAMOAT_BATCH_MAX_RECORDS": "-1"}, "environment DATAMOAT_BATCH_MAX_RECORDS=-1: batch"),
        ({"DATAMOAT_WINDOW_HOP_S": "3"}, "environment DATAMOAT_WINDOW_HOP_S=3: window.size_s"),
        ({"DATAMOAT_HTTP_PORT": "70000"}, "environment DATAMOAT_HTTP_PORT=70000: http.port"),
    ],
)
def test_a_bad_value_from_the_environment_names_the_variable(
    tmp_path: Path, env: dict[str, str], fragment: str
) -> None:
    path = write(tmp_path, "[batch]\nmax_records = 100\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    assert fragment in str(info.value)
    assert str(path) not in str(info.value)


def test_a_bad_value_from_the_file_still_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[batch]\nmax_records = -1\n")
    with pytest.raises(ConfigError, match=r"batch\.max_records must be at least 1") as info:
        load_config(path, env={"DATAMOAT_WINDOW_SIZE_S": "20"})
    assert str(info.value).startswith(f"{path}: ")


def test_unknown_datamoat_variables_are_errors_naming_the_nearest_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"DATAMOAT_WINDOW_SIZ_S": "5"})
    message = str(info.value)
    assert "unknown environment variable DATAMOAT_WINDOW_SIZ_S" in message
    assert "did you mean DATAMOAT_WINDOW_SIZE_S" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="unknown environment variable DATAMOAT_NOPE"):
        load_config(env={"DATAMOAT_NOPE": "1"})
    # Variables read elsewhere, and other prefixes, are fine.
    env = {"DATAMOAT_HOME": "/x", "DATAMOAT_CRASH_AT": "", "DATAMOATX": "1", "PATH": "/bin"}
    assert load_config(env=env).kafka.posts_topic == "posts"


def test_every_config_key_has_its_variable() -> None:
    known = known_variables()
    assert known["DATAMOAT_KAFKA_BOOTSTRAP"] == "kafka.bootstrap"
    assert known["DATAMOAT_CASCADES_MAX_STATE_MIB"] == "cascades.max_state_mib"
    assert known["DATAMOAT_CONFIG"] == ""


def test_internal_topics_are_named_after_the_group_or_the_prefix() -> None:
    kafka = load_config(env={}).kafka
    assert kafka.partials_topic("tenant-a") == "tenant-a.partials"
    assert kafka.partials_topic("tenant-b") == "tenant-b.partials"
    prefixed = load_config(env={"DATAMOAT_KAFKA_INTERNAL_PREFIX": "posts"}).kafka
    assert prefixed.partials_topic("tenant-a") == "posts.partials"  # the old shared name


@pytest.mark.parametrize("where", ["file", "environment"])
def test_the_removed_partials_topic_key_says_what_to_do(tmp_path: Path, where: str) -> None:
    if where == "file":
        path, env = write(tmp_path, '[kafka]\npartials_topic = "posts.partials"\n'), {}
    else:
        path, env = None, {"DATAMOAT_KAFKA_PARTIALS_TOPIC": "posts.partials"}
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=env)
    message = str(caught.value)
    assert "\n" not in message
    assert "kafka.partials_topic was removed" in message
    assert "kafka.internal_prefix" in message and "<group>.partials" in message
    if where == "environment":
        assert message.startswith("environment DATAMOAT_KAFKA_PARTIALS_TOPIC")


def test_flags_are_folded_into_the_one_frozen_config_at_the_edge(tmp_path: Path) -> None:
    import argparse

    from datamoat.options import config_from
    from datamoat.pipeline import firehose_config

    args = argparse.Namespace(
        config=None, bootstrap="h:9", rate=250.0, seed=9, diurnal=False, day_in=60.0,
        output_dir=tmp_path / "o",
    )  # fmt: skip
    config = config_from(args)
    assert config.kafka.bootstrap == "h:9" and config.output.dir == str(tmp_path / "o")
    f = config.firehose
    assert (f.rate, f.seed, f.diurnal, f.day_in_s) == (250.0, 9, True, 60.0)
    assert firehose_config(config).day_in_s == 60.0
    plain = config_from(argparse.Namespace(config=None, rate=None, seed=None))
    assert plain.firehose == load_config().firehose  # no flag: the file and environment
