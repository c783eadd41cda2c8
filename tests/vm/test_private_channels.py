"""QEMU's control channels belong to their owner (issue 22, critical 1 and high 3).

A VM of ours (a private one, and one started like ``hil target up``'s, outliving its starter)
serves QMP and the serial console on unix sockets in a 0700 folder of this user; another local
user (``nobody``) reaches neither: no QMP, no shell on any socket or loopback port of QEMU.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from hil.core.deadline import Deadline
from hil.core.errors import InfrastructureError
from hil.links.transports import UnixTransport
from hil.targets import qemu as qemu_kind
from hil.targets.definition import resolve
from hil.vm.image import Image
from hil.vm.qemu import QemuMachine, QemuOptions
from hil.vm.qmp import Qmp
from tests.support.otheruser import abstract_socket_names, as_nobody, listening_tcp_ports, probe_as_nobody

BOOT = 180.0


@pytest.fixture(scope="module")
def image() -> Image:
    (definition,) = resolve("qemu")
    return qemu_kind.public_image(definition)


@pytest.mark.parametrize("die_with_parent", [True, False], ids=["private-vm", "background-vm"])
def test_another_local_user_gets_no_qmp_and_no_console_shell(
    image: Image, tmp_path: Path, die_with_parent: bool
) -> None:
    m = QemuMachine(
        image, QemuOptions(accel="tcg"), run_dir=tmp_path / "vm", die_with_parent=die_with_parent, snapshot=True
    )
    m.start()
    try:
        m.wait_ready(Deadline.after(BOOT))
        assert m.control_dir is not None
        folder = os.lstat(m.control_dir)
        assert stat.S_IMODE(folder.st_mode) == 0o700 and folder.st_uid == os.getuid()
        qmp_path = str(m.control_dir / "qmp")
        # the owner reaches both: QMP answers, the console is a shell
        with Qmp(qmp_path) as qmp:
            assert qmp.command("query-status")["running"]
        with m.connect_console(10) as console:
            console.sendall(b"\necho own$((40+2))er\n")
            console.settimeout(10)
            seen = b""
            while b"own42er" not in seen:
                chunk = console.recv(4096)
                assert chunk, seen
                seen += chunk
        # another local user: nothing
        ports = listening_tcp_ports(m.pid)
        assert m.ssh_port in ports
        seen_by_nobody = probe_as_nobody([qmp_path, m.console_path], ports, abstract_socket_names(m.pid))
        for path, outcome in seen_by_nobody["unix"].items():
            assert outcome.startswith("refused PermissionError"), (path, outcome)
        for port, outcome in seen_by_nobody["tcp"].items():
            assert outcome not in ("SHELL", "QMP"), (port, outcome)
        assert seen_by_nobody["abstract"] == []  # QEMU holds no abstract socket (no permissions there)
        # and the owner still does (the probe took nothing away)
        with Qmp(qmp_path) as qmp:
            assert qmp.command("query-status")["running"]
    finally:
        m.stop()
    assert not m.control_dir.exists(), "the sockets' folder outlived QEMU"


def test_a_socket_served_by_another_user_is_refused() -> None:
    """Peer credentials: a console or QMP socket whose listener is not this user's is refused."""
    with tempfile.TemporaryDirectory(prefix="hil-shared-") as shared:  # in /tmp, where nobody can go
        os.chmod(shared, 0o777)
        check_socket_of_nobody(Path(shared) / "sock")


def check_socket_of_nobody(path: Path) -> None:
    listener = as_nobody_listener(path)
    try:
        with pytest.raises(InfrastructureError, match=r"served by uid 65534, not by this user"):
            UnixTransport(str(path)).open()
        with pytest.raises(InfrastructureError, match=r"served by uid 65534, not by this user"):
            Qmp(str(path), timeout=2)
    finally:
        listener.kill()
        listener.wait()


def as_nobody_listener(path: Path) -> subprocess.Popen[bytes]:
    """A unix socket listener at ``path`` run by ``nobody`` (started and listening on return)."""
    as_nobody(["true"])  # fails the test clearly when user switching is not possible
    script = (
        "import socket,sys,time;s=socket.socket(socket.AF_UNIX);s.bind(sys.argv[1]);s.listen(4);"
        "print('up',flush=True)\nwhile True:\n c,_=s.accept();c.sendall(b'{\"QMP\": {}}\\n')"
    )
    proc = subprocess.Popen(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c", script, str(path)],
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    end = time.monotonic() + 20
    while proc.stdout.readline() != b"up\n":
        assert time.monotonic() < end and proc.poll() is None
    return proc
