"""The HIL suite's (tests/hil) guest addresses and base VM."""

from __future__ import annotations

from hil.qvm import QvmConfig

TRACE_LOC = 0x1C100000  # above the suite's 16M of guest RAM
WDOG_LOC = 0x1C0F0000


def vm() -> QvmConfig:
    """The suite's base VM."""
    return QvmConfig("hil").ram("16M")
