"""Portable mode (``-DQVMSIM_PORTABLE``, ``hil vdev build --portable``) refuses every qvmsim-only
name, each with a message pointing at the documented way, and offers the names QNX's own pages use
(``guest_terminate(GTC_WATCHDOG)``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from hil.targets.sdk import include_dir
from hil.targets.toolchain import Toolchain, build_vdev
from tests.support.paths import TARGET_VDEVS
from tests.support.qvmsim import RunQvm

#: every public header: include/ (virtio.h, vq.h), include/qvm/, include/sys/
HEADERS = sorted(h for folder in ("", "qvm", "sys") for h in (include_dir() / folder).glob("*.h"))
_QVMSIM_NAME = re.compile(r"(?<![\w])(QVMSIM\w*|qvmsim_\w+)\b")
_HIDDEN_BLOCK = re.compile(r"^#ifndef QVMSIM_PORTABLE\n(.*?)^#(?:else|endif)", re.M | re.S)
_DEFINE = re.compile(r"^#define (\w+)", re.M)
_FUNCTION = re.compile(r"(\w+)\s*\(")


def _code(text: str) -> str:
    """``text`` without C comments."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", " ", text, flags=re.S)


def qvmsim_only_names() -> list[str]:
    """Every QVMSIM*/qvmsim_* identifier of the public headers, and every name they declare only
    outside portable mode (``#ifndef QVMSIM_PORTABLE`` blocks): macros and functions."""
    names: set[str] = set()
    for header in HEADERS:
        code = _code(header.read_text())
        names.update(_QVMSIM_NAME.findall(code))
        for block in _HIDDEN_BLOCK.findall(code):
            names.update(_DEFINE.findall(block))
            declarations = re.sub(r"^#.*$", "", block, flags=re.M)
            names.update(n for n in _FUNCTION.findall(declarations) if n not in {"const", "void"})
    names.discard("QVMSIM_PORTABLE")  # the switch itself
    return sorted(names)


def _compile(tmp_path: Path, body: str, lang: str = "c") -> subprocess.CompletedProcess[str]:
    src = tmp_path / ("probe.c" if lang == "c" else "probe.cc")
    src.write_text(
        "#include <qvm/vdev.h>\n#include <qvm/vio.h>\n#include <sys/neutrino.h>\n#include <sys/syspage.h>\n"
        f"void probe(vdev_t *vdp);\nvoid probe(vdev_t *vdp)\n{{\n(void)vdp;\n{body}\n}}\n"
    )
    compiler = ["gcc", "-std=gnu11"] if lang == "c" else ["g++", "-std=gnu++17"]
    cmd = [*compiler, "-fsyntax-only", "-Wall", "-Werror", f"-I{include_dir()}", "-DQVMSIM_PORTABLE", str(src)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_the_name_list_is_complete() -> None:
    names = qvmsim_only_names()
    # a sample from every kind: the values, the functions, the hidden QNX-looking names, the member
    for expected in (
        "QVMSIM_GTC_WATCHDOG",
        "QVMSIM_CTRL_OPTIONS_START",
        "QVMSIM_TIMER_FREQUENCY_HZ",
        "qvmsim_vdev_name",
        "qvmsim_pulse_deliver",
        "qvmsim_private",
        "GTC_POWER_CUT",
        "QL_QVM_WARN",
        "QLS_VDEV",
        "QST_CPU_DATA",
        "gasp_map",
        "QVMSIM",
    ):
        assert expected in names
    assert "GTC_WATCHDOG" not in names and "QL_QVM_ERR" not in names  # documented names stay
    assert len(names) > 80


@pytest.mark.parametrize("name", [n for n in qvmsim_only_names() if n != "QVMSIM"])
def test_each_qvmsim_only_name_is_refused_with_the_documented_way(name: str, tmp_path: Path) -> None:
    for lang in ("c", "c++"):
        out = _compile(tmp_path, f"(void){name};", lang)
        assert out.returncode != 0, f"{name} compiles with -DQVMSIM_PORTABLE ({lang})"
        first = next(line for line in out.stderr.splitlines() if "error" in line)
        assert f"{name} is qvmsim's own, refused by portable mode: " in first, out.stderr
        assert "hil/qvmsim/PORTING.md" in first, out.stderr


def test_qvmsim_is_not_defined_in_portable_mode(tmp_path: Path) -> None:
    """As on a QNX board: ``#ifdef QVMSIM`` is false, ``#ifdef __QNX__`` too (PORTING.md's pattern)."""
    out = _compile(tmp_path, "#ifdef QVMSIM\n#error QVMSIM is defined\n#endif")
    assert out.returncode == 0, out.stderr


WATCHDOG_VDEV = (TARGET_VDEVS / "bite" / "bite.c").read_text()


def test_guest_terminate_gtc_watchdog_builds_portable_and_exits_4(run_qvm: RunQvm, tmp_path: Path) -> None:
    src = tmp_path / "bite.c"
    src.write_text(WATCHDOG_VDEV)
    built = build_vdev(src, Toolchain(portable=True, werror=True), out_dir=tmp_path / "so")
    assert "-DQVMSIM_PORTABLE" in built.command
    run = run_qvm(f"system t\nvdev {built.path} loc 0x2000\n", script="write 0x2000 4 1\n")
    assert run.returncode == 4, run.stderr
    run.one(r"^guest terminated: cause=4 name=GTC_WATCHDOG ", source="qvm")
