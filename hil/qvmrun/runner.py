"""Running qvm on a target: one-shot runs and live sessions.

``QvmRunner.run`` starts ``qvm @conf`` in a deployment folder, waits for its
end and returns a ``QvmResult``.  ``QvmRunner.start`` returns a
``QvmSession`` to signal qvm, drive its guest, wait for log lines and wait for
the end.  A qvm that outlives its timeout is stopped by escalation (SIGTERM,
then SIGQUIT, then SIGKILL, each after a grace period) and reported as hung,
with the logs so far; no qvm is left running.

SIGTERM is the power button: qvm asks the guest to shut down and exits 0 once it
has; a guest that ignores the button keeps running (qvmsim: a guest script with
``ignore button``), so the escalation goes on to SIGQUIT, a power cut (exit 3).
``stop()`` is that sequence without the timeout: a guest that ignores the button
ends as ``Exit.POWER_CUT``, and only a qvm that needs SIGKILL is reported hung.
"""

from __future__ import annotations

import json
import re
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from hil.core import cancel
from hil.core.command import shell_command
from hil.core.errors import DeviceFailure, ExpectTimeout, InfrastructureError, SetupError, WaitTimeout
from hil.core.text import tail_lines
from hil.qvm.config import QvmConfig
from hil.qvm.crash import Crash, parse_crash
from hil.qvm.exitcodes import ExitTable
from hil.qvm.log import LogLine, QvmLog, parse_log
from hil.qvm.result import QvmResult
from hil.qvm.timeline import run_data
from hil.qvmrun.gates import Gates, sanitizer_reports
from hil.qvmrun.guest import GuestControl, guest_for
from hil.qvmrun.slog2 import collect as collect_slog2
from hil.qvmrun.slog2 import merge as merge_slog2
from hil.qvmrun.slog2 import slog2_wanted, start_snippet
from hil.qvmrun.symbols import symbolize, symbolize_report
from hil.targets.base import Process, Target
from hil.targets.deploy import Deployment, record_pid, setup_failure

if TYPE_CHECKING:
    from hil.links.console import Console

_T = TypeVar("_T")

#: A configuration up to this size is written by the command that starts qvm; a larger one is copied
#: into the deployment folder first (over SSH: through the copy's stdin), never put on a command line:
#: an SSH server may drop a long command (the public image's dropbear does over ~8.4 KB).
_INLINE_CONFIG_BYTES = 2 << 10


def _inline(config_text: str) -> bool:
    return len(config_text.encode()) <= _INLINE_CONFIG_BYTES


#: Grace periods of the hang escalation: (signal, seconds to wait after it).
ESCALATION: tuple[tuple[str, float], ...] = (("TERM", 2.0), ("QUIT", 2.0), ("KILL", 5.0))


def exit_table_for(target: Target) -> ExitTable:
    """The exit table with the target definition's overrides of the [inferred] rows."""
    overrides = target.definition.qvm.exit_overrides
    source = f"{target.definition.source}: [qvm] exit_overrides"
    return ExitTable.default().with_overrides(overrides, source=source) if overrides else ExitTable.default()


#: qvmsim's log line saying the guest started: every vdev is set up and a SIGTERM is the power button.
READY_LINE = b" qvm: guest started"

#: How much of each of qvm's streams (stdout, stderr) a session keeps in memory: the last bytes, cut
#: at a line start.  Everything goes to the run's artifact files as it arrives (``runN.guest.log``,
#: ``runN.qvm.log``), so a qvm printing gigabytes costs disk, not memory.
OUTPUT_TAIL_BYTES = 1 << 20


class _Stream:
    """One of qvm's streams: written whole to its artifact file as it arrives, its tail kept in memory."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path = path
        self.limit = limit
        self.tail = bytearray()
        #: bytes of the stream dropped from the front of ``tail`` (in the file only)
        self.dropped = 0
        #: characters (as decoded) of the dropped part: ``since`` offsets count from the stream's start
        self.dropped_chars = 0
        self._file: BinaryIO | None = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.error = ""

    def add(self, chunk: bytes) -> None:
        if self._file is not None:
            try:
                self._file.write(chunk)
            except OSError as exc:  # a full disk loses the file, never the run
                self.error = f"could not be written completely to {self.path}: {exc}"
                self._close_file()
        self.tail += chunk
        if len(self.tail) > 2 * self.limit:  # hysteresis: each byte moved O(1) times
            cut = len(self.tail) - self.limit
            newline = self.tail.find(b"\n", cut)
            cut = newline + 1 if 0 <= newline < cut + 4096 else cut
            self.dropped_chars += len(self.tail[:cut].decode("utf-8", "replace"))
            self.dropped += cut
            del self.tail[:cut]

    def text(self) -> str:
        return self.tail.decode("utf-8", "replace")

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError:
                pass

    def _close_file(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def close(self) -> None:
        self.flush()
        self._close_file()

    def note(self) -> str:
        """A line saying the text is a tail, '' when the whole stream is in memory."""
        if not self.dropped:
            return ""
        return f"[hil: the first {self.dropped} bytes are left out here; all of it: {self.path}]\n"


@dataclass
class _Output:
    """qvm's stdout and stderr as they stream in (bounded tails, whole in their files), with a
    condition to wait on."""

    stdout: _Stream
    stderr: _Stream
    cond: threading.Condition
    #: (host monotonic time, stderr length) after each stderr chunk: when each log line arrived
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    #: qvmsim logged ``guest started``: from then on a SIGTERM is the power button
    ready: bool = False
    _carry: bytes = b""

    def feed(self, stream: str, chunk: bytes) -> None:
        with self.cond:
            (self.stdout if stream == "stdout" else self.stderr).add(chunk)
            if stream != "stdout" and not self.ready:
                seen = self._carry + chunk
                self.ready = READY_LINE in seen
                self._carry = seen[-len(READY_LINE) :]
            if stream != "stdout":
                err = self.stderr
                self.arrivals.append((time.monotonic(), err.dropped + len(err.tail)))
                if len(self.arrivals) > 20000:  # only those of the kept tail matter (the timeline)
                    self.arrivals = [a for a in self.arrivals[-10000:] if a[1] > err.dropped]
            self.cond.notify_all()


class QvmEnded(DeviceFailure):
    """A command for the guest found qvm already ended (the test's vdev run ended: how is said)."""


class QvmSession:
    """A qvm running on a target, under the test's control."""

    def __init__(self, runner: QvmRunner, config_text: str, timeout: float) -> None:
        self.runner = runner
        self.config_text = config_text
        self.timeout = timeout
        self.started = time.monotonic()
        self._console_mark = runner.console.mark() if runner.console is not None else None
        self._files = runner.artifact_paths()  # this run's artifacts (its streams written as they arrive)
        self._output = _Output(
            _Stream(self._files["guest_console"], OUTPUT_TAIL_BYTES),
            _Stream(self._files["qvm_log"], OUTPUT_TAIL_BYTES),
            threading.Condition(),
        )
        self._result: QvmResult | None = None
        #: what the test did to qvm, on the host's monotonic clock: (time, "signal"|"stdin", detail)
        self.events: list[tuple[float, str, str]] = []
        d = runner.deployment
        # qvm's slog2 log (QNX targets; a `slog` destination): the start is stamped, read at the end
        self._slog2 = slog2_wanted(runner.target, config_text)
        stamp = f"{start_snippet()} && " if self._slog2 else ""
        conf = d.remote("run.qvmconf")
        libpath = shell_command([d.path])
        qvm, env = runner.gates.launch(runner.target, d)  # the sanitizer build with --hil-sanitize; [qvm] settings
        self.qvm = qvm  #: the qvm started (the target's, or the sanitizer build of qvmsim)
        argv = [qvm, "@" + conf]
        # the configuration is written by the command that starts qvm: no round trip of its own
        write = (
            f"[ ! -L run.qvmconf ] && {d.write_snippet('run.qvmconf', config_text)} && " if _inline(config_text) else ""
        )
        setup = d.take_setup()  # the folder and its files, when not made yet: one exchange with qvm's start
        command = (
            f"{setup}cd {libpath} && {write}{record_pid(argv)} && {stamp}"  # pid, start time, command line: see deploy
            f"{env}exec {shell_command(argv)}"
        )
        try:
            self.process: Process = runner.target.start(command, on_output=self._on_output)
        except BaseException:
            d.setup_done()
            for stream in (self._output.stdout, self._output.stderr):
                stream.close()
            raise
        runner.sessions.append(self)
        # qvm's end wakes every wait at once (a dryrun, a refused configuration end before "guest started")
        threading.Thread(target=self._notify_end, name="hil-qvm-end", daemon=True).start()
        self.guest: GuestControl = guest_for(runner.target, self)
        try:
            self._await_ready()
        except BaseException:  # cancelled (SIGTERM) or failed while qvm starts: it is not left running
            try:
                self.stop()
            except BaseException:  # noqa: BLE001, S110 - what ended the start is what gets reported
                pass
            raise
        finally:
            d.setup_done()  # the folder is made (or its set-up failed): other threads may use it

    def _await_ready(self) -> None:
        """Return once qvm is ready for the power button: its guest started (qvmsim's ``guest started``
        log line, after every vdev's set-up, BOOTUP and GUEST_STARTING), or qvm ended (a dryrun, a
        configuration error), or the session's timeout passed (its end then reports the hang).  On a
        QNX target (the real qvm, which prints no such line) it returns at once."""
        if self.runner.target.os.name == "qnx":
            return
        self._wait_for(lambda: True if self._output.ready else None, self.timeout)
        if self.process.poll() is not None:
            self.wait()  # ended already: a qvm that could not be started is a set-up error now, not later

    def _notify_end(self) -> None:
        try:
            self.process.wait(None)
        except BaseException:  # noqa: BLE001, S110 - whoever waits for the end meets the error itself
            pass
        with self._output.cond:
            self._output.cond.notify_all()

    def _on_output(self, stream: str, chunk: bytes) -> None:
        self._output.feed(stream, chunk)
        tap = self.runner.output_tap
        if tap is not None:  # a live view (pytest --hil-console-live): what it raises never stops the stream
            try:
                tap(stream, chunk)
            except Exception:  # noqa: BLE001, S110
                pass

    # -- driving qvm -------------------------------------------------------------

    def signal(self, sig: str | int) -> None:
        """Send a signal to qvm (``"TERM"``, ``"INT"``, ``"QUIT"``, ``"USR1"``, ``"USR2"``...)."""
        self.events.append((time.monotonic(), "signal", str(sig)))
        self.process.signal(self.runner.target.os.kill_spec(sig))  # in the target OS's numbering

    def send(self, line: str) -> None:
        """Write one line to qvm's standard input (qvmsim: the guest console).  When qvm has ended, its
        end is reported instead of a broken pipe: a qvm that could not be started is a ``SetupError``,
        one that ended is ``QvmEnded`` saying how."""
        self.events.append((time.monotonic(), "stdin", line))
        try:
            self.process.write_stdin(line.encode() + b"\n")
        except (BrokenPipeError, ValueError, OSError) as exc:
            if self.process.poll() is None and not isinstance(exc, BrokenPipeError):
                raise
            result = self.wait()  # a set-up error when qvm could not be started
            raise QvmEnded(
                f"qvm has ended ({result.reason.name}: exit {result.exit_status}, signal {result.signal}) "
                f"before the guest command {line!r}; see its log: {result.artifacts.get('qvm_log')}"
            ) from exc

    @property
    def log(self) -> QvmLog:
        """qvm's log (its stderr) so far: its last ``OUTPUT_TAIL_BYTES`` (all of it in ``runN.qvm.log``)."""
        with self._output.cond:
            return parse_log(self._output.stderr.text())

    @property
    def stdout(self) -> str:
        """The guest console (qvm's stdout) so far: all of it up to ``OUTPUT_TAIL_BYTES``, then its last
        ``OUTPUT_TAIL_BYTES`` (all of it in ``runN.guest.log``); ``stdout_end`` is its length from the start."""
        with self._output.cond:
            return self._output.stdout.text()

    @property
    def stdout_end(self) -> int:
        """Characters of guest console so far, from its start (a ``since`` for ``wait_stdout`` that sees
        only what comes next; the same as ``len(stdout)`` until the first bytes are dropped)."""
        with self._output.cond:
            return self._output.stdout.dropped_chars + len(self._output.stdout.text())

    def stdout_since(self, mark: int) -> str:
        """The guest console from offset ``mark`` (a ``stdout_end`` taken earlier) on, as far as it is kept."""
        with self._output.cond:
            out = self._output.stdout
            return out.text()[max(0, mark - out.dropped_chars) :]

    def wait_log(self, pattern: str, timeout: float = 10.0) -> LogLine:
        """Wait until a qvm log line (stderr) matches ``pattern``; return it."""
        __tracebackhide__ = True
        regex = re.compile(pattern)

        def found() -> LogLine | None:
            for line in parse_log(self._output.stderr.text()):
                if regex.search(line.message) or regex.search(line.raw):
                    return line
            return None

        line = self._wait_for(found, timeout)
        if line is None:
            raise ExpectTimeout(
                self._not_seen(
                    f"no qvm log line matches /{pattern}/",
                    timeout,
                    "qvm log",
                    self._output.stderr,
                    self._files["qvm_log"],
                )
            )
        return line

    def wait_stdout(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        """Wait until the guest console (qvm's stdout) matches ``pattern``; return the match.

        ``since``: only text from that offset of the guest console on, counted from its start (e.g.
        ``session.stdout_end``, or ``len(session.stdout)`` while under ``OUTPUT_TAIL_BYTES``, taken before
        sending a command, to see only its answer); match offsets are within the kept tail."""
        __tracebackhide__ = True
        regex = re.compile(pattern)
        out = self._output.stdout
        match = self._wait_for(lambda: regex.search(out.text(), max(0, since - out.dropped_chars)), timeout)
        if match is None:
            raise ExpectTimeout(
                self._not_seen(
                    f"the guest console never matched /{pattern}/",
                    timeout,
                    "guest console",
                    self._output.stdout,
                    self._files["guest_console"],
                )
            )
        return match

    def expect_stdout(self, pattern: str, timeout: float = 10.0, since: int = 0) -> re.Match[str]:
        """Deprecated: ``wait_stdout`` (one name per thing; a DeprecationWarning says so)."""
        __tracebackhide__ = True
        warnings.warn(
            "QvmSession.expect_stdout() is deprecated: use session.wait_stdout(pattern, timeout, since)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.wait_stdout(pattern, timeout, since)

    def _wait_for(self, probe: Callable[[], _T | None], timeout: float) -> _T | None:
        end = time.monotonic() + timeout
        with self._output.cond:
            while True:
                hit = probe()
                if hit is not None:
                    return hit
                left = end - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    return probe()
                self._output.cond.wait(min(left, 0.2))

    def _not_seen(self, what: str, timeout: float, name: str, data: _Stream, path: Path) -> str:
        """The message of a wait that saw nothing: the stream's tail and its file (written as it arrives)."""
        state = "qvm has exited" if self.process.poll() is not None else f"within {timeout} s"
        data.flush()
        where = f"full {name}: {data.error}" if data.error else f"full {name} so far: {path}"
        tail = "\n".join(tail_lines(bytes(data.tail[-65536:]), 30))
        return f"{what} ({state}); {name} so far:\n{tail}\n{where}"

    def running(self) -> bool:
        return self.process.poll() is None

    # -- ending ------------------------------------------------------------------

    def wait(self, timeout: float | None = None) -> QvmResult:
        """Wait for qvm to end (escalating after ``timeout``, default the session's); the result."""
        if self._result is not None:
            return self._result
        limit = (self.timeout if timeout is None else timeout) + self.runner.gates.end_allowance(self.runner.target)
        hung = False
        try:
            outcome = self.process.wait(limit)
        except WaitTimeout:
            hung = True
            outcome, _ = self._escalate()
        except InfrastructureError as exc:  # say what took the link down (QEMU died, ...), when known
            raise self.runner.target.explain("waiting for qvm", exc) from exc
        self._check_started(outcome.exit_status, outcome.signal)
        self._result = self._collect(outcome.exit_status, outcome.signal, hung)
        return self._result

    def _check_started(self, status: int | None, signal: str | None) -> None:
        """A qvm that could not even be started (the shell's 127 "not found", 126 "cannot execute": qvm
        never uses these) is a set-up error naming the command, never a vdev's exit status; so is a
        deployment folder the start command could not make (``hil.targets.deploy.setup_failure``)."""
        failure = setup_failure(self.runner.target, status, self._output.stderr.text())
        if signal is None and failure is not None:
            raise failure
        if signal is not None or status not in (126, 127):
            return
        stderr = self._output.stderr.text()
        if not re.search(r"not found|No such file|[Pp]ermission denied|cannot execute|Exec format", stderr):
            return
        target = self.runner.target
        what = "not found" if status == 127 else "not executable"
        last = tail_lines(stderr, 1, skip_blank=True)
        if self.qvm != target.qvm_command():  # the sanitizer build (--hil-sanitize) was started
            fix = f"it is built and copied by the run: remove {self.qvm!r} and its folder to rebuild it"
            which = f"the sanitizer build of qvm ({', '.join(self.runner.gates.sanitize)})"
        else:
            fix = f"install qvm on the target or set [qvm] command in {target.definition.source}"
            which = "qvm"
        raise SetupError(
            f"{which} could not be started on target '{target.name}': {self.qvm!r} is {what} there (exit status "
            f"{status}: {last[0] if last else 'no message'}); {fix}"
        )

    def stop(self) -> QvmResult:
        """End qvm now: the power button (SIGTERM); if the guest does not shut down within
        the grace period, a power cut (SIGQUIT), then SIGKILL (reported as hung)."""
        if self._result is not None:
            return self._result
        if not self.running():
            return self.wait()
        outcome, step = self._escalate()
        self._result = self._collect(outcome.exit_status, outcome.signal, hung=ESCALATION[step][0] == "KILL")
        return self._result

    def _escalate(self, first: int = 0):  # type: ignore[no-untyped-def]
        """Send ESCALATION's signals from ``first`` on until qvm ends: (outcome, index of the last signal)."""
        for step, (sig, grace) in enumerate(ESCALATION[first:], first):
            try:
                self.process.signal(sig)
            except Exception:  # noqa: BLE001, S110
                pass
            self.events.append((time.monotonic(), "signal", f"{sig} (escalation)"))
            try:
                return self.process.wait(grace + self.runner.gates.end_allowance(self.runner.target)), step
            except WaitTimeout:
                continue
            except InfrastructureError as exc:
                raise self.runner.target.explain(f"stopping qvm (SIG{sig})", exc) from exc
        raise InfrastructureError(f"qvm (pid {self.process.pid}) on {self.runner.target.name} survived SIGKILL")

    def _collect(self, status: int | None, signal: str | None, hung: bool) -> QvmResult:
        runner = self.runner
        for stream in (self._output.stdout, self._output.stderr):
            stream.close()  # every byte is in its file now
        log_text = self._output.stderr.text()
        merged, slog_files = self._read_slog2(log_text)
        stdout = self._output.stdout.note() + self._output.stdout.text()
        console = ""
        if runner.console is not None and self._console_mark is not None:
            console = runner.console.since(self._console_mark)
        crash = runner.crash_of(log_text) if signal is not None else None
        ended = time.monotonic()
        result = QvmResult.from_run(
            exit_status=status,
            signal=signal,
            duration_s=time.monotonic() - self.started,
            log_text=log_text,
            stdout=stdout,
            console=console,
            hung=hung,
            target=runner.target.name,
            config_text=self.config_text,
            merged_log=merged,
            table=runner.exit_table,
            artifacts={**runner.save_artifacts(None, None, console, crash), **slog_files},
            crash=crash,
        )
        self._save_timeline(result, ended)
        runner.apply_gates(result, log_text, signal)
        return result

    def _save_timeline(self, result: QvmResult, ended: float) -> None:
        """``runN.data.json``: this run's log lines and session events on qvm's clock (the HTML report's timeline)."""
        data = run_data(
            log=result.log,
            log_bytes=bytes(self._output.stderr.tail),
            arrivals=[(t, n - self._output.stderr.dropped) for t, n in self._output.arrivals],
            events=self.events,
            started=self.started,
            ended=ended,
            config_text=self.config_text,
            exit_status=result.exit_status,
            signal=result.signal,
            reason=result.reason.name,
            duration_s=result.duration_s,
        )
        path = self._files["qvm_log"].with_name(self._files["qvm_log"].name.replace(".qvm.log", ".data.json"))
        path.write_text(json.dumps(data), encoding="utf-8")
        result.artifacts["data"] = path

    def _read_slog2(self, log_text: str) -> tuple[QvmLog | None, dict[str, Path]]:
        """This run's slog2 records merged with its stderr lines (``hil.qvmrun.slog2``), and the raw
        ``slog2info`` text kept as ``runN.slog2info.txt``; (None, {}) when slog2 is not read."""
        if not self._slog2:
            return None, {}
        capture = collect_slog2(self.runner.target, self.runner.deployment.path)
        path = self._files["qvm_log"].with_name(self._files["qvm_log"].name.replace(".qvm.log", ".slog2info.txt"))
        path.write_text(capture.raw, encoding="utf-8")
        return merge_slog2(parse_log(log_text), capture.records, capture.start), {"slog2info": path}

    def __enter__(self) -> QvmSession:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        """Leaving the block ends qvm.  The one way out of a cancelled run (SIGTERM, SIGINT, or
        anything not an ``Exception``): qvm is stopped as well as it can be, and whatever that
        stop meets (a link already gone) never replaces the cancellation."""
        if self._result is not None:
            return
        if (exc_type is not None and not issubclass(exc_type, Exception)) or cancel.requested():
            try:
                self.stop()
            except Exception:  # noqa: BLE001, S110 - the cancellation is what gets reported
                pass
            return
        self.stop()


class QvmRunner:
    """Runs qvm on one target inside one test's deployment folder."""

    def __init__(
        self,
        target: Target,
        deployment: Deployment,
        artifacts: Path,
        console: Console | None = None,
        gates: Gates | None = None,
    ) -> None:
        self.target = target
        self.deployment = deployment
        self.artifacts = artifacts
        self.console = console
        self.exit_table = exit_table_for(target)
        self._runs = 0
        #: the quality gates (``hil.qvmrun.gates``): coverage counters fetched, the sanitizer qvm
        self.gates = gates or Gates()
        #: every sanitizer report of this runner's runs (symbolised): each one fails the test
        self.sanitizer_findings: list[str] = []
        #: called with ("stdout"|"stderr", chunk) as each run's output arrives (a live view)
        self.output_tap: Callable[[str, bytes], None] | None = None
        #: every session started (``stop_all`` ends those still running)
        self.sessions: list[QvmSession] = []

    def stop_all(self) -> None:
        """Stop every session of this runner still running (a test left without ending one: its
        fixture's teardown; a cancelled run).  What a stop meets is not raised: the qvm is ended."""
        for session in self.sessions:
            if session._result is None:  # noqa: SLF001
                try:
                    session.stop()
                except Exception:  # noqa: BLE001, S110 - the deployment's clean-up kills what is left
                    pass

    def apply_gates(self, result: QvmResult, log_text: str, signal: str | None) -> None:
        """After a run: fetch its coverage counters (``runN.gcov/``), keep its sanitizer reports
        (``runN.sanitizer.txt``, ``sanitizer_findings``)."""
        if self.gates.coverage:
            lost = f"qvm ended by SIG{signal}: this run's coverage counters are lost" if signal else None
            self.gates.collect_coverage(self.target, self.deployment, self.artifacts / f"run{self._runs}.gcov", lost)
        if self.gates.sanitize:
            reports = [symbolize_report(r, self._local_file) for r in sanitizer_reports(log_text)]
            if reports:
                path = self.artifacts / f"run{self._runs}.sanitizer.txt"
                path.write_text("\n\n".join(reports) + "\n", encoding="utf-8")
                result.artifacts["sanitizer"] = path
                self.sanitizer_findings += [f"run{self._runs}: {r}" for r in reports]

    def _local_file(self, path: str) -> Path | None:
        copy = self.deployment.local_copies.get(path)
        if copy is None and self.target.on_this_host:
            copy = Path(path)
        return copy

    def _deploy_config(self, config: QvmConfig | str | Path) -> str:
        if isinstance(config, (str, Path)) and not isinstance(config, QvmConfig):
            config = QvmConfig.from_file(Path(config))
        remote_files = {name: self.deployment.put_file(Path(local)) for name, local in config.files().items()}
        text = config.render(path_map=remote_files)
        self._runs += 1
        local = self.artifacts / f"run{self._runs}.qvmconf"
        local.write_text(text, encoding="utf-8")
        if not _inline(text):  # else the command that starts qvm writes it
            self.deployment.put_file(local, "run.qvmconf")
        return text

    def start(self, config: QvmConfig | str | Path, timeout: float = 60.0) -> QvmSession:
        """Start qvm; the session ends with ``wait()`` or when the ``with`` block exits."""
        return QvmSession(self, self._deploy_config(config), timeout)

    def run(self, config: QvmConfig | str | Path, timeout: float = 60.0, stdin: Sequence[str] = ()) -> QvmResult:
        """Run qvm to its end (or its timeout) and return the result."""
        with self.start(config, timeout) as session:  # a cancelled wait leaves through __exit__
            for line in stdin:
                session.send(line)
            return session.wait()

    def artifact_paths(self) -> dict[str, Path]:
        """The files of the latest run's qvm log, guest console and serial slice."""
        n = self._runs
        return {
            "qvm_log": self.artifacts / f"run{n}.qvm.log",
            "guest_console": self.artifacts / f"run{n}.guest.log",
            "console": self.artifacts / f"run{n}.console.log",
        }

    def save_artifacts(
        self, log: str | None, stdout: str | None, console: str, crash: Crash | None = None
    ) -> dict[str, Path]:
        """Write this run's qvm log, guest console and serial slice beside the test's other artifacts
        (and, when qvm crashed, its symbolised backtrace as ``runN.crash.txt``); ``None``: that file was
        written as the stream arrived (a session's qvm log and guest console)."""
        files = self.artifact_paths()
        for key, text in (("qvm_log", log), ("guest_console", stdout), ("console", console)):
            if text is not None:
                files[key].write_text(text, encoding="utf-8")
        if crash is not None:
            files["crash"] = self.artifacts / f"run{self._runs}.crash.txt"
            files["crash"].write_text(crash.text() + "\n", encoding="utf-8")
        return files

    def crash_of(self, log_text: str) -> Crash | None:
        """The crash block of a qvm log, its frames symbolised on the host's copies of the deployed files
        (on ``local`` the target's files are the host's)."""
        crash = parse_crash(log_text)
        if crash is None:
            return None
        return symbolize(crash, self._local_file)
