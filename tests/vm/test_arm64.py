"""The aarch64 public target end to end (issue 18), through the ``hil`` command as a user runs it:
``hil target up`` boots it to SSH, ``hil vdev build --target qemu-arm64`` makes an aarch64 ELF, an
x86_64 ``.so`` is a set-up error (exit 2) before anything is deployed, the aarch64 one runs under
qvmsim there, and ``hil nightly --target label:aarch64`` selects and passes it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from hil.core.arch import elf_arch_name
from hil.targets.definition import BUILTIN_TARGETS
from tests.support.cli import hil


def _hil(*args: str, attach: bool = False, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # attach: without HIL_PRIVATE_VM, to use the 'hil target up' VM
    return hil(*args, timeout=timeout, env={"HIL_PRIVATE_VM": None} if attach else None)


@pytest.fixture
def arm64_toml(tmp_path: Path) -> Path:
    """The built-in qemu-arm64 definition under a name of this test's own (no clash with a user's VM)."""
    text = (BUILTIN_TARGETS / "qemu-arm64.toml").read_text()
    path = tmp_path / "arm64.toml"
    path.write_text(text.replace('name = "qemu-arm64"', f'name = "arm64-{os.getpid()}"'))
    return path


def test_qemu_arm64_up_build_refuse_and_run(arm64_toml: Path, tmp_path: Path) -> None:
    up = _hil("target", "up", "--target", str(arm64_toml), "--json")
    assert up.returncode == 0, up.stderr
    try:
        state = json.loads(up.stdout)
        assert state["accel"] == "tcg"
        uname = _hil("target", "ssh", "--target", str(arm64_toml), "--", "uname -m; qvm -V")
        assert uname.returncode == 0, uname.stderr
        assert uname.stdout.splitlines()[0] == "aarch64" and "qvmsim" in uname.stdout

        built = _hil("vdev", "build", "target_vdevs/wdog", "--target", "qemu-arm64", "-o", str(tmp_path / "arm"))
        assert built.returncode == 0, built.stderr
        arm_so = Path(built.stdout.strip().splitlines()[-1])
        assert elf_arch_name(arm_so) == "aarch64"
        x86 = _hil("vdev", "build", "target_vdevs/wdog", "--target", "qemu", "-o", str(tmp_path / "x86"))
        assert x86.returncode == 0, x86.stderr
        x86_so = Path(x86.stdout.strip().splitlines()[-1])
        assert elf_arch_name(x86_so) == "x86_64"

        conf, guest = "fixtures/qvmconf/wdog-terminate.qvmconf", "fixtures/guests/kick-then-starve.gs"
        common = ("qvm", "run", "--target", str(arm64_toml), "--conf", conf, "--guest", guest, "--json")
        wrong = _hil(*common, "--vdev", str(x86_so), attach=True)
        assert wrong.returncode == 2, (wrong.stdout, wrong.stderr)  # bad input, not an infrastructure error
        assert "built for x86_64, but the target is aarch64" in wrong.stderr, wrong.stderr

        run = _hil(*common, "--vdev", str(arm_so), attach=True)
        assert run.returncode == 0, run.stderr
        result = json.loads(run.stdout)
        assert result["reason"] == "WATCHDOG", result
    finally:
        down = _hil("target", "down", "--target", str(arm64_toml))
        assert down.returncode == 0, down.stderr


def test_nightly_selects_the_arm64_target_by_label(tmp_path: Path) -> None:
    done = _hil("nightly", "--target", "label:aarch64", "--reports", str(tmp_path), "--", "tests/hil", "-m", "demo")
    assert done.returncode == 0, done.stdout + done.stderr
    (junit,) = tmp_path.glob("*/junit.xml")
    text = junit.read_text()
    assert "qemu-arm64" in text and "test_sp805_counts_down_twice" not in text  # the demo selection only
