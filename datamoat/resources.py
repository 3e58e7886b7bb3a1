"""Where datamoat finds the files it ships, where it keeps what it fetches, and its extras.

Run from a checkout (the repository's source tree, an editable install included), both are
the repository: ``configs/`` and ``.kafka/`` at its root. An installed copy (``pip install .``,
the wheel) carries ``configs/`` as ``datamoat/_configs/`` (copied there when the wheel is
built, by ``setup.py``) and keeps ``.kafka/`` in the per-user data folder
(:func:`user_data_dir`); ``$DATAMOAT_HOME`` overrides that folder in both cases
(``datamoat.broker.datamoat_home``).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from datamoat.errors import ConfigError

__all__ = [
    "INSTALLED_CONFIGS",
    "checkout_root",
    "config_path",
    "require_extra",
    "user_data_dir",
]

_PACKAGE = Path(__file__).resolve().parent
#: The installed copy of ``configs/`` (only in a built wheel; a checkout has none).
INSTALLED_CONFIGS = _PACKAGE / "_configs"


def checkout_root() -> Path | None:
    """The repository root when this datamoat runs from its source tree; None when installed."""
    root = _PACKAGE.parent
    if (root / "pyproject.toml").is_file() and (root / "configs" / "datamoat.toml").is_file():
        return root
    return None


def config_path(relative: str | Path = "") -> Path:
    """``configs/<relative>``: the checkout's, else the installed copy's."""
    root = checkout_root()
    return (root / "configs" if root is not None else INSTALLED_CONFIGS) / relative


def user_data_dir() -> Path:
    """The per-user data folder: ``$XDG_DATA_HOME/datamoat``, else ``~/.local/share/datamoat``
    (a relative ``$XDG_DATA_HOME`` is ignored, as the XDG base directory spec says)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "share"
    return base / "datamoat"


def require_extra(module: str, extra: str, what: str) -> None:
    """One line, not an ImportError, when ``what`` needs ``module`` of the optional ``extra``
    (``[project.optional-dependencies]``) and this environment does not have it."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ConfigError(
            f"{what} needs {module}, which is not installed: pip install 'datamoat[{extra}]'"
        )
