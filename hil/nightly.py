"""``hil nightly`` and ``hil demo``: the suite over an inventory, one command.

Runs pytest (with pytest-xdist, one worker per selected target) in a child
process, writes ``<reports>/<UTC timestamp>/`` with ``junit.xml``, per-test
artifacts and ``summary.txt``, streams pytest's progress, and exits:

* 0: everything passed (or nothing was selected);
* 1: a test failed (a vdev misbehaved);
* 3: no test failed, but the infrastructure failed somewhere;
* 2: bad input (unknown target, bad pytest arguments).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from hil.paths import PACKAGE_DIR
from hil.target_config import inventory, resolve

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INFRA = 0, 1, 2, 3
DEFAULT_SUITE = PACKAGE_DIR.parent / "tests" / "hil"


def report_dir(reports: Path) -> Path:
    """A new ``<reports>/<UTC timestamp>/`` folder."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = reports / stamp
    n = 1
    while path.exists():
        n += 1
        path = reports / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


def pytest_command(targets: list[str], out: Path, pytest_args: list[str]) -> list[str]:
    """The pytest command line: one xdist worker per target, each bound to its target's group."""
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
               "--hil-artifacts", str(out / "artifacts"), "--hil-junit", str(out / "junit.xml"),
               "--hil-summary", str(out / "summary.txt")]
    for name in targets:
        command += ["--hil-target", name]
    if len(targets) > 1:
        command += ["-p", "xdist", "-n", str(len(targets)), "--dist", "loadgroup"]
    has_paths = any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in pytest_args)
    if not has_paths:
        command.append(str(DEFAULT_SUITE))
    return command + pytest_args


def nightly(selectors: list[str], reports: Path, pytest_args: list[str]) -> int:
    """Run the suite over the selected targets (all of the inventory by default)."""
    names: list[str] = []
    arguments: list[str] = []  # what pytest gets: inventory names, or the .toml path given
    for selector in selectors or list(inventory()):
        is_path = selector.endswith(".toml") or "/" in selector
        for definition in resolve(selector):
            if definition.name not in names:
                names.append(definition.name)
                arguments.append(selector if is_path else definition.name)
    out = report_dir(reports)
    command = pytest_command(arguments, out, pytest_args)
    print(f"hil nightly: targets {', '.join(names)}; report folder {out}", flush=True)
    (out / "command.txt").write_text(" ".join(command) + "\n")
    started = time.monotonic()
    try:
        rc = subprocess.call(command)
    except KeyboardInterrupt:
        rc = 2
    elapsed = time.monotonic() - started
    summary = out / "summary.txt"
    if summary.exists():
        print(summary.read_text(), end="")
    print(f"hil nightly: {elapsed:.1f} s; JUnit report {out / 'junit.xml'}; artifacts {out / 'artifacts'}")
    return _verdict(rc, out / "counts.json")


def _verdict(pytest_rc: int, counts_file: Path) -> int:
    if pytest_rc == 5:
        return EXIT_OK
    try:
        counts = json.loads(counts_file.read_text())
    except (OSError, ValueError):
        return EXIT_OK if pytest_rc == 0 else (EXIT_INPUT if pytest_rc in (3, 4) else EXIT_FAILED)
    failed = sum(c.get("failed", 0) for c in counts.values())
    errors = sum(c.get("errors", 0) for c in counts.values())
    infra = sum(c.get("infrastructure", 0) for c in counts.values())
    if failed or errors > infra:
        return EXIT_FAILED
    if infra:
        return EXIT_INFRA
    return EXIT_OK if pytest_rc == 0 else EXIT_FAILED


def demo(reports: Path) -> int:
    """The short, readable selection of the HIL suite on the public QEMU target."""
    return nightly(["qemu"], reports, ["-m", "demo", "-v"])
