"""Fixtures for qvmsim's tests: qvmsim and the target vdevs built once per session,
and helpers that run ``qvm`` and parse its log lines."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

from hil.targets.sdk import build_qvmsim
from hil.targets.toolchain import build_vdev

REPO = Path(__file__).resolve().parents[2]
TARGET_VDEVS = REPO / "target_vdevs"
FIXTURES = REPO / "fixtures"
TEST_VDEVS = Path(__file__).resolve().parent / "vdevs"

LOG_RE = re.compile(r"^(\d+)\.(\d{6}) (FATAL|INTERNAL|ERROR|WARN|INFO|DEBUG|VERBOSE) (\S+): (.*)$")


@dataclass(frozen=True)
class LogLine:
    """One qvmsim log line: time (s, qvmsim's CLOCK_MONOTONIC), level, source, message."""

    t: float
    level: str
    source: str
    message: str


def parse_log(text: str) -> list[LogLine]:
    """Every well-formed log line of ``text``; other lines are ignored."""
    out = []
    for line in text.splitlines():
        m = LOG_RE.match(line)
        if m:
            out.append(LogLine(int(m[1]) + int(m[2]) / 1e6, m[3], m[4], m[5]))
    return out


@dataclass
class QvmRun:
    """A finished qvm run."""

    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)

    @property
    def log(self) -> list[LogLine]:
        return parse_log(self.stderr)

    def find(self, pattern: str, source: str | None = None, level: str | None = None) -> list[LogLine]:
        """Log lines (stderr) whose message matches ``pattern`` (re.search)."""
        rx = re.compile(pattern)
        return [line for line in self.log
                if rx.search(line.message) and (source is None or line.source == source)
                and (level is None or line.level == level)]

    def one(self, pattern: str, source: str | None = None, level: str | None = None) -> LogLine:
        found = self.find(pattern, source, level)
        assert found, f"no log line matching {pattern!r} (source={source}, level={level}) in:\n{self.stderr}"
        return found[0]

    def trace_ctrls(self, source: str = "trace") -> list[str]:
        return [line.message for line in self.log if line.source == source and line.message.startswith("ctrl ")]


class QvmProc:
    """A running qvm whose stderr is collected by a thread, for signal tests."""

    def __init__(self, args: list[str], cwd: Path, stdin: int | None = subprocess.DEVNULL,
                 env: dict[str, str] | None = None) -> None:
        self.args = args
        self.proc = subprocess.Popen(args, cwd=cwd, stdin=stdin, env=env, stdout=subprocess.PIPE, bufsize=1,
                                     stderr=subprocess.PIPE, text=True)
        self._err: list[str] = []
        self._out: list[str] = []
        self._cv = threading.Condition()
        self._threads = [threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
                         threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True)]
        for t in self._threads:
            t.start()

    def _pump(self, stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            with self._cv:
                sink.append(line)
                self._cv.notify_all()

    def wait_for(self, pattern: str, timeout: float = 5.0) -> None:
        """Wait until a stderr line matches ``pattern``."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self._cv:
            while not any(rx.search(line) for line in self._err):
                left = end - time.monotonic()
                exited = self.proc.poll() is not None
                if left <= 0 or exited:
                    if exited:
                        self._cv.wait(0.2)  # let the pump deliver the last lines
                        if any(rx.search(line) for line in self._err):
                            return
                    raise AssertionError(f"no line matching {pattern!r} within {timeout}s "
                                         f"(exited: {exited}):\n{''.join(self._err)}")
                self._cv.wait(min(left, 0.05))

    def wait_for_out(self, pattern: str, timeout: float = 5.0) -> None:
        """Wait until a stdout (guest console) line matches ``pattern``."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        with self._cv:
            while not any(rx.search(line) for line in self._out):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no stdout line matching {pattern!r}:\n{''.join(self._out)}")
                self._cv.wait(min(left, 0.05))

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def finish(self, timeout: float = 10.0) -> QvmRun:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        for t in self._threads:
            t.join(5)
        return QvmRun(rc, "".join(self._out), "".join(self._err), self.args)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="session")
def qvm_bin() -> Path:
    """The host qvmsim executable (built once, cached by source hash)."""
    return build_qvmsim()


@pytest.fixture(scope="session")
def vdev_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding vdev-wdog.so, vdev-trace.so and vdev-badabi.so built from target_vdevs/."""
    out = tmp_path_factory.mktemp("vdevs")
    for name in ("wdog", "trace", "badabi"):
        build_vdev(TARGET_VDEVS / name, out_dir=out)
    return out


@pytest.fixture(scope="session")
def probe_so(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """vdev-probe.so (tests/qvmsim/vdevs/probe): timers, interrupts, guest RAM, pulses.
    Load it with ``vdev {probe_so}``: its instance is named ``probe``."""
    out = tmp_path_factory.mktemp("probe")
    from hil.targets.toolchain import Toolchain
    return build_vdev(TEST_VDEVS / "probe", Toolchain(cflags=("-Werror",)), out_dir=out).path


RunQvm = Callable[..., QvmRun]


@pytest.fixture
def run_qvm(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> RunQvm:
    """Run qvm to completion: ``run_qvm(conf_text, *extra_args, script=..., stdin=..., timeout=...)``.

    ``conf_text`` goes to ``tmp_path/cfg.qvmconf`` (passed as ``@cfg.qvmconf``,
    relative, so errors name ``cfg.qvmconf``); ``script`` to ``guest.gs`` and is
    loaded with ``load guest.gs``.
    """

    def run(conf_text: str | None = None, *extra: str, script: str | None = None, stdin: str | None = None,
            timeout: float = 10.0, env: dict[str, str] | None = None, vdev_path: bool = True) -> QvmRun:
        args = [str(qvm_bin)]
        if vdev_path:
            args += ["-L", str(vdev_dir)]
        if conf_text is not None:
            (tmp_path / "cfg.qvmconf").write_text(conf_text)
            args.append("@cfg.qvmconf")
        if script is not None:
            (tmp_path / "guest.gs").write_text(script)
            args += ["load", "guest.gs"]
        args += list(extra)
        full_env = dict(os.environ)
        full_env.pop("QVMSIM_VDEV_PATH", None)
        if env:
            full_env.update(env)
        proc = subprocess.run(args, cwd=tmp_path, input=stdin, capture_output=True, text=True,
                              timeout=timeout, env=full_env,
                              stdin=subprocess.DEVNULL if stdin is None else None)
        return QvmRun(proc.returncode, proc.stdout, proc.stderr, args)

    return run


@pytest.fixture
def start_qvm(qvm_bin: Path, vdev_dir: Path, tmp_path: Path) -> Iterator[Callable[..., QvmProc]]:
    """Start qvm in the background: ``start_qvm(conf_text, *extra, script=...)`` -> QvmProc."""
    procs: list[QvmProc] = []

    def start(conf_text: str, *extra: str, script: str | None = None, stdin_pipe: bool = False,
              env: dict[str, str] | None = None) -> QvmProc:
        (tmp_path / "cfg.qvmconf").write_text(conf_text)
        args = [str(qvm_bin), "-L", str(vdev_dir), "@cfg.qvmconf"]
        if script is not None:
            (tmp_path / "guest.gs").write_text(script)
            args += ["load", "guest.gs"]
        full_env = dict(os.environ)
        full_env.pop("QVMSIM_VDEV_PATH", None)
        full_env.update(env or {})
        p = QvmProc(args + list(extra), tmp_path, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                    env=full_env)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.kill()
