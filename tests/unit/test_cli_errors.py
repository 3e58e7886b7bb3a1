"""CLI errors: one line saying what is wrong and what to do, no traceback, and exit status 2
for a usage or configuration error (69 for a broker that does not answer; every status is in
``tests/unit/test_exit_status.py``)."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from datamoat.broker import free_port
from datamoat.cli import configure_logging, main
from datamoat.errors import ConfigError
from datamoat.preflight import check_output_dir, check_port_free

Capture = pytest.CaptureFixture[str]


def fails(capsys: Capture, args: list[str], status: int = 2) -> str:
    """Run the CLI in-process; it must exit ``status`` with exactly one line on stderr."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    assert code == status
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
        (["moat", "--duration", "10m", "--quiet"], "leaves no hold-out after the trend warm-up"),
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
    line = fails(capsys, ["process", "--bootstrap", nobody, "--wait-for-broker", "0"], 69)
    assert f"no Kafka broker reachable at {nobody}" in line
    assert "datamoat broker start" in line


def test_replay_of_a_missing_file(capsys: Capture, tmp_path: Path) -> None:
    line = fails(capsys, ["process", "--input", str(tmp_path / "nope.ndjson")])
    assert "no such file" in line


def test_abbreviated_flags_are_not_accepted(capsys: Capture) -> None:
    assert "unrecognized arguments: --rat 3000" in fails(capsys, ["run", "--rat", "3000"])
    line = fails(capsys, ["broker", "start", "--brok", "3"])
    assert "unrecognized arguments: --brok 3" in line


def test_version(capsys: Capture) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"datamoat {version('datamoat')}\n"


def test_truth_does_not_offer_bootstrap(capsys: Capture, tmp_path: Path) -> None:
    args = ["truth", "--posts", "10", "--start", "0", "--output-dir", str(tmp_path)]
    line = fails(capsys, [*args, "--bootstrap", "127.0.0.1:9092"])
    assert "unrecognized arguments: --bootstrap" in line


def test_every_command_has_a_description(capsys: Capture) -> None:
    from datamoat.cli import COMMANDS, build_parser

    assert {"topics", "broker", "truth", "run"} <= set(COMMANDS)
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            build_parser().parse_args([name, "--help"])
        usage, _, rest = capsys.readouterr().out.partition("\n\n")
        assert usage.startswith(f"usage: datamoat {name}"), name
        description = rest.partition("\n\n")[0].strip()
        assert description and not description.startswith(("positional", "options")), name


TRUTH = ["truth", "--posts", "10", "--start", "0", "--output-dir"]


def test_a_bad_environment_value_is_blamed_on_the_variable(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAMOAT_BATCH_MAX_RECORDS", "-1")
    line = fails(capsys, [*TRUTH, str(tmp_path)])
    assert "environment DATAMOAT_BATCH_MAX_RECORDS=-1: batch.max_records must be at least 1" in (
        line
    )
    assert ".toml" not in line


def test_an_unknown_datamoat_variable_is_reported_with_the_known_ones_nearby(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAMOAT_WINDOW_SIZ_S", "5")
    line = fails(capsys, [*TRUTH, str(tmp_path)])
    assert "unknown environment variable DATAMOAT_WINDOW_SIZ_S" in line
    assert "did you mean DATAMOAT_WINDOW_SIZE_S" in line


def test_output_dir_that_is_a_file(capsys: Capture, tmp_path: Path) -> None:
    a_file = tmp_path / "signals.txt"
    a_file.write_text("not a directory\n")
    line = fails(capsys, [*TRUTH, str(a_file)])
    assert f"--output-dir {a_file} is a file, not a directory" in line
    line = fails(capsys, [*TRUTH, str(a_file / "below")])
    assert f"--output-dir {a_file / 'below'} can't be created" in line
    assert check_output_dir(tmp_path / "new" / "dir").is_dir()


def test_a_busy_port_is_one_line_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"--http-port {busy}: port {busy} on 127.0.0.1 is"):
            check_port_free("127.0.0.1", busy)
    check_port_free("127.0.0.1", busy)  # free again
    check_port_free("127.0.0.1", 0)  # any free port


def test_help_imports_no_command_and_no_heavy_library() -> None:
    code = (
        "import sys\n"
        "from datamoat.cli import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('polars', 'numpy', 'kafka', 'prometheus_client', 'orjson')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "loaded += [m for m in sys.modules if m.startswith('datamoat.commands.')]\n"
        "print(sorted(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    *usage, loaded = done.stdout.strip().splitlines()
    assert "COMMAND" in usage[0]
    assert loaded == "[]"


def test_log_lines_are_prefixed_and_printed_once(capsys: Capture) -> None:
    configure_logging()
    configure_logging()
    logging.getLogger("datamoat.test").info("hello")
    assert capsys.readouterr().err == "datamoat: hello\n"
