"""Constants the unit tests share."""

from __future__ import annotations

__all__ = ["START", "moat_tiers"]

#: 2026-01-01T00:00:00Z in epoch milliseconds: where the unit tests' generated streams start.
START = 1_767_225_600_000


#: The sampled tiers every moat test has: the firehose and X's decahose and 1% sample.
_SAMPLED_TIERS = """
[[moat.tiers]]
name = "firehose"
[[moat.tiers]]
name = "decahose"
ms = [600, 699]
[[moat.tiers]]
name = "sample"
ms = [657, 666]
"""


def moat_tiers(delay_s: float | None = None, every_s: float | None = None) -> str:
    """``[[moat.tiers]]`` TOML: the firehose, the decahose and the 1% sample, and a
    ``delayed`` tier (``delay_s``) and an ``hourly`` one (``every_s``) when given."""
    text = _SAMPLED_TIERS
    if delay_s is not None:
        text += f'[[moat.tiers]]\nname = "delayed"\ndelay_s = {delay_s!r}\n'
    if every_s is not None:
        text += f'[[moat.tiers]]\nname = "hourly"\nevery_s = {every_s!r}\n'
    return text
