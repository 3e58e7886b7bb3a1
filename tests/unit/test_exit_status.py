"""Exit statuses a script can tell apart: one test per status (README "Exit statuses").

2 usage and configuration, 69 no broker answers, 77 Kafka refused the client, 1 any other
failure, 0 after one SIGTERM (a graceful stop), 130 after a second Ctrl-C. Every wait is
bounded; every process started here is stopped by its pid.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from datamoat.broker import free_port
from datamoat.cli import EXIT_STATUSES, build_parser, main
from datamoat.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    AccessDenied,
    DeliveryError,
    SinkUnavailable,
)
from ingest.kafka import denied

Capture = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parents[2]
kafka_errors = denied.kafka_errors  # kafka-python's exceptions, through the Kafka door


def status_of(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as exc:  # argparse's own errors
        return int(exc.code or 0)


def one_line(capsys: Capture) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # one line, no traceback
    return lines[0]


def failing_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> list[str]:
    """``datamoat schema post``, its command made to raise ``exc``."""

    def command(args: object) -> int:
        raise exc

    monkeypatch.setattr("datamoat.commands.schema.run_schema", command)
    return ["schema", "post"]


# --- 2: usage and configuration --------------------------------------------------------------


def test_a_bad_flag_is_2(capsys: Capture) -> None:
    assert status_of(["run", "--rate", "fast"]) == EXIT_USAGE == 2
    assert "argument --rate" in one_line(capsys)


def test_a_bad_config_value_is_2(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATAMOAT_BATCH_MAX_RECORDS", "-1")
    args = ["truth", "--posts", "10", "--start", "0", "--output-dir", str(tmp_path)]
    assert status_of(args) == 2
    assert "DATAMOAT_BATCH_MAX_RECORDS=-1" in one_line(capsys)
    monkeypatch.delenv("DATAMOAT_BATCH_MAX_RECORDS")
    monkeypatch.setenv("DATAMOAT_WINDOW_SIZE_Z", "5")  # a misspelling is still an error
    assert status_of(args) == 2
    assert "did you mean DATAMOAT_WINDOW_SIZE_S" in one_line(capsys)


# --- 69: no broker answers -------------------------------------------------------------------


@pytest.mark.parametrize("command", [["topics"], ["ingest", "jetstream", "--quiet"]])
def test_no_broker_after_waiting_is_69(capsys: Capture, command: list[str]) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    assert status_of([*command, "--bootstrap", nobody, "--wait-for-broker", "1"]) == 69
    assert time.monotonic() - started < 30
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        f"datamoat {command[0]}: error: no Kafka broker reachable at {nobody} after 1 s: start "
        "one with 'datamoat broker start' or point --bootstrap at one"
    )
    assert EXIT_UNAVAILABLE == 69


# --- 1: any other failure --------------------------------------------------------------------


@pytest.mark.parametrize(
    "exc",
    [DeliveryError("Kafka gave up on 3 posts"), SinkUnavailable("the sink kept failing")],
    ids=["DeliveryError", "SinkUnavailable"],
)
def test_another_failure_is_1(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, exc: Exception
) -> None:
    assert status_of(failing_with(monkeypatch, exc)) == EXIT_FAILURE == 1
    assert one_line(capsys) == f"datamoat schema: error: {exc}"


def test_a_failure_that_is_no_datamoat_error_nor_a_refusal_is_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    exc = kafka_errors.KafkaTimeoutError("Unable to bootstrap")
    with pytest.raises(type(exc)):
        main(failing_with(monkeypatch, exc))


# --- 77: Kafka refused the client ------------------------------------------------------------


def test_access_denied_is_77(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = AccessDenied("Kafka refused access to topic posts (not authorised)")
    assert status_of(failing_with(monkeypatch, refused)) == EXIT_NOPERM == 77
    assert one_line(capsys) == f"datamoat schema: error: {refused}"


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (
            kafka_errors.TopicAuthorizationFailedError({"posts", "posts.dlq"}),
            "Kafka refused access to topic posts, posts.dlq (not authorised)",
        ),
        (
            kafka_errors.GroupAuthorizationFailedError("datamoat"),
            "Kafka refused access to consumer group datamoat (not authorised)",
        ),
        (
            kafka_errors.TransactionalIdAuthorizationFailedError(),
            "Kafka refused this client's transactional id (not authorised)",
        ),
        (
            kafka_errors.SaslAuthenticationFailedError("Failed to authenticate via SASL PLAIN"),
            "Kafka authentication failed (SASL PLAIN)",
        ),
        (
            kafka_errors.KafkaConnectionError(
                ssl.SSLCertVerificationError(
                    1,
                    "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname "
                    "mismatch, certificate is not valid for 'kafka-1'. (_ssl.c:1006)",
                )
            ),
            "TLS verification of the certificate of kafka-1 failed (Hostname mismatch, "
            "certificate is not valid for 'kafka-1')",
        ),
    ],
    ids=["topic", "group", "transactional-id", "sasl", "certificate"],
)
def test_a_kafka_refusal_is_77_in_one_line(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch, exc: Exception, says: str
) -> None:
    assert status_of(failing_with(monkeypatch, exc)) == 77
    line = one_line(capsys)
    assert line.startswith(f"datamoat schema: error: {says}"), line


def test_a_refusal_behind_another_error_is_77(
    capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        try:
            raise kafka_errors.GroupAuthorizationFailedError("g1")
        except Exception as cause:
            raise DeliveryError(f"can't commit: {cause}") from cause
    except DeliveryError as exc:
        wrapped = exc
    assert status_of(failing_with(monkeypatch, wrapped)) == 77
    assert "consumer group g1" in one_line(capsys)


def test_a_real_certificate_failure_names_its_host() -> None:
    """The line from what the ssl module raises in a handshake (a self-signed certificate for
    other names than the one asked for)."""
    failure = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failure.verify_message = "self-signed certificate"
    found = denied.as_access_denied(failure, host="broker-1:9093")
    assert found is not None and found.exit_status == 77
    assert str(found).startswith(
        "TLS verification of the certificate of broker-1:9093 failed (self-signed certificate)"
    )
    assert denied.as_access_denied(ValueError("nothing refused")) is None


# --- 0 and 130: stopping `datamoat run` ------------------------------------------------------


@pytest.fixture
def start_run(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """``datamoat run --transport memory`` in a subprocess, returned once its stop signals are
    handled (its "metrics at" line); killed by pid at the end if still running."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        err = tmp_path / f"run-{len(procs)}.err"
        cmd = [sys.executable, "-m", "datamoat.cli", "run", "--transport", "memory", "--quiet",
               "--http-port", "0", "--output-dir", str(tmp_path / "out"), *extra]  # fmt: skip
        with err.open("wb") as stderr:
            proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT,
                env={**os.environ, **(env or {})},
            )  # fmt: skip
        procs.append(proc)
        deadline = time.monotonic() + 90
        while b"metrics at" not in err.read_bytes():
            assert proc.poll() is None, err.read_text()
            assert time.monotonic() < deadline, f"run not up in 90 s: {err.read_text()}"
            time.sleep(0.1)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


def test_one_sigterm_is_a_graceful_stop_and_0(
    start_run: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    summary = tmp_path / "summary.json"
    proc = start_run("--duration", "600", "--summary-json", str(summary))
    time.sleep(0.5)  # some posts through
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == EXIT_OK == 0
    assert b"processed" in out  # the summary, printed
    s = orjson.loads(summary.read_bytes())
    assert s["consumed"] == s["produced"] > 0  # the workers caught up: a graceful stop


def test_a_second_ctrl_c_stops_at_once_with_130(
    start_run: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    # An unpaced firehose and small batches: the worker falls far behind, so after the first
    # Ctrl-C it has a long drain ahead when the second comes.
    summary = tmp_path / "summary.json"
    proc = start_run("--unpaced", "--posts", "5000000", "--summary-json", str(summary),
                     env={"DATAMOAT_BATCH_MAX_RECORDS": "50"})  # fmt: skip
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=90)
    assert proc.returncode == EXIT_INTERRUPTED == 130
    s = orjson.loads(summary.read_bytes())
    assert s["consumed"] < s["produced"]  # it stopped without draining


# --- the list in the help ---------------------------------------------------------------------


def test_the_help_lists_every_status(capsys: Capture) -> None:
    for args in (["--help"], ["run", "--help"], ["process", "--help"]):
        with pytest.raises(SystemExit):
            build_parser(args).parse_args(args)
        help_text = capsys.readouterr().out
        assert help_text.endswith(EXIT_STATUSES)
    listed = [line.split()[0] for line in EXIT_STATUSES.splitlines()[1:7]]
    assert listed == ["0", "1", "2", "69", "77", "130"]
