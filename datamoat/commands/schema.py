"""``datamoat schema``: the post or signal contract as a JSON Schema (draft 2020-12)."""

from __future__ import annotations

import argparse
import sys

from process.contract import CONTRACTS, regenerate_command, render

__all__ = ["register", "run_schema"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "schema",
        help="the post or signal record contract as a JSON Schema",
        description=(
            "Print the JSON Schema (draft 2020-12) of the post record datamoat reads or the "
            "signal record it writes, generated from the code (process/contract.py); the "
            "rules a schema can't express are in its descriptions. The "
            f"committed copies are regenerated with '{regenerate_command('post')}' and "
            f"'{regenerate_command('signal')}'."
        ),
    )
    p.add_argument("record", choices=sorted(CONTRACTS), help="which record")
    p.set_defaults(func=run_schema)


def run_schema(args: argparse.Namespace) -> int:
    sys.stdout.write(render(args.record))
    sys.stdout.flush()
    return 0
