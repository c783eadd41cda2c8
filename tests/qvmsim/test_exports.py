"""qvm exports only the vdev API: it is built with ``-fvisibility=hidden`` and its public headers
push visibility ``default`` around their declarations, so its dynamic symbol table holds the
functions those headers declare and nothing of qvmsim's internals; a vdev's own helper named like
an internal (``now_ns``) is its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hil.targets.sdk import build_qvmsim, include_dir
from hil.targets.toolchain import build_vdev
from tests.support.needs import require_program
from tests.support.paths import TARGET_VDEVS
from tests.support.qvmsim import RunQvm

# what the linker and the C runtime put into every executable's dynamic symbol table
_RUNTIME = {
    "_IO_stdin_used",
    "__bss_start",
    "__data_start",
    "_edata",
    "_end",
    "_start",
    "data_start",
    "_init",
    "_fini",
    "__dso_handle",
    "__bss_start__",
    "__bss_end__",
    "_bss_end__",
    "__end__",
}


def documented_functions() -> set[str]:
    """Every function the public headers (include/*.h, include/qvm/*.h, include/sys/*.h) declare."""
    names: set[str] = set()
    folders = (include_dir(), include_dir() / "qvm", include_dir() / "sys")
    for header in [h for folder in folders for h in folder.glob("*.h")]:
        code = re.sub(r"/\*.*?\*/", " ", header.read_text(), flags=re.S)
        code = re.sub(r"^#.*?(?<!\\)$", "", code, flags=re.M | re.S)  # no preprocessor lines
        names.update(re.findall(r"(?<![\w.>])([A-Za-z_]\w*)\s*\(", code))
    return names - {"if", "return", "sizeof", "__attribute__", "__format__", "__noreturn__"}


def exported(exe: Path) -> set[str]:
    """The symbols ``exe`` defines in its dynamic symbol table (readelf: any architecture)."""
    out = subprocess.run(
        ["readelf", "--dyn-syms", "-W", str(exe)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    names = set()
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[0][:-1].isdigit() and cols[3] != "SECTION" and cols[6] != "UND":
            names.add(cols[7])
    return names


@pytest.mark.parametrize(
    "cc,package", [("gcc", "gcc"), ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu")], ids=["x86_64", "aarch64"]
)
def test_qvm_exports_only_the_documented_api(cc: str, package: str) -> None:
    require_program(cc, package)
    require_program("readelf", "binutils")
    exe = build_qvmsim(cc=cc)
    names = exported(exe)
    api = documented_functions()
    internal = sorted(n for n in names - api - _RUNTIME if "@" not in n)  # name@GLIBC: libc's copy relocations
    assert not internal, f"qvm ({cc}) exports names no public header declares: {internal}"
    for must in (
        "vdev_register_factory",
        "guest_terminate",
        "vdev_logf",
        "guest_timer_create",
        "wdog_bite",
        "ClockCycles",
        "MsgDeliverEvent",
    ):
        assert must in names, f"{must} is not exported by qvm ({cc})"
    assert "now_ns" not in names and "g_cfg" not in names


OWN_HELPER_VDEV = (TARGET_VDEVS / "own" / "own.c").read_text()


def test_a_vdev_helper_named_like_an_internal_is_its_own(run_qvm: RunQvm, tmp_path: Path) -> None:
    src = tmp_path / "own.c"
    src.write_text(OWN_HELPER_VDEV)
    built = build_vdev(src, out_dir=tmp_path / "so")
    run = run_qvm(f"system t\nvdev {built.path}\ndryrun\n")
    assert run.returncode == 0, run.stderr
    run.one(r"^now_ns\(\) = 7$", source="own")
