"""qnx-hil as a user gets it: sdist and wheel built from this repository, installed into a fresh
venv outside the checkout, then `hil init` in an empty folder and its tests on local and qemu.

The dependencies come from a wheelhouse kept under ``$XDG_CACHE_HOME/qnx-hil/test-wheelhouse/``
(filled once with ``pip download``, at the versions installed here); builds and installs then run
with ``--no-index``.  The QEMU image and qvmsim come from the same cache as every other test.
"""

from __future__ import annotations

import tarfile
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import hil
from tests.support.install import Installed


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
