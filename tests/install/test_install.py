"""qnx-hil as a user gets it: sdist and wheel built from this repository, installed into a fresh
venv outside the checkout, then `hil init` in an empty folder and its tests on local and qemu.

The dependencies come from a wheelhouse kept under ``$XDG_CACHE_HOME/qnx-hil/test-wheelhouse/``
(filled once with ``pip download``, at the versions installed here); builds and installs then run
with ``--no-index``.  The QEMU image and qvmsim come from the same cache as every other test.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import hil
from hil.core.errors import InfrastructureError
from hil.core.paths import cache_dir, hash_inputs

ROOT = Path(__file__).resolve().parents[2]
BUILD_REQUIRES = "setuptools>=77"
#: Not pinned from this environment: the build backend (pinned by the build requirement) and installers.
UNPINNED = {"qnx-hil", "pip", "setuptools", "wheel"}


@dataclass(frozen=True)
class Installed:
    """A fresh venv with the built wheel installed, and what it was built from."""

    venv: Path
    wheel: Path
    sdist: Path
    packaged: tuple[str, ...]  # the files of hil/ that must ship, relative to the repository

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
        return {**env, "PATH": f"{self.venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}", "VIRTUAL_ENV": str(self.venv)}

    def run(self, *argv: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command from the venv's bin/ (``hil``, ``pytest``), as a user types it."""
        return subprocess.run(
            [str(self.venv / "bin" / argv[0]), *argv[1:]],
            cwd=cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _run(argv: list[str], what: str, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{what} failed ({' '.join(argv)}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done.stdout


def wheelhouse() -> Path:
    """Wheels of qnx-hil's dependencies (at this environment's versions) and of its build backend."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = sorted(
        f"{d.metadata['Name']}=={d.version}"
        for d in importlib.metadata.distributions()
        if d.metadata["Name"] and d.metadata["Name"].lower() not in UNPINNED
    )
    wanted = [*project["dependencies"], BUILD_REQUIRES]
    folder = cache_dir("test-wheelhouse", hash_inputs(sys.version, *wanted, *pins))
    done = folder / ".complete"
    if not done.exists():
        constraints = folder / "constraints.txt"
        constraints.write_text("\n".join(pins) + "\n")
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--dest", str(folder), "-c", str(constraints), *wanted],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise InfrastructureError(
                f"filling the test wheelhouse {folder} with pip download failed "
                f"(is the package index reachable?): {proc.stderr.strip()[-1500:]}"
            )
        done.touch()
    return folder


def shipped_files() -> tuple[str, ...]:
    """Every file of hil/ in this checkout that is not ignored: all of it must be in the package."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "hil"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return tuple(sorted(p for p in out.split() if (ROOT / p).is_file()))


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    try:
        import build  # noqa: F401 - the dev extra's PEP 517 front end
    except ImportError:
        pytest.fail(
            "the 'build' package is missing from this venv: install the dev extra "
            "(.venv/bin/pip install -e '.[dev]'; make test does it)"
        )
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    packaged = shipped_files()
    for rel in (*packaged, "pyproject.toml", "README.md"):
        (source / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, source / rel)
    house = wheelhouse()
    offline = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(house)}
    dist = work / "dist"
    # sdist first, then the wheel built from the sdist: both must be complete
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(source)], "python -m build", offline)
    (sdist,) = dist.glob("qnx_hil-*.tar.gz")
    (wheel,) = dist.glob("qnx_hil-*.whl")
    venv = work / "venv"
    base_python = getattr(sys, "_base_executable", sys.executable)
    _run([base_python, "-m", "venv", str(venv)], "python -m venv")
    _run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-index", "--find-links", str(house), str(wheel)],
        "pip install (wheel)",
        {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    return Installed(venv, wheel, sdist, packaged)


def test_sdist_and_wheel_ship_everything_the_tool_reads(installed: Installed, tmp_path: Path) -> None:
    assert installed.wheel.name.startswith(f"qnx_hil-{hil.__version__}-")
    in_wheel = set(zipfile.ZipFile(installed.wheel).namelist())
    assert [p for p in installed.packaged if p not in in_wheel] == []
    top = f"qnx_hil-{hil.__version__}/"
    in_sdist = {n[len(top) :] for n in tarfile.open(installed.sdist).getnames()}  # noqa: SIM115
    assert [p for p in installed.packaged if p not in in_sdist] == []
    assert not [n for n in in_wheel if "__pycache__" in n or n.startswith(("tests/", "fixtures/", "examples/"))]
    version = installed.run("hil", "--version", cwd=tmp_path)
    assert version.stdout.strip() == f"qnx-hil {hil.__version__}"
    include = installed.run("hil", "sdk", "include", cwd=tmp_path).stdout.strip()
    assert include.startswith(str(installed.venv)) and (Path(include) / "qvm" / "vdev.h").is_file()


def junit_cases(reports: Path) -> set[tuple[str, str]]:
    (junit,) = reports.glob("*/junit.xml")
    root = ET.parse(junit).getroot()
    return {
        (suite.get("name", ""), case.get("name", ""))
        for suite in root.iter("testsuite")
        for case in suite.iter("testcase")
    }


SCAFFOLD_TESTS = {
    "test_bad_timeout_is_a_configuration_error",
    "test_bites_when_the_guest_stops_kicking",
    "test_no_bite_while_the_guest_kicks",
    "test_custom_cause_ends_the_guest",
}


def test_init_project_passes_on_local_qemu_and_nightly(installed: Installed, tmp_path: Path) -> None:
    project = tmp_path / "my-vdevs"
    project.mkdir()
    init = installed.run("hil", "init", "--ci", "gitlab", cwd=project)
    assert init.returncode == 0, init.stderr
    # the CI job's set-up step, from the installed package: this host has what every target needs
    host = installed.run("hil", "host", "install", "--dry-run", cwd=project)
    assert host.returncode == 0 and "nothing missing for local, qemu" in host.stdout, host.stdout + host.stderr
    for target in ("local", "qemu"):
        tests = installed.run("pytest", "-p", "no:cacheprovider", "--hil-target", target, cwd=project)
        assert tests.returncode == 0, f"{target}:\n{tests.stdout[-4000:]}{tests.stderr[-2000:]}"
        assert "4 passed" in tests.stdout, tests.stdout[-2000:]
    nightly = installed.run("hil", "nightly", "--target", "local", "--target", "qemu", cwd=project)
    assert nightly.returncode == 0, nightly.stdout[-4000:] + nightly.stderr[-2000:]
    assert junit_cases(project / "reports") == {(t, n) for t in ("local", "qemu") for n in SCAFFOLD_TESTS}


def test_demo_passes(installed: Installed, tmp_path: Path) -> None:
    demo = installed.run("hil", "demo", "--reports", "r", cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout[-4000:] + demo.stderr[-2000:]
    assert junit_cases(tmp_path / "r") == {("qemu", n) for n in SCAFFOLD_TESTS}
