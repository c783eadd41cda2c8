"""The QEMU machine launcher: boots an ``Image`` and tells when it is ready.

One ``QemuMachine`` is one ``qemu-system-x86_64`` process:

* the serial port is a loopback TCP server (``socket://127.0.0.1:PORT``).  We
  bind and listen on it ourselves and hand the listening socket to QEMU
  (``-chardev socket,fd=N,server=on,wait=on``): no port race, and QEMU does not
  start the guest before the first console client connects, so no boot output
  is lost;
* SSH is forwarded from a loopback port (``-netdev user,hostfwd=...``).  The port
  is held by a bound, non-listening ``SO_REUSEADDR`` socket until SSH answers, so
  no other process can take it between our choice and QEMU's bind;
* the kernel is booted directly (``-kernel``; the ELF vmlinux through its PVH
  entry when the image has one), with no option ROMs, no display, no defaults;
* QEMU's stderr goes to ``run_dir/qemu.stderr`` for error messages.

QEMU is never orphaned: with ``die_with_parent`` the child gets
``PR_SET_PDEATHSIG(SIGKILL)``; it is forked from a long-lived daemon thread,
because the signal fires when the *thread* that forked exits, not the process.
Owned machines are also stopped from ``atexit`` and on SIGTERM.  A machine started
with ``die_with_parent=False`` (``hil target up``) runs in its own session and
is found again through ``state()`` / ``QemuMachine.attach()``.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.core.paths import cache_dir, file_lock, hash_inputs
from hil.core.text import tail_lines
from hil.vm import snapshot as snapshots
from hil.vm.arm64 import arm64_command
from hil.vm.image import Image, load_image
from hil.vm.qemuargs import console_net_tail
from hil.vm.qmp import Qmp

#: Kernel command line, each item measured under TCG on the stock Debian kernel:
#: ``quiet`` (every console byte costs time; panics and the ready marker still print),
#: ``cryptomgr.notests`` (crypto self-tests), ``acpi=off`` (~0.3 s; QEMU's ACPI tables
#: are off too, interrupts are routed by the firmware's MP table or MSI),
#: ``noapictimer`` (no local APIC timer calibration, ~0.2 s; the PIT/HPET ticks instead),
#: ``rodata=off`` (no read-only remap and W+X page table walk, ~0.1 s; a throwaway VM).
KERNEL_CMDLINE = "console=ttyS0 quiet cryptomgr.notests acpi=off noapictimer rodata=off"


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

#: How long start() waits for QEMU's "waiting for connection" note.  Our listening socket
#: accepts from the start anyway; this only turns an early exit into a clear error.
_START_GRACE = 5.0
#: How long a restore may take to run and to answer SSH before the snapshot is judged unusable.
_RESTORE_TIMEOUT = 20.0
#: How long a first boot runs on after the ready marker before its snapshot is saved.
_SNAPSHOT_SETTLE = 0.3
_TAIL_LINES = 25


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


# -- KVM probe -----------------------------------------------------------------------------------

_kvm_verdict: bool | None = None
_kvm_lock = threading.Lock()


#: The KVM probe's firmware, assembled once from this GNU as source (linked at 0xF0000, the
#: low alias of a 64 KiB BIOS): reset vector -> protected mode -> paging -> long mode ->
#: ``out 0x2a`` to isa-debug-exit (QEMU exits with 85).  A trivial real-mode probe is not
#: enough: on this machine KVM runs real-mode code (and SeaBIOS) but hangs on the way to
#: long mode, like a real boot does.
#:
#:     .code16: cli; xor ax,ax; mov ds,ax; lgdtl cs:gdt_desc; cr0 |= PE; ljmpl 0x08:start32
#:     .code32: ds=es=ss=0x18; [0x1000]=0x2003 (PML4->PDPT); [0x2000]=0x3003 (PDPT->PD);
#:              [0x3000]=0x83 (2 MiB identity page); cr4 |= PAE; cr3=0x1000;
#:              EFER(0xC0000080) |= LME; cr0 |= PG; ljmpl 0x10:start64
#:     .code64: mov al,0x2a; out 0xf4,al; 1: hlt; jmp 1b
#:     gdt: null, 0x00CF9A000000FFFF (code32), 0x00AF9A000000FFFF (code64), 0x00CF92000000FFFF (data)
#:     at 0xFFF0 (reset vector): ljmp 0xF000:0x0000
_PROBE_CODE = bytes.fromhex(
    "fa31c08ed82e660f0116a0000f20c06683c8010f22c066ea1e000f000800b8180000008ed88ec08ed0c7050010000003"
    "200000c7050020000003300000c70500300000830000000f20e083c8200f22e0b8001000000f22d8b9800000c00f320d"
    "000100000f300f20c00d000000800f22c0ea78000f001000b02ae6f4f4ebfd900000000000000000ffff0000009acf00"
    "ffff0000009aaf00ffff00000092cf001f0080000f00"
)
_PROBE_RESET = bytes.fromhex("ea000000f0")


def _probe_firmware() -> bytes:
    """64 KiB of "BIOS" that enters long mode and exits QEMU through isa-debug-exit (status 85)."""
    rom = bytearray(0x10000)
    rom[: len(_PROBE_CODE)] = _PROBE_CODE
    rom[0xFFF0 : 0xFFF0 + len(_PROBE_RESET)] = _PROBE_RESET
    return bytes(rom)


def kvm_usable(timeout: float = 3.0, qemu: str = "qemu-system-x86_64") -> bool:
    """True when KVM really runs guest code here (cached for the process, and per host on disk).

    ``/dev/kvm`` can exist and hang: the probe runs a tiny firmware that enters
    long mode, with the CPU model a boot would use, in a killable subprocess with
    a hard timeout.  The verdict is remembered in the cache folder, keyed by what
    can change it (the host kernel, the QEMU binary, ``/dev/kvm``), so only the
    first process on a host pays for the probe.
    """
    global _kvm_verdict
    with _kvm_lock:
        if _kvm_verdict is None:
            _kvm_verdict = _remembered_kvm_verdict(timeout, qemu)
        return _kvm_verdict


def kvm_verdict_file(qemu: str = "qemu-system-x86_64") -> Path | None:
    """Where the KVM verdict for this host, QEMU and /dev/kvm is kept (None: no /dev/kvm to probe)."""
    try:
        kvm = os.stat("/dev/kvm")
    except OSError:
        return None
    uname = os.uname()
    binary = shutil.which(qemu) or qemu
    try:
        st = os.stat(binary)
        qemu_id = f"{os.path.realpath(binary)}:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        qemu_id = binary
    key = hash_inputs(
        uname.release, uname.version, uname.machine, qemu_id, f"{kvm.st_rdev}:{kvm.st_mode}:{kvm.st_uid}:{kvm.st_gid}"
    )
    return cache_dir("probes") / f"kvm-{key}.json"


def _remembered_verdict(path: Path) -> bool | None:
    """The verdict stored at ``path``, or None when there is none (or it is unreadable)."""
    try:
        verdict = json.loads(path.read_text())["usable"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return verdict if isinstance(verdict, bool) else None


def _remembered_kvm_verdict(timeout: float, qemu: str) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    path = kvm_verdict_file(qemu)
    if path is None:
        return False
    remembered = _remembered_verdict(path)
    if remembered is not None:
        return remembered
    with file_lock(path.with_suffix(".lock")):  # parallel first processes probe once
        remembered = _remembered_verdict(path)
        if remembered is not None:
            return remembered
        verdict = _run_kvm_probe(timeout, qemu)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"usable": verdict, "probed": time.time()}))
        os.replace(tmp, path)
    return verdict


def _run_kvm_probe(timeout: float, qemu: str) -> bool:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    with tempfile.NamedTemporaryFile(prefix="hil-kvm-probe-", suffix=".bin") as rom:
        rom.write(_probe_firmware())
        rom.flush()
        return probe_accel("kvm", rom.name, timeout, qemu)


def probe_accel(accel: str, firmware: str, timeout: float, qemu: str = "qemu-system-x86_64") -> bool:
    """Run ``firmware`` under ``accel``; True when it reached its debug-exit port in time."""
    argv = [
        qemu,
        "-machine",
        f"pc,accel={accel}",
        "-cpu",
        _cpu_model(accel),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-vga",
        "none",
        "-m",
        "16",
        "-bios",
        firmware,
        "-device",
        "isa-debug-exit,iobase=0xf4,iosize=0x04",
    ]
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
    except OSError:
        return False
    try:
        return proc.wait(timeout) == 85
    except subprocess.TimeoutExpired:
        proc.kill()
        try:
            proc.wait(1.0)
        except subprocess.TimeoutExpired:
            pass  # stuck in the kernel: leave it, the verdict stands
        return False


def _cpu_model(accel: str) -> str:
    """``max`` under TCG (RDRAND seeds the guest's RNG at once); ``host`` under KVM."""
    return "host" if accel == "kvm" else "max"


def resolve_accel(accel: str, qemu: str = "qemu-system-x86_64") -> str:
    """The accelerator to use for ``accel`` ("auto", "tcg" or "kvm")."""
    if accel == "tcg":
        return "tcg"
    if accel == "kvm":
        if not kvm_usable(qemu=qemu):
            raise SetupError(
                "accel = 'kvm' but KVM does not run a guest on this host (the probe failed or "
                "hung): set accel = 'auto' or 'tcg' in the target definition's [qemu] section"
            )
        return "kvm"
    if accel == "auto":
        return "kvm" if kvm_usable(qemu=qemu) else "tcg"
    raise SetupError(f"unknown QEMU accel '{accel}': use 'auto', 'tcg' or 'kvm'")


# -- never orphaned ------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class _Spawner:
    """A daemon thread that lives as long as the process and forks every QEMU.

    PR_SET_PDEATHSIG fires when the forking *thread* exits: forking from a
    short-lived worker thread would kill QEMU with it.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="hil-qemu-spawner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            fn, future = self._jobs.get()
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

    def call(self, fn: Callable[[], Any]) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future.result()


_spawner: _Spawner | None = None
_owned: set[QemuMachine] = set()
_owned_lock = threading.RLock()  # re-entered by the SIGTERM handler on the main thread
_atexit_registered = False
_sigterm_installed = False
_previous_sigterm: Any = None


def _get_spawner() -> _Spawner:
    global _spawner
    with _owned_lock:
        if _spawner is None:
            _spawner = _Spawner()
        return _spawner


def _stop_owned() -> None:
    with _owned_lock:
        machines = list(_owned)
    for machine in machines:
        try:
            machine.stop(timeout=2.0)
        except Exception:  # noqa: BLE001, S110 - best effort at exit
            pass


def _on_sigterm(signum: int, frame: Any) -> None:
    previous = _previous_sigterm
    if callable(previous):
        # The process ends its own way (pytest's cancellation tears the test down, then stops its
        # QEMU in order, atexit at the latest): QEMU is not pulled from under a test still using it.
        previous(signum, frame)
        return
    _stop_owned()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_handlers() -> None:
    """atexit once; a SIGTERM handler (chaining to the one before it) the first time this runs on
    the main thread, unless SIGTERM is ignored.  Signal handlers can only be set from there."""
    global _atexit_registered, _sigterm_installed, _previous_sigterm
    with _owned_lock:
        if not _atexit_registered:
            _atexit_registered = True
            atexit.register(_stop_owned)
        if _sigterm_installed or threading.current_thread() is not threading.main_thread():
            return
        _sigterm_installed = True
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_IGN:
            _previous_sigterm = previous
            signal.signal(signal.SIGTERM, _on_sigterm)


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


# -- ports ---------------------------------------------------------------------------------------


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4)
    return sock


def _reserved_port() -> socket.socket:
    """A bound, non-listening SO_REUSEADDR socket: its port stays ours until QEMU listens on it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


# -- the machine ---------------------------------------------------------------------------------


class SnapshotUnusable(InfrastructureError):
    """A VM restored from a snapshot did not come up (the snapshot is discarded): boot it cold instead."""


def _qmp_listener() -> tuple[socket.socket, str]:
    """A listening unix socket in the abstract namespace (no path length limit, no file) for QMP."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = f"\0hil-qmp-{os.getpid()}-{os.urandom(6).hex()}"
    sock.bind(address)
    sock.listen(2)
    return sock, address


class QemuMachine:
    """One QEMU process running an ``Image``; see the module docstring for the wiring.

    Holds ``pid``, ``ssh_port``, ``serial_port``, ``console_url`` and ``accel_used``
    once started (or attached).
    """

    def __init__(
        self,
        image: Image,
        options: QemuOptions = QemuOptions(),
        *,
        run_dir: Path,
        die_with_parent: bool = True,
        snapshot: bool = False,
        restore: bool = True,
    ) -> None:
        """``snapshot``: restore the image's saved state when there is one (and ``restore``), else boot
        cold and save it (``hil.vm.snapshot``); a restore that fails raises ``SnapshotUnusable`` from
        ``wait_ready``."""
        self.image = image
        self._setup(options, run_dir, die_with_parent, snapshot, restore)

    def _setup(self, options: QemuOptions, run_dir: Path, die_with_parent: bool, snapshot: bool, restore: bool) -> None:
        """The state every machine starts with (``hil.vm.usermachine`` has no ``Image``)."""
        self.snapshot = snapshot and snapshots.enabled()
        self._may_restore = restore
        #: True when this machine was restored from a snapshot rather than booted.
        self.restored = False
        #: True when this (cold) boot saved the snapshot.
        self.snapshot_saved = False
        self._snapshot: snapshots.Snapshot | None = None
        self._qmp_address = ""
        self.options = options
        self.run_dir = Path(run_dir).absolute()  # it names the process (-pidfile) for attach()
        self.die_with_parent = die_with_parent
        self.pid = 0
        self.ssh_port = 0
        self.serial_port = 0
        self.accel_used = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._reservation: socket.socket | None = None
        self._console_tail: list[str] = []
        self._started = False

    # -- paths and command line

    @property
    def console_url(self) -> str:
        return f"socket://127.0.0.1:{self.serial_port}"

    @property
    def stderr_path(self) -> Path:
        return self.run_dir / "qemu.stderr"

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "qemu.pid"

    def _nic(self) -> NicDevice:
        nic = NIC_DEVICES.get(self.image.nic_module.replace("-", "_"))
        if nic is None:
            raise SetupError(
                f"image NIC module '{self.image.nic_module}' has no QEMU device here; "
                f"use one of: {', '.join(sorted(NIC_DEVICES))}"
            )
        return nic

    #: The guest's SSH port that ``ssh_port`` forwards to.
    guest_ssh_port = 22

    def ready_marker(self) -> str:
        """What ``wait_ready`` waits for on the console: the image's marker, a literal ('' waits for none)."""
        return self.image.ready_marker

    def _marker_seen(self, marker: str, console: bytes) -> bool:
        return marker.encode() in console

    def command(self, serial_fd: int, ssh_port: int, accel: str, console_wait: bool = True) -> list[str]:
        """The QEMU command line for a listening serial socket ``serial_fd`` and SSH on ``ssh_port``
        (``console_wait``: the guest starts when the first console client connects)."""
        if self.image.arch != "x86_64":  # QEMU's virt machine (hil.vm.arm64)
            return arm64_command(self.image, self.options, serial_fd, ssh_port, accel, console_wait, self.pidfile)
        nic = self._nic()
        o = self.options
        append = " ".join((KERNEL_CMDLINE, *o.kernel_args))
        qboot = _qboot(o.qemu) if nic.msi else None
        return [
            o.qemu,
            "-nodefaults",
            "-no-user-config",
            "-name",
            f"hil-{self.image.spec_hash}",
            "-machine",
            f"pc,accel={accel},acpi=off",
            "-cpu",
            _cpu_model(accel),
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
            str(self.image.kernel),
            "-initrd",
            str(self.image.initrd),
            "-append",
            append,
            *console_net_tail(serial_fd, console_wait, ssh_port, nic.device, self.pidfile, o.extra_args),
        ]

    # -- lifecycle

    def start(self) -> None:
        """Launch QEMU; returns once it runs and listens on the serial port (the guest
        starts when the first console client connects)."""
        if self._started:
            raise InfrastructureError(f"QEMU machine in {self.run_dir} was already started")
        self._started = True
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._nic()
        self.accel_used = resolve_accel(self.options.accel, self.options.qemu)
        serial = _listening_socket()
        self._reservation = _reserved_port()
        self.serial_port = serial.getsockname()[1]
        self.ssh_port = self._reservation.getsockname()[1]
        argv = self.command(serial.fileno(), self.ssh_port, self.accel_used)
        self.restored = self._plan_snapshot(argv)
        if self.restored and self._snapshot is not None:
            argv = self.command(serial.fileno(), self.ssh_port, self.accel_used, console_wait=False)
            argv += ["-incoming", "exec:cat " + _sh_quote(str(self._snapshot.path))]
        qmp, self._qmp_address = _qmp_listener()
        argv += ["-chardev", f"socket,id=qmp,fd={qmp.fileno()},server=on,wait=off", "-mon", "chardev=qmp,mode=control"]
        (self.run_dir / "qemu.cmdline").write_text(" ".join(argv) + "\n")
        try:
            with open(self.stderr_path, "wb") as stderr:
                self._proc = self._spawn(argv, (serial.fileno(), qmp.fileno()), stderr)
        except BaseException:
            self._release()
            raise
        finally:
            serial.close()
            qmp.close()
        self.pid = self._proc.pid
        if self.die_with_parent:
            with _owned_lock:
                _owned.add(self)
            _install_handlers()
        grace = Deadline.after(_START_GRACE, "QEMU start")
        while not self.restored and "waiting for connection" not in self._stderr_text() and not grace.expired:
            if self._proc.poll() is not None:
                self._release()
                raise InfrastructureError(
                    f"QEMU exited with status {self._proc.returncode} at start: "
                    f"{self._stderr_tail()} (command: {self.run_dir / 'qemu.cmdline'})"
                )
            time.sleep(0.01)

    def _plan_snapshot(self, argv: list[str]) -> bool:
        """Choose this start's snapshot (``self._snapshot``); True when it is to be restored."""
        self._snapshot = None
        if not self.snapshot or not snapshots.snapshottable(argv):
            return False
        key = snapshots.key_for(self.command(0, 0, self.accel_used), (str(self.pidfile),))
        folder = self.image.root / "snapshots"
        try:
            folder.mkdir(exist_ok=True)
        except OSError as exc:
            snapshots.say_once(f"QEMU snapshots off for {self.image.root}: {exc}")
            return False
        self._snapshot = snapshots.Snapshot(folder, key)
        return self._may_restore and self._snapshot.usable()

    def _spawn(self, argv: list[str], fds: tuple[int, ...], stderr: Any) -> subprocess.Popen[bytes]:
        def launch() -> subprocess.Popen[bytes]:
            try:
                if self.die_with_parent:
                    return subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=stderr,
                        stderr=stderr,
                        pass_fds=fds,
                        process_group=0,
                        preexec_fn=_die_with_parent(os.getpid()),  # noqa: PLW1509
                    )
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=stderr,
                    stderr=stderr,
                    pass_fds=fds,
                    start_new_session=True,
                )
            except OSError as exc:
                raise SetupError(
                    f"cannot run {argv[0]}: {exc}; install qemu-system-x86 "
                    f"(apt-get install --no-install-recommends qemu-system-x86)"
                ) from exc

        if self.die_with_parent:
            proc: subprocess.Popen[bytes] = _get_spawner().call(launch)
            return proc
        return launch()

    def wait_ready(
        self, deadline: Deadline | None = None, console_reader: Callable[[str, float], object] | None = None
    ) -> None:
        """Wait for the ready marker on the console, then for SSH's banner on ``ssh_port``.

        ``deadline`` defaults to ``options.boot_timeout`` from now.

        ``console_reader(pattern, timeout)`` (e.g. ``console.expect``) waits for the
        marker on a console the caller owns; it must raise when the timeout passes.
        Without it the serial port is read here and closed again.  Raises
        ``InfrastructureError`` naming what did not come up, with the last console lines.
        """
        if deadline is None:
            deadline = Deadline.after(self.options.boot_timeout, "QEMU boot")
        if self.restored:
            self._wait_restored(deadline)
            self._release()
            return
        marker = self.ready_marker()
        if not marker:
            pass
        elif console_reader is None:
            self._read_console_for(marker, deadline)
        else:
            self._await_reader(console_reader, marker, deadline)
        if self._snapshot is not None:
            self._save_snapshot()
        self._wait_ssh(deadline)
        self._release()

    def _save_snapshot(self) -> None:
        """Save this freshly booted VM as its image's snapshot (before any SSH connection)."""
        if self._snapshot is None or self._snapshot.usable():
            return
        time.sleep(_SNAPSHOT_SETTLE)  # dropbear listening, the first ARP/ping done
        try:
            self.snapshot_saved = self._snapshot.save(self._qmp_address)
        except InfrastructureError as exc:
            if not self.alive():
                raise
            snapshots.say_once(f"could not save a QEMU snapshot of {self.image.root}: {exc}")

    def _wait_restored(self, deadline: Deadline) -> None:
        """Wait for the incoming state to be loaded and running, then for SSH.  Anything wrong:
        the snapshot is discarded and ``SnapshotUnusable`` raised (the caller boots cold)."""
        snap = self._snapshot
        assert snap is not None
        why = ""
        try:
            running = deadline.child(_RESTORE_TIMEOUT, "restoring the QEMU snapshot")
            with Qmp(self._qmp_address, timeout=max(0.1, min(10.0, running.remaining()))) as qmp:
                while True:
                    status = qmp.command("query-status")
                    if status.get("running"):
                        break
                    if status.get("status") not in ("inmigrate", "prelaunch"):
                        why = f"QEMU is {status.get('status')} after loading it"
                        break
                    if running.expired:
                        why = "loading it did not finish in time"
                        break
                    time.sleep(0.005)
        except InfrastructureError as exc:
            why = f"QEMU failed loading it: {self._stderr_tail() if not self.alive() else exc}"
        if not why:
            try:
                self._wait_ssh(deadline.child(_RESTORE_TIMEOUT, "SSH of the restored QEMU"))
                return
            except InfrastructureError as exc:
                why = f"the restored VM did not answer SSH: {exc}"
        self.stop(timeout=2.0)
        snap.discard(why)
        raise SnapshotUnusable(f"QEMU target (run dir {self.run_dir}): snapshot {snap.path} not usable: {why}")

    def alive(self) -> bool:
        """True while the QEMU process runs (an exiting one, even if not yet reaped, does not)."""
        if self._proc is not None and self._proc.poll() is not None:
            return False
        return bool(self.pid) and _is_our_qemu(self.pid, self.pidfile)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL after ``timeout``) and reap it; idempotent."""
        self._release()
        with _owned_lock:
            _owned.discard(self)
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(10.0)
            return
        if self.pid and _is_our_qemu(self.pid, self.pidfile):
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
                try:
                    os.kill(self.pid, sig)
                except ProcessLookupError:
                    return
                until = time.monotonic() + wait
                while time.monotonic() < until:
                    if _process_state(self.pid) in (None, "Z", "X"):  # gone, or dead and awaiting its reaper
                        return
                    time.sleep(0.02)

    def state(self) -> dict[str, Any]:
        """What another process needs to find, reach and stop this machine (JSON-able)."""
        return {
            "pid": self.pid,
            "ssh_port": self.ssh_port,
            "serial_port": self.serial_port,
            "console_url": self.console_url,
            "image": str(self.image.root),
            "spec_hash": self.image.spec_hash,
            "ready_marker": self.image.ready_marker,
            "user": self.image.user,
            "client_key": str(self.image.client_key),
            "host_key_pub": self.image.host_key_pub,
            "accel": self.accel_used,
            "restored": self.restored,
            "run_dir": str(self.run_dir),
            "stderr": str(self.stderr_path),
        }

    @classmethod
    def attach(cls, state: dict[str, Any]) -> QemuMachine:
        """The machine described by ``state()`` of another process (stop/alive work on it)."""
        try:
            machine = cls(load_image(Path(state["image"])), run_dir=Path(state["run_dir"]), die_with_parent=False)
            machine.pid = int(state["pid"])
            machine.ssh_port = int(state["ssh_port"])
            machine.serial_port = int(state["serial_port"])
            machine.accel_used = str(state.get("accel", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise SetupError(f"QEMU target state is incomplete or invalid ({exc!r}): {state}") from exc
        machine._started = True
        return machine

    # -- readiness helpers

    def _read_console_for(self, marker: str, deadline: Deadline) -> None:
        buf = b""
        try:
            sock = socket.create_connection(
                ("127.0.0.1", self.serial_port), timeout=min(10.0, max(0.1, deadline.remaining()))
            )
        except OSError as exc:
            self._fail(f"cannot connect to the serial console {self.console_url}: {exc}")
        with sock:
            sock.settimeout(0.1)
            while not self._marker_seen(marker, buf):
                if deadline.expired:
                    self._remember(buf)
                    self._fail(
                        f"the ready marker '{marker}' did not appear on the serial console "
                        f"within the deadline ({deadline.what})"
                    )
                if not self.alive():
                    self._remember(buf)
                    self._fail(f"QEMU exited before the ready marker '{marker}' appeared")
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError as exc:
                    self._remember(buf)
                    self._fail(f"serial console {self.console_url} failed: {exc}", settle=2.0)
                if not data:
                    self._remember(buf)
                    self._fail(
                        f"serial console {self.console_url} closed before the ready marker '{marker}'", settle=2.0
                    )
                buf = (buf + data)[-65536:]
            self._remember(buf)

    def _await_reader(self, reader: Callable[[str, float], object], marker: str, deadline: Deadline) -> None:
        outcome: list[BaseException] = []

        def run() -> None:
            try:
                reader(marker, deadline.remaining())
            except BaseException as exc:  # noqa: BLE001 - reported below
                outcome.append(exc)

        thread = threading.Thread(target=run, name="hil-ready-marker", daemon=True)
        thread.start()
        while thread.is_alive():
            thread.join(0.05)
            if thread.is_alive() and not self.alive():
                self._fail(f"QEMU exited before the ready marker '{marker}' appeared")
        if outcome:
            self._fail(f"the ready marker '{marker}' did not appear on the serial console: {outcome[0]}")

    def _wait_ssh(self, deadline: Deadline) -> None:
        last = "no attempt"
        while True:
            if not self.alive():
                self._fail(f"QEMU exited before SSH answered on 127.0.0.1:{self.ssh_port}")
            try:
                with socket.create_connection(
                    ("127.0.0.1", self.ssh_port), timeout=max(0.05, min(2.0, deadline.remaining()))
                ) as sock:
                    sock.settimeout(max(0.05, min(3.0, deadline.remaining())))
                    banner = sock.recv(256)
                if banner.startswith(b"SSH-"):
                    return
                last = f"no SSH banner (got {banner[:40]!r})"
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if deadline.expired:
                self._fail(
                    f"SSH did not come up on 127.0.0.1:{self.ssh_port} "
                    f"(forwarded to the guest's port {self.guest_ssh_port}) "
                    f"after the ready marker: {last}"
                )
            time.sleep(0.05)

    def _remember(self, data: bytes) -> None:
        text = data.decode("utf-8", errors="replace").replace("\r", "")
        self._console_tail = tail_lines(text, _TAIL_LINES, skip_blank=True)

    def _fail(self, what: str, settle: float = 0.0) -> NoReturn:
        """Raise InfrastructureError for ``what``, with QEMU's exit and stderr and the console tail.

        ``settle``: how long to let a closing QEMU exit first (its console closes before it exits).
        """
        if self._proc is not None and settle:
            try:
                self._proc.wait(settle)
            except subprocess.TimeoutExpired:
                pass
        parts = [f"QEMU target (pid {self.pid}, run dir {self.run_dir}): {what}"]
        if self._proc is not None and self._proc.poll() is not None:
            parts.append(f"QEMU exited with status {self._proc.returncode}; stderr: {self._stderr_tail()}")
        if self._console_tail:
            parts.append("last console lines:\n  " + "\n  ".join(self._console_tail))
        raise InfrastructureError("\n".join(parts))

    def _stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def _stderr_tail(self) -> str:
        text = "\n".join(line for line in self._stderr_text().splitlines() if "waiting for connection" not in line)
        return " | ".join(tail_lines(text, 5, skip_blank=True)) or "(empty)"

    def _release(self) -> None:
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None

    def __repr__(self) -> str:
        return (
            f"QemuMachine(pid={self.pid}, ssh=127.0.0.1:{self.ssh_port}, console={self.console_url}, "
            f"accel={self.accel_used or '?'})"
        )


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _qboot(qemu: str) -> str | None:
    """Path of QEMU's qboot firmware, if installed (beside the binary's share/qemu or a system dir)."""
    binary = shutil.which(qemu)
    dirs = [str(Path(binary).resolve().parent.parent / "share" / "qemu")] if binary else []
    for d in (*dirs, *_FIRMWARE_DIRS):
        path = Path(d, "qboot.rom")
        if path.is_file():
            return str(path)
    return None


def _process_state(pid: int) -> str | None:
    """The state letter of ``pid`` from /proc (``R``, ``S``, ``Z``...), ``None`` when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return None


def _is_our_qemu(pid: int, pidfile: Path) -> bool:
    """True when ``pid`` is a live QEMU started with ``pidfile`` (guards against pid reuse).

    An exiting process has an empty command line: it no longer counts as ours.
    """
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return _process_state(pid) not in (None, "Z", "X") and str(pidfile).encode() in cmdline
