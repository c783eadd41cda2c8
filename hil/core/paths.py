"""Where qnx-hil keeps things on the host."""

from __future__ import annotations

import fcntl
import hashlib
import os
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
