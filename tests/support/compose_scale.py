"""The scaling curve (issue 21): the compose cluster with each worker capped by compose's
``cpus:``, for 1, 2, 3 and 4 workers, draining one pre-filled topic of 12 partitions.

On a 2-core machine, uncapped workers only share the same two cores; capped low enough
(0.1 CPU each by default), four of them use a fifth of the host and the question becomes
the one a cluster of N machines asks: do N workers do N times the work of one, and when
does the single merger become the wall?

Each point (rounds interleave the worker counts): ``down -v``; the broker and a 12-partition
``posts`` topic; the firehose fills it (unpaced, exactly ``--posts``) and exits; then the
merger and N capped workers start. Every second the bench reads each worker's
``datamoat_posts_processed_total`` and the merger's ``process_cpu_seconds_total`` from
their ``/metrics`` (the containers' addresses on the compose network) and the host's CPU
from ``/proc/stat``. Throughput is posts/s over the samples in which every worker made
progress (all of them busy); the start-up (up to the first such sample) is reported
apart. A point whose host idle share over that span is below ``--min-idle`` (20 %) is
marked invalid: the workers then shared CPU, not only their caps.

    python -m tests.support.compose_scale --cpus 0.1 --posts 400000 --rounds 1 --out out/scale
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import re
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.support.compose import (
    COMPOSE_FILES,
    ROOT,
    ComposeCluster,
    RunSpec,
    docker_ready,
    prepare,
    stop_engine,
)

PARTITIONS = 12
_METRIC = re.compile(r"^(\w+)(?:\{[^}]*\})? ([0-9.e+-]+)$")


def override(cpus: float) -> str:
    """The bench's compose override: 12 partitions everywhere, each worker capped."""
    env = f'    environment:\n      DATAMOAT_KAFKA_PARTITIONS: "{PARTITIONS}"\n'
    services = "".join(f"  {name}:\n{env}" for name in ("topics", "firehose", "merger"))
    return f"services:\n{services}  worker:\n    cpus: {cpus}\n{env}"


def host_cpu() -> tuple[float, float]:
    """(busy, idle) jiffies of the whole host, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, idle


def scrape(ip: str, port: int = 8000) -> dict[str, float]:
    """The unlabelled series of one target's /metrics (summed over labels)."""
    with urllib.request.urlopen(f"http://{ip}:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = _METRIC.match(line)
        if m:
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(2))
    return out


@dataclass
class Sample:
    t: float
    workers: dict[str, float]  # processed posts per worker address
    merger_cpu_s: float | None
    host_busy: float
    host_idle: float


@dataclass
class Point:
    workers: int
    cpus: float
    posts: int
    fill_s: float = 0.0
    startup_s: float = 0.0
    busy_s: float = 0.0
    busy_posts: float = 0.0
    posts_per_s: float = 0.0
    host_idle_share: float = 0.0
    valid: bool = False
    drain_s: float = 0.0
    merger_cpu_s: float = 0.0
    worker_cpu_s: float = 0.0
    merger_cpu_s_per_m: float = 0.0
    merger_share: float = 0.0
    samples: list[dict[str, Any]] = field(default_factory=list)


def measure(cluster: ComposeCluster, point: Point, min_idle: float, log: Any) -> Point:
    cluster.compose("down", "-v", "--remove-orphans", timeout=300)
    t0 = time.monotonic()
    cluster.compose("up", "-d", "--no-build", "--wait-timeout", "240", "broker", "topics",
                    "firehose", timeout=400)  # fmt: skip
    cluster.wait("the firehose to fill posts", lambda: cluster.exited_ok("firehose"), 900)
    point.fill_s = time.monotonic() - t0
    log(f"{point.workers} worker(s): {point.posts:,} posts in posts ({point.fill_s:.0f} s)")
    started = time.monotonic()
    cluster.compose("up", "-d", "--no-build", "--no-deps", "--scale",
                    f"worker={point.workers}", "merger", "worker", timeout=400)  # fmt: skip
    samples: list[Sample] = []
    worker_cpu: dict[str, float] = {}
    deadline = started + 900
    while time.monotonic() < deadline:
        busy, idle = host_cpu()
        counts: dict[str, float] = {}
        for ip in sorted(cluster.ips("worker")):
            try:
                series = scrape(ip)
            except OSError:
                continue  # not serving yet (starting), or gone (drained and exited)
            counts[ip] = series.get("datamoat_posts_processed_total", 0.0)
            worker_cpu[ip] = series.get("process_cpu_seconds_total", 0.0)
        merger_cpu = None
        for ip in cluster.ips("merger"):
            with contextlib.suppress(OSError):
                merger_cpu = scrape(ip).get("process_cpu_seconds_total")
        samples.append(Sample(time.monotonic(), counts, merger_cpu, busy, idle))
        if sum(counts.values()) >= point.posts or cluster.exited_ok("merger"):
            break
        time.sleep(1.0)
    cluster.wait("the workers to exit", lambda: cluster.exited_ok("worker"), 300)
    cluster.wait("the merger to exit", lambda: cluster.exited_ok("merger"), 300)
    point.drain_s = time.monotonic() - started
    return summarise(point, samples, started, worker_cpu, min_idle)


def summarise(
    point: Point, samples: list[Sample], started: float, worker_cpu: dict[str, float],
    min_idle: float,
) -> Point:  # fmt: skip
    """Throughput over the samples in which every worker progressed."""
    span_posts, span_s, idle, total, first = 0.0, 0.0, 0.0, 0.0, None
    for a, b in itertools.pairwise(samples):
        ips = set(a.workers) & set(b.workers)
        if len(ips) < point.workers or not all(b.workers[i] > a.workers[i] for i in ips):
            continue
        first = a.t if first is None else first
        span_posts += sum(b.workers[i] - a.workers[i] for i in ips)
        span_s += b.t - a.t
        idle += b.host_idle - a.host_idle
        total += (b.host_idle - a.host_idle) + (b.host_busy - a.host_busy)
    point.startup_s = (first - started) if first is not None else 0.0
    point.busy_s, point.busy_posts = span_s, span_posts
    point.posts_per_s = span_posts / span_s if span_s else 0.0
    point.host_idle_share = idle / total if total else 0.0
    point.valid = span_s > 0 and point.host_idle_share >= min_idle
    merger = [s.merger_cpu_s for s in samples if s.merger_cpu_s is not None]
    point.merger_cpu_s = max(merger, default=0.0)
    point.worker_cpu_s = sum(worker_cpu.values())
    if point.posts:
        point.merger_cpu_s_per_m = point.merger_cpu_s / point.posts * 1e6
    spent = point.merger_cpu_s + point.worker_cpu_s
    point.merger_share = point.merger_cpu_s / spent if spent else 0.0
    point.samples = [
        {"t": round(s.t - started, 2), "processed": sum(s.workers.values())} for s in samples
    ]
    return point


def plot(points: list[Point], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    valid = [p for p in points if p.valid]
    one = [p.posts_per_s for p in valid if p.workers == 1]
    base = sum(one) / len(one) if one else 0.0
    fig, ax = plt.subplots(figsize=(6, 4))
    ns = sorted({p.workers for p in points})
    ax.plot(ns, [n * base for n in ns], "--", color="grey", label="N x one worker")
    ax.plot(ns, [0.8 * n * base for n in ns], ":", color="grey", label="0.8 N (target)")
    ax.plot([p.workers for p in valid], [p.posts_per_s for p in valid], "o", label="measured")
    ax.set_xlabel(f"workers (each capped at {points[0].cpus:g} CPU)")
    ax.set_ylabel("posts/s, every worker busy")
    ax.set_xticks(ns)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cpus", type=float, default=0.1, help="each worker's cap (compose cpus:)")
    p.add_argument("--workers", default="1,2,3,4")
    p.add_argument("--posts", type=int, default=400_000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--min-idle", type=float, default=0.2)
    p.add_argument("--out", type=Path, default=ROOT / "out" / "scale")
    args = p.parse_args(argv)
    reason = docker_ready()
    if reason:
        print(f"compose_scale: {reason}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    extra = Path(tempfile.mkdtemp()) / "compose.scale.yml"
    extra.write_text(override(args.cpus), encoding="utf-8")
    counts = [int(n) for n in args.workers.split(",")]

    def log(line: str) -> None:
        print(f"scale: {line}", file=sys.stderr, flush=True)

    started, _ = prepare(log)
    points: list[Point] = []
    try:
        for r in range(args.rounds):
            for n in counts if r % 2 == 0 else counts[::-1]:
                spec = RunSpec(n, args.posts, 7, rate=5000.0, idle_s=3.0, unpaced=True,
                               project="datamoat-scale")  # fmt: skip
                cluster = ComposeCluster(spec, log=log, files=(*COMPOSE_FILES, extra))
                try:
                    point = measure(cluster, Point(n, args.cpus, args.posts), args.min_idle, log)
                finally:
                    cluster.down()
                points.append(point)
                log(f"{n} worker(s): {point.posts_per_s:,.0f} posts/s over {point.busy_s:.0f} s "
                    f"busy, host idle {point.host_idle_share:.0%}"
                    f"{'' if point.valid else ' (INVALID)'}")  # fmt: skip
    finally:
        if started:
            stop_engine()
    one = [q.posts_per_s for q in points if q.workers == 1 and q.valid]
    base = sum(one) / len(one) if one else 0.0
    summary = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "cpus_per_worker": args.cpus, "posts": args.posts, "partitions": PARTITIONS,
        "points": [
            {**{k: v for k, v in asdict(q).items() if k != "samples"},
             "speedup": round(q.posts_per_s / base, 2) if base else None}
            for q in points
        ],
    }  # fmt: skip
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (args.out / "samples.json").write_text(json.dumps([asdict(q) for q in points]) + "\n")
    plot(points, args.out / "scaling.png")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
