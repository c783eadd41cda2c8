"""The HIL suite: every test here runs once per selected target (``--hil-target``).
Its addresses, base VM and fixture types (QvmRunner, DeployedVdev, VdevBuilder, ...) are in tests.support.hil."""

from __future__ import annotations

import pytest

from tests.support.hil import DeployedVdev, VdevBuilder


@pytest.fixture
def trace(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The trace vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/trace")


@pytest.fixture
def wdog(hil_vdev: VdevBuilder) -> DeployedVdev:
    """The watchdog vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/wdog")
