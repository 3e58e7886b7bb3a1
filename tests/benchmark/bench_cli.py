"""Start-up time of ``datamoat --help`` (lazy command imports), against bare Python.

Run from the repository root: ``.venv/bin/python tests/benchmark/bench_cli.py [--rounds N]
[--compare DIR]``. Runs, alternating in rounds so all see the same machine load:
``python -c pass``, ``datamoat --help`` from this tree, and with ``--compare DIR`` the same
from another checkout (e.g. ``git archive <commit> | tar -x -C DIR``); prints one JSON
object with the median and best wall time of each (ms) and the ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
HELP = "import sys; from datamoat.cli import main; sys.exit(main(['--help']))"


def timed(cmd: list[str], env: dict[str, str]) -> float:
    began = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, env=env, cwd="/")
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, allow_abbrev=False)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--compare", type=Path, default=None, metavar="DIR")
    args = parser.parse_args()
    runs = {"python -c pass": ([sys.executable, "-c", "pass"], dict(os.environ))}
    if args.compare is not None:
        runs["datamoat --help (compared tree)"] = (
            [sys.executable, "-c", HELP],
            {**os.environ, "PYTHONPATH": str(args.compare.resolve())},
        )
    runs["datamoat --help (this tree)"] = (
        [sys.executable, "-c", HELP],
        {**os.environ, "PYTHONPATH": str(ROOT)},
    )
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (cmd, env) in runs.items():
            times[name].append(timed(cmd, env))
    out: dict[str, object] = {
        name: {"median_ms": round(statistics.median(t)), "best_ms": round(min(t))}
        for name, t in times.items()
    }
    if args.compare is not None:
        old, new = times["datamoat --help (compared tree)"], times["datamoat --help (this tree)"]
        out["ratio_median"] = round(statistics.median(old) / statistics.median(new), 1)
        out["ratio_best"] = round(min(old) / min(new), 1)
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
