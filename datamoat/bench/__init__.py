"""``datamoat bench``: drive the real commands, sample them, summarise, report.

Modules: :mod:`~datamoat.bench.procstat` (/proc readings), :mod:`~datamoat.bench.scrape`
(/metrics), :mod:`~datamoat.bench.sampler` (the sampling thread), :mod:`~datamoat.bench.runner`
(subprocesses and the broker), :mod:`~datamoat.bench.modes` (drain, fixed, max),
:mod:`~datamoat.bench.ramp` (the max-rate rule), :mod:`~datamoat.bench.summary` (the JSON
summary and its schema), :mod:`~datamoat.bench.timeline`, :mod:`~datamoat.bench.report`
(Markdown and PNGs), :mod:`~datamoat.bench.markers` (BENCHMARKS.md sections).
"""

from __future__ import annotations

from datamoat.bench.markers import replace_section
from datamoat.bench.ramp import judge, next_rate
from datamoat.bench.report import markdown_table, write_report
from datamoat.bench.summary import make_bench_summary, validate_summary

__all__ = [
    "judge",
    "make_bench_summary",
    "markdown_table",
    "next_rate",
    "replace_section",
    "validate_summary",
    "write_report",
]
