"""Ground truth: the signals of a whole input computed at once, without streaming.

No watermark, no batches, no state merges: every post is assigned to its windows and keys
and each (window, key) is aggregated in one group-by over the whole frame; then trends are
applied window by window. A correct streaming run over the same posts (no late records)
must give exactly these rows.
"""

from __future__ import annotations

import polars as pl

from process.aggregate import explode_keys, partials, uniques
from process.signals import SIGNAL_SCHEMA, finalise
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = ["truth_signals"]


def truth_signals(
    posts: pl.DataFrame, spec: WindowSpec, trend_config: TrendConfig | None = None
) -> pl.DataFrame:
    """Signals for ``posts`` (POST_SCHEMA, plus ``compound`` when scored)."""
    if posts.is_empty():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    keyed = explode_keys(spec.assign(posts))
    signals = finalise([partials(keyed)], [uniques(keyed)], spec.size_ms)
    tracker = TrendTracker(trend_config or TrendConfig(), spec.hop_ms)
    return tracker.apply(signals)
