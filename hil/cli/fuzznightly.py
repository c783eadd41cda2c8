"""``hil nightly --fuzz S``: after the night's tests, each vdev fuzzed from the guest side for S seconds."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hil.core.errors import HilError

#: Where ``hil nightly --fuzz`` looks for vdev folders (folders of .c files) when none is named.
VDEV_FOLDERS = ("vdevs", "target_vdevs")


def vdev_folders(project: Path) -> list[Path]:
    """Every folder of .c files directly under ``vdevs/`` and ``target_vdevs/`` of ``project``."""
    found: list[Path] = []
    for parent in VDEV_FOLDERS:
        root = project / parent
        if root.is_dir():
            found += [d for d in sorted(root.iterdir()) if d.is_dir() and any(d.glob("*.c"))]
    return found


def fuzz_each(project: Path, folders: Sequence[Path], seconds: float, out: Path) -> int:
    """Fuzz each vdev folder (``folders``, default ``vdev_folders(project)``) ``seconds`` with its
    ``fuzz.settings``; a summary line each; returns how many findings there were.  A vdev whose
    configuration does not start a guest (e.g. one made to be refused) is reported and skipped."""
    from hil.qvmrun.fuzz import FuzzSettings, fuzz_vdev

    chosen = list(folders) or vdev_folders(project)
    if not chosen:
        print(f"hil nightly --fuzz: no vdev folder in {', '.join(VDEV_FOLDERS)}/ of {project}: nothing fuzzed")
        return 0
    findings = 0
    for folder in chosen:
        settings = FuzzSettings.read(folder)
        try:
            report = fuzz_vdev(
                folder, out / folder.resolve().name, base=settings.base, seconds=seconds, skip=settings.skip
            )
        except HilError as exc:
            first = str(exc).splitlines()[0]
            print(f"hil nightly --fuzz: {folder}: not fuzzed: {first}")
            continue
        findings += len(report.findings)
        print(report.summary(), end="", flush=True)
    print(f"hil nightly --fuzz: {len(chosen)} vdev(s), {findings} finding(s); reports in {out}")
    return findings
