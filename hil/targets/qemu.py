"""The ``qemu`` kind: the public QEMU target, a Debian-package VM running qvmsim as ``qvm``.

``hil target up`` leaves one running in the background with a state file
(``~/.cache/qnx-hil/targets/<name>/state.json``); ``down`` stops it and
``status`` reports it.  While one runs, ``pytest --hil-target NAME`` and
``hil qvm run --target NAME`` attach to it (tests stay apart in their private
deployment folders) instead of booting their own VM; ``HIL_PRIVATE_VM=1``
(``--hil-private-vm``, ``hil qvm run --private-vm``) forces a private VM.

A private VM is restored from the image's snapshot when there is one (its first
cold boot saved it, see ``hil.vm.snapshot``), and a reset after an
infrastructure error restores it again; a snapshot that does not work is
discarded and the VM booted cold (said once).  The restored guest's clock is set
from the host's at once.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hil.core.arch import arch as arch_info
from hil.core.arch import gcc_for
from hil.core.deadline import Deadline
from hil.core.errors import ConfigError, InfrastructureError, SetupError
from hil.core.paths import cache_dir, file_lock
from hil.core.text import terminal_safe
from hil.links.ssh.config import SshConfig
from hil.targets.base import register
from hil.targets.definition import TargetDefinition, definition_path, drive_file
from hil.targets.remote import RemoteTarget
from hil.vm.image import DEFAULT_PACKAGES, Image, ImageSpec, build_image
from hil.vm.qemu import QemuMachine, QemuOptions, SnapshotUnusable
from hil.vm.qemuargs import remove_control_dir
from hil.vm.usermachine import UserImage, UserQemuMachine

log = logging.getLogger("hil.targets.qemu")

if TYPE_CHECKING:  # paramiko and pyserial load when a target connects, not for 'hil target status'
    from hil.links.console import Console
    from hil.links.ssh import SshConnection

#: Set to 1 to never attach to a background VM of ``hil target up``: every run boots its own.
PRIVATE_VM_ENV = "HIL_PRIVATE_VM"


def private_vm_forced() -> bool:
    return os.environ.get(PRIVATE_VM_ENV, "").strip().lower() in ("1", "yes", "on", "true")


def public_image(
    definition: TargetDefinition, force: bool = False, log: Callable[[str], None] = lambda m: None
) -> Image:
    """The image for a qemu-kind definition, with qvmsim built in as ``/usr/bin/qvm``."""
    from hil.targets.sdk import build_qvmsim, build_slog2info

    q = definition.qemu
    cc = gcc_for(definition.arch)  # qvmsim cross-built for an aarch64 image (Debian's aarch64-linux-gnu-gcc)
    spec = ImageSpec(
        kernel_package=q.kernel_package,
        packages=q.packages or DEFAULT_PACKAGES,
        versions=dict(q.versions),
        nic_module=q.nic_module,
        initrd_compression=q.initrd_compression,
        extra_files=(("/usr/bin/qvm", build_qvmsim(cc)), ("/usr/bin/slog2info", build_slog2info(cc))),
        arch=arch_info(definition.arch).name,
    )
    return build_image(spec, force=force, log=log)


def qemu_options(definition: TargetDefinition) -> QemuOptions:
    q = definition.qemu
    return QemuOptions(
        memory_mb=q.memory_mb,
        cpus=q.cpus,
        accel=q.accel,
        boot_timeout=q.boot_timeout,
        extra_args=q.extra_args,
        qemu=q.qemu,
    )


def user_image(definition: TargetDefinition) -> UserImage:
    """The user-supplied image a qemu-kind definition names (``[qemu] image``/``kernel``), paths made absolute."""
    q, source = definition.qemu, definition.source

    def path(value: str | None) -> Path | None:
        return None if value is None else definition_path(source, value)

    def drive(spec: str) -> str:
        file = drive_file(spec)
        if file is None or Path(file).is_absolute():
            return spec
        absolute = str(definition_path(source, file)).replace(",", ",,")
        return spec.replace(f"file={file.replace(',', ',,')}", f"file={absolute}", 1)

    return UserImage(
        name=definition.name,
        kernel=path(q.kernel),
        initrd=path(q.initrd),
        append=q.append,
        disk=path(q.image),
        drives=tuple(drive(d) for d in q.drives),
        machine=q.machine,
        nic=q.nic,
        ready_regex=q.console_ready_regex,
        ssh_port=q.ssh_port,
        arch=arch_info(definition.arch).name,
    )


def user_ssh_config(definition: TargetDefinition, port: int) -> SshConfig:
    """SSH to a user image's VM forwarded on ``port``: the definition's user and key, its host key pinned."""
    q = definition.qemu
    assert q.ssh_key is not None and q.ssh_host_key is not None  # a user image's definition has both
    return SshConfig(
        host="127.0.0.1",
        port=port,
        user=q.ssh_user,
        key_path=definition_path(definition.source, q.ssh_key),
        host_key=q.ssh_host_key,
        connect_timeout=10.0,
    )


def _ssh(config: SshConfig, name: str) -> SshConnection:
    """An SSH connection (paramiko is imported here, on first use)."""
    from hil.links.ssh.connection import SshConnection

    return SshConnection(config, name=name)


def ssh_config(image: Image, port: int) -> SshConfig:
    """SSH to a VM of ``image`` forwarded on ``port``: the image's own keys, the host key pinned."""
    return SshConfig(
        host="127.0.0.1",
        port=port,
        user=image.user,
        key_path=image.client_key,
        host_key=image.host_key_pub,
        connect_timeout=10.0,
    )


@register
class QemuTarget(RemoteTarget):
    """A private VM booted for this run; stopped on exit, error, Ctrl-C or SIGTERM."""

    kind = "qemu"
    runs_qvmsim_builds = True  # the public image's qvm is qvmsim
    machine: QemuMachine | None = None
    image: Image | None = None
    #: The ``hil target up`` VM this target attached to (its state), or None for a private VM.
    attached: dict[str, Any] | None = None

    @classmethod
    def ssh_login(cls, definition: TargetDefinition, known_hosts: Path) -> list[str]:
        """The ``hil target up`` VM's forwarded port, client key and pinned host key (from its state)."""
        state = running_background(definition)
        port = int(state["ssh_port"])
        known_hosts.write_text(f"[127.0.0.1]:{port} {state['host_key_pub'].strip()}\n")
        return ["-o", f"UserKnownHostsFile={known_hosts}", "-i", str(state["client_key"]), "-p", str(port),
                f"{state['user']}@127.0.0.1"]  # fmt: skip

    @classmethod
    def console_url(cls, definition: TargetDefinition) -> str:
        return str(running_background(definition)["console_url"])

    def up(self, deadline: Deadline) -> None:
        if self.definition.qemu.user_image:
            self._up_user_image(deadline)
            return
        self.image = public_image(self.definition)
        if not private_vm_forced() and self._attach(deadline):
            return
        try:
            try:
                self._boot(deadline)
            except SnapshotUnusable:  # said once; boot cold (and save a new snapshot)
                self._close_links()
                self.machine = None
                self._boot(deadline, restore=False)
            assert self.machine is not None and self.image is not None
            self.ssh = _ssh(ssh_config(self.image, self.machine.ssh_port), name=self.name)
            self.ssh.connect(deadline.child(30, f"SSH to {self.name}"), retry=True)
            if self.machine.restored:
                _set_clock(self.ssh)
        except BaseException:
            self.down()
            raise

    def _up_user_image(self, deadline: Deadline) -> None:
        """Boot the definition's own image (no image build, no snapshot, never a shared VM): wait for its
        ``console_ready_regex`` on the console, then SSH in with its key and pinned host key."""
        run_dir = self.run_dir / "qemu"
        shutil.rmtree(run_dir, ignore_errors=True)  # a reset's new QEMU: no stale pid file or stderr
        try:
            machine = self.machine = UserQemuMachine(
                user_image(self.definition), qemu_options(self.definition), run_dir=run_dir
            )
            machine.start()
            self.console = console = self._console(machine.console_url)
            boot = deadline.child(self.definition.qemu.boot_timeout, f"booting {self.name}")
            machine.wait_ready(boot, console_reader=console.expect)
            self.ssh = _ssh(user_ssh_config(self.definition, machine.ssh_port), name=self.name)
            self.ssh.connect(deadline.child(30, f"SSH to {self.name}"), retry=True)
        except BaseException:
            self.down()
            raise

    def _console(self, url: str) -> Console:
        from hil.links.console import Console
        from hil.links.transports import open_transport

        return Console(
            open_transport(url),
            log_path=self.run_dir / "console.log",
            name=f"{self.name} console",
            fail_patterns=self.os.crash_banners,
        ).start()

    def _boot(self, deadline: Deadline, restore: bool = True) -> None:
        """Start the private VM (restored from the image's snapshot when ``restore`` and there is one)."""
        assert self.image is not None
        run_dir = self.run_dir / "qemu"
        shutil.rmtree(run_dir, ignore_errors=True)  # a reset's new QEMU: no stale pid file or stderr
        self.machine = QemuMachine(
            self.image, qemu_options(self.definition), run_dir=run_dir, snapshot=True, restore=restore
        )
        self.machine.start()
        self.console = console = self._console(self.machine.console_url)
        boot = deadline.child(self.definition.qemu.boot_timeout, f"booting {self.name}")
        self.machine.wait_ready(boot, console_reader=lambda marker, timeout: console.expect(re.escape(marker), timeout))

    def _attach(self, deadline: Deadline) -> bool:
        """Attach to this target's ``hil target up`` VM when one runs with this image; True if done."""
        assert self.image is not None
        try:
            state = background_status(self.name)
        except ConfigError:
            return False
        if state is None or state.get("spec_hash") != self.image.spec_hash:
            return False
        try:
            self.ssh = _ssh(ssh_config(self.image, int(state["ssh_port"])), name=self.name)
            self.ssh.connect(deadline.child(30, f"SSH to {self.name}"), retry=False)
            self.console = self._console(str(state.get("console_url") or f"socket://127.0.0.1:{state['serial_port']}"))
            _check_console_served(self.console)
        except Exception as exc:  # noqa: BLE001 - not usable: boot a private VM instead, saying why
            self._close_links()
            log.warning(
                "target %s: the 'hil target up' VM (pid %s) is not usable (%s): booting a private VM",
                self.name,
                state.get("pid"),
                terminal_safe(str(exc))[:300],
            )
            return False
        self.attached = state
        self.machine = QemuMachine.attach(state)
        return True

    def down(self) -> None:
        self._close_links()
        if self.machine is not None:
            if self.attached is None:  # an attached VM belongs to 'hil target up'
                self.machine.stop()
            self.machine = None
        self.attached = None

    def healthy(self) -> bool:
        return self.machine is not None and self.machine.alive() and super().healthy()

    def _checked(self, what: str, exc: Exception) -> Exception:
        if self.machine is not None and not self.machine.alive():
            return InfrastructureError(
                f"QEMU of target '{self.name}' died ({what} failed: {exc}); QEMU's stderr: {self.machine.stderr_path}"
            )
        return exc

    def facts(self) -> dict[str, str]:
        facts = super().facts()
        if self.image is not None:
            facts["image"] = f"{self.image.root.name} ({self.definition.qemu.kernel_package})"
        elif self.definition.qemu.user_image:
            facts["image"] = user_image(self.definition).described()
        if self.machine is not None:
            facts["qemu.accel"] = self.machine.accel_used
            facts["qemu.start"] = (
                "attached to 'hil target up'"
                if self.attached is not None
                else "restored from snapshot"
                if self.machine.restored
                else "cold boot"
            )
        return facts


#: How long an attached console has to answer a newline (the image's shell prints its prompt).
_CONSOLE_PROBE = 5.0


def _check_console_served(console: Console) -> None:
    """The shared VM's console answers us: QEMU serves one console client at a time, so while another
    (``hil target console``, another tool) holds it, a new one is queued and hears nothing.  Raises
    ``InfrastructureError`` saying so (the caller boots a private VM instead)."""
    mark = console.mark()
    console.sendline("")
    try:
        console.expect(r"# ", _CONSOLE_PROBE, since=mark)
    except Exception as exc:
        raise InfrastructureError(
            f"its console {console.name} does not answer within {_CONSOLE_PROBE:.0f} s: another client "
            f"(e.g. 'hil target console') holds it; close that client"
        ) from exc


def _set_clock(ssh: SshConnection) -> None:
    """A restored guest's clock is the snapshot's: set it from the host's (best effort)."""
    try:
        ssh.run(f"date -u -s @{time.time():.0f} >/dev/null", timeout=10)
    except Exception:  # noqa: BLE001, S110 - a stale wall clock does not stop a test
        pass


#: How long ``hil target up`` waits for a restored guest's shell to answer on its console.
_CLOCK_CONFIRM = 10.0


def _read_until(sock: socket.socket, wanted: bytes, end: float) -> bool:
    seen = b""
    while wanted not in seen:
        left = end - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return False
        if not chunk:
            return False
        seen = seen[-64:] + chunk
    return True


def _set_clock_by_console(machine: QemuMachine) -> bool:
    """Set a restored guest's clock from the host's by a command line on its serial console (the image's
    console is a root shell), waiting for the shell to confirm; best effort (False when not confirmed).
    No SSH login (a key exchange on the emulated CPU, and paramiko's import, took ~1 s of 'up').  The
    shell's prompt (after a newline) says it reads its console; only then is the host's time sent."""
    marker = "__HIL_CLOCK_SET__"
    split = f'{marker[:6]}""{marker[6:]}'  # the echoed command line never shows the marker whole
    end = time.monotonic() + _CLOCK_CONFIRM
    try:
        with machine.connect_console(_CLOCK_CONFIRM) as sock:
            while True:  # a newline the guest's UART was not ready for may be lost: sent again
                sock.sendall(b"\n")
                if _read_until(sock, b"# ", min(end, time.monotonic() + 0.05)):
                    break
                if time.monotonic() >= end:
                    return False
            sock.sendall(f"date -u -s @{time.time():.0f} >/dev/null; echo {split}\n".encode())
            return _read_until(sock, marker.encode(), end)
    except (OSError, InfrastructureError):
        return False


# -- background targets (hil target up/down/status) -------------------------------------------


def _state_file(name: str) -> Path:
    from hil.core.inputs import check_name

    check_name(name, "target name", "--target")  # a name, never a path: it becomes a folder name
    return cache_dir("targets") / name / "state.json"  # the folder is made by background_up only


def background_up(definition: TargetDefinition) -> dict[str, Any]:
    """Boot a QEMU target that outlives this process; returns (and records) its state."""
    if definition.kind != "qemu":
        raise ConfigError(
            f"'hil target up' starts qemu targets; '{definition.name}' is a {definition.kind} "
            f"(name a qemu-kind definition with --target)",
            "--target",
        )
    if definition.qemu.user_image:
        raise ConfigError(
            f"'hil target up' keeps the public image running; '{definition.name}' boots a user image "
            "([qemu] image/kernel), which each test session boots for itself (pytest --hil-target NAME)",
            definition.source,
            "qemu.image" if definition.qemu.image is not None else "qemu.kernel",
        )
    folder = _state_file(definition.name).parent
    folder.mkdir(parents=True, exist_ok=True)
    with file_lock(folder / ".up.lock"):  # a concurrent 'hil target up' waits, then finds this VM running
        existing = background_status(definition.name)
        if existing is not None:
            return existing
        return _boot_background(definition, folder)


def _boot_background(definition: TargetDefinition, folder: Path) -> dict[str, Any]:
    """Boot the background VM and record its state; any way out before the record is written (a
    SIGTERM during the boot or the snapshot save, a full disk) stops the VM it started."""
    image = public_image(definition)
    run_dir = folder / "run"
    deadline = Deadline.after(definition.qemu.boot_timeout, f"booting {definition.name}")
    machine: QemuMachine | None = None
    try:
        for restore in (True, False):
            shutil.rmtree(run_dir, ignore_errors=True)
            machine = QemuMachine(
                image, qemu_options(definition), run_dir=run_dir, die_with_parent=False, snapshot=True, restore=restore
            )
            machine.start()
            try:
                # a restored guest's clock is set on its console while its SSH is checked (no SSH login here:
                # 'hil target up' stays quick)
                machine.wait_ready(deadline, once_restored=functools.partial(_set_clock_by_console, machine))
                break
            except SnapshotUnusable:
                continue
        assert machine is not None
        state = {"name": definition.name, "running": True, **machine.state()}
        write_state(_state_file(definition.name), state)
    except BaseException:
        if machine is not None:
            machine.stop()
        raise
    return state


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state.json`` whole or not at all (a temporary file renamed): a full disk is a
    ``SetupError`` naming the file, never a half-written "corrupt state"."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SetupError(f"cannot write the target state {path}: {exc.strerror or exc}; free space there") from exc


#: The keys of a background target's state.json that attaching needs, with their types.
_STATE_KEYS: dict[str, type] = {"pid": int, "ssh_port": int, "serial_port": int, "image": str, "run_dir": str}


def _state_problem(state: object) -> str:
    """What is wrong with the shape of a parsed state.json ('' when nothing)."""
    if not isinstance(state, dict):
        return f"expected a JSON object, found {type(state).__name__}"
    for key, kind in _STATE_KEYS.items():
        value = state.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"key {key!r} should be {'an integer' if kind is int else 'a string'}, found {value!r}"[:200]
    if not Path(state["image"]).is_dir():
        return f"its image folder {state['image']} does not exist"[:200]
    return ""


def background_status(name: str) -> dict[str, Any] | None:
    """The state of a background target, or ``None`` when it is not running."""
    path = _state_file(name)
    if not path.exists():
        return None
    from hil.core.inputs import read_input_text

    try:
        state: dict[str, Any] = json.loads(read_input_text(path, "target state", limit=1 << 20))
    except ValueError:  # a corrupt state file
        raise ConfigError(
            f"corrupt state file {path}; delete it (and stop its QEMU by hand if one runs)", "--target"
        ) from None
    problem = _state_problem(state)
    if problem:  # parsable JSON of the wrong shape
        raise ConfigError(
            f"corrupt state file {path} ({problem}); delete it (and stop its QEMU by hand if one runs)", "--target"
        )
    machine = QemuMachine.attach(state)
    if not machine.alive():
        path.unlink()
        remove_control_dir(machine.control_dir)  # its sockets' folder (a QEMU that died on its own)
        return None
    return state


def sshd_problem(state: dict[str, Any], timeout: float = 5.0) -> str:
    """Why the SSH server of a background VM does not answer ('' when its banner comes): a QEMU that
    runs is not a usable target when its guest's sshd died."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", int(state["ssh_port"])), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(256)
    except OSError as exc:
        return f"SSH on 127.0.0.1:{state['ssh_port']} does not answer ({exc.strerror or type(exc).__name__})"
    if not banner.startswith(b"SSH-"):
        return f"SSH on 127.0.0.1:{state['ssh_port']} does not answer (no SSH banner: {banner[:40]!r})"
    return ""


def running_background(definition: TargetDefinition) -> dict[str, Any]:
    """The state of ``definition``'s ``hil target up`` VM; a ``ConfigError`` saying how to start it."""
    state = background_status(definition.name)
    if state is None:
        raise ConfigError(
            f"target '{definition.name}' is not running in the background; start it with "
            f"'hil target up --target {definition.name}'",
            "--target",
        )
    return state


def background_down(name: str) -> bool:
    """Stop a background target; False when none was running."""
    state = background_status(name)
    if state is None:
        return False
    QemuMachine.attach(state).stop()
    shutil.rmtree(_state_file(name).parent, ignore_errors=True)  # state and run files
    return True
