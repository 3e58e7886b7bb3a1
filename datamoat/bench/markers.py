"""Regenerate a section of BENCHMARKS.md between two HTML comment markers."""

from __future__ import annotations

import re

__all__ = ["replace_section"]


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- datamoat-bench:{name} start -->", f"<!-- datamoat-bench:{name} end -->"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with the section ``name`` holding ``body`` (appended when it isn't there).
    Text outside the markers is left byte for byte."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ValueError(f"section name {name!r}: letters, digits, '.', '_' and '-' only")
    start, end = _markers(name)
    block = f"{start}\n{body.strip()}\n{end}"
    i, j = text.find(start), text.find(end)
    if i >= 0 and j > i:
        return text[:i] + block + text[j + len(end) :]
    if i >= 0 or j >= 0:
        raise ValueError(f"BENCHMARKS section {name!r} has only one of its two markers")
    return text.rstrip("\n") + "\n\n" + block + "\n"
