"""The delta wire format: versioned, stamped with its origin, marks keyed by input topic
and partition; an older record decodes without an owner, a broken one is a DeltaError."""

from __future__ import annotations

import orjson
import polars as pl
import pytest

from ingest.errors import DeltaError
from process.accounting import Counts
from process.delta import DELTA_SCHEMA, Delta, Mark, Origin, decode_delta, encode_delta
from process.stage_two.merger import Merger
from process.windows import WindowSpec


def _delta() -> Delta:
    partials = pl.DataFrame(
        {"window_start": [0], "key": ["*"], "posts": [3], "unique_authors": [2]}
    ).select(
        [
            pl.lit(None).cast(dtype).alias(name)
            if name not in ("window_start", "key", "posts", "unique_authors")
            else pl.col(name).cast(dtype)
            for name, dtype in DELTA_SCHEMA.items()
        ]
    )
    marks = {0: Mark(10_000), 3: Mark(None, idle=True)}
    return Delta(partials=partials, marks=marks, stats=Counts(consumed=3, processed=3))


def _header(data: bytes) -> dict[str, object]:
    size = int.from_bytes(data[4:8], "big")
    header: dict[str, object] = orjson.loads(data[8 : 8 + size])
    return header


def test_a_delta_carries_its_group_topic_and_marks_by_topic_and_partition() -> None:
    origin = Origin("tenant-a", "posts-a")
    data = encode_delta(_delta(), origin)
    assert data[:4] == b"DMD2"
    header = _header(data)
    assert header["group"] == "tenant-a" and header["topic"] == "posts-a"
    assert header["marks"] == {"posts-a": {"0": [10_000, False], "3": [None, True]}}
    back = decode_delta(data)
    assert back.origin == origin
    assert back.marks == _delta().marks
    assert back.stats == _delta().stats
    assert back.partials.equals(_delta().partials)


def test_a_format_one_delta_decodes_without_an_owner() -> None:
    data = encode_delta(_delta(), Origin("g", "posts"))
    header = _header(data)
    old = {"marks": header["marks"]["posts"], "stats": header["stats"], "sizes": header["sizes"]}  # type: ignore[index]
    size = int.from_bytes(data[4:8], "big")
    body = orjson.dumps(old)
    v1 = b"DMD1" + len(body).to_bytes(4, "big") + body + data[8 + size :]
    back = decode_delta(v1)
    assert back.origin is None
    assert back.marks == _delta().marks


def test_marks_of_another_topic_and_foreign_bytes_are_not_deltas() -> None:
    data = encode_delta(_delta(), Origin("g", "posts"))
    header = _header(data)
    header["marks"] = {"posts": {}, "other": {"0": [1, False]}}
    size = int.from_bytes(data[4:8], "big")
    body = orjson.dumps(header)
    forged = b"DMD2" + len(body).to_bytes(4, "big") + body + data[8 + size :]
    with pytest.raises(DeltaError, match="marks of a topic other than"):
        decode_delta(forged)
    with pytest.raises(DeltaError, match="not a datamoat delta record"):
        decode_delta(b'{"post_id": 1}')


def test_a_delta_carries_the_offset_ranges_of_its_posts() -> None:
    delta = Delta(partials=_delta().partials, marks=_delta().marks, ranges={0: (5, 90), 3: (0, 7)})
    data = encode_delta(delta, Origin("g", "posts"))
    assert _header(data)["ranges"] == {"0": [5, 90], "3": [0, 7]}
    assert decode_delta(data).ranges == {0: (5, 90), 3: (0, 7)}
    assert decode_delta(encode_delta(_delta(), Origin("g", "posts"))).ranges == {}


def test_rows_after_their_window_is_final_go_whole_to_the_dead_letters() -> None:
    spec = WindowSpec(size_ms=10_000, hop_ms=10_000, allowed_lateness_ms=0)
    merger = Merger(spec, partitions={0})
    first = Delta(partials=_delta().partials, marks={0: Mark(10_000)})
    merger.apply(first)
    assert merger.close().height == 1 and merger.take_late() == []
    again = Delta(partials=_delta().partials, marks={0: Mark(10_000)},
                  origin=Origin("g", "posts"), ranges={0: (40, 75)})  # fmt: skip
    merger.apply(again)
    [late] = merger.take_late()
    assert merger.take_late() == [] and merger.stats.late_after_merge == 3 == late.posts
    letter = orjson.loads(late.to_json())
    assert letter["reason"] == "late_after_merge"
    assert letter["input_topic"] == "posts" and letter["input_ranges"] == {"0": [40, 75]}
    assert [(r["window_start"], r["key"], r["posts"]) for r in letter["rows"]] == [(0, "*", 3)]
    assert merger.close().is_empty()  # in no signal
