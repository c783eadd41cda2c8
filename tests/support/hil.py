"""The HIL suite's (tests/hil) guest addresses and base VM, and the types of its fixtures."""

from __future__ import annotations

from collections.abc import Callable

from hil.pytestplugin.vdevs import DeployedVdev
from hil.qvm import QvmConfig
from hil.qvmrun.runner import QvmRunner, QvmSession
from hil.qvmrun.sweep import SweepReport
from hil.targets.base import Target

__all__ = ["TRACE_LOC", "WDOG_LOC", "DeployedVdev", "QvmRunner", "QvmSession", "Sweep", "Target", "VdevBuilder", "vm"]

#: ``hil_vdev(source, *more, name=None)``: builds and deploys a vdev (hil.pytestplugin.vdevs.hil_vdev).
VdevBuilder = Callable[..., DeployedVdev]
#: ``hil_sweep(vdev, base=..., accept=..., ...)``: the configuration-fault sweep (hil.pytestplugin.vdevs.hil_sweep).
Sweep = Callable[..., SweepReport]

TRACE_LOC = 0x1C100000  # above the suite's 16M of guest RAM
WDOG_LOC = 0x1C0F0000


def vm() -> QvmConfig:
    """The suite's base VM."""
    return QvmConfig("hil").ram("16M")
