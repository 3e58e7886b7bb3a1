"""Follow running processes: their /metrics and /proc figures every ``interval_s``."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from datamoat.bench.procstat import ProcSample, read_proc
from datamoat.bench.scrape import MetricsSample, scrape
from ingest.ticker import Ticker

__all__ = ["Exit", "Sample", "Sampler", "wait_rusage"]


@dataclass(frozen=True, slots=True)
class Sample:
    t: float  # seconds since the sampler started
    metrics: MetricsSample | None
    procs: dict[str, ProcSample]


@dataclass(frozen=True, slots=True)
class Exit:
    """How a child ended: exit status, CPU seconds and peak RSS from the kernel (wait4)."""

    returncode: int
    cpu_s: float
    peak_rss_bytes: int


def wait_rusage(proc: subprocess.Popen[bytes], timeout_s: float) -> Exit:
    """Wait for ``proc`` (SIGTERM, then SIGKILL, past ``timeout_s``) and return its rusage."""
    deadline = time.monotonic() + timeout_s
    for signal_it in (None, proc.terminate, proc.kill):
        if signal_it is not None:
            signal_it()
            deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            continue
        break
    else:
        pid, status, usage = os.wait4(proc.pid, 0)  # after SIGKILL: soon
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    return Exit(code, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


@dataclass
class Sampler:
    """A daemon thread sampling ``url`` (may be None) and the pids in ``pids``."""

    url: str | None
    pids: dict[str, int]
    interval_s: float = 0.25
    on_sample: Callable[[Sample], None] = lambda s: None
    samples: list[Sample] = field(default_factory=list)
    _ticker: Ticker | None = None
    _t0: float = field(default_factory=time.monotonic)

    def start(self) -> Sampler:
        self._t0 = time.monotonic()
        self._ticker = Ticker(self.sample, self.interval_s, "datamoat-bench", at_start=True)
        self._ticker.start()
        return self

    def sample(self) -> Sample:
        t = time.monotonic() - self._t0
        metrics = scrape(self.url, timeout_s=self.interval_s * 4) if self.url else None
        procs = {n: s for n, p in list(self.pids.items()) if (s := read_proc(p)) is not None}
        sample = Sample(round(t, 3), metrics, procs)
        self.samples.append(sample)
        self.on_sample(sample)
        return sample

    def stop(self) -> list[Sample]:
        if self._ticker is not None:
            self._ticker.stop(timeout_s=10)
        return self.samples
