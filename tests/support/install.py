"""qnx-hil as a user gets it: sdist and wheel built from this repository, installed into a fresh
venv outside the checkout (the ``installed`` fixture of tests/install/conftest.py builds them once).

The dependencies come from a wheelhouse kept under ``$XDG_CACHE_HOME/qnx-hil/test-wheelhouse/``
(filled once with ``pip download``, at the versions installed here); builds and installs then run
with ``--no-index``.  The QEMU image and qvmsim come from the same cache as every other test.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.core.errors import InfrastructureError
from hil.core.paths import cache_dir, file_lock, hash_inputs
from tests.support.shared import run_folder

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
    # with the coverage extra: the CI jobs install it (tests/install/test_ci_jobs.py)
    wanted = [*project["dependencies"], *project["optional-dependencies"]["coverage"], BUILD_REQUIRES]
    folder = cache_dir("test-wheelhouse", hash_inputs(sys.version, *wanted, *pins))
    done = folder / ".complete"
    with file_lock(folder.parent / f"{folder.name}.lock"):  # xdist workers and other sessions: one fills it
        if not done.exists():
            _fill_wheelhouse(folder, pins, wanted)
            done.touch()
    return folder


def _fill_wheelhouse(folder: Path, pins: list[str], wanted: list[str]) -> None:
    """``pip download`` of ``wanted`` at the ``pins`` into ``folder``."""
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


def build_and_install(work: Path) -> Installed:
    """Build the sdist and wheel from a copy of this checkout's shipped files, install the wheel into a venv."""
    try:
        import build  # noqa: F401 - the dev extra's PEP 517 front end
    except ImportError:
        raise AssertionError(
            "the 'build' package is missing from this venv: install the dev extra "
            "(.venv/bin/pip install -e '.[dev]'; make test does it)"
        ) from None
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


def installed_once(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """``build_and_install``, once per run: the run's xdist workers share one build (a file lock;
    the first builds, the others read what it made)."""
    folder = run_folder(tmp_path_factory, "install")
    record = folder / "installed.json"
    with file_lock(folder.parent / "install.lock"):
        if record.exists():
            fields = json.loads(record.read_text())
            return Installed(
                Path(fields["venv"]), Path(fields["wheel"]), Path(fields["sdist"]), tuple(fields["packaged"])
            )
        made = build_and_install(folder)
        fields = {
            "venv": str(made.venv),
            "wheel": str(made.wheel),
            "sdist": str(made.sdist),
            "packaged": list(made.packaged),
        }
        record.write_text(json.dumps(fields))
        return made
