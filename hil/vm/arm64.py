"""The aarch64 public QEMU target's machine: QEMU's ``virt`` board, booted directly.

``arm64_command`` is ``QemuMachine.command`` for an image whose ``arch`` is
``aarch64`` (``hil.vm.image``): the same wiring as x86_64 (the serial console
on our listening socket, SSH forwarded from a reserved loopback port, the pid
file naming the process) on QEMU's ``virt`` machine: no firmware (the kernel
``Image`` is entered directly with QEMU's generated device tree), the PL011
UART as ``ttyAMA0``, the NIC on virt's generic PCIe host bridge (built into
Debian's arm64 kernel; ``virtio_net`` and ``virtio_pci`` are modules the
image's ``/init`` loads, as on x86_64).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hil.core.errors import SetupError
from hil.vm.qemuargs import console_net_tail

if TYPE_CHECKING:
    from hil.vm.image import Image
    from hil.vm.qemuoptions import QemuOptions

#: The kernel command line: the PL011 serial port is ``ttyAMA0``; ``quiet``,
#: ``cryptomgr.notests`` and ``rodata=off`` as on x86_64 (``hil.vm.x86_64.KERNEL_CMDLINE``).
ARM64_KERNEL_CMDLINE = "console=ttyAMA0 quiet cryptomgr.notests rodata=off"

#: The CPU under TCG: cortex-a57 (ARMv8.0-A, the generation of the common QNX SoCs'
#: A53/A57/A72 cores) emulates fastest; ``max`` adds pointer authentication, slow to emulate.
#: ``-cpu`` in a definition's ``[qemu] extra_args`` chooses another (QEMU takes the last one).
ARM64_CPU = "cortex-a57"

#: QEMU device per NIC driver module on ``virt`` (``romfile=``: no EFI option ROM to load).
ARM64_NICS: dict[str, str] = {
    "virtio_net": "virtio-net-pci,romfile=",
    "e1000": "e1000,romfile=,autonegotiation=off",
    "e1000e": "e1000e,romfile=",
}


def arm64_command(
    image: Image,
    options: QemuOptions,
    serial_fd: int,
    ssh_port: int,
    accel: str,
    console_wait: bool,
    pidfile: Path,
) -> list[str]:
    """The QEMU command line booting ``image`` on ``virt`` (see the module docstring)."""
    nic = ARM64_NICS.get(image.nic_module.replace("-", "_"))
    if nic is None:
        raise SetupError(
            f"image NIC module '{image.nic_module}' has no QEMU device on the aarch64 virt machine; "
            f"use one of: {', '.join(sorted(ARM64_NICS))}"
        )
    return [
        options.qemu,
        "-nodefaults",
        "-no-user-config",
        "-name",
        f"hil-{image.spec_hash}",
        "-machine",
        f"virt,accel={accel}",
        "-cpu",
        "host" if accel == "kvm" else ARM64_CPU,
        "-smp",
        str(options.cpus),
        "-m",
        str(options.memory_mb),
        "-display",
        "none",
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        " ".join((ARM64_KERNEL_CMDLINE, *options.kernel_args)),
        *console_net_tail(serial_fd, console_wait, ssh_port, nic, pidfile, options.extra_args),
    ]
