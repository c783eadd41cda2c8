"""qvmsim drives vdevs through the documented lifecycle, in order."""

from __future__ import annotations

import json
import platform
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.qvmsim import QvmProc, RunQvm, stamp

StartQvm = Callable[..., QvmProc]

# After GUEST_CONFIGURED (= BOOTUP) qvmsim asks for the guest's firmware tables: ACPI on x86 hosts,
# a device tree (parent node 0, the root) on Arm hosts (qvmsim-choices.h).
FIRMWARE_CTRL = {"x86_64": ["ctrl GEN_ACPI"], "aarch64": ["ctrl GEN_FDT node=0"]}.get(platform.machine(), [])


def test_version_says_qvmsim_not_qnx(qvm_bin: Path) -> None:
    for flag in ("-V", "--version"):
        out = subprocess.run([str(qvm_bin), flag], capture_output=True, text=True, timeout=5)
        assert out.returncode == 0
        lines = out.stdout.splitlines()
        assert len(lines) == 1
        assert lines[0].startswith("qvmsim ")
        assert "not QNX" in lines[0]


def test_callback_order_through_a_guest_shutdown(run_qvm: RunQvm) -> None:
    run = run_qvm("system demo\nvdev trace loc 0x1000 tick 5 verbose\n", script="shutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.trace_ctrls() == [
        "ctrl OPTIONS_START",
        "ctrl OPTION index=0 name=tick arg=5",
        "ctrl OPTION index=1 name=verbose arg=(none)",
        "ctrl OPTIONS_END",
        "ctrl ASSIGN",
        "ctrl GUEST_CONFIGURED",  # = VDEV_CTRL_BOOTUP (7.1): one callback
        *FIRMWARE_CTRL,
        "ctrl GUEST_STARTING",
        "ctrl TERMINATE",
    ]
    term = run.one(r"^guest terminated: ", source="qvm", level="INFO")
    assert term.message.startswith("guest terminated: cause=0 name=GTC_NORMAL_EXIT since_last_store=none")
    assert run.log[-1].message == "exit status=0"
    assert run.log[-1].source == "qvm"
    # the ticker thread ran and was joined by TERMINATE
    assert run.find(r"^ticker joined after \d+ ticks$", source="trace")


def test_options_by_index_flag_and_last_repeat_wins(run_qvm: RunQvm) -> None:
    conf = """
    # line breaks carry no meaning: one vdev context over several lines
    vdev trace
        timer 30 verbose
        tick 20
        tick
        10    # repeated: the last one wins
    dryrun
    """
    run = run_qvm(conf)
    assert run.returncode == 0, run.stderr
    opts = [m for m in run.trace_ctrls() if m.startswith("ctrl OPTION ")]
    assert opts == [
        "ctrl OPTION index=5 name=timer arg=30",
        "ctrl OPTION index=1 name=verbose arg=(none)",
        "ctrl OPTION index=0 name=tick arg=10",
    ]


def test_dryrun_stops_after_guest_configured(run_qvm: RunQvm) -> None:
    run = run_qvm("vdev trace loc 0x1000\ndryrun\n", script="write 0x1000 4 1\n")
    assert run.returncode == 0, run.stderr
    # the whole startup stage runs (the firmware tables too), not GUEST_STARTING
    assert run.trace_ctrls() == [
        "ctrl OPTIONS_START",
        "ctrl OPTIONS_END",
        "ctrl ASSIGN",
        "ctrl GUEST_CONFIGURED",  # = VDEV_CTRL_BOOTUP (7.1): one callback
        *FIRMWARE_CTRL,
        "ctrl TERMINATE",
    ]
    assert run.one("dryrun", source="qvm")
    assert not run.find("guest terminated")
    assert run.log[-1].message == "exit status=0"


def test_one_so_for_two_instances_each_with_its_own_state(run_qvm: RunQvm) -> None:
    conf = (
        "logger fatal,internal,error,warn,info,debug stderr\n"
        "vdev trace name first loc 0x1000 tick 0\nvdev trace name second loc 0x2000 tick 0\n"
    )
    script = "write 0x1000 4 0x11\nwrite 0x2000 4 0x22\nread 0x1000 4\nread 0x2000 4\nshutdown\n"
    run = run_qvm(conf, script=script)
    assert run.returncode == 0, run.stderr
    assert len(run.find(r"^loaded vdev 'trace' from ")) == 1
    assert run.trace_ctrls("first")[0] == "ctrl OPTIONS_START"
    assert run.trace_ctrls("second")[-1] == "ctrl TERMINATE"
    assert run.stdout.splitlines() == ["0x1000: 0x00000011", "0x2000: 0x00000022"]


def test_vdev_search_path_ld_library_path_and_env(run_qvm: RunQvm, vdev_dir: Path) -> None:
    conf = "vdev trace dryrun\n"
    assert run_qvm(conf, vdev_path=False).returncode == 65
    assert run_qvm(conf, vdev_path=False, env={"LD_LIBRARY_PATH": str(vdev_dir)}).returncode == 0
    assert run_qvm(conf, vdev_path=False, env={"QVMSIM_VDEV_PATH": f"/nonexistent:{vdev_dir}"}).returncode == 0
    # a path works too
    assert run_qvm(f"vdev {vdev_dir}/vdev-trace.so dryrun\n", vdev_path=False).returncode == 0


def test_several_files_command_line_options_and_variables(run_qvm: RunQvm, tmp_path: Path) -> None:
    # `set` is qvm's typed configuration variables, not text macros (QvmConfig.define is)
    (tmp_path / "more.qvmconf").write_text("vdev trace name tr1 loc 0x3000 set debug off\n")
    run = run_qvm(
        "system s1\nset exit-on-halt off\nset slog-buffer 8K\n",
        "@more.qvmconf",
        "tick",
        "0",
        "set",
        "counter-offset",
        "0",
        "dryrun",
    )
    assert run.returncode == 0, run.stderr
    assert "ctrl OPTION index=0 name=tick arg=0" in run.trace_ctrls("tr1")


def test_vff_mutex_vdevs_get_per_instance_state_and_timers(run_qvm: RunQvm) -> None:
    # a periodic guest timer (20 ms) re-armed from its callback's tdp, read back by the guest
    run = run_qvm("vdev trace loc 0x1000 tick 0 timer 20\n", script="sleep 210\nread 0x1014 4\nshutdown\n")
    assert run.returncode == 0, run.stderr
    fires = int(run.stdout.split(": ")[1], 16)
    # on qvm's clock: never more than one per 20 ms of the guest's life (the read comes before the
    # shutdown); when the 210 ms sleep was not overrun by a loaded host, the expected 8 to 11
    started = stamp(run.one(r"^guest started", source="qvm"))
    shutdown = stamp(run.one(r"^guest requested shutdown$", source="qvm"))
    assert 1 <= fires <= (shutdown - started) / 0.020 + 1, run.stderr
    if shutdown - started < 0.210 + 0.020:
        assert 8 <= fires <= 11, run.stdout


def test_env_file_describes_the_running_vm(start_qvm: StartQvm, tmp_path: Path) -> None:
    q = start_qvm(
        "system envy\nram 0x80000000,64M\nvdev trace name t0 loc 0x1000 intr gic:33 tick 0\n",
        env={"QVMSIM_ENV_DIR": str(tmp_path / "devqvm")},
    )
    q.wait_for("guest started")
    env = json.loads((tmp_path / "devqvm" / "envy" / "env").read_text())
    assert env["qvmsim"] is True and env["system"] == "envy" and env["ram"] == 64 << 20
    assert env["vdevs"] == [{"name": "t0", "vdev": "trace", "loc": "0x1000", "length": 4096, "intr": "gic:33"}]
    q.signal(signal.SIGTERM)
    assert q.finish().returncode == 0
    assert not (tmp_path / "devqvm" / "envy" / "env").exists()
