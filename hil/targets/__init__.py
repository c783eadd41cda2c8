"""Targets: where vdevs run.  ``make_target`` imports the kind it makes; ``TARGET_CLASSES`` every kind.

The names are imported on first use (PEP 562), so ``import hil.targets.qemu``
or ``hil.targets.definition`` does not load every kind's libraries (paramiko,
labgrid): the ``hil`` commands start in a fraction of a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from hil.targets.base import TARGET_CLASSES, GuestKind, Process, Target, register
    from hil.targets.board import BoardTarget
    from hil.targets.definition import KINDS, TargetDefinition
    from hil.targets.labgridplace import LabgridTarget
    from hil.targets.local import LocalProcess, LocalTarget
    from hil.targets.qemu import QemuTarget
    from hil.targets.serialboard import SerialBoardTarget

#: Where each public name lives.
_HOMES = {
    "TARGET_CLASSES": "base",
    "GuestKind": "base",
    "Process": "base",
    "Target": "base",
    "register": "base",
    "BoardTarget": "board",
    "KINDS": "definition",
    "LabgridTarget": "labgridplace",
    "LocalProcess": "local",
    "LocalTarget": "local",
    "QemuTarget": "qemu",
    "SerialBoardTarget": "serialboard",
}
#: The module whose import registers each kind (``hil.targets.base.register``).
#: The modules of each kind: the kind's own, then the variants it picks from (each registers itself with it).
_KIND_MODULES: dict[str, tuple[str, ...]] = {
    "board": ("board", "serialboard"),
    "labgrid": ("labgridplace",),
    "local": ("local",),
    "qemu": ("qemu",),
}

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


def target_class(definition: TargetDefinition) -> type[Target]:
    """The class that runs ``definition`` (``hil.targets.base.target_class``); only its kind's module
    is imported (a variant the kind picks imports its own)."""
    from hil.targets.base import target_class as find

    for module in _KIND_MODULES.get(definition.kind, (definition.kind,)):
        importlib.import_module(f"{__name__}.{module}")
    return find(definition)


def make_target(definition: TargetDefinition, run_dir: Path) -> Target:
    """The target object for a definition (not yet up); only its kind's module is imported."""
    return target_class(definition)(definition, run_dir)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        try:  # a submodule (``from hil.targets import sdk``)
            return importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    if name == "TARGET_CLASSES":
        for modules in _KIND_MODULES.values():
            for module in modules:
                importlib.import_module(f"{__name__}.{module}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
