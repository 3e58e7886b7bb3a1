"""A sink is one new file plus one ``[output] sinks`` entry: a CSV sink written here, on
the Python path, is built by the one sink builder for ``run``, ``process --input`` and
``merge``, and each writes it the same rows as the Parquet sink."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tests.support.pipelines import START, cli, parquet_signals

pytestmark = pytest.mark.kafka

SINK = '''
"""Signals as CSV, one file per window (a sink of a user's own)."""
from pathlib import Path

import polars as pl

from sinks.registry import SinkContext, sink


class CsvSignals:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, signals: pl.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        flat = signals.drop("top_cascades")
        for (start,), window in flat.group_by(["window_start"]):
            window.write_csv(self.root / f"{start}.csv")

    def close(self) -> None:
        return None


@sink("csv_signals")
def csv_signals(context: SinkContext) -> CsvSignals:
    return CsvSignals(context.output_dir / "csv")
'''
N = 6_000
SEEDED = ["--seed", "5", "--start", START, "--rate", "1000"]


def _csv_rows(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "csv" / "*.csv").sort("window_start", "key")


def _same_rows(out: Path) -> None:
    want = parquet_signals(out).drop("top_cascades").sort("window_start", "key")
    got = _csv_rows(out).select(want.columns)
    assert got.height == want.height > 0
    assert got.select("window_start", "key", "posts").equals(
        want.select("window_start", "key", "posts")
    )


@pytest.fixture
def env(datamoat_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "csv_signals.py").write_text(SINK)
    path = os.pathsep.join(p for p in (str(plugins), datamoat_env.get("PYTHONPATH")) if p)
    return {
        **datamoat_env,
        "PYTHONPATH": path,
        "DATAMOAT_OUTPUT_SINKS": "parquet,kafka,csv_signals",
    }


def test_run_process_input_and_merge_write_a_new_sink(env: dict[str, str], tmp_path: Path) -> None:
    run = tmp_path / "run"
    cli(["run", *SEEDED, "--posts", str(N), "--unpaced", "--quiet", "--http-port", "0",
         "--output-dir", str(run)], env)  # fmt: skip
    _same_rows(run)

    posts, replay = tmp_path / "posts.ndjson", tmp_path / "replay"
    cli(["produce", *SEEDED, "--posts", str(N), "--output", str(posts), "--quiet"], env)
    cli(["process", "--input", str(posts), "--quiet", "--output-dir", str(replay)], env)
    _same_rows(replay)

    # The posts topic now holds the run's posts: a worker group of its own and its merger.
    merged, group = tmp_path / "merged", f"{env['DATAMOAT_KAFKA_GROUP']}-again"
    cli(["process", "--group", group, "--until-idle", "--idle-s", "2", "--quiet",
         "--http-port", "0"], env)  # fmt: skip
    cli(["merge", "--group", group, "--until-ended", "--quiet", "--http-port", "0",
         "--output-dir", str(merged)], env)  # fmt: skip
    _same_rows(merged)
    assert_frame_equal(_csv_rows(merged), _csv_rows(run), check_exact=False, abs_tol=1e-9)
