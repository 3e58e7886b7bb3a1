"""Soak: worker memory over a long run at a high rate, with a growing hashtag vocabulary.

Two set-ups, each with a whole day compressed into the run (so new hashtags keep appearing
and the daily cycle passes):

* ``--mode worker`` (default): the firehose (``datamoat produce --output FIFO``) feeds the
  worker (``datamoat process --input FIFO``) through a named pipe, as two processes. The
  firehose writes ``--rate x --duration`` posts as fast as the worker takes them, so the
  worker covers ``--duration`` seconds of event time at ``--rate`` posts/s, at its own full
  speed; the memory sampled is the worker's alone.
* ``--mode run``: ``datamoat run --transport memory`` (firehose and worker in one process),
  paced at ``--rate`` for ``--duration`` seconds of wall time.

Every ``--every`` seconds it samples the worker's resident memory and, from its
``/metrics``, the engine's state estimate (``datamoat_state_bytes``). Prints JSON: the
series, first/last/max, the share of the run after the first minute and the summary.

.venv/bin/python tests/benchmark/bench_soak.py [--mode worker|run] [--rate 50000] [--duration 600]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from datamoat.broker import free_port  # noqa: E402

START = "2026-01-01T00:00:00Z"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def state_mib(port: int) -> float | None:
    """``datamoat_state_bytes`` of the worker, in MiB (None before it serves)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("datamoat_state_bytes "):
            return round(float(line.split()[1]) / 2**20, 1)
    return None


def commands(args: argparse.Namespace, tmp: Path, port: int) -> tuple[list[str] | None, list[str]]:
    """(firehose command or None, worker command)."""
    cli = [sys.executable, "-m", "datamoat.cli"]
    common = ["--http-port", str(port), "--quiet", "--output-dir", str(tmp / "out"),
              "--summary-json", str(tmp / "summary.json")]  # fmt: skip
    if args.mode == "run":
        return None, [*cli, "run", "--transport", "memory", "--rate", str(args.rate),
                      "--duration", str(args.duration), "--day-in", str(args.duration),
                      *common]  # fmt: skip
    fifo = tmp / "posts.fifo"
    os.mkfifo(fifo)
    posts = round(args.rate * args.duration)
    firehose = [*cli, "produce", "--output", str(fifo), "--posts", str(posts),
                "--rate", str(args.rate), "--day-in", str(args.duration), "--start", START,
                "--quiet"]  # fmt: skip
    return firehose, [*cli, "process", "--input", str(fifo), *common]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["worker", "run"], default="worker")
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        firehose_cmd, worker_cmd = commands(args, tmp, port)
        firehose = None
        if firehose_cmd:
            firehose = subprocess.Popen(firehose_cmd, stdout=subprocess.DEVNULL, cwd=ROOT)
        worker = subprocess.Popen(worker_cmd, stdout=subprocess.DEVNULL, cwd=ROOT)
        series: list[tuple[float, float, float | None]] = []
        t0 = time.monotonic()
        while worker.poll() is None:
            try:
                now = round(rss_mib(worker.pid), 1)
            except OSError:
                break
            series.append((round(time.monotonic() - t0, 1), now, state_mib(port)))
            time.sleep(args.every)
        worker.wait()
        if firehose:
            firehose.wait()
        result = json.loads((tmp / "summary.json").read_text())
    rss = [r for _, r, _ in series]
    after = [r for t, r, _ in series if t >= 60]
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "command": "bench_soak.py " + " ".join(sys.argv[1:]),
        "worker": " ".join(worker_cmd[2:]),
        "wall_s": round(time.monotonic() - t0, 1),
        "rss_mib_first": rss[1] if len(rss) > 1 else None,
        "rss_mib_last": rss[-1] if rss else None,
        "rss_mib_max": max(rss) if rss else None,
        "rss_mib_min_after_60s": min(after) if after else None,
        "rss_mib_max_after_60s": max(after) if after else None,
        "state_mib_max": max((s for _, _, s in series if s is not None), default=None),
        "series_t_rss_state": series,
        "summary": {k: result.get(k) for k in ("produced", "consumed", "processed",
                    "dead_lettered", "late", "duration_s", "processed_per_s",
                    "peak_rss_bytes", "windows_emitted")},
    }, indent=None))  # fmt: skip


if __name__ == "__main__":
    main()
