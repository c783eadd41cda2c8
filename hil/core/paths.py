"""Where qnx-hil keeps things on the host."""

from __future__ import annotations

import fcntl
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/qnx-hil/<parts>`` (default ``~/.cache/qnx-hil``), created."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    path = Path(base, "qnx-hil", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def private_dir(*parts: str) -> Path:
    """A folder only this user can enter: ``<tmp>/qnx-hil-<uid>/<parts>`` (each made mode 0700).

    Every component from ``qnx-hil-<uid>`` down is checked after it is made: a real folder
    (not a symlink), owned by this user, not open to group or others (``private_folder``).  A
    folder someone else made first, or a symlink in its place, is a ``SetupError`` naming it:
    nothing of ours (QEMU's control sockets, deployment folders) goes where another local user
    can reach it.
    """
    path = private_folder(Path(tempfile.gettempdir()) / f"qnx-hil-{os.getuid()}")
    for part in parts:
        path = private_folder(path / part)
    return path


def private_folder(path: Path) -> Path:
    """Make ``path`` (mode 0700, parent must exist) unless it exists, then prove it is ours and private:
    a folder, not a symlink, owned by this user, no access for group or others; else ``SetupError``."""
    from hil.core.errors import SetupError

    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise SetupError(f"cannot create the private folder {path}: {exc.strerror or exc}") from exc
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise SetupError(f"cannot check the private folder {path}: {exc.strerror or exc}") from exc
    problem = folder_problem(st)
    if problem:
        raise SetupError(
            f"{path} {problem}: another local user could reach what qnx-hil keeps there; "
            f"remove it (or make it yours with mode 0700) and run again"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:  # ours, but open: close it
        os.chmod(path, 0o700)
    return path


def folder_problem(st: os.stat_result, uid: int | None = None) -> str:
    """Why a folder with ``lstat`` result ``st`` is not a private folder of ``uid`` (this user), '' when it is
    (a mode open to group or others is left to the caller: ``private_folder`` closes it on its own folder)."""
    uid = os.getuid() if uid is None else uid
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if st.st_uid != uid:
        return f"is owned by uid {st.st_uid}, not by this user (uid {uid})"
    return ""


def hash_inputs(*items: bytes | str | Path) -> str:
    """A short stable hash of byte strings, strings and file contents (for cache keys)."""
    h = hashlib.sha256()
    for item in items:
        if isinstance(item, Path):
            h.update(b"F" + str(item.name).encode() + b"\0" + item.read_bytes())
        elif isinstance(item, str):
            h.update(b"S" + item.encode())
        else:
            h.update(b"B" + item)
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created) for the duration of the block."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
