"""The scaling bench's arithmetic (tests/support/compose_scale.py): throughput only over the
samples in which every worker progressed, start-up apart, a point invalid when the host had
less idle CPU than asked; its compose override caps each worker."""

from __future__ import annotations

import yaml

from tests.support.compose_scale import PARTITIONS, Point, Sample, override, summarise


def test_throughput_counts_only_the_span_where_every_worker_is_busy() -> None:
    samples = [
        Sample(10.0, {}, None, 0, 0),  # nobody serves yet
        Sample(11.0, {"a": 0}, None, 50, 50),
        Sample(12.0, {"a": 100, "b": 0}, 0.5, 100, 100),  # b starting
        Sample(13.0, {"a": 200, "b": 120}, 0.7, 150, 150),  # both busy: 220 posts in 1 s
        Sample(14.0, {"a": 300, "b": 260}, 0.9, 200, 200),  # both busy: 240 posts in 1 s
        Sample(15.0, {"a": 300, "b": 300}, 1.0, 260, 240),  # a drained: not counted
    ]
    point = summarise(Point(2, 0.1, 600), samples, 10.0, {"a": 3.0, "b": 3.0}, 0.2)
    assert point.busy_s == 2.0 and point.busy_posts == 460.0
    assert point.posts_per_s == 230.0 and point.startup_s == 2.0
    assert point.host_idle_share == 0.5 and point.valid
    assert point.merger_cpu_s == 1.0 and point.merger_share == 1.0 / 7.0
    assert round(point.merger_cpu_s_per_m) == round(1.0 / 600 * 1e6)

    loaded = summarise(Point(2, 0.1, 600), samples, 10.0, {}, min_idle=0.6)
    assert not loaded.valid  # the host was busier than the caps alone explain


def test_the_override_caps_each_worker_and_makes_twelve_partitions() -> None:
    services = yaml.safe_load(override(0.1))["services"]
    assert services["worker"]["cpus"] == 0.1
    for name in ("topics", "firehose", "merger", "worker"):
        assert services[name]["environment"]["DATAMOAT_KAFKA_PARTITIONS"] == str(PARTITIONS)
