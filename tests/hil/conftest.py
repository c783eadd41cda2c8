"""The HIL suite: every test here runs once per selected target (``--hil-target``)."""

from __future__ import annotations

import pytest

from hil.qvm import QvmConfig

TRACE_LOC = 0x1C100000  # above the suite's 16M of guest RAM
WDOG_LOC = 0x1C0F0000


@pytest.fixture
def trace(hil_vdev):  # type: ignore[no-untyped-def]
    """The trace vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/trace")


@pytest.fixture
def wdog(hil_vdev):  # type: ignore[no-untyped-def]
    """The watchdog vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/wdog")


def vm() -> QvmConfig:
    """The suite's base VM."""
    return QvmConfig("hil").ram("16M")
