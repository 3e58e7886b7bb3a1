"""`datamoat run --transport memory` against `datamoat truth`: the same rows, exactly."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.cli import main

SEEDED = ["--seed", "7", "--start", "2026-03-01T12:00:00Z", "--rate", "800"]


@pytest.fixture(autouse=True)
def _restore_signal_handlers() -> Iterator[None]:
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in handlers.items():
        signal.signal(s, h)


def read(directory: Path) -> pl.DataFrame:
    return pl.read_parquet(directory / "signals" / "**" / "*.parquet").sort("window_start", "key")


def test_memory_run_equals_truth(tmp_path: Path) -> None:
    n = "30000"
    assert main(["run", "--transport", "memory", "--unpaced", "--quiet", *SEEDED, "--posts", n,
                 "--http-port", "0", "--output-dir", str(tmp_path / "run"),
                 "--summary-json", str(tmp_path / "run.json")]) == 0  # fmt: skip
    assert main(["truth", *SEEDED, "--posts", n, "--output-dir", str(tmp_path / "truth")]) == 0
    got, want = read(tmp_path / "run"), read(tmp_path / "truth")
    ints = [c for c, t in want.schema.items() if t == pl.Int64()]
    assert got.select(ints).equals(want.select(ints))  # every count and sum, exactly
    assert_frame_equal(got, want, check_exact=False, abs_tol=1e-9)  # sentiment mean to 1e-9

    summary = orjson.loads((tmp_path / "run.json").read_bytes())
    assert summary["produced"] == summary["consumed"] == summary["processed"] == int(n)
    assert summary["dead_lettered"] == summary["late"] == 0
    assert summary["accounting_ok"] is True
    star = got.filter(pl.col("key") == "*")
    assert star["posts"].sum() == int(n)
    assert star["top_cascades"].list.len().sum() > 0
