"""Fixtures for qvmsim's tests: qvmsim and the vdevs built once per session, and
``run_qvm``/``start_qvm`` (helpers in tests.support.qvmsim)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from hil.targets.sdk import build_qvmsim
from tests.support.qvmsim import QvmProc, RunQvm, StartQvm, build_probe_vdev, build_target_vdevs
from tests.support.qvmsim import run_qvm as _run
from tests.support.qvmsim import start_qvm as _start


@pytest.fixture(scope="session")
def qvm_bin() -> Path:
    """The host qvmsim executable (built once, cached by source hash)."""
    return build_qvmsim()


@pytest.fixture(scope="session")
def vdev_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding vdev-wdog.so, vdev-trace.so and vdev-badabi.so, vdev-vecho.so built from target_vdevs/."""
    return build_target_vdevs(tmp_path_factory.mktemp("vdevs"))


@pytest.fixture(scope="session")
def probe_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vdev-probe.so (target_vdevs/probe): timers, interrupts, guest RAM, pulses.
    Load it with ``vdev {probe_so}``: its instance is named ``probe``."""
    return build_probe_vdev(tmp_path_factory.mktemp("probe"))


@pytest.fixture
def run_qvm(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> RunQvm:
    """Run qvm to completion in tmp_path: ``run_qvm(conf_text, *extra_args, script=..., stdin=..., timeout=...)``
    (see tests.support.qvmsim.run_qvm)."""
    return partial(_run, qvm_bin, vdev_dir, tmp_path)


@pytest.fixture
def start_qvm(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> Iterator[StartQvm]:
    """Start qvm in the background: ``start_qvm(conf_text, *extra, script=...)`` -> QvmProc; killed at teardown."""
    procs: list[QvmProc] = []

    def start(
        conf_text: str,
        *extra: str,
        script: str | None = None,
        stdin_pipe: bool = False,
        env: dict[str, str] | None = None,
    ) -> QvmProc:
        p = _start(qvm_bin, vdev_dir, tmp_path, conf_text, *extra, script=script, stdin_pipe=stdin_pipe, env=env)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
