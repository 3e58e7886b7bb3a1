"""The synthetic firehose: deterministic, vectorised X-like posts with cascades and bursts.

Firehose(config, seed, start_ms).take(n)   the next n posts (POST_SCHEMA)
Firehose(..., polarity=True)               ... plus each post's generated polarity (-1/0/1)
Burst / Shift                              scheduled volume bursts / sentiment shifts
vocabulary_hashtag(config, rank)           the name of the ordinary hashtag of Zipf rank
encode_values(df) / encode_keys(df)        Kafka record values and keys
schedule(config, start_ms, index)          expected event time of post number index
realism_report(df)                         the stream's statistics against the references
"""

from __future__ import annotations

from ingest.firehose.config import Burst, FirehoseConfig, Shift
from ingest.firehose.encode import encode_keys, encode_values
from ingest.firehose.profile import schedule
from ingest.firehose.realism import realism_report, render_report
from ingest.firehose.render import vocabulary_hashtag
from ingest.firehose.stream import Firehose, generate

__all__ = [
    "Burst",
    "Firehose",
    "FirehoseConfig",
    "Shift",
    "encode_keys",
    "encode_values",
    "generate",
    "realism_report",
    "render_report",
    "schedule",
    "vocabulary_hashtag",
]
