"""The ``datamoat`` console script: one subcommand per module in :mod:`datamoat.commands`.

Only the module of the command being run is imported (``datamoat --help`` imports none, so
it answers without loading polars or kafka-python); the others are listed from
:data:`COMMANDS`. Messages go through the ``datamoat`` logger, which :func:`main` prints to
standard error as ``datamoat: message`` lines; an error is one line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from datamoat.errors import DatamoatError

__all__ = ["COMMANDS", "build_parser", "configure_logging", "main"]

#: Subcommands in the order ``--help`` lists them, with their summary (also the description
#: of a command whose module gives none). A module that does not exist yet is left out.
COMMANDS: dict[str, str] = {
    "run": "the firehose, workers and their merger together, with a live view",
    "produce": "the firehose alone: paced into Kafka, or into an NDJSON file",
    "process": "one worker of the consumer group (or replay an NDJSON file)",
    "merge": "merge the workers' partial windows into final signals (one per group)",
    "truth": "expected signals for --seed/--start/--posts, computed without streaming",
    "sentiment": "VADER sentiment of text lines, as JSON lines",
    "ingest": "real posts in: a dump file (NDJSON, CSV, X API) or Bluesky's Jetstream",
    "validate": "decode an NDJSON file of posts: what would be dead-lettered, and why",
    "schema": "the post or signal record contract as a JSON Schema",
    "topics": "create the posts, dead-letter, signals and partials topics (idempotent)",
    "broker": "the managed local Kafka broker (fetch/start/stop/status)",
    "bench": "load benchmark: fixed rate, the highest sustained rate, or a drain",
    "moat": "the moat experiment: seeded streams through access tiers, over many seeds",
}

log = logging.getLogger("datamoat")


class _Parser(argparse.ArgumentParser):
    """No abbreviated flags (``--rat`` is not ``--rate``); bad flags give one line (what is
    wrong, where to look) and exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class _Version(argparse.Action):
    """``--version``: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("datamoat")
        except PackageNotFoundError:
            found = "unknown (not installed)"
        print(f"datamoat {found}")
        parser.exit(0)


def _available(name: str) -> bool:
    return importlib.util.find_spec(f"datamoat.commands.{name}") is not None


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names: its first word that is not an option."""
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with ``argv`` only the command it names fully registered (the
    others are summaries, so nothing else is imported)."""
    parser = _Parser(
        prog="datamoat",
        description="Real-time social signals from a synthetic X-scale firehose through Kafka.",
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    chosen = None if argv is None else _command_in(argv)
    for name, summary in COMMANDS.items():
        if not _available(name):
            continue  # not built yet
        if argv is not None and name != chosen:
            sub.add_parser(name, help=summary, description=summary)
            continue
        importlib.import_module(f"datamoat.commands.{name}").register(sub)
        command = sub.choices[name]
        command.description = command.description or summary
    return parser


class _StderrHandler(logging.Handler):
    """``datamoat: message`` on whatever ``sys.stderr`` is at the time (tests replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(f"datamoat: {self.format(record)}\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - logging must not raise
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """One stderr handler on the ``datamoat`` logger (idempotent). Library modules log to
    ``datamoat.*`` loggers: ``getLogger(__name__)`` in this package,
    ``getLogger("datamoat." + __name__)`` in ingest/, process/ and sinks/."""
    if not any(isinstance(handler, _StderrHandler) for handler in log.handlers):
        log.addHandler(_StderrHandler())
    log.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    configure_logging()
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
    except DatamoatError as exc:
        # The same shape as argparse's own errors: "datamoat run: error: ...".
        print(f"datamoat {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"datamoat {args.command}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
