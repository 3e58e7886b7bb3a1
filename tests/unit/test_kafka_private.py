"""The fence around kafka-python's internals: the start-up self-test must pass on the
pinned kafka-python, and must fail when the bulk path writes anything Kafka can't read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import ingest.kafka.private as internals
import ingest.kafka.records as records
from ingest.kafka.private import self_test


@pytest.fixture(autouse=True)
def fresh_self_test() -> Iterator[None]:
    self_test.cache_clear()
    yield
    self_test.cache_clear()


@pytest.mark.parametrize("codec", [0, 1, 3, 4])  # none, gzip, lz4, zstd
def test_the_self_test_passes_on_the_pinned_kafka_python(codec: int) -> None:
    assert self_test(2, codec) is None


def test_a_wrong_record_byte_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    real = records.record_bytes

    def off_by_one_value(keys, values, first_offset, ts_delta):
        out = bytearray(real(keys, values, first_offset, ts_delta))
        out[-2] ^= 0x01  # the last byte of the last value
        return bytes(out)

    monkeypatch.setattr(internals, "record_bytes", off_by_one_value)
    problem = self_test(2, 0)
    assert problem is not None and "reads back wrong" in problem


def test_a_broken_builder_fails_the_self_test(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_builder(*args, **kwargs):
        raise AttributeError("_builder")

    monkeypatch.setattr(internals, "_fill", no_builder)
    problem = self_test(2, 0)
    assert problem is not None and "building a record batch failed" in problem
