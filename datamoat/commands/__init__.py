"""One module per ``datamoat`` subcommand; each exposes ``register(subparsers)``."""
