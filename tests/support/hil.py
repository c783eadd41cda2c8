"""The HIL suite's (tests/hil) guest addresses and base VM, and the types of its fixtures."""

from __future__ import annotations

from hil import DeployedVdev, QvmConfig, QvmRunner, QvmSession, Sweeper, Target, VdevBuilder

__all__ = ["TRACE_LOC", "WDOG_LOC", "DeployedVdev", "QvmRunner", "QvmSession", "Sweep", "Target", "VdevBuilder", "vm"]

#: ``hil_sweep(vdev, base=..., accept=..., ...)``: the configuration-fault sweep (``hil.Sweeper``).
Sweep = Sweeper

TRACE_LOC = 0x1C100000  # above the suite's 16M of guest RAM
WDOG_LOC = 0x1C0F0000


def vm() -> QvmConfig:
    """The suite's base VM."""
    return QvmConfig("hil").ram("16M")
