"""Scale-out figures (issue 9): throughput of 1, 2 and 3 worker processes, and the cost of
the exactly-once path against the at-least-once worker it replaced, in the same run.

* ``drain``: one worker (``datamoat process --until-idle``) empties a pre-filled posts topic;
  wall time from start to exit, less its idle wait. ``--baseline PYTHON`` is the Python of
  a virtualenv holding the code before the two stages (one process, checkpoint file, plain
  commits); rounds alternate between the two.
* ``workers``: ``datamoat run --workers N --unpaced --posts P`` (firehose, broker, N
  workers and the merger on this machine), processed posts/s from its summary; rounds
  alternate N = 1, 2, 3.

Starts its own broker on free loopback ports and stops it at the end.

    python tests/benchmark/bench_scale.py --posts 200000 --rounds 3 --baseline OLD/.venv/bin/python
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from datamoat.broker import LocalCluster

SEEDED = ["--seed", "7", "--start", "2026-01-01T00:00:00Z", "--rate", "1157"]
IDLE_S = 1.0


def cli(
    args: list[str], env: dict[str, str], python: str = sys.executable
) -> subprocess.CompletedProcess[str]:
    cmd = [python, "-m", "datamoat.cli", *args]
    # from a neutral directory: ``-m`` puts the working directory first on sys.path
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed:\n{done.stderr[-2000:]}")
    return done


def topics_env(base: dict[str, str], tag: str) -> dict[str, str]:
    return {
        **base,
        "DATAMOAT_KAFKA_POSTS_TOPIC": f"posts-{tag}",
        "DATAMOAT_KAFKA_DLQ_TOPIC": f"dlq-{tag}",
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": f"signals-{tag}",
    }


def drain(env: dict[str, str], baseline: Path | None, out: Path) -> tuple[float, float]:
    """Seconds one worker takes to empty the topic (its idle wait excluded), and (two-stage
    code) seconds its merger then takes to turn the deltas into signals."""
    group = f"drain-{uuid.uuid4().hex[:8]}"
    args = ["process", "--group", group, "--until-idle", "--idle-s", str(IDLE_S), "--quiet",
            "--http-port", "0"]  # fmt: skip
    run_env = dict(env)
    if baseline is not None:
        args += ["--output-dir", str(out / group)]
    t0 = time.perf_counter()
    cli(args, run_env, str(baseline or sys.executable))
    worker_s = time.perf_counter() - t0 - IDLE_S
    if baseline is not None:
        return worker_s, 0.0
    t0 = time.perf_counter()
    cli(["merge", "--group", group, "--until-ended", "--quiet", "--http-port", "0",
         "--output-dir", str(out / group)], run_env)  # fmt: skip
    return worker_s, time.perf_counter() - t0


def workers_run(
    env: dict[str, str], n: int, posts: int, out: Path, baseline: Path | None = None
) -> dict[str, float]:
    summary = out / f"run-{n}-{uuid.uuid4().hex[:6]}.json"
    workers = [] if baseline is not None else ["--workers", str(n)]
    run_env = {k: v for k, v in env.items() if baseline is None or "PARTIALS" not in k}
    cli(["run", *SEEDED, "--posts", str(posts), *workers, "--unpaced", "--quiet",
         "--http-port", "0", "--output-dir", str(out / summary.stem),
         "--summary-json", str(summary)], run_env, str(baseline or sys.executable))  # fmt: skip
    s = orjson.loads(summary.read_bytes())
    assert s["processed"] == posts, s
    return {"processed_per_s": s["processed_per_s"], "duration_s": s["duration_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=Path, default=None)
    parser.add_argument("--skip-workers", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    cluster = LocalCluster(work / "kafka", port=0, heap="1g")
    status = cluster.start()
    assert status.bootstrap is not None
    base = {**os.environ, "KAFKA_BOOTSTRAP": status.bootstrap}
    results: dict[str, object] = {"posts": args.posts, "rounds": args.rounds}
    try:
        env = topics_env(base, "drain")
        cli(["topics"], env)
        cli(["produce", *SEEDED, "--posts", str(args.posts), "--unpaced", "--quiet"], env)
        new, old, merge = [], [], []
        for _ in range(args.rounds):
            worker_s, merge_s = drain(env, None, work)
            new.append(worker_s)
            merge.append(merge_s)
            if args.baseline is not None:
                old.append(drain(env, args.baseline, work)[0])
        results["drain_exactly_once_s"] = new
        results["merge_after_drain_s"] = merge
        results["drain_exactly_once_posts_per_s"] = sorted(args.posts / s for s in new)
        if old:
            results["drain_at_least_once_s"] = old
            results["drain_at_least_once_posts_per_s"] = sorted(args.posts / s for s in old)
            ratios = sorted(o / n for n, o in zip(new, old, strict=True))
            results["exactly_once_over_at_least_once"] = ratios
        if not args.skip_workers:
            by_n: dict[int, list[dict[str, float]]] = {1: [], 2: [], 3: []}
            for r in range(args.rounds):
                for n in (1, 2, 3):
                    env = topics_env(base, f"w{n}r{r}")
                    by_n[n].append(workers_run(env, n, args.posts, work))
            results["workers"] = {
                str(n): sorted(x["processed_per_s"] for x in runs) for n, runs in by_n.items()
            }
            if args.baseline is not None:  # end to end, one worker, the baseline's run
                old_runs = [
                    workers_run(topics_env(base, f"b{r}"), 1, args.posts, work, args.baseline)
                    for r in range(args.rounds)
                ]
                results["run_at_least_once"] = sorted(x["processed_per_s"] for x in old_runs)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
