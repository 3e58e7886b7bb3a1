"""What a non-editable install carries, and where an installed copy looks for things.

1. the wheel, built as ``python -m build`` builds it (an sdist, then the wheel from the sdist;
   offline, with this environment's build backend), carries ``configs/`` file for file as
   ``datamoat/_configs/``, a ``py.typed`` in each package, the LICENSE, and matplotlib only
   as the ``reports`` extra;
2. ``datamoat.resources``: ``configs/`` and ``.kafka/`` of the checkout when run from one, the
   installed copy and the per-user data folder otherwise, ``$DATAMOAT_HOME`` over both;
3. a missing extra is one line naming it (``--report-dir`` without matplotlib);
4. ``constraints.txt`` pins every dependency and extra (``make`` installs with it) within
   pyproject's ranges;
5. ``make run`` fetches no Kafka jars itself (``datamoat run`` does, only to start a broker).

``tests/integration/test_install.py`` installs the wheel into a fresh environment and runs it.
"""

from __future__ import annotations

import email
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from datamoat import broker, resources
from datamoat.cli import main
from datamoat.config import default_config_path
from datamoat.errors import ConfigError
from datamoat.moat.config import default_moat_path
from datamoat.moat.report import require_plotting
from tests.support.dists import PACKAGES, ROOT, build_dists


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_dists(tmp_path_factory.mktemp("packaging"))


def _configs() -> dict[str, bytes]:
    base = ROOT / "configs"
    return {
        p.relative_to(base).as_posix(): p.read_bytes()
        for p in sorted(base.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_wheel_carries_configs_file_for_file(dists: tuple[Path, Path]) -> None:
    prefix = "datamoat/_configs/"
    with zipfile.ZipFile(dists[1]) as whl:
        copy = {
            name.removeprefix(prefix): whl.read(name)
            for name in whl.namelist()
            if name.startswith(prefix) and not name.endswith("/")
        }
    assert sorted(copy) == sorted(_configs())
    assert [name for name, data in _configs().items() if copy[name] != data] == []


def test_the_sdist_carries_what_the_wheel_is_built_from(dists: tuple[Path, Path]) -> None:
    import tarfile

    with tarfile.open(dists[0]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"setup.py", "LICENSE", "pyproject.toml"} <= names
    assert {f"configs/{name}" for name in _configs()} <= names


def test_the_wheel_ships_py_typed_license_and_the_reports_extra(dists: tuple[Path, Path]) -> None:
    with zipfile.ZipFile(dists[1]) as whl:
        names = set(whl.namelist())
        [info] = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        metadata = email.message_from_bytes(whl.read(f"{info}/METADATA"))
        license_text = whl.read(f"{info}/licenses/LICENSE")
    assert {f"{package}/py.typed" for package in PACKAGES} <= names
    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert b"MIT License" in license_text and b"2026 the datamoat authors" in license_text
    assert metadata["License-Expression"] == "MIT"
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    [plots] = [r for r in requires if r.name == "matplotlib"]
    assert plots.marker is not None and str(plots.marker) == 'extra == "reports"'
    assert "reports" in (metadata.get_all("Provides-Extra") or [])
    assert not any(n.startswith(("configs/", "tests/", "docs/")) for n in names)


# --- where things are found -----------------------------------------------------------------
def test_a_checkout_reads_its_own_configs_and_keeps_kafka_at_its_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DATAMOAT_HOME", raising=False)
    monkeypatch.delenv("DATAMOAT_CONFIG", raising=False)
    monkeypatch.chdir(ROOT / "docs")  # not the root: the checkout is found from the package
    assert resources.checkout_root() == ROOT
    assert resources.config_path("kafka/pom.xml") == ROOT / "configs" / "kafka" / "pom.xml"
    assert broker.CONFIG_DIR == ROOT / "configs" / "kafka"
    assert broker.datamoat_home() == ROOT
    assert default_config_path() == ROOT / "configs" / "datamoat.toml"
    assert default_moat_path() == ROOT / "configs" / "moat.toml"
    assert not resources.INSTALLED_CONFIGS.exists()  # no copy in the source tree


def test_an_installed_copy_reads_its_configs_and_keeps_kafka_per_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "datamoat"
    shutil.copytree(ROOT / "configs", package / "_configs")
    monkeypatch.setattr(resources, "_PACKAGE", package)
    monkeypatch.setattr(resources, "INSTALLED_CONFIGS", package / "_configs")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("DATAMOAT_HOME", "DATAMOAT_CONFIG", "XDG_DATA_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert resources.checkout_root() is None
    assert default_config_path() == package / "_configs" / "datamoat.toml"
    assert default_moat_path() == package / "_configs" / "moat.toml"
    assert resources.config_path("kafka") == package / "_configs" / "kafka"
    per_user = tmp_path / "home" / ".local" / "share" / "datamoat"
    assert broker.datamoat_home() == per_user
    assert broker.LocalCluster().data_dir == per_user / ".kafka" / "data"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert broker.datamoat_home() == tmp_path / "xdg" / "datamoat"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/ignored")
    assert broker.datamoat_home() == per_user
    monkeypatch.setenv("DATAMOAT_HOME", str(tmp_path / "mine"))
    assert broker.datamoat_home() == (tmp_path / "mine").resolve()


def test_a_missing_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"needs matplotlib.*pip install 'datamoat\[reports\]'"):
        require_plotting()
    code = main(["moat", "--from-summary", str(tmp_path / "s.json"), "--report-dir", "r"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "datamoat moat: error: --report-dir needs matplotlib, which is not installed: "
        "pip install 'datamoat[reports]'"
    )


def test_constraints_pin_every_dependency_within_its_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            pins[canonicalize_name(name)] = pinned.strip()
    extras = project["optional-dependencies"]
    wanted = [*project["dependencies"], *(dep for deps in extras.values() for dep in deps)]
    for text in wanted:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"constraints.txt pins no {req.name}"
        assert req.specifier.contains(pins[name], prereleases=True), (text, pins[name])
    assert "datamoat" not in pins


# --- make run ---------------------------------------------------------------------------------
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("args", ["--transport memory", "--bootstrap 127.0.0.1:19092", ""])
def test_make_run_fetches_no_kafka_jars(args: str) -> None:
    def dry_run(target: str) -> str:
        cmd = ["make", "--dry-run", "--always-make", target, f"ARGS={args}"]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    assert "broker fetch" in dry_run("kafka-jars")  # the check sees a fetch
    commands = dry_run("run")
    assert "datamoat run" in commands and "broker fetch" not in commands and "mvn" not in commands
