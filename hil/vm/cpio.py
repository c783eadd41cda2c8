"""The initramfs writer: files, links and device nodes as a newc cpio (owner root, mtime 0), and its reader."""

from __future__ import annotations

import io
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass
class Entry:
    mode: int
    data: bytes | None = None  # file contents; symlink target for links
    rdev: tuple[int, int] = (0, 0)


class Tree:
    """The initramfs contents, written as a newc cpio (owner root, mtime 0)."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}

    def _parents(self, path: str) -> None:
        parent = str(PurePosixPath(path).parent)
        if parent != "/" and parent not in self.entries:
            self.dir(parent)

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFREG | mode, data)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFLNK | 0o777, target.encode())

    def node(self, path: str, mode: int, major: int, minor: int) -> None:
        self._parents(path)
        self.entries[path] = Entry(mode, None, (major, minor))

    def cpio(self) -> bytes:
        out = io.BytesIO()
        for ino, path in enumerate(sorted(self.entries), start=1):
            e = self.entries[path]
            _cpio_entry(out, path.lstrip("/"), e.mode, e.data or b"", ino, e.rdev)
        _cpio_entry(out, "TRAILER!!!", 0, b"", 0, (0, 0))
        return out.getvalue()


def _cpio_entry(out: io.BytesIO, name: str, mode: int, data: bytes, ino: int, rdev: tuple[int, int]) -> None:
    encoded = name.encode() + b"\0"
    nlink = 2 if stat.S_ISDIR(mode) else 1
    fields = (ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
    out.write(b"070701" + b"".join(b"%08X" % f for f in fields) + encoded)
    out.write(b"\0" * (-(110 + len(encoded)) % 4))
    out.write(data)
    out.write(b"\0" * (-len(data) % 4))


def read_cpio(data: bytes) -> Iterator[tuple[str, int, bytes]]:
    """(name, mode, data) of each entry of a newc cpio archive (for tests and inspection)."""
    pos = 0
    while pos + 110 <= len(data):
        if data[pos : pos + 6] != b"070701":
            raise ValueError(f"bad cpio header at {pos}")
        fields = [int(data[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = fields[1], fields[6], fields[11]
        name = data[pos + 110 : pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos : pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            return
        yield name, mode, body
