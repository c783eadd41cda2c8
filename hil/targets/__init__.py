"""Targets: where vdevs run.  ``make_target`` and ``TARGET_CLASSES`` from here register every kind.

The names are imported on first use (PEP 562), so ``import hil.targets.qemu``
or ``hil.targets.definition`` does not load every kind's libraries (paramiko,
labgrid): the ``hil`` commands start in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hil.targets.base import TARGET_CLASSES, GuestKind, Process, Target, make_target, register
    from hil.targets.board import BoardTarget
    from hil.targets.definition import KINDS
    from hil.targets.labgridplace import LabgridTarget
    from hil.targets.local import LocalProcess, LocalTarget
    from hil.targets.qemu import QemuTarget

#: Where each public name lives.
_HOMES = {
    "TARGET_CLASSES": "base",
    "GuestKind": "base",
    "Process": "base",
    "Target": "base",
    "make_target": "base",
    "register": "base",
    "BoardTarget": "board",
    "KINDS": "definition",
    "LabgridTarget": "labgridplace",
    "LocalProcess": "local",
    "LocalTarget": "local",
    "QemuTarget": "qemu",
}
#: The modules whose import registers a kind (``hil.targets.base.register``).
_KIND_MODULES = ("board", "labgridplace", "local", "qemu")

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
    "Target",
    "make_target",
    "register",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        try:  # a submodule (``from hil.targets import sdk``)
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if name in ("TARGET_CLASSES", "make_target"):
        for module in _KIND_MODULES:
            importlib.import_module(f"{__name__}.{module}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
