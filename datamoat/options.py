"""Shared command-line options and their parsers (bad values give one-line errors)."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from datamoat.config import Config, load_config, profile_names
from ingest.kafka.client_config import use_client_config

__all__ = [
    "add_common",
    "add_config",
    "add_firehose",
    "add_kafka",
    "add_profile",
    "config_from",
    "now_ms",
    "parse_start",
    "port",
    "positive_float",
    "positive_int",
]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_start(text: str) -> int:
    """``--start``: epoch milliseconds, or an ISO 8601 time (UTC when no zone is given)."""
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither epoch milliseconds nor ISO 8601 (e.g. 2026-01-01T00:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0-65535; 0 = any free)")
    return value


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--config`` and the Kafka flags: what every command that talks to Kafka takes."""
    add_config(parser)
    add_kafka(parser)


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=None, help="pipeline config (default configs/datamoat.toml)"
    )
    add_profile(parser)


def add_profile(parser: argparse.ArgumentParser) -> None:
    """``--profile NAME``: a shipped profile over the default config, under ``--config``."""
    parser.add_argument(
        "--profile",
        default=None,
        metavar="NAME",
        help=f"settings for a kind of source ({', '.join(profile_names()) or 'none shipped'}; "
        "configs/profiles/NAME.toml), over the defaults and under --config, the environment "
        "and the flags (default: $DATAMOAT_PROFILE, else none)",
    )


def add_kafka(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap",
        default=None,
        help="Kafka bootstrap servers (default: config, KAFKA_BOOTSTRAP, 127.0.0.1:9092)",
    )
    parser.add_argument(
        "--wait-for-broker",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to retry an unreachable broker at start (0: fail at once)",
    )
    parser.add_argument(
        "--client-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="Kafka client settings (TLS, SASL, mutual TLS) as the Kafka tools read them: a "
        "client.properties file (default: $KAFKA_CLIENT_CONFIG; none: PLAINTEXT)",
    )


def add_firehose(parser: argparse.ArgumentParser, *, default_rate: bool = True) -> None:
    group = parser.add_argument_group("firehose")
    group.add_argument(
        "--rate", type=positive_float, default=None, help="posts/s (default 1157 = 100M/day)"
    )
    group.add_argument("--seed", type=int, default=None, help="random seed (default: config)")
    group.add_argument(
        "--start",
        type=parse_start,
        default=None,
        help="event time of the first post, ISO 8601 or epoch ms (default: now)",
    )
    group.add_argument(
        "--diurnal",
        action="store_true",
        help="follow a daily activity cycle (2.5x peak to trough) with random topic bursts "
        "instead of a flat rate",
    )
    group.add_argument(
        "--day-in",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="compress a whole simulated day into SECONDS (implies --diurnal)",
    )


def config_from(args: argparse.Namespace) -> Config:
    """The one frozen config of a command: the profile, the file, the environment, then its
    flags (``--bootstrap``, ``--rate``, ``--seed``, ``--diurnal``, ``--day-in``,
    ``--output-dir``), resolved here once; nothing further in reads the flags for these."""
    from dataclasses import replace

    config = load_config(getattr(args, "config", None), profile=getattr(args, "profile", None))
    if hasattr(args, "client_config"):  # a command that talks to Kafka
        use_client_config(args.client_config)

    def flag(name: str) -> Any:
        return getattr(args, name, None)  # a command without the flag: None

    if flag("bootstrap"):
        config = replace(config, kafka=replace(config.kafka, bootstrap=flag("bootstrap")))
    firehose = config.firehose
    if flag("rate"):
        firehose = replace(firehose, rate=flag("rate"))
    if flag("seed") is not None:
        firehose = replace(firehose, seed=flag("seed"))
    if flag("diurnal") or flag("day_in"):
        firehose = replace(firehose, diurnal=True, day_in_s=flag("day_in") or 0.0)
    config = replace(config, firehose=firehose)
    if flag("output_dir"):
        config = replace(config, output=replace(config.output, dir=str(flag("output_dir"))))
    return config
