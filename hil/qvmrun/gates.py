"""Quality gates of a qvm run beyond pass/fail: the vdev's C coverage and the sanitizers.

``Gates(coverage, sanitize)`` is what a ``QvmRunner`` applies to every run:

* **coverage** (``--hil-coverage``): the vdevs are coverage builds (``hil.targets.toolchain``);
  qvm runs with ``GCOV_PREFIX=<deployment>/gcov``, so the ``.gcda`` counters it writes when it
  ends (qvmsim calls each vdev's ``qvmsim_coverage_flush`` before ``_exit``: every ending that
  reaches qvm's finish, including ``guest_terminate``, ``qvm_fatal`` and the signals qvmsim
  handles) land in the test's private folder under the absolute path of the build's ``.gcno``
  files on the host.  After the run they are fetched into ``runN.gcov/`` among the test's
  artifacts (and removed from the target); a run killed by a signal writes none and leaves
  ``runN.gcov/LOST`` saying so.  ``hil.qvmrun.coverage`` merges them into the report.
* **sanitize** (``--hil-sanitize address,undefined``): qvm is qvmsim's sanitizer build (its
  ASan runtime comes first in the initial library list, as ASan requires), built for the target's
  architecture (``aarch64-linux-gnu-gcc`` for ``qemu-arm64``); on ``qemu`` deployed with its
  runtime (``libasan``/``libubsan`` and what they need) into a folder of the session on the
  target, found through ``LD_LIBRARY_PATH``: the host's own libraries for a target of the host's
  architecture, else those of Debian's packages of the target's (``libasan8:arm64``...,
  fetched like the image's, at the versions its ``[qemu] versions`` pins).  ``prepare`` makes
  them before the target is brought up, so what this host cannot make is a set-up error then.
  Every qvm the tool starts (a test's run, the sweep's option listing) is started the one way,
  ``Gates.launch``: the same qvm, ``LD_LIBRARY_PATH`` and sanitizer environment.  A sanitizer report in qvm's log
  (ASan, LeakSanitizer at qvm's end, UBSan) is a finding: symbolised on the host where the target
  could not (``addr2line`` on the host copies), saved as ``runN.sanitizer.txt`` and failing the test.
"""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hil.core.arch import arch as arch_info
from hil.core.arch import check_elf_arch, gcc_for, is_host
from hil.core.command import shell_command
from hil.core.errors import SetupError
from hil.core.paths import cache_dir, file_lock, hash_inputs

if TYPE_CHECKING:
    from hil.targets.base import Target
    from hil.targets.definition import TargetDefinition
    from hil.targets.deploy import Deployment

#: Where qvm's coverage counters go, inside the test's private folder.
GCOV_FOLDER = "gcov"

#: The sanitizer runtime's options: reports on stderr (qvm's log), UBSan with its stack, leaks checked.
SANITIZER_ENV: dict[str, str] = {
    "ASAN_OPTIONS": "detect_leaks=1:symbolize=1:print_summary=1:handle_segv=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:print_summary=1:symbolize=1",
    "LSAN_OPTIONS": "print_suppressions=0",
}

#: Seconds LeakSanitizer's check at the end of a sanitizer qvm may take on a target whose architecture
#: QEMU emulates (aarch64 on an x86_64 host: 5-11 s measured, against 0.2 s without it), allowed on top
#: of each grace period of the runner's stop escalation (``Gates.end_allowance``).
EMULATED_LEAK_CHECK = 15.0

#: The shared libraries a sanitizer qvm needs on a target that lacks them (Debian: gcc's runtime packages).
SANITIZER_LIBS: tuple[str, ...] = ("libasan.so.8", "libubsan.so.1", "libstdc++.so.6", "libgcc_s.so.1", "libm.so.6")

#: The Debian package of each of ``SANITIZER_LIBS``: a target of another architecture than the host's
#: gets them from these packages of its architecture (``libasan8:arm64``...).
SANITIZER_PACKAGES: dict[str, str] = {
    "libasan.so.8": "libasan8",
    "libubsan.so.1": "libubsan1",
    "libstdc++.so.6": "libstdc++6",
    "libgcc_s.so.1": "libgcc-s1",
    "libm.so.6": "libc6",
}

_START_RE = re.compile(
    r"^(==\d+==ERROR: (?:AddressSanitizer|LeakSanitizer)|.*?:\d+:\d+: runtime error: )", re.MULTILINE
)
_SUMMARY_RE = re.compile(r"^SUMMARY: \w+Sanitizer: .*$", re.MULTILINE)


@dataclass(frozen=True)
class Gates:
    """The gates a runner applies: coverage counters collected, sanitizer qvm and findings."""

    coverage: bool = False
    sanitize: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.coverage or bool(self.sanitize)

    @classmethod
    def for_target(cls, target: Target, coverage: bool = False, sanitize: tuple[str, ...] = ()) -> Gates:
        """The options' gates joined with the target's own ``[toolchain] coverage/sanitize``."""
        return cls.for_definition(target.definition, coverage, sanitize)

    @classmethod
    def for_definition(
        cls, definition: TargetDefinition, coverage: bool = False, sanitize: tuple[str, ...] = ()
    ) -> Gates:
        """The options' gates joined with the definition's ``[toolchain] coverage/sanitize``."""
        tc = definition.toolchain
        return cls(tc.coverage or coverage, tuple(sorted({*tc.sanitize, *sanitize})))

    # -- starting qvm ----------------------------------------------------------------------

    def prepare(self, definition: TargetDefinition) -> None:
        """Make on the host what these gates need for a target of ``definition`` (the sanitizer qvm of
        its architecture and its runtime libraries), before it is brought up: SetupError naming what
        this host cannot make."""
        if self.sanitize:
            _sanitizer_files(definition, self.sanitize)

    def launch(self, target: Target, deployment: Deployment) -> tuple[str, str]:
        """How every qvm of these gates is started in ``deployment``'s folder: qvm's path on the target,
        and the ``NAME=value`` words put before it (``LD_LIBRARY_PATH``: the folder, then the sanitizer
        runtime's; the gates' ``environment``; the target's ``[qvm]`` settings, e.g. ``timer_hz``), ending in
        a space."""
        qvm, libdir = self.qvm_command(target, deployment)
        ldpath = shell_command([deployment.path]) + ("" if libdir is None else f":{shell_command([libdir])}")
        settings = "".join(f"{k}={shell_command([v])} " for k, v in sorted(target.definition.qvm.environment().items()))
        return qvm, (
            f"LD_LIBRARY_PATH={ldpath}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}} {self.environment(deployment)}{settings}"
        )

    def environment(self, deployment: Deployment) -> str:
        """The ``NAME=value`` words put before qvm's command."""
        words: list[str] = []
        if self.coverage:
            words += [f"GCOV_PREFIX={shell_command([deployment.path + '/' + GCOV_FOLDER])}", "GCOV_PREFIX_STRIP=0"]
        if self.sanitize:
            words += [f"{k}={v}" for k, v in SANITIZER_ENV.items()]
        return " ".join(words) + " " if words else ""

    def end_allowance(self, target: Target) -> float:
        """Seconds a qvm of these gates may need past its end on ``target``, beyond the usual grace: LeakSanitizer's
        check on a qemu target of an emulated architecture (``EMULATED_LEAK_CHECK``), else none."""
        emulated = target.runs_qvmsim_builds and not is_host(target.definition.arch)  # QEMU's TCG, no KVM
        return EMULATED_LEAK_CHECK if "address" in self.sanitize and emulated else 0.0

    def qvm_command(self, target: Target, deployment: Deployment) -> tuple[str, str | None]:
        """The qvm to run (the sanitizer build when sanitizing) and the folder of its runtime libraries
        on the target (None: the target's own)."""
        if not self.sanitize:
            return target.qvm_command(), None
        exe, libs = _sanitizer_files(target.definition, self.sanitize)
        if target.on_this_host:
            return str(exe), None
        key = hash_inputs(exe, *libs.values())
        folder = f"{target.workdir()}/hil-sanitizer-{key}"
        probe = target.run(shell_command(["test", "-x", f"{folder}/qvm"]), timeout=20)
        if probe.exit_status != 0:
            tmp = f"{folder}.tmp"
            target.run(shell_command(["mkdir", "-p", tmp]), timeout=20, check=True)
            target.put(exe, f"{tmp}/qvm", 0o755)
            for name, lib in libs.items():
                target.put(lib, f"{tmp}/{name}", 0o755)
            target.run(f"rm -rf {shell_command([folder])} && mv {shell_command([tmp, folder])}", timeout=20, check=True)
        deployment.local_copies[f"{folder}/qvm"] = exe
        for name, lib in libs.items():
            deployment.local_copies[f"{folder}/{name}"] = lib
        return f"{folder}/qvm", folder

    # -- after the run ---------------------------------------------------------------------

    def collect_coverage(self, target: Target, deployment: Deployment, into: Path, lost: str | None) -> int:
        """Fetch this run's ``.gcda`` files into ``into`` (removed from the target); ``lost`` (why
        the run wrote none, e.g. killed by SIGKILL) is noted in ``into/LOST``.  Returns the file count."""
        into.mkdir(parents=True, exist_ok=True)
        folder = f"{deployment.path}/{GCOV_FOLDER}"
        count = 0
        if target.on_this_host:
            src = Path(folder)
            if src.is_dir():
                for gcda in src.rglob("*.gcda"):
                    dest = into / gcda.relative_to(src)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(gcda), dest)
                    count += 1
                shutil.rmtree(src, ignore_errors=True)
        else:
            q = shell_command([folder])
            result = target.run(f"if [ -d {q} ]; then cd {q} && tar cf - . && cd / && rm -rf {q}; fi", timeout=60)
            if result.stdout:
                with tarfile.open(fileobj=io.BytesIO(result.stdout)) as tar:
                    for member in tar.getmembers():
                        if (
                            member.isfile()
                            and member.name.endswith(".gcda")
                            and ".." not in member.name
                            and not member.name.startswith("/")
                        ):
                            # the "data" filter exists from Python 3.11.4 (Debian 12 ships 3.11.2); the
                            # checks above (a regular file, no "..") keep the older Pythons safe too
                            if hasattr(tarfile, "data_filter"):
                                tar.extract(member, into, filter="data")
                            else:
                                tar.extract(member, into)
                            count += 1
        if lost is not None or count == 0:
            (into / "LOST").write_text((lost or "qvm wrote no coverage counters") + "\n", encoding="utf-8")
        return count


def _sanitizer_files(definition: TargetDefinition, sanitize: tuple[str, ...]) -> tuple[Path, dict[str, Path]]:
    """The sanitizer qvm for ``definition``'s architecture and, for a qemu target, its runtime libraries
    by soname (what the loader looks for), each checked to be of that architecture."""
    from hil.targets import target_class
    from hil.targets.sdk import build_qvmsim

    kind = target_class(definition)
    if not kind.runs_qvmsim_builds:
        raise SetupError(
            f"--hil-sanitize runs qvmsim's sanitizer build: target '{definition.name}' is a {definition.kind} "
            "(sanitizers are for the local and qemu targets)"
        )

    arch = arch_info(definition.arch).name
    exe = build_qvmsim(gcc_for(arch), sanitize=tuple(sorted(set(sanitize))))  # aarch64-linux-gnu-gcc for arm64
    check_elf_arch(exe, arch, "qvmsim's sanitizer build (--hil-sanitize)")
    if kind.on_this_host:
        return exe, {}
    if is_host(arch):
        libs = {name: _host_lib(name) for name in SANITIZER_LIBS}
    else:
        versions = tuple(sorted(definition.qemu.versions.items()))
        libs = {name: _debian_lib(name, arch, versions) for name in SANITIZER_LIBS}
    for name, lib in libs.items():
        check_elf_arch(lib, arch, f"--hil-sanitize: the runtime library {name} for target '{definition.name}'")
    return exe, libs


@functools.cache
def _debian_lib(name: str, arch: str, versions: tuple[tuple[str, str], ...]) -> Path:
    """Library ``name`` of ``arch`` from its Debian package (``SANITIZER_PACKAGES``) of that architecture,
    at the version ``versions`` pins (else apt's candidate, as the image's packages), unpacked in the cache."""
    from hil.vm.debs import candidate_version, fetch, unpack

    a = arch_info(arch)
    package = SANITIZER_PACKAGES[name]
    try:
        version = candidate_version(package, dict(versions).get(package), a.debian)
        deb = fetch(package, version, cache_dir("debs"), lambda _m: None, a.debian)
    except SetupError as exc:
        raise SetupError(
            f"--hil-sanitize for an {a.name} target needs Debian's {package}:{a.debian} for {name}: {exc}"
        ) from exc
    folder = cache_dir("sanitizer-libs", f"{package}_{version.replace(':', '%3a')}_{a.debian}")
    with file_lock(folder / ".lock"):  # no session sees a half-unpacked package
        if not (folder / ".unpacked").exists():
            unpack(deb, folder)
            (folder / ".unpacked").write_text(deb.name + "\n")
    for sub in (f"usr/lib/{a.triplet}", f"lib/{a.triplet}"):
        path = folder / sub / name
        if path.exists():
            return path.resolve()
    raise SetupError(f"--hil-sanitize: Debian's {package}:{a.debian} ({deb.name}) holds no {name}")


@functools.cache
def _host_lib(name: str) -> Path:
    """The host's copy of a shared library (``ldconfig``'s cache, then the usual folders)."""
    try:
        out = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=20).stdout
    except OSError:
        out = ""
    for line in out.splitlines():
        if line.strip().startswith(name + " ") and "x86-64" in line:
            return Path(line.rsplit("=>", 1)[1].strip()).resolve()
    for folder in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
        path = Path(folder, name)
        if path.exists():
            return path.resolve()
    raise SetupError(f"--hil-sanitize: {name} is not installed on this host (Debian: gcc's libasan8/libubsan1)")


def sanitizer_reports(log_text: str) -> list[str]:
    """The sanitizer reports in a qvm log, each from its first line to its ``SUMMARY:`` line."""
    reports: list[str] = []
    pos = 0
    while True:
        start = _START_RE.search(log_text, pos)
        if start is None:
            return reports
        begin = log_text.rfind("\n", 0, start.start()) + 1
        summary = _SUMMARY_RE.search(log_text, start.end())
        following = _START_RE.search(log_text, start.end())
        if summary is not None and (following is None or summary.start() < following.start()):
            end = summary.end()
        else:
            end = following.start() if following is not None else len(log_text)
        reports.append(log_text[begin:end].rstrip())
        pos = end
