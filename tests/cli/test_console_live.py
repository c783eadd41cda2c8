"""``--hil-console-live``: the running test's streams reach the terminal while it runs (checked through a pty)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from hil.pytestplugin.live import LINE_LIMIT, LiveView, wants_markup

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

LIVE_TESTS = """
import time
from pathlib import Path
from hil.qvm import QvmConfig

def test_live(hil_qvm, hil_vdev):
    trace = hil_vdev("target_vdevs/trace")
    with hil_qvm.start(QvmConfig("vm").vdev(trace, loc=0x1c100000), timeout=300) as vm:
        vm.send("print hello-live-guest")
        vm.wait_stdout("hello-live-guest", 30)
        print("captured-by-pytest")
        release = Path({release!r})
        end = time.monotonic() + 240
        while not release.exists() and time.monotonic() < end:   # the outer test releases it
            time.sleep(0.05)
        assert release.exists(), "never released"
        vm.send("print after-release")
        vm.wait_stdout("after-release", 30)
"""

SERIAL_TESTS = """
import time
from pathlib import Path
import pytest

@pytest.mark.hil_kinds("qemu")
def test_serial_live(hil_console):
    hil_console.sendline("echo live-serial-$((6*7))")
    hil_console.expect("live-serial-42", 30)
    release = Path({release!r})
    end = time.monotonic() + 240
    while not release.exists() and time.monotonic() < end:
        time.sleep(0.05)
    assert release.exists(), "never released"
"""


def _read_until(fd: int, buffer: bytearray, pattern: str, deadline: float) -> bool:
    """Read the pty into ``buffer`` until its text (colours stripped) matches ``pattern``, or EOF/deadline."""
    while time.monotonic() < deadline:
        if re.search(pattern, ANSI.sub("", buffer.decode("utf-8", "replace"))):
            return True
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: every writer of the pty is gone
                chunk = b""
            if not chunk:
                break
            buffer += chunk
    return bool(re.search(pattern, ANSI.sub("", buffer.decode("utf-8", "replace"))))


def _live_run(tmp_path: Path, tests: str, target: str, seen: str, *extra: str) -> tuple[str, bool]:
    """An inner pytest on a pty with --hil-console-live: (its terminal output, whether ``seen``
    appeared while its test was still held)."""
    release = tmp_path / "release"
    (tmp_path / "test_live_inner.py").write_text(tests.format(release=str(release)))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "PY_COLORS", "FORCE_COLOR")}
    env["TERM"] = "xterm"
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            str(tmp_path / "test_live_inner.py"),
            "--rootdir",
            str(ROOT),
            "-c",
            str(ROOT / "pyproject.toml"),
            "--hil-target",
            target,
            "--hil-artifacts",
            str(tmp_path / "a"),
            "--hil-console-live",
            *extra,
        ],
        cwd=ROOT,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    buffer = bytearray()
    try:
        found = _read_until(master, buffer, seen, time.monotonic() + 240)
        held = found and proc.poll() is None and not release.exists()
        release.write_text("go")
        _read_until(master, buffer, r"\d+ (passed|failed|error)", time.monotonic() + 240)
        _read_until(master, buffer, r"(?!x)x", time.monotonic() + 5)  # the rest, to EOF
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return buffer.decode("utf-8", "replace"), held


def test_live_console_streams_the_guest_while_the_test_runs(tmp_path: Path) -> None:
    raw, held = _live_run(tmp_path, LIVE_TESTS, "local", r"\[guest\] hello-live-guest")
    text = ANSI.sub("", raw)
    # the guest's line reached the terminal while the inner test was still blocked, not at its end
    assert held, text[-3000:]
    assert "1 passed" in text, text[-3000:]
    lines = text.replace("\r\n", "\n").split("\n")
    assert "[guest] hello-live-guest" in lines and "[guest] after-release" in lines
    assert any(line.startswith("[qvm] ") and "guest started" in line for line in lines), text[-3000:]
    assert "captured-by-pytest" not in text  # pytest's capture of the test's own output still works
    # coloured per stream on a terminal: guest green, qvm yellow
    assert "\x1b[1;32m[guest]" in raw and "\x1b[1;33m[qvm]" in raw


def test_live_console_under_xdist_goes_through_the_workers_stderr(tmp_path: Path) -> None:
    raw, held = _live_run(tmp_path, LIVE_TESTS, "local", r"\[gw0 guest\] hello-live-guest", "-n", "1")
    text = ANSI.sub("", raw)
    assert held, text[-3000:]
    assert "1 passed" in text, text[-3000:]


def test_live_console_streams_the_serial_console_on_qemu(tmp_path: Path) -> None:
    raw, held = _live_run(tmp_path, SERIAL_TESTS, "qemu", r"\[serial\] live-serial-42", "--color=no")
    text = ANSI.sub("", raw)
    assert held, text[-3000:]
    assert "1 passed" in text, text[-3000:]
    assert "\x1b[1;36m" not in raw  # --color=no
    # the guest shell's own terminal controls (its cursor query ESC[6n) never reach the terminal
    assert all("\x1b" not in line for line in raw.split("\n") if "[serial]" in line)


def test_lines_prefixes_and_colours(tmp_path: Path) -> None:
    read, write = os.pipe()
    view = LiveView(write, markup=False)
    view.qvm_tap("stdout", b"one\r\ntw")
    view.qvm_tap("stderr", b"1.0 INFO qvm: x\n")
    view.feed("serial", b"\x1b[6n\x1b[1;32mlogin:\x1b[0m \x07")
    view.qvm_tap("stdout", b"o\n")
    view.flush()
    coloured = LiveView(write, markup=True, tag="gw1 ")
    coloured.feed("serial qemu", b"boot\n")
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read().decode()
    assert out == (
        "[guest] one\n[qvm] 1.0 INFO qvm: x\n[guest] two\n[serial] login: \n"
        "\x1b[1;36m[gw1 serial qemu]\x1b[22m boot\x1b[0m\n"
    )


def test_colour_follows_pytest_rules() -> None:
    read, write = os.pipe()
    try:
        assert wants_markup("yes", write, {"NO_COLOR": "1"}) is True
        assert wants_markup("no", write, {"FORCE_COLOR": "1"}) is False
        assert wants_markup("auto", write, {"FORCE_COLOR": "1"}) is True
        assert wants_markup("auto", write, {"FORCE_COLOR": "1", "NO_COLOR": "1"}) is False
        assert wants_markup("auto", write, {"PY_COLORS": "1", "NO_COLOR": "1"}) is True
        assert wants_markup("auto", write, {}) is False  # a pipe is no terminal
    finally:
        os.close(read)
        os.close(write)


def test_a_long_line_without_newline_is_shown_bounded_and_costs_linear_work() -> None:
    """10 MB without a newline (then a newline and a short line): the view keeps at most LINE_LIMIT bytes of
    the unfinished line at any time (the work per chunk is bounded by the chunk and the limit, not by the line
    so far) and shows the line cut, sanitised, with how much was left out."""
    read, write = os.pipe()
    view = LiveView(write, markup=False)
    controls = b"\x1b]52;c;aGVsbG8=\x07\x1b[2J"  # a clipboard write and a clear screen
    chunk = controls + b"x" * (64 * 1024 - len(controls))
    total = 0
    out = bytearray()
    while total < 10_000_000:
        view.feed("serial", chunk)
        total += len(chunk)
        partial = view._partial["serial"]  # what the view holds is the behaviour under test
        assert len(partial.head) <= LINE_LIMIT
        assert partial.dropped == total - len(partial.head)
    view.feed("serial", b"\r\nnext line\n")
    view.close()
    with os.fdopen(read, "rb") as pipe:
        out += pipe.read()
    text = out.decode()
    lines = text.split("\n")
    assert lines[-1] == "" and lines[1] == "[serial] next line" and len(lines) == 3
    shown, note = lines[0].split(" [hil: ")
    assert shown == "[serial] " + "x" * (LINE_LIMIT - len(controls))  # the controls removed, the line cut
    assert note == f"{total + 1 - LINE_LIMIT} more bytes of this line in the console log]"  # + its "\r"
