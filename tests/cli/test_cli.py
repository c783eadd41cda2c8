"""The `hil` command line, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import hil
from tests.support.keys import unreachable_board


def test_sdk_paths() -> None:
    include = hil("sdk", "include")
    assert include.returncode == 0 and (Path(include.stdout.strip()) / "qvm" / "vdev.h").is_file()
    qvm = hil("sdk", "qvm")
    assert qvm.returncode == 0
    version = subprocess.run([qvm.stdout.strip(), "-V"], capture_output=True, text=True)
    assert version.stdout.startswith("qvmsim ") and "not QNX" in version.stdout


def test_vdev_build_prints_the_so(tmp_path: Path) -> None:
    done = hil("vdev", "build", "target_vdevs/wdog", "--target", "local", "-o", str(tmp_path), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["name"] == "wdog" and Path(info["path"]) == tmp_path / "vdev-wdog.so"
    assert (tmp_path / "vdev-wdog.so").read_bytes()[:4] == b"\x7fELF"


def test_vdev_build_rebuilds_after_an_edit_to_an_included_file(tmp_path: Path) -> None:
    """``"cached": false`` once an ``#include``d ``.inc`` changed (the key covers every file the compiler read)."""
    src = tmp_path / "inc"
    src.mkdir()
    (src / "inc.c").write_text(
        '#include <qvm/vdev.h>\n#include "value.inc"\nint inc_value(void);\nint inc_value(void) { return VALUE; }\n'
    )
    (src / "value.inc").write_text("#define VALUE 1\n")

    def build() -> bool:
        done = hil("vdev", "build", str(src), "--target", "local", "-o", str(tmp_path / "out"), "--json")
        assert done.returncode == 0, done.stderr
        return bool(json.loads(done.stdout)["cached"])

    assert not build()
    assert build()
    (src / "value.inc").write_text("#define VALUE 2\n")
    assert not build()


def test_vdev_build_error_is_bad_input_with_compiler_lines(tmp_path: Path) -> None:
    src = tmp_path / "broken"
    src.mkdir()
    (src / "broken.c").write_text("#include <qvm/vdev.h>\nint f(void) { return undefined_thing; }\n")
    done = hil("vdev", "build", str(src), "--target", "local")
    assert done.returncode == 2
    assert "broken.c:2" in done.stderr and "undefined_thing" in done.stderr


def test_vdev_build_portable_refuses_qvmsim_names(tmp_path: Path) -> None:
    src = tmp_path / "own"
    src.mkdir()
    (src / "own.c").write_text(
        '#include <qvm/vdev.h>\nvoid own(void);\nvoid own(void) { vdev_logf(QL_QVM_DEBUG, NULL, "x"); }\n'
    )
    assert hil("vdev", "build", str(src), "--target", "local", "-o", str(tmp_path / "a")).returncode == 0
    done = hil("vdev", "build", str(src), "--portable", "--target", "local", "-o", str(tmp_path / "b"))
    assert done.returncode == 2
    assert "own.c:3" in done.stderr and "QL_QVM_DEBUG" in done.stderr and "-DQVMSIM_PORTABLE" in done.stderr
    ok = hil("vdev", "build", "target_vdevs/wdog", "--portable", "--target", "local", "-o", str(tmp_path / "c"))
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("target", ["local", "qemu"])
def test_qvm_run_json(tmp_path: Path, target: str) -> None:
    built = json.loads(
        hil("vdev", "build", "target_vdevs/wdog", "--target", target, "-o", str(tmp_path), "--json").stdout
    )
    done = hil(
        "qvm",
        "run",
        "--target",
        target,
        "--conf",
        "fixtures/qvmconf/wdog-terminate.qvmconf",
        "--vdev",
        built["path"],
        "--guest",
        "fixtures/guests/kick-then-starve.gs",
        "--timeout",
        "20",
        "--artifacts",
        str(tmp_path / "art"),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result)[:7] == ["exit_status", "signal", "reason", "duration_s", "log", "stdout", "console"]
    assert result["exit_status"] == 4 and result["reason"] == "WATCHDOG" and result["signal"] is None
    assert any("watchdog expired" in line["message"] for line in result["log"])
    assert "kicker stopped" in result["stdout"]


def test_qvm_run_bad_input_is_exit_2(tmp_path: Path) -> None:
    done = hil(
        "qvm",
        "run",
        "--target",
        "local",
        "--conf",
        "fixtures/qvmconf/wdog-terminate.qvmconf",
        "--vdev",
        str(tmp_path / "missing.so"),
    )
    assert done.returncode == 2 and "missing.so" in done.stderr and "hil vdev build" in done.stderr
    done = hil("qvm", "run", "--target", "nosuch", "--conf", "x.qvmconf")
    assert done.returncode == 2 and "no target matches 'nosuch'" in done.stderr


def test_unreachable_board_is_an_infrastructure_error(tmp_path: Path) -> None:
    board = unreachable_board(tmp_path)
    done = hil("qvm", "run", "--target", str(board), "--conf", "fixtures/qvmconf/trace.qvmconf")
    assert done.returncode == 3, done.stderr
    assert "infrastructure error" in done.stderr and "127.0.0.1:9" in done.stderr


def test_qvm_run_prints_the_fatal_line_that_explains_its_ending(tmp_path: Path) -> None:
    conf = tmp_path / "bad.qvmconf"
    conf.write_text("system bad\nram 0x80000000,16M\ncpu\nvdev no-such-vdev\n")
    done = hil("qvm", "run", "--target", "local", "--conf", str(conf), "--artifacts", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("qvm FATAL_CONFIG (exit status 65)")
    assert lines[1] == "reason: FATAL_CONFIG: fatal configuration error"
    assert lines[2] == "qvm's fatal and error lines (1):"
    assert " FATAL qvm: " in lines[3] and "vdev 'no-such-vdev' not found" in lines[3]
    assert lines[4].startswith("configuration refused at ") and "'vdev no-such-vdev'" in lines[4]


def test_qvm_check_lists_each_lines_fate() -> None:
    done = hil("qvm", "check", "fixtures/qvmconf/arm-guest-8.0.qvmconf", "--target", "qemu-arm64", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["target"] == "qemu-arm64"
    fates = {line["text"].split(":")[0]: line["fate"] for line in report["lines"]}
    assert fates["vdev wdt-sp805"] == fates["vdev pl011"] == "modelled"
    assert fates["vdev gic"] == fates["vdev shmem"] == fates["vdev virtio-net"] == "accepted, not modelled"
    assert fates["pass"] == fates["cmdline"] == "accepted, not modelled"


def test_qvm_check_refusal_is_bad_input_with_the_reason(tmp_path: Path) -> None:
    conf = tmp_path / "board.qvmconf"
    conf.write_text("system b\nvdev wdt-sp805\n    timeout 100\n")
    done = hil("qvm", "check", str(conf))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "board.qvmconf:3  refused" in done.stdout
    assert "unknown option 'timeout' for vdev 'wdt-sp805'" in done.stdout
