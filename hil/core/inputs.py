"""Reading input files and turning names into paths, safely.

* ``read_input``/``read_input_text``: every input file qnx-hil reads (target
  TOML, ``.qvmconf``, guest scripts, ``state.json``, ...) goes through here:
  only regular files (a FIFO or a device such as ``/dev/zero`` is refused
  without being read, so nothing hangs or fills memory), at most ``limit``
  bytes, and every problem is one ``ConfigError`` line saying what, where and
  how to fix it.
* ``safe_name``: one sanitiser for every name that becomes a file or folder
  name (test ids, target names): a readable part plus, when anything had to
  be replaced or cut, a short hash of the original, so two different names
  never share a folder (``a;b`` and ``a|b`` do not collide).
* ``check_name``: a target name used as a path component must be a plain name.
* ``confined``: a relative path that stays inside its folder (no absolute
  paths, no ``..``).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from pathlib import Path, PurePosixPath

from hil.core.errors import ConfigError

#: The default cap for an input file (target definitions, .qvmconf, guest scripts, state files).
MAX_INPUT_BYTES = 16 << 20


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def read_input(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES, fix: str = "") -> bytes:
    """The bytes of the input file ``path`` (``what`` it is, for messages), at most ``limit`` bytes.

    Refuses (``ConfigError``, one line) a missing file, anything that is not a
    regular file (without blocking on a FIFO or reading a device) and a file
    larger than ``limit``.  ``fix`` is appended as the how-to-fix hint.
    """
    path = Path(path)
    hint = f"; {fix}" if fix else f"; give the path of a regular {what} file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ConfigError(f"cannot read {what} file: not found{hint}", str(path)) from None
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            raise ConfigError(f"cannot read {what} file: it is a directory{hint}", str(path)) from None
        raise ConfigError(f"cannot read {what} file: {exc.strerror or exc}{hint}", str(path)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(
                f"cannot read {what} file: it is {_kind(st.st_mode)}, not a regular file{hint}", str(path)
            )
        if st.st_size > limit:
            raise ConfigError(
                f"cannot read {what} file: it is {st.st_size} bytes, more than the {_size(limit)} allowed{hint}",
                str(path),
            )
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:  # it grew while we read it
            raise ConfigError(f"cannot read {what} file: it is more than the {_size(limit)} allowed{hint}", str(path))
        return b"".join(chunks)
    except OSError as exc:
        raise ConfigError(f"cannot read {what} file: {exc.strerror or exc}{hint}", str(path)) from None
    finally:
        os.close(fd)


def read_input_text(path: str | Path, what: str, limit: int = MAX_INPUT_BYTES, fix: str = "") -> str:
    """``read_input`` decoded as UTF-8 (a decoding error names the byte offset)."""
    data = read_input(path, what, limit, fix)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} file is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8", str(path)
        ) from None


# --------------------------------------------------------------------------- names as paths

_UNSAFE = re.compile(r"[^A-Za-z0-9_.=-]+")


def safe_name(text: str, limit: int = 150) -> str:
    """A file-system-safe, collision-free folder or file name for ``text``.

    Text made only of ``[A-Za-z0-9_.=-]`` (not ``.``/``..``, not starting with
    ``.``), at most ``limit`` long, is kept as it is.  Anything else becomes a
    readable part (runs of other characters replaced by ``_``, cut to fit)
    followed by ``-`` and 10 hex digits of the SHA-256 of the original: two
    different names never map to the same result (short of a hash collision).
    """
    if text and not _UNSAFE.search(text) and not text.startswith(".") and len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    readable = _UNSAFE.sub("_", text).strip("_.")[: max(1, limit - 11)] or "_"
    return f"{readable}-{digest}"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str, what: str = "target name", source: str | None = None, key: str | None = None) -> str:
    """``name`` if it is a plain name usable as one path component; else a ``ConfigError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name in (".", ".."):
        raise ConfigError(
            f"{what} {name!r} is not a plain name: use 1-64 letters, digits, '_', '.', '-', "
            f"starting with a letter or digit (no '/')",
            source,
            key,
        )
    return name


def confined(name: str, what: str, where: str) -> str:
    """``name`` as a normalised relative path that cannot leave its folder (``where``, for messages)."""
    if not name or "\0" in name:
        raise ConfigError(f"{what} {name!r} is empty or has a NUL byte; give a file name inside {where}")
    posix = PurePosixPath(name)
    if posix.is_absolute():
        raise ConfigError(f"{what} {name!r} is an absolute path; give a name relative to {where}")
    if ".." in posix.parts:
        raise ConfigError(f"{what} {name!r} has a '..' component and would leave {where}; give a name inside it")
    parts = [p for p in posix.parts if p != "."]
    if not parts:
        raise ConfigError(f"{what} {name!r} names the folder itself; give a file name inside {where}")
    return "/".join(parts)
