"""How the plugin classifies outcomes: a compile error is an error of the test, a vdev misbehaving a failure."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.support.inner import run_inner_pytest

TESTS = """
from hil.qvm import Exit, QvmConfig

def test_compile_error(hil_vdev):
    hil_vdev("{broken}")

def test_vdev_misbehaves(hil_qvm, hil_vdev):
    trace = hil_vdev("target_vdevs/trace")
    run = hil_qvm.run(QvmConfig("vm").vdev(trace, loc=0x1c100000, fail_config="yes"), timeout=20)
    run.assert_reason(Exit.NORMAL)   # it is not: a fatal configuration error
"""


def test_compile_error_is_an_error_and_misbehaviour_a_failure(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "broken.c").write_text("#include <qvm/vdev.h>\nint broken(void) { return nope; }\n")
    (tmp_path / "test_outcomes.py").write_text(TESTS.format(broken=broken))
    junit = tmp_path / "junit.xml"
    done = run_inner_pytest(tmp_path / "test_outcomes.py", "--hil-junit", str(junit), artifacts=tmp_path / "a")
    assert "1 failed, 1 error" in done.stdout, done.stdout[-3000:]
    assert "broken.c:2:" in done.stdout and "SETUP ERROR" in done.stdout
    assert "FATAL_CONFIG" in done.stdout and "config failed" in done.stdout  # the failure shows the log
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert cases["test_compile_error"].find("error") is not None
    assert cases["test_vdev_misbehaves"].find("failure") is not None


PORTABLE_TESTS = """
def test_qvmsim_only_name(hil_vdev):
    hil_vdev("{own}")
"""


def _inner(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_inner_pytest(tmp_path / "test_own.py", *args, artifacts=tmp_path / "a")


def test_hil_portable_makes_qvmsim_names_a_setup_error(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / "own.c").write_text(
        '#include <qvm/vdev.h>\nvoid own(void);\nvoid own(void) { qvm_fatal(QLS_INTERNAL, "x"); }\n'
    )
    (tmp_path / "test_own.py").write_text(PORTABLE_TESTS.format(own=own))
    plain = _inner(tmp_path)
    assert "1 passed" in plain.stdout, plain.stdout[-3000:]
    portable = _inner(tmp_path, "--hil-portable")
    assert "1 error" in portable.stdout, portable.stdout[-3000:]
    assert "own.c:3:" in portable.stdout and "QLS_INTERNAL" in portable.stdout


WARNED_TESTS = """
from hil.qvm import Exit, QvmConfig

def test_warned(hil_vdev):
    hil_vdev("{warned}")

def test_crash(hil_qvm, hil_vdev):
    trace = hil_vdev("target_vdevs/trace")
    with hil_qvm.start(QvmConfig("vm").vdev(trace, loc=0x1c100000), timeout=20) as vm:
        vm.send("write 0x1c100010 4 0")
        run = vm.wait(10)
    run.assert_reason(Exit.NORMAL)   # it is not: SIGSEGV

def test_log_line_missing(hil_qvm, hil_vdev):
    trace = hil_vdev("target_vdevs/trace")
    run = hil_qvm.run(QvmConfig("vm").vdev(trace, loc=0x1c100000).dryrun(), timeout=20)
    run.log.expect(r"no such line")
"""


def _inner_warned(
    tmp_path: Path, name: str, *extra: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, ET.Element]]:
    junit = tmp_path / f"{name}.xml"
    done = run_inner_pytest(tmp_path / "test_warned.py", "--hil-junit", str(junit), *extra, artifacts=tmp_path / name)
    return done, {str(c.get("name")): c for c in ET.parse(junit).getroot().iter("testcase")}


def test_warnings_and_crashes_reach_the_report_and_werror_fails_the_build(tmp_path: Path) -> None:
    warned = tmp_path / "warned"
    warned.mkdir()
    (warned / "warned.c").write_text("#include <qvm/vdev.h>\nint warned(void) { int unused; return 0; }\n")
    (tmp_path / "test_warned.py").write_text(WARNED_TESTS.format(warned=warned))
    summary = tmp_path / "plain-summary" / "summary.txt"
    done, cases = _inner_warned(tmp_path, "plain", "--hil-summary", str(summary))
    assert "2 failed, 1 passed" in done.stdout, done.stdout[-3000:]
    # the warning: in the JUnit entry, the artifacts, pytest's warnings summary and summary.txt
    assert "unused variable" in (cases["test_warned"].findtext("system-err") or "")
    assert "VdevWarning" in done.stdout and "unused variable" in done.stdout
    lines = [line for line in summary.read_text().splitlines() if line.startswith("  vdev warned:")]
    assert len(lines) == 1 and " 1 warning, first at " in lines[0], summary.read_text()
    assert f"{warned}/warned.c:2: unused variable " in lines[0] and lines[0].endswith("[local]"), lines
    # the crash: a backtrace naming the vdev's function and source line, in the failure and JUnit
    err = cases["test_crash"].findtext("system-err") or ""
    assert "trace_vwrite" in err and "trace.c:" in err, err[-2000:]
    assert "killed by SIGSEGV at address 0x0 in trace_vwrite (trace.c:" in done.stdout
    assert "hil/qvm/result.py" not in done.stdout  # the library's own frames are hidden
    assert "no qvm log line matches 'no such line'" in done.stdout
    assert "hil/qvm/log.py" not in done.stdout  # QvmLog.expect's frame too
    # --hil-werror: the same vdev is a build error
    done, cases = _inner_warned(tmp_path, "werror", "--hil-werror", "-k", "warned")
    assert "1 error" in done.stdout and "SETUP ERROR" in done.stdout, done.stdout[-3000:]
    assert "-Werror" in done.stdout and "unused variable" in done.stdout
    assert cases["test_warned"].find("error") is not None


def test_a_test_for_kinds_not_selected_is_deselected_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "test_kinds.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.hil_kinds('qemu')\n"
        "def test_qemu_only(hil_target):\n    assert hil_target\n\n"
        "def test_everywhere(hil_target):\n    assert hil_target\n"
    )
    done = run_inner_pytest(tmp_path / "test_kinds.py", "-rs", artifacts=tmp_path / "a")  # local only
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed, 1 deselected" in done.stdout and "skipped" not in done.stdout, done.stdout[-3000:]


def test_errors_show_the_cause_first_and_only_the_tests_own_frames(tmp_path: Path) -> None:
    """A compile error is the compiler's lines then where the test was; an infrastructure error one
    paragraph; qnx-hil's own frames are hidden (pytest --fulltrace shows them)."""
    (tmp_path / "bad.c").write_text("#include <qvm/vdev.h>\nint f(void) { return undefined_thing; }\n")
    test_file = tmp_path / "test_causes.py"
    test_file.write_text(
        "from hil.core.errors import InfrastructureError\n\n\n"
        f"def test_compile(hil_vdev):\n    hil_vdev({str(tmp_path / 'bad.c')!r})\n\n\n"
        "def test_lab(hil_target):\n"
        "    raise InfrastructureError('board lab-1: console socket://10.0.0.1:4001 refused')\n"
    )
    done = run_inner_pytest(test_file, "--hil-no-retry")
    text = done.stdout
    compile_part = text[text.index("SETUP ERROR: vdev 'bad' failed to compile") :]
    compile_part = compile_part[: compile_part.index("(qnx-hil's own frames are hidden")]
    assert "error: ‘undefined_thing’ undeclared" in compile_part
    assert f"where the test was:\n  {test_file}:5: in test_compile: hil_vdev(" in compile_part
    assert "hil/targets/toolchain.py" not in compile_part and "_build_locked" not in compile_part
    assert (
        "INFRASTRUCTURE ERROR: board lab-1: console socket://10.0.0.1:4001 refused\n\nwhere the test was:\n"
        f"  {test_file}:9: in test_lab: raise InfrastructureError(" in text
    )
    full = run_inner_pytest(test_file, "--hil-no-retry", "--fulltrace")
    assert "_build_locked" in full.stdout
