"""Snapshot start: the booted, SSH-ready state of a QEMU VM, saved once, restored on later starts.

The first cold boot of an image (for one set of QEMU options) saves the VM's state with QEMU's
own migration (``migrate exec:cat > FILE`` over QMP) right after the ready marker, before any
SSH connection exists, so the user-mode network holds no connection.  Later starts run QEMU
with ``-incoming exec:cat FILE``: RAM and devices come back, the guest's dropbear keeps
listening, and the host-forwarded SSH port, the serial socket and the QMP socket are new
command-line arguments, so VMs restored at once from one file never share a port (and
there is no disk to share: the image is an initramfs).

The file lives beside the image (``<image>/snapshots/<key>.vmstate`` with ``<key>.json``),
keyed by a hash of the QEMU command line with its per-run parts (ports, fds, run folder)
blanked, and of the size and mtime of every file it names (kernel, initrd, firmware) and of
the QEMU binary: a change of image, QEMU version, memory, CPUs, NIC, accelerator or machine
makes another key.  A command line with a disk is never snapshotted (its state would not
match the restored RAM).  It is written under a lock (``hil.core.paths.file_lock``), to a
temporary name first, so parallel sessions never read half a snapshot; a save that never
finished (SIGKILL) leaves a ``.part`` file that the next save removes.  The record holds the
file's SHA-256: a snapshot changed after it was saved is discarded, never restored.  Hashing the
file (~70 MB) costs 0.2 s or more on every start, so a start that checked it records the file's
identity then (inode, size, mtime, ctime: any write changes mtime and ctime) in ``<key>.verified``;
a later start whose file still has that identity trusts the check instead of hashing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from hil.core.errors import InfrastructureError
from hil.core.paths import file_lock
from hil.vm.qmp import Qmp

log = logging.getLogger("hil.vm.snapshot")

#: QEMU's migration stream magic ("QEVM").
MAGIC = b"QEVM"

#: Options whose state lives outside RAM and devices: a VM with one is never snapshotted.
_STATEFUL_OPTIONS = (
    "-drive",
    "-hda",
    "-hdb",
    "-hdc",
    "-hdd",
    "-cdrom",
    "-blockdev",
    "-pflash",
    "-mtdblock",
    "-sd",
    "-virtfs",
    "-fsdev",
    "-loadvm",
    "-incoming",
)

#: Set HIL_QEMU_SNAPSHOT=0 to always cold boot.
ENV_SWITCH = "HIL_QEMU_SNAPSHOT"

_said: set[str] = set()
_said_lock = threading.Lock()


def enabled() -> bool:
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "no", "off", "false")


def say_once(message: str) -> None:
    """Log ``message`` (a warning) once per process."""
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    log.warning(message)


def snapshottable(argv: list[str]) -> bool:
    return not any(arg in _STATEFUL_OPTIONS or arg.startswith("file=") for arg in argv[1:])


def _file_identity(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{os.path.realpath(path)}:{st.st_size}:{st.st_mtime_ns}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def key_for(argv: list[str], volatile: tuple[str, ...]) -> str:
    """The snapshot key of a QEMU command line; ``volatile``: its per-run strings (blanked)."""
    h = hashlib.sha256()
    binary = shutil.which(argv[0]) or argv[0]
    h.update(_file_identity(binary).encode() + b"\0")
    for arg in argv[1:]:
        for word in volatile:
            if word:
                arg = arg.replace(word, "<run>")
        h.update(arg.encode() + b"\0")
        for part in arg.split(","):  # file arguments, e.g. -kernel FILE or -bios FILE
            if part.startswith("/") and os.path.isfile(part):
                h.update(_file_identity(part).encode() + b"\0")
    return h.hexdigest()[:20]


def _named_by_a_process(needle: bytes) -> bool:
    """Whether a process's command line holds ``needle``."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if needle in f.read():
                        return True
            except OSError:
                continue
    return False


def _remove_part(tmp: str, wait: float = 2.0) -> None:
    """Remove a save's ``.part`` file ``tmp`` (a save cancelled or failed; a completed one has renamed it).
    QEMU's writer (``sh -c "test -e TMP && exec cat > TMP"``, started by the migrate command) may not have
    opened it yet (a SIGTERM right after the migrate command): once it is removed, a writer not yet started
    finds it gone and makes nothing; one between its test and its open names it on its command line, so until
    no process does (at most ``wait`` seconds) it is removed again."""
    end = time.monotonic() + wait
    while True:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if not _named_by_a_process(tmp.encode()) or time.monotonic() > end:
            break
        time.sleep(0.01)
    try:
        os.unlink(tmp)
    except OSError:
        pass


class Snapshot:
    """The snapshot file of one key in ``folder`` (``<image>/snapshots``)."""

    def __init__(self, folder: Path, key: str) -> None:
        self.folder = folder
        self.key = key
        self.path = folder / f"{key}.vmstate"
        self.meta = folder / f"{key}.json"
        self.verified = folder / f"{key}.verified"

    def _lock(self) -> Any:
        self.folder.mkdir(parents=True, exist_ok=True)
        return file_lock(self.folder / f".{self.key}.lock")

    def usable(self) -> bool:
        """The file exists, starts with QEMU's magic and has the size and SHA-256 its record says (a
        snapshot changed after it was saved is not restored).  The record is read as a bounded input
        (a FIFO or a device in its place is refused, not read)."""
        from hil.core.errors import ConfigError
        from hil.core.inputs import read_input_text

        try:
            meta = json.loads(read_input_text(self.meta, "snapshot record", limit=64 << 10))
            if not os.path.isfile(self.path):
                return False
            st = self.path.stat()
            with open(self.path, "rb") as f:
                head = f.read(4)
        except (OSError, ValueError, ConfigError):
            return False
        if head != MAGIC or not isinstance(meta, dict) or meta.get("key") != self.key or meta.get("size") != st.st_size:
            return False
        identity = f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{meta.get('sha256')}"
        try:
            if self.verified.read_text() == identity:
                return True  # hashed by an earlier start, unchanged since
        except (OSError, ValueError):
            pass
        if meta.get("sha256") != _sha256(self.path):
            return False
        self._remember_verified(identity)
        return True

    def _remember_verified(self, identity: str) -> None:
        """Record that the file with ``identity`` matched its SHA-256 (best effort, written whole)."""
        fd, tmp = -1, ""
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.key}.", suffix=".verified", dir=self.folder)
            os.write(fd, identity.encode())
            os.close(fd)
            fd = -1
            os.replace(tmp, self.verified)
        except OSError:
            if fd >= 0:
                os.close(fd)
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass

    def _remove_stale_parts(self) -> None:
        """Remove ``.part`` files of saves that never finished (a SIGKILLed save): the lock is held, so
        no save of this key is under way."""
        for part in self.folder.glob(f".{self.key}.*.part"):
            try:
                part.unlink()
            except OSError:
                pass

    def discard(self, why: str) -> None:
        """Remove a snapshot that could not be used (the next cold boot saves a new one)."""
        with self._lock():
            for path in (self.path, self.meta, self.verified):
                try:
                    path.unlink()
                except OSError:
                    pass
        say_once(f"QEMU snapshot {self.path} not usable ({why}): cold boot instead (a new snapshot will be saved)")

    def save(self, qmp_address: str, timeout: float = 60.0) -> bool:
        """Save the running VM (its QMP socket ``qmp_address``) here, then let it run on.

        Does nothing (False) when another process saved it meanwhile; raises
        ``InfrastructureError`` when QEMU fails to.
        """
        with self._lock():
            self._remove_stale_parts()
            if self.usable():
                return False
            # the name is chosen before the file exists, so the clean-up below covers every moment after it is made
            tmp = str(self.folder / f".{self.key}.{secrets.token_hex(6)}.part")
            try:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                with Qmp(qmp_address, timeout=timeout) as qmp:
                    quoted = "'" + tmp.replace("'", "'\\''") + "'"
                    # the writer makes no file once the save gave it up (removed it): see _remove_part
                    qmp.command("migrate", uri=f"exec:test -e {quoted} && exec cat > {quoted}")
                    end = time.monotonic() + timeout
                    while True:
                        status = qmp.command("query-migrate").get("status")
                        if status in ("completed", "failed", "cancelled"):
                            break
                        if time.monotonic() > end:
                            qmp.command("migrate_cancel")
                            status = "timed out"
                            break
                        time.sleep(0.01)
                    if qmp.command("query-status").get("status") != "running":
                        qmp.command("cont")  # a completed migration leaves the source paused
                if status != "completed":
                    raise InfrastructureError(f"saving the QEMU snapshot {self.path} failed: migration {status}")
                size = os.path.getsize(tmp)
                digest = _sha256(Path(tmp))
                os.replace(tmp, self.path)
                record = {"key": self.key, "size": size, "sha256": digest, "saved": time.time()}
                self.meta.write_text(json.dumps(record))
                return True
            finally:
                _remove_part(tmp)
