"""The HIL suite: every test here runs once per selected target (``--hil-target``).
Its addresses and base VM are in tests.support.hil."""

from __future__ import annotations

import pytest


@pytest.fixture
def trace(hil_vdev):  # type: ignore[no-untyped-def]
    """The trace vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/trace")


@pytest.fixture
def wdog(hil_vdev):  # type: ignore[no-untyped-def]
    """The watchdog vdev, built for this target and deployed."""
    return hil_vdev("target_vdevs/wdog")
