"""Debian packages for the QEMU image: resolved in the apt index, fetched by ``apt-get download``, unpacked."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
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


@functools.cache
def native_arch() -> str:
    """dpkg's own architecture (``amd64``...), or "" without dpkg."""
    try:
        proc = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return proc.stdout.strip()


def apt_name(name: str, debian_arch: str | None) -> str:
    """``name`` as apt names it for ``debian_arch``: ``name:arm64`` for a foreign architecture."""
    if not debian_arch or debian_arch == native_arch():
        return name
    return f"{name}:{debian_arch}"


def foreign_hint(debian_arch: str | None) -> str:
    if not debian_arch or debian_arch == native_arch():
        return ""
    return (
        f" (a {debian_arch} package: enable it once with `dpkg --add-architecture {debian_arch} && apt-get update`, "
        f"as `hil host install` does on Debian)"
    )


def candidate_version(name: str, pinned: str | None, debian_arch: str | None = None) -> str:
    """The version apt would download (pinned or candidate), from the local index only;
    ``debian_arch``: of that architecture's package (multi-arch), default the host's."""
    return candidate_versions([(name, pinned)], debian_arch)[0]


def candidate_versions(wanted: Sequence[tuple[str, str | None]], debian_arch: str | None = None) -> list[str]:
    """``candidate_version`` of each ``(name, pinned)``, with one ``apt-cache policy`` for them all (apt
    rebuilds its package cache at every call on hosts that keep none, as Docker's Debian images: ~0.7 s
    of CPU a call)."""
    if shutil.which("apt-cache") is None or shutil.which("apt-get") is None:
        raise SetupError("building the QEMU target image needs a Debian/Ubuntu host (apt-get, apt-cache, dpkg-deb)")
    if not wanted:
        return []
    qualified = [apt_name(name, debian_arch) for name, _ in wanted]
    proc = subprocess.run(
        ["apt-cache", "policy", *dict.fromkeys(qualified)], capture_output=True, text=True, env=apt_env(), check=False
    )
    blocks = _policy_blocks(proc.stdout)
    return [
        _version_of(name, pinned, q, blocks.get(q, ""), debian_arch)
        for (name, pinned), q in zip(wanted, qualified, strict=True)
    ]


def _policy_blocks(text: str) -> dict[str, str]:
    """``apt-cache policy A B ...``'s output cut into each package's block, by the name it was asked as (a
    foreign one as ``name:arch``; a package apt does not know has no block)."""
    blocks: dict[str, str] = {}
    name, lines = "", list[str]()
    for line in text.splitlines():
        if line and not line[0].isspace() and line.endswith(":"):
            if name:
                blocks[name] = "\n".join(lines)
            name, lines = line[:-1], []
        else:
            lines.append(line)
    if name:
        blocks[name] = "\n".join(lines)
    return blocks


def _version_of(name: str, pinned: str | None, qualified: str, block: str, debian_arch: str | None) -> str:
    found = re.search(r"^\s+Candidate:\s*(\S+)", block, re.MULTILINE)
    if pinned is not None:
        versions = re.findall(r"^\s+(?:\*\*\*\s+)?(\S+)\s+-?\d+\s*$", block, re.MULTILINE)
        if pinned not in versions:
            known = ", ".join(versions) or "none"
            raise SetupError(
                f"Debian package '{name}' has no version '{pinned}' in the apt index (known: {known}); {FIX_HINT}"
            )
        return pinned
    if not found or found.group(1) == "(none)":
        raise SetupError(
            f"Debian package '{qualified}' is not in the apt index of this host{foreign_hint(debian_arch)}; {FIX_HINT}"
        )
    return found.group(1)


def deb_path(debs: Path, name: str, version: str, debian_arch: str | None = None) -> Path | None:
    """The cached .deb of ``name`` at ``version``: of ``debian_arch`` (or ``all``) when given, else the
    host's architecture or ``all`` (the cache holds several architectures' packages side by side)."""
    quoted = version.replace(":", "%3a")
    wanted = (debian_arch or native_arch(), "all")
    hits = sorted(p for p in debs.glob(f"{name}_{quoted}_*.deb") if p.name.rsplit("_", 1)[-1][:-4] in wanted)
    return hits[0] if hits else None


def fetch(name: str, version: str, debs: Path, log: Callable[[str], None], debian_arch: str | None = None) -> Path:
    """The .deb of ``name`` at ``version`` (of ``debian_arch``, default the host's): from ``debs`` or
    fetched with apt-get download."""
    with file_lock(debs / ".lock"):  # apt-get writes the .deb in place: no reader may see half of it
        return _fetch_locked(name, version, debs, log, debian_arch)


def _fetch_locked(name: str, version: str, debs: Path, log: Callable[[str], None], debian_arch: str | None) -> Path:
    have = deb_path(debs, name, version, debian_arch)
    if have is not None:
        return have
    qualified = apt_name(name, debian_arch)
    log(f"apt-get download {qualified}={version}")
    proc = subprocess.run(
        ["apt-get", *apt_options(), "download", f"{qualified}={version}"],
        cwd=debs,
        capture_output=True,
        text=True,
        env=apt_env(),
        check=False,
    )
    have = deb_path(debs, name, version, debian_arch)
    if proc.returncode != 0 or have is None:
        why = (proc.stderr.strip().splitlines() or ["no .deb appeared"])[-1]
        raise SetupError(
            f"could not download Debian package '{qualified}={version}' with apt-get download: {why}"
            f"{foreign_hint(debian_arch)}; {FIX_HINT}"
        )
    return have


def deb_field(deb: Path, name: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", str(deb), name], capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def kernel_debs(
    kernel_package: str,
    versions: Mapping[str, str],
    debs: Path,
    log: Callable[[str], None],
    debian_arch: str | None = None,
) -> list[tuple[str, str, Path]]:
    """The kernel package and, through Depends, the linux-image/modules packages it pulls in
    (of ``debian_arch``, default the host's)."""
    out: list[tuple[str, str, Path]] = []
    todo = [(kernel_package, versions.get(kernel_package))]
    seen: set[str] = set()
    while todo:
        name, pinned = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        # a pinned version already in the cache (the Depends of the kernel's meta package) needs no apt-cache
        if pinned is not None and (cached := deb_path(debs, name, pinned, debian_arch)) is not None:
            version, deb = pinned, cached
        else:
            version = candidate_version(name, pinned, debian_arch)
            deb = fetch(name, version, debs, log, debian_arch)
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
