"""The common vdev options ``loc`` and ``intr`` are applied by qvm after ``VDEV_CTRL_OPTIONS_START``,
over the defaults a vdev sets there (the way QNX's own samples are written), in configuration order
with the vdev's own options; the overlap check runs on the final regions.

``regfile`` (target_vdevs/regfile) sets a default address at OPTIONS_START, as QNX's ib700
sample does; ``trace`` and ``wdog`` set ``QSL_NO_LOCATION`` there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.targets.toolchain import build_vdev
from tests.support.paths import TARGET_VDEVS
from tests.support.qvmsim import RunQvm

REGFILE = TARGET_VDEVS / "regfile"


@pytest.fixture(scope="module")
def regfile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding vdev-regfile.so (for ``-L``)."""
    out = tmp_path_factory.mktemp("regfile")
    build_vdev(REGFILE, out_dir=out)
    return out


def test_loc_overrides_the_default_address_set_at_options_start(run_qvm: RunQvm, regfile_dir: Path) -> None:
    conf = "system t\nram 0x80000000,1M\nvdev regfile loc 0x1c300000\n"
    run = run_qvm(conf, "-L", str(regfile_dir), script="write 0x1c300008 4 0x1234\nread 0x1c300008 4\nshutdown\n")
    assert run.returncode == 0, run.stderr
    # the vdev's own length (0x40, set at OPTIONS_START) is kept: loc gave no LEN
    run.one(r"^region 0x1c300000,0x40$", source="regfile")
    assert run.stdout.splitlines() == ["0x1c300008: 0x00001234"]


def test_the_default_address_stays_without_loc(run_qvm: RunQvm, regfile_dir: Path) -> None:
    run = run_qvm(
        "system t\nvdev regfile\n", "-L", str(regfile_dir), script="write 0x1c0f8004 4 7\nread 0x1c0f8004 4\nshutdown\n"
    )
    assert run.returncode == 0, run.stderr
    run.one(r"^region 0x1c0f8000,0x40$", source="regfile")
    assert run.stdout.splitlines() == ["0x1c0f8004: 0x00000007"]
    assert not run.find(r"no address after VDEV_CTRL_ASSIGN")


def test_loc_with_type_and_length_overrides_all_three(run_qvm: RunQvm, regfile_dir: Path) -> None:
    run = run_qvm(
        "system t\nvdev regfile loc io:0x441,4\n",
        "-L",
        str(regfile_dir),
        script="write io:0x441 4 9\nread io:0x441 4\nread 0x1c0f8000 4\nshutdown\n",
    )
    assert run.returncode == 0, run.stderr
    run.one(r"^region 0x441,0x4$", source="regfile")
    # the I/O port reaches the vdev; its default memory address is no longer its own
    assert run.stdout.splitlines()[0] == "io:0x441: 0x00000009"
    assert "0x1c0f8000: 0xffffffff" in run.stdout.splitlines()


def test_two_instances_at_different_locs_run_side_by_side(run_qvm: RunQvm, regfile_dir: Path) -> None:
    conf = "system t\nvdev regfile name a loc 0x1c300000 ident 0x100\nvdev regfile name b ident 0x200 loc 0x1c310000\n"
    script = "write 0x1c300000 4 1\nwrite 0x1c310000 4 2\nread 0x1c300000 4\nread 0x1c310000 4\nshutdown\n"
    run = run_qvm(conf, "-L", str(regfile_dir), script=script)
    assert run.returncode == 0, run.stderr
    run.one(r"^region 0x1c300000,0x40$", source="a")
    run.one(r"^region 0x1c310000,0x40$", source="b")
    assert run.stdout.splitlines() == ["0x1c300000: 0x00000101", "0x1c310000: 0x00000202"]


def test_two_instances_left_at_the_same_default_overlap(run_qvm: RunQvm, regfile_dir: Path) -> None:
    run = run_qvm("system t\nvdev regfile name a\nvdev regfile name b\n", "-L", str(regfile_dir))
    assert run.returncode == 65, run.stderr
    run.one(r"^cfg\.qvmconf:3: region 0x1c0f8000-0x1c0f803f of vdev 'b' overlaps vdev 'a'$", level="FATAL")


def test_no_location_at_options_start_gets_the_configured_loc(run_qvm: RunQvm) -> None:
    """trace sets QSL_NO_LOCATION at OPTIONS_START; the configured loc still reaches it."""
    run = run_qvm("system t\nvdev trace loc 0x2000\n", script="write 0x2000 4 0x55\nread 0x2000 4\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["0x2000: 0x00000055"]


def test_a_vdev_left_without_an_address_is_a_warning(run_qvm: RunQvm) -> None:
    run = run_qvm("system t\nvdev trace\n", script="shutdown\n")
    assert run.returncode == 0, run.stderr
    run.one(r"^vdev 'trace' has no address after VDEV_CTRL_ASSIGN .*'loc 0x1c0f0000'", level="WARN")


def test_options_are_applied_in_configuration_order(run_qvm: RunQvm) -> None:
    """loc is applied between OPTIONS_START and OPTIONS_END, in its place among the vdev's own options."""
    run = run_qvm("system t\nvdev trace tick 20 loc 0x2000 verbose\nlogger debug,info stderr\n", script="shutdown\n")
    assert run.returncode == 0, run.stderr
    lines = [ln.message for ln in run.log]
    start = lines.index("ctrl OPTIONS_START")
    loc = next(i for i, m in enumerate(lines) if m.startswith("vdev 'trace' loc 0x2000 -> mem:0x2000,0x1000"))
    end = lines.index("ctrl OPTIONS_END")
    tick = next(i for i, m in enumerate(lines) if "'tick'" in m)
    verbose = next(i for i, m in enumerate(lines) if "'verbose'" in m)
    assert start < tick < loc < verbose < end, lines
