"""The QEMU launcher against real QEMU: boot, ready marker, SSH, side by side, never orphaned."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paramiko
import pytest

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.vm import accel
from hil.vm.accel import _probe_firmware, kvm_usable, probe_accel
from hil.vm.image import Image, ImageSpec, build_image
from hil.vm.qemu import QemuMachine, QemuOptions

ROOT = Path(__file__).resolve().parents[2]
BOOT = 90.0


@pytest.fixture(scope="module")
def image() -> Image:
    return build_image(ImageSpec(), log=lambda m: None)


@contextmanager
def machine(image: Image, run_dir: Path, options: QemuOptions | None = None, **kwargs: bool) -> Iterator[QemuMachine]:
    m = QemuMachine(image, options or QemuOptions(accel="tcg"), run_dir=run_dir, **kwargs)
    try:
        yield m
    finally:
        m.stop()


def qemu_pids(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def wait_gone(pid: int, marker: str, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pid not in qemu_pids(marker):
            return True
        time.sleep(0.05)
    return False


def ssh_client(image: Image, port: int, host_key: str | None = None) -> paramiko.SSHClient:
    """paramiko with the host key pinned (no auto-accept) and the image's client key."""
    key_type, key_b64 = (host_key or image.host_key_pub).split()[:2]
    client = paramiko.SSHClient()
    client.get_host_keys().add(f"[127.0.0.1]:{port}", key_type, paramiko.Ed25519Key(data=base64.b64decode(key_b64)))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username=image.user,
        key_filename=str(image.client_key),
        look_for_keys=False,
        allow_agent=False,
        timeout=20,
        banner_timeout=20,
        auth_timeout=20,
    )
    return client


def run(client: paramiko.SSHClient, command: str) -> tuple[int, str]:
    _, stdout, _ = client.exec_command(command, timeout=30)
    out = stdout.read().decode()
    return stdout.channel.recv_exit_status(), out


def ssh_banner(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.settimeout(10)
        return sock.recv(64)


# -- boot, SSH, SFTP -----------------------------------------------------------------------------


def test_boot_to_marker_and_ssh(image: Image, tmp_path: Path) -> None:
    with machine(image, tmp_path) as m:
        m.start()
        assert m.alive() and m.accel_used == "tcg"
        assert m.console_url == f"unix://{m.console_path}" and m.serial_port == 0  # a private unix socket
        m.wait_ready(Deadline.after(BOOT))
        assert ssh_banner(m.ssh_port).startswith(b"SSH-2.0-dropbear")
        client = ssh_client(image, m.ssh_port)
        try:
            status, out = run(client, "id -u; cat /proc/cmdline; ip -4 addr show dev eth0; ls /lib/modules")
            assert status == 0
            assert out.splitlines()[0] == "0"
            assert "console=ttyS0" in out and "10.0.2.15/24" in out and "virtio_net.ko" in out
            # SFTP works: dropbear finds sftp-server where Debian's build expects it
            sftp = client.open_sftp()
            payload = os.urandom(200_000)
            with sftp.open("/tmp/blob", "wb") as f:
                f.write(payload)
            with sftp.open("/tmp/blob", "rb") as f:
                assert f.read() == payload
            sftp.close()
            # syslog goes to the serial console (qvmsim's slog output lands there)
            with m.connect_console(10) as console:
                console.sendall(b"\n")
                expect(console, b"hil-qemu# ")  # QEMU has taken the connection: nothing is dropped now
                assert run(client, "logger -t hil-test syslog-to-$((6 * 7))")[0] == 0
                expect(console, b"hil-test: syslog-to-42")
                # and a shell answers on the console (the typed line's echo has no "42")
                console.sendall(b"echo console-shell-$((6 * 7))\n")
                expect(console, b"console-shell-42")
        finally:
            client.close()


def expect(sock: socket.socket, wanted: bytes, timeout: float = 20.0) -> None:
    sock.settimeout(timeout)
    seen = b""
    while wanted not in seen:
        data = sock.recv(65536)
        assert data, f"console closed before {wanted!r}; got {seen[-500:]!r}"
        seen += data


def test_host_key_is_pinned(image: Image, tmp_path: Path) -> None:
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB2eRgiEwB8SMcNtBmQx3klNptJNfZ8lzC4lh0X4NU7b"
    with machine(image, tmp_path) as m:
        m.start()
        m.wait_ready(Deadline.after(BOOT))
        with pytest.raises(paramiko.BadHostKeyException):
            ssh_client(image, m.ssh_port, host_key=other)


def test_console_reader_is_used_and_its_failure_reported(image: Image, tmp_path: Path) -> None:
    calls: list[tuple[str, float]] = []

    def reader(pattern: str, timeout: float) -> None:
        calls.append((pattern, timeout))
        buf = b""
        with m.connect_console(timeout) as sock:
            while pattern.encode() not in buf:
                buf += sock.recv(65536)

    with machine(image, tmp_path / "a") as m:
        m.start()
        m.wait_ready(Deadline.after(BOOT), console_reader=reader)
        assert calls and calls[0][0] == image.ready_marker and 0 < calls[0][1] <= BOOT
        assert ssh_banner(m.ssh_port).startswith(b"SSH-")

    def failing(pattern: str, timeout: float) -> None:
        raise TimeoutError("console said nothing; tail: <boot log>")

    with machine(image, tmp_path / "b") as m:
        m.start()
        with pytest.raises(InfrastructureError, match=r"ready marker .* did not appear.*<boot log>"):
            m.wait_ready(Deadline.after(BOOT), console_reader=failing)


def test_missing_marker_names_it_with_console_lines(image: Image, tmp_path: Path) -> None:
    # A kernel that cannot run /init: the marker never comes; the panic is in the tail.
    options = QemuOptions(accel="tcg", kernel_args=("rdinit=/nonexistent", "panic=0"))
    with machine(image, tmp_path, options) as m:
        m.start()
        with pytest.raises(InfrastructureError) as err:
            m.wait_ready(Deadline.after(20))
        message = str(err.value)
        assert image.ready_marker in message and "last console lines" in message
        assert "Kernel panic" in message or "/nonexistent" in message


def test_qemu_errors_are_reported_with_its_stderr(image: Image, tmp_path: Path) -> None:
    bad_option = QemuOptions(accel="tcg", extra_args=("-no-such-option",))
    with machine(image, tmp_path / "a", bad_option) as m, pytest.raises(InfrastructureError, match="no-such-option"):
        m.start()
    # A bad device fails once the console connects: QEMU's exit and stderr are named.
    with machine(image, tmp_path / "b", QemuOptions(accel="tcg", extra_args=("-device", "hil-nonexistent"))) as m:
        m.start()
        with pytest.raises(InfrastructureError, match=r"QEMU exited.*hil-nonexistent"):
            m.wait_ready(Deadline.after(30))


# -- side by side, stop, attach --------------------------------------------------------------------


def test_two_machines_side_by_side(image: Image, tmp_path: Path) -> None:
    with machine(image, tmp_path / "a") as a, machine(image, tmp_path / "b") as b:
        a.start()
        b.start()
        assert a.ssh_port != b.ssh_port and a.console_path != b.console_path
        errors: list[BaseException] = []

        def ready(m: QemuMachine) -> None:
            try:
                m.wait_ready(Deadline.after(BOOT))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=ready, args=(m,)) for m in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for m in (a, b):
            client = ssh_client(image, m.ssh_port)
            assert run(client, "echo up")[1] == "up\n"
            client.close()


def test_stop_is_idempotent_and_leaves_no_process(image: Image, tmp_path: Path) -> None:
    m = QemuMachine(image, QemuOptions(accel="tcg"), run_dir=tmp_path)
    m.stop()  # never started: nothing to do
    m.start()
    pid = m.pid
    assert qemu_pids(str(tmp_path / "qemu.pid")) == [pid]
    m.stop()
    m.stop()
    assert not m.alive()
    assert not Path(f"/proc/{pid}").exists(), "QEMU was not reaped"


def test_attach_from_state_stops_a_background_machine(image: Image, tmp_path: Path) -> None:
    with machine(image, tmp_path, die_with_parent=False) as m:
        m.start()
        m.wait_ready(Deadline.after(BOOT))
        state = m.state()
        assert (state["pid"], state["ssh_port"], state["console_path"]) == (m.pid, m.ssh_port, m.console_path)
        assert state["console_url"] == m.console_url and state["image"] == str(image.root)
        other = QemuMachine.attach(state)
        assert other.alive() and other.ssh_port == m.ssh_port
        other.stop()
        assert not other.alive() and not m.alive()


def test_started_from_a_short_lived_thread_survives_it(image: Image, tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG fires when the forking thread exits: QEMU must outlive a worker thread."""
    with machine(image, tmp_path) as m:
        worker = threading.Thread(target=m.start)
        worker.start()
        worker.join()
        time.sleep(0.5)
        assert m.alive()


# -- never orphaned --------------------------------------------------------------------------------

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from hil.core.deadline import Deadline
    from hil.vm.image import load_image
    from hil.vm.qemu import QemuMachine, QemuOptions
    m = QemuMachine(load_image(Path(sys.argv[1])), QemuOptions(accel="tcg"), run_dir=Path(sys.argv[2]))
    m.start()
    m.wait_ready(Deadline.after(90))
    print(m.pid, flush=True)
    time.sleep(300)
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["Ctrl-C", "SIGTERM", "SIGKILL"])
def test_owner_killed_leaves_no_qemu(image: Image, tmp_path: Path, sig: signal.Signals) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(image.root), str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        line = child.stdout.readline() if child.stdout else ""
        assert line.strip().isdigit(), (
            f"child did not start a machine: {line!r} {child.stderr.read() if child.stderr else ''}"
        )
        pid = int(line)
        assert qemu_pids(str(tmp_path / "qemu.pid")) == [pid]
        child.send_signal(sig)
        # SIGTERM: our handler stops QEMU, then the owner dies of SIGTERM; Ctrl-C: atexit stops it
        assert child.wait(15) == -sig
        assert wait_gone(pid, str(tmp_path / "qemu.pid")), f"QEMU {pid} outlived its owner ({sig.name})"
        if sig != signal.SIGKILL:  # stopped by the owner, not just killed by PDEATHSIG
            assert "terminating on signal 15" in (tmp_path / "qemu.stderr").read_text()
    finally:
        child.kill()
        child.wait()
        for pid in qemu_pids(str(tmp_path / "qemu.pid")):
            os.kill(pid, signal.SIGKILL)


# -- KVM probe ---------------------------------------------------------------------------------------


def test_probe_firmware_reaches_long_mode_under_tcg(tmp_path: Path) -> None:
    rom = tmp_path / "probe.bin"
    rom.write_bytes(_probe_firmware())
    assert probe_accel("tcg", str(rom), timeout=10.0)


def test_probe_gives_up_on_a_hanging_guest(tmp_path: Path) -> None:
    rom = tmp_path / "hang.bin"
    rom.write_bytes(b"\xf4" * 0xFFF0 + b"\xeb\xfe" + b"\xf4" * 14)  # reset vector: jmp $
    started = time.monotonic()
    assert not probe_accel("tcg", str(rom), timeout=1.0)
    assert time.monotonic() - started < 5.0


def test_kvm_verdict_is_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached for the process: a second call neither probes nor reads the remembered verdict (no
    wall-clock bound: the call is shown not to do the work)."""
    first = kvm_usable()

    def no_probe(*args: object) -> bool:
        raise AssertionError("kvm_usable() probed again instead of using the process's cached verdict")

    monkeypatch.setattr(accel, "_remembered_kvm_verdict", no_probe)
    monkeypatch.setattr(accel, "_run_kvm_probe", no_probe)
    assert kvm_usable() is first
