"""Targets: where vdevs run.  Importing this package registers every kind."""

from hil.targets.base import KINDS, Process, Target, make_target, register, shell_command
from hil.targets.local import LocalProcess, LocalTarget
from hil.targets.board import BoardTarget
from hil.targets.qemu import QemuTarget

__all__ = ["BoardTarget", "QemuTarget", "KINDS", "LocalProcess", "LocalTarget", "Process", "Target", "make_target", "register",
           "shell_command"]
