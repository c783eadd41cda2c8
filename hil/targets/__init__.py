"""Targets: where vdevs run.  Importing this package registers every kind."""

from hil.targets.base import KINDS, Process, Target, make_target, register, shell_command
from hil.targets.local import LocalProcess, LocalTarget

__all__ = ["KINDS", "LocalProcess", "LocalTarget", "Process", "Target", "make_target", "register",
           "shell_command"]
