"""CPU seconds and memory of a process, read from ``/proc/<pid>/stat`` and ``status``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ProcSample", "listening_pid", "read_proc"]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One reading: user + system CPU seconds so far, current and peak resident bytes."""

    cpu_s: float
    rss_bytes: int
    peak_rss_bytes: int


def parse_stat(text: str) -> float:
    """CPU seconds (utime + stime) from the text of ``/proc/<pid>/stat``."""
    # the command name (field 2) may hold spaces and parentheses: split after its last ')'
    fields = text[text.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of the whole line
    return (utime + stime) / _TICKS


def parse_status(text: str) -> tuple[int, int]:
    """(VmRSS, VmHWM) in bytes from the text of ``/proc/<pid>/status`` (0 when absent)."""
    found = {"VmRSS": 0, "VmHWM": 0}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in found:
            found[key] = int(rest.split()[0]) * 1024
    return found["VmRSS"], found["VmHWM"]


def read_proc(pid: int, root: Path = Path("/proc")) -> ProcSample | None:
    """The process's reading now, or None once it is gone."""
    try:
        stat = (root / str(pid) / "stat").read_text()
        status = (root / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    rss, hwm = parse_status(status)
    return ProcSample(parse_stat(stat), rss, hwm)


def listening_pid(port: int, root: Path = Path("/proc")) -> int | None:
    """The pid of this user's process listening on TCP ``port`` (e.g. the broker JVM behind
    ``--bootstrap``), or None when it is not ours or not found."""
    inodes = set()
    for table in ("net/tcp", "net/tcp6"):
        try:
            lines = (root / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return None
    for entry in root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fds = list((entry / "fd").iterdir())
        except OSError:
            continue  # not ours, or gone
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return int(entry.name)
            except OSError:
                continue
    return None
