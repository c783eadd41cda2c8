"""A hostile guest (issue 28): hil.qvmrun.fuzz, 'hil vdev fuzz', the hil_fuzz fixture.

On ``local`` (libFuzzer runs qvmsim's core in-process on this host).  target_vdevs/faulty/planted has one
planted bug reachable only after the guest writes a 32-bit key to one register and then an
out-of-range index to another; target_vdevs/faulty/mover breaks one of qvm's invariants on request.
The target vdevs and the ``hil init`` sample fuzz clean.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from hil.cli.fuzznightly import fuzz_each, vdev_folders
from hil.core.errors import SetupError
from hil.qvmrun.fuzz import FuzzReport, FuzzSettings, Region, config_text, encode_script, source_dictionary
from tests.support.inner import run_inner_pytest
from tests.support.needs import require_program

ROOT = Path(__file__).resolve().parents[2]
VDEVS = ROOT / "target_vdevs" / "faulty"
PLANTED_KEY = 0x5EC0DE42


def _hil(*args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil.cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.quick
def test_guest_scripts_become_inputs() -> None:
    """The seed translation: the input format of harness.c (op byte, offset, value)."""
    regions = [Region("a", "", 0x1000, 0x100), Region("b", "io:", 0x60, 8)]
    data = encode_script(
        ["write 0x1004 4 0x5ec0de42  # key", "read 0x1008 2", "sleep 300", "print hi", "kick",
         "write io:0x62 1 0x7", "irq ack gic:33", "read 0x9000 4"],
        regions,
    )  # fmt: skip
    expected = (
        bytes([0 | 2 << 3]) + struct.pack("<HI", 4, PLANTED_KEY)
        + bytes([3 | 1 << 3]) + struct.pack("<H", 8)
        + bytes([5]) + struct.pack("<H", 300)
        + bytes([0 | 2 << 3]) + struct.pack("<HI", 0, 0)
        + bytes([0 | 0 << 3 | 1 << 5]) + struct.pack("<HB", 2, 7)
        + bytes([6, 0])
    )  # fmt: skip
    assert data == expected  # print left out, the read outside every region left out
    ram = Region("ram", "", 0x80000000, 0x10000)
    assert encode_script(["write 0x80000010 8 0x1122", "read 0x80000010 4"], regions, ram) == (
        bytes([7 | 3 << 3]) + struct.pack("<HQ", 0x10, 0x1122)  # a RAM store; RAM loads are left out
    )
    assert config_text("wdog", ["timeout", "500"]) == (
        "system fuzz\nram 0x80000000,0x10000\nvdev wdog\n    loc 0x1c0f0000 timeout 500\n"
    )
    assert "loc 0x2000\n" in config_text("x", ["loc", "0x2000"])


def test_planted_bug_found_minimised_and_replayed(tmp_path: Path) -> None:
    """'hil vdev fuzz' finds the planted heap overflow within 2 minutes (exit 1), minimises it to the key write
    and the index write, and its replay.sh (hil qvm run --sanitize) reproduces the AddressSanitizer report."""
    require_program("clang", "clang")
    out = tmp_path / "fuzz"
    done = _hil("vdev", "fuzz", str(VDEVS / "planted"), "--base", "loc 0x1c0f0000,0x100", "--time", "120",
                "-o", str(out))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((out / "fuzz.json").read_text())
    assert data["seconds"] < 130 and data["execs"] > 0 and data["edges"] > 0, data
    [finding] = data["findings"]
    assert finding["kind"] == "crash"
    assert "heap-buffer-overflow" in finding["summary"] and "planted_vwrite" in finding["summary"], finding
    folder = Path(finding["folder"])
    report = (folder / "report.txt").read_text()
    assert "planted.c:" in report and "in planted_vwrite" in report  # symbolised
    accesses = [ln for ln in (folder / "guest.script").read_text().splitlines() if ln.startswith(("write", "read"))]
    assert accesses == [f"write 0x1c0f0000 4 0x{PLANTED_KEY:x}", "write 0x1c0f0004 4 0x10"], accesses
    assert "FINDING (crash)" in done.stdout and "edges" in done.stdout and "exec/s" in done.stdout
    # the replay: qvmsim's sanitizer build, the gcc sanitizer build of the vdev, the guest script
    replay = subprocess.run(
        [str(folder / "replay.sh"), "--json"], capture_output=True, text=True, timeout=300,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"},  # hil
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr
    sanitizer = (folder / "replay" / "run1.sanitizer.txt").read_text()
    assert "AddressSanitizer: heap-buffer-overflow" in sanitizer and "planted_vwrite" in sanitizer, sanitizer


def test_broken_invariant_is_a_finding(tmp_path: Path) -> None:
    """A vdev moving its own region while the guest runs: 'invariant broken', with the guest store that did it."""
    require_program("clang", "clang")
    out = tmp_path / "fuzz"
    done = _hil("vdev", "fuzz", str(VDEVS / "mover"), "--time", "120", "-o", str(out), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert finding["kind"] == "invariant" and "vdev 'mover' moved its region" in finding["summary"], finding
    script = (Path(finding["folder"]) / "guest.script").read_text()
    assert "write 0x1c0f0008 4 0x6d0e6d0e" in script


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    """What cannot be fuzzed says why (exit 2): another target, a configuration that does not start, no loc."""
    other = _hil("vdev", "fuzz", str(VDEVS / "planted"), "--target", "qemu", "-o", str(tmp_path / "a"))
    assert other.returncode == 2 and "local target only" in other.stderr, other.stderr
    badabi = _hil("vdev", "fuzz", str(VDEVS / "badabi"), "--time", "5", "-o", str(tmp_path / "b"))
    assert badabi.returncode == 2 and "does not start a guest" in badabi.stderr, badabi.stderr
    assert "ABI" in badabi.stderr  # qvm's own FATAL line is shown
    nodir = _hil("vdev", "fuzz", str(tmp_path / "nothing"), "-o", str(tmp_path / "c"))
    assert nodir.returncode == 2 and "is not a vdev folder" in nodir.stderr, nodir.stderr
    skip = _hil("vdev", "fuzz", str(VDEVS / "planted"), "--skip", "zero", "-o", str(tmp_path / "d"))
    assert skip.returncode == 2 and "--skip zero" in skip.stderr, skip.stderr
    runs = _hil("vdev", "fuzz", str(VDEVS / "planted"), "--runs", "0", "-o", str(tmp_path / "f"))
    assert runs.returncode == 2 and "--runs must be at least 1 (got 0)" in runs.stderr, runs.stderr
    conf = tmp_path / "x.qvmconf"
    conf.write_text("system x\n")
    run = _hil("qvm", "run", "--conf", str(conf), "--sanitize", "memory", "--artifacts", str(tmp_path / "e"))
    assert run.returncode == 2 and "--sanitize: unknown sanitizer(s) memory" in run.stderr, run.stderr


@pytest.mark.hil_kinds("local")
@pytest.mark.parametrize(
    ("vdev", "base", "skip"),
    [
        ("target_vdevs/wdog", "timeout 500", ()),
        # trace: 'tick 0' (its thread would be joined at every input's teardown); 0x10 is its documented
        # crash-on-purpose register (target_vdevs/trace/trace.c), left alone
        ("target_vdevs/trace", "tick 0 timer 50", ((0x10, 4),)),
        ("hil/cli/project_template/vdevs/mywdog", "timeout 200", ()),
    ],
)
def test_target_vdevs_fuzz_clean(
    hil_fuzz: Callable[..., FuzzReport],
    request: pytest.FixtureRequest,
    vdev: str,
    base: str,
    skip: tuple[tuple[int, int], ...],
) -> None:
    """The fixture: the target vdevs and the hil init sample fuzz clean (watchdog bites are clean endings);
    the summary goes into the test's report.  A campaign of a fixed size (1,200 inputs, at most 120 s): the
    same on a slow CI runner as here (6 s gave one runner 969 inputs)."""
    require_program("clang", "clang")
    report = hil_fuzz(vdev, base=base, seconds=120, runs=1200, skip=skip)
    assert not report.findings, report.summary()
    assert report.execs >= 1200 and report.edges > 5 and report.accesses > report.execs, report.summary()
    assert (report.out / "fuzz.txt").read_text() == report.summary()
    logged = [v for k, v in request.node.user_properties if k == "hil.qvm_log"]
    assert any(report.summary() in str(v) for v in logged)


def test_runs_bound_the_campaign(tmp_path: Path) -> None:
    """--runs N: each worker stops after N inputs; when --time is up first the summary and fuzz.json say
    the campaign came out short (a slow runner's gate must not pass quietly on fewer inputs)."""
    require_program("clang", "clang")
    wdog = str(ROOT / "target_vdevs" / "wdog")
    done = _hil("vdev", "fuzz", wdog, "--base", "timeout 500", "--runs", "300", "-o", str(tmp_path / "a"), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["execs"] == 300 and data["runs"] == 300 and not data["short_of_runs"], data
    short = _hil("vdev", "fuzz", wdog, "--base", "timeout 500", "--runs", "100000000", "--time", "1",
                 "-o", str(tmp_path / "b"))  # fmt: skip
    assert short.returncode == 0, short.stdout + short.stderr
    assert "SHORT: --time was up after " in short.stdout and "of the 100000000 inputs --runs 100000000" in short.stdout
    assert json.loads((tmp_path / "b" / "fuzz.json").read_text())["short_of_runs"] is True


@pytest.mark.quick
def test_source_constants_become_the_dictionary(tmp_path: Path) -> None:
    """The vdev's integer constants (an unlock key, a register's magic value) in libFuzzer's dictionary, as a
    store's little-endian bytes: how the planted 32-bit key is found in seconds, not minutes."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "v.c").write_text("#define KEY 0x1ACCE551u\nif (x > 16) y = 7; z = 1000; t = 3.5;\n")
    (tmp_path / "sub" / "regs.h").write_text("#define BIG 0x123456789ULL\n#define KEY2 0x1acce551\nx1 = a0x99;\n")
    lines = source_dictionary(tmp_path).splitlines()
    assert r'"\x51\xe5\xcc\x1a"' in lines and r'"\x10\x00"' in lines and r'"\xe8\x03"' in lines, lines
    assert r'"\x89\x67\x45\x23\x01\x00\x00\x00"' in lines, lines
    assert len(lines) == 4, lines  # 7 and the 5 of 3.5 are too small; 0x1acce551 once; a0x99 is no number
    assert source_dictionary(tmp_path / "sub" / "none") == ""


@pytest.mark.quick
def test_fuzz_settings_file(tmp_path: Path) -> None:
    """VDEV_DIR/fuzz.settings: the base options and the skipped offsets; a bad line names itself."""
    (tmp_path / "fuzz.settings").write_text("# settings\nbase tick 0  # no thread\nbase timer 5\nskip 0x10,4\nskip 8\n")
    settings = FuzzSettings.read(tmp_path)
    assert settings.base == ["tick", "0", "timer", "5"] and settings.skip == [(0x10, 4), (8, 1)]
    assert FuzzSettings.read(tmp_path / "none") == FuzzSettings()
    (tmp_path / "fuzz.settings").write_text("skip ten\n")
    with pytest.raises(SetupError, match=r"fuzz\.settings:1: expected .*got 'skip ten'"):
        FuzzSettings.read(tmp_path)


def test_nightly_fuzzes_each_vdev(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """hil nightly --fuzz: every vdev folder directly under target_vdevs/ with its fuzz.settings (trace's
    crash register skipped): no finding; the planted-fault vdevs of target_vdevs/faulty/ are not found
    by default; badabi named, whose configuration never starts, is reported and left out."""
    require_program("clang", "clang")
    found = {p.name for p in vdev_folders(ROOT)}
    assert {"trace", "wdog", "vecho"} <= found and not found & {p.name for p in VDEVS.iterdir()}
    findings = fuzz_each(ROOT, [VDEVS / "badabi", *(ROOT / "target_vdevs" / n for n in ("trace", "wdog"))], 5, tmp_path)
    out = capsys.readouterr().out
    assert findings == 0, out
    assert "target_vdevs/faulty/badabi: not fuzzed: hil vdev fuzz: the configuration does not start a guest" in out
    assert "fuzz trace:" in out and "fuzz wdog:" in out and "3 vdev(s), 0 finding(s)" in out
    assert json.loads((tmp_path / "trace" / "fuzz.json").read_text())["execs"] > 0


def test_hang_is_a_finding(tmp_path: Path) -> None:
    """A vdev callback that never returns: a hang finding naming the vdev's function, with its guest store."""
    require_program("clang", "clang")
    out = tmp_path / "fuzz"
    done = _hil("vdev", "fuzz", str(VDEVS / "hanger"), "--time", "120", "--hang-timeout", "2", "-o", str(out), "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert finding["kind"] == "hang", finding
    # libFuzzer's alarm looks every timeout/2 s (later on a loaded machine): it reports 2 seconds or more
    assert re.fullmatch(r"hang: timeout after \d+ seconds in hanger_vwrite \S*hanger\.c:\d+", finding["summary"])
    assert "write 0x1c0f0004 4 0xfeedf00d" in (Path(finding["folder"]) / "guest.script").read_text()


INNER = """
import pytest

@pytest.mark.hil_kinds("local")
def test_wdog_hostile_guest(hil_fuzz):
    report = hil_fuzz("target_vdevs/wdog", base="timeout 500", seconds=5)
    assert not report.findings, report.summary()

@pytest.mark.hil_kinds("local")
def test_planted_hostile_guest(hil_fuzz):
    report = hil_fuzz("target_vdevs/faulty/planted", base="loc 0x1c0f0000,0x100", seconds=120)
    assert not report.findings, report.summary()
"""


def test_fixture_summary_in_junit(tmp_path: Path) -> None:
    """hil_fuzz in a project's suite: the summary is in each test's JUnit <system-err>; a finding fails it."""
    require_program("clang", "clang")
    (tmp_path / "test_inner.py").write_text(INNER)
    out = tmp_path / "report"
    done = run_inner_pytest(
        tmp_path / "test_inner.py", "--hil-junit", str(out / "junit.xml"), artifacts=out / "artifacts", timeout=600
    )
    assert "1 failed, 1 passed" in done.stdout, done.stdout[-4000:]
    cases = {c.get("name"): c for c in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    clean = next(c for n, c in cases.items() if n and n.startswith("test_wdog_hostile_guest"))
    found = next(c for n, c in cases.items() if n and n.startswith("test_planted_hostile_guest"))
    assert clean.find("failure") is None and found.find("failure") is not None
    clean_err = clean.findtext("system-err") or ""
    found_err = found.findtext("system-err") or ""
    assert "fuzz wdog: " in clean_err and "no finding" in clean_err, clean_err
    assert "FINDING (crash): SUMMARY: AddressSanitizer: heap-buffer-overflow" in found_err, found_err
    assert list((out / "artifacts").rglob("fuzz-planted/findings/1/replay.sh"))
