"""What a target needs on the host running the tests: programs, files, apt architectures, and their Debian packages.

The one table of it, shipped in the package (``hil host check`` and ``hil host install``
read it; this repository's ``scripts/install-host-deps`` lists at least the same
packages, a unit test keeps the two together).  What a definition needs is derived
from the definition itself (its kind, arch, ``[qemu] qemu``, ``[toolchain]``), never
from its name:

* every target: the vdev compiler of its ``[toolchain]`` (``gcc`` with ``libc6-dev`` on this
  host's architecture, Debian's cross gcc and cross libc headers for another one, ``qcc``
  from the QNX SDP, never from apt) and ``addr2line`` (``binutils``: crash and sanitizer
  frames are named on the host);
* ``local``: this host's ``gcc`` (qvmsim is built and run here); when fuzzing is asked for
  (``hil host check|install --fuzz``), also ``clang`` and its libFuzzer runtime (``hil vdev fuzz``
  runs here): a team that does not fuzz is not made to install clang;
* ``qemu``: its QEMU binary (``qemu-system-x86_64`` from ``qemu-system-x86``,
  ``qemu-system-aarch64`` from ``qemu-system-arm``); with the public image (no ``image`` or
  ``kernel`` of the user's) also the gcc that builds qvmsim for its arch, apt's tools and
  the package index of its Debian architecture (``arm64`` on an amd64 host:
  ``dpkg --add-architecture arm64`` then ``apt-get update``);
* ``board`` and ``labgrid``: nothing beyond the compiler.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hil.core.arch import ARCHES, Arch, host_arch
from hil.core.arch import arch as arch_info
from hil.targets.definition import TargetDefinition
from hil.targets.toolchain import Toolchain

NeedKind = Literal["program", "file", "apt-arch", "python-module"]

#: Where what a definition names but apt does not provide comes from (``HostNeed.source``).
QNX_SDP = "from the QNX SDP, never apt: set [toolchain] qnx_host (or QNX_HOST) to its host folder"


@dataclass(frozen=True)
class HostNeed:
    """One thing a target needs on the host.

    ``kind`` ``program``: ``name`` is a command found on PATH (or a path); ``file``: ``name`` is a
    file that must exist; ``python-module``: ``name`` is a module this Python must import (a pip
    extra of qnx-hil, named by ``source``); ``apt-arch``: ``name`` is a Debian architecture whose packages apt must
    know (enabled in dpkg, its package index downloaded).  ``package``: the Debian package that
    provides it, None when apt does not (``source`` then says where it comes from).
    """

    kind: NeedKind
    name: str
    package: str | None
    why: str
    source: str = ""
    extra_path: tuple[str, ...] = ()  # folders searched before PATH (qcc: the SDP's host bin)

    @property
    def label(self) -> str:
        """How a person reads it: the program's name, the file's path, ``arm64 packages in apt``."""
        return f"{self.name} packages in apt" if self.kind == "apt-arch" else self.name


#: The QEMU system emulators by command name -> the Debian package that has them.
QEMU_PACKAGES: dict[str, str] = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-system-i386": "qemu-system-x86",
    "qemu-system-aarch64": "qemu-system-arm",
    "qemu-system-arm": "qemu-system-arm",
}

#: The native C toolchain: the compiler and the C library headers and crt files (gcc only recommends them).
NATIVE_GCC_PACKAGE = "gcc"
NATIVE_LIBC = ("/usr/include/stdio.h", "libc6-dev")

#: Debian's cross toolchain for each architecture (when it is not the host's): ``<triplet>-gcc``'s
#: package, and the package of the cross C library headers (``/usr/<triplet>/include/stdio.h``).
CROSS_PACKAGES: dict[str, tuple[str, str]] = {
    "aarch64": ("gcc-aarch64-linux-gnu", "libc6-dev-arm64-cross"),
    "x86_64": ("gcc-x86-64-linux-gnu", "libc6-dev-amd64-cross"),
}

#: Every target: vdev crashes and sanitizer reports are symbolised with addr2line on the host.
ADDR2LINE = HostNeed("program", "addr2line", "binutils", "names crash and sanitizer frames (every target)")

#: ``hil vdev fuzz`` (local): clang and its libFuzzer runtime (``libclang_rt.fuzzer-<arch>.a``, in
#: ``libclang-rt-N-dev``, which clang only recommends; ``libclang-rt-dev`` is the default version's).
CLANG = HostNeed("program", "clang", "clang", "builds the vdev fuzzer (hil vdev fuzz) on this host")
LIBFUZZER_PACKAGE = "libclang-rt-dev"


def libfuzzer_need(host: Arch) -> HostNeed:
    """libFuzzer's runtime for clang on this host: the file found, else the pattern it is looked for by."""
    pattern = f"/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-{host.name}.a"
    found = sorted(glob.glob(pattern))
    return HostNeed("file", found[-1] if found else pattern, LIBFUZZER_PACKAGE, "libFuzzer (hil vdev fuzz)")


#: The public QEMU image is built from Debian packages: apt-cache policy, apt-get download, dpkg-deb -x.
APT_TOOLS = (
    HostNeed("program", "apt-get", "apt", "downloads the QEMU image's Debian packages"),
    HostNeed("program", "apt-cache", "apt", "resolves the QEMU image's Debian packages"),
    HostNeed("program", "dpkg-deb", "dpkg", "unpacks the QEMU image's Debian packages"),
)


def compiler_needs(cc: str, why: str, host: Arch) -> list[HostNeed]:
    """What running ``cc`` (a gcc) needs: the compiler's package and its C library headers."""
    if cc in ("gcc", f"{host.triplet}-gcc"):
        header, libc = NATIVE_LIBC
        return [
            HostNeed("program", cc, NATIVE_GCC_PACKAGE, why),
            HostNeed("file", header, libc, f"C headers for {cc}"),
        ]
    for a in ARCHES.values():
        if a != host and cc == f"{a.triplet}-gcc" and a.name in CROSS_PACKAGES:
            gcc, libc = CROSS_PACKAGES[a.name]
            return [
                HostNeed("program", cc, gcc, why),
                HostNeed("file", f"/usr/{a.triplet}/include/stdio.h", libc, f"{a.name} C headers for {cc}"),
            ]
    return [HostNeed("program", cc, None, why, source="named by the definition's [toolchain] cc")]


def python_needs(definition: TargetDefinition) -> list[HostNeed]:
    """The Python modules (qnx-hil's pip extras) ``definition``'s kind needs in qnx-hil's own Python."""
    if definition.kind == "labgrid":
        return [
            HostNeed(
                "python-module", "labgrid", None, "the labgrid target kind's client",
                "pip install 'qnx-hil[labgrid]' in the environment that runs qnx-hil",
            )
        ]  # fmt: skip
    return []


def missing_python_modules(definitions: Iterable[TargetDefinition]) -> list[Missing]:
    """What ``python_needs`` names for ``definitions`` and this Python cannot import (no process started)."""
    by_name: dict[str, tuple[HostNeed, list[str]]] = {}
    for definition in definitions:
        for need in python_needs(definition):
            by_name.setdefault(need.name, (need, []))[1].append(definition.name)
    return [Missing(need, tuple(names)) for need, names in by_name.values() if not satisfied(need)]


def requirements(definition: TargetDefinition, host: Arch | None = None, fuzzing: bool = False) -> list[HostNeed]:
    """What ``definition`` needs on a host of architecture ``host`` (default: this one), each once;
    with ``fuzzing``, also what ``hil vdev fuzz`` needs for it."""
    host = host or host_arch()
    toolchain = Toolchain.from_definition(definition)
    needs: list[HostNeed] = []
    if toolchain.kind == "qcc":
        qnx_host = toolchain.qnx_host or os.environ.get("QNX_HOST")
        extra = (str(Path(qnx_host, "usr", "bin")),) if qnx_host else ()
        needs.append(HostNeed("program", toolchain.cc, None, "builds vdevs (qcc)", QNX_SDP, extra))
    else:
        needs += compiler_needs(toolchain.cc, "builds vdevs", host)
    needs.append(ADDR2LINE)
    if definition.kind == "local":
        needs += compiler_needs("gcc", "builds qvmsim, which runs on this host", host)
        if fuzzing:
            needs += [CLANG, libfuzzer_need(host)]
    elif definition.kind == "qemu":
        q = definition.qemu
        if "/" in q.qemu:
            needs.append(HostNeed("program", q.qemu, None, "runs the VM", "the path [qemu] qemu names"))
        else:
            why = "runs the VM"
            package = QEMU_PACKAGES.get(q.qemu)
            needs.append(HostNeed("program", q.qemu, package, why, "" if package else "named by [qemu] qemu"))
        if not q.user_image:
            a = arch_info(definition.arch)
            cc = "gcc" if a == host else f"{a.triplet}-gcc"
            needs += compiler_needs(cc, f"builds qvmsim for the {a.name} image", host)
            needs += APT_TOOLS
            needs.append(HostNeed("apt-arch", a.debian, None, f"the {a.name} image's Debian packages"))
    needs += python_needs(definition)
    unique: dict[tuple[str, str], HostNeed] = {}
    for need in needs:
        unique.setdefault((need.kind, need.name), need)
    return list(unique.values())


def packages_named(host: Arch) -> set[str]:
    """Every Debian package this table can name on a host of architecture ``host``."""
    names = {NATIVE_GCC_PACKAGE, NATIVE_LIBC[1], *QEMU_PACKAGES.values()}
    names |= {n.package for n in (ADDR2LINE, CLANG, *APT_TOOLS) if n.package} | {LIBFUZZER_PACKAGE}
    for a in ARCHES.values():
        if a != host and a.name in CROSS_PACKAGES:
            names |= set(CROSS_PACKAGES[a.name])
    return names


# -- checking ---------------------------------------------------------------------------------


def _dpkg(args: Sequence[str], path: str | None) -> list[str] | None:
    """``dpkg ARGS``'s output lines, or None when there is no dpkg."""
    dpkg = shutil.which("dpkg", path=path)
    if dpkg is None:
        return None
    try:
        proc = subprocess.run([dpkg, *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.split()


def apt_arch_state(debian_arch: str, path: str | None = None) -> Literal["ok", "disabled", "no-index", "no-dpkg"]:
    """Whether apt knows ``debian_arch``'s packages: enabled in dpkg (the native one or a foreign one
    of ``dpkg --print-foreign-architectures``) and its package index downloaded (``apt-get update``)."""
    native = _dpkg(["--print-architecture"], path)
    if native is None:
        return "no-dpkg"
    if debian_arch not in native and debian_arch not in (_dpkg(["--print-foreign-architectures"], path) or []):
        return "disabled"
    if not glob.glob(f"/var/lib/apt/lists/*_binary-{debian_arch}_Packages*"):
        return "no-index"
    return "ok"


def is_native_arch(debian_arch: str, path: str | None = None) -> bool:
    return debian_arch in (_dpkg(["--print-architecture"], path) or [])


def satisfied(need: HostNeed, path: str | None = None) -> bool:
    """True when ``need`` is met on this host; ``path``: the PATH to search (default: this process's)."""
    if need.kind == "file":
        return Path(need.name).is_file()
    if need.kind == "apt-arch":
        return apt_arch_state(need.name, path) == "ok"
    if need.kind == "python-module":
        import importlib.util

        return importlib.util.find_spec(need.name) is not None
    search = os.pathsep.join([*need.extra_path, path if path is not None else os.environ.get("PATH", "")])
    return shutil.which(need.name, path=search) is not None


@dataclass(frozen=True)
class Missing:
    """A need that is not met, and the targets that have it (in selection order)."""

    need: HostNeed
    targets: tuple[str, ...]


def missing(definitions: Iterable[TargetDefinition], path: str | None = None, fuzzing: bool = False) -> list[Missing]:
    """What the ``definitions`` need (with ``fuzzing``: also for ``hil vdev fuzz``) and this host lacks,
    each once with every target needing it."""
    by_key: dict[tuple[str, str], tuple[HostNeed, list[str]]] = {}
    for definition in definitions:
        for need in requirements(definition, fuzzing=fuzzing):
            entry = by_key.setdefault((need.kind, need.name), (need, []))
            if definition.name not in entry[1]:
                entry[1].append(definition.name)
    return [Missing(need, tuple(names)) for need, names in by_key.values() if not satisfied(need, path)]
