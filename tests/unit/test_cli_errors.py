"""Configuration errors: one line saying what is wrong and what to do, non-zero exit."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamoat.broker import free_port
from datamoat.cli import main

Capture = pytest.CaptureFixture[str]


def fails(capsys: Capture, args: list[str]) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one line on stderr."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no traceback
    return lines[0]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["run", "--rate", "fast"], "argument --rate: 'fast' is not a number"),
        (["run", "--rate", "-5"], "must be greater than 0"),
        (["run", "--transport", "pigeon"], "invalid choice: 'pigeon'"),
        (["run", "--start", "yesterday"], "neither epoch milliseconds nor ISO 8601"),
        (["produce", "--posts", "0"], "must be at least 1"),
        (["process", "--http-port", "70000"], "not a port"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["truth", "--posts", "10", "--output-dir", "x"], "--start is required"),
        (["produce", "--output", "x.ndjson"], "--output needs --posts N or --duration S"),
    ],
)
def test_bad_flags(capsys: Capture, args: list[str], fragment: str) -> None:
    assert fragment in fails(capsys, args)


def test_bad_config_file(capsys: Capture, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[window]\nsize_s = 'ten'\n")
    line = fails(capsys, ["run", "--transport", "memory", "--posts", "10", "--config", str(bad)])
    assert "window.size_s must be a float" in line and str(bad) in line
    line = fails(capsys, ["run", "--config", str(tmp_path / "missing.toml")])
    assert "not found" in line


def test_unreachable_broker_fails_fast_when_told_not_to_wait(capsys: Capture) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    line = fails(capsys, ["process", "--bootstrap", nobody, "--wait-for-broker", "0"])
    assert f"no Kafka broker reachable at {nobody}" in line
    assert "datamoat broker start" in line


def test_replay_of_a_missing_file(capsys: Capture, tmp_path: Path) -> None:
    line = fails(capsys, ["process", "--input", str(tmp_path / "nope.ndjson")])
    assert "no such file" in line
