"""Building vdev shared objects (``vdev-NAME.so``) for a target.

Two toolchains: the host ``gcc`` against qvmsim's headers (``hil.targets.sdk``), and
QNX's ``qcc -V<variant>`` against the real QNX headers of ``QNX_TARGET``.
Builds are cached by the hash of the sources, the flags, the compiler's
identity and the content of every file the compiler read for them (its own
dependency output, ``-M``: included ``.h``/``.inc``/``.c`` files in any folder,
qvmsim's or QNX's headers), under ``cache_dir("vdevs", <hash>)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hil.core.arch import arch as arch_info
from hil.core.arch import check_elf_arch, gcc_for
from hil.core.errors import SetupError
from hil.core.paths import cache_dir, file_lock, hash_inputs
from hil.targets.definition import TargetDefinition
from hil.targets.sdk import QVMSIM_DIR, SANITIZE_FLAGS, SANITIZERS, compiler_identity, include_dir

_NAME_RE = re.compile(r"^[A-Za-z0-9_.+-]+$")
GCC_FLAGS: tuple[str, ...] = ("-std=gnu11", "-Wall", "-Wextra", "-O2", "-g", "-fPIC", "-shared")
PORTABLE_DEFINE = "-DQVMSIM_PORTABLE"
"""Makes qvmsim's headers show only the names QNX documents (portable mode)."""
QCC_FLAGS: tuple[str, ...] = ("-shared", "-fPIC", "-std=gnu11", "-Wall", "-Wextra", "-O2", "-g")
"""``-g``: the debug info a crash backtrace is symbolised with (``hil.qvm.crash``)."""
COVERAGE_FLAGS: tuple[str, ...] = ("-O0", "--coverage", "-fprofile-update=atomic")
"""A coverage build (``--hil-coverage``): gcc's arc counters, thread-safe, unoptimised (exact lines)."""
COVERAGE_FLUSH_SOURCE = QVMSIM_DIR / "tools" / "coverage_flush.c"
"""Compiled into every coverage build: the visible ``qvmsim_coverage_flush()`` qvmsim calls before
``_exit`` (libgcov's own ``__gcov_dump`` is hidden inside the .so)."""
COVERAGE_DIR = "cov"
_COVDIR_MARK = "@COVDIR@"
"""The folder, beside the cached .so, of a coverage build's ``.gcno`` files; the ``.gcda`` files
its runs write have the same absolute path (under ``GCOV_PREFIX`` on the target)."""


@dataclass(frozen=True)
class Toolchain:
    """How to compile a vdev.

    ``kind`` "gcc" builds for qvmsim on a glibc host (adds ``-I`` qvmsim's
    headers); "qcc" builds for QNX with ``qcc -V<variant>`` (e.g.
    "gcc_ntoaarch64le", "gcc_ntox86_64"), QNX_HOST/QNX_TARGET in its
    environment, headers from QNX_TARGET.  ``cflags`` are added last.
    ``werror`` makes every warning a build error (``-Werror``).  ``portable`` builds with only the
    names QNX documents for 8.0 (qvmsim's headers with ``-DQVMSIM_PORTABLE``),
    so a vdev that builds there uses nothing a real board lacks; with qcc the
    headers are QNX's own and the flag changes nothing.
    """

    kind: Literal["gcc", "qcc"] = "gcc"
    cc: str = "gcc"
    variant: str | None = None
    qnx_host: str | None = None
    qnx_target: str | None = None
    cflags: tuple[str, ...] = ()
    portable: bool = False
    werror: bool = False
    arch: str = "x86_64"
    """The CPU architecture the vdev is built for (``hil.core.arch``): part of the cache key, and the
    built ``.so`` is checked to be of it; the target definition's ``arch``."""
    coverage: bool = False
    sanitize: tuple[str, ...] = ()

    @classmethod
    def from_definition(cls, definition: TargetDefinition) -> Toolchain:
        """The toolchain of a target definition's ``[toolchain]`` table (no target needed)."""
        tc = definition.toolchain
        return cls(
            kind=tc.kind,
            cc=tc.cc or ("qcc" if tc.kind == "qcc" else gcc_for(definition.arch)),  # aarch64-linux-gnu-gcc
            variant=tc.variant,
            qnx_host=tc.qnx_host,
            qnx_target=tc.qnx_target,
            cflags=tc.cflags,
            portable=tc.portable,
            werror=tc.werror,
            arch=arch_info(definition.arch).name,
            coverage=tc.coverage,
            sanitize=tuple(tc.sanitize),
        )

    def with_portable(self) -> Toolchain:
        """The same toolchain in portable mode."""
        return dataclasses.replace(self, portable=True)

    def with_werror(self) -> Toolchain:
        """The same toolchain with warnings as errors."""
        return dataclasses.replace(self, werror=True)

    def with_gates(self, coverage: bool = False, sanitize: Sequence[str] = ()) -> Toolchain:
        """The same toolchain with the quality gates: gcc's coverage counters, ASan/UBSan (gcc only)."""
        return dataclasses.replace(
            self,
            coverage=self.coverage or coverage,
            sanitize=tuple(sorted({*self.sanitize, *sanitize})),
        )


@dataclass(frozen=True)
class BuiltVdev:
    """A built vdev: its name, the .so, what it was built from, whether it came from the cache, and the command."""

    name: str
    path: Path
    sources: tuple[Path, ...]
    cached: bool
    command: tuple[str, ...]
    warnings: str = ""
    """The compiler's warnings (also kept for a cached build); empty when it had none."""


class VdevBuildError(SetupError):
    """A vdev did not compile; the message holds the compiler's own file:line output and the command."""


def _as_paths(sources: Path | str | Sequence[Path | str]) -> list[Path]:
    if isinstance(sources, (str, Path)):
        return [Path(sources)]
    return [Path(s) for s in sources]


def _expand_sources(sources: Path | str | Sequence[Path | str]) -> tuple[list[Path], Path | None]:
    """The C files to compile, and the folder if a folder was given."""
    paths = _as_paths(sources)
    if not paths:
        raise VdevBuildError("no vdev sources given: pass a folder or .c files")
    folder: Path | None = None
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.c"))
            if not found:
                raise VdevBuildError(f"vdev folder '{p}' holds no .c file")
            if len(paths) == 1:
                folder = p
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise VdevBuildError(f"vdev source '{p}' does not exist")
    return [f.resolve() for f in files], folder


def vdev_name(sources: Path | str | Sequence[Path | str], name: str | None = None) -> str:
    """The vdev's name: ``name`` if given, else the folder's name, else the first C file's stem minus "vdev-"."""
    if name is None:
        files, folder = _expand_sources(sources)
        if folder is not None:
            name = folder.resolve().name
        else:
            stem = files[0].stem
            name = stem[len("vdev-") :] if stem.startswith("vdev-") and len(stem) > 5 else stem
    if not _NAME_RE.match(name):
        raise VdevBuildError(
            f"bad vdev name '{name}': use letters, digits and _ . + - only (it becomes vdev-{name}.so)"
        )
    return name


def _qnx_env(tc: Toolchain) -> dict[str, str]:
    env: dict[str, str] = {}
    host = tc.qnx_host or os.environ.get("QNX_HOST")
    target = tc.qnx_target or os.environ.get("QNX_TARGET")
    if not host or not target:
        raise VdevBuildError(
            "a qcc build needs QNX_HOST and QNX_TARGET: set them in the toolchain "
            "(qnx_host=, qnx_target=) or source the SDP's qnxsdp-env.sh"
        )
    env["QNX_HOST"] = host
    env["QNX_TARGET"] = target
    host_bin = Path(host, "usr", "bin")
    path = os.environ.get("PATH", "")
    env["PATH"] = f"{host_bin}{os.pathsep}{path}" if host_bin.is_dir() else path
    return env


def _command(tc: Toolchain, files: Sequence[Path], output: Path) -> list[str]:
    if tc.kind == "gcc":
        portable = [PORTABLE_DEFINE] if tc.portable else []
        werror = ["-Werror"] if tc.werror else []
        bad = sorted(set(tc.sanitize) - set(SANITIZERS))
        if bad:
            raise VdevBuildError(f"unknown sanitizer(s) {', '.join(bad)}: use {' or '.join(SANITIZERS)}")
        gates = [*SANITIZE_FLAGS, f"-fsanitize={','.join(tc.sanitize)}"] if tc.sanitize else []
        if tc.coverage:
            gates += [*COVERAGE_FLAGS, "-dumpdir", _COVDIR_MARK]
            files = [*files, COVERAGE_FLUSH_SOURCE]
        return [
            tc.cc,
            *GCC_FLAGS,
            f"-I{include_dir()}",
            *portable,
            *tc.cflags,
            *gates,
            *werror,
            "-o",
            str(output),
            *map(str, files),
        ]
    if tc.kind == "qcc":
        if not tc.variant:
            raise VdevBuildError(
                "a qcc build needs a variant, e.g. Toolchain(kind='qcc', cc='qcc', variant='gcc_ntoaarch64le')"
            )
        werror = ["-Werror"] if tc.werror else []
        if tc.coverage or tc.sanitize:
            raise VdevBuildError(
                "coverage and sanitizer builds are for qvmsim targets (gcc toolchain: local, qemu); "
                "a qcc target builds without them"
            )
        return [tc.cc, f"-V{tc.variant}", *QCC_FLAGS, *tc.cflags, *werror, "-o", str(output), *map(str, files)]
    raise VdevBuildError(f"unknown toolchain kind '{tc.kind}': use 'gcc' or 'qcc'")


def _dependency_command(tc: Toolchain, source: Path, depfile: Path) -> list[str]:
    """The preprocessor-only run that lists every file compiling ``source`` reads (``-M -MF``), with the
    flags of the build that change what is read (include folders, defines, the variant)."""
    if tc.kind == "qcc":
        return [
            tc.cc,
            f"-V{tc.variant}",
            *QCC_FLAGS,
            *tc.cflags,
            "-M",
            "-MF",
            str(depfile),
            "-o",
            os.devnull,
            str(source),
        ]
    portable = [PORTABLE_DEFINE] if tc.portable else []
    gates = [*SANITIZE_FLAGS, f"-fsanitize={','.join(tc.sanitize)}"] if tc.sanitize else []
    if tc.coverage:
        gates += ["--coverage"]
    return [
        tc.cc,
        "-std=gnu11",
        f"-I{include_dir()}",
        *portable,
        *tc.cflags,
        *gates,
        "-M",
        "-MF",
        str(depfile),
        str(source),
    ]


def parse_depfile(text: str, cwd: Path) -> list[Path]:
    """The prerequisites of a make rule as the compiler writes it (``-M``): ``target: dep dep \\``
    over continued lines, ``\\ `` an escaped space, ``$$`` a dollar; relative paths are from ``cwd``."""
    joined = text.replace("\\\n", " ")
    deps: list[Path] = []
    for rule in joined.splitlines():
        _target, sep, rest = rule.partition(": ")
        if not sep:
            continue
        for word in re.findall(r"(?:\\ |[^\s])+", rest):
            path = Path(word.replace("\\ ", " ").replace("$$", "$"))
            deps.append(path if path.is_absolute() else cwd / path)
    return deps


def _scan_dependencies(
    tc: Toolchain, files: Sequence[Path], env_extra: dict[str, str], cwd: Path, vname: str
) -> list[Path] | None:
    """Every file the compiler reads for ``files`` (its own dependency output), sorted, once each;
    None when the preprocessor fails (a missing header...)."""
    found: set[Path] = set()
    env = dict(os.environ)
    env.update(env_extra)
    with tempfile.TemporaryDirectory(prefix=f"hil-deps-{vname}-") as tmp:
        for n, source in enumerate(files):
            depfile = Path(tmp, f"{n}.d")
            cmd = _dependency_command(tc, source, depfile)
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=str(cwd))
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise VdevBuildError(f"vdev '{vname}': cannot run '{tc.cc}': {exc}\ncommand: {' '.join(cmd)}") from exc
            if proc.returncode != 0 or not depfile.is_file():
                return None
            found.update(p.resolve() for p in parse_depfile(depfile.read_text(errors="replace"), cwd))
    return sorted(found)


def _manifest(base_key: str) -> Path:
    """Where the files the last build of ``base_key`` read are listed (JSON)."""
    return cache_dir("vdev-deps") / f"{base_key}.json"


def _dependency_hash(base_key: str, deps: Sequence[Path]) -> str:
    items: list[str | Path] = [base_key]
    for dep in deps:
        items += [str(dep), dep if dep.is_file() else "(missing)"]
    return hash_inputs(*items)


def _key_with_dependencies(base_key: str, deps: Sequence[Path]) -> str:
    """The cache key of a build: its sources, flags and compiler (``base_key``) and the content of every
    file the compiler read (a missing one counts as missing); remembered as ``base_key``'s manifest."""
    key = _dependency_hash(base_key, deps)
    manifest = _manifest(base_key)
    tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}")
    tmp.write_text(json.dumps([str(d) for d in deps]))
    os.replace(tmp, manifest)
    return key


def _cached_key(base_key: str, vname: str) -> str | None:
    """The key of a cached build of ``base_key`` whose every dependency is unchanged, else None."""
    try:
        deps = [Path(p) for p in json.loads(_manifest(base_key).read_text())]
    except (OSError, ValueError):
        return None
    key = _dependency_hash(base_key, deps)
    return key if (cache_dir("vdevs", key) / f"vdev-{vname}.so").exists() else None


def build_vdev(
    sources: Path | str | Sequence[Path | str],
    toolchain: Toolchain = Toolchain(),
    name: str | None = None,
    out_dir: Path | None = None,
) -> BuiltVdev:
    """Compile ``sources`` (a vdev folder, or C files) into ``vdev-NAME.so``.

    The result is cached under ``cache_dir("vdevs", <hash>)``; with ``out_dir``
    it is copied there too and ``path`` points at the copy.  Compiler warnings
    are shown on stderr and kept in ``warnings`` (fatal with ``werror``); a
    failed compile raises VdevBuildError with the compiler's output.
    """
    files, folder = _expand_sources(sources)
    vname = vdev_name(sources, name)
    env_extra = _qnx_env(toolchain) if toolchain.kind == "qcc" else {}
    env_items = tuple(sorted(env_extra.items()))
    placeholder = Path("@OUT@")
    template = _command(toolchain, files, placeholder)
    try:
        identity = compiler_identity(toolchain.cc, env_items)
    except SetupError as exc:
        raise VdevBuildError(str(exc)) from exc
    base_key = hash_inputs(
        toolchain.kind,
        toolchain.arch,
        identity,
        "\0".join(template),
        repr(env_items),
        vname,
        *[item for f in files for item in (str(f), f)],
    )
    cwd = folder or files[0].parent
    key = _cached_key(base_key, vname)
    if key is None:
        deps = _scan_dependencies(toolchain, files, env_extra, cwd, vname)
        # a source the preprocessor refuses: the build below shows the compiler's own message, from a
        # folder of its own that is never looked up again
        key = _key_with_dependencies(base_key, deps) if deps is not None else f"unscanned-{os.urandom(8).hex()}"
    target_dir = cache_dir("vdevs", key)
    so = target_dir / f"vdev-{vname}.so"
    covdir = f"{target_dir / COVERAGE_DIR}/"
    template = [covdir if a == _COVDIR_MARK else a for a in template]
    command = tuple(str(so) if a == str(placeholder) else a for a in template)
    with file_lock(target_dir / ".lock") if toolchain.coverage else contextlib.nullcontext():
        # a coverage build's .gcno files are not written atomically: one build at a time
        return _build_locked(toolchain, files, folder, vname, env_extra, template, placeholder, so, command, out_dir)


def _build_locked(
    toolchain: Toolchain,
    files: list[Path],
    folder: Path | None,
    vname: str,
    env_extra: dict[str, str],
    template: list[str],
    placeholder: Path,
    so: Path,
    command: tuple[str, ...],
    out_dir: Path | None,
) -> BuiltVdev:
    target_dir = so.parent
    cached = so.exists()
    if toolchain.coverage:
        (target_dir / COVERAGE_DIR).mkdir(exist_ok=True)
    warnings_log = target_dir / f"vdev-{vname}.log"
    if not cached:
        fd, tmp_name = tempfile.mkstemp(prefix=f".vdev-{vname}-", suffix=".so", dir=target_dir)
        os.close(fd)
        tmp = Path(tmp_name)
        run_cmd = [str(tmp) if a == str(placeholder) else a for a in template]
        env = dict(os.environ)
        env.update(env_extra)
        try:
            proc = subprocess.run(
                run_cmd, env=env, capture_output=True, text=True, timeout=300, cwd=str(folder or files[0].parent)
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            tmp.unlink(missing_ok=True)
            raise VdevBuildError(
                f"vdev '{vname}': cannot run '{toolchain.cc}': {exc}\ncommand: {' '.join(command)}"
            ) from exc
        output = proc.stderr + proc.stdout
        if proc.returncode != 0 or tmp.stat().st_size == 0:
            tmp.unlink(missing_ok=True)
            raise VdevBuildError(
                f"vdev '{vname}' failed to compile (exit {proc.returncode}):\n{output}command: {' '.join(command)}"
            )
        if output.strip():
            sys.stderr.write(f"vdev '{vname}': compiler warnings:\n{output}")
            warnings_log.write_text(output)
        if toolchain.coverage:  # which vdev these .gcno are of, for the coverage report (hil.qvmrun.coverage)
            (target_dir / COVERAGE_DIR / "vdev.json").write_text(
                json.dumps({"name": vname, "sources": [str(f) for f in files]})
            )
        os.replace(tmp, so)
    if toolchain.kind == "gcc":  # a qcc board's arch follows its variant, which its definition may not repeat
        check_elf_arch(so, toolchain.arch, f"vdev '{vname}' built with '{toolchain.cc}'")
    path = so
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / so.name
        if not path.exists() or path.read_bytes() != so.read_bytes():
            tmp_copy = out_dir / f".{so.name}.{os.getpid()}"
            shutil.copy2(so, tmp_copy)
            os.replace(tmp_copy, path)
    warnings = warnings_log.read_text(errors="replace") if warnings_log.is_file() else ""
    return BuiltVdev(name=vname, path=path, sources=tuple(files), cached=cached, command=command, warnings=warnings)
