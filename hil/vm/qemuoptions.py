"""How to run QEMU (``QemuOptions``): the machine's size, accelerator, boot deadline and extra arguments.

A module of its own so that the machine builders (``hil.vm.x86_64``,
``hil.vm.arm64``) and the machine that calls them (``hil.vm.qemu``) all read
it without importing each other.  ``hil.vm.qemu.QemuOptions`` is the same class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["QemuOptions"]


@dataclass(frozen=True)
class QemuOptions:
    """How to run QEMU: size, accelerator ("auto": KVM only where a probe proves it boots),
    ``boot_timeout`` (wait_ready's default deadline), extra QEMU and kernel arguments."""

    memory_mb: int = 256
    cpus: int = 1
    accel: Literal["auto", "tcg", "kvm"] = "auto"
    boot_timeout: float = 60.0
    extra_args: tuple[str, ...] = ()
    qemu: str = "qemu-system-x86_64"
    kernel_args: tuple[str, ...] = ()
