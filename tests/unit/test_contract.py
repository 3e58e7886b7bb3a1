"""The contracts made discoverable: ``datamoat schema`` (the committed JSON Schemas are the
generated ones, and real posts and signals fit them) and ``datamoat validate`` (the
pipeline's decoder over a file: every dead-letter reason counted, with its first record)."""

from __future__ import annotations

import functools
import io
import json
import re
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator

import process.decode
from datamoat.cli import main
from datamoat.config import BatchConfig
from datamoat.pipeline import score
from ingest.firehose import FirehoseConfig, encode_values, generate
from ingest.schema import POST_COLUMNS, REQUIRED_COLUMNS
from process.contract import CONTRACTS, regenerate_command, render
from process.truth import truth_signals
from process.validate import INT_FIELDS, STR_FIELDS
from process.windows import WindowSpec
from sinks.kafka import signal_records
from tests.support.common import START

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schema"
Capture = pytest.CaptureFixture[str]


@functools.cache
def validator(name: str) -> Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text("utf-8"))
    return Draft202012Validator(schema)


def errors(name: str, record: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator(name).iter_errors(record)]


@functools.cache
def firehose_values() -> tuple[bytes, ...]:
    """Posts as the firehose writes them to Kafka or to an NDJSON file."""
    return tuple(encode_values(generate(FirehoseConfig(rate=2000), 1, START, 2000)))


# -- the schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_the_committed_schema_is_the_generated_one(name: str) -> None:
    path = SCHEMAS / f"{name}.schema.json"
    committed = path.read_text("utf-8") if path.exists() else None
    assert committed == render(name), (
        f"{path.relative_to(ROOT)} is out of date: regenerate it with '{regenerate_command(name)}'"
    )


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_the_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    schema = validator(name).schema
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_schema_command_prints_the_contract(capsys: Capture) -> None:
    for name in CONTRACTS:
        assert main(["schema", name]) == 0
        assert capsys.readouterr().out == render(name)


def test_the_quoted_defaults_are_the_config_defaults() -> None:
    described = validator("post").schema["description"]
    batch = BatchConfig()
    assert f"default {batch.max_record_bytes:,};" in described
    assert f"default {batch.max_future_s:,.0f} s" in described


def test_firehose_posts_fit_the_post_schema() -> None:
    values = firehose_values()
    records = [json.loads(v) for v in values]
    assert {r["kind"] for r in records} == {"post", "repost", "reply", "quote"}
    assert any(r["parent_id"] is None for r in records)
    assert any(r["hashtags"] for r in records)
    bad = {i: e for i, r in enumerate(records) if (e := errors("post", r))}
    assert bad == {}


def test_what_the_decoder_accepts_beyond_the_firehose_fits_too() -> None:
    base = json.loads(firehose_values()[1])
    odd = [
        {**base, "extra": {"nested": [1, {"x": None}]}, "more": "fields"},
        {k: v for k, v in base.items() if k not in ("parent_id", "root_id")},
        {**base, "hashtags": [], "text": "", "lang": ""},
        {**base, "hashtags": ["", "Rust", "#rust"], "parent_id": -5, "root_id": 2**63 - 1},
    ]
    assert process.decode.decode([orjson.dumps(r) for r in odd]).rejects.is_empty()
    assert [errors("post", r) for r in odd] == [[]] * len(odd)


@functools.cache
def signal_rows() -> tuple[dict[str, Any], ...]:
    """Signal records as the signals topic carries them: truth over 2.5 minutes of posts
    (sixteen 10-s windows, trend scores past the warm-up), and 2 s of hopping windows."""
    posts = score(generate(FirehoseConfig(rate=200), 1, START, 20_000))
    hopping = score(generate(FirehoseConfig(rate=2000), 1, START, 2000))
    rows = []
    for signals in (
        truth_signals(posts, WindowSpec(10_000, 10_000, 5_000)),
        truth_signals(hopping, WindowSpec(1_000, 500, 0)),
    ):
        records = [r for columns in signal_records("signals", signals) for r in columns]
        for record, key in zip(records, signals["key"].to_list(), strict=True):
            assert record.topic == "signals" and record.key == key.encode()
            rows.append(json.loads(record.value))
    return tuple(rows)


def test_signal_rows_fit_the_signal_schema() -> None:
    rows = signal_rows()
    # every branch of the schema's conditions is exercised
    assert any(r["scored"] == 0 and r["sentiment_mean"] is None for r in rows)
    assert any(r["key"] == "*" and r["top_cascades"] for r in rows)
    assert any(r["key"] != "*" and r["top_cascades"] is None for r in rows)
    assert any(r["trend_score"] != 0 for r in rows)
    bad = {i: e for i, r in enumerate(rows) if (e := errors("signal", r))}
    assert bad == {}


def test_the_signal_schema_rejects_broken_rows() -> None:
    good = next(r for r in signal_rows() if r["key"] != "*" and r["scored"] > 0)
    stream = next(r for r in signal_rows() if r["key"] == "*")
    broken = [
        {**good, "sentiment_mean": None},  # scored > 0
        {**good, "scored": 0},  # scored 0 with a mean
        {**good, "top_cascades": []},  # not the stream key
        {**stream, "top_cascades": None},
        {**stream, "top_cascades": [{"root_id": 1, "reposts": 0, "size": 1, "depth": 0}]},
        {**good, "posts": 0},
        {**good, "positive_share": 1.5},
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "velocity"},
    ]
    assert [bool(errors("signal", r)) for r in broken] == [True] * len(broken)


# -- every dead-letter reason -------------------------------------------------------------

#: The reasons the decoder gives for what a JSON Schema can't see (each named in the post
#: schema's description); a record rejected for any other reason fails the schema.
BEYOND_SCHEMA = {
    "oversized",
    "empty",
    "invalid_utf8",
    "too_deep",
    "non_finite_number",
    "not_json",
    "lone_surrogate",
    "duplicate_key",
    "future:created_at",
}


def decoder_reasons() -> set[str]:
    """The reasons of the table in process/decode.py's docstring (``wrong_type:<field>``
    as ``wrong_type``)."""
    table = re.findall(
        r"^``([a-z0-9_]+(?::[a-z_]+)?)(?::<\w+>)?``", process.decode.__doc__ or "", re.M
    )
    return set(table)


def every_reason() -> dict[str, bytes]:
    """One record per dead-letter reason the decoder gives (per field where it names one)."""
    base = orjson.loads(firehose_values()[1])
    assert base["kind"] == "post" and base["parent_id"] is None

    def post(**changes: Any) -> bytes:
        return orjson.dumps({**base, **changes})

    def spliced(field: str, literal: bytes) -> bytes:
        return post(**{field: 7}).replace(f'"{field}":7'.encode(), f'"{field}":'.encode() + literal)

    records = {
        "oversized": post(pad="x" * BatchConfig().max_record_bytes),
        "empty": b"",
        "invalid_utf8": post(text="cafe").replace(b"cafe", b"caf\xe9"),
        "too_deep": spliced("extra", b"[" * 65 + b"]" * 65),
        "non_finite_number": spliced("extra", b"NaN"),
        "not_json": post()[:-1],
        "lone_surrogate": spliced("text", b'"\\ud800"'),
        "not_object": b"[1,2]",
        "duplicate_key": post()[:-1] + b',"post_id":7}',
        "invalid_kind": post(kind="retweet"),
        "future:created_at": post(created_at=2**62),
        "out_of_range:post_id": post(post_id=0),
        "out_of_range:author_id": post(author_id=0),
        "out_of_range:followers": post(followers=-1),
        "out_of_range:created_at": post(created_at=0),
        "out_of_range:parent_id": spliced("parent_id", b"9223372036854775808"),
        "out_of_range:root_id": spliced("root_id", b"-9223372036854775809"),
    }
    for name in POST_COLUMNS:
        wrong = '"7"' if name in INT_FIELDS else "5" if name in STR_FIELDS else '"x"'
        records[f"wrong_type:{name}"] = spliced(name, wrong.encode())
    for name in REQUIRED_COLUMNS:
        records[f"missing_field:{name}"] = orjson.dumps(
            {k: v for k, v in base.items() if k != name}
        )
    return records


def write_file(path: Path) -> tuple[dict[str, int], int]:
    """The reasons' records between valid ones; each reason's line number, and the number
    of valid records."""
    good = iter(firehose_values())
    lines, where = [next(good)], {}
    for reason, record in every_reason().items():
        where[reason] = len(lines) + 1
        lines += [record, next(good)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return where, len(lines) - len(where)


def test_the_file_holds_every_reason_of_the_decoder() -> None:
    families = decoder_reasons()
    assert {"oversized", "wrong_type", "future:created_at"} <= families
    assert {r if r in families else r.partition(":")[0] for r in every_reason()} == families


def test_the_post_schema_rejects_what_the_decoder_rejects_where_it_can() -> None:
    described = validator("post").schema["description"]
    assert [r for r in sorted(BEYOND_SCHEMA) if r not in described] == []
    for reason, record in every_reason().items():
        if reason not in BEYOND_SCHEMA:
            assert errors("post", json.loads(record)), reason


def test_validate_counts_every_reason_once(capsys: Capture, tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    where, valid = write_file(path)
    assert main(["validate", "--json", str(path)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert (out["valid"], out["rejected"], out["records"]) == (
        valid,
        len(where),
        valid + len(where),
    )
    assert {reason: got["count"] for reason, got in out["reasons"].items()} == dict.fromkeys(
        where, 1
    )
    assert {reason: got["line"] for reason, got in out["reasons"].items()} == where
    records = every_reason()
    for reason, got in out["reasons"].items():
        assert got["bytes"] == len(records[reason])
        shown = records[reason][:200].decode("utf-8", errors="backslashreplace")
        assert got["example"] == shown, reason


def test_validate_text_report(capsys: Capture, tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    where, valid = write_file(path)
    assert main(["validate", str(path)]) == 1
    head, *lines = capsys.readouterr().out.splitlines()
    assert head == f"{path}: {valid + len(where):,} records, {valid:,} valid, {len(where)} rejected"
    assert len(lines) == len(where)
    by_reason = {line.split()[0]: line for line in lines}
    assert set(by_reason) == set(where)
    assert f"1  line {where['invalid_utf8']}: " in by_reason["invalid_utf8"]
    assert "caf\\xe9" in by_reason["invalid_utf8"]
    assert by_reason["oversized"].endswith(f" ... ({len(every_reason()['oversized']):,} bytes)")


def test_validate_a_clean_file(capsys: Capture, tmp_path: Path) -> None:
    path = tmp_path / "posts.ndjson"
    path.write_bytes(b"\n".join(firehose_values()) + b"\n")
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: 2,000 records, 2,000 valid, 0 rejected\n"


def test_validate_reads_standard_input(capsys: Capture, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"\n".join([*firehose_values()[:5], b"[1]", b"{"])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["validate", "--json", "-"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["file"] == "-" and out["valid"] == 5
    assert {r: (v["count"], v["line"]) for r, v in out["reasons"].items()} == {
        "not_object": (1, 6),
        "not_json": (1, 7),
    }


def test_validate_a_missing_file_is_one_error_line(capsys: Capture, tmp_path: Path) -> None:
    missing = tmp_path / "nope.ndjson"
    assert main(["validate", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"datamoat validate: error: {missing}: no such file or named pipe (give an NDJSON "
        "file of posts, or - for standard input)"
    ]


def test_validate_counts_across_batches(capsys: Capture, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:  # fmt: skip
    path = tmp_path / "posts.ndjson"
    lines = [b"[1]" if i % 7 == 3 else v for i, v in enumerate(firehose_values()[:100])]
    path.write_bytes(b"\n".join(lines))
    monkeypatch.setenv("DATAMOAT_BATCH_MAX_RECORDS", "16")
    assert main(["validate", "--json", str(path)]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["reasons"] == {"not_object": {"count": 14, "line": 4, "bytes": 3, "example": "[1]"}}
    assert out["valid"] == 86
