"""What is wrong with the values of an engine type, said in whatever names its caller uses.

An engine type (:class:`process.windows.WindowSpec`, :class:`process.cascades.CascadeConfig`)
owns its rules: a static ``problems(...)`` returns every rule its values break, and its
``__post_init__`` raises on them. A caller with its own names for the fields (the config
keys of ``datamoat/config.py``, in their own units) says the same problems in those names,
so a rule is written once, in the engine, and no caller restates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken rule: the fields it involves, the one at fault first, and what is wrong
    with that field, naming any other field as ``{field}`` (``"must be a whole multiple of
    {hop_ms}"``). The text holds no unit: the caller's units may differ."""

    fields: tuple[str, ...]
    text: str

    def names(self, names: Mapping[str, str] | None = None) -> tuple[str, ...]:
        """The fields involved, each by its entry in ``names`` (else by its own name)."""
        return tuple((names or {}).get(f, f) for f in self.fields)

    def says(self, names: Mapping[str, str] | None = None) -> str:
        """The problem in one line, each field by its entry in ``names`` (else by its own
        name): ``size_ms must be positive``, or with the config's keys ``window.size_s must
        be positive``."""
        called = dict(zip(self.fields, self.names(names), strict=True))
        return f"{called[self.fields[0]]} {self.text.format_map(called)}"
