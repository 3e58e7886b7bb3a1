"""The whole processing path without Kafka, as a user runs it: ``datamoat process --input F``
over a file of firehose posts, whole process from start to exit (import, decode, sentiment,
windows, trends, cascades, Parquet sink). Also the same posts through the in-memory
transport of ``datamoat run``.

.venv/bin/python tests/benchmark/bench_process.py [--posts 1000000] [--file F]
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
from typing import Any

START = "2026-01-01T00:00:00Z"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]


def timed(cmd: list[str]) -> tuple[float, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--summary-json", str(summary), "--output-dir", tmp, "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        wall = time.perf_counter() - t0
        return wall, json.loads(summary.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--file", type=Path, default=None, help="reuse this NDJSON file")
    args = parser.parse_args()
    path = args.file or Path(tempfile.gettempdir()) / f"datamoat-bench-{args.posts}.ndjson"
    if not path.exists():
        subprocess.run([*DATAMOAT, "produce", "--seed", "1", "--start", START, "--posts",
                        str(args.posts), "--output", str(path), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    wall, replay = timed([*DATAMOAT, "process", "--input", str(path)])
    mem_wall, memory = timed([*DATAMOAT, "run", "--transport", "memory", "--unpaced",
                              "--seed", "1", "--start", START, "--posts", str(args.posts),
                              "--http-port", "0"])  # fmt: skip
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "posts": args.posts,
        "process_input_wall_s": round(wall, 2),
        "process_input_posts_per_s": round(args.posts / wall),
        "process_input_peak_rss_mib": round(int(replay["peak_rss_bytes"]) / 2**20),
        "run_memory_wall_s": round(mem_wall, 2),
        "run_memory_posts_per_s": round(args.posts / mem_wall),
        "run_memory_peak_rss_mib": round(int(memory["peak_rss_bytes"]) / 2**20),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
