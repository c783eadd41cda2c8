"""Targets: where vdevs run.  Importing this package registers every kind."""

from hil.targets.base import TARGET_CLASSES, GuestKind, Process, Target, make_target, register, shell_command
from hil.targets.definition import KINDS
from hil.targets.local import LocalProcess, LocalTarget
from hil.targets.board import BoardTarget
from hil.targets.qemu import QemuTarget

__all__ = ["BoardTarget", "QemuTarget", "GuestKind", "KINDS", "LocalProcess", "LocalTarget", "Process", "TARGET_CLASSES",
           "Target", "make_target", "register", "shell_command"]
