"""Soak: worker memory over a long run at a high rate, with a growing hashtag vocabulary.

Runs ``datamoat run --transport memory`` (firehose and worker in one process) for
``--duration`` seconds at ``--rate`` posts/s with a whole day compressed into the run (so new
hashtags keep appearing and the daily cycle passes), and samples the resident memory every
``--every`` seconds. Prints JSON: the RSS series, its first/last/max and the run summary.

.venv/bin/python tests/benchmark/bench_soak.py [--rate 50000] [--duration 600]
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
from pathlib import Path


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50_000)
    parser.add_argument("--duration", type=float, default=600)
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        cmd = [sys.executable, "-m", "datamoat.cli", "run", "--transport", "memory",
               "--rate", str(args.rate), "--duration", str(args.duration),
               "--day-in", str(args.duration), "--http-port", "0", "--quiet",
               "--output-dir", tmp, "--summary-json", str(summary)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        series: list[tuple[float, float]] = []
        t0 = time.monotonic()
        while proc.poll() is None:
            try:
                series.append((round(time.monotonic() - t0, 1), round(rss_mib(proc.pid), 1)))
            except OSError:
                break
            time.sleep(args.every)
        proc.wait()
        result = json.loads(summary.read_text())
    values = [v for _, v in series]
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(cmd[2:]),
        "rss_mib_first": values[1] if len(values) > 1 else None,
        "rss_mib_last": values[-1] if values else None,
        "rss_mib_max": max(values) if values else None,
        "rss_series": series,
        "summary": {k: result.get(k) for k in ("produced", "processed", "dead_lettered",
                    "late", "duration_s", "produced_per_s", "processed_per_s",
                    "peak_rss_bytes", "windows_emitted")},
    }, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
