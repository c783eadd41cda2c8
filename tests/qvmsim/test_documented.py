"""qvm behaviour as QNX's 8.0 User's Guide documents it (issue 8 item 4): loggers,
per-vdev log, unsupported, set, dump, the power button, dryrun, pass and safety.
The page behind each behaviour is cited in qvm/qvmsim-choices.h and BEHAVIOUR.md."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.qvmsim import QvmProc, RunQvm, log_lines, stamp

TRACE = "vdev trace loc 0x1000 tick 0\n"
STRAY = "write 0x9000 4 1\nshutdown\n"  # one ERROR line from qvm
StartQvm = Callable[..., QvmProc]


# --- logger and log ---------------------------------------------------------------


def test_loggers_add_up_one_destination_each(run_qvm: RunQvm) -> None:
    run = run_qvm("logger error stdout\nlogger error,info stderr\n" + TRACE, script=STRAY)
    assert run.returncode == 0, run.stderr
    assert [(ln.level, ln.message) for ln in log_lines(run.stdout)] == [
        ("ERROR", "guest store of 4 byte(s) at 0x9000 outside any vdev region")
    ]
    assert {ln.level for ln in run.log} == {"ERROR", "INFO"}
    assert run.one("outside any vdev region", level="ERROR")


def test_an_explicit_logger_replaces_the_default(run_qvm: RunQvm) -> None:
    run = run_qvm("logger error slog\n" + TRACE, script=STRAY)
    assert run.returncode == 0 and run.stderr == "" and run.stdout == ""


def test_log_accepts_warning_and_the_rightmost_destination_wins(run_qvm: RunQvm) -> None:
    # trace's INFO lines: named by both `log` options, the rightmost (stderr) wins
    conf = "logger error stderr\nvdev trace loc 0x1000 tick 0 log warning,info stdout log info stderr\n"
    run = run_qvm(conf, script=STRAY)
    assert run.returncode == 0, run.stderr
    assert list(log_lines(run.stdout)) == []
    assert run.one(r"^ctrl OPTIONS_START$", source="trace", level="INFO")
    # `warn` and `warning` are one filter, in `logger` too
    run = run_qvm("logger warning,error stdout\n" + TRACE, script=STRAY)
    assert run.returncode == 0 and [ln.level for ln in log_lines(run.stdout)] == ["ERROR"]


# --- unsupported --------------------------------------------------------------------


def test_unsupported_reference_default_ignore_reads_all_ones(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE + "unsupported reference ignore\n", script="read 0x9000 4\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "0x9000: 0xffffffff\n"


def test_unsupported_reference_fail_gives_the_guest_an_exception(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE + "unsupported reference fail\n", script="read 0x9000 4\nwrite 0x9000 4 1\nshutdown\n")
    assert run.returncode == 0, run.stderr
    assert run.stdout == "0x9000: exception\n"
    assert (
        len(
            run.find(
                r"outside any vdev region: unsupported reference fail: the guest gets a CPU exception$",
                source="qvm",
                level="ERROR",
            )
        )
        == 2
    )


def test_unsupported_reference_abort_shows_the_guest_state_and_exits_5(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE + "unsupported reference abort\n", script="write 0x1000 4 1\nread 0x9000 4\nshutdown\n")
    assert run.returncode == 5, run.stderr
    assert run.one(r"outside any vdev region: unsupported reference abort: terminating$", level="ERROR")
    assert run.one(r"^status: guest running, script line 2 of 3, ", source="qvm", level="INFO")
    assert run.one(r"^guest terminated: cause=5 name=GTC_UNSUPPORTED ")


@pytest.mark.parametrize("kind", ["instruction", "register"])
@pytest.mark.parametrize("action", ["abort", "fail", "ignore"])
def test_unsupported_instruction_and_register_are_accepted(run_qvm: RunQvm, kind: str, action: str) -> None:
    run = run_qvm(f"logger fatal,error,info,debug stderr\nunsupported {kind} {action}\n" + TRACE, "dryrun")
    assert run.returncode == 0, run.stderr
    assert run.one(rf"^cfg\.qvmconf:2: unsupported {kind} {action}: accepted, no effect in qvmsim", level="DEBUG")


# --- set ------------------------------------------------------------------------------


def test_set_lists_its_variables(qvm_bin: Path) -> None:
    done = subprocess.run([str(qvm_bin), "set", "?"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "allowed set variables"
    assert re.fullmatch(r" {4}exit-on-halt +\(boolean, global\)", lines[3]), lines
    assert any(re.fullmatch(r" {4}debug +\(boolean, vdev\)", line) for line in lines)


@pytest.mark.parametrize(
    "setting",
    [
        "set exit-on-halt off",
        "set counter-offset 0xffffffffffffffff",
        "set slog-buffer 0d16384",
        "set fdt-dump-file /tmp/fdt.dtb",
        "set posted-interrupts TRUE",
        "set message-block-timeout 200",
    ],
)
def test_set_documented_variables(run_qvm: RunQvm, setting: str) -> None:
    run = run_qvm(f"logger fatal,error,info,debug stderr\n{setting}\n" + TRACE, "dryrun")
    assert run.returncode == 0, run.stderr
    assert run.one(rf"^cfg\.qvmconf:2: {setting}: accepted, no effect in qvmsim$", level="DEBUG")


def test_set_debug_off_leaves_a_vdev_out_of_the_status_report(start_qvm: StartQvm) -> None:
    q = start_qvm("vdev trace name quiet loc 0x1000 tick 0 set debug off\nvdev trace name loud loc 0x2000 tick 0\n")
    q.wait_for("guest started")
    q.signal(signal.SIGUSR1)
    q.wait_for(r"loud: ctrl STATUS")
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0, run.stderr
    assert "ctrl STATUS" not in run.trace_ctrls("quiet")
    assert run.one(r"^ticks=", source="loud", level="INFO")


# --- dump ---------------------------------------------------------------------------


def test_dumps_in_one_second_get_unique_names(start_qvm: StartQvm, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    now = time.time()
    taken = set()
    for second in range(-1, 30):  # the plain name of every second qvm could pick is taken
        name = f"qvm-guest-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now + second))}.gcore"
        (dumps / name).write_text("taken\n")
        taken.add(name)
    q = start_qvm(f"dump {dumps}\n" + TRACE)  # no `system`: the prefix is qvm-guest
    q.wait_for("guest started")
    for n in (1, 2):  # one at a time: signals sent together may merge into one
        q.signal(signal.SIGUSR2)
        deadline = time.monotonic() + 5
        while len(list(dumps.iterdir())) < len(taken) + n and time.monotonic() < deadline:
            time.sleep(0.01)
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0, run.stderr
    new = sorted(p.name for p in dumps.iterdir() if p.name not in taken)
    assert len(new) == 2 and all(re.fullmatch(r"qvm-guest-\d{8}-\d{6}-[12]\.gcore", n) for n in new), new
    assert all((dumps / n).read_text() == "taken\n" for n in taken)  # nothing overwritten
    assert sorted(ln.message.split()[3].rsplit("/", 1)[1] for ln in run.find(r"^guest dump written: ")) == new


def test_no_unique_name_means_no_dump(start_qvm: StartQvm, tmp_path: Path) -> None:
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    now = time.time()
    for second in range(-1, 30):  # every name qvm could pick in the next half minute
        stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now + second))
        for n in ["", *(f"-{k}" for k in range(1, 10))]:
            (dumps / f"full-{stamp}{n}.gcore").write_text("taken\n")
    before = len(list(dumps.iterdir()))
    q = start_qvm(f"system full\ndump {dumps}\n" + TRACE)
    q.wait_for("guest started")
    q.signal(signal.SIGUSR2)
    q.wait_for("no dump written")
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.one(
        r"^guest dump \(SIGUSR2\): .*/full-\d{8}-\d{6}\.gcore and its -1 to -9 variants all exist: "
        r"no dump written$",
        level="ERROR",
    )
    assert len(list(dumps.iterdir())) == before


def test_dump_pipes_to_a_shell_command(start_qvm: StartQvm, tmp_path: Path) -> None:
    out = tmp_path / "piped.txt"
    q = start_qvm(f'system pipey\ndump "|cat > {out}; echo done >> {out}"\n' + TRACE)
    q.wait_for("guest started")
    q.signal(signal.SIGUSR2)
    q.wait_for("guest dump piped to")
    deadline = time.monotonic() + 5
    while not (out.exists() and out.read_text().endswith("done\n")) and time.monotonic() < deadline:
        time.sleep(0.02)
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0, run.stderr
    assert run.one(
        rf"^guest dump piped to 'cat > {re.escape(str(out))}; echo done >> {re.escape(str(out))}' "
        r"\(SIGUSR2\)$",
        source="qvm",
        level="INFO",
    )
    text = out.read_text()
    assert text.startswith("qvmsim guest dump (text, not QNX's ELF64 core") and "system: pipey" in text
    assert "trace: ticks=" in text and text.endswith("done\n")


# --- the power button --------------------------------------------------------------


def test_power_button_runs_handlers_then_shuts_down(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE, script="on button print bye\non button sleep 200\non button print later\nprint armed\n")
    q.wait_for_out("armed")  # the script ran its three 'on button' lines (one per step) before the press
    q.signal(signal.SIGTERM)
    run = q.finish()
    assert run.returncode == 0, run.stderr
    assert run.stdout == "armed\nbye\nlater\n"
    pressed = run.one(
        r"^power button pressed \(SIGTERM\): VDEV_CTRL_BUTTON to every vdev, the guest is asked "
        r"to shut down$",
        source="qvm",
        level="INFO",
    )
    assert run.one(r"^guest: power button: running 3 'on button' command\(s\), then shutting down$")
    down = run.one(r"^guest shuts down \(power button\)$", source="qvm", level="INFO")
    assert 0.19 <= stamp(down) - stamp(pressed) <= 1.5, (pressed, down)  # the handler's sleep, on qvmsim's clock
    assert run.trace_ctrls()[-2:] == ["ctrl BUTTON", "ctrl TERMINATE"]
    assert run.one(r"^guest terminated: cause=0 name=GTC_NORMAL_EXIT ")


def test_a_guest_that_ignores_the_button_keeps_running_until_pressed_again(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE, script="ignore button\non button print ignoring\nprint armed\n")
    q.wait_for_out("armed")
    q.signal(signal.SIGTERM)
    q.wait_for("ignores the power button and keeps running")
    q.wait_for_out("ignoring")
    time.sleep(0.3)
    assert q.proc.poll() is None
    q.signal(signal.SIGINT)
    run = q.finish()
    assert run.returncode == 3, run.stderr
    assert run.one(r"^power button pressed again \(SIGINT\) before the guest shut down: forced off \(power cut\)$")
    assert run.one(r"^guest terminated: cause=3 name=GTC_POWER_CUT ")
    assert run.trace_ctrls().count("ctrl BUTTON") == 1


def test_sigquit_ends_a_guest_that_ignores_the_button(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE, script="ignore button\nprint ignoring\n")
    q.wait_for_out("ignoring")  # the script has run its 'ignore button' (not only started: a loaded host lags)
    q.signal(signal.SIGTERM)
    q.wait_for("ignores the power button")
    q.signal(signal.SIGQUIT)
    assert q.finish().returncode == 3


def test_a_crashed_guest_cannot_react_to_the_button(start_qvm: StartQvm) -> None:
    q = start_qvm(TRACE, script="crash\n")
    q.wait_for("guest crashed")
    q.signal(signal.SIGTERM)
    q.wait_for("has crashed: it cannot react to the power button")
    q.signal(signal.SIGTERM)
    assert q.finish().returncode == 3


def test_on_button_syntax_errors(run_qvm: RunQvm) -> None:
    for script, pattern in [
        ("on button\n", r"'on button' needs a command"),
        ("on click print x\n", r"'on' needs 'button'"),
        ("on button every 10 kick\n", r"'every 10 kick' cannot be the command of 'on button'"),
        ("ignore button now\n", r"unexpected 'now' after 'ignore'"),
    ]:
        run = run_qvm(TRACE, script=script, timeout=5)
        assert run.returncode == 65, (script, run.stderr)
        assert run.one(r"^guest\.gs:1: " + pattern, level="FATAL")


# --- dryrun, pass, safety --------------------------------------------------------------


def test_dryrun_prints_the_documented_message(run_qvm: RunQvm) -> None:
    run = run_qvm(TRACE, "dryrun")
    assert run.returncode == 0, run.stderr
    assert run.one(r"^Exiting: dryrun completed$", source="qvm", level="INFO")
    assert "ctrl GUEST_STARTING" not in run.trace_ctrls()


def test_pass_and_safety_are_parsed_with_no_effect(run_qvm: RunQvm) -> None:
    conf = (
        "logger fatal,error,info,debug stderr\nsafety warn\n"
        "pass loc mem:0x80000000,0x1000,rw=0x40000000 intr gic:40\n" + TRACE
    )
    run = run_qvm(conf, "dryrun")
    assert run.returncode == 0, run.stderr
    assert run.one(r"^cfg\.qvmconf:2: safety warn: accepted, no effect in qvmsim", level="DEBUG")
    assert run.one(r"^cfg\.qvmconf:3: pass loc mem:0x80000000,0x1000,rw=0x40000000: accepted, no effect", level="DEBUG")
    assert run.one(r"^cfg\.qvmconf:3: pass intr gic:40: accepted, no effect", level="DEBUG")
