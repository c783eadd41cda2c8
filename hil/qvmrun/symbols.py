"""Naming the frames of a crash or a sanitizer report with ``addr2line`` on the host's copy of each file.

qvmsim's crash block (parsed by ``hil.qvm.crash``) and the sanitizers' reports
give frames as a file on the target and an offset in it; the host has its own
copy of each deployed vdev (built with ``-g``), so ``addr2line`` there names
the function and ``file:line``.  Without ``addr2line`` the frames stay raw.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from hil.qvm.crash import Crash

#: A sanitizer report's frame the target could not name: ``#3 0x... (/path/lib.so+0x1234)``.
_REPORT_FRAME_RE = re.compile(r"^(?P<head>\s*#\d+ 0x[0-9a-f]+) +\((?P<path>[^()+ ]+)\+(?P<off>0x[0-9a-f]+)\)\s*$")


def _addr2line(path: Path, offsets: list[int]) -> list[tuple[str, str]] | None:
    tool = shutil.which("addr2line")
    if tool is None or not offsets:
        return None
    try:
        proc = subprocess.run(
            [tool, "-f", "-C", "-e", str(path), *(f"{o:#x}" for o in offsets)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) != 2 * len(offsets):
        return None
    return [(lines[2 * i], lines[2 * i + 1].split(" (discriminator")[0]) for i in range(len(offsets))]


def symbolize(crash: Crash, local_file: Callable[[str], Path | None]) -> Crash:
    """Name each frame's function and ``file:line`` with addr2line, on ``local_file(path)``: the host's
    copy of a target file (None: left raw).  A return address is looked up one byte back (the call)."""
    frames = list(crash.frames)
    by_file: dict[Path, list[int]] = {}
    for i, frame in enumerate(frames):
        if frame.path is None or frame.offset is None:
            continue
        local = local_file(frame.path)
        if local is not None and local.is_file():
            by_file.setdefault(local, []).append(i)
    for local, indexes in by_file.items():
        offsets = [frames[i].offset - (1 if i > 0 else 0) for i in indexes]  # type: ignore[operator]
        names = _addr2line(local, offsets)
        if names is None:
            continue
        for i, (function, source) in zip(indexes, names, strict=True):
            frames[i] = dataclasses.replace(
                frames[i],
                function=None if function == "??" else function,
                source=None if source.startswith("??") else source,
            )
    return dataclasses.replace(crash, frames=tuple(frames))


def symbolize_report(report: str, local_file: object) -> str:
    """Frames the target could not name (``#3 0x... (/path/lib.so+0x1234)``) named with ``addr2line``
    on the host's copy of the file (``local_file(path) -> Path | None``)."""
    tool = shutil.which("addr2line")
    if tool is None:
        return report
    lines = []
    for line in report.splitlines():
        m = _REPORT_FRAME_RE.match(line)
        copy = local_file(m.group("path")) if m else None  # type: ignore[operator]
        if m and isinstance(copy, Path) and copy.exists():
            try:
                out = subprocess.run(
                    [tool, "-f", "-C", "-e", str(copy), m.group("off")], capture_output=True, text=True, timeout=20
                ).stdout.split("\n")
            except (OSError, subprocess.TimeoutExpired):
                out = []
            if len(out) >= 2 and out[0] != "??":
                line = f"{m.group('head')} in {out[0]} {out[1]} ({m.group('path')}+{m.group('off')})"
        lines.append(line)
    return "\n".join(lines)
