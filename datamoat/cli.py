"""The ``datamoat`` console script: one subcommand per module in :mod:`datamoat.commands`.

Only the module of the command being run is imported (``datamoat --help`` imports none, so
it answers without loading polars or kafka-python); the others are listed from
:data:`COMMANDS`. Messages go through the ``datamoat`` logger, which :func:`main` prints to
standard error as ``datamoat: message`` lines; an error is one line and the exit status of
its kind (:data:`EXIT_STATUSES`, every parser's help ends with it).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from datamoat.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_NOPERM,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    ConfigError,
    DatamoatError,
)
from ingest.kafka.client_config import redact

__all__ = ["COMMANDS", "EXIT_STATUSES", "build_parser", "configure_logging", "main"]

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

#: The end of every parser's help: what a script can tell from the exit status.
EXIT_STATUSES = f"""\
exit status:
  {EXIT_OK:<4} done; also after one Ctrl-C or SIGTERM (batch committed, summary printed)
  {EXIT_FAILURE:<4} any other failure (a worker, a sink, Kafka giving up on records, ...)
  {EXIT_USAGE:<4} a bad flag, config file, environment variable or path
  {EXIT_UNAVAILABLE:<4} no Kafka broker answers at the bootstrap address (after --wait-for-broker)
  {EXIT_NOPERM:<4} Kafka refused: authentication or authorisation failed, or TLS verification
  {EXIT_INTERRUPTED:<4} a second Ctrl-C stopped at once
  (and a command's own, in its description: validate 1, broker status 3)
"""

log = logging.getLogger("datamoat")


class _Parser(argparse.ArgumentParser):
    """No abbreviated flags (``--rat`` is not ``--rate``); bad flags give one line (what is
    wrong, where to look) and exit status 2. The help ends with :data:`EXIT_STATUSES`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def format_help(self) -> str:
        # Appended rather than an epilog: argparse would reflow it (and a command's own
        # epilog stays as it is).
        return f"{super().format_help()}\n{EXIT_STATUSES}"


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
            sys.stderr.write(f"datamoat: {redact(self.format(record))}\n")
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
    """Run the command ``argv`` names; its exit status (see :data:`EXIT_STATUSES`)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    configure_logging()
    args = build_parser(argv).parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print(f"datamoat {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        error = _said(exc)
        if error is None:
            raise  # a bug: its traceback
        # The same shape as argparse's own errors: "datamoat run: error: ...".
        print(f"datamoat {args.command}: error: {redact(str(error))}", file=sys.stderr)
        return error.exit_status
    return code


def _said(exc: Exception) -> DatamoatError | None:
    """The error a failed command ends with: a refusal found in ``exc`` (kafka-python's
    authentication and authorisation errors, a TLS certificate that failed verification,
    also behind a DatamoatError that wraps them) as :class:`~datamoat.errors.AccessDenied`,
    else ``exc`` when it is a DatamoatError; None for anything else."""
    if isinstance(exc, ConfigError):
        return exc
    # Only now, on the way out: the mapping imports kafka-python.
    from ingest.kafka.denied import as_access_denied

    denied = as_access_denied(exc)
    if denied is not None:
        return denied
    return exc if isinstance(exc, DatamoatError) else None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
