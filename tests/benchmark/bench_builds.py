"""Two builds of datamoat, the same three rates, interleaved rounds (issue 17, the house plan).

Measures, for a BASE build (another checkout with its own virtualenv, ``--base-python``) and
the NEW one (``--new-python``, default: this interpreter), on the same posts:

- drain: ``datamoat bench --mode drain --posts N``: one worker and the merger drain a
  pre-filled topic, start to exit (``processed_per_s`` of the bench summary);
- end to end: ``datamoat bench --mode fixed --unpaced --posts N``: ``datamoat run`` with the
  firehose, broker, worker and merger (``processed_per_s`` of the bench summary);
- process --input: ``datamoat process --input FILE`` over one NDJSON file made once by
  ``datamoat produce --seed S --start T --rate R --posts N`` (``processed_per_s`` of its
  summary; the wall time from start to exit is recorded beside it).

Each build's commands run with its own Python from a neutral working directory, so each
imports its own tree (checked and printed first). In every round each mode runs once per
build, the two builds back to back, and which goes first alternates from round to round.
Both benches share one broker (``datamoat broker start`` of the NEW build, stopped at the
end) when both builds' ``bench`` accept ``--bootstrap``; otherwise each bench starts its own
(the BASE build then finds the Kafka jars through ``DATAMOAT_HOME`` = the NEW tree). The
file is produced by both builds and must be byte for byte the same, and the signals the two
builds' ``process --input`` write in the first round must be equal.

Prints every run's figure, then per mode the median of each build and NEW/BASE; writes all
of it to ``--json`` (default: results.json in the work directory).

    .venv/bin/python tests/benchmark/bench_builds.py \\
        --base-python /work/base/.venv/bin/python --rounds 5 --posts 1000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MODES = ("drain", "e2e", "input")
TITLES = {"drain": "drain", "e2e": "end to end", "input": "process --input"}
NEEDED_FLAGS = ("--mode", "--posts", "--seed", "--unpaced", "--summary-json", "--work-dir")


@dataclass
class Build:
    name: str
    python: str
    tree: Path = Path()
    commit: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def cmd(self, *args: str) -> list[str]:
        return [self.python, "-m", "datamoat.cli", *args]


@dataclass
class Result:
    round: int
    mode: str
    build: str
    posts_per_s: float | None
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def clean_env() -> dict[str, str]:
    """This environment without any DATAMOAT_* setting (each build reads its own config)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DATAMOAT_")}


def check(build: Build, cwd: Path) -> None:
    code = "import datamoat, sys; print(datamoat.__file__); print(sys.prefix)"
    out = subprocess.run(
        [build.python, "-c", code],
        cwd=cwd,
        env=build.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    build.tree = Path(out[0]).resolve().parents[1]
    build.commit = subprocess.run(
        ["git", "-C", str(build.tree), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    print(f"{build.name}: datamoat from {out[0]} (venv {out[1]}), commit {build.commit}")


def bench_flags(build: Build, cwd: Path) -> str:
    return subprocess.run(
        build.cmd("bench", "--help"),
        cwd=cwd,
        env=build.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def same_signals(a: Path, b: Path) -> str:
    """'' when both output directories hold the same Parquet files with equal frames."""
    import polars as pl

    fa = sorted(p.relative_to(a) for p in a.rglob("*.parquet"))
    fb = sorted(p.relative_to(b) for p in b.rglob("*.parquet"))
    if fa != fb:
        return f"different files: {len(fa)} vs {len(fb)}"
    for rel in fa:
        if not pl.read_parquet(a / rel).equals(pl.read_parquet(b / rel)):
            return f"{rel} differs"
    return "" if fa else "no Parquet files written"


def run_one(
    build: Build,
    mode: str,
    rnd: int,
    args: argparse.Namespace,
    work: Path,
    bootstrap: str | None,
    posts_file: Path,
) -> Result:
    run_dir = work / f"r{rnd}-{mode}-{build.name}"
    run_dir.mkdir()
    summary = work / "summaries" / f"{run_dir.name}.json"
    common = [
        "--posts",
        str(args.posts),
        "--seed",
        str(args.seed),
        "--quiet",
        "--summary-json",
        str(summary),
        "--work-dir",
        str(run_dir / "bench"),
    ]
    if bootstrap:
        common += ["--bootstrap", bootstrap]
    if mode == "drain":
        cmd = build.cmd("bench", "--mode", "drain", *common)
    elif mode == "e2e":
        cmd = build.cmd("bench", "--mode", "fixed", "--unpaced", *common)
    else:
        cmd = build.cmd(
            "process",
            "--input",
            str(posts_file),
            "--quiet",
            "--output-dir",
            str(run_dir / "out"),
            "--summary-json",
            str(summary),
        )
    load = float(Path("/proc/loadavg").read_text().split()[0])
    t0 = time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=run_dir,
        env=build.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0 or not summary.exists():
        tail = " | ".join(done.stderr.strip().splitlines()[-5:])
        error = f"exit {done.returncode}: {tail}"
        return Result(rnd, mode, build.name, None, wall, {"load1_at_start": load}, error)
    s = json.loads(summary.read_text())
    keys = (
        "posts",
        "processed",
        "worker_posts_per_s",
        "process_input_posts_per_s",
        "posts_per_s_start_to_exit",
        "wall_start_to_exit_s",
        "produced_per_s",
    )
    extra = {k: s[k] for k in keys if k in s} | {"load1_at_start": load}
    if mode == "input":
        extra["posts_per_s_start_to_exit"] = round(int(s.get("processed", 0)) / wall, 1)
    return Result(rnd, mode, build.name, float(s["processed_per_s"]), round(wall, 2), extra)


def start_broker(new: Build, work: Path) -> str:
    data = str(work / "kafka")
    subprocess.run(
        new.cmd("broker", "start", "--port", "0", "--data-dir", data),
        cwd=work,
        env=new.env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    out = subprocess.run(
        new.cmd("broker", "status", "--json", "--data-dir", data),
        cwd=work,
        env=new.env,
        capture_output=True,
        text=True,
        check=False,
    )
    status = json.loads(out.stdout)
    print(f"broker at {status['bootstrap']}, pid {status['pids']}")
    return str(status["bootstrap"])


def report(results: list[Result], builds: list[Build], modes: list[str]) -> dict[str, Any]:
    table: dict[str, Any] = {}
    for mode in modes:
        row: dict[str, Any] = {}
        for b in builds:
            vals = [r.posts_per_s for r in results if r.mode == mode and r.build == b.name]
            ok = [v for v in vals if v is not None]
            row[b.name] = {"values": vals, "median": statistics.median(ok) if ok else None}
        base, new = row["BASE"]["median"], row["NEW"]["median"]
        row["ratio"] = round(new / base, 3) if base and new else None
        table[mode] = row
        print(f"\n{TITLES[mode]}: NEW/BASE = {row['ratio']}")
        for b in builds:
            shown = ", ".join("failed" if v is None else f"{v:,.0f}" for v in row[b.name]["values"])
            med = row[b.name]["median"]
            print(f"  {b.name:4} median {med or 0:>9,.0f} posts/s  [{shown}]")
    return table


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--base-python", required=True, help="the BASE build's interpreter")
    p.add_argument("--new-python", default=sys.executable, help="default: this interpreter")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--posts", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default="2026-01-01T00:00:00Z", help="the file's first event")
    p.add_argument("--rate", type=float, default=5000, help="the file's posts/s")
    p.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    p.add_argument("--work", type=Path, default=None, help="default: a new temp directory")
    p.add_argument("--json", type=Path, default=None, help="default: <work>/results.json")
    p.add_argument("--keep", action="store_true", help="keep each run's outputs and logs")
    args = p.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    if bad := set(modes) - set(MODES):
        p.error(f"unknown modes {sorted(bad)}")

    work = (args.work or Path(tempfile.mkdtemp(prefix="bench-builds-"))).resolve()
    (work / "summaries").mkdir(parents=True, exist_ok=True)
    neutral = work / "cwd"
    neutral.mkdir(exist_ok=True)
    load_before = Path("/proc/loadavg").read_text().strip()
    print(f"work {work}; load average before: {load_before}")
    base = Build("BASE", args.base_python, env=clean_env())
    new = Build("NEW", args.new_python, env=clean_env())
    builds = [base, new]
    for b in builds:
        check(b, neutral)
    helps = {b.name: bench_flags(b, neutral) for b in builds}
    for b in builds:
        if missing := [f for f in NEEDED_FLAGS if f not in helps[b.name]]:
            raise SystemExit(f"{b.name}'s bench lacks {missing}")
    shared = all("--bootstrap" in h for h in helps.values())
    if not shared:
        base.env["DATAMOAT_HOME"] = str(new.tree)  # the jars, for the broker it starts

    posts_file = work / "posts.ndjson"
    hashes = {}
    for b in builds:
        target = posts_file if b is new else work / "posts-base.ndjson"
        subprocess.run(
            b.cmd(
                "produce",
                "--seed",
                str(args.seed),
                "--start",
                args.start,
                "--rate",
                f"{args.rate:g}",
                "--posts",
                str(args.posts),
                "--output",
                str(target),
                "--quiet",
            ),
            cwd=neutral,
            env=b.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        hashes[b.name] = sha256(target)
    (work / "posts-base.ndjson").unlink()
    print(
        f"posts file {posts_file}: sha256 BASE {hashes['BASE'][:16]}, NEW {hashes['NEW'][:16]}"
        f" ({'same' if len(set(hashes.values())) == 1 else 'DIFFERENT'})"
    )

    results: list[Result] = []
    signals_check = "not run"
    bootstrap = start_broker(new, work) if shared else None
    try:
        for rnd in range(1, args.rounds + 1):
            order = builds if rnd % 2 else builds[::-1]
            print(
                f"\nround {rnd}: {' then '.join(b.name for b in order)}  "
                f"(load {Path('/proc/loadavg').read_text().split()[0]})"
            )
            for mode in modes:
                for b in order:
                    r = run_one(b, mode, rnd, args, work, bootstrap, posts_file)
                    results.append(r)
                    shown = r.error or f"{r.posts_per_s:,.0f} posts/s"
                    how = f"wall {r.wall_s:.1f} s, load {r.extra['load1_at_start']}"
                    print(f"  {TITLES[mode]:16} {b.name:4} {shown}  ({how})")
                if mode == "input" and rnd == 1:
                    signals_check = (
                        same_signals(work / "r1-input-BASE" / "out", work / "r1-input-NEW" / "out")
                        or "equal"
                    )
                    print(f"  process --input signals, BASE vs NEW: {signals_check}")
                if not args.keep:
                    for b in builds:
                        shutil.rmtree(work / f"r{rnd}-{mode}-{b.name}", ignore_errors=True)
    finally:
        if bootstrap:
            subprocess.run(
                new.cmd("broker", "stop", "--data-dir", str(work / "kafka")),
                cwd=work,
                env=new.env,
                check=False,
            )
            if not args.keep:  # the broker's data: gigabytes after a few 1M-post rounds
                shutil.rmtree(work / "kafka", ignore_errors=True)
    load_after = Path("/proc/loadavg").read_text().strip()
    print(f"\nload average after: {load_after}")
    table = report(results, builds, modes)
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "command": " ".join(sys.argv),
        "builds": {
            b.name: {"python": b.python, "tree": str(b.tree), "commit": b.commit} for b in builds
        },
        "posts": args.posts,
        "seed": args.seed,
        "rounds": args.rounds,
        "shared_broker": shared,
        "posts_file_sha256": hashes,
        "signals_check": signals_check,
        "load_before": load_before,
        "load_after": load_after,
        "table": table,
        "runs": [asdict(r) for r in results],
    }
    path = args.json or work / "results.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"results: {path}")
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
