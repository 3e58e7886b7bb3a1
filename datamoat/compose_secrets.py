"""The credentials of the secured compose cluster (docker-compose.secured.yml), made by its
one-shot ``secrets`` service into a volume the broker and every datamoat service mount:

    python -m datamoat.compose_secrets --dir /etc/datamoat/secrets --host broker \\
        --broker-user 1000 --client-user 10001

The same files as ``datamoat broker start --security sasl_ssl`` writes
(:func:`datamoat.broker_security.make_credentials`), for the broker's host name on the
compose network instead of 127.0.0.1:

- ``tls/ca.pem`` (readable by all), ``tls/broker.pem`` (the broker's key and certificate)
  and ``tls/alice.scram`` (the SCRAM-SHA-512 password the broker's entrypoint creates the
  user with when it formats its storage), owned by the broker's user, mode 0600;
- ``client.properties`` of the user ``alice``, owned by the datamoat image's user, mode 0600,
  for ``$KAFKA_CLIENT_CONFIG``;
- the CA's key and the other intermediate files: root's, mode 0600.

Run as root (the volume is root's when new). Once per volume: a restart keeps the files, so
the passwords stay those the broker's storage was formatted with. Prints one line, never a
secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from datamoat.broker_security import Security, make_credentials
from ingest.errors import BrokerError

__all__ = ["main", "make_compose_credentials"]

#: What the broker and the clients read; everything else in the directory stays root's.
BROKER_FILES = ("tls/broker.pem", "tls/*.scram")
CLIENT_FILES = ("client.properties",)
PUBLIC_FILES = ("tls/ca.pem",)


def make_compose_credentials(
    directory: Path, hosts: Sequence[str], broker_user: int, client_user: int
) -> list[Path]:
    """Write (once) and hand out the files; return the files made readable to someone."""
    make_credentials(
        directory, Security("sasl_ssl"), hosts=hosts,
        origin=f"the compose cluster (sasl_ssl, broker {hosts[0]}); made by its secrets service",
    )  # fmt: skip
    chown = os.geteuid() == 0  # as another user (a test), the modes alone
    for path in sorted(directory.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o600)
    directory.chmod(0o755)
    handed: list[Path] = []
    for patterns, owner, mode in (
        (BROKER_FILES, broker_user, 0o600),
        (CLIENT_FILES, client_user, 0o600),
        (PUBLIC_FILES, None, 0o644),
    ):
        for pattern in patterns:
            for path in sorted(directory.glob(pattern)):
                if chown and owner is not None:
                    os.chown(path, owner, owner)
                path.chmod(mode)
                handed.append(path)
    return handed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m datamoat.compose_secrets",
        description="The CA, the broker's certificate, a SCRAM-SHA-512 user and its "
        "client.properties for the secured compose cluster (docker-compose.secured.yml).",
    )
    p.add_argument("--dir", type=Path, required=True, help="the shared secrets volume")
    p.add_argument(
        "--host", action="append", required=True,
        help="a name the broker's certificate is valid for (repeatable; the first: subject)",
    )  # fmt: skip
    p.add_argument("--broker-user", type=int, required=True, help="uid of the broker image")
    p.add_argument("--client-user", type=int, required=True, help="uid of the datamoat image")
    args = p.parse_args(argv)
    try:
        make_compose_credentials(args.dir, args.host, args.broker_user, args.client_user)
    except (BrokerError, OSError) as exc:
        print(f"secrets: {exc}", file=sys.stderr)
        return 1
    print(
        f"secrets: CA, certificate for {', '.join(args.host)}, SCRAM-SHA-512 user alice and "
        f"{args.dir / 'client.properties'} ready"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
