"""Ground truth: the signals of a whole input computed at once, without streaming.

No watermark, no batches, no state merges: every post is assigned to its windows and keys
and each (window, key) is aggregated in one group-by over the whole frame; then trends are
applied window by window. A correct streaming run over the same posts (no late records)
must give exactly these rows.
"""

from __future__ import annotations

import polars as pl

from process.aggregate import explode_keys, partials, uniques
from process.cascades import CascadeConfig, CascadeTracker, attach_cascades
from process.signals import SIGNAL_SCHEMA, finalise
from process.trends import TrendConfig, TrendTracker
from process.windows import WindowSpec

__all__ = ["truth_signals"]


def truth_signals(
    posts: pl.DataFrame,
    spec: WindowSpec,
    trend_config: TrendConfig | None = None,
    cascade_config: CascadeConfig | None = None,
) -> pl.DataFrame:
    """Signals for ``posts`` (POST_SCHEMA, plus ``compound`` when scored)."""
    if posts.is_empty():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    keyed = explode_keys(spec.assign(posts))
    signals = finalise([partials(keyed)], [uniques(keyed)], spec.size_ms)
    cascades = CascadeTracker(spec, cascade_config or CascadeConfig())
    cascades.add(posts)
    newest = posts["created_at"].max()
    assert isinstance(newest, int)
    tops = cascades.close(newest // spec.hop_ms * spec.hop_ms + spec.size_ms)
    signals = attach_cascades(signals, tops)
    tracker = TrendTracker(trend_config or TrendConfig(), spec.hop_ms)
    return tracker.apply(signals)
