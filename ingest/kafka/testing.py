"""kafka-python's clients for tests and benchmarks, the one way they import them.

datamoat talks to Kafka only through :mod:`ingest.kafka`; tests that read a topic back,
write a hostile record or look at a topic's layout use kafka-python's own clients, taken
from here, so the rule "only ``ingest/kafka/`` imports ``kafka``" holds for the whole tree
(``tests/unit/test_layers.py`` checks it).
"""

from __future__ import annotations

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import CorruptRecordError, KafkaConnectionError, KafkaError
from kafka.net.compat import KafkaNetClient
from kafka.partitioner.default import murmur2
from kafka.protocol.metadata.api_versions import ApiVersionsResponse
from kafka.protocol.sasl import SaslAuthenticateResponse, SaslHandshakeResponse
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from kafka.structs import OffsetAndMetadata, TopicPartition

__all__ = [
    "ApiVersionsResponse",
    "ConfigResource",
    "ConfigResourceType",
    "CorruptRecordError",
    "DefaultRecordBatch",
    "DefaultRecordBatchBuilder",
    "KafkaAdminClient",
    "KafkaConnectionError",
    "KafkaConsumer",
    "KafkaError",
    "KafkaNetClient",
    "KafkaProducer",
    "OffsetAndMetadata",
    "SaslAuthenticateResponse",
    "SaslHandshakeResponse",
    "TopicPartition",
    "murmur2",
]
