"""The sdist and the wheel, built as ``python -m build`` builds them, offline: for the
packaging checks (tests/unit/test_packaging.py) and the install test
(tests/integration/test_install.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from packaging.version import Version

__all__ = ["BUILD_INPUTS", "PACKAGES", "ROOT", "build_dists"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("datamoat", "ingest", "process", "sinks")
#: What the build reads; the sdist made from a copy of these must hold all the wheel needs.
BUILD_INPUTS = (
    "pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "configs", *PACKAGES,
)  # fmt: skip
_JUNK = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.egg-info")


def _run(cmd: list[str], cwd: Path) -> None:
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"


def build_dists(out: Path) -> tuple[Path, Path]:
    """The sdist and the wheel built from it (as ``python -m build`` does), into ``out/dist``:
    from a copy of the sources (the checkout gets no ``build/``), offline (no build
    isolation, no index: the dev extra brings the build backend)."""
    backend = version("setuptools")
    assert Version(backend) >= Version("77"), f"setuptools {backend}: `make venv` brings >=77"
    src = out / "src"
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=_JUNK)
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, src / name)
    dist = out / "dist"
    code = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    _run([sys.executable, "-c", code, str(dist)], cwd=src)
    [sdist] = dist.glob("datamoat-*.tar.gz")
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    _run([*pip, "--no-index", "--quiet", "--wheel-dir", str(dist), str(sdist)], cwd=out)
    [wheel] = dist.glob("datamoat-*.whl")
    return sdist, wheel
