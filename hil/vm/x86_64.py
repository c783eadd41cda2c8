"""The x86_64 public QEMU target's machine: QEMU's ``pc`` board, the kernel booted directly.

``x86_64_command`` is ``QemuMachine.command`` for an image whose ``arch`` is
``x86_64`` (``hil.vm.arm64`` is the aarch64 one): the kernel booted with
``-kernel`` (the ELF vmlinux through its PVH entry when the image has one) and
the measured ``KERNEL_CMDLINE``, no option ROMs, no display, no defaults, qboot
as firmware when it is installed and the NIC interrupts through MSI, and the
wiring every machine shares (``hil.vm.qemuargs``).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.vm.accel import cpu_model
from hil.vm.qemuargs import console_net_tail

if TYPE_CHECKING:
    from hil.vm.image import Image
    from hil.vm.qemuoptions import QemuOptions

#: Kernel command line, each item measured under TCG on the stock Debian kernel:
#: ``quiet`` (every console byte costs time; panics and the ready marker still print),
#: ``cryptomgr.notests`` (crypto self-tests), ``acpi=off`` (~0.3 s; QEMU's ACPI tables
#: are off too, interrupts are routed by the firmware's MP table or MSI),
#: ``noapictimer`` (no local APIC timer calibration, ~0.2 s; the PIT/HPET ticks instead),
#: ``rodata=off`` (no read-only remap and W+X page table walk, ~0.1 s; a throwaway VM),
#: ``no_timer_check`` (the IO-APIC timer IRQ self-test: on a host loaded well past its cores a TCG
#: vCPU can miss its window and the kernel panics "IO-APIC + timer doesn't work!"; seen with two
#: VMs booting side by side at load 14 on 2 cores).
KERNEL_CMDLINE = "console=ttyS0 quiet cryptomgr.notests acpi=off noapictimer rodata=off no_timer_check"


@dataclass(frozen=True)
class NicDevice:
    """The QEMU device for a NIC driver module; ``msi``: it interrupts through MSI(-X),
    so it works with qboot, which (unlike SeaBIOS) writes no PCI interrupt routing."""

    device: str
    msi: bool


#: QEMU NIC device for each NIC driver module an image can carry.  ``romfile=`` skips
#: the PXE option ROM; e1000's link is up at once without autonegotiation.
NIC_DEVICES: dict[str, NicDevice] = {
    "virtio_net": NicDevice("virtio-net-pci,romfile=", msi=True),
    "e1000": NicDevice("e1000,romfile=,autonegotiation=off", msi=False),
    "e1000e": NicDevice("e1000e,romfile=", msi=True),
}

#: Where QEMU keeps its firmware files (qboot boots ~0.1 s faster than SeaBIOS).
_FIRMWARE_DIRS = ("/usr/share/qemu", "/usr/local/share/qemu")


def x86_64_command(
    image: Image,
    options: QemuOptions,
    serial_fd: int,
    ssh_port: int,
    accel: str,
    console_wait: bool,
    pidfile: Path,
    nic: NicDevice,
) -> list[str]:
    """The QEMU command line booting ``image`` on ``pc`` with ``nic`` (see the module docstring)."""
    o = options
    append = " ".join((KERNEL_CMDLINE, *o.kernel_args))
    qboot = _qboot(o.qemu) if nic.msi else None
    return [
        o.qemu,
        "-nodefaults",
        "-no-user-config",
        "-name",
        f"hil-{image.spec_hash}",
        "-machine",
        f"pc,accel={accel},acpi=off",
        "-cpu",
        cpu_model(accel),
        *(["-bios", qboot] if qboot else []),
        "-smp",
        str(o.cpus),
        "-m",
        str(o.memory_mb),
        "-vga",
        "none",
        "-display",
        "none",
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        append,
        *console_net_tail(serial_fd, console_wait, ssh_port, nic.device, pidfile, o.extra_args),
    ]


def _qboot(qemu: str) -> str | None:
    """Path of QEMU's qboot firmware, if installed (beside the binary's share/qemu or a system dir)."""
    binary = shutil.which(qemu)
    dirs = [str(Path(binary).resolve().parent.parent / "share" / "qemu")] if binary else []
    for d in (*dirs, *_FIRMWARE_DIRS):
        path = Path(d, "qboot.rom")
        if path.is_file():
            return str(path)
    return None
