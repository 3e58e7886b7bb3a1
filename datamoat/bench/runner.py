"""Drive the real ``datamoat`` commands as subprocesses and measure them.

Every run gets topics and a consumer group of its own (through the ``DATAMOAT_KAFKA_*``
environment), so benchmarks never read each other's posts. The broker is the one at
``--bootstrap`` (its JVM found by the port it listens on) or one started with
``datamoat broker start`` in the work directory and stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datamoat.bench.procstat import listening_pid, read_proc
from datamoat.bench.sampler import Exit, Sample, Sampler, wait_rusage
from datamoat.broker import free_port
from datamoat.errors import BrokerError

__all__ = ["Broker", "Run", "broker", "datamoat", "run_measured"]

#: Event time of the first post of a pre-filled topic (a fixed input for drains).
FILL_START = "2026-01-01T00:00:00Z"


def datamoat(*args: str) -> list[str]:
    return [sys.executable, "-m", "datamoat.cli", *args]


@dataclass(frozen=True)
class Broker:
    bootstrap: str
    pid: int | None  # the JVM, when it is a process of ours
    started: bool

    def cpu_s(self) -> float | None:
        sample = None if self.pid is None else read_proc(self.pid)
        return None if sample is None else sample.cpu_s

    def peak_rss(self) -> int | None:
        sample = None if self.pid is None else read_proc(self.pid)
        return None if sample is None else sample.peak_rss_bytes


@contextmanager
def broker(bootstrap: str | None, work: Path, log: Callable[[str], None]) -> Iterator[Broker]:
    if bootstrap:
        port = bootstrap.split(",")[0].rpartition(":")[2]
        pid = listening_pid(int(port)) if port.isdigit() else None
        if pid is None:
            log(f"broker at {bootstrap}: its process is not ours, broker CPU not measured")
        yield Broker(bootstrap, pid, False)
        return
    data = work / "kafka"
    log("starting a broker (datamoat broker start --port 0) ...")
    subprocess.run(datamoat("broker", "start", "--port", "0", "--data-dir", str(data)),
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        out = subprocess.run(datamoat("broker", "status", "--json", "--data-dir", str(data)),
                             capture_output=True, text=True)  # fmt: skip
        status = json.loads(out.stdout)
        if not status.get("bootstrap") or not status.get("pids"):
            raise BrokerError(f"datamoat broker start gave no running broker: {out.stdout}")
        yield Broker(status["bootstrap"], int(status["pids"][0]), True)
    finally:
        subprocess.run(datamoat("broker", "stop", "--data-dir", str(data)),
                       check=False, stdout=subprocess.DEVNULL)  # fmt: skip


def run_env(tag: str | None = None) -> dict[str, str]:
    """Topics and group of one run's own (its partials topic is ``<group>.partials``)."""
    tag = tag or f"bench-{uuid.uuid4().hex[:8]}"
    return {
        **os.environ,
        "DATAMOAT_KAFKA_POSTS_TOPIC": f"{tag}-posts",
        "DATAMOAT_KAFKA_DLQ_TOPIC": f"{tag}-dlq",
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": f"{tag}-signals",
        "DATAMOAT_KAFKA_EARLY_TOPIC": f"{tag}-signals-early",
        "DATAMOAT_KAFKA_ALERTS_TOPIC": f"{tag}-alerts",
        "DATAMOAT_KAFKA_GROUP": f"{tag}-group",
    }


@dataclass
class Run:
    """One measured command: its samples, how it ended and its own summary JSON."""

    name: str
    exit: Exit
    samples: list[Sample]
    summary: dict[str, Any]
    wall_s: float
    broker_cpu_s: float | None = None
    broker_peak_rss: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_measured(
    name: str,
    args: list[str],
    *,
    env: dict[str, str],
    work: Path,
    broker: Broker | None,
    on_sample: Callable[[Sample], None],
    interval_s: float = 0.25,
    timeout_s: float = 3600.0,
    http: bool = True,
) -> Run:
    """Run ``datamoat <args> --summary-json ... [--http-port P]``, sampling /metrics and
    /proc of it (and of the broker) while it runs. Fails with its stderr tail if it fails."""
    port = free_port() if http else None
    summary_path = work / f"{name}-{uuid.uuid4().hex[:6]}.json"
    cmd = datamoat(*args, "--summary-json", str(summary_path))
    if port is not None:
        cmd += ["--http-port", str(port)]
    stderr_path = work / f"{name}.stderr"
    b0 = broker.cpu_s() if broker else None
    with stderr_path.open("wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        pids = {name: proc.pid}
        if broker is not None and broker.pid is not None:
            pids["broker"] = broker.pid
        url = f"http://127.0.0.1:{port}/metrics" if port is not None else None
        sampler = Sampler(url, pids, interval_s, on_sample).start()
        try:
            ended = wait_rusage(proc, timeout_s)
        finally:
            sampler.stop()
        wall = time.monotonic() - t0
    if ended.returncode != 0:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise BrokerError(f"datamoat {args[0]} exited with {ended.returncode}: " + " | ".join(tail))
    b1 = broker.cpu_s() if broker else None
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return Run(
        name,
        ended,
        sampler.samples,
        summary,
        wall,
        broker_cpu_s=None if b0 is None or b1 is None else b1 - b0,
        broker_peak_rss=broker.peak_rss() if broker else None,
    )
