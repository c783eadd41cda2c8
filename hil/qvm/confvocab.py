"""The qvm configuration vocabulary: its options, logger filters, variables, and the checks of their values.

What QNX documents for a ``.qvmconf`` (and ``hil/qvmsim/BEHAVIOUR.md``): the
context openers and VM-wide options with their arity, the options of each
context, the logger filter set and destinations, ``unsupported`` and ``safety``
values, the typed ``set`` variables (``SET_VARIABLES``) and qvmsim's built-in
vdevs.  qvmsim lists its own (``qvm --vocabulary``, from the tables its parser
runs on); ``tests/qvmsim/test_vocabulary.py`` holds the two equal.  The value checks here are the one place both the
parser (``hil.qvm.confparse``) and the builder (``hil.qvm.config``) check a value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from hil.core.errors import ConfigError

#: The logger filter *set* and its destinations [doc].  The logger page spells
#: the warning filter ``warn``, the "Common vdev options" page (``log``) spells it
#: ``warning``: both are accepted everywhere and rendered as written.
LOGGER_FILTERS: tuple[str, ...] = ("fatal", "internal", "error", "warn", "info", "debug", "verbose")
FILTER_ALIASES: Mapping[str, str] = {"warning": "warn"}
LOGGER_DESTS: tuple[str, ...] = ("stdout", "stderr", "slog", "none")

#: ``unsupported TYPE ACTION`` [doc 8.0 vm/unsupported.html] and the documented defaults.
UNSUPPORTED_TYPES: Mapping[str, str] = {"instruction": "fail", "reference": "ignore", "register": "fail"}
UNSUPPORTED_ACTIONS: tuple[str, ...] = ("abort", "fail", "ignore")
#: ``safety none|warn|required`` [doc 7.1 vm/safety.html].
SAFETY_VALUES: tuple[str, ...] = ("none", "warn", "required")


@dataclass(frozen=True)
class SetVariable:
    """A documented qvm configuration variable (``set VAR VALUE``): its type, implicit context, source."""

    name: str
    type: str  # address, boolean, tristate, number, string
    context: str  # global or vdev
    source: str  # the QNX page that documents it


_V80 = "8.0 vm/variables.html"
_S80 = "8.0 vm/set.html (qvm set ? sample)"
_V71 = "7.1 vm/variables.html"
#: The variables qvmsim knows (and ``QvmConfig.set`` accepts); a real qvm may know
#: more (platform- or vdev-defined ones: use ``option("set", VAR, VALUE)`` for those).
SET_VARIABLES: Mapping[str, SetVariable] = {
    v.name: v
    for v in (
        SetVariable("counter-offset", "number", "global", _V80),
        SetVariable("debug", "boolean", "vdev", _V80),
        SetVariable("exit-on-halt", "boolean", "global", _V80),
        SetVariable("fdt-dump-file", "string", "global", _V80),
        SetVariable("legacy-free", "boolean", "global", _S80),
        SetVariable("message-block-timeout", "number", "global", _S80),
        SetVariable("posted-interrupts", "boolean", "global", _S80),
        SetVariable("virtual-interrupts", "boolean", "global", _S80),
        SetVariable("grow-heap", "address", "global", _V71),
        SetVariable("slog-buffer", "address", "global", _V71),
        SetVariable("vdev-message-block-timeout", "number", "vdev", _V71),
        SetVariable("gic-hwassist", "boolean", "global", _V71 + " (ARM)"),
        SetVariable("host-paddr-gicd", "address", "global", _V71 + " (ARM)"),
        SetVariable("host-paddr-gich", "address", "global", _V71 + " (ARM)"),
    )
}
_BOOLEAN = ("on", "off", "1", "0", "yes", "no", "true", "false")
_TRISTATE = ("on", "off", "auto")

#: Context-opening options -> how many arguments they take (vdev NAME, cpu, pass).
CONTEXT_OPENERS: Mapping[str, int] = {"vdev": 1, "cpu": 0, "pass": 0}
#: VM-wide options the parser knows -> argument count (-1: until the next known option).
GLOBAL_OPTIONS: Mapping[str, int] = {
    "system": 1,
    "ram": 1,
    "rom": 1,
    "load": 1,
    "dump": 1,
    "logger": 2,
    "set": 2,
    "dryrun": 0,
    "unsupported": 2,
    "safety": 1,
    # accepted by qvmsim with a line saying it does not model them (BEHAVIOUR.md): the guest OS's
    # command line [doc 8.0 vm/cmdline.html], `initrd load [ADDR,]PATH` and `data load [ADDR,]PATH`
    # [doc 8.0 vm/initrd.html, vm/data.html], guest debugging [doc 8.0 vm/debug.html]
    "cmdline": 1,
    "initrd": 2,
    "data": 2,
    "debug": 0,
}
#: Options qvm handles for every vdev -> argument count; they never reach the vdev [doc].
VDEV_COMMON_ARITY: Mapping[str, int] = {"loc": 1, "intr": 1, "name": 1, "log": 2}
VDEV_COMMON_OPTIONS: tuple[str, ...] = tuple(VDEV_COMMON_ARITY)
#: The options of a ``cpu`` context [doc 8.0 vm/cpu.html] and of a ``pass`` context
#: [doc 8.0 vm/pass.html] that qvmsim knows -> argument count.
CPU_OPTIONS: Mapping[str, int] = {"sched": 1, "runmask": 1, "cluster": 1}
PASS_OPTIONS: Mapping[str, int] = {"loc": 1, "intr": 1}


@dataclass(frozen=True)
class BuiltinVdev:
    """A vdev built into qvmsim (``hil/qvmsim/BEHAVIOUR.md``, "Built-in vdevs"): a stand-in for one QNX ships.

    ``modelled``: it behaves (else accepted, not modelled: its options are checked, nothing more);
    ``options`` take a value, ``flags`` do not; ``own_intr``: ``intr`` is its own option, not the common one.
    """

    name: str
    modelled: bool
    options: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    own_intr: bool = False


_UART = ("batch", "delayed", "hostdev", "sched")
#: qvmsim's built-in vdevs by name: a configuration's ``vdev NAME`` for one of them needs no
#: ``vdev-NAME.so`` on qvmsim (QNX's qvm ships its own).
BUILTIN_VDEVS: Mapping[str, BuiltinVdev] = {
    b.name: b
    for b in (
        BuiltinVdev("wdt-sp805", True, ("action", "frequency")),
        BuiltinVdev("wdt-ib700", True, ("action",)),
        BuiltinVdev("pl011", True, _UART),
        BuiltinVdev("ser8250", True, _UART),
        BuiltinVdev("gic", False, ("version",)),
        BuiltinVdev("ioapic", False, ("intr",), own_intr=True),
        BuiltinVdev("pic", False, ("intr",), own_intr=True),
        BuiltinVdev("timer8254", False),
        BuiltinVdev("hpet", False),
        BuiltinVdev("mc146818", False),
        BuiltinVdev("pckeyboard", False),
        BuiltinVdev("smmu", False),
        BuiltinVdev("shmem", False, ("allow", "create", "deny", "sched", "subst")),
        BuiltinVdev("virtio-net", False, ("mac", "peer", "peerfeats"), ("legacy",)),
        BuiltinVdev("virtio-blk", False, ("delayed", "dio", "hostdev", "threads"), ("legacy",)),
        BuiltinVdev("virtio-console", False, ("batch", "delayed", "hostdev", "sched"), ("legacy",)),
        BuiltinVdev("virtio-entropy", False, (), ("legacy",)),
        BuiltinVdev("virtio-input", False, (), ("legacy",)),
    )
}

_SIZE = r"(?:0x[0-9a-f]+|0d\d+|\d+)(?:[kmgt]b?)?"
#: ``ram [start,]len`` (sizes like 16M, 0x1000000, 1G).
RAM_SIZE = re.compile(rf"^(?:{_SIZE},)?{_SIZE}$", re.IGNORECASE)


def check_unsupported(kind: str, action: str, where: str) -> None:
    if kind not in UNSUPPORTED_TYPES:
        raise ConfigError(f"bad type {kind!r}; allowed: {', '.join(UNSUPPORTED_TYPES)}", where, "unsupported")
    if action not in UNSUPPORTED_ACTIONS:
        raise ConfigError(f"bad action {action!r}; allowed: {', '.join(UNSUPPORTED_ACTIONS)}", where, "unsupported")


def check_set_value(var: SetVariable, value: str, where: str, context: str | None) -> None:
    """A documented variable's value checked against its type [doc 8.0 vm/set.html]."""
    key = f"set {var.name}"
    if var.context == "vdev" and context != "vdev":
        raise ConfigError(
            f"{var.name!r} is a vdev variable: set it inside a vdev context "
            "(after 'vdev NAME'; QvmConfig: vdev(..., variables={...}))",
            where,
            key,
        )
    ok = {
        "boolean": value.lower() in _BOOLEAN,
        "tristate": value.lower() in _TRISTATE,
        "number": re.fullmatch(r"0x[0-9a-fA-F]{1,16}|\d+", value) is not None and int(value, 0) < 1 << 64,
        "address": re.fullmatch(_SIZE, value, re.IGNORECASE) is not None,
        "string": value != "",
    }[var.type]
    if not ok:
        allowed = {
            "boolean": "/".join(_BOOLEAN),
            "tristate": "on, off or auto",
            "number": "a non-negative 64-bit integer, decimal or 0x hex",
            "address": "a size or address like 4K, 0x1000, 0d16384",
            "string": "a word",
        }[var.type]
        raise ConfigError(f"bad {var.type} value {value!r}; expected {allowed}", where, key)


def require_filters(parts: list[str], where: str, key: str) -> None:
    """The one check of a logger filter set (config files and the builder alike)."""
    bad = [p for p in parts if p not in LOGGER_FILTERS and p not in FILTER_ALIASES]
    if bad or not parts:
        raise ConfigError(
            f"unknown log filter(s) {', '.join(map(repr, bad)) or '(none given)'}; "
            f"allowed, as a comma-separated set: {', '.join(LOGGER_FILTERS)}",
            where,
            key,
        )


def check_logger(filters: str, dest: str, where: str, key: str) -> None:
    require_filters(filters.split(",") if filters else [], where, key)
    check_dest(dest, where, key)


def check_dest(dest: str, where: str, key: str) -> str:
    if dest not in LOGGER_DESTS:
        raise ConfigError(f"unknown log destination {dest!r}; allowed: {', '.join(LOGGER_DESTS)}", where, key)
    return dest


__all__ = [
    "BUILTIN_VDEVS",
    "CONTEXT_OPENERS",
    "CPU_OPTIONS",
    "FILTER_ALIASES",
    "GLOBAL_OPTIONS",
    "LOGGER_DESTS",
    "LOGGER_FILTERS",
    "PASS_OPTIONS",
    "RAM_SIZE",
    "SAFETY_VALUES",
    "SET_VARIABLES",
    "UNSUPPORTED_ACTIONS",
    "UNSUPPORTED_TYPES",
    "VDEV_COMMON_ARITY",
    "VDEV_COMMON_OPTIONS",
    "BuiltinVdev",
    "SetVariable",
    "check_dest",
    "check_logger",
    "check_set_value",
    "check_unsupported",
    "require_filters",
]
