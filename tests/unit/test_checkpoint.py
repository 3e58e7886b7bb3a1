"""Checkpoint files: round trip, the first layout still read, damage reported in one line."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from datamoat.checkpoint import Checkpoint, CheckpointError, CheckpointStore

FRAMES = {
    "partials": pl.DataFrame({"key": ["#a", "*"], "posts": [3, 7]}),
    "empty": pl.DataFrame(schema={"root": pl.Int64}),
    "big": pl.DataFrame({"x": range(200_000)}),
}
CHECKPOINT = Checkpoint(offsets={0: 12, 3: 4}, scalars={"watermark": 99}, frames=FRAMES)


def assert_same(got: Checkpoint | None) -> None:
    assert got is not None
    assert got.offsets == CHECKPOINT.offsets
    assert got.scalars == CHECKPOINT.scalars
    assert list(got.frames) == list(FRAMES)
    for name, frame in FRAMES.items():
        assert_frame_equal(got.frames[name], frame)


def test_round_trip_and_replace(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    assert store.load() is None
    store.save(Checkpoint(offsets={0: 1}))
    written = store.save(CHECKPOINT)
    assert written == store.path.stat().st_size
    assert_same(store.load())
    assert [p.name for p in tmp_path.iterdir()] == ["worker.ckpt"]  # no temporary left


def test_a_checkpoint_of_the_first_layout_is_still_read(tmp_path: Path) -> None:
    blobs = []
    for frame in FRAMES.values():
        buf = io.BytesIO()
        frame.write_ipc(buf, compression="lz4")
        blobs.append(buf.getvalue())
    header = orjson.dumps({
        "offsets": {"0": 12, "3": 4},
        "scalars": {"watermark": 99},
        "frames": [{"name": n, "bytes": len(b)} for n, b in zip(FRAMES, blobs, strict=True)],
    })  # fmt: skip
    store = CheckpointStore(tmp_path)
    store.path.write_bytes(b"DMCK1\n" + len(header).to_bytes(8, "big") + header + b"".join(blobs))
    assert_same(store.load())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path: Path, damage: str) -> None:
    store = CheckpointStore(tmp_path)
    store.save(CHECKPOINT)
    data = store.path.read_bytes()
    broken = {"truncate": data[: len(data) // 2], "garbage": b"hello", "empty": b""}[damage]
    store.path.write_bytes(broken)
    with pytest.raises(CheckpointError) as info:
        store.load()
    message = str(info.value)
    assert "\n" not in message
    assert "delete it to start over" in message
