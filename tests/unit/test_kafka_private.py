"""The fence around kafka-python's internals: the start-up self-test must pass on the
pinned kafka-python, and must fail when the bulk path writes anything Kafka can't read."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

import ingest.kafka.private as internals
import ingest.kafka.records as records
from ingest.batch import RawBatch
from ingest.kafka.private import RECV_BYTES, fetch_raw, read_sockets_in_bulk, receive, self_test
from ingest.kafka.testing import KafkaConnectionError


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


def test_the_bulk_decoder_reads_every_varint_width_as_kafka_python_does() -> None:
    """Lengths and offset deltas of one, two and three varint bytes (the decoder reads the
    first two widths inline), keys and values absent, empty and long, headers."""
    sizes = [0, 1, 30, 31, 32, 63, 64, 65, 200, 4000, 8190, 8191, 8192, 9000, 70_000]
    rows: list[internals.Row] = []
    for i in range(9_000):
        key = None if i % 97 == 0 else str(i).encode() * (i % 5)
        value = None if i % 89 == 0 else bytes([i % 251]) * sizes[i % len(sizes)]
        rows.append((i, key, value, [("h", b"v")] if i % 1000 == 3 else []))
    expect, got = internals.read_batch(internals.built_batch(rows), 7)
    assert len(got) == 9_000
    assert got == expect


def test_cached_key_partitions_are_kafkas_and_start_again_on_a_new_count() -> None:
    from ingest.kafka.partitioner import KeyPartitions
    from ingest.kafka.testing import murmur2

    parts = KeyPartitions(max_keys=50)
    keys = [f"tag{i}@1780000000000".encode() for i in range(200)]
    for count in (6, 6, 12):
        partition = parts.of("signals.early", count)
        assert [partition(k) for k in keys] == [(murmur2(k) & 0x7FFFFFFF) % count for k in keys]


def test_keys_hashed_together_are_kafkas_murmur2_one_by_one() -> None:
    """Every length's tail (0-3 bytes), empty keys, any byte, keys past the vector width
    (hashed one by one) and keys seen before: the partitions of ``send()``."""
    import random

    from ingest.kafka.partitioner import MAX_VECTOR_KEY, KeyPartitions, murmur2_many
    from ingest.kafka.testing import murmur2

    rng = random.Random(11)
    lengths = [*range(0, 40), MAX_VECTOR_KEY - 1, MAX_VECTOR_KEY, MAX_VECTOR_KEY + 1, 5_000]
    keys = [rng.randbytes(rng.choice(lengths)) for _ in range(3_000)]
    keys += [b"", b"\xff" * 4, "#日本語".encode(), b"#tag"]
    assert murmur2_many(keys).tolist() == [murmur2(k) for k in keys]
    assert murmur2_many([]).tolist() == []
    assert murmur2_many([b"x" * 1_000]).tolist() == [murmur2(b"x" * 1_000)]
    parts = KeyPartitions(max_keys=500)
    for count in (6, 6, 12):  # cached the second time, then a new count
        want = [(murmur2(k) & 0x7FFFFFFF) % count for k in keys]
        assert parts.many("signals", count, keys).tolist() == want
        assert [parts.of("signals", count)(k) for k in keys[:50]] == want[:50]


def test_the_bulk_decoder_refuses_a_damaged_batch_body_with_a_corrupt_record_error() -> None:
    """Bytes flipped, cut off or added anywhere in a batch body: the decoder answers with
    its records or with CorruptRecordError, never another error, and never records that
    don't fit the count."""
    import random

    from ingest.kafka.testing import CorruptRecordError

    rows: list[internals.Row] = [
        (i, str(i).encode() if i % 7 else None, b"x" * (i * 37 % 300), []) for i in range(200)
    ]
    body = records.record_bytes([r[1] or b"" for r in rows], [r[2] or b"" for r in rows], 0, 0)
    rng = random.Random(7)
    refused = 0
    for trial in range(600):
        damaged = bytearray(body)
        if trial % 3 == 0:
            damaged[rng.randrange(len(damaged))] ^= 1 << rng.randrange(8)
        elif trial % 3 == 1:
            del damaged[rng.randrange(len(damaged)) :]
        else:
            damaged.insert(rng.randrange(len(damaged)), rng.randrange(256))
        out: tuple[list[bytes | None], list[bytes | None], list[int]] = ([], [], [])
        try:
            records.decode_records(bytes(damaged), 0, len(rows), 0, *out)
        except CorruptRecordError:
            refused += 1
            continue
        assert len(out[0]) == len(out[1]) == len(out[2]) == len(rows)
    assert refused > 400  # most damage is found (a flipped bit inside a value is not)


def test_columns_go_to_their_keys_partitions_in_their_order() -> None:
    """A signals batch as columns is split by Kafka's partition of each key, as records
    sent one by one would be, each partition keeping the columns' order."""
    from ingest.batch import OutColumns
    from ingest.kafka.partitioner import KeyPartitions, by_partition

    keys = [f"#k{i % 37}".encode() for i in range(2_000)]
    columns = OutColumns("t", keys, [b"%d" % i for i in range(2_000)])
    partition = KeyPartitions().of("t", 6)
    expect: dict[int, list[tuple[bytes, bytes]]] = {}
    for record in columns:
        key = record.key or b""
        expect.setdefault(partition(key), []).append((key, record.value))
    parts = KeyPartitions().many("t", 6, keys)
    split = by_partition(columns.keys, columns.values, parts)
    got = {p: list(zip(k, v, strict=True)) for p, k, v in split}
    assert got == expect
    one = OutColumns("t", [b"#a"] * 3, [b"1", b"2", b"3"])
    same = KeyPartitions().many("t", 6, one.keys)
    assert by_partition(one.keys, one.values, same) == [(partition(b"#a"), one.keys, one.values)]
    assert by_partition([], [], same[:0]) == []
    with pytest.raises(ValueError, match="2 keys for 1 values"):
        OutColumns("t", [b"a", b"b"], [b"1"])


def test_receive_reads_all_a_socket_holds_then_says_that_the_peer_closed() -> None:
    ours, theirs = socket.socketpair()
    try:
        ours.setblocking(False)
        sent = bytes(range(256)) * 4096 * 3  # 3 MiB: three reads of RECV_BYTES or more
        theirs.setblocking(True)
        writer = threading.Thread(target=theirs.sendall, args=(sent,))
        writer.start()
        got = b""
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            data, error = receive(ours)
            assert error is None  # drained, not failed
            got += data
            time.sleep(0.001)
        writer.join(timeout=30)
        assert got == sent
        assert receive(ours) == (b"", None)  # nothing there: no error
        theirs.sendall(b"last")
        theirs.close()
        time.sleep(0.05)
        data, error = receive(ours)
        assert (data, error) == (b"last", None)  # what came before the end first
        data, error = receive(ours)  # then the end
        assert data == b""
        assert isinstance(error, KafkaConnectionError)
        assert "socket disconnected" in str(error)
    finally:
        ours.close()
        theirs.close()


def test_a_reset_connection_is_one_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A broker restarting resets its clients' connections: an event to say in one line,
    not a failure to show a traceback for."""
    server = socket.create_server(("127.0.0.1", 0))
    ours = socket.create_connection(server.getsockname())
    theirs, _ = server.accept()
    try:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        theirs.close()  # linger 0: a reset, not an orderly end
        ours.setblocking(False)
        time.sleep(0.05)
        with caplog.at_level("WARNING", logger="datamoat.kafka"):
            data, error = receive(ours, "broker-1")
        assert data == b"" and isinstance(error, KafkaConnectionError)
        (record,) = caplog.records
        assert record.exc_info is None
        assert record.getMessage().startswith("broker-1: connection lost while receiving")
        assert "ConnectionResetError" in record.getMessage()
    finally:
        ours.close()
        server.close()


def test_sockets_are_read_in_bulk_on_this_kafka_python() -> None:
    assert RECV_BYTES == 1 << 20
    assert read_sockets_in_bulk()


class _Fetcher:
    """The fetcher attributes fetch_raw needs; its early fetch fails."""

    _completed_fetches: tuple[()] = ()
    _paused_completed_fetches: dict[object, object] = {}  # noqa: RUF012 - never written
    _subscriptions = None
    _next_partition_records = None
    config: dict[str, int] = {"max_poll_records": 500}  # noqa: RUF012 - never written

    def _fetchable_partitions(self) -> list[object]:
        return []

    def _parse_fetched_data(self, completion: object) -> None:
        return None

    def send_fetches(self) -> None:
        raise ConnectionError("the IO loop is gone")


class _Consumer:
    def __init__(self, batch: RawBatch) -> None:
        self._fetcher = _Fetcher()
        self.batch = batch

    def poll(self, timeout_ms: int, max_records: int) -> dict[str, RawBatch]:
        return {"bulk": self.batch}


def test_a_failed_early_fetch_never_loses_the_records_already_taken() -> None:
    batch = RawBatch([b"a", b"b"], [None, None], [0, 0], [3, 4])
    consumer = _Consumer(batch)
    assert fetch_raw(consumer, 10, 100) is batch
    assert fetch_raw(consumer, 10, 100) is batch  # the fetcher put back as it was


def test_a_reader_of_every_partition_asks_again_when_the_broker_resets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A merger started while a node restarts: a connection reset while asking for the
    topic's partitions is retried, not a crash (a chaos run's merger died of it)."""
    import ingest.kafka.source as source_module
    from ingest.kafka.testing import KafkaConnectionError

    class _Consumer:
        asked = 0

        def __init__(self, **config: object) -> None:
            self.assigned: list[object] = []

        def partitions_for_topic(self, topic: str) -> set[int]:
            _Consumer.asked += 1
            if _Consumer.asked < 3:
                raise KafkaConnectionError("[Errno 104] Connection reset by peer")
            return {0, 1}

        def assign(self, tps: list[object]) -> None:
            self.assigned = tps

        def committed(self, tp: object, **kwargs: object) -> None:
            return None

    monkeypatch.setattr(source_module, "KafkaConsumer", _Consumer)
    naps: list[float] = []
    source = source_module.KafkaSource("t", {}, assign=True, sleep=naps.append)
    assert _Consumer.asked == 3 and naps == [0.5, 0.5]
    assert len(source.consumer.assigned) == 2
