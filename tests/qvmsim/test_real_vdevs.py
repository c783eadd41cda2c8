"""Smaller fidelity points, each seen in real vdevs or configurations: a factory's ``.name = NULL``
is patched from the vdev's name; ``VDEV_CTRL_BOOTUP`` is ``VDEV_CTRL_GUEST_CONFIGURED`` (one
callback); ``vdev vdev-NAME.so`` and a path load the vdev; a vdev's ``exit()`` still delivers
``VDEV_CTRL_TERMINATE`` and the ``exit status=`` line; ``cmdline "..."`` over several lines,
``initrd load``, ``data load`` and a bare ``debug`` are accepted with a line saying qvmsim does
not model them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.qvm.confparse import parse_qvmconf
from hil.targets.toolchain import Toolchain, VdevBuildError, build_vdev
from tests.support.paths import TARGET_VDEVS
from tests.support.qvmsim import RunQvm

REAL_VDEV = (TARGET_VDEVS / "real" / "real.c").read_text()


@pytest.fixture(scope="module")
def real_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding vdev-real.so (portable build: QNX 8.0 names only)."""
    src = tmp_path_factory.mktemp("src") / "vdev-real.c"
    src.write_text(REAL_VDEV)
    out = tmp_path_factory.mktemp("real")
    build_vdev(src, Toolchain(portable=True, werror=True), out_dir=out)
    return out


def test_name_null_is_patched_and_bootup_is_one_callback(run_qvm: RunQvm, real_dir: Path) -> None:
    run = run_qvm("system t\nvdev real\ndryrun\n", "-L", str(real_dir))
    assert run.returncode == 0, run.stderr
    run.one(r"^factory name=real$", source="real")
    assert [ln.message for ln in run.log.by_source("real").matching(r"^configured")] == ["configured 1"]


@pytest.mark.parametrize("spelling", ["vdev-real.so", "{dir}/vdev-real.so", "real"])
def test_vdev_spellings(run_qvm: RunQvm, real_dir: Path, spelling: str) -> None:
    word = spelling.format(dir=real_dir)
    run = run_qvm(f"system t\nvdev {word}\ndryrun\n", "-L", str(real_dir))
    assert run.returncode == 0, run.stderr
    run.one(r"^factory name=real$", source="real")


def test_vdev_file_name_and_name_share_one_library(run_qvm: RunQvm, real_dir: Path) -> None:
    run = run_qvm("system t\nvdev real name a\nvdev vdev-real.so name b\ndryrun\n", "-L", str(real_dir))
    assert run.returncode == 0, run.stderr
    # one .so loaded once: the static counter is shared by both instances
    assert run.one(r"^configured", source="a").message == "configured 1"
    assert run.one(r"^configured", source="b").message == "configured 2"


def test_exit_from_a_guest_access_still_terminates_the_vdevs(run_qvm: RunQvm, real_dir: Path) -> None:
    run = run_qvm(
        "system t\nvdev real loc 0x2000\nvdev trace loc 0x3000\n", "-L", str(real_dir), script="write 0x2000 4 9\n"
    )
    assert run.returncode == 9, run.stderr
    run.one(r"^real called exit\(9\): qvm ends \(VDEV_CTRL_TERMINATE to every vdev, exit status 9\)$", level="WARN")
    run.one(r"^terminate$", source="real")
    assert "ctrl TERMINATE" in run.trace_ctrls()
    assert run.log[-1].message == "exit status=9"


def test_exit_from_a_control_callback_still_terminates_the_vdevs(run_qvm: RunQvm, real_dir: Path) -> None:
    run = run_qvm("system t\nvdev trace loc 0x3000\nvdev real exit_at_configured\n", "-L", str(real_dir))
    assert run.returncode == 12, run.stderr
    run.one(r"^real called exit\(12\)", level="WARN")
    assert run.trace_ctrls()[-1] == "ctrl TERMINATE"
    run.one(r"^terminate$", source="real")
    assert run.log[-1].message == "exit status=12"


REAL_CONFIG = """system t
logger debug,info stderr
cmdline "console=ttyAMA0 earlycon
         root=/dev/vda rw"
initrd load /guests/linux/initrd.img
data load 0x40000000,/guests/linux/board.dtb
debug
vdev trace loc 0x3000
dryrun
"""


def test_real_configuration_words_are_accepted_and_said_unmodelled(run_qvm: RunQvm) -> None:
    run = run_qvm(REAL_CONFIG)
    assert run.returncode == 0, run.stderr
    run.one(r'^cfg\.qvmconf:3: cmdline "console=ttyAMA0 earlycon +root=/dev/vda rw": accepted, not modelled by qvmsim')
    run.one(r"^cfg\.qvmconf:5: initrd load /guests/linux/initrd\.img: accepted, not modelled by qvmsim")
    run.one(r"^cfg\.qvmconf:6: data load 0x40000000,/guests/linux/board\.dtb: accepted, not modelled by qvmsim")
    run.one(r"^cfg\.qvmconf:7: debug: accepted, not modelled by qvmsim")
    assert "ctrl GUEST_CONFIGURED" in run.trace_ctrls()


@pytest.mark.parametrize(
    "conf,message",
    [
        (
            "initrd /x.img\n",
            r"^cfg\.qvmconf:1: bad value '/x\.img' for option 'initrd' \(expected 'initrd load \[ADDR,\]PATH'\)",
        ),
        (
            'cmdline "never closed\nram 1M\n',
            r"^cfg\.qvmconf:1: unterminated '\"' in 'never closed ram 1M.*before the end of the file",
        ),
    ],
)
def test_bad_real_configuration_words(run_qvm: RunQvm, conf: str, message: str) -> None:
    run = run_qvm(conf)
    assert run.returncode == 65, run.stderr
    run.one(message, level="FATAL")


def test_the_python_parser_reads_the_real_words_as_qvmsim_does(run_qvm: RunQvm) -> None:
    """hil.qvm.confparse agrees with qvmsim: the joined cmdline, initrd/data load, bare debug, vdev-NAME.so."""
    parsed = parse_qvmconf(REAL_CONFIG + "vdev vdev-wdog.so\nvdev /opt/vdevs/vdev-trace.so\n", "cfg.qvmconf")
    cmdline = parsed.option("cmdline")
    assert cmdline is not None
    run = run_qvm(REAL_CONFIG)
    logged = run.one(r'^cfg\.qvmconf:3: cmdline "').message.split('"')[1]
    assert cmdline.values[0] == logged
    initrd, data, debug = parsed.option("initrd"), parsed.option("data"), parsed.option("debug")
    assert initrd is not None and initrd.values == ("load", "/guests/linux/initrd.img")
    assert data is not None and data.values == ("load", "0x40000000,/guests/linux/board.dtb")
    assert debug is not None and debug.values == ()
    assert parsed.vdev_names() == ["trace", "wdog"]
    with pytest.raises(ConfigError, match=r"bad value '/x\.img'; expected 'initrd load \[ADDR,\]PATH'"):
        parse_qvmconf("initrd /x.img\n")
    with pytest.raises(ConfigError, match=r"unterminated"):
        parse_qvmconf('cmdline "never closed\nram 1M\n')
    # inside a vdev context the words may be the vdev's own options
    own = parse_qvmconf("vdev foo data 5 debug\n")
    assert own.option("data") is None and [w.text for w in own.vdevs[0].words] == ["data", "5", "debug"]


NEUTRINO_VDEV = (TARGET_VDEVS / "nq" / "nq.c").read_text()


@pytest.mark.parametrize("hz", [None, "19200000"])
def test_the_qnx_calls_real_vdevs_use_for_pulses_and_time(run_qvm: RunQvm, tmp_path: Path, hz: str | None) -> None:
    """ClockCycles(), SYSPAGE_ENTRY(qtime)->cycles_per_sec (the guest timer's rate), MsgDeliverEvent() of a
    vdev_pulse() event, _PULSE_CODE_MINAVAIL: from <sys/neutrino.h> and <sys/syspage.h>, in portable mode."""
    src = tmp_path / "nq.c"
    src.write_text(NEUTRINO_VDEV)
    built = build_vdev(src, Toolchain(portable=True, werror=True), out_dir=tmp_path / "so")
    run = run_qvm(f"system t\nvdev {built.path}\n", env={"QVMSIM_TIMER_HZ": hz} if hz else None)
    assert run.returncode == 33, run.stderr
    run.one(rf"^cycles_per_sec={hz or 1000000000}$", source="nq")
    line = run.one(r"^pulse code=3 after (\d+) ms$", source="nq")
    assert int(line.message.split()[3]) < 1000
    with pytest.raises(VdevBuildError, match=r"(?s)nq\.c.*channel|ChannelCreate"):
        src.write_text(NEUTRINO_VDEV + "int nq_channel(void);\nint nq_channel(void) { return ChannelCreate(0); }\n")
        build_vdev(src, Toolchain(portable=True, werror=True), out_dir=tmp_path / "so2")
