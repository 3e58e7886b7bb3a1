"""A user's own dumps become datamoat posts (:mod:`ingest.dumps`): sorting, duplicates and
disorder, rejects with their reason and text, CSV with a mapping, X's v1.1 and v2 payloads
against hand-written expectations, and every post fit for the post contract."""

from __future__ import annotations

import bz2
import functools
import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from jsonschema import Draft202012Validator

from ingest.dumps import FIRST_POST_MS, REJECT_SCHEMA, Dump, parse_map, read_dump
from ingest.errors import ConfigError
from ingest.firehose import encode_values
from ingest.schema import POST_SCHEMA
from process.decode import decode
from process.validate import FIRST_POST_MS as DECODER_FIRST_POST_MS
from tests.support.common import START

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "dumps"
MAX_ID = 2**63 - 1


@functools.cache
def post_schema() -> Draft202012Validator:
    schema = json.loads((ROOT / "docs" / "schema" / "post.schema.json").read_text("utf-8"))
    return Draft202012Validator(schema)


def checked(dump: Dump) -> Dump:
    """The invariants of every dump: the schemas, nothing lost, and posts that fit the post
    JSON Schema and the pipeline's decoder once encoded as the firehose encodes posts."""
    assert dump.posts.schema == POST_SCHEMA
    assert dump.rejects.schema == REJECT_SCHEMA
    assert dump.posts.height + dump.rejects.height + dump.duplicates == dump.records
    assert dump.posts.get_column("post_id").is_unique().all()
    values = encode_values(dump.posts)
    for value in values:
        errors = [e.message for e in post_schema().iter_errors(json.loads(value))]
        assert errors == [], value
    assert decode(values).rejects.height == 0
    return dump


def write(tmp_path: Path, name: str, *records: Any) -> Path:
    """One line per record: a dict as JSON, a str as it is."""
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def post(post_id: Any, created_at: Any = START, **more: Any) -> dict[str, Any]:
    return {"post_id": post_id, "author_id": 7, "created_at": created_at, "text": "hi", **more}


def posts_json(dump: Dump) -> list[dict[str, Any]]:
    return [json.loads(v) for v in encode_values(dump.posts)]


@pytest.fixture(params=["json_decode", "json_path_match"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways a JSON record is read: decoded once against the plan's struct (the fast
    path), or path by path (the records the decoder refuses; here: every record)."""
    if request.param == "json_path_match":
        monkeypatch.setattr("ingest.dumps._Plan.dtype", lambda self: None)
    return str(request.param)


def expected(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# -- order, duplicates, disorder ------------------------------------------------------------


def test_sort_orders_the_posts_and_drops_counted_duplicates(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.ndjson",
        post(3, START + 30_000),
        post(1, START + 10_000),
        post(2, START + 30_000),
        post(1, START + 10_000, text="again"),
        post(4, START),
        post(3, START + 30_000),
    )
    dump = checked(read_dump(path, sort=True))
    assert dump.posts.select("post_id", "created_at").rows() == [
        (4, START),
        (1, START + 10_000),
        (2, START + 30_000),
        (3, START + 30_000),
    ]
    assert dump.posts.filter(pl.col("post_id") == 1).item(0, "text") == "hi"  # the first kept
    assert (dump.duplicates, dump.records, dump.rejects.height) == (2, 6, 0)
    assert dump.disorder == 0  # sorted: nothing would be late
    assert dump.max_disorder_ms == 30_000  # but the file was that far out of order


def test_without_sort_the_file_order_stays_and_disorder_past_the_lateness_counts(
    tmp_path: Path,
) -> None:
    times = [0, 10_000, 6_000, 4_000, 5_000, 20_000, 1, 20_000]
    path = write(tmp_path, "a.jsonl", *(post(i + 1, START + t) for i, t in enumerate(times)))
    dump = checked(read_dump(path))
    assert dump.posts.get_column("post_id").to_list() == list(range(1, 9))
    # Behind the latest so far: 4 s (kept), 6 s (late), exactly 5 s (kept), 19.999 s (late).
    assert (dump.disorder, dump.max_disorder_ms) == (2, 19_999)
    strict = read_dump(path, lateness_ms=0)
    assert (strict.disorder, strict.max_disorder_ms) == (4, 19_999)
    assert read_dump(path, lateness_ms=20_000).disorder == 0


def test_nothing_is_silently_lost(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mixed.ndjson",
        post(1),
        "",
        "   ",
        "{broken",
        post(1),
        post(2, "not a time"),
        [post(3), post(4), 5],
        post(5, START - 60_000),
    )
    dump = checked(read_dump(path))
    assert dump.records == 8  # blank lines are no records; the array holds three
    assert (dump.posts.height, dump.rejects.height, dump.duplicates) == (4, 3, 1)
    assert dump.disorder == 1


# -- rejects --------------------------------------------------------------------------------


def rec(*drop: str, **fields: Any) -> str:
    """A record as a JSON line: a valid post with ``fields`` changed and ``drop`` left out."""
    record = {"post_id": 1, "author_id": 7, "created_at": START, "text": "", **fields}
    return json.dumps({k: v for k, v in record.items() if k not in drop})


BAD: list[tuple[str, str]] = [
    ("not json", "not_json"),
    ('{"post_id": 1,}', "not_json"),
    ('"a string"', "not_object"),
    ("null", "not_object"),
    ("42", "not_object"),
    (rec("post_id"), "missing_field:post_id"),
    (rec(post_id=None), "missing_field:post_id"),
    (rec(post_id=0), "bad_id:post_id"),
    (rec(post_id=-5), "bad_id:post_id"),
    (rec(post_id=1.5), "bad_id:post_id"),
    (rec(post_id="12a"), "bad_id:post_id"),
    (rec(post_id=MAX_ID + 1), "bad_id:post_id"),
    (rec(post_id=True), "bad_id:post_id"),
    (rec("author_id"), "missing_field:author_id"),
    (rec(author_id=[7]), "bad_id:author_id"),
    (rec("created_at"), "missing_field:created_at"),
    (rec(created_at="  "), "missing_field:created_at"),
    (rec(created_at="yesterday"), "bad_time"),
    (rec(created_at="2026-02-30T00:00:00Z"), "bad_time"),
    (rec(created_at=1e300), "bad_time"),
    (rec(created_at=1000), "out_of_range:created_at"),
    (rec(created_at=-5), "out_of_range:created_at"),
    (rec(created_at="2006-03-20T23:59:59.999Z"), "out_of_range:created_at"),
    (rec(kind="retweet"), "invalid_kind"),
    (rec(parent_id="x"), "bad_id:parent_id"),
    (rec(root_id=0), "bad_id:root_id"),
    (rec("text"), "missing_field:text"),
    (rec(followers=-1), "bad_followers"),
    (rec(followers=2.5), "bad_followers"),
]


def test_bad_records_are_rejects_with_their_line_text_and_reason(tmp_path: Path) -> None:
    lines = [json.dumps(post(99))]
    for raw, _ in BAD:
        lines += [raw, ""]  # blank lines between: the line numbers are the file's
    path = tmp_path / "bad.ndjson"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")  # CRLF too
    dump = checked(read_dump(path))
    assert dump.posts.get_column("post_id").to_list() == [99]
    assert dump.rejects.rows() == [(2 + 2 * i, raw, why) for i, (raw, why) in enumerate(BAD)]


def test_good_and_bad_records_keep_their_order(tmp_path: Path, reader: str) -> None:
    records = [post(i) if i % 3 else "{oops" for i in range(1, 40)]
    dump = checked(read_dump(write(tmp_path, "mix.ndjson", *records)))
    assert dump.posts.get_column("post_id").to_list() == [i for i in range(1, 40) if i % 3]
    assert dump.rejects.get_column("line").to_list() == list(range(3, 40, 3))


def test_a_record_inside_an_array_is_rejected_with_its_own_text(tmp_path: Path) -> None:
    path = write(tmp_path, "a.json", post(1), [post(2), "x", post(3, "soon")])
    dump = checked(read_dump(path))
    assert dump.posts.get_column("post_id").to_list() == [1, 2]
    assert dump.rejects.rows() == [
        (2, '"x"', "not_object"),
        (2, '{"post_id":3,"author_id":7,"created_at":"soon","text":"hi"}', "bad_time"),
    ]


def test_a_line_that_is_not_utf8_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "a.ndjson"
    good = json.dumps(post(1)).encode()
    path.write_bytes(good + b'\n{"post_id": 2, "text": "\xff\xfe"}\n' + good.replace(b"1", b"3", 1))
    dump = checked(read_dump(path))
    assert dump.posts.get_column("post_id").to_list() == [1, 3]
    assert dump.rejects.rows() == [(2, '{"post_id": 2, "text": "\ufffd\ufffd"}', "invalid_utf8")]


# -- values ---------------------------------------------------------------------------------

TIMES: list[tuple[Any, int]] = [
    (1_767_225_600_123, 1_767_225_600_123),  # epoch ms
    ("1767225600123", 1_767_225_600_123),
    (1_767_225_600, 1_767_225_600_000),  # below 1e11: epoch seconds
    ("1767225600", 1_767_225_600_000),
    (1_767_225_600.5, 1_767_225_600_500),
    (1_767_225_600.0004, 1_767_225_600_000),
    ("2026-01-01T00:00:00Z", START),
    ("2026-01-01T00:00:00.000Z", START),
    ("2026-01-01T00:00:00.1Z", START + 100),
    ("2026-01-01T00:00:00.123456789Z", START + 123),
    ("2026-01-01 00:00:00", START),  # no offset: UTC
    ("2026-01-01T00:00", START),
    ("2026-01-01T02:00:00+02:00", START),
    ("2026-01-01T02:00:00.250+0200", START + 250),
    ("2025-12-31T19:30:00-04:30", START),
    ("2026-01-01T01:00:00+01", START),
    ("2026-01-01T00:00:00,5z", START + 500),
    ("Thu Jan 01 00:00:00 +0000 2026", START),
    ("Thu Jan 01 01:00:07 +0100 2026", START + 7_000),
    ("Mon Jan 1 00:00:00 +0000 2026", START),  # the weekday is not checked
    ("Jan 01 00:00:00 +0000 2026", START),
    ("2006-03-21T00:00:00Z", FIRST_POST_MS),
]


@pytest.mark.parametrize(("value", "ms"), TIMES, ids=[str(v) for v, _ in TIMES])
def test_times(tmp_path: Path, value: Any, ms: int) -> None:
    dump = checked(read_dump(write(tmp_path, "t.ndjson", post(1, value))))
    assert dump.posts.get_column("created_at").to_list() == [ms]


def test_ids_are_integers_or_decimal_strings(tmp_path: Path) -> None:
    records = [
        post(MAX_ID, parent_id=str(MAX_ID), root_id=" 5 "),
        post("1050118621198921728", author_id="007", followers="12", root_id=""),
        post(1, parent_id=None, followers=None, lang=None),
        post(2, lang="en-US"),
    ]
    dump = checked(read_dump(write(tmp_path, "ids.ndjson", *records)))
    assert dump.posts.select(
        "post_id", "author_id", "parent_id", "root_id", "followers"
    ).rows() == [
        (MAX_ID, 7, MAX_ID, 5, 0),
        (1050118621198921728, 7, None, None, 12),
        (1, 7, None, None, 0),
        (2, 7, None, None, 0),
    ]
    assert dump.posts.get_column("lang").to_list() == ["und", "und", "und", "en-us"]


HASHTAGS: list[tuple[dict[str, Any], list[str]]] = [
    ({"hashtags": ["Rust", "#rust", "RUST", "", "Polars"]}, ["rust", "polars"]),
    ({"hashtags": []}, []),
    ({"hashtags": "#Rust #Polars, kafka;rust|Éclair"}, ["rust", "polars", "kafka", "éclair"]),
    ({"hashtags": ['quo"te', "back\\slash"]}, ['quo"te', "back\\slash"]),
    (
        {"text": "Hello #World and #world, #2026 not, a#b not, &#39 not, #Zoë_2 yes"},
        ["world", "zoë_2"],
    ),
    ({"text": "#first then #Second.", "hashtags": None}, ["first", "second"]),
    ({"text": "#inText", "hashtags": ""}, ["intext"]),
    ({"text": "#inText", "hashtags": []}, []),
]


@pytest.mark.parametrize(("fields", "tags"), HASHTAGS)
def test_hashtags(tmp_path: Path, fields: dict[str, Any], tags: list[str], reader: str) -> None:
    dump = checked(read_dump(write(tmp_path, "h.ndjson", post(1) | fields)))
    assert dump.posts.get_column("hashtags").to_list() == [tags]


def test_kind_and_root_when_absent(tmp_path: Path) -> None:
    records = [
        post(1),
        post(2, parent_id=1),
        post(3, parent_id=2, root_id=1),
        post(4, kind="REPOST", parent_id=1),
        post(5, kind="post", parent_id=1),
        post(6, kind="quote"),
    ]
    dump = checked(read_dump(write(tmp_path, "k.ndjson", *records)))
    assert dump.posts.select("kind", "parent_id", "root_id").rows() == [
        ("post", None, None),
        ("reply", 1, 1),
        ("reply", 2, 1),
        ("repost", 1, 1),
        ("post", 1, None),
        ("quote", None, None),
    ]


def test_a_mapping_reads_other_names_and_nested_fields(tmp_path: Path, reader: str) -> None:
    record = {
        "uri": "42",
        "user": {"id": 9, "stats": {"followers": 1200}},
        "ts": "2026-01-01T00:00:00Z",
        "body": {"text": "hello #there"},
        "odd.key": "pt",
    }
    mapping = parse_map(
        "post_id=uri,author_id=user.id,created_at=ts,text=body.text,"
        "followers=user.stats.followers,lang=$['odd.key']"
    )
    dump = checked(read_dump(write(tmp_path, "m.jsonl", record), mapping=mapping))
    assert posts_json(dump) == [
        {
            "post_id": 42,
            "author_id": 9,
            "created_at": START,
            "kind": "post",
            "parent_id": None,
            "root_id": None,
            "text": "hello #there",
            "hashtags": ["there"],
            "lang": "pt",
            "followers": 1200,
        }
    ]


def test_a_whole_file_json_document_and_compressed_files(tmp_path: Path) -> None:
    records = [post(1), post(2, START + 1)]
    pretty = tmp_path / "all.json"
    pretty.write_text(json.dumps(records, indent=2), encoding="utf-8")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(post(1), indent=2), encoding="utf-8")
    gz = tmp_path / "all.ndjson.gz"
    gz.write_bytes(gzip.compress(write(tmp_path, "x.ndjson", *records).read_bytes()))
    bz = tmp_path / "all.jsonl.bz2"
    bz.write_bytes(bz2.compress(b"\xef\xbb\xbf" + (tmp_path / "x.ndjson").read_bytes()))
    for path in (pretty, gz, bz):
        dump = checked(read_dump(path))
        assert dump.posts.get_column("post_id").to_list() == [1, 2], path
    assert checked(read_dump(one)).posts.get_column("post_id").to_list() == [1]
    empty = tmp_path / "empty.ndjson"
    empty.write_text("\n\n", encoding="utf-8")
    assert checked(read_dump(empty)).records == 0


# -- CSV ------------------------------------------------------------------------------------

CSV = (
    "id,user,when,body,tags,reach,reply_to\r\n"
    '10,7,2026-01-01T00:00:00Z,"Hello, world","Rust,Polars",1200,\r\n'
    "\r\n"
    '11,8,1767225601,"two\r\nlines with ""quotes"" and a #tag",,0,10\r\n'
    "12,8,1767225602000,too,few\r\n"
    "13,9,1767225603000,,#x #Y,,10\r\n"
    "14,9,soon,x,,,\r\n"
    '15,9,1767225604000,"a ""quoted"" text","[""#One""]",5,\r\n'
)


def test_csv_with_a_map(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(CSV, encoding="utf-8")
    mapping = parse_map(
        "post_id=id, author_id=user, created_at=when, text=body, hashtags=tags,"
        " followers=reach, parent_id=reply_to"
    )
    dump = checked(read_dump(path, mapping=mapping))
    assert posts_json(dump) == [
        {
            "post_id": 10,
            "author_id": 7,
            "created_at": START,
            "kind": "post",
            "parent_id": None,
            "root_id": None,
            "text": "Hello, world",
            "hashtags": ["rust", "polars"],
            "lang": "und",
            "followers": 1200,
        },
        {
            "post_id": 11,
            "author_id": 8,
            "created_at": START + 1_000,
            "kind": "reply",
            "parent_id": 10,
            "root_id": 10,
            "text": 'two\nlines with "quotes" and a #tag',
            "hashtags": ["tag"],
            "lang": "und",
            "followers": 0,
        },
        {
            "post_id": 13,
            "author_id": 9,
            "created_at": START + 3_000,
            "kind": "reply",
            "parent_id": 10,
            "root_id": 10,
            "text": "",
            "hashtags": ["x", "y"],
            "lang": "und",
            "followers": 0,
        },
        {
            "post_id": 15,
            "author_id": 9,
            "created_at": START + 4_000,
            "kind": "post",
            "parent_id": None,
            "root_id": None,
            "text": 'a "quoted" text',
            "hashtags": ["one"],
            "lang": "und",
            "followers": 5,
        },
    ]
    assert dump.rejects.rows() == [
        (6, "12,8,1767225602000,too,few", "not_csv"),  # line 6: the record before has two
        (8, "14,9,soon,x,,,", "bad_time"),
    ]
    assert dump.records == 6


def test_csv_quoting_gone_wrong_is_rejected_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        "post_id,author_id,created_at,text\n"
        "1,7,1767225600,fine\n"
        '2,7,1767225600,"never closed\n'
        "3,7,1767225600,swallowed\n",
        encoding="utf-8",
    )
    dump = checked(read_dump(path))
    assert dump.posts.get_column("post_id").to_list() == [1]
    assert dump.rejects.rows() == [
        (3, '2,7,1767225600,"never closed\n3,7,1767225600,swallowed', "not_csv")
    ]


def test_csv_empty_or_only_a_header(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("\n", encoding="utf-8")
    header = tmp_path / "header.csv"
    header.write_text("post_id,author_id,created_at,text\n", encoding="utf-8")
    for path in (empty, header):
        dump = checked(read_dump(path))
        assert (dump.records, dump.posts.height, dump.max_disorder_ms) == (0, 0, 0)


def test_csv_without_a_required_column_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,author_id,created_at,text\n1,2,3,4\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"no column 'post_id' for post_id .*post_id=COLUMN"):
        read_dump(path)
    with pytest.raises(ConfigError, match="no column 'lang_code' to map lang from"):
        read_dump(path, mapping={"post_id": "id", "lang": "lang_code"})
    assert checked(read_dump(path, mapping={"post_id": "id"})).rejects.get_column(
        "reason"
    ).to_list() == ["out_of_range:created_at"]


# -- X presets ------------------------------------------------------------------------------


def test_x_v1_1_against_the_hand_written_posts(reader: str) -> None:
    dump = checked(read_dump(DATA / "x_v1_1.jsonl", preset="x-v1.1"))
    assert posts_json(dump) == expected("x_v1_1.expected.ndjson")
    assert (dump.records, dump.rejects.height, dump.duplicates, dump.disorder) == (5, 0, 0, 0)


def test_x_v2_against_the_hand_written_posts(reader: str) -> None:
    dump = checked(read_dump(DATA / "x_v2.json", preset="x-v2"))
    assert posts_json(dump) == expected("x_v2.expected.ndjson")
    # A search page lists the newest first: four of five are late in file order.
    assert (dump.records, dump.rejects.height, dump.duplicates, dump.disorder) == (5, 0, 0, 4)
    assert dump.max_disorder_ms == 1_637_049_839_000 - 1_637_003_285_000
    ordered = checked(read_dump(DATA / "x_v2.json", preset="x-v2", sort=True))
    assert posts_json(ordered) == expected("x_v2.expected.ndjson")[::-1]


def test_x_v2_one_tweet_or_one_response_per_line(tmp_path: Path, reader: str) -> None:
    page = json.loads((DATA / "x_v2.json").read_text("utf-8"))
    want = expected("x_v2.expected.ndjson")
    bare = write(tmp_path, "bare.jsonl", *page["data"])
    dump = checked(read_dump(bare, preset="x-v2"))
    assert posts_json(dump) == [p | {"followers": 0} for p in want]  # no includes: no reach
    stream = write(
        tmp_path,
        "stream.ndjson",
        *({"data": t, "includes": page["includes"], "matching_rules": []} for t in page["data"]),
        {"meta": {"result_count": 0}},  # an empty page: no records
        {"errors": [{"title": "Not Found Error"}]},  # no page: a record, and a reject
    )
    dump = checked(read_dump(stream, preset="x-v2"))
    assert posts_json(dump) == want
    assert dump.records == 6
    assert dump.rejects.select("line", "reason").rows() == [(7, "missing_field:post_id")]
    halves = [page | {"data": page["data"][:2]}, page | {"data": page["data"][2:]}]
    pages = tmp_path / "pages.json"
    pages.write_text(json.dumps(halves, indent=2, ensure_ascii=False), encoding="utf-8")
    assert posts_json(checked(read_dump(pages, preset="x-v2"))) == want


def test_x_v1_1_as_a_timeline_array_or_a_search_page(tmp_path: Path, reader: str) -> None:
    lines = (DATA / "x_v1_1.jsonl").read_text("utf-8").splitlines()
    tweets = [json.loads(line) for line in lines]
    want = expected("x_v1_1.expected.ndjson")
    timeline = tmp_path / "timeline.json"
    timeline.write_text(json.dumps(tweets, indent=1, ensure_ascii=False), encoding="utf-8")
    assert posts_json(checked(read_dump(timeline, preset="x-v1.1"))) == want
    search = write(tmp_path, "search.json", {"statuses": tweets, "search_metadata": {}})
    assert posts_json(checked(read_dump(search, preset="x-v1.1"))) == want


def test_a_mapping_overrides_a_preset_field(tmp_path: Path, reader: str) -> None:
    tweet = json.loads((DATA / "x_v1_1.jsonl").read_text("utf-8").splitlines()[0])
    path = write(tmp_path, "t.jsonl", tweet)
    dump = checked(read_dump(path, preset="x-v1.1", mapping={"followers": "user.listed_count"}))
    assert dump.posts.get_column("followers").to_list() == [1616]


# -- flags and errors -----------------------------------------------------------------------


def test_parse_map() -> None:
    assert parse_map(" post_id = id ,created_at=timestamp,author_id=user.id") == {
        "post_id": "id",
        "created_at": "timestamp",
        "author_id": "user.id",
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^--map: '' is not FIELD=SOURCE; write FIELD=SOURCE pairs"),
        ("post_id", r"^--map: 'post_id' is not FIELD=SOURCE"),
        ("post_id=", r"^--map: 'post_id=' is not FIELD=SOURCE"),
        ("=id", r"^--map: '=id' is not FIELD=SOURCE"),
        ("post_id=id,,text=body", r"^--map: '' is not FIELD=SOURCE"),
        ("id=post_id", r"^unknown datamoat field 'id' to map: the fields are post_id, author_id"),
        ("post_id=a,post_id=b", r"^--map: post_id is mapped twice"),
    ],
)
def test_parse_map_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        parse_map(text)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("a.txt", {}, r"can't tell the format of .*a\.txt from its extension"),
        ("a.ndjson", {"fmt": "xml"}, r"unknown dump format 'xml': use one of ndjson"),
        ("a.ndjson", {"preset": "x-v3"}, r"unknown preset 'x-v3': use one of x-v1.1, x-v2"),
        ("a.csv", {"preset": "x-v2"}, r"preset x-v2 reads JSON, but .* is read as CSV"),
        ("a.ndjson", {"fmt": "csv", "preset": "x-v1.1"}, r"preset x-v1.1 reads JSON"),
        ("a.ndjson", {"lateness_ms": -1}, r"lateness_ms must be >= 0, not -1"),
        ("a.ndjson", {"mapping": {"id": "x"}}, r"unknown datamoat field 'id'"),
        ("a.ndjson", {"mapping": {"text": " "}}, r"text is mapped to an empty name"),
        ("a.ndjson", {"mapping": {"text": "$["}}, r"'\$\[' \(for text\) is no JSON path"),
        ("missing.ndjson", {}, r"can't read the dump .*missing\.ndjson: No such file"),
        ("bad.ndjson.gz", {}, r"can't (read|decompress) the dump .*bad\.ndjson\.gz"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(
    tmp_path: Path, name: str, kwargs: dict[str, Any], message: str
) -> None:
    path = tmp_path / name
    if name != "missing.ndjson":
        path.write_text("not gzip\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as raised:
        read_dump(path, **kwargs)
    assert "\n" not in str(raised.value)


def test_fmt_overrides_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "posts.txt"
    path.write_text("post_id,author_id,created_at,text\n1,2,1767225600,hi\n", encoding="utf-8")
    assert checked(read_dump(path, fmt="csv")).posts.get_column("post_id").to_list() == [1]
    write(tmp_path, "posts.csv", post(1))
    dump = checked(read_dump(tmp_path / "posts.csv", fmt="jsonl"))
    assert dump.posts.get_column("post_id").to_list() == [1]


def test_the_first_post_is_the_decoders() -> None:
    assert FIRST_POST_MS == DECODER_FIRST_POST_MS
