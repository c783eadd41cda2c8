"""Finding this host's processes by their full command line (names in /proc/PID/stat are cut to 15 characters)."""

from __future__ import annotations

import os
from pathlib import Path


def pids_running(program: str, mentioning: str | Path | None = None) -> set[int]:
    """Pids whose argv[0] is ``program`` (by base name, never cut short), and whose command line
    contains ``mentioning`` if given (e.g. a run's own folder, to ignore VMs of other runs)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if not argv or os.path.basename(argv[0].decode(errors="replace")) != program:
            continue
        if mentioning is None or any(str(mentioning).encode() in a for a in argv):
            found.add(int(entry))
    return found


def pids_mentioning(text: str | Path) -> set[int]:
    """Pids (other than this process) whose full command line contains ``text`` (e.g. a run's own folder)."""
    found = set()
    needle = str(text).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            found.add(int(entry))
    return found
