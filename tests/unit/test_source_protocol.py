"""A source is a source: the worker uses one protocol whatever reads its input, and the
in-memory topic, a file and Kafka's consumer group all satisfy it."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from datamoat.stage_one import worker
from ingest.file_source import FileSource
from ingest.kafka.source import KafkaSource
from ingest.memory import MemorySource, MemoryTopic
from ingest.source import Source

MEMBERS = sorted(
    {n for n in (*dir(Source), *inspect.get_annotations(Source)) if not n.startswith("_")}
)


@pytest.mark.parametrize("cls", [MemorySource, FileSource, KafkaSource])
def test_every_source_has_every_member_of_the_protocol(cls: type) -> None:
    assert MEMBERS, "the protocol names its members"
    missing = [name for name in MEMBERS if not hasattr(cls, name) and name not in _set_in_init(cls)]
    assert missing == [], f"{cls.__name__} lacks {missing}"


def _set_in_init(cls: type) -> set[str]:
    """Attributes the class sets on ``self`` in ``__init__``."""
    tree = ast.parse(inspect.getsource(cls))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "self"
        and isinstance(node.ctx, ast.Store)
    }


def test_a_solo_source_commits_with_metadata_and_never_moves() -> None:
    source = MemorySource(MemoryTopic(partitions=2))
    source.commit({0: (3, '{"w": 1}')})
    committed = source.all_committed()
    assert committed[0] is not None and committed[0].metadata == '{"w": 1}'
    assert committed[1] is None
    assert source.take_revoked() == set() and not source.rebalancing
    assert source.group_metadata() is None and not source.down
    with pytest.raises(LookupError, match="no other reader"):
        source.read_range(0, 0, 3)


def test_a_paused_solo_source_returns_nothing() -> None:
    topic = MemoryTopic(partitions=1)
    topic.write([0], [None], [b"x"])
    source = MemorySource(topic)
    source.pause()
    assert len(source.poll(10, 0)) == 0
    source.resume()
    assert source.poll(10, 0).values == [b"x"]


def test_the_worker_never_asks_what_its_source_is() -> None:
    """No isinstance, hasattr or getattr in stage one's loop (it names no source type)."""
    tree = ast.parse(Path(worker.__file__).read_text("utf-8"))
    asks = [
        f"line {node.lineno}: {node.func.id}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("isinstance", "hasattr", "getattr", "type")
    ]
    assert asks == []
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"KafkaSource", "MemorySource", "FileSource", "SoloSource"}
