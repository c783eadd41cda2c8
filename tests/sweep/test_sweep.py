"""The configuration-fault sweep (issue 15): hil.qvmrun.sweep, 'hil vdev sweep', the hil_sweep fixture.

On ``local`` only (each case is a millisecond dryrun; the planted hang costs one short timeout):
the test vdev tests/sweep/vdevs/sweepy has a planted crash (``depth 0``) and a planted hang
(``retries -1``) that the sweep must find, and nothing else; target_vdevs/wdog and trace sweep clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hil.core.errors import SetupError
from hil.qvmrun.sweep import Acceptances, VdevOption, cases, parse_option_list
from hil.targets.toolchain import Toolchain, build_vdev
from tests.support.hil import Sweep

ROOT = Path(__file__).resolve().parents[2]
SWEEPY = ROOT / "tests" / "sweep" / "vdevs" / "sweepy"


def test_cases_from_the_option_list() -> None:
    listed = parse_option_list("vdev x options\n    common loc\n    option depth\n    flag quiet\n")
    assert listed == [VdevOption("common", "loc"), VdevOption("option", "depth"), VdevOption("flag", "quiet")]
    made = {c.id: c.words for c in cases(listed, ["loc", "0x1000"], exclude=["nothing"])}
    assert made["depth-missing"] == ("depth",) and made["depth-negative"] == ("depth", "-1")
    assert made["quiet-argument"] == ("quiet", "1") and made["quiet-repeat"] == ("quiet", "quiet")
    assert made["loc-repeat"] == ("loc", "0x1000", "loc", "0x1000") and "depth-repeat" not in made
    assert made["unknown-unknown"][0] == "sweep_no_such_option" and len(made["depth-huge"][1]) == 16384
    assert "depth-zero" not in {c.id for c in cases(listed, exclude=["depth"])}


def test_acceptances_file(tmp_path: Path) -> None:
    f = tmp_path / "sweep.accept"
    f.write_text("accept tick zero  # 0 = no thread\nexclude hang  # hangs on purpose\n")
    acc = Acceptances.read(f)
    assert acc.accept == {("tick", "zero"): "0 = no thread"} and acc.exclude == {"hang": "hangs on purpose"}
    f.write_text("accept tick nonsense\n")
    with pytest.raises(SetupError, match=r"sweep\.accept:1: .*unknown fault kind 'nonsense'"):
        Acceptances.read(f)


def _hil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hil.cli.main", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_sweep_finds_the_planted_crash_and_hang(tmp_path: Path) -> None:
    """'hil vdev sweep': exactly the two planted findings (exit 1), each kept as a .qvmconf that replays to it."""
    out = tmp_path / "sweep"
    done = _hil("vdev", "sweep", str(SWEEPY), "--target", "local", "--base", "loc 0x1c0f0000",
                "--timeout", "3", "-o", str(out))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((out / "sweep.json").read_text())
    findings = {c["case"]: c for c in data["cases"] if c["verdict"] == "FINDING"}
    assert set(findings) == {"depth-zero", "retries-negative"}, (out / "sweep.txt").read_text()
    assert (
        findings["depth-zero"]["outcome"] == "SIGSEGV"
        and "sweepy_control (sweepy.c:" in findings["depth-zero"]["detail"]
    )
    assert findings["retries-negative"]["outcome"] == "HUNG"
    table = (out / "sweep.txt").read_text()
    assert "2 findings" in table and table in done.stdout
    # every other case ended cleanly: a configuration error naming the vdev, or qvm's documented "last wins"
    others = [c for c in data["cases"] if c["verdict"] != "FINDING"]
    assert all((c["verdict"] == "CLEAN" and c["outcome"] == "exit 65") or c["kind"] == "repeat" for c in others), others
    assert sorted(p.name for p in (out / "findings").iterdir()) == ["depth-zero.qvmconf", "retries-negative.qvmconf"]
    # replay: the kept configuration alone gives the same finding
    vdev = build_vdev([SWEEPY], Toolchain()).path  # the build cache's copy, as the sweep built it
    crash = _hil("qvm", "run", "--conf", str(out / "findings" / "depth-zero.qvmconf"), "--vdev", str(vdev),
                 "--timeout", "10", "--artifacts", str(tmp_path / "replay1"), "--json")  # fmt: skip
    assert json.loads(crash.stdout)["signal"] == "SIGSEGV", crash.stdout + crash.stderr
    hang = _hil("qvm", "run", "--conf", str(out / "findings" / "retries-negative.qvmconf"), "--vdev", str(vdev),
                "--timeout", "2", "--artifacts", str(tmp_path / "replay2"), "--json")  # fmt: skip
    assert json.loads(hang.stdout)["hung"] is True, hang.stdout + hang.stderr


@pytest.mark.hil_kinds("local")
@pytest.mark.parametrize(
    ("vdev", "base"), [("target_vdevs/wdog", "loc 0x1c0f0000"), ("target_vdevs/trace", "loc 0x2000")]
)
def test_target_vdevs_sweep_clean(hil_sweep: Sweep, vdev: str, base: str) -> None:
    """The fixture: wdog and trace end every bad configuration cleanly (trace's documented acceptances
    are in target_vdevs/trace/sweep.accept)."""
    report = hil_sweep(vdev, base=base, timeout=5)
    assert report.clean, report.table()
    assert (report.folder / "sweep.txt").read_text() == report.table()
    kinds = {r.case.kind for r in report.results}
    assert {"missing", "non-numeric", "negative", "zero", "overflow", "huge", "repeat", "unknown", "bad-loc"} <= kinds


def test_option_names_from_the_target_never_leave_the_report_folder(tmp_path: Path) -> None:
    """Issue 22.4: a target listing an option '../../escaped' neither deletes nor writes outside -o OUT."""
    from hil.qvmrun.sweep import run_sweep
    from hil.targets import make_target
    from hil.targets.definition import parse_definition
    from hil.targets.sdk import build_qvmsim

    wrapper = tmp_path / "qvm"  # a target whose option listing carries a hostile name
    wrapper.write_text(
        f'#!/bin/sh\nif [ "$1" = vdev ]; then {build_qvmsim()} "$@"; s=$?\n'
        f'echo "    option ../../escaped"; exit $s; fi\nexec {build_qvmsim()} "$@"\n'
    )
    wrapper.chmod(0o755)
    target = make_target(parse_definition({"kind": "local", "qvm": {"command": str(wrapper)}}, "t.toml", "t"), tmp_path)
    victim = tmp_path / "escaped-missing"  # where OUT/runs/../../escaped-missing points
    victim.mkdir()
    (victim / "keep.txt").write_text("precious")
    out = tmp_path / "out" / "sweep"
    vdev = build_vdev([SWEEPY], Toolchain()).path
    report = run_sweep(target, vdev, "sweepy", out, base=["loc", "0x1c0f0000"], timeout=3, jobs=1)
    assert any(r.case.option == "../../escaped" for r in report.results)
    assert (victim / "keep.txt").read_text() == "precious" and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    outside = {p for p in tmp_path.rglob("*") if not p.is_relative_to(out)} - {wrapper, victim, victim / "keep.txt"}
    assert {p for p in outside if p.name.startswith(("escaped", "..")) or p.suffix == ".qvmconf"} == set()
    runs = [p.name for p in (out / "runs").iterdir()]
    assert any(name.startswith("escaped-missing-") for name in runs), runs  # a safe name with a hash


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--timeout", "-5"], "--timeout -5.0: give the seconds per run"),
        (["--timeout", "nan"], "--timeout nan"),
        (["--timeout", "inf"], "--timeout inf"),
        (["--jobs", "0"], "--jobs 0: give the runs at once, 1 to 64"),
        (["--jobs", "-1"], "--jobs -1"),
        (["--jobs", "100000"], "--jobs 100000"),
        (["--base", "loc 'x"], '--base "loc \'x": No closing quotation'),
    ],
)
def test_bad_sweep_options_are_one_line_errors_before_anything_runs(tmp_path: Path, args: list[str], says: str) -> None:
    """Issue 22.14: exit 2, one line naming the option, nothing made (no folder, no deployment)."""
    from tests.support.cli import hil

    out = tmp_path / "out"
    done = hil("vdev", "sweep", str(SWEEPY), "--target", "local", "-o", str(out), *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not out.exists()


def test_sigterm_to_a_sweep_stops_its_qvm_and_keeps_the_table(tmp_path: Path) -> None:
    """Issue 22.5: SIGTERM to 'hil vdev sweep': exit 143, no qvm left, sweep.txt says INTERRUPTED with the
    cases done so far."""
    import os
    import signal
    import time

    from tests.support.procs import pids_mentioning

    work = tmp_path / "work"
    toml = tmp_path / "box.toml"
    toml.write_text(f'name = "box"\nkind = "local"\n[qvm]\nworkdir = "{work}"\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.cli.main", "vdev", "sweep", str(SWEEPY), "--target", str(toml),
         "--base", "loc 0x1c0f0000", "--timeout", "20", "-o", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        end = time.monotonic() + 120  # until the planted hang (retries -1) runs: a qvm is then running
        while not any((out / "runs").glob("retries-negative*")):
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)
        time.sleep(1.0)
        assert pids_mentioning(work), "no qvm running to cancel"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert not pids_mentioning(work), "qvm was left running"
    table = (out / "sweep.txt").read_text()
    assert "INTERRUPTED" in table and "cases done" in table, table
    data = json.loads((out / "sweep.json").read_text())
    assert data["interrupted"] and 0 < len(data["cases"]) < data["planned"]
    assert not [p for p in os.listdir(work) if p.startswith("hil-")]  # deployment folders removed


RANGEY = ROOT / "tests" / "sweep" / "vdevs" / "rangey"


def test_large_numbers_and_declared_range_ends_find_what_small_faults_miss(tmp_path: Path) -> None:
    """Issue 22.15: rangey crashes for 'depth 1001' (one past its declared range 0..1000) and for a
    'count' of 2**31 or more; the sweep finds exactly those, and judges the range's own values."""
    from tests.support.cli import hil

    out = tmp_path / "sweep"
    done = hil("vdev", "sweep", str(RANGEY), "--target", "local", "--timeout", "5", "-o", str(out))
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((out / "sweep.json").read_text())
    verdicts = {c["case"]: (c["verdict"], c["outcome"]) for c in data["cases"]}
    findings = {case for case, (verdict, _) in verdicts.items() if verdict == "FINDING"}
    assert findings == {"depth-above-range", "count-int31", "count-int63"}, (out / "sweep.txt").read_text()
    assert verdicts["depth-above-range"][1] == "SIGSEGV"
    assert verdicts["depth-range-min"] == ("CLEAN", "exit 0") and verdicts["depth-range-max"] == ("CLEAN", "exit 0")
    assert verdicts["depth-zero"] == ("CLEAN", "exit 0")  # 0 is inside the declared range: it must run
    assert verdicts["depth-below-range"] == ("CLEAN", "exit 65")  # -1: refused
    assert verdicts["count-int32"] == ("CLEAN", "exit 0") and verdicts["count-billion"] == ("CLEAN", "exit 0")


def test_a_bad_ranges_file_is_a_setup_error(tmp_path: Path) -> None:
    acc = Acceptances()
    (tmp_path / "sweep.ranges").write_text("depth 10 1\n")
    with pytest.raises(SetupError, match=r"sweep\.ranges:1: expected 'OPTION MIN MAX'"):
        acc.read_ranges(tmp_path / "sweep.ranges")
    (tmp_path / "sweep.ranges").write_text("depth 0 0x10  # hex is fine\n")
    acc.read_ranges(tmp_path / "sweep.ranges")
    assert acc.ranges == {"depth": (0, 16)}


def test_folder_acceptances_are_the_one_set_up(tmp_path: Path) -> None:
    """'hil vdev sweep' and hil_sweep read a folder's acceptances through one function: its file, then
    the caller's own accepts and excludes, said as whose; not a folder is a set-up error naming the caller."""
    from hil.qvmrun.sweep import folder_acceptances

    (tmp_path / "sweep.accept").write_text("accept tick zero  # 0 = no thread\n")
    acc = folder_acceptances(tmp_path, ["depth=negative"], ["hang"], by="by the test")
    assert acc.accept == {("tick", "zero"): "0 = no thread", ("depth", "negative"): "accepted by the test"}
    assert acc.exclude == {"hang": "excluded by the test"}
    with pytest.raises(SetupError, match=r"^hil_sweep: .*nowhere is not a vdev folder"):
        folder_acceptances(tmp_path / "nowhere", what="hil_sweep")
