"""The sanitizer gate on every target of the suite (local, qemu, qemu-arm64): qvmsim's sanitizer build
and its runtime are of the target's architecture, and every qvm the tool starts (a test's run, the
configuration-fault sweep's option listing) is that qvm with the same environment.

The deliberately buggy vdev (tests/gates/vdevs/buggy) is built with ASan and UBSan for the target.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hil.core.errors import SetupError
from hil.qvm import Exit, QvmConfig
from hil.qvmrun.gates import Gates
from hil.qvmrun.runner import QvmRunner
from hil.qvmrun.sweep import FINDING, Acceptances, run_sweep
from hil.targets import Target
from hil.targets.definition import builtin_definitions
from hil.targets.deploy import Deployment
from hil.targets.toolchain import build_vdev
from tests.support.inner import run_inner_pytest
from tests.support.paths import REPO

BUGGY = REPO / "tests" / "gates" / "vdevs" / "buggy"
GATES = Gates(sanitize=("address", "undefined"))


def _buggy(target: Target, deployment: Deployment) -> str:
    built = build_vdev([BUGGY], target.toolchain().with_gates(False, GATES.sanitize))
    deployment.put_file(built.path, built.path.name, 0o755)
    return built.name


@pytest.mark.hil
def test_sanitizer_qvm_runs_on_the_target(hil_target: Target, hil_deployment: Deployment, hil_artifacts: Path) -> None:
    """The sanitizer qvm starts on the target (of its architecture: no "ELF: not found" on qemu-arm64),
    is clean itself, and reports the vdev's planted heap overflow, symbolised to its line."""
    name = _buggy(hil_target, hil_deployment)
    runner = QvmRunner(hil_target, hil_deployment, hil_artifacts, hil_target.console, GATES)
    clean = runner.run(QvmConfig("vm").vdev(name, mode="a"), timeout=60, stdin=["shutdown"])
    clean.assert_reason(Exit.NORMAL)
    clean.log.expect(r"mode a", source="buggy")
    assert runner.sanitizer_findings == [], runner.sanitizer_findings
    runner.run(QvmConfig("vm").vdev(name, overflow=True), timeout=60)
    asan = [f for f in runner.sanitizer_findings if "AddressSanitizer: heap-buffer-overflow" in f]
    assert len(asan) == 1 and "in buggy_control" in asan[0] and "buggy.c:36" in asan[0], runner.sanitizer_findings


@pytest.mark.hil
def test_sanitized_sweep_lists_the_options_and_finds_the_overflow(hil_target: Target, hil_artifacts: Path) -> None:
    """The sweep's option listing (``qvm vdev buggy ?``) runs the sanitizer qvm, as its runs do (a plain
    qvm cannot load an ASan vdev: "ASan runtime does not come first in initial library list"), and the
    sweep finds the planted overflow."""
    built = build_vdev([BUGGY], hil_target.toolchain().with_gates(False, GATES.sanitize))
    others = ("mode", "shift", "leak", "loc", "intr", "unknown")
    acc = Acceptances(exclude={n: "not this test's" for n in others})
    # the sweep's own timeout (8 s): on qemu-arm64 LeakSanitizer's end check has Gates.end_allowance on top
    report = run_sweep(hil_target, built.path, built.name, hil_artifacts / "sweep", acceptances=acc, gates=GATES)
    assert {r.case.id for r in report.results} == {"overflow-argument", "overflow-repeat"}, report.table()
    findings = {r.case.id: r for r in report.results if r.verdict == FINDING}
    assert set(findings) == {"overflow-repeat"}, report.table()
    assert findings["overflow-repeat"].outcome == "SANITIZER", report.table()
    assert "buggy.c:36" in findings["overflow-repeat"].detail, report.table()  # UBSan's report, then ASan's
    kept = (hil_artifacts / "sweep" / "runs" / "overflow-repeat" / "run1.sanitizer.txt").read_text()
    assert "AddressSanitizer: heap-buffer-overflow" in kept, kept


def test_what_the_host_cannot_make_is_a_setup_error_before_bring_up() -> None:
    """A qemu-arm64 whose arm64 ASan runtime cannot be had (a pinned version apt does not know) fails
    in ``Gates.prepare``, which the target pool and ``hil vdev sweep`` call before bringing a target up."""
    base = builtin_definitions()["qemu-arm64"]
    pinned = dataclasses.replace(base.qemu, versions={"libasan8": "0.0-no-such-version"})
    definition = dataclasses.replace(base, qemu=pinned)
    with pytest.raises(SetupError, match=r"--hil-sanitize for an aarch64 target needs Debian's libasan8:arm64"):
        GATES.prepare(definition)
    GATES.prepare(base)  # the real one: qvm cross-built, Debian's arm64 runtime fetched


PINNED = """name = "arm-pinned"
kind = "qemu"
arch = "aarch64"

[qemu]
versions = { libasan8 = "0.0-no-such-version" }
"""


def test_the_pool_fails_before_bringing_the_target_up(tmp_path: Path) -> None:
    """Under ``--hil-sanitize`` the session's target pool prepares the gates first: the test is an error
    naming the package, and no VM was booted for it."""
    (tmp_path / "defs").mkdir()
    (tmp_path / "defs" / "arm-pinned.toml").write_text(PINNED)
    (tmp_path / "test_inner.py").write_text("def test_x(hil_qvm):\n    pass\n")
    done = run_inner_pytest(
        tmp_path / "test_inner.py",
        *("--hil-targets-dir", str(tmp_path / "defs"), "--hil-sanitize", "address,undefined"),
        targets=("arm-pinned",),
        artifacts=tmp_path / "artifacts",
    )
    assert "1 error" in done.stdout, done.stdout[-3000:]
    assert "SETUP ERROR: --hil-sanitize for an aarch64 target needs Debian's libasan8:arm64" in done.stdout
    assert not (tmp_path / "artifacts" / "arm-pinned" / "target").exists()  # the VM's run folder: never made
