#!/usr/bin/env python3
"""``hil target up`` from the saved state (issue 27): its wall time beside its floors, and where it goes.

    python bench/bench_up.py [-n 5] [--target qemu]

Uses a private copy of the target's definition (its own name, so its own state folder
``~/.cache/qnx-hil/targets/bench-up-<pid>/``: never the suite's or anyone's ``hil target up`` VM), and
takes it down after each run.  Prints medians of:

- ``python -c pass`` (Python's start) and ``hil --version`` (the command line's start);
- ``hil target up`` (a new process, as a user runs it), and ``hil target down``;
- in-process, step by step: importing the target code, the image lookup (spec hash), QEMU's start
  (the snapshot's check included), the restore (QMP until QEMU runs the loaded state: QEMU's own
  work), SSH's banner from the restored guest (the one probe), the guest clock set over the console,
  the state file.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=True)
    return time.perf_counter() - started


def timed(marks: dict[str, float], name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            marks[name] = marks.get(name, 0.0) + time.perf_counter() - started

    return wrapper


def in_process(toml: Path) -> dict[str, float]:
    """One 'up' in this process, step by step (a fresh interpreter: the import is counted)."""
    code = f"""
import json, sys, time
t0 = time.perf_counter()
from hil.targets import qemu as Q
from hil.targets.definition import load_definition
from hil.vm import qemu as VQ
from hil.vm import bootwait
marks = {{"import": time.perf_counter() - t0}}
sys.path.insert(0, {str(ROOT / "bench")!r})
from bench_up import timed
Q.public_image = timed(marks, "image lookup", Q.public_image)
VQ.QemuMachine.start = timed(marks, "QEMU start", VQ.QemuMachine.start)
VQ.QemuMachine._wait_restored = timed(marks, "restore + banner", VQ.QemuMachine._wait_restored)
bootwait.BootWaits._wait_ssh = timed(marks, "SSH banner", bootwait.BootWaits._wait_ssh)
Q._set_clock_by_console = timed(marks, "clock (console)", Q._set_clock_by_console)
Q.write_state = timed(marks, "state file", Q.write_state)
t1 = time.perf_counter()
Q.background_up(load_definition({str(toml)!r}))
marks["up total"] = time.perf_counter() - t1
marks["restore"] = marks.pop("restore + banner") - marks.get("SSH banner", 0.0)
Q.background_down(load_definition({str(toml)!r}).name)
print(json.dumps(marks))
"""
    out = subprocess.run([PY, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    import json

    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=5, help="runs of each")
    parser.add_argument("--target", default="qemu", help="the qemu-kind definition to copy (default: qemu)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from hil.targets.definition import resolve

    (base,) = resolve(args.target)
    source = Path(base.source).read_text() if base.source and Path(base.source).is_file() else ""
    folder = Path(tempfile.mkdtemp(prefix="bench-up-"))
    name = f"bench-up-{os.getpid()}"
    toml = folder / f"{name}.toml"
    lines = [line for line in source.splitlines() if not line.startswith(("name", "labels"))]
    toml.write_text(f'name = "{name}"\n' + "\n".join(lines) + "\n")
    hil = [PY, "-m", "hil"]
    figures: dict[str, list[float]] = {}
    try:
        subprocess.run([*hil, "target", "up", "--target", str(toml)], cwd=ROOT, capture_output=True, check=True)
        subprocess.run([*hil, "target", "down", "--target", str(toml)], cwd=ROOT, capture_output=True, check=True)
        for _ in range(args.n):  # warm: the image, its snapshot, bytecode
            figures.setdefault("python -c pass", []).append(wall([PY, "-c", "pass"]))
            figures.setdefault("hil --version", []).append(wall([*hil, "--version"]))
            figures.setdefault("hil target up", []).append(wall([*hil, "target", "up", "--target", str(toml)]))
            figures.setdefault("hil target down", []).append(wall([*hil, "target", "down", "--target", str(toml)]))
            for key, value in in_process(toml).items():
                figures.setdefault(f"  {key}", []).append(value)
    finally:
        subprocess.run([*hil, "target", "down", "--target", str(toml)], cwd=ROOT, capture_output=True)
    print(f"'hil target up' from the saved state ({base.name}), median of {args.n} (s), load {os.getloadavg()[0]:.2f}:")
    for key, values in figures.items():
        print(f"  {key:22s} {statistics.median(values):7.3f}   (min {min(values):.3f}, max {max(values):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
