"""The synthetic firehose: deterministic, vectorised X-like posts with cascades and bursts.

Firehose(config, seed, start_ms).take(n)   the next n posts (POST_SCHEMA)
encode_values(df) / encode_keys(df)        Kafka record values and keys
schedule(config, start_ms, index)          expected event time of post number index
realism_report(df)                         the stream's statistics against the references
"""

from __future__ import annotations

from ingest.firehose.config import Burst, FirehoseConfig
from ingest.firehose.encode import encode_keys, encode_values
from ingest.firehose.profile import schedule
from ingest.firehose.realism import realism_report, render_report
from ingest.firehose.stream import Firehose, generate

__all__ = [
    "Burst",
    "Firehose",
    "FirehoseConfig",
    "encode_keys",
    "encode_values",
    "generate",
    "realism_report",
    "render_report",
    "schedule",
]
