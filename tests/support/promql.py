"""PromQL as the dashboard and the alert rules use it: the metric names an expression selects,
and every series name datamoat's metrics registry exposes."""

from __future__ import annotations

import re

from datamoat.metrics import Metrics

__all__ = ["exported_names", "metric_names"]

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "inf", "nan"}
)
#: Series names prometheus_client derives from a metric family, by type.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
}


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression selects (not functions, keywords or labels)."""
    text = _STRINGS.sub('""', promql)
    text = _GROUPING.sub(" ", _RANGES.sub("", _MATCHERS.sub("", text)))
    names = set()
    for m in _IDENTIFIER.finditer(text):
        if text[m.end() :].lstrip().startswith("(") or m.group() in _KEYWORDS:
            continue  # a function or aggregation call, or a keyword
        names.add(m.group())
    return names


def exported_names() -> set[str]:
    """Every series name a fresh :class:`Metrics` exposes on /metrics.

    ``registry.collect()`` yields no samples for a labelled metric that has no children
    yet (e.g. dead letters by reason), so names are also derived from the family type.
    """
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(sample.name for sample in family.samples)
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names
