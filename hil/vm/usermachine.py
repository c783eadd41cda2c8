"""A user's own image under QEMU: booted as its definition says, wired like the public one.

``UserImage`` is what a ``[qemu]`` table names instead of the public image (a QNX
SDP licensee's ``mkqnximage`` output, say): a kernel (``-kernel``, with an initrd
and a command line), a disk image, more ``-drive`` arguments, the machine and
NIC, the console line that means it booted, and the guest's SSH port.
``UserQemuMachine`` runs it with the wiring of ``hil.vm.qemu.QemuMachine``: the
serial console on our listening socket (the guest starts when the first console
client connects), user-mode networking with SSH forwarded from a reserved
loopback port, the pid file, QEMU's stderr and command line in its run folder.

Nothing of ours goes into the image (no key, no program): the user's image
brings its own SSH server, host key and qvm.  Its disk is opened with
``snapshot=on`` (the guest's writes go to a throwaway overlay), so the image
stays as it was and parallel runs can share it.  A user image always boots
cold: ``hil.vm.snapshot`` saves and restores the public image only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from hil.core.errors import SetupError
from hil.vm.accel import cpu_model
from hil.vm.qemu import QemuMachine, QemuOptions
from hil.vm.qemuargs import console_net_tail
from hil.vm.x86_64 import NicDevice

#: Disk image formats QEMU is told by the file's suffix (anything else is raw).
DISK_FORMATS: dict[str, str] = {".qcow2": "qcow2", ".vmdk": "vmdk", ".vdi": "vdi", ".vhdx": "vhdx", ".img": "raw"}

#: Each architecture's default machine, and the interface its disk image is attached by.
DEFAULT_MACHINES: dict[str, tuple[str, str]] = {"x86_64": ("pc", "ide"), "aarch64": ("virt", "virtio")}


@dataclass(frozen=True)
class UserImage:
    """A user-supplied image: absolute paths, and how to boot and reach it (see the module docstring)."""

    name: str
    kernel: Path | None = None
    initrd: Path | None = None
    append: str | None = None
    disk: Path | None = None
    drives: tuple[str, ...] = ()
    machine: str | None = None
    nic: str = "virtio-net-pci"
    ready_regex: str | None = None
    ssh_port: int = 22
    arch: str = "x86_64"

    def described(self) -> str:
        """One line for reports: what it boots."""
        parts = [f"{what} {path.name}" for what, path in (("kernel", self.kernel), ("disk", self.disk)) if path]
        return "user image: " + (", ".join(parts) or "drives only")


def user_command(
    user: UserImage,
    options: QemuOptions,
    serial_fd: int,
    ssh_port: int,
    accel: str,
    console_wait: bool,
    pidfile: Path,
) -> list[str]:
    """The QEMU command line booting ``user`` (only what it names, plus our console, network and pid file)."""
    machine, disk_if = DEFAULT_MACHINES.get(user.arch, ("pc", "ide"))
    nic = user.nic if "romfile" in user.nic else f"{user.nic},romfile="  # no PXE option ROM to need or load
    argv = [
        options.qemu,
        "-nodefaults",
        "-no-user-config",
        "-name",
        f"hil-user-{user.name}",
        "-machine",
        f"{user.machine or machine},accel={accel}",
        "-cpu",
        cpu_model(accel),
        "-smp",
        str(options.cpus),
        "-m",
        str(options.memory_mb),
        "-display",
        "none",
    ]
    if user.kernel is not None:
        argv += ["-kernel", str(user.kernel)]
        if user.initrd is not None:
            argv += ["-initrd", str(user.initrd)]
        if user.append is not None:
            argv += ["-append", user.append]
    if user.disk is not None:
        fmt = DISK_FORMATS.get(user.disk.suffix.lower(), "raw")
        argv += ["-drive", f"file={_qemu_escape(str(user.disk))},format={fmt},if={disk_if},snapshot=on"]
    for drive in user.drives:
        argv += ["-drive", drive]
    return [
        *argv,
        *console_net_tail(serial_fd, console_wait, ssh_port, nic, pidfile, options.extra_args, user.ssh_port),
    ]


def _qemu_escape(value: str) -> str:
    """A value inside a QEMU option string: commas doubled."""
    return value.replace(",", ",,")


class UserQemuMachine(QemuMachine):
    """One QEMU process running a ``UserImage``: ``QemuMachine``'s lifecycle, never a snapshot.

    ``wait_ready`` waits for ``ready_regex`` (a regex; none: no console wait) on the
    console, then for an SSH banner on the forwarded port.
    """

    def __init__(
        self, user: UserImage, options: QemuOptions | None = None, *, run_dir: Path, die_with_parent: bool = True
    ) -> None:
        self.user = user
        self.guest_ssh_port = user.ssh_port
        self._setup(options or QemuOptions(), run_dir, die_with_parent, snapshot=False, restore=False)

    def ready_marker(self) -> str:
        return self.user.ready_regex or ""

    def _marker_seen(self, marker: str, console: bytes) -> bool:
        return re.search(marker, console.decode("utf-8", errors="replace")) is not None

    def _nic(self) -> NicDevice:
        return NicDevice(self.user.nic, msi=True)

    def command(self, serial_fd: int, ssh_port: int, accel: str, console_wait: bool = True) -> list[str]:
        return user_command(self.user, self.options, serial_fd, ssh_port, accel, console_wait, self.pidfile)

    def _plan_snapshot(self, argv: list[str]) -> bool:
        self._snapshot = None
        return False

    def state(self) -> dict[str, Any]:
        self._no_background()

    def _no_background(self) -> NoReturn:
        raise SetupError(
            f"a user image ({self.user.name}) runs per test session only: 'hil target up' keeps the public image"
        )

    def __repr__(self) -> str:
        return f"UserQemuMachine({self.user.name}, pid={self.pid}, ssh=127.0.0.1:{self.ssh_port})"
