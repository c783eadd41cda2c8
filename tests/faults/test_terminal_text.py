"""Target and vdev text never drives the reader's terminal (issue 22.12): OSC 52 clipboard writes,
OSC 0 titles, screen clears, C1 controls and bidi overrides printed by the guest reach neither the
terminal (pytest's output), nor summary.txt, nor the JUnit report raw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

#: What a hostile or broken guest prints: a clipboard write, a title, a screen clear, a C1 CSI, a bidi
#: override.
NASTY = "\x1b]52;c;ZXZpbA==\x07 \x1b]0;owned\x1b\\ \x1b[2J\x1b[H \x9b31m \u202eexe.txt"
RAW = ("\x1b", "\x9b", "\x9d", "\u202e", "\x07")

INNER = f"""
import pytest
from hil.core.errors import InfrastructureError
from hil.qvm import QvmConfig

NASTY = {NASTY!r}


def test_guest_text_in_an_assertion(hil_qvm):
    with hil_qvm.start(QvmConfig("vm"), timeout=30) as session:
        session.send("print " + NASTY)
        session.wait_stdout("exe", timeout=10)
        session.wait_stdout("never printed", timeout=0.5)


def test_target_text_in_an_infrastructure_cause(hil_target):
    raise InfrastructureError("board leased by " + NASTY)  # e.g. a lease's owner line
"""


def test_escape_sequences_from_the_target_are_neutralised(tmp_path: Path) -> None:
    (tmp_path / "test_nasty.py").write_text(INNER)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path / "test_nasty.py"),
         "--hil-target", "local", "--hil-artifacts", str(out / "artifacts"), "--hil-junit", str(out / "junit.xml"),
         "--hil-summary", str(out / "summary.txt"), "--color", "no"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-3000:]
    terminal = done.stdout + done.stderr
    assert "exe.txt" in terminal and "owned" not in terminal.replace("board leased by", "")
    assert "\\u202eexe.txt" in terminal  # shown as an escape: visible, not acted on
    for name, text in (
        ("terminal", terminal),
        ("summary.txt", (out / "summary.txt").read_text()),
        ("junit.xml", (out / "junit.xml").read_text()),
    ):
        found = [c for c in RAW if c in text]
        assert not found, f"{name} has {found!r}"
    assert "board leased by" in (out / "summary.txt").read_text()


def test_terminal_safe_keeps_text_and_neutralises_controls() -> None:
    from hil.core.text import terminal_safe

    assert terminal_safe("plain text, héllo ✓\n\tnext") == "plain text, héllo ✓\n\tnext"
    assert terminal_safe("a\x1b]52;c;ZXZpbA==\x07b") == "ab"
    assert terminal_safe("t\x1b]0;title\x1b\\x") == "tx"
    assert terminal_safe("\x1b[2J\x1b[Hclear \x9b31mred") == "clear red"
    assert terminal_safe("bidi \u202egnp.exe") == "bidi \\u202egnp.exe"
    assert terminal_safe("cr\rover nul\x00 lone\x1b") == "cr\\x0dover nul\\x00 lone\\x1b"
    assert terminal_safe("crlf\r\n") == "crlf\n"
