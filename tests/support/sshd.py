"""A real SSH server on 127.0.0.1 for the SSH transport's tests and benchmark.

``DropbearServer`` runs Debian's ``dropbear`` (package ``dropbear-bin``, which
ships only the binaries) in the foreground on a free loopback port, with a
host key and an authorized client key generated in a private folder.  No
system file is touched: dropbear looks the login user up through NSS, so
``libnss_wrapper.so`` (package ``libnss-wrapper``) hands it a fake ``hil``
user whose home is that folder and whose uid is ours (dropbear running as a
normal user can only log that uid in).  The SFTP subsystem is Debian's
``/usr/lib/sftp-server`` (package ``openssh-sftp-server``).

``sftp=False`` gives a server WITHOUT a working SFTP subsystem, the way a
board without ``sftp-server`` behaves: the client key carries a forced
``command=`` that fails the sftp-server exactly like a missing binary does
(``not found``, status 127) and runs every other command unchanged.

``shell="busybox"`` runs every command with busybox's sh and applets (ps,
awk, kill, cat...) first on PATH, like the public QEMU target's userland
(package ``busybox-static``); again through a forced ``command=``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.support.ports import listening_port

DROPBEAR = "dropbear"
DROPBEARKEY = "dropbearkey"
NSS_WRAPPER_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
)
SFTP_SERVER = Path("/usr/lib/sftp-server")

FORCED_COMMAND = """#!/bin/sh
# Forced command of a test server: with NOSFTP the sftp-server fails the way a
# missing binary does on a board; every other command runs with SHELL -c.
if [ -n "@NOSFTP@" ]; then
  case "$SSH_ORIGINAL_COMMAND" in
    */sftp-server) echo "sh: $SSH_ORIGINAL_COMMAND: not found" >&2; exit 127 ;;
  esac
fi
@PATH@
exec @SHELL@ -c "$SSH_ORIGINAL_COMMAND"
"""


def missing_tools() -> list[str]:
    """What this host lacks to run the test server, as install hints (empty: nothing)."""
    missing = []
    if not shutil.which(DROPBEAR) and not Path("/usr/sbin/dropbear").exists():
        missing.append("dropbear (apt-get install dropbear-bin)")
    if not shutil.which(DROPBEARKEY):
        missing.append("dropbearkey (apt-get install dropbear-bin)")
    if nss_wrapper() is None:
        missing.append("libnss_wrapper.so (apt-get install libnss-wrapper)")
    if not SFTP_SERVER.exists():
        missing.append(f"{SFTP_SERVER} (apt-get install openssh-sftp-server)")
    return missing


def busybox() -> str | None:
    """Path of a busybox binary, or None."""
    return shutil.which("busybox")


def nss_wrapper() -> str | None:
    """Path of libnss_wrapper.so, or None."""
    return next((p for p in NSS_WRAPPER_CANDIDATES if Path(p).exists()), None)


def make_client_key(path: Path) -> str:
    """Write a fresh Ed25519 private key (OpenSSH format) to ``path``; return its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def random_host_key_line() -> str:
    """A public host key line nobody serves (to pin a wrong key)."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@dataclass
class DropbearServer:
    """A dropbear listening on ``host:port``, all its files under ``root``.

    ``host_key`` is the public host key line to pin, ``client_key`` the
    private key it authorizes for ``user``, ``known_hosts`` a known_hosts file
    holding the host key under ``[127.0.0.1]:port``, ``log`` dropbear's log.
    """

    root: Path
    sftp: bool = True
    shell: str = "sh"
    window: int | None = None
    port: int = 0
    host: str = "127.0.0.1"
    user: str = "hil"
    host_key: str = ""
    client_key: Path = field(default_factory=Path)
    known_hosts: Path = field(default_factory=Path)
    log: Path = field(default_factory=Path)
    process: subprocess.Popen[bytes] | None = None

    def prepare(self) -> DropbearServer:
        """Generate keys, the fake user and its home (once)."""
        missing = missing_tools()
        if missing:
            raise RuntimeError("the SSH test server needs: " + ", ".join(missing))
        self.root.mkdir(parents=True, exist_ok=True)
        home = self.root / "home"
        (home / ".ssh").mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        (home / ".ssh").chmod(0o700)
        hostkey = self.root / "dropbear_ed25519_host_key"
        if not hostkey.exists():
            subprocess.run(
                [DROPBEARKEY, "-t", "ed25519", "-f", str(hostkey)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        out = subprocess.run([DROPBEARKEY, "-y", "-f", str(hostkey)], check=True, capture_output=True, text=True).stdout
        self.host_key = " ".join(next(ln for ln in out.splitlines() if ln.startswith("ssh-")).split()[:2])
        self.client_key = self.root / "client_ed25519"
        client_pub = make_client_key(self.client_key)
        options = ""
        if not self.sftp or self.shell != "sh":
            shell, path = "/bin/sh", ""
            if self.shell == "busybox":
                box = busybox()
                if box is None:
                    raise RuntimeError("shell='busybox' needs busybox (apt-get install busybox-static)")
                applets = self.root / "busybox-bin"
                applets.mkdir(exist_ok=True)
                names = subprocess.run([box, "--list"], capture_output=True, text=True, check=True).stdout.split()
                for name in names:
                    if not (applets / name).exists():
                        (applets / name).symlink_to(box)
                shell, path = f"{box} sh", f'PATH="{applets}:$PATH"; export PATH'
            elif self.shell != "sh":
                raise ValueError(f"unknown shell {self.shell!r} (sh or busybox)")
            wrapper = self.root / "forced-command.sh"
            wrapper.write_text(
                FORCED_COMMAND.replace("@NOSFTP@", "" if self.sftp else "yes")
                .replace("@PATH@", path)
                .replace("@SHELL@", shell)
            )
            wrapper.chmod(0o755)
            options = f'command="exec {wrapper}" '  # exec: no extra shell between dropbear and the command
        keys = home / ".ssh" / "authorized_keys"
        keys.write_text(options + client_pub + " hil-test\n")
        keys.chmod(0o600)
        (self.root / "passwd").write_text(f"{self.user}:x:{os.getuid()}:{os.getgid()}:hil test:{home}:/bin/sh\n")
        (self.root / "group").write_text(f"{self.user}:x:{os.getgid()}:\n")
        self.log = self.root / "dropbear.log"
        return self

    def start(self) -> DropbearServer:
        """Start dropbear (on ``port``, or a free one the first time) and wait until it accepts."""
        if not self.host_key:
            self.prepare()
        for _ in range(5):
            port = self.port or 0  # 0: dropbear picks a free port, read back from /proc once it listens
            env = dict(
                os.environ,
                LD_PRELOAD=nss_wrapper() or "",
                NSS_WRAPPER_PASSWD=str(self.root / "passwd"),
                NSS_WRAPPER_GROUP=str(self.root / "group"),
            )
            args = [
                DROPBEAR,
                "-F",
                "-E",
                "-s",
                "-r",
                str(self.root / "dropbear_ed25519_host_key"),
                "-p",
                f"{self.host}:{port}",
                "-P",
                str(self.root / "dropbear.pid"),
            ]
            if self.window:
                args += ["-W", str(self.window)]
            with open(self.log, "ab") as log:
                self.process = subprocess.Popen(
                    args, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
                )
            port = self._wait_listening(port)
            if port:
                self.port = port
                self.known_hosts = self.root / "known_hosts"
                self.known_hosts.write_text(f"[{self.host}]:{port} {self.host_key}\n")
                return self
            self.stop()
            if self.port:
                time.sleep(0.1)  # the port may still be held by the previous instance
        raise RuntimeError(f"dropbear did not start; log:\n{self.log.read_text(errors='replace')}")

    def _wait_listening(self, port: int) -> int:
        """The port dropbear listens on (``port``, or the one it picked for 0) once it does; 0 if it does not."""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return 0
            found = listening_port(self.process.pid, self.host)
            if found and (port == 0 or found == port):
                return found
            time.sleep(0.01)
        return 0

    def stop(self) -> None:
        """Stop the listener and every session it forked (with the commands they run)."""
        if self.process is None:
            return
        for pid in self.session_pids():  # each session is its own process group
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Stop, then start again on the same port (drops every connection)."""
        self.stop()
        self.start()

    def session_pids(self) -> list[int]:
        """Pids of the per-connection dropbear processes (children of the listener)."""
        if self.process is None:
            return []
        return children_of(self.process.pid)

    def kill_sessions(self) -> int:
        """SIGKILL every connection's dropbear process: their clients see the connection drop."""
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def processes_matching(needle: str) -> list[int]:
    """Pids whose command line contains ``needle`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if needle in cmdline:
            found.append(int(entry.name))
    return found
