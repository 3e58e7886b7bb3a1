"""Consumer lag of a whole group, as Kafka defines it: per partition, the log-end offset
minus the group's committed offset (what ``kafka-consumer-groups --describe`` shows).

:meth:`GroupLag.watch` reads it once a second on a thread of its own (with clients of its
own), so a busy merge loop does not leave the figure stale."""

from __future__ import annotations

import threading
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

__all__ = ["GroupLag"]


class GroupLag:
    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.topic, self.group = topic, group
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","))
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def read(self) -> dict[int, int]:
        """Lag per partition (a partition the group never committed counts from 0); an
        empty dict while the broker can't answer."""
        try:
            committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
            parts = self.consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            ends = self.consumer.end_offsets(tps)
        except KafkaError:
            return {}
        out = {}
        for tp, end in ends.items():
            c = committed.get(tp)
            offset = c.offset if c is not None and c.offset >= 0 else 0
            out[tp.partition] = max(0, end - offset)
        return out

    def watch(self, publish: Callable[[dict[int, int]], None], every_s: float = 1.0) -> None:
        """Call ``publish(lag)`` every ``every_s`` seconds until :meth:`close`."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                lag = self.read()
                if lag:
                    publish(lag)

        self._thread = threading.Thread(target=loop, name="datamoat-lag", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.admin.close()
        self.consumer.close()
