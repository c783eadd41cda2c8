"""Targets: where vdevs run.  Importing this package registers every kind."""

from hil.targets.base import TARGET_CLASSES, GuestKind, Process, Target, make_target, register, target_class
from hil.targets.board import BoardTarget
from hil.targets.definition import KINDS
from hil.targets.labgridplace import LabgridTarget
from hil.targets.local import LocalProcess, LocalTarget
from hil.targets.qemu import QemuTarget
from hil.targets.serialboard import SerialBoardTarget

__all__ = [
    "KINDS",
    "TARGET_CLASSES",
    "BoardTarget",
    "GuestKind",
    "LabgridTarget",
    "LocalProcess",
    "LocalTarget",
    "Process",
    "QemuTarget",
    "SerialBoardTarget",
    "Target",
    "make_target",
    "register",
    "target_class",
]
