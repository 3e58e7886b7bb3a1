"""The one sink builder: ``[output] sinks`` names the outputs, and this builds them.

A sink is a module that registers a factory under its name::

    from sinks.registry import SinkContext, sink

    @sink("csv")
    def csv_sink(context: SinkContext) -> CsvSink:
        return CsvSink(context.output_dir)

A name is found in the registry, else in the module ``sinks.<name>`` (the shipped ones),
else in the module ``<name>`` itself (a sink of your own, on the Python path), which must
register it when imported. So adding a sink touches its own file and the ``[output]``
entry, nothing else.

Two kinds (see :mod:`sinks.base`): idempotent sinks (:class:`~sinks.base.SignalSink`,
Parquet) are written first, and may be written again; transactional ones
(:class:`~sinks.base.TransactionalSink`, the Kafka signals topic) hand records to the
merger's Kafka transaction, committed with its input offset. A pipeline without Kafka
(``run --transport memory``, ``process --input``, ``truth``) writes the idempotent ones.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ingest.errors import ConfigError
from sinks.base import SignalSink, TransactionalSink

__all__ = ["Outputs", "SinkContext", "build_outputs", "known_sinks", "sink"]


@dataclass(frozen=True)
class SinkContext:
    """What a sink factory may use: where files go, and the signals topic."""

    output_dir: Path
    signals_topic: str = "signals"


AnySink = SignalSink | TransactionalSink
Factory = Callable[[SinkContext], AnySink]
F = TypeVar("F", bound=Factory)
_FACTORIES: dict[str, Factory] = {}


def sink(name: str) -> Callable[[F], F]:
    """Register a sink factory under ``name`` (the ``[output] sinks`` entry)."""

    def register(factory: F) -> F:
        _FACTORIES[name] = factory
        return factory

    return register


def known_sinks() -> list[str]:
    """The sinks registered so far (the shipped ones once :func:`build_outputs` ran)."""
    return sorted(_FACTORIES)


def _factory(name: str) -> Factory:
    if name not in _FACTORIES:
        for module in (f"sinks.{name}", name):
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name not in (module, module.partition(".")[0]):
                    raise  # the sink's module exists but lacks something it imports
                continue
            if name in _FACTORIES:
                break
    if name not in _FACTORIES:
        raise ConfigError(
            f"output.sinks: no sink named {name!r} (shipped: parquet, kafka; a sink of your "
            f"own is a module {name!r} on the Python path that registers it with "
            "sinks.registry.sink)"
        )
    return _FACTORIES[name]


@dataclass
class Outputs:
    """The built sinks of one pipeline, by kind."""

    idempotent: list[SignalSink] = field(default_factory=list)
    transactional: list[TransactionalSink] = field(default_factory=list)

    def close(self) -> None:
        for written in self.idempotent:
            written.close()
        for committed in self.transactional:
            committed.close()


def build_outputs(
    names: Sequence[str], context: SinkContext, *, transactions: bool = True
) -> Outputs:
    """The sinks ``names`` for ``context``; without ``transactions`` (no Kafka), only the
    idempotent ones."""
    outputs = Outputs()
    for name in dict.fromkeys(names):
        made = _factory(name)(context)
        if isinstance(made, TransactionalSink):
            if transactions:
                outputs.transactional.append(made)
        else:
            outputs.idempotent.append(made)
    return outputs
