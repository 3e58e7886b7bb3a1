"""The ``datamoat`` console script: one subcommand per module in :mod:`datamoat.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from datamoat.errors import DatamoatError

__all__ = ["main"]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("run", "produce", "process", "truth", "sentiment", "topics", "broker", "bench", "moat")


class _Parser(argparse.ArgumentParser):
    """Bad flags give one line (what is wrong, where to look) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="datamoat",
        description="Real-time social signals from a synthetic X-scale firehose through Kafka.",
    )
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"datamoat.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"datamoat.commands.{name}":
                raise
            continue  # not built yet
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except DatamoatError as exc:
        print(f"datamoat {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"datamoat {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
