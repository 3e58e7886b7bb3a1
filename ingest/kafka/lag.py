"""Consumer lag of a whole group, as Kafka defines it: per partition, the log-end offset
minus the group's committed offset (what ``kafka-consumer-groups --describe`` shows).

:meth:`GroupLag.watch` reads it once a second on a thread of its own (with clients of its
own), so a busy merge loop does not leave the figure stale."""

from __future__ import annotations

from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from ingest.kafka.client_config import secured
from ingest.ticker import Ticker

__all__ = ["GroupLag"]


class GroupLag:
    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.topic, self.group, self.bootstrap = topic, group, bootstrap
        self.admin: KafkaAdminClient | None = self._admin()
        self.consumer = KafkaConsumer(**secured({"bootstrap_servers": bootstrap, "group_id": None}))
        self._ticker: Ticker | None = None
        self._closed = False
        #: Admin clients made again after a failed read (see :meth:`read`).
        self.renewals = 0

    def _admin(self) -> KafkaAdminClient:
        return KafkaAdminClient(**secured({"bootstrap_servers": self.bootstrap.split(",")}))

    def read(self) -> dict[int, int]:
        """Lag per partition (a partition the group never committed counts from 0); an
        empty dict while the broker can't answer.

        kafka-python's admin client keeps the group coordinator it found: once a broker
        restart has moved the coordinator, every later ask of that client fails
        (``NotCoordinatorError``). So a failed read drops the client, and the next read
        makes a new one, which looks the coordinator up again (a soak's lag went blank for
        good after the first broker restart)."""
        try:
            if self.admin is None:
                self.admin = self._admin()
                self.renewals += 1
            committed = self.admin.list_group_offsets({self.group: None}).get(self.group, {})
            parts = self.consumer.partitions_for_topic(self.topic) or set()
            tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
            ends = self.consumer.end_offsets(tps)
        except (KafkaError, RuntimeError):  # RuntimeError: a client closed under a tick
            if self.admin is not None and not self._closed:
                admin, self.admin = self.admin, None
                admin.close()
            return {}
        out = {}
        for tp, end in ends.items():
            c = committed.get(tp)
            offset = c.offset if c is not None and c.offset >= 0 else 0
            out[tp.partition] = max(0, end - offset)
        return out

    def watch(self, publish: Callable[[dict[int, int]], None], every_s: float = 1.0) -> None:
        """Call ``publish(lag)`` every ``every_s`` seconds until :meth:`close`."""

        def tick() -> None:
            lag = self.read()
            if lag:
                publish(lag)

        self._ticker = Ticker(tick, every_s, "datamoat-lag").start()

    def close(self) -> None:
        self._closed = True
        if self._ticker is not None:
            self._ticker.stop()
        if self.admin is not None:
            self.admin.close()
        self.consumer.close()
