"""Debian packages for the QEMU image: resolved in the apt index, fetched by ``apt-get download``, unpacked."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from hil.core.errors import SetupError
from hil.core.paths import file_lock

#: How to fix a package problem: the end of every package error message.
FIX_HINT = (
    "check the name and version with `apt-cache policy NAME` (run `apt-get update` if the index is stale); "
    "set `packages`, `versions` or `kernel_package` in the target definition's [qemu] section "
    "(on Ubuntu the kernel is linux-image-generic and e1000 lives in linux-modules-extra-*)"
)


def apt_env() -> dict[str, str]:
    env = dict(os.environ)
    env["LC_ALL"] = "C"
    return env


def apt_options() -> list[str]:
    # apt drops to the _apt user for downloads, which cannot write into root's cache.
    return ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []


def candidate_version(name: str, pinned: str | None) -> str:
    """The version apt would download (pinned or candidate), from the local index only."""
    if shutil.which("apt-cache") is None or shutil.which("apt-get") is None:
        raise SetupError("building the QEMU target image needs a Debian/Ubuntu host (apt-get, apt-cache, dpkg-deb)")
    proc = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, env=apt_env(), check=False)
    found = re.search(r"^\s+Candidate:\s*(\S+)", proc.stdout, re.MULTILINE)
    if pinned is not None:
        versions = re.findall(r"^\s+(?:\*\*\*\s+)?(\S+)\s+-?\d+\s*$", proc.stdout, re.MULTILINE)
        if pinned not in versions:
            known = ", ".join(versions) or "none"
            raise SetupError(
                f"Debian package '{name}' has no version '{pinned}' in the apt index (known: {known}); {FIX_HINT}"
            )
        return pinned
    if proc.returncode != 0 or not found or found.group(1) == "(none)":
        raise SetupError(f"Debian package '{name}' is not in the apt index of this host; {FIX_HINT}")
    return found.group(1)


def deb_path(debs: Path, name: str, version: str) -> Path | None:
    quoted = version.replace(":", "%3a")
    hits = sorted(debs.glob(f"{name}_{quoted}_*.deb"))
    return hits[0] if hits else None


def fetch(name: str, version: str, debs: Path, log: Callable[[str], None]) -> Path:
    """The .deb of ``name`` at ``version``: from ``debs`` or fetched with apt-get download."""
    with file_lock(debs / ".lock"):  # apt-get writes the .deb in place: no reader may see half of it
        return _fetch_locked(name, version, debs, log)


def _fetch_locked(name: str, version: str, debs: Path, log: Callable[[str], None]) -> Path:
    have = deb_path(debs, name, version)
    if have is not None:
        return have
    log(f"apt-get download {name}={version}")
    proc = subprocess.run(
        ["apt-get", *apt_options(), "download", f"{name}={version}"],
        cwd=debs,
        capture_output=True,
        text=True,
        env=apt_env(),
        check=False,
    )
    have = deb_path(debs, name, version)
    if proc.returncode != 0 or have is None:
        why = (proc.stderr.strip().splitlines() or ["no .deb appeared"])[-1]
        raise SetupError(
            f"could not download Debian package '{name}={version}' with apt-get download: {why}; {FIX_HINT}"
        )
    return have


def deb_field(deb: Path, name: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def kernel_debs(
    kernel_package: str, versions: Mapping[str, str], debs: Path, log: Callable[[str], None]
) -> list[tuple[str, str, Path]]:
    """The kernel package and, through Depends, the linux-image/modules packages it pulls in."""
    out: list[tuple[str, str, Path]] = []
    todo = [(kernel_package, versions.get(kernel_package))]
    seen: set[str] = set()
    while todo:
        name, pinned = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        version = candidate_version(name, pinned)
        deb = fetch(name, version, debs, log)
        out.append((name, version, deb))
        for clause in deb_field(deb, "Depends").split(","):
            first = clause.split("|")[0].strip()
            m = re.match(r"([a-z0-9][a-z0-9+.-]*)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?", first)
            if m and re.match(r"linux-(image|modules)", m.group(1)):
                todo.append((m.group(1), versions.get(m.group(1), m.group(2))))
    return out


def unpack(deb: Path, dest: Path) -> None:
    proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SetupError(f"dpkg-deb -x {deb} failed: {proc.stderr.strip()}; delete it and build again")
