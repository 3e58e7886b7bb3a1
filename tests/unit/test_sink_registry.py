"""The one sink builder: names from ``[output] sinks`` to built sinks, by kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from datamoat.config import load_config
from datamoat.errors import ConfigError
from sinks.kafka import SignalTopicSink
from sinks.parquet import ParquetSink
from sinks.registry import SinkContext, build_outputs


def test_the_shipped_sinks_by_kind(tmp_path: Path) -> None:
    names = load_config(env={}).output.sinks
    assert names == ("parquet", "kafka")
    outputs = build_outputs(names, SinkContext(tmp_path, "sig"))
    assert [type(s) for s in outputs.idempotent] == [ParquetSink]
    (topic,) = outputs.transactional
    assert isinstance(topic, SignalTopicSink) and topic.topic == "sig"
    local = build_outputs(names, SinkContext(tmp_path), transactions=False)
    assert [type(s) for s in local.idempotent] == [ParquetSink] and local.transactional == []


def test_an_unknown_sink_is_one_line_saying_how_to_add_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        build_outputs(["parquet", "nosuchsink"], SinkContext(tmp_path))
    message = str(caught.value)
    assert "\n" not in message and "no sink named 'nosuchsink'" in message
    assert "sinks.registry.sink" in message


def test_sinks_come_from_the_file_or_a_comma_separated_variable(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[output]\nsinks = ["parquet"]\n')
    assert load_config(config, env={}).output.sinks == ("parquet",)
    env = {"DATAMOAT_OUTPUT_SINKS": "parquet, kafka"}
    assert load_config(config, env=env).output.sinks == ("parquet", "kafka")
    config.write_text("[output]\nsinks = []\n")
    with pytest.raises(ConfigError, match=r"output\.sinks must name at least one sink"):
        load_config(config, env={})
    config.write_text("[output]\nsinks = 3\n")
    with pytest.raises(ConfigError, match="must be a list of names"):
        load_config(config, env={})
