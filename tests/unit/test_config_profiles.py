"""The ``[trends]`` section (the merger's trend rule) and config profiles (``--profile``).

A profile is a shipped file (``configs/profiles/NAME.toml``) laid over the defaults: each key
comes from the first of a flag, the environment, ``--config``, the profile, the default file.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import signal
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson
import pytest

from datamoat import config as config_module
from datamoat.config import (
    TRENDS_KEYS,
    Config,
    TrendsConfig,
    env_variable,
    known_variables,
    load_config,
    profile_names,
    profile_path,
)
from datamoat.errors import ConfigError
from datamoat.options import config_from
from process.trends import TrendConfig

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_outside_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATAMOAT_CONFIG", raising=False)
    monkeypatch.delenv("DATAMOAT_PROFILE", raising=False)


# --- [trends] ------------------------------------------------------------------------------


def test_the_trend_defaults_are_the_engines_and_the_shipped_files() -> None:
    assert TrendsConfig().engine() == TrendConfig()
    assert load_config(env={}).trends.engine() == TrendConfig()
    with (ROOT / "configs" / "datamoat.toml").open("rb") as f:
        shipped = tomllib.load(f)["trends"]
    assert shipped == dataclasses.asdict(TrendConfig())  # every key, each at its default


def test_every_trend_field_has_its_key_and_variable() -> None:
    assert set(TRENDS_KEYS) == {f.name for f in dataclasses.fields(TrendConfig)}
    assert set(TRENDS_KEYS.values()) <= set(known_variables().values())
    assert known_variables()["DATAMOAT_TRENDS_MIN_SUPPORT"] == "trends.min_support"


def test_the_trends_section_reaches_the_engine(tmp_path: Path) -> None:
    path = write(tmp_path, "[trends]\nmin_support = 3\nwarmup_windows = 1\nfloor = 0.1\n")
    env = {"DATAMOAT_TRENDS_THRESHOLD": "2.5", "DATAMOAT_TRENDS_WARMUP_WINDOWS": "2"}
    rule = load_config(path, env=env).trends.engine()
    assert rule == TrendConfig(min_support=3, warmup_windows=2, floor=0.1, threshold=2.5)


def test_the_pipeline_builds_its_merger_with_the_configured_rule(tmp_path: Path) -> None:
    from datamoat.metrics import Metrics
    from datamoat.pipeline import _merger, local_worker
    from ingest.memory import MemorySource, MemoryTopic

    config = load_config(env={"DATAMOAT_TRENDS_MIN_SUPPORT": "7", "DATAMOAT_TRENDS_TOP_K": "3"})
    want = TrendConfig(min_support=7, top_k=3)
    assert _merger(config, None).trends.config == want  # the Kafka merger's
    built = local_worker(config, MemorySource(MemoryTopic(2)), tmp_path, Metrics())
    try:
        assert built.emitter.merger.trends.config == want  # run/process --transport memory
    finally:
        built.close()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("alpha", "0", "trends.alpha must be in (0, 1]"),
        ("alpha", "1.5", "trends.alpha must be in (0, 1]"),
        ("floor", "0", "trends.floor must be a positive rate (originals/s)"),
        ("min_support", "0", "trends.min_support must be at least 1 original post"),
        ("threshold", "-1", "trends.threshold must be positive"),
        ("outlier", "0", "trends.outlier must be positive"),
        ("ttl_windows", "0", "trends.ttl_windows must be at least 1"),
        ("top_k", "-1", "trends.top_k must not be negative"),
        ("warmup_windows", "-1", "trends.warmup_windows must not be negative"),
        ("threshold", "inf", "trends.threshold must be a finite number, got inf"),
    ],
)
def test_a_bad_trend_value_is_one_line_naming_where_it_came_from(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    path = write(tmp_path, f"[trends]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(info.value) == f"{path}: {message}"
    variable = env_variable("trends", key)
    with pytest.raises(ConfigError) as info:
        load_config(env={variable: value})
    assert str(info.value) == f"environment {variable}={value}: {message}"


def test_a_trend_value_of_the_wrong_type_or_name_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[trends]\nthreshold = "high"\n')
    with pytest.raises(ConfigError, match=r"trends\.threshold must be a float, got 'high'$"):
        load_config(path, env={})
    path = write(tmp_path, "[trends]\nsupport = 3\n")
    with pytest.raises(ConfigError, match=r"unknown key trends\.support \(known: alpha, ") as e:
        load_config(path, env={})
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="did you mean DATAMOAT_TRENDS_MIN_SUPPORT"):
        load_config(env={"DATAMOAT_TRENDS_MIN_SUPORT": "3"})


def test_a_config_built_in_code_checks_the_trend_rule() -> None:
    with pytest.raises(ConfigError, match=r"^defaults: trends\.top_k must not be negative$"):
        Config(trends=TrendsConfig(top_k=-1))


# --- profiles ------------------------------------------------------------------------------


def test_the_bluesky_profile_is_shipped_and_valid() -> None:
    assert "bluesky" in profile_names()
    assert profile_path("bluesky") == ROOT / "configs" / "profiles" / "bluesky.toml"
    config = load_config(env={}, profile="bluesky")
    assert (config.window.size_s, config.window.hop_s) == (300.0, 60.0)
    assert config.firehose.rate == 30.0
    rule = config.trends.engine()
    assert (rule.floor, rule.warmup_windows) == (0.02, 5)
    assert (rule.min_support, rule.threshold) == (20, 4.5)  # the defaults, from the file
    assert "profiles" in config.source and "datamoat.toml" in config.source


@pytest.fixture
def profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two profiles of this test's own, in place of the shipped ones."""
    folder = tmp_path / "configs" / "profiles"
    folder.mkdir(parents=True)
    write(folder, "[window]\nsize_s = 60.0\nhop_s = 20.0\n[firehose]\nrate = 40.0\n", "slow.toml")
    write(folder, "[window]\nsize_s = 30.0\n", "other.toml")
    monkeypatch.setattr(
        config_module, "config_path", lambda relative="": tmp_path / "configs" / relative
    )
    return folder


def test_a_profile_lies_over_the_default_file(profiles: Path) -> None:
    plain = load_config(env={})
    config = load_config(env={}, profile="slow")
    assert (config.window.size_s, config.window.hop_s) == (60.0, 20.0)  # the profile's
    assert config.window.allowed_lateness_s == plain.window.allowed_lateness_s  # the file's
    assert config.kafka == plain.kafka


def test_config_environment_and_flags_lie_over_the_profile(
    profiles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = write(tmp_path, "[window]\nsize_s = 120.0\n[trends]\nmin_support = 5\n")
    config = load_config(mine, env={}, profile="slow")
    assert (config.window.size_s, config.window.hop_s) == (120.0, 20.0)  # --config, profile
    assert config.trends.min_support == 5
    assert config.firehose.rate == 40.0  # the profile's: the file does not set it
    env = {"DATAMOAT_WINDOW_SIZE_S": "240"}
    assert load_config(mine, env=env, profile="slow").window.size_s == 240.0  # environment
    monkeypatch.setenv("DATAMOAT_CONFIG", str(mine))  # the same as --config
    assert load_config(env={}, profile="slow").window.size_s == 120.0
    monkeypatch.delenv("DATAMOAT_CONFIG")
    # and the flags over everything: through the commands' one place
    args = argparse.Namespace(config=mine, profile="slow", rate=7.0, seed=None)
    monkeypatch.setenv("DATAMOAT_FIREHOSE_RATE", "9")
    flagged = config_from(args)
    assert (flagged.firehose.rate, flagged.window.size_s, flagged.window.hop_s) == (7.0, 120, 20)
    assert config_from(argparse.Namespace(config=mine, profile="slow")).firehose.rate == 9.0


def test_the_profile_comes_from_the_flag_else_the_environment(profiles: Path) -> None:
    assert load_config(env={"DATAMOAT_PROFILE": "other"}).window.size_s == 30.0
    both = load_config(env={"DATAMOAT_PROFILE": "other"}, profile="slow")
    assert both.window.size_s == 60.0
    assert load_config(env={"DATAMOAT_PROFILE": ""}).window.size_s == 10.0  # empty: none


def test_an_unknown_profile_is_one_line_naming_the_known_ones(profiles: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={}, profile="bluesy")
    assert str(info.value) == "--profile: unknown profile 'bluesy' (known: other, slow)"
    with pytest.raises(ConfigError) as info:
        load_config(env={"DATAMOAT_PROFILE": "x"})
    assert str(info.value) == (
        "environment DATAMOAT_PROFILE=x: unknown profile 'x' (known: other, slow)"
    )


def test_a_bad_value_names_the_file_that_set_it(profiles: Path, tmp_path: Path) -> None:
    """The profile's hop with the user's size: blamed on the user's file, which set the key
    at fault; a bad key in the profile names the profile."""
    mine = write(tmp_path, "[window]\nsize_s = 50.0\n")
    with pytest.raises(ConfigError) as info:
        load_config(mine, env={}, profile="slow")
    message = "window.size_s must be a whole multiple of window.hop_s"
    assert str(info.value) == f"{mine}: {message}"
    write(profiles, "[trends]\nalpha = 2.0\n", "broken.toml")
    with pytest.raises(ConfigError) as info:
        load_config(env={}, profile="broken")
    assert str(info.value) == f"{profiles / 'broken.toml'}: trends.alpha must be in (0, 1]"
    write(profiles, "[trend]\nalpha = 0.5\n", "typo.toml")
    with pytest.raises(ConfigError, match=r"typo\.toml: unknown section \[trend\]"):
        load_config(env={}, profile="typo")


@pytest.fixture
def _restore_signal_handlers() -> Iterator[None]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in handlers.items():
        signal.signal(s, h)


def test_an_unknown_profile_on_the_command_line_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datamoat.cli import main

    code = main(["truth", "--start", "0", "--posts", "1", "--profile", "nope",
                 "--output-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.endswith("--profile: unknown profile 'nope' (known: bluesky)")


def test_every_command_that_takes_a_config_takes_a_profile() -> None:
    from datamoat.cli import build_parser

    parser = build_parser()  # every command registered
    commands = [
        ["run"], ["produce"], ["process"], ["merge", "--group", "g"], ["topics"],
        ["truth", "--start", "0", "--posts", "1", "--output-dir", "o"], ["validate", "f"],
        ["ingest", "file", "f"], ["ingest", "jetstream"], ["moat"],
    ]  # fmt: skip
    for argv in commands:
        args = parser.parse_args([*argv, "--profile", "bluesky"])
        assert args.profile == "bluesky", argv


def test_run_hands_its_profile_to_its_worker_processes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import subprocess

    from datamoat.commands.run import _Workers

    started: list[list[str]] = []

    class Popen:
        def __init__(self, cmd: list[str], stderr: IO[bytes], **kwargs: object) -> None:
            started.append(cmd)
            stderr.close()

    monkeypatch.setattr(subprocess, "Popen", Popen)
    args = argparse.Namespace(workers=2, config=None, profile="bluesky")
    workers = _Workers(args, load_config(env={}, profile="bluesky"), "g")
    try:
        workers.start()
    finally:
        shutil.rmtree(workers.dir)
    assert len(started) == 2
    for cmd in started:
        assert cmd[cmd.index("--profile") + 1] == "bluesky"


@pytest.mark.usefixtures("_restore_signal_handlers")
def test_on_the_firehose_at_bluesky_rate_the_demo_bursts_trend_within_7_minutes(
    tmp_path: Path,
) -> None:
    """The README's claim, in simulated time: at 30 posts/s with the profile, the first
    demo burst to trend (#zenoutage, 5 min 15 s in; #novalaunch at 75 s is in the warm-up)
    does so in a window ending within 7 minutes of the start, and nothing else trends."""
    from datamoat.cli import main

    start = 1_767_225_610_000  # 10 s past a minute: the latest of the window ends
    summary = tmp_path / "run.json"
    assert main(["run", "--transport", "memory", "--rate", "30", "--profile", "bluesky",
                 "--unpaced", "--posts", str(30 * 600), "--start", str(start), "--quiet",
                 "--http-port", "0", "--output-dir", str(tmp_path / "out"),
                 "--summary-json", str(summary)]) == 0  # fmt: skip
    trended = orjson.loads(summary.read_bytes())["trended"]
    assert trended, "nothing trended"
    first = trended[0]
    assert first["key"] == "zenoutage"
    assert first["first_window_end"] - start <= 7 * 60_000
    assert {e["key"] for e in trended} <= {"zenoutage", "lumaward"}  # the demo's, no other
