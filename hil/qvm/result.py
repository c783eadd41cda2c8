"""What one qvm run produced, and assertions on it whose failures explain themselves."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from hil.core.signals import signal_name
from hil.core.text import tail_lines
from hil.qvm.crash import Crash, parse_crash
from hil.qvm.exitcodes import Exit, ExitTable
from hil.qvm.log import EXCERPT_LINES, Pattern, QvmLog, excerpt, parse_log

#: Guest-console lines shown in a failure message.
CONSOLE_LINES = 10
_SEVERE = ("FATAL", "INTERNAL", "ERROR")


@dataclass
class QvmResult:
    """One finished qvm run.

    ``exit_status`` is None when a signal (``signal``, e.g. ``"SIGSEGV"``)
    killed qvm; ``reason`` is the decoded cause; ``hung`` is True when the
    framework's timeout escalation stopped it.  ``stdout`` is qvm's stdout (the
    guest console), ``console`` the target's serial-console output during the
    run, ``config_text`` the .qvmconf that ran, ``since_last_kick`` the seconds
    from the guest's last store to a vdev (watchdog kick) to the termination,
    when qvm logged it.  ``crash``: when a signal killed qvm and it wrote a crash
    block (qvmsim does), the faulting address and the crashing thread's backtrace
    (symbolised by the runner on the host's copy of the vdev).  ``artifacts`` names
    files kept for the report.
    """

    exit_status: int | None
    signal: str | None
    reason: Exit
    duration_s: float
    log: QvmLog
    stdout: str = ""
    console: str = ""
    hung: bool = False
    target: str = ""
    config_text: str = ""
    since_last_kick: float | None = None
    artifacts: dict[str, Path] = field(default_factory=dict)
    crash: Crash | None = None

    @classmethod
    def from_run(
        cls,
        *,
        exit_status: int | None,
        signal: str | None,
        duration_s: float,
        log_text: str,
        stdout: str = "",
        console: str = "",
        hung: bool = False,
        target: str = "",
        config_text: str = "",
        merged_log: QvmLog | None = None,
        table: ExitTable | None = None,
        artifacts: dict[str, Path] | None = None,
        crash: Crash | None = None,
    ) -> QvmResult:
        """Build a result from raw run data: decode the reason with ``table`` (the
        target's), parse the log (or take ``merged_log``: stderr and slog2 merged by the runner),
        take ``since_last_kick`` from its termination line."""
        log = merged_log if merged_log is not None else parse_log(log_text)
        term = log.termination
        if signal is not None:
            signal = signal_name(signal)  # SSH reports "SEGV", a local wait "SIGSEGV": one spelling
        return cls(
            exit_status=exit_status,
            signal=signal,
            reason=(table or ExitTable.default()).decode(exit_status, signal, hung),
            duration_s=duration_s,
            log=log,
            stdout=stdout,
            console=console,
            hung=hung,
            target=target,
            config_text=config_text,
            since_last_kick=term.since_last_store if term else None,
            artifacts=dict(artifacts or {}),
            crash=crash if crash is not None else (parse_crash(log_text) if signal is not None else None),
        )

    # --- reporting ---
    def _status_text(self) -> str:
        if self.signal is not None:
            if self.crash is not None:
                return f"killed by {self.crash.headline()}"
            return f"killed by {self.signal}"
        if self.exit_status is None:
            return "no exit status"
        return f"exit status {self.exit_status}"

    def summary(self) -> str:
        """One line for reports: reason, status or signal, duration, target, log size."""
        parts = [f"{self.reason.name} ({self._status_text()}"]
        if self.hung:
            parts[0] += ", stopped by the timeout escalation"
        parts[0] += ")"
        parts.append(f"after {self.duration_s:.3f} s")
        if self.target:
            parts.append(f"on {self.target}")
        parts.append(f"{len(self.log)} log lines")
        if self.since_last_kick is not None:
            parts.append(f"{self.since_last_kick:.6f} s since last kick")
        return "qvm " + ", ".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<QvmResult: {self.summary()}>"

    def explain(self, lines: QvmLog | None = None, title: str = "qvm log") -> str:
        """The summary, the severe log lines, the log excerpt and the guest console tail."""
        out = [self.summary(), f"reason: {self.reason.name}: {self.reason.description}"]
        refusal = self.refusal()
        if refusal:
            out.append(refusal)
        shown = lines if lines is not None else self.log
        tail = set(id(line) for line in list(shown)[-EXCERPT_LINES:])
        severe = [line for line in self.log.at_level(*_SEVERE) if id(line) not in tail]
        if severe:
            out.append(excerpt(severe, limit=10, title="earlier fatal/error lines"))
        out.append(excerpt(shown, title=title))
        if self.crash is not None:
            out.append(self.crash.text())
        if self.stdout.strip():
            console_tail = tail_lines(self.stdout.rstrip("\n"), CONSOLE_LINES)
            out.append("guest console (qvm stdout), last lines:")
            out.extend(f"  | {line}" for line in console_tail)
        return "\n".join(out)

    def refusal(self) -> str:
        """For a configuration qvm refused (FATAL_CONFIG): which line, what it says in the
        configuration that ran, and qvm's reason, the refusal ``hil qvm check`` reports; else ""."""
        if self.reason is not Exit.FATAL_CONFIG:
            return ""
        fault = self.log.config_fault
        if fault is None:
            return ""
        text = self.config_text.splitlines()
        line = text[fault.line - 1].strip() if 0 < fault.line <= len(text) else ""
        where = f"{fault.file}:{fault.line}" + (f" ({line!r})" if line else "")
        reason = fault.log_line.message.split(f"{fault.file}:{fault.line}: ", 1)[-1]
        return f"configuration refused at {where}: {reason} ('hil qvm check CONF' lists every line's fate)"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict: exit_status, signal, reason, duration_s, log, stdout, console first,
        then hung, target, reason_description, since_last_kick, termination, config_text, artifacts."""
        term = self.log.termination
        return {
            "exit_status": self.exit_status,
            "signal": self.signal,
            "reason": self.reason.name,
            "duration_s": self.duration_s,
            "log": self.log.as_dicts(),
            "stdout": self.stdout,
            "console": self.console,
            "hung": self.hung,
            "target": self.target,
            "reason_description": self.reason.description,
            "since_last_kick": self.since_last_kick,
            "termination": (
                {"cause": term.cause, "name": term.name, "since_last_store": term.since_last_store} if term else None
            ),
            "config_text": self.config_text,
            "artifacts": {name: str(path) for name, path in self.artifacts.items()},
            "crash": self.crash.to_json() if self.crash is not None else None,
        }

    # --- assertions ---
    def assert_reason(self, expected: Exit | str) -> None:
        """Assert the run ended for ``expected`` (an ``Exit`` or its name)."""
        __tracebackhide__ = True
        want = expected if isinstance(expected, Exit) else Exit.parse(expected)
        if self.reason is not want:
            raise AssertionError(
                f"expected qvm to end with {want.name} ({want.description}), "
                f"got {self.reason.name} ({self._status_text()})\n{self.explain()}"
            )

    def assert_exit(self, status: int) -> None:
        """Assert qvm exited with ``status`` (not killed by a signal)."""
        __tracebackhide__ = True
        if self.exit_status != status or self.signal is not None:
            raise AssertionError(
                f"expected qvm exit status {status}, got {self._status_text()} ({self.reason.name})\n{self.explain()}"
            )

    def assert_log(self, pattern: Pattern, *, source: str | None = None, level: str | None = None) -> re.Match[str]:
        """``log.expect`` with the run's reason and status in the failure message."""
        __tracebackhide__ = True
        try:
            return self.log.expect(pattern, source=source, level=level)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n-- run: {self.summary()}") from None

    def assert_no_log(self, pattern: Pattern, *, source: str | None = None, level: str | None = None) -> None:
        """Assert no log message (of ``source``/``level``) matches ``pattern``; shows the offenders."""
        __tracebackhide__ = True
        try:
            self.log.expect_none(pattern, source=source, level=level)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n-- run: {self.summary()}") from None

    def assert_stdout(self, pattern: Pattern) -> re.Match[str]:
        """The first match of ``pattern`` in the guest console (qvm's stdout); else an AssertionError
        with the console's last lines and the run's summary."""
        __tracebackhide__ = True
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
        match = regex.search(self.stdout)
        if match is None:
            lines = tail_lines(self.stdout.rstrip("\n"), 2 * CONSOLE_LINES) if self.stdout.strip() else []
            shown = "\n".join(f"  | {line}" for line in lines) or "  (empty)"
            where = (
                f"\nfull guest console: {self.artifacts['guest_console']}" if "guest_console" in self.artifacts else ""
            )
            raise AssertionError(
                f"the guest console (qvm stdout) never matched /{regex.pattern}/; its last lines:\n{shown}{where}"
                f"\n-- run: {self.summary()}"
            )
        return match

    def expect_stdout(self, pattern: Pattern) -> re.Match[str]:
        """Deprecated: ``assert_stdout`` (one name per thing; a DeprecationWarning says so)."""
        __tracebackhide__ = True
        warnings.warn(
            "QvmResult.expect_stdout() is deprecated: use run.assert_stdout(pattern) (the same check)",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.assert_stdout(pattern)

    # --- conveniences ---
    @property
    def custom_cause(self) -> int | None:
        """The vdev's own cause (32..63) when the reason is CUSTOM."""
        return self.exit_status if self.reason is Exit.CUSTOM else None
