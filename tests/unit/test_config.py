from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from datamoat.config import (
    CASCADES_KEYS,
    WINDOW_KEYS,
    CascadesConfig,
    Config,
    WindowConfig,
    env_variable,
    is_service_link,
    known_variables,
    load_config,
    misspelt,
)
from datamoat.errors import ConfigError
from process.cascades import CascadeConfig
from process.problems import Problem
from process.windows import WindowSpec


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
    cascades = config.cascades.engine()
    assert (cascades.max_state_bytes, cascades.ttl_ms, cascades.top_k) == (2**20, 60_000, 5)


def test_the_window_section_reaches_the_engine() -> None:
    assert WindowConfig(size_s=10, hop_s=0, allowed_lateness_s=2.5).spec() == WindowSpec(
        size_ms=10_000, hop_ms=10_000, allowed_lateness_ms=2_500
    )  # hop 0: tumbling
    assert WindowConfig(size_s=10, hop_s=2).spec().hop_ms == 2_000
    assert WindowConfig(idle_timeout_s=1.5).idle_timeout_ms == 1_500


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


def test_a_misspelt_datamoat_variable_is_an_error_naming_the_known_one() -> None:
    for typo in ("DATAMOAT_WINDOW_SIZ_S", "DATAMOAT_WINDOW_SIZE_Z", "DATAMOAT_WINDOW_SZIE_S"):
        with pytest.raises(ConfigError) as info:
            load_config(env={typo: "5"})
        message = str(info.value)
        assert f"unknown environment variable {typo}" in message
        assert "did you mean DATAMOAT_WINDOW_SIZE_S?" in message
        assert "\n" not in message
    with pytest.raises(ConfigError, match="did you mean DATAMOAT_HOME"):
        load_config(env={"DATAMOAT_HOMR": "/x"})
    # Variables read elsewhere, and other prefixes, are fine.
    env = {"DATAMOAT_HOME": "/x", "DATAMOAT_CRASH_AT": "", "DATAMOATX": "1", "PATH": "/bin"}
    assert load_config(env=env).kafka.posts_topic == "posts"


def test_misspelt_allows_one_edit_in_a_short_name_and_two_in_a_longer_one() -> None:
    known = known_variables()
    assert misspelt("DATAMOAT_KAFKA_BOOTSRAP", known) == ["DATAMOAT_KAFKA_BOOTSTRAP"]
    assert misspelt("DATAMOAT_KAFKA_BOTSRAP", known) == ["DATAMOAT_KAFKA_BOOTSTRAP"]  # two
    assert misspelt("DATAMOAT_KAFKA_BTSRAP", known) == []  # three
    assert misspelt("DATAMOAT_HOEM", known) == ["DATAMOAT_HOME"]  # a swap is one edit
    assert misspelt("DATAMOAT_NOPE", known) == []  # two edits from HOME: too many for 4
    assert misspelt("DATAMOAT_SERVICE_HOST", known) == []


@pytest.fixture
def warnings(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="datamoat.config")
    return caplog


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "datamoat.config"]


def test_an_unknown_datamoat_variable_is_one_warning_line(
    warnings: pytest.LogCaptureFixture,
) -> None:
    env = {"DATAMOAT_NOPE": "1", "DATAMOAT_LOG_LEVEL": "debug", "DATAMOAT_HOME": "/x"}
    assert load_config(env=env).kafka.posts_topic == "posts"
    said = lines(warnings)
    assert len(said) == 2  # one per variable, in name order
    assert said[0].startswith("environment variable DATAMOAT_LOG_LEVEL is not one datamoat")
    assert said[1].startswith("environment variable DATAMOAT_NOPE is not one datamoat reads")
    assert all("ignored" in line and "\n" not in line for line in said)


#: What Kubernetes injects for a Service "datamoat" (ports 8000/TCP "http", 9000/UDP
#: "stats-1") and a Service "datamoat-merger" (IPv6, port 8001/SCTP).
SERVICE_LINKS = {
    "DATAMOAT_SERVICE_HOST": "10.0.0.1",
    "DATAMOAT_SERVICE_PORT": "8000",
    "DATAMOAT_SERVICE_PORT_HTTP": "8000",
    "DATAMOAT_SERVICE_PORT_STATS_1": "9000",
    "DATAMOAT_PORT": "tcp://10.0.0.1:8000",
    "DATAMOAT_PORT_8000_TCP": "tcp://10.0.0.1:8000",
    "DATAMOAT_PORT_8000_TCP_PROTO": "tcp",
    "DATAMOAT_PORT_8000_TCP_PORT": "8000",
    "DATAMOAT_PORT_8000_TCP_ADDR": "10.0.0.1",
    "DATAMOAT_PORT_9000_UDP": "udp://10.0.0.1:9000",
    "DATAMOAT_PORT_9000_UDP_PROTO": "udp",
    "DATAMOAT_PORT_9000_UDP_PORT": "9000",
    "DATAMOAT_PORT_9000_UDP_ADDR": "10.0.0.1",
    "DATAMOAT_MERGER_SERVICE_HOST": "fd00::10",
    "DATAMOAT_MERGER_SERVICE_PORT": "8001",
    "DATAMOAT_MERGER_PORT": "sctp://[fd00::10]:8001",
    "DATAMOAT_MERGER_PORT_8001_SCTP": "sctp://[fd00::10]:8001",
    "DATAMOAT_MERGER_PORT_8001_SCTP_PROTO": "sctp",
    "DATAMOAT_MERGER_PORT_8001_SCTP_PORT": "8001",
    "DATAMOAT_MERGER_PORT_8001_SCTP_ADDR": "fd00::10",
}


def test_kubernetes_service_links_are_ignored_silently(
    warnings: pytest.LogCaptureFixture,
) -> None:
    assert all(is_service_link(name, value) for name, value in SERVICE_LINKS.items())
    config = load_config(env={**SERVICE_LINKS, "DATAMOAT_WINDOW_SIZE_S": "20"})
    assert config.window.size_s == 20
    assert lines(warnings) == []


def test_a_service_link_over_a_setting_is_ignored_with_a_warning(
    warnings: pytest.LogCaptureFixture,
) -> None:
    links = {  # a Service named datamoat-http
        "DATAMOAT_HTTP_PORT": "tcp://10.0.0.7:8000",
        "DATAMOAT_HTTP_SERVICE_HOST": "10.0.0.7",
        "DATAMOAT_HTTP_PORT_8000_TCP": "tcp://10.0.0.7:8000",
    }
    config = load_config(env=links)
    assert config.http.port == 8000  # the default, not the link
    (line,) = lines(warnings)
    assert "DATAMOAT_HTTP_PORT=tcp://10.0.0.7:8000 is a Kubernetes service link" in line
    assert load_config(env={"DATAMOAT_HTTP_PORT": "9001"}).http.port == 9001


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATAMOAT_SERVICE_HOST", "db.example"),  # a host name, not a cluster IP
        ("DATAMOAT_SERVICE_PORT", "http"),
        ("DATAMOAT_SERVICE_PORT_8080", "8080"),  # a port name has a letter
        ("DATAMOAT_PORT", "8000"),  # Docker's link variable is a URL
        ("DATAMOAT_PORT_8000", "tcp://10.0.0.1:8000"),  # no protocol
        ("DATAMOAT_PORT_8000_HTTP", "tcp://10.0.0.1:8000"),
        ("DATAMOAT_PORT_8000_TCP_PROTO", "http"),
        ("DATAMOAT_PORT_8000_TCP_HOST", "10.0.0.1"),
        ("DATAMOAT_SERVICE_HOSTS", "10.0.0.1"),
        ("DATAMOATX_SERVICE_HOST", "10.0.0.1"),
    ],
)
def test_only_the_exact_service_link_shapes_are_ignored(
    warnings: pytest.LogCaptureFixture, name: str, value: str
) -> None:
    assert not is_service_link(name, value)
    load_config(env={name: value})
    assert len(lines(warnings)) == (1 if name.startswith("DATAMOAT_") else 0)


def test_a_misspelling_wins_over_a_warning_but_not_over_a_service_link() -> None:
    with pytest.raises(ConfigError, match="did you mean DATAMOAT_HTTP_PORT"):
        load_config(env={"DATAMOAT_HTTP_PROT": "8000"})
    # a Service named datamoat-http: its link is ignored, however near DATAMOAT_HTTP_PORT
    assert load_config(env={"DATAMOAT_HTTP_PORT_8000_TCP_PROTO": "tcp"}).http.port > 0


@pytest.fixture
def _restore_signal_handlers() -> Iterator[None]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in handlers.items():
        signal.signal(s, h)


@pytest.mark.usefixtures("_restore_signal_handlers")
def test_a_run_in_a_kubernetes_pod_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datamoat.cli import main

    for name, value in SERVICE_LINKS.items():
        monkeypatch.setenv(name, value)
    code = main(["run", "--transport", "memory", "--posts", "1000", "--unpaced", "--quiet",
                 "--http-port", "0", "--output-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "DATAMOAT_SERVICE" not in err and "DATAMOAT_PORT" not in err


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


# --- the window and cascade rules: the engine's, said in the config's keys ----------------

#: (section, key, value) -> the message: every window and cascade rule, through the config.
RULES = [
    ("window", "size_s", "-1", "window.size_s must be positive"),
    ("window", "size_s", "0", "window.size_s must be positive"),
    ("window", "hop_s", "-1", "window.hop_s must be positive (0: tumbling)"),
    ("window", "hop_s", "3", "window.size_s must be a whole multiple of window.hop_s"),
    ("window", "allowed_lateness_s", "-1", "window.allowed_lateness_s must be >= 0"),
    ("window", "idle_timeout_s", "0", "window.idle_timeout_s must be positive"),
    ("cascades", "top_k", "-1", "cascades.top_k must be >= 0"),
    ("cascades", "ttl_s", "-1", "cascades.ttl_s must be >= 0"),
    ("cascades", "max_state_mib", "-1", "cascades.max_state_mib must be >= 0 (0: none)"),
    ("window", "size_s", "nan", "window.size_s must be a finite number, got nan"),
    ("cascades", "ttl_s", "inf", "cascades.ttl_s must be a finite number, got inf"),
]


@pytest.mark.parametrize(("section", "key", "value", "message"), RULES)
def test_every_window_and_cascade_rule_is_one_line_naming_the_file_and_key(
    tmp_path: Path, section: str, key: str, value: str, message: str
) -> None:
    path = write(tmp_path, f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: {message}"


@pytest.mark.parametrize(("section", "key", "value", "message"), RULES)
def test_every_window_and_cascade_rule_names_the_variable(
    section: str, key: str, value: str, message: str
) -> None:
    variable = env_variable(section, key)
    with pytest.raises(ConfigError) as info:
        load_config(env={variable: value})
    assert str(info.value) == f"environment {variable}={value}: {message}"


def test_a_config_built_in_code_is_checked_the_same_way() -> None:
    with pytest.raises(ConfigError, match=r"^defaults: window\.hop_s must be positive"):
        Config(window=WindowConfig(hop_s=-1))
    with pytest.raises(ConfigError, match=r"^defaults: cascades\.top_k must be >= 0$"):
        Config(cascades=CascadesConfig(top_k=-1))


def test_the_engine_keys_are_config_keys_for_every_engine_field() -> None:
    assert set(WINDOW_KEYS) == set(WindowSpec.__dataclass_fields__)
    assert set(CASCADES_KEYS) == set(CascadeConfig.__dataclass_fields__)
    keys = set(known_variables().values())
    assert {*WINDOW_KEYS.values(), *CASCADES_KEYS.values()} <= keys


def test_the_config_says_the_engines_own_problems(tmp_path: Path) -> None:
    """The message of a window rule is the engine's problem in the config's keys: the
    config does not restate the rule."""
    path = write(tmp_path, "[window]\nsize_s = 10\nhop_s = 3\n")
    (problem,) = WindowSpec.problems(size_ms=10_000, hop_ms=3_000, allowed_lateness_ms=0)
    assert problem.fields == ("size_ms", "hop_ms")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: {problem.says(WINDOW_KEYS)}"
    with pytest.raises(ValueError, match="size_ms must be a whole multiple of hop_ms"):
        WindowConfig(size_s=10, hop_s=3).spec()  # the same rule, in the engine's names


def test_a_changed_engine_rule_reaches_the_config_unrestated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Give the engine a rule the config has never heard of: the config reports it, in its
    own keys and blaming the variables that set them."""

    def odd_windows(size_ms: int, hop_ms: int, allowed_lateness_ms: int) -> list[Problem]:
        late = Problem(("allowed_lateness_ms", "size_ms"), "must be <= {size_ms}")
        return [late] if allowed_lateness_ms > size_ms else []

    def odd_cascades(top_k: int, ttl_ms: int, max_state_bytes: int) -> list[Problem]:
        return [Problem(("top_k",), "must be even")] if top_k % 2 else []

    monkeypatch.setattr(WindowSpec, "problems", staticmethod(odd_windows))
    monkeypatch.setattr(CascadeConfig, "problems", staticmethod(odd_cascades))
    path = write(tmp_path, "[window]\nsize_s = 10\nallowed_lateness_s = 11\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: window.allowed_lateness_s must be <= window.size_s"
    with pytest.raises(ConfigError) as info:
        load_config(env={"DATAMOAT_WINDOW_SIZE_S": "4"})  # the default lateness is 5 s
    message = "window.allowed_lateness_s must be <= window.size_s"
    assert str(info.value) == f"environment DATAMOAT_WINDOW_SIZE_S=4: {message}"
    with pytest.raises(ConfigError, match=r": cascades\.top_k must be even$"):
        load_config(env={"DATAMOAT_CASCADES_TOP_K": "3"})
    assert load_config(env={"DATAMOAT_CASCADES_TOP_K": "-2"}).cascades.top_k == -2


def test_problems_are_reported_in_section_order(tmp_path: Path) -> None:
    path = write(tmp_path, "[window]\nsize_s = -1\n[batch]\nmax_records = 0\n")
    with pytest.raises(ConfigError, match=r"window\.size_s must be positive"):
        load_config(path, env={})
