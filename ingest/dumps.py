"""Read a user's own dump of posts (NDJSON or CSV, or X's API payloads) into datamoat posts.

:func:`read_dump` reads one file and returns a :class:`Dump`: every record of the file ends
up either as a row of ``posts`` (exactly :data:`ingest.schema.POST_SCHEMA`), as a row of
``rejects`` (where it was, its text, and why it can't be a post), or in the ``duplicates``
count, so ``posts.height + rejects.height + duplicates == records``. All of it is
vectorised: JSON records are decoded by ``str.json_decode`` against a struct of just the
fields read (halving the batch around a record that does not fit it: not JSON, or a field
of another shape; such records are read path by path by ``str.json_path_match``), CSV by
one ``pl.read_csv`` call, and every value is parsed, checked and normalised by expressions
over whole columns. Python touches single records only to split a JSON document that
holds several (a JSON array, or an API response's page of tweets), and to find the bad
lines of a file that is not valid UTF-8.

Formats (from the file's extension, ``.gz``/``.bz2`` compression included, or ``fmt``):

``ndjson`` (``.ndjson``, ``.jsonl``, ``.json``)
    One JSON object per line; blank lines are not records. A line holding a JSON array is
    read as the records it holds, and so is a whole file that is one (pretty-printed) JSON
    document: an array, or a single object. A record's ``line`` is the line where it starts
    (for a record inside an array or a page: where that array or page starts).
``csv`` (``.csv``)
    Comma-separated, a header row first, fields quoted with ``"`` (``""`` inside quotes
    is a quote; quoted fields may hold commas and newlines). An unquoted empty field is
    missing (an empty text is ``""``). A record ends at a newline outside quotes: a stray
    quote inside an unquoted field runs the record on to the next quote, and the lines it
    swallowed become one ``not_csv`` reject.

Fields (datamoat field <- the source field of the same name, unless ``mapping`` or a preset
says otherwise; for JSON a source name is a dotted path, ``user.id``, or a JSONPath that
starts with ``$``):

============  ==================================================================================
post_id       required; an integer or a decimal string in 1..2^63-1
author_id     required; same
created_at    required; epoch milliseconds, epoch seconds (any number below 1e11, i.e. before
              5138 in seconds or 1973 in ms, is seconds; fractions are rounded to the ms),
              ISO-8601 (``2022-03-01T12:34:56.000Z``, ``+02:00``/``+0200``/``+02`` offsets,
              ``T`` or a space, any number of fraction digits: cut to ms; no offset: UTC)
              or X's v1.1 ``Wed Oct 10 20:19:24 +0000 2018`` (the weekday is not checked).
              It must be on or after X's first post, 2006-03-21T00:00:00Z.
kind          optional: post/repost/reply/quote (any case); absent: ``reply`` when the record
              has a parent, else ``post``
parent_id     optional id (null for none)
root_id       optional id; absent on a child (a record with a parent that is not a
              ``post``): the parent
text          required (a string; any JSON value is taken as its text)
hashtags      optional: a JSON array of strings, or one string of words separated by
              spaces, commas, semicolons or ``|``; absent: the ``#words`` of the text (at
              least one non-digit, not preceded by a letter, digit, ``_`` or ``&``). Always
              lower-cased, leading ``#`` removed, empty and repeated tags dropped, order kept.
lang          optional, lower-cased (``en-US`` -> ``en-us``); absent: ``und``
followers     optional integer >= 0; absent: 0
============  ==================================================================================

Blank values (empty, or only spaces) count as absent, except for ``text``.

Presets (``preset``; JSON only; a ``mapping`` entry still overrides a field). Their hashtags
come from the entities only (none there: none), never from the text.

``x-v1.1``
    X/Twitter API v1.1 Tweet objects, one per line, or in a JSON array (a timeline) or a
    search page's ``statuses``. post_id ``id_str`` (else ``id``); author_id ``user.id_str``
    (else ``user.id``); created_at ``created_at``; text ``extended_tweet.full_text``, else
    ``full_text``, else ``text``; hashtags ``entities.hashtags[].text`` (of
    ``extended_tweet`` when present); lang ``lang``; followers ``user.followers_count``.
    Kind, first that applies: ``retweeted_status`` -> repost, parent = root = its id;
    ``in_reply_to_status_id`` -> reply, parent = root = that id (v1.1 does not say the
    thread's root, so the parent stands in for it); ``quoted_status_id`` -> quote, parent =
    root = that id; else post.
``x-v2``
    X API v2 Tweet objects: a response's ``data`` (an array, or one object as the filtered
    stream sends it), one response per line, per file or in a JSON array, or bare Tweet
    objects one per line. post_id ``id``; author_id ``author_id``; created_at ``created_at``; text
    ``note_tweet.text``, else ``text``; hashtags ``entities.hashtags[].tag`` (of
    ``note_tweet`` when present); lang ``lang``; followers: v2 Tweets carry none, so the
    ``public_metrics.followers_count`` of the author in the same response's
    ``includes.users``, else 0. Kind from ``referenced_tweets``, first that applies:
    ``retweeted`` -> repost, parent = root = its id; ``replied_to`` -> reply, parent = its
    id, root = ``conversation_id`` (else the parent); ``quoted`` -> quote, parent = root =
    its id; else post.

Rejects (``reason``; the first that applies, in this order):

===========================  ======================================================================
``invalid_utf8``             the line is not valid UTF-8 (``raw`` has U+FFFD for the bad bytes)
``not_json``                 not a JSON document
``not_object``               valid JSON, but not an object (nor an array of them)
``not_csv``                  a CSV record with the wrong number of fields, bad quoting, or an
                             unterminated quote at the end of the file
``missing_field:<f>``        post_id, author_id, created_at or text absent
``bad_id:<f>``               post_id, author_id, parent_id or root_id not an integer in
                             1..2^63-1
``bad_time``                 created_at is none of the time formats above (or past int64)
``out_of_range:created_at``  created_at before 2006-03-21T00:00:00Z (X's first post)
``invalid_kind``             kind not one of post/repost/reply/quote
``bad_followers``            followers not an integer in 0..2^63-1
===========================  ======================================================================

Duplicates: a valid record whose post_id an earlier valid record of the file already has
is dropped and counted (the first one is kept); the whole file is the horizon. Disorder:
``max_disorder_ms`` is how far the file's posts (duplicates dropped, in file order) go back
behind the latest ``created_at`` before them; without ``sort``, ``disorder`` counts the
posts more than ``lateness_ms`` behind it: what the pipeline, with that allowed lateness,
would count as late. With ``sort`` the posts come out ordered by (created_at, post_id) and
``disorder`` is 0. The clock is never read: a post from the future is kept.
"""

from __future__ import annotations

import bz2
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import polars as pl

from ingest.errors import ConfigError
from ingest.schema import KINDS, POST_COLUMNS, POST_SCHEMA

__all__ = [
    "FIRST_POST_MS",
    "FORMATS",
    "PRESETS",
    "REJECT_SCHEMA",
    "Dump",
    "parse_map",
    "read_dump",
]

#: The formats ``fmt`` may name (the three JSON names are one format: JSON lines).
FORMATS: Final[tuple[str, ...]] = ("ndjson", "jsonl", "json", "csv")
#: The presets ``preset`` may name.
PRESETS: Final[tuple[str, ...]] = ("x-v1.1", "x-v2")
#: The columns of :attr:`Dump.rejects`.
REJECT_SCHEMA: Final[pl.Schema] = pl.Schema(
    {"line": pl.Int64(), "raw": pl.String(), "reason": pl.String()}
)
#: 2006-03-21T00:00:00Z, the day of X's first post (``process.validate.FIRST_POST_MS``).
FIRST_POST_MS: Final = 1_142_899_200_000

_EXTENSIONS: Final = {".ndjson": "ndjson", ".jsonl": "ndjson", ".json": "ndjson", ".csv": "csv"}
_REQUIRED: Final = ("post_id", "author_id", "created_at", "text")
_IDS: Final = ("post_id", "author_id", "parent_id", "root_id")
#: Source columns besides the fields: the record's followers from elsewhere in its document.
_SIDE: Final = "_followers"
#: A preset's pages (API responses): a document with any of these keys, its records under
#: the first (a v2 response with ``meta`` but no ``data`` is an empty page).
_PAGES: Final = {"x-v1.1": ("statuses",), "x-v2": ("data", "meta")}

_ID_RE: Final = r"^\d{1,19}$"
_INT_RE: Final = r"^-?\d{1,19}$"
_NUMBER_RE: Final = r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$"
_ISO_RE: Final = (
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<hm>\d{2}:\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d+))?)?"
    r"\s*(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
)
_X_TIME_RE: Final = (
    r"^(?:[A-Za-z]{3},?\s+)?(?P<mon>[A-Za-z]{3})\s+(?P<day>\d{1,2})\s+"
    r"(?P<time>\d{2}:\d{2}:\d{2})\s+(?P<off>[+-]\d{4})\s+(?P<year>\d{4})$"
)
_SECONDS_BELOW: Final = 100_000_000_000  # 1e11
#: The fewest records a JSON decode that failed is retried on before they are read path by
#: path (halving further costs more calls than it saves).
_LEAF: Final = 32
#: A hashtag in a text: '#' not after a word character or '&', one non-digit at least.
_TEXT_TAG_RE: Final = r"(?:^|[^\w&#])#\w*[^\W\d]\w*"
_JSON_STRING_RE: Final = r'"(?:[^"\\]|\\.)*"'
#: One CSV record, RFC 4180 (fields plain or quoted, comma-separated).
_CSV_FIELD: Final = r'(?:[^",]*|"(?:[^"]|"")*")'
_CSV_RECORD_RE: Final = rf"^{_CSV_FIELD}(?:,{_CSV_FIELD})*$"


@dataclass(frozen=True, slots=True)
class Dump:
    """One file read: ``posts`` (POST_SCHEMA, file order or sorted), ``rejects``
    (:data:`REJECT_SCHEMA`: the record's 1-based ``line``, its ``raw`` text and the
    ``reason``, in file order), ``duplicates`` (records dropped for a post_id seen before),
    ``disorder`` (posts later than the allowed lateness; 0 when sorted), ``max_disorder_ms``
    (the file's worst lateness, sorted or not) and ``records`` (everything read:
    ``posts.height + rejects.height + duplicates``)."""

    posts: pl.DataFrame
    rejects: pl.DataFrame
    duplicates: int
    disorder: int
    max_disorder_ms: int
    records: int


def parse_map(text: str) -> dict[str, str]:
    """``post_id=id,created_at=timestamp`` (a ``--map`` flag) as {datamoat field: source}."""
    how = "write FIELD=SOURCE pairs separated by commas, e.g. post_id=id,created_at=timestamp"
    mapping: dict[str, str] = {}
    for item in text.split(","):
        field, sep, source = (part.strip() for part in item.partition("="))
        if not sep or not field or not source:
            raise ConfigError(f"--map: {item.strip()!r} is not FIELD=SOURCE; {how}")
        _check_field(field)
        if field in mapping:
            raise ConfigError(f"--map: {field} is mapped twice; map each field once")
        mapping[field] = source
    return mapping


def read_dump(
    path: Path,
    *,
    fmt: str | None = None,
    preset: str | None = None,
    mapping: dict[str, str] | None = None,
    sort: bool = False,
    lateness_ms: int = 5_000,
) -> Dump:
    """Read the dump at ``path`` (see the module's docstring for formats, fields, presets
    and reasons)."""
    fmt_ = _format(path, fmt)
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}: use one of {', '.join(PRESETS)}")
    if preset is not None and fmt_ == "csv":
        raise ConfigError(f"preset {preset} reads JSON, but {path} is read as CSV")
    mapping = dict(mapping or {})
    for field, name in mapping.items():
        _check_field(field)
        if not name.strip():
            raise ConfigError(f"mapping: {field} is mapped to an empty name")
        if fmt_ != "csv":
            try:
                pl.Series([""]).str.json_path_match(_path(name))
            except pl.exceptions.ComputeError:
                raise ConfigError(f"mapping: {name!r} (for {field}) is no JSON path") from None
    if lateness_ms < 0:
        raise ConfigError(f"lateness_ms must be >= 0, not {lateness_ms}")
    text, bad_lines = _read_text(path)
    if fmt_ == "csv":
        records, source = _csv(text, bad_lines, path, mapping)
    else:
        records = _json_records(text, bad_lines)
        records, source = _json_sources(records, preset, _Plan.of(preset, mapping))
    return _finish(_convert(records, source), sort, lateness_ms)


# -- reading ----------------------------------------------------------------------------------


def _check_field(field: str) -> None:
    if field not in POST_COLUMNS:
        raise ConfigError(
            f"unknown datamoat field {field!r} to map: the fields are {', '.join(POST_COLUMNS)}"
        )


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        if fmt.lower() not in FORMATS:
            raise ConfigError(f"unknown dump format {fmt!r}: use one of {', '.join(FORMATS)}")
        return "csv" if fmt.lower() == "csv" else "ndjson"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".bz2"):
        suffixes.pop()
    found = _EXTENSIONS.get(suffixes[-1] if suffixes else "")
    if found is None:
        raise ConfigError(
            f"can't tell the format of {path} from its extension: name it .ndjson, .jsonl, "
            f".json or .csv, or give the format (ndjson or csv)"
        )
    return found


def _read_text(path: Path) -> tuple[str, list[int]]:
    """The file's text (decompressed, without a byte-order mark) and the 1-based numbers of
    its lines that are not valid UTF-8 (decoded with U+FFFD for the bad bytes)."""
    try:
        data = path.read_bytes()
        suffix = path.suffix.lower()
        if suffix == ".gz":
            data = gzip.decompress(data)
        elif suffix == ".bz2":
            data = bz2.decompress(data)
    except OSError as e:  # gzip.BadGzipFile is an OSError too
        raise ConfigError(f"can't read the dump {path}: {e.strerror or e}") from None
    except (EOFError, ValueError) as e:
        raise ConfigError(f"can't decompress the dump {path}: {e}") from None
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:  # rare: find the bad lines one by one
        bad = [i for i, line in enumerate(data.split(b"\n"), 1) if not _is_utf8(line)]
        return data.decode("utf-8", errors="replace"), bad


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _lines(text: str, bad_lines: list[int]) -> pl.DataFrame:
    """line (1-based), raw (without its line break) and reason (invalid_utf8, else null)."""
    lines = pl.Series("raw", [text], dtype=pl.String).str.split("\n").explode()
    if lines.len() and lines[-1] == "":
        lines = lines.head(-1)
    line = pl.int_range(1, lines.len() + 1, dtype=pl.Int64, eager=True).alias("line")
    frame = pl.DataFrame([line, lines])
    bad = pl.Series(bad_lines, dtype=pl.Int64).implode()
    return frame.with_columns(
        pl.col("raw").str.strip_suffix("\r"),
        pl.when(pl.col("line").is_in(bad)).then(pl.lit("invalid_utf8")).alias("reason"),
    )


# -- JSON -------------------------------------------------------------------------------------


def _json_records(text: str, bad_lines: list[int]) -> pl.DataFrame:
    """line, raw, reason: one row per non-blank line, or one for a whole-file document."""
    lines = _lines(text, bad_lines).filter(pl.col("raw").str.strip_chars() != "")
    if lines.height > 1 and not bad_lines and not _is_json(lines.item(0, "raw")):
        body = text.strip()
        if _is_json(body):  # one document over several lines (pretty-printed)
            return lines.head(1).with_columns(pl.lit(body).alias("raw"))
    return lines


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _json_sources(
    records: pl.DataFrame, preset: str | None, plan: _Plan
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The records (arrays and pages split into theirs) and their source fields."""
    records = records.with_columns(pl.lit(None, pl.String).alias(_SIDE))
    source = _extract(records, plan)
    # A record without a post_id may be no record at all: not JSON, or several records.
    doubtful = source.get_column("post_id").is_null() & records.get_column("reason").is_null()
    if not doubtful.any():
        return records, source
    index = pl.int_range(records.height, dtype=pl.Int64, eager=True)
    at = index.filter(doubtful)
    raw = records.get_column("raw").filter(doubtful)
    doc = raw.str.json_path_match("$")
    scalar = (doc.is_not_null() & ~doc.str.contains(r"^[\[{]")) | (raw.str.strip_chars() == "null")
    found = pl.select(
        pl.when(scalar).then(pl.lit("not_object")).when(doc.is_null()).then(pl.lit("not_json"))
    ).to_series()
    records = records.with_columns(records.get_column("reason").scatter(at, found))
    many = doc.str.starts_with("[")
    pages = _PAGES.get(preset or "", ())
    for key in pages:
        many |= doc.str.json_path_match(_path(key)).is_not_null()
    if not many.any():
        return records, source
    split = at.filter(many)
    parts = _split(
        records.get_column("line").gather(split).to_list(), raw.filter(many).to_list(), pages
    )
    order = pl.DataFrame(
        {"_at": split.gather(parts.pop("_of")), "_sub": parts.pop("_sub")},
        schema={"_at": pl.Int64, "_sub": pl.Int64},
    )
    found_records = pl.DataFrame(parts, schema=records.schema)
    keep = ~index.is_in(split.implode())
    records = pl.concat([records.filter(keep), found_records])
    source = pl.concat([source.filter(keep), _extract(found_records, plan)])
    kept = pl.DataFrame(
        {"_at": index.filter(keep), "_sub": pl.repeat(0, int(keep.sum()), eager=True)}
    )
    ranks = (
        pl.concat([kept, order], how="vertical_relaxed")
        .with_row_index("_i")
        .sort("_at", "_sub")
        .get_column("_i")
    )
    return records.select(pl.all().gather(ranks)), source.select(pl.all().gather(ranks))


def _split(lines: list[int], raws: list[str], pages: tuple[str, ...]) -> dict[str, list[Any]]:
    """The records inside JSON arrays and pages (a Python loop: polars can't split them)."""
    out: dict[str, list[Any]] = {n: [] for n in ("line", "raw", "reason", _SIDE, "_of", "_sub")}
    for k, (line, raw) in enumerate(zip(lines, raws, strict=True)):
        for sub, (item, followers) in enumerate(_records_of(_loads(raw), pages), 1):
            author = item.get("author_id") if isinstance(item, dict) else None
            out["line"].append(line)
            out["raw"].append(_dumps(item))
            out["reason"].append(None if isinstance(item, dict) else "not_object")
            out[_SIDE].append(followers.get(str(author)))
            out["_of"].append(k)
            out["_sub"].append(sub)
    return out


def _records_of(doc: Any, pages: tuple[str, ...]) -> list[tuple[Any, dict[str, str]]]:
    """The records a document holds (an array: its items, pages among them split too; a
    page: its records), each with the follower counts its page includes."""
    if isinstance(doc, list):
        return [
            pair
            for item in doc
            for pair in (_records_of(item, pages) if _is_page(item, pages) else [(item, {})])
        ]
    if _is_page(doc, pages):
        items = doc.get(pages[0])
        followers = _included_followers(doc)
        listed = [] if items is None else items if isinstance(items, list) else [items]
        return [(item, followers) for item in listed]
    return [(doc, {})]


def _is_page(doc: Any, pages: tuple[str, ...]) -> bool:
    return isinstance(doc, dict) and any(key in doc for key in pages)


def _loads(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:  # what polars reads but orjson does not: integers past u64
        return json.loads(raw)


def _dumps(item: Any) -> str:
    try:
        return orjson.dumps(item).decode()
    except TypeError:  # an integer past u64, read by the json module
        return json.dumps(item, ensure_ascii=False, separators=(",", ":"))


def _included_followers(doc: dict[str, Any]) -> dict[str, str]:
    """User id -> followers_count, from an X API v2 response's ``includes.users``."""
    includes = doc.get("includes")
    users = includes.get("users") if isinstance(includes, dict) else None
    found: dict[str, str] = {}
    for user in users if isinstance(users, list) else []:
        metrics = user.get("public_metrics") if isinstance(user, dict) else None
        count = metrics.get("followers_count") if isinstance(metrics, dict) else None
        if count is not None:
            found[str(user.get("id"))] = str(count)
    return found


def _path(source: str) -> str:
    """A source name as a JSONPath: ``user.id`` -> ``$['user']['id']``; ``$...`` as is."""
    if source.startswith("$"):
        return source
    return "$" + "".join(f"['{part}']" for part in source.split("."))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What to pull out of each JSON record. ``strings``: source column -> paths (dotted
    names or JSONPaths), the first non-null wins, any scalar read as its text; ``lists``:
    column -> (paths, keys), an array of objects read as a list of structs of those keys
    (hashtag entities, referenced tweets); ``loose``: column -> path, read as text
    whatever its shape (a JSON array comes as its JSON text)."""

    strings: dict[str, tuple[str, ...]]
    lists: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]
    loose: dict[str, str]

    @staticmethod
    def of(preset: str | None, mapping: dict[str, str]) -> _Plan:
        base = _PLANS.get(preset or "", _GENERIC)
        strings, lists, loose = dict(base.strings), dict(base.lists), dict(base.loose)
        for field, name in mapping.items():
            if field == "hashtags":
                loose["hashtags"] = name
                lists.pop("_tags", None)
            else:
                strings[field] = (name,)
        return _Plan(strings, lists, loose)

    def dtype(self) -> pl.Struct | None:
        """The struct one ``json_decode`` reads the strings and lists with; None when the
        paths can't make one (a JSONPath, or a path that is also another's parent)."""
        tree: dict[str, Any] = {}
        leaves: list[tuple[str, pl.DataType]] = [
            (p, pl.String()) for paths in self.strings.values() for p in paths
        ]
        for paths, keys in self.lists.values():
            entry = pl.List(pl.Struct({k: pl.String() for k in keys}))
            leaves += [(p, entry) for p in paths]
        for path, dtype in leaves:
            if path.startswith("$"):
                return None
            *parents, leaf = path.split(".")
            node = tree
            for part in parents:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    return None
            if node.get(leaf, dtype) != dtype:
                return None
            node[leaf] = dtype
        return _struct(tree)


def _struct(tree: dict[str, Any]) -> pl.Struct:
    return pl.Struct({k: _struct(v) if isinstance(v, dict) else v for k, v in tree.items()})


_GENERIC: Final = _Plan(
    strings={f: (f,) for f in POST_COLUMNS if f != "hashtags"},
    lists={},
    loose={"hashtags": "hashtags"},
)
_PLANS: Final = {
    "x-v1.1": _Plan(
        strings={
            "post_id": ("id_str", "id"),
            "author_id": ("user.id_str", "user.id"),
            "created_at": ("created_at",),
            "text": ("extended_tweet.full_text", "full_text", "text"),
            "lang": ("lang",),
            "followers": ("user.followers_count",),
            "_repost": ("retweeted_status.id_str", "retweeted_status.id"),
            "_reply": ("in_reply_to_status_id_str", "in_reply_to_status_id"),
            "_quote": ("quoted_status_id_str", "quoted_status_id"),
        },
        lists={"_tags": (("extended_tweet.entities.hashtags", "entities.hashtags"), ("text",))},
        loose={},
    ),
    "x-v2": _Plan(
        strings={
            "post_id": ("id",),
            "author_id": ("author_id",),
            "created_at": ("created_at",),
            "text": ("note_tweet.text", "text"),
            "lang": ("lang",),
            "_conversation": ("conversation_id",),
        },
        lists={
            "_tags": (("note_tweet.entities.hashtags", "entities.hashtags"), ("tag",)),
            "_refs": (("referenced_tweets",), ("type", "id")),
        },
        loose={},
    ),
}


def _extract(records: pl.DataFrame, plan: _Plan) -> pl.DataFrame:
    """The source value of every field of every record: strings, except hashtags, a list
    when a preset reads them from entities. Each record is parsed once by ``json_decode``
    when it fits the plan's struct; the rest (not JSON, or a field of another shape) are
    read path by path with ``json_path_match`` (a duplicated key: the decoder takes the
    first, the path reader the last)."""
    raw = records.get_column("raw")
    dtype = plan.dtype()
    if dtype is not None:
        decoded, slow = _decode(raw, dtype)
        read = _read_decoded(decoded, plan)
        if slow.any():
            index = pl.int_range(raw.len(), dtype=pl.Int64, eager=True).alias("_i")
            rest = _read_paths(raw.filter(slow), plan).with_columns(index.filter(slow))
            read = pl.concat([read.with_columns(index).filter(~slow), rest]).sort("_i").drop("_i")
    else:
        read = _read_paths(raw, plan)
    loose = records.select(
        pl.col("raw").str.json_path_match(_path(p)).alias(c) for c, p in plan.loose.items()
    )
    read = pl.concat([read, loose, records.select(_SIDE)], how="horizontal")
    return _fields(read, plan)


def _decode(raw: pl.Series, dtype: pl.Struct) -> tuple[pl.Series, pl.Series]:
    """The records decoded against ``dtype`` in as few calls as possible: a part that does
    not decode is halved, down to :data:`_LEAF` records, left null and marked in the mask
    returned (for the path reader)."""
    pieces: list[tuple[pl.Series, bool]] = []

    def part(start: int, length: int) -> None:
        try:
            pieces.append((raw.slice(start, length).str.json_decode(dtype), False))
            return
        except pl.exceptions.PolarsError:
            pass
        if length <= _LEAF:
            pieces.append((pl.repeat(None, length, dtype=dtype, eager=True), True))
            return
        half = length // 2
        part(start, half)
        part(start + half, length - half)

    if raw.len() == 0:
        return pl.Series([], dtype=dtype), pl.Series([], dtype=pl.Boolean)
    part(0, raw.len())
    decoded = pl.concat([piece for piece, _ in pieces])
    slow = pl.concat([pl.repeat(bad, p.len(), dtype=pl.Boolean, eager=True) for p, bad in pieces])
    return decoded, slow


def _read_decoded(decoded: pl.Series, plan: _Plan) -> pl.DataFrame:
    def at(path: str) -> pl.Expr:
        expr = pl.col("_d")
        for part in path.split("."):
            expr = expr.struct.field(part)
        return expr

    columns = {c: pl.coalesce(at(p) for p in paths) for c, paths in plan.strings.items()}
    columns |= {c: pl.coalesce(at(p) for p in paths) for c, (paths, _) in plan.lists.items()}
    return decoded.alias("_d").to_frame().select(**columns)


def _read_paths(raw: pl.Series, plan: _Plan) -> pl.DataFrame:
    def at(path: str) -> pl.Expr:
        return pl.col("raw").str.json_path_match(_path(path))

    columns = {c: pl.coalesce(at(p) for p in paths) for c, paths in plan.strings.items()}
    for column, (paths, keys) in plan.lists.items():
        item = pl.element().str.json_path_match
        entry = pl.struct([item(_path(k)).alias(k) for k in keys])
        objects = pl.coalesce(at(p) for p in paths).str.extract_all(r"\{[^{}]*\}")
        columns[column] = objects.list.eval(entry)
    return raw.alias("raw").to_frame().select(**columns)


def _fields(read: pl.DataFrame, plan: _Plan) -> pl.DataFrame:
    """POST_COLUMNS from the columns read: what the plan names as is; for a preset, kind,
    parent and root from the referenced posts, hashtags from the entities, and (v2)
    followers from the record's document."""
    if "_refs" in read.columns:
        kinds = (("_repost", "retweeted"), ("_reply", "replied_to"), ("_quote", "quoted"))
        read = read.with_columns(_referenced(pl.col("_refs"), t).alias(c) for c, t in kinds)
    derived: dict[str, pl.Expr] = {"followers": pl.col(_SIDE)}
    if "_repost" in read.columns:
        repost, reply, quote = pl.col("_repost"), pl.col("_reply"), pl.col("_quote")
        parent = pl.coalesce(repost, reply, quote)
        root = parent
        if "_conversation" in read.columns:
            thread = pl.coalesce("_conversation", "_reply")
            root = pl.when(repost.is_null() & reply.is_not_null()).then(thread).otherwise(parent)
        derived["kind"] = (
            pl.when(repost.is_not_null())
            .then(pl.lit("repost"))
            .when(reply.is_not_null())
            .then(pl.lit("reply"))
            .when(quote.is_not_null())
            .then(pl.lit("quote"))
            .otherwise(pl.lit("post"))
        )
        derived |= {"parent_id": parent, "root_id": root}
    if "_tags" in plan.lists:
        key = plan.lists["_tags"][1][0]
        tags = pl.col("_tags").list.eval(pl.element().struct.field(key))
        derived["hashtags"] = tags.fill_null(pl.lit([], pl.List(pl.String)))
    named = plan.strings.keys() | plan.loose.keys()
    return read.select(pl.col(f) if f in named else derived[f].alias(f) for f in POST_COLUMNS)


def _referenced(refs: pl.Expr, kind: str) -> pl.Expr:
    """The id of the first of the referenced tweets of type ``kind``."""
    field = pl.element().struct.field
    return (
        refs.list.eval(pl.when(field("type") == kind).then(field("id")))
        .list.drop_nulls()
        .list.first()
    )


# -- CSV --------------------------------------------------------------------------------------


def _csv(
    text: str, bad_lines: list[int], path: Path, mapping: dict[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    lines = _lines(text, bad_lines)
    quotes = pl.col("raw").str.count_matches('"', literal=True)
    ends = (quotes.cum_sum() % 2) == 0  # no quote left open at the end of this line
    records = (
        lines.with_columns(ends.alias("_end"))
        .with_columns(pl.col("_end").cast(pl.Int64).cum_sum().shift(1, fill_value=0).alias("_r"))
        .group_by("_r", maintain_order=True)
        .agg(
            pl.col("line").first(),
            pl.col("raw").str.join("\n"),
            pl.col("reason").drop_nulls().first(),
            pl.col("_end").last(),
        )
    )
    records = records.filter(pl.col("raw").str.strip_chars() != "")
    if records.height == 0:
        nothing = pl.DataFrame(schema={f: pl.String for f in POST_COLUMNS})
        return records.select("line", "raw", "reason"), nothing
    header = records.head(1)
    if not header.item(0, "_end") or header.item(0, "reason") is not None:
        raise ConfigError(f"can't read the CSV header row of {path} (an open quote, or bad UTF-8)")
    records = records.slice(1)
    head_raw = header.item(0, "raw")
    width = _field_count(pl.lit(head_raw))
    bad = ~pl.col("_end") | ~pl.col("raw").str.contains(_CSV_RECORD_RE)
    bad |= _field_count(pl.col("raw")) != width
    records = records.select(
        "line", "raw", pl.coalesce("reason", pl.when(bad).then(pl.lit("not_csv"))).alias("reason")
    )
    good = records.filter(pl.col("reason").is_null())
    body = "\n".join([head_raw, *good.get_column("raw").to_list()]) + "\n"
    try:
        table = pl.read_csv(body.encode(), infer_schema=False, raise_if_empty=False)
    except pl.exceptions.PolarsError as e:
        raise ConfigError(f"can't read {path} as CSV: {str(e).splitlines()[0]}") from None
    if table.height != good.height:
        raise ConfigError(f"can't split {path} into CSV records: check its quoting")
    columns = table.columns
    for field in _REQUIRED:
        name = mapping.get(field, field)
        if name not in columns:
            raise ConfigError(
                f"{path} has no column {name!r} for {field} (its columns: {', '.join(columns)}):"
                f" map one, e.g. {field}=COLUMN"
            )
    for field, name in mapping.items():
        if name not in columns:
            raise ConfigError(f"{path} has no column {name!r} to map {field} from")

    def column(field: str) -> pl.Expr:
        name = mapping.get(field, field)
        return pl.col(name) if name in columns else pl.lit(None, pl.String)

    values = table.select(
        **{f: column(f) for f in POST_COLUMNS}, _row=pl.int_range(pl.len(), dtype=pl.Int64)
    ).with_columns(pl.col("text").fill_null(""))
    ok = pl.col("reason").is_null()
    rows = records.select(pl.when(ok).then(ok.cast(pl.Int64).cum_sum() - 1).alias("_row"))
    source = rows.join(values, on="_row", how="left", maintain_order="left").drop("_row")
    return records, source


def _field_count(raw: pl.Expr) -> pl.Expr:
    return raw.str.replace_all(r'"(?:[^"]|"")*"', "").str.count_matches(",", literal=True) + 1


# -- converting -------------------------------------------------------------------------------


def _convert(records: pl.DataFrame, source: pl.DataFrame) -> pl.DataFrame:
    """POST_SCHEMA, plus line, raw and reason (null for a post), one row per record."""
    blank = [f for f in POST_COLUMNS if f not in ("text", "hashtags")]
    src = source.with_columns(
        pl.col(f).cast(pl.String).str.strip_chars().replace("", None).alias(f) for f in blank
    )
    typed = src.select(
        *(_id(pl.col(f)).alias(f) for f in _IDS),
        _epoch_ms(pl.col("created_at")).alias("created_at"),
        pl.col("kind").str.to_lowercase().alias("kind"),
        pl.col("text").cast(pl.String),
        _hashtags(src).alias("hashtags"),
        pl.col("lang").str.to_lowercase().fill_null("und"),
        pl.when(pl.col("followers").str.contains(_ID_RE))
        .then(pl.col("followers").cast(pl.Int64, strict=False))
        .alias("followers"),
    )
    given = src.select(pl.all().name.prefix("src_"))
    checks: list[tuple[pl.Expr, str]] = []
    for field in ("post_id", "author_id"):
        checks.append((pl.col(f"src_{field}").is_null(), f"missing_field:{field}"))
        checks.append((pl.col(field).is_null(), f"bad_id:{field}"))
    checks += [
        (pl.col("src_created_at").is_null(), "missing_field:created_at"),
        (pl.col("created_at").is_null(), "bad_time"),
        (pl.col("created_at") < FIRST_POST_MS, "out_of_range:created_at"),
        (pl.col("kind").is_not_null() & ~pl.col("kind").is_in(KINDS), "invalid_kind"),
        (pl.col("src_parent_id").is_not_null() & pl.col("parent_id").is_null(), "bad_id:parent_id"),
        (pl.col("src_root_id").is_not_null() & pl.col("root_id").is_null(), "bad_id:root_id"),
        (pl.col("text").is_null(), "missing_field:text"),
        (pl.col("src_followers").is_not_null() & pl.col("followers").is_null(), "bad_followers"),
    ]
    reason = pl.coalesce(
        pl.col("_loaded"), *(pl.when(check).then(pl.lit(why)) for check, why in checks)
    )
    kind = pl.col("kind").fill_null(
        pl.when(pl.col("parent_id").is_null()).then(pl.lit("post")).otherwise(pl.lit("reply"))
    )
    orphan = pl.col("root_id").is_null() & pl.col("parent_id").is_not_null()
    root = pl.when(orphan & (kind != "post")).then(pl.col("parent_id")).otherwise(pl.col("root_id"))
    return (
        pl.concat(
            [typed, given, records.select("line", "raw", pl.col("reason").alias("_loaded"))],
            how="horizontal",
        )
        .with_columns(reason.alias("reason"))
        .with_columns(kind.alias("kind"), root.alias("root_id"), pl.col("followers").fill_null(0))
        .select(*POST_COLUMNS, "line", "raw", "reason")
    )


def _id(value: pl.Expr) -> pl.Expr:
    """An id in 1..2^63-1, else null."""
    parsed = pl.when(value.str.contains(_ID_RE)).then(value.cast(pl.Int64, strict=False))
    return pl.when(parsed >= 1).then(parsed)


def _epoch_ms(value: pl.Expr) -> pl.Expr:
    """Epoch ms from any of the supported time formats, else null."""
    integer = pl.when(value.str.contains(_INT_RE)).then(value.cast(pl.Int64, strict=False))
    whole = pl.when(integer.abs() < _SECONDS_BELOW).then(integer * 1000).otherwise(integer)
    real = pl.when(value.str.contains(_NUMBER_RE)).then(value.cast(pl.Float64, strict=False))
    number = pl.when(real.abs() < _SECONDS_BELOW).then(real * 1000).otherwise(real)
    iso = value.str.extract_groups(_ISO_RE)
    fraction = iso.struct.field("f").str.pad_end(3, "0").str.slice(0, 3).fill_null("000")
    zone = iso.struct.field("z").str.replace(":", "", literal=True)
    zone = (
        pl.when(zone.is_null() | (zone.str.to_uppercase() == "Z"))
        .then(pl.lit("+0000"))
        .when(zone.str.len_chars() == 3)
        .then(zone + "00")
        .otherwise(zone)
    )
    iso_text = pl.concat_str(
        iso.struct.field("date"),
        pl.lit("T"),
        iso.struct.field("hm"),
        pl.lit(":"),
        iso.struct.field("s").fill_null("00"),
        pl.lit("."),
        fraction,
        zone,
    )
    x = value.str.extract_groups(_X_TIME_RE)
    x_text = pl.concat_str(
        [x.struct.field(p) for p in ("year", "mon", "day")], separator="-"
    ) + pl.concat_str(pl.lit(" "), x.struct.field("time"), pl.lit(" "), x.struct.field("off"))
    return pl.coalesce(
        whole,
        number.round(0).cast(pl.Int64, strict=False),
        _parse(iso_text, "%Y-%m-%dT%H:%M:%S%.3f%z"),
        _parse(x_text, "%Y-%b-%d %H:%M:%S %z"),
    )


def _parse(text: pl.Expr, fmt: str) -> pl.Expr:
    return text.str.to_datetime(fmt, time_unit="ms", strict=False).dt.epoch("ms")


def _hashtags(source: pl.DataFrame) -> pl.Expr:
    """Normalised hashtags from a preset's list, a JSON array of strings, a string of
    words, or (when absent) the text's ``#words``."""
    if source.schema["hashtags"] == pl.List(pl.String):
        return _normalise(pl.col("hashtags")).fill_null(pl.lit([], pl.List(pl.String)))
    value = pl.col("hashtags").cast(pl.String).str.strip_chars()
    array = value.str.extract_all(_JSON_STRING_RE).list.eval(
        pl.element().str.json_decode(pl.String)
    )
    words = value.str.extract_all(r"[^\s,;|]+")
    in_text = (
        pl.col("text")
        .cast(pl.String)
        .str.extract_all(_TEXT_TAG_RE)
        .list.eval(pl.element().str.replace(r"^[^#]*#", ""))
    )
    tags = (
        pl.when(value.is_null() | (value == ""))
        .then(in_text)
        .when(value.str.starts_with("["))
        .then(array)
        .otherwise(words)
    )
    return _normalise(tags).fill_null(pl.lit([], pl.List(pl.String)))


def _normalise(tags: pl.Expr) -> pl.Expr:
    cleaned = pl.element().str.strip_chars().str.strip_chars_start("#").str.to_lowercase()
    return (
        tags.list.eval(cleaned)
        .list.eval(pl.element().filter(pl.element() != ""))
        .list.unique(maintain_order=True)
    )


# -- the end ----------------------------------------------------------------------------------


def _finish(rows: pl.DataFrame, sort: bool, lateness_ms: int) -> Dump:
    records = rows.height
    rejected = pl.col("reason").is_not_null()
    rejects = rows.filter(rejected).select(*REJECT_SCHEMA.names()).cast(REJECT_SCHEMA)
    valid = rows.filter(~rejected)
    posts = valid.filter(pl.col("post_id").is_first_distinct()).select(POST_COLUMNS)
    behind = pl.col("created_at").cum_max().shift(1) - pl.col("created_at")
    late = posts.select(
        behind.max().clip(lower_bound=0).fill_null(0).alias("max"),
        (behind > lateness_ms).sum().alias("late"),
    )
    if sort:
        posts = posts.sort("created_at", "post_id", maintain_order=True)
    return Dump(
        posts=posts.cast(POST_SCHEMA),
        rejects=rejects,
        duplicates=valid.height - posts.height,
        disorder=0 if sort else int(late.item(0, "late")),
        max_disorder_ms=int(late.item(0, "max")),
        records=records,
    )
