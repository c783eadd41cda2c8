"""CPU architectures: the one table of their names and what each tool calls them.

A target definition's ``arch`` is one of ``ARCHES`` (``x86_64`` or ``aarch64``;
``amd64`` and ``arm64`` are accepted as their Debian names).  Each has its
Debian package architecture (multi-arch ``apt-get download NAME:ARCH``), its
GNU triplet (the cross compiler ``<triplet>-gcc``), its ELF ``e_machine`` (a
built ``.so`` is checked against the target before it is deployed) and its
serial console device under Linux.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from hil.core.errors import SetupError


@dataclass(frozen=True)
class Arch:
    """One CPU architecture as every tool names it."""

    name: str  # ours (and uname -m's, and QEMU's qemu-system-<name>)
    debian: str  # dpkg --print-architecture
    triplet: str  # GNU triplet of Debian's cross toolchain
    e_machine: int  # ELF header e_machine
    console: str  # the Linux serial console QEMU's machine gives it
    qcc_variant: str  # qcc -V for a QNX board of this architecture


ARCHES: dict[str, Arch] = {
    "x86_64": Arch("x86_64", "amd64", "x86_64-linux-gnu", 62, "ttyS0", "gcc_ntox86_64"),
    "aarch64": Arch("aarch64", "arm64", "aarch64-linux-gnu", 183, "ttyAMA0", "gcc_ntoaarch64le"),
}

_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "arm64": "aarch64", "aarch64le": "aarch64"}

#: ELF e_machine numbers worth naming in an error (beyond ``ARCHES``).
_MACHINE_NAMES = {3: "i386", 40: "arm (32-bit)", 62: "x86_64", 183: "aarch64", 243: "riscv"}


def arch(name: str) -> Arch:
    """The architecture called ``name`` (ours or Debian's); SetupError naming the known ones."""
    key = _ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return ARCHES[key]
    except KeyError:
        raise SetupError(f"unknown architecture '{name}': use one of {', '.join(ARCHES)}") from None


def host_arch() -> Arch:
    """This host's architecture (``uname -m``)."""
    return arch(os.uname().machine)


def is_host(name: str) -> bool:
    """True when ``name`` is this host's architecture (its binaries run here)."""
    try:
        return arch(name) == host_arch()
    except SetupError:
        return False


def gcc_for(name: str) -> str:
    """The gcc that builds Linux binaries for ``name``: ``gcc`` here, else Debian's cross gcc."""
    a = arch(name)
    return "gcc" if is_host(a.name) else f"{a.triplet}-gcc"


def elf_machine(data: bytes) -> int | None:
    """The ``e_machine`` of an ELF file's header (None: not ELF)."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None
    fmt = "<H" if data[5] == 1 else ">H"
    (machine,) = struct.unpack_from(fmt, data, 18)
    return int(machine)


def machine_name(e_machine: int | None) -> str:
    """A readable name for an ELF ``e_machine``."""
    if e_machine is None:
        return "not an ELF file"
    return _MACHINE_NAMES.get(e_machine, f"ELF machine {e_machine}")


def elf_arch_name(path: Path) -> str:
    """The architecture of the ELF file ``path`` (one of ``ARCHES``, else a readable description)."""
    with open(path, "rb") as f:
        machine = elf_machine(f.read(64))
    for a in ARCHES.values():
        if a.e_machine == machine:
            return a.name
    return machine_name(machine)


def check_elf_arch(path: Path, want: str, what: str) -> None:
    """SetupError when the ELF file ``path`` is not built for architecture ``want``."""
    a = arch(want)
    try:
        have = elf_arch_name(path)
    except OSError as exc:
        raise SetupError(f"{what}: cannot read {path}: {exc}") from exc
    if have == machine_name(None):
        return  # not ELF at all: qvm's own dlopen error says so
    if have != a.name:
        raise SetupError(
            f"{what}: {path} is built for {have}, but the target is {a.name}: build it for the target "
            f"(`hil vdev build SRC --target NAME`, or the hil_vdev fixture builds with the target's toolchain)"
        )
