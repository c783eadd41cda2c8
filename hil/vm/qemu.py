"""The QEMU machine: boots an ``Image`` (or restores its snapshot) and tells when it is ready.

One ``QemuMachine`` is one ``qemu-system-x86_64`` process:

* the serial port is a unix socket (``unix://<tmp>/qnx-hil-<uid>/vm/<random>/console``)
  in a folder only this user can enter, beside QMP's (``hil.vm.qemuargs``: no
  other local user reaches the guest's root shell or QEMU's monitor).  We bind
  and listen on it ourselves and hand the listening socket to QEMU
  (``-chardev socket,fd=N,server=on,wait=on``): no race, and QEMU does not
  start the guest before the first console client connects, so no boot output
  is lost.  ``console_tcp=True`` puts it on a loopback TCP port instead
  (``socket://127.0.0.1:PORT``), for a console exported on purpose (a lab);
* SSH is forwarded from a loopback port (``-netdev user,hostfwd=...``).  The port
  is held by a bound, non-listening ``SO_REUSEADDR`` socket until SSH answers, so
  no other process can take it between our choice and QEMU's bind
  (``hil.vm.qemuargs``);
* the kernel is booted directly (``hil.vm.x86_64``, ``hil.vm.arm64``), with no
  option ROMs, no display, no defaults, under the accelerator ``hil.vm.accel``
  chooses;
* QEMU's stderr goes to ``run_dir/qemu.stderr`` for error messages.

QEMU is never orphaned (``hil.vm.qemuproc``): with ``die_with_parent`` it dies
with this process and is stopped from ``atexit`` and on SIGTERM.  A machine
started with ``die_with_parent=False`` (``hil target up``) runs in its own
session and is found again through ``state()`` / ``QemuMachine.attach()``.
Waiting for the boot, and reporting a failed one, is ``hil.vm.bootwait``.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError, SetupError
from hil.vm import snapshot as snapshots
from hil.vm.accel import resolve_accel
from hil.vm.arm64 import arm64_command
from hil.vm.bootwait import BootWaits
from hil.vm.image import Image, load_image
from hil.vm.qemuargs import (
    control_dir,
    listening_socket,
    qmp_listener,
    remove_control_dir,
    reserved_port,
    unix_listener,
)
from hil.vm.qemuoptions import QemuOptions
from hil.vm.qemuproc import disown, is_our_qemu, own, spawn, stop_pid
from hil.vm.qmp import Qmp
from hil.vm.x86_64 import NIC_DEVICES, NicDevice, x86_64_command

__all__ = ["QemuMachine", "QemuOptions", "SnapshotUnusable"]

#: How long start() waits for QEMU's "waiting for connection" note.  Our listening socket
#: accepts from the start anyway; this only turns an early exit into a clear error.
_START_GRACE = 5.0
#: How long a restore may take to run and to answer SSH before the snapshot is judged unusable.
_RESTORE_TIMEOUT = 20.0
#: How long a first boot runs on after the ready marker before its snapshot is saved.
_SNAPSHOT_SETTLE = 0.3


class SnapshotUnusable(InfrastructureError):
    """A VM restored from a snapshot did not come up (the snapshot is discarded): boot it cold instead."""


class QemuMachine(BootWaits):
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
        console_tcp: bool = False,
    ) -> None:
        """``snapshot``: restore the image's saved state when there is one (and ``restore``), else boot
        cold and save it (``hil.vm.snapshot``); a restore that fails raises ``SnapshotUnusable`` from
        ``wait_ready``.  ``console_tcp``: the console on a loopback TCP port, reachable by every local
        user (for a console exported on purpose), instead of a private unix socket."""
        self.image = image
        self._setup(options, run_dir, die_with_parent, snapshot, restore, console_tcp)

    def _setup(
        self,
        options: QemuOptions,
        run_dir: Path,
        die_with_parent: bool,
        snapshot: bool,
        restore: bool,
        console_tcp: bool = False,
    ) -> None:
        """The state every machine starts with (``hil.vm.usermachine`` has no ``Image``)."""
        self.console_tcp = console_tcp
        #: The private folder of this QEMU's control sockets (``hil.vm.qemuargs.control_dir``).
        self.control_dir: Path | None = None
        #: The serial console's unix socket ('' for a ``console_tcp`` machine).
        self.console_path = ""
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

    def command(self, serial_fd: int, ssh_port: int, accel: str, console_wait: bool = True) -> list[str]:
        """The QEMU command line for a listening serial socket ``serial_fd`` and SSH on ``ssh_port``
        (``console_wait``: the guest starts when the first console client connects)."""
        if self.image.arch != "x86_64":  # QEMU's virt machine (hil.vm.arm64)
            return arm64_command(self.image, self.options, serial_fd, ssh_port, accel, console_wait, self.pidfile)
        return x86_64_command(
            self.image, self.options, serial_fd, ssh_port, accel, console_wait, self.pidfile, self._nic()
        )

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
        self.control_dir = control_dir()
        if self.console_tcp:
            serial = listening_socket()
            self.serial_port = serial.getsockname()[1]
        else:
            serial = unix_listener(self.control_dir / "console")
            self.console_path = str(self.control_dir / "console")
        self._reservation = reserved_port()
        self.ssh_port = self._reservation.getsockname()[1]
        argv = self.command(serial.fileno(), self.ssh_port, self.accel_used)
        self.restored = self._plan_snapshot(argv)
        if self.restored and self._snapshot is not None:
            argv = self.command(serial.fileno(), self.ssh_port, self.accel_used, console_wait=False)
            argv += ["-incoming", "exec:cat " + _sh_quote(str(self._snapshot.path))]
        qmp, self._qmp_address = qmp_listener(self.control_dir)
        argv += ["-chardev", f"socket,id=qmp,fd={qmp.fileno()},server=on,wait=off", "-mon", "chardev=qmp,mode=control"]
        (self.run_dir / "qemu.cmdline").write_text(" ".join(argv) + "\n")
        try:
            with open(self.stderr_path, "wb") as stderr:
                self._proc = spawn(argv, (serial.fileno(), qmp.fileno()), stderr, self.die_with_parent)
        except BaseException:
            self._release()
            remove_control_dir(self.control_dir)
            raise
        finally:
            serial.close()
            qmp.close()
        self.pid = self._proc.pid
        if self.die_with_parent:
            own(self)
        grace = Deadline.after(_START_GRACE, "QEMU start")
        while not self.restored and "waiting for connection" not in self._stderr_text() and not grace.expired:
            if self._proc.poll() is not None:
                self._release()
                remove_control_dir(self.control_dir)
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

    def wait_ready(
        self,
        deadline: Deadline | None = None,
        console_reader: Callable[[str, float], object] | None = None,
        once_restored: Callable[[], object] | None = None,
    ) -> None:
        """Wait for the ready marker on the console, then for SSH's banner on ``ssh_port``.

        ``deadline`` defaults to ``options.boot_timeout`` from now.

        ``console_reader(pattern, timeout)`` (e.g. ``console.expect``) waits for the
        marker on a console the caller owns; it must raise when the timeout passes.
        Without it the serial port is read here and closed again.  Raises
        ``InfrastructureError`` naming what did not come up, with the last console lines.

        ``once_restored()`` (best effort, must not raise; e.g. setting the restored guest's clock on its
        console) runs in a thread of its own while SSH's banner is awaited, when the state was restored.
        """
        if deadline is None:
            deadline = Deadline.after(self.options.boot_timeout, "QEMU boot")
        if self.restored:
            self._wait_restored(deadline, once_restored)
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

    def _wait_restored(self, deadline: Deadline, alongside: Callable[[], object] | None = None) -> None:
        """Wait for the incoming state to be loaded and running, then for SSH (``alongside()`` meanwhile, in a
        thread).  Anything wrong: the snapshot is discarded and ``SnapshotUnusable`` raised (the caller boots
        cold)."""
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
            helper = threading.Thread(target=alongside, name="hil-once-restored", daemon=True) if alongside else None
            if helper is not None:
                helper.start()
            try:
                self._wait_ssh(deadline.child(_RESTORE_TIMEOUT, "SSH of the restored QEMU"))
                return
            except InfrastructureError as exc:
                why = f"the restored VM did not answer SSH: {exc}"
            finally:
                if helper is not None:
                    helper.join(max(0.0, deadline.remaining()))
        self.stop(timeout=2.0)
        snap.discard(why)
        raise SnapshotUnusable(f"QEMU target (run dir {self.run_dir}): snapshot {snap.path} not usable: {why}")

    def alive(self) -> bool:
        """True while the QEMU process runs (an exiting one, even if not yet reaped, does not)."""
        if self._proc is not None and self._proc.poll() is not None:
            return False
        return bool(self.pid) and is_our_qemu(self.pid, self.pidfile)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL after ``timeout``) and reap it; idempotent."""
        self._release()
        disown(self)
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait(10.0)
        else:
            stop_pid(self.pid, self.pidfile, timeout)
        if not self.alive():
            remove_control_dir(self.control_dir)

    def state(self) -> dict[str, Any]:
        """What another process needs to find, reach and stop this machine (JSON-able)."""
        return {
            "pid": self.pid,
            "ssh_port": self.ssh_port,
            "serial_port": self.serial_port,
            "console_url": self.console_url,
            "console_path": self.console_path,
            "control_dir": str(self.control_dir or ""),
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
            machine.console_path = str(state.get("console_path", ""))
            machine.control_dir = Path(state["control_dir"]) if state.get("control_dir") else None
            machine.accel_used = str(state.get("accel", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise SetupError(f"QEMU target state is incomplete or invalid ({exc!r}): {state}") from exc
        machine._started = True
        return machine

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
