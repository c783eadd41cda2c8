"""Running qvmsim in tests: a finished run (``QvmRun``), a running one (``QvmProc``),
the ``run``/``start`` helpers behind the qvmsim fixtures, and the vdev builds.

qvm's log is parsed by the product's parser, ``hil.qvm.log``; a run's ``log``
holds the lines in qvmsim's format (``<sec>.<usec> <LEVEL> <source>: <message>``),
other stderr text (a crash message, a guest's raw output) is left out.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from hil.qvm.log import LEVELS, LogLine, QvmLog, parse_log
from hil.targets.toolchain import Toolchain, build_vdev
from tests.support.paths import FAULTY_VDEVS, TARGET_VDEVS

__all__ = [
    "LogLine",
    "QvmLog",
    "QvmProc",
    "QvmRun",
    "RunQvm",
    "StartQvm",
    "build_probe_vdev",
    "build_target_vdevs",
    "log_lines",
    "qvm_env",
    "run_qvm",
    "stamp",
    "start_qvm",
]

#: The vdevs the qvmsim tests load by name (from a ``-L`` folder).
TARGET_VDEV_DIRS = (
    TARGET_VDEVS / "wdog",
    TARGET_VDEVS / "trace",
    FAULTY_VDEVS / "badabi",
    TARGET_VDEVS / "vecho",
)


def stamp(line: LogLine) -> float:
    """``line.time``, asserted present: qvmsim stamps every line it writes (seconds, CLOCK_MONOTONIC)."""
    assert line.time is not None, f"log line without a timestamp: {line.raw!r}"
    return line.time


def log_lines(text: str) -> QvmLog:
    """The well-formed qvmsim log lines of ``text`` (every line with a level); other lines are left out."""
    return parse_log(text).at_level(*LEVELS)


@dataclass
class QvmRun:
    """A finished qvm run."""

    returncode: int
    stdout: str
    stderr: str
    args: list[str] = field(default_factory=list)

    @property
    def log(self) -> QvmLog:
        """qvm's log lines (stderr)."""
        return log_lines(self.stderr)

    def _scope(self, source: str | None, level: str | None) -> QvmLog:
        log = self.log
        if source is not None:
            log = log.by_source(source)
        if level is not None:
            log = log.at_level(level)
        return log

    def find(self, pattern: str, source: str | None = None, level: str | None = None) -> list[LogLine]:
        """Log lines (stderr) whose message matches ``pattern`` (re.search), of ``source``/``level`` if given."""
        return self._scope(source, level).find_all(pattern)

    def one(self, pattern: str, source: str | None = None, level: str | None = None) -> LogLine:
        """The first line ``find`` returns; an AssertionError with a log excerpt when there is none."""
        found = self.find(pattern, source, level)
        if not found:
            self.log.expect(pattern, source=source, level=level)  # raises, showing the pattern and the log
        return found[0]

    def trace_ctrls(self, source: str = "trace") -> list[str]:
        """The ``ctrl ...`` messages a trace vdev instance logged, in order."""
        return [line.message for line in self.log.by_source(source).matching(r"^ctrl ")]


class QvmProc:
    """A running qvm whose stderr is collected by a thread, for signal tests."""

    def __init__(
        self, args: list[str], cwd: Path, stdin: int | None = subprocess.DEVNULL, env: dict[str, str] | None = None
    ) -> None:
        self.args = args
        self.proc = subprocess.Popen(
            args, cwd=cwd, stdin=stdin, env=env, stdout=subprocess.PIPE, bufsize=1, stderr=subprocess.PIPE, text=True
        )
        self._err: list[str] = []
        self._out: list[str] = []
        self._cv = threading.Condition()
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stderr, self._err), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stdout, self._out), daemon=True),
        ]
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
                    raise AssertionError(
                        f"no line matching {pattern!r} within {timeout}s (exited: {exited}):\n{''.join(self._err)}"
                    )
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


#: ``run_qvm(conf_text, *extra_args, script=..., stdin=..., timeout=..., env=..., vdev_path=...)``
RunQvm = Callable[..., QvmRun]
#: ``start_qvm(conf_text, *extra_args, script=..., stdin_pipe=..., env=...)``
StartQvm = Callable[..., QvmProc]


def build_target_vdevs(out: Path) -> Path:
    """Build vdev-wdog.so, vdev-trace.so, vdev-badabi.so and vdev-vecho.so (target_vdevs/) into ``out``."""
    for folder in TARGET_VDEV_DIRS:
        build_vdev(folder, out_dir=out)
    return out


def build_probe_vdev(out: Path) -> Path:
    """vdev-probe.so (target_vdevs/probe), warnings as errors, into ``out``; its path."""
    return build_vdev(TARGET_VDEVS / "probe", Toolchain(cflags=("-Werror",)), out_dir=out).path


def qvm_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without QVMSIM_VDEV_PATH, updated with ``env``."""
    full_env = dict(os.environ)
    full_env.pop("QVMSIM_VDEV_PATH", None)
    full_env.update(env or {})
    return full_env


def _write_inputs(cwd: Path, conf_text: str | None, script: str | None) -> list[str]:
    args: list[str] = []
    if conf_text is not None:
        (cwd / "cfg.qvmconf").write_text(conf_text)
        args.append("@cfg.qvmconf")
    if script is not None:
        (cwd / "guest.gs").write_text(script)
        args += ["load", "guest.gs"]
    return args


def run_qvm(
    qvm_bin: Path,
    vdev_dir: Path,
    cwd: Path,
    conf_text: str | None = None,
    *extra: str,
    script: str | None = None,
    stdin: str | None = None,
    timeout: float = 10.0,
    env: dict[str, str] | None = None,
    vdev_path: bool = True,
) -> QvmRun:
    """Run qvm in ``cwd`` to completion.

    ``conf_text`` goes to ``cwd/cfg.qvmconf`` (passed as ``@cfg.qvmconf``,
    relative, so errors name ``cfg.qvmconf``); ``script`` to ``guest.gs`` and is
    loaded with ``load guest.gs``; ``vdev_path``: pass ``-L vdev_dir``.
    """
    args = [str(qvm_bin)]
    if vdev_path:
        args += ["-L", str(vdev_dir)]
    args += _write_inputs(cwd, conf_text, script)
    args += list(extra)
    proc = subprocess.run(
        args,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=qvm_env(env),
        stdin=subprocess.DEVNULL if stdin is None else None,
    )
    return QvmRun(proc.returncode, proc.stdout, proc.stderr, args)


def start_qvm(
    qvm_bin: Path,
    vdev_dir: Path,
    cwd: Path,
    conf_text: str,
    *extra: str,
    script: str | None = None,
    stdin_pipe: bool = False,
    env: dict[str, str] | None = None,
) -> QvmProc:
    """Start qvm in ``cwd`` in the background (inputs as for ``run_qvm``); the caller kills it."""
    args = [str(qvm_bin), "-L", str(vdev_dir), *_write_inputs(cwd, conf_text, script), *extra]
    return QvmProc(args, cwd, stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL, env=qvm_env(env))
