"""A bad configuration ends qvm with a fatal configuration error (65) and a line that says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil import Exit, QvmConfig
from tests.support.hil import TRACE_LOC, DeployedVdev, QvmRunner, VdevBuilder, vm

pytestmark = pytest.mark.hil


@pytest.mark.demo
def test_fatal_in_guest_configured(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC, fail_config="yes"), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    assert run.exit_status == 65
    run.log.expect(r"config failed", source="trace", level="FATAL")


def test_unknown_option_names_it(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC, bogus="1"), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    run.log.expect(r"run\.qvmconf:\d+: .*'bogus'")


def test_bad_option_value(hil_qvm: QvmRunner, wdog: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(wdog, loc=0x1C0F0000, action="explode"), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    run.log.expect(r"explode")


def test_missing_vdev(hil_qvm: QvmRunner) -> None:
    run = hil_qvm.run(vm().vdev("nosuchdev", loc=TRACE_LOC), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    run.log.expect(r"vdev-nosuchdev\.so|'nosuchdev'")


def test_abi_mismatch(hil_qvm: QvmRunner, hil_vdev: VdevBuilder) -> None:
    badabi = hil_vdev("target_vdevs/badabi")
    run = hil_qvm.run(vm().vdev(badabi, loc=TRACE_LOC), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    run.log.expect(r"(?i)abi")


def test_vdev_refusing_its_option(hil_qvm: QvmRunner, trace: DeployedVdev) -> None:
    run = hil_qvm.run(vm().vdev(trace, loc=TRACE_LOC, refuse="option"), timeout=20)
    run.assert_reason(Exit.FATAL_CONFIG)
    run.log.expect(r"trace.*refuse|refuse.*trace")


def test_fixture_file_with_builder_additions(hil_qvm: QvmRunner, trace: DeployedVdev, hil_artifacts: Path) -> None:
    conf = QvmConfig.from_file(Path("fixtures/qvmconf/trace.qvmconf")).dryrun()
    run = hil_qvm.run(conf, timeout=20)
    run.assert_reason(Exit.NORMAL)
    run.log.expect(r"ctrl GUEST_CONFIGURED", source="trace")
    run.log.expect_none(r"ctrl GUEST_STARTING")
    assert (hil_artifacts / "run1.qvm.log").read_text().rstrip() == run.log.text.rstrip()
