"""``hil host check`` and ``hil host install``: what the selected targets need on this host.

The targets are selected as ``hil nightly`` selects them (default: the whole inventory);
what each needs comes from ``hil.targets.hostdeps``.  ``check`` lists what is missing,
with its Debian package and the targets needing it, and the apt commands that install
it (exit 0: nothing missing, 1: something is).  ``install`` runs those commands
(``apt-get`` through ``sudo`` unless root, ``DEBIAN_FRONTEND=noninteractive``) and checks
again; ``--dry-run`` prints them only.  On a host without apt it refuses (exit 2).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.cli.nightly import select_targets
from hil.cli.status import EXIT_FAILED, EXIT_OK
from hil.core.errors import HilError
from hil.targets.definition import TargetDefinition
from hil.targets.hostdeps import Missing, apt_arch_state, is_native_arch, missing

APT_INSTALL = ("apt-get", "install", "-y", "--no-install-recommends")


def ubuntu_like(os_release: Path = Path("/etc/os-release")) -> bool:
    """True on Ubuntu and its derivatives, whose amd64 mirror has no arm64 packages (ports.ubuntu.com has)."""
    try:
        text = os_release.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key in ("ID", "ID_LIKE") and "ubuntu" in value.strip("\"'").split():
            return True
    return False


@dataclass
class Plan:
    """The commands that install what is missing, in order: each step's commands run joined by
    ``&&``; what they cannot install (``manual``: the missing item and how to get it)."""

    steps: list[list[list[str]]] = field(default_factory=list)
    packages: list[str] = field(default_factory=list)
    manual: list[tuple[Missing, str]] = field(default_factory=list)


def plan(found: Sequence[Missing], path: str | None = None, ubuntu: bool | None = None) -> Plan:
    """How to install ``found`` with apt on this host."""
    ubuntu = ubuntu_like() if ubuntu is None else ubuntu
    result = Plan(packages=sorted({m.need.package for m in found if m.need.package}))
    add_arches: list[str] = []
    update = bool(result.packages)
    for m in found:
        need = m.need
        if need.kind == "apt-arch":
            state = apt_arch_state(need.name, path)
            if state == "no-dpkg":
                result.manual.append((m, "this host has no dpkg: the QEMU image is built from Debian packages"))
            elif state == "disabled" and not is_native_arch(need.name, path) and ubuntu:
                result.manual.append(
                    (
                        m,
                        f"on Ubuntu the {need.name} packages are on ports.ubuntu.com, not the amd64 mirror: add a "
                        f"source for it (Architectures: {need.name}; restrict the others to amd64), then "
                        f"dpkg --add-architecture {need.name} && apt-get update",
                    )
                )
            else:
                if state == "disabled":
                    add_arches.append(need.name)
                update = True
        elif need.package is None:
            result.manual.append((m, need.source or "not from apt"))
    if add_arches or update:
        result.steps.append([*(["dpkg", "--add-architecture", a] for a in add_arches), ["apt-get", "update"]])
    if result.packages:
        result.steps.append([[*APT_INSTALL, *result.packages]])
    return result


def is_root() -> bool:
    return os.geteuid() == 0


def shell_line(argv: Sequence[str], root: bool, noninteractive: bool) -> str:
    """``argv`` as a shell line: through sudo unless ``root``; apt-get with DEBIAN_FRONTEND=noninteractive
    when ``noninteractive``."""
    prefix = [] if root else ["sudo"]
    if noninteractive and argv[0] == "apt-get":
        prefix.append("DEBIAN_FRONTEND=noninteractive")
    return shlex.join([*prefix, *argv])


def step_lines(p: Plan, root: bool, noninteractive: bool) -> list[str]:
    return [" && ".join(shell_line(c, root, noninteractive) for c in step) for step in p.steps]


def _selected(selectors: Sequence[str], folders: Sequence[Path]) -> list[TargetDefinition]:
    return [d for d, _ in select_targets(selectors, folders, Path.cwd().resolve())]


def _describe(m: Missing) -> str:
    need = m.need
    where = f"package {need.package}" if need.package else need.source or "not from apt"
    if need.kind == "apt-arch":
        where = f"dpkg --add-architecture {need.name} (if not yet) and apt-get update"
    return f"  {need.label}: {where}; {need.why}; needed by {', '.join(m.targets)}"


def _json(found: Sequence[Missing]) -> list[dict[str, Any]]:
    return [
        {
            "kind": m.need.kind,
            "name": m.need.name,
            "package": m.need.package,
            "why": m.need.why,
            "source": m.need.source,
            "targets": list(m.targets),
        }
        for m in found
    ]


def check(selectors: Sequence[str], folders: Sequence[Path], as_json: bool = False, fuzzing: bool = False) -> int:
    definitions = _selected(selectors, folders)
    names = [d.name for d in definitions]
    found = missing(definitions, fuzzing=fuzzing)
    p = plan(found)
    lines = step_lines(p, is_root(), noninteractive=False)
    if as_json:
        import json

        print(
            json.dumps(
                {
                    "targets": names,
                    "missing": _json(found),
                    "commands": lines,
                    "manual": [{"name": m.need.label, "how": how} for m, how in p.manual],
                },
                indent=2,
            )
        )
        return EXIT_FAILED if found else EXIT_OK
    if not found:
        print(f"hil host check: nothing missing for {', '.join(names)}")
        return EXIT_OK
    print(f"hil host check: missing on this host for {', '.join(names)}:")
    for m in found:
        print(_describe(m))
    if lines:
        print("install them with `hil host install`, or:")
        for line in lines:
            print(f"  {line}")
    for m, how in p.manual:
        if m.need.kind == "apt-arch":  # the others say where they come from above
            print(f"by hand: {m.need.label}: {how}")
    return EXIT_FAILED


def install(selectors: Sequence[str], folders: Sequence[Path], dry_run: bool = False, fuzzing: bool = False) -> int:
    definitions = _selected(selectors, folders)
    names = [d.name for d in definitions]
    found = missing(definitions, fuzzing=fuzzing)
    if not found:
        print(f"hil host install: nothing missing for {', '.join(names)}")
        return EXIT_OK
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        wanted = ", ".join(f"{m.need.label} ({m.need.package or m.need.source or 'not from apt'})" for m in found)
        raise HilError(
            f"host install: this host has no apt-get or no dpkg (it is not Debian or Ubuntu); install these "
            f"by hand (Debian's package names): {wanted}"
        )
    root = is_root()
    if not root and not dry_run and shutil.which("sudo") is None:
        raise HilError("host install: apt-get needs root, and there is no sudo here: run it as root")
    p = plan(found)
    for step in p.steps:
        for argv in step:
            print(("" if dry_run else "+ ") + shell_line(argv, root, noninteractive=True), flush=True)
            if dry_run:
                continue
            if root:
                command, env = list(argv), {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            else:
                apt = ["DEBIAN_FRONTEND=noninteractive"] if argv[0] == "apt-get" else []
                command, env = ["sudo", *apt, *argv], dict(os.environ)
            rc = subprocess.run(command, env=env, check=False).returncode
            if rc != 0:
                print(f"hil host install: `{shlex.join(command)}` failed (exit {rc})", file=sys.stderr)
                return EXIT_FAILED
    for m, how in p.manual:
        print(f"hil host install: by hand: {m.need.label}: {how}; needed by {', '.join(m.targets)}", file=sys.stderr)
    if dry_run:
        return EXIT_OK
    still = missing(definitions, fuzzing=fuzzing)
    if still:
        left = ", ".join(m.need.label for m in still)
        print(f"hil host install: still missing: {left} (hil host check says more)", file=sys.stderr)
        return EXIT_FAILED
    print(f"hil host install: nothing missing now for {', '.join(names)}")
    return EXIT_OK
