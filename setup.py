"""The build's one hook: the wheel carries a copy of the repository's ``configs/`` as
``datamoat/_configs/`` (``datamoat.resources.config_path`` reads it in an installed copy).

``configs/`` stays at the repository root, where the design wants it; setuptools' package
data can't reach outside a package, so ``build_py`` copies it into the build tree. Everything
else is in pyproject.toml. An editable install reads ``configs/`` in place and gets no copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONFIGS = Path(__file__).resolve().parent / "configs"


class BuildPyWithConfigs(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        target = Path(self.build_lib, "datamoat", "_configs")
        shutil.rmtree(target, ignore_errors=True)  # a stale copy from an earlier build
        shutil.copytree(CONFIGS, target, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


setup(cmdclass={"build_py": BuildPyWithConfigs})
