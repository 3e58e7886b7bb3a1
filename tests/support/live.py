"""Helpers of the live tests (real Prometheus, headless Chromium): the tools, a short
``datamoat run`` in a subprocess, and waits. Every process started here is stopped by pid."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

__all__ = ["fetch", "require_tool", "start_run", "stop", "wait_for"]

CI = os.environ.get("CI", "").lower() == "true"


def require_tool(exe: str, package: str) -> str:
    """The path of ``exe``; installs Debian's ``package`` when missing and running as root.
    Missing in CI: the test fails; missing locally without root: it skips (one line)."""
    found = shutil.which(exe)
    if found is None and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package],
            env=env,
            capture_output=True,
            timeout=900,
            check=False,
        )
        found = shutil.which(exe)
    if found is None:
        reason = f"{exe} not found (Debian package {package}; installed automatically as root)"
        if CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def start_run(
    tmp: Path, bootstrap: str, http_port: int, duration_s: float | None, *extra: str
) -> subprocess.Popen[bytes]:
    """``datamoat run`` against ``bootstrap`` for ``duration_s`` (None: ``extra`` says when
    to stop), its output in ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "datamoat.cli", "run",
        "--bootstrap", bootstrap,
        *(["--duration", str(duration_s)] if duration_s is not None else []),
        "--http-port", str(http_port),
        "--output-dir", str(tmp / "out"),
        "--summary-json", str(tmp / "summary.json"),
        "--quiet",
        *extra,
    ]  # fmt: skip
    log = (tmp / "run.log").open("wb")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    """SIGINT (a graceful stop), then SIGKILL after ``timeout_s``; by the process's pid."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def fetch(url: str, timeout_s: float = 5.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        body: bytes = answer.read()
        return body


def wait_for(what: str, check: object, timeout_s: float, every_s: float = 1.0) -> None:
    """Poll ``check()`` (bounded) until it is truthy; fail with ``what`` otherwise."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not up yet
            last = exc
        time.sleep(every_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} (last error: {last!r})")
