"""``datamoat process --input``: a file, a named pipe fed by ``datamoat produce`` and standard
input all give the same signals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

from datamoat.cli import main

FIREHOSE = ["--seed", "3", "--start", "1700000000000", "--rate", "2000", "--posts", "20000"]
CLI = [sys.executable, "-m", "datamoat.cli"]


def process(source: str, out: Path, **popen: object) -> tuple[dict[str, object], pl.DataFrame]:
    summary = out / "summary.json"
    args = ["process", "--input", source, "--output-dir", str(out), "--quiet",
            "--summary-json", str(summary)]  # fmt: skip
    if popen:
        subprocess.run([*CLI, *args], check=True, timeout=120, **popen)  # type: ignore[call-overload]
    else:
        assert main(args) == 0
    signals = pl.read_parquet(out / "signals" / "*.parquet").sort("window_start", "key")
    return json.loads(summary.read_text()), signals


def test_a_named_pipe_and_stdin_give_what_the_file_gives(tmp_path: Path) -> None:
    posts = tmp_path / "posts.ndjson"
    assert main(["produce", *FIREHOSE, "--quiet", "--output", str(posts)]) == 0
    want_summary, want = process(str(posts), tmp_path / "file")
    assert want_summary["processed"] == 20_000

    fifo = tmp_path / "posts.fifo"
    os.mkfifo(fifo)
    producer = subprocess.Popen([*CLI, "produce", *FIREHOSE, "--quiet", "--output", str(fifo)],
                                stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        piped_summary, piped = process(str(fifo), tmp_path / "fifo")
    finally:
        assert producer.wait(timeout=120) == 0
    with posts.open("rb") as stdin:
        stdin_summary, from_stdin = process("-", tmp_path / "stdin", stdin=stdin)

    for summary in (piped_summary, stdin_summary):
        assert summary["processed"] == 20_000
        assert summary["dead_lettered"] == 0
    assert_frame_equal(piped, want)
    assert_frame_equal(from_stdin, want)
