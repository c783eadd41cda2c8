"""JUnit XML reports of a HIL run (one ``<testsuite>`` per target) and the nightly summary table.

``JUnitReporter`` is a pytest plugin object: the qnx-hil plugin registers it on
the controller process and it turns every finished test into a JUnit test case,
rewriting the whole report (atomically) after each test, so an interrupted or
crashed run always leaves a complete, schema-valid file of what ran. (Only
when the report grows so big that a rewrite takes over SLOW_WRITE seconds are
rewrites spaced out; Ctrl-C and the end of the session always write.)

Tests tell the reporter about their target through ``item.user_properties``
(which pytest-xdist carries from the workers to the controller):

* ``hil.target``: the target's name; the test goes to that target's suite
  (tests without it go to the ``host`` suite);
* ``hil.target.facts``: a JSON object of facts about the target (kind, image,
  qvm version, toolchain), written as that suite's ``<properties>``;
* ``hil.console`` / ``hil.qvm_log``: the test's serial-console slice and qvm
  log, written (bounded, tail kept) as ``<system-out>`` / ``<system-err>``;
* ``hil.artifacts``: the test's artifacts folder, where the full logs are
  (``console.log``, ``qvm.log``), named in the note that replaces a cut head;
* ``hil.infrastructure``: the cause, when the lab failed: the test is an
  *error* counted as an infrastructure error, never a failure.

The XML is produced by ``junit-xml``; two things it emits that the Jenkins
xUnit schema (junit-10.xsd) rejects are fixed after the fact: the
``disabled`` attribute and times in exponent notation (``1e-05``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pytest
from junit_xml import TestCase, TestSuite, to_xml_report_string

from hil.core.errors import SetupError

#: user_properties names of the contract with the qnx-hil plugin.
PROP_TARGET = "hil.target"
PROP_FACTS = "hil.target.facts"
PROP_CONSOLE = "hil.console"
PROP_QVM_LOG = "hil.qvm_log"
PROP_ARTIFACTS = "hil.artifacts"
PROP_INFRA = "hil.infrastructure"
PROP_GUEST = "hil.guest_console"
PROP_SETUP = "hil.target.setup"
PROP_VDEV_WARNINGS = "hil.vdev_warnings"

#: File names of the full logs in a test's artifacts folder (referenced when a slice is cut).
CONSOLE_LOG_NAME = "console.log"
QVM_LOG_NAME = "qvm.log"

#: File name of the guest consoles (every run's qvm stdout) in a test's artifacts folder.
GUEST_LOG_NAME = "guest.log"

#: What ``<system-out>`` says when a test produced no console output at all (never left out:
#: xunit-viewer shows a passing test without system-out as "unknown").
NO_OUTPUT = "(no console output)"

#: Suite property: seconds spent bringing the target up (VM boot, attach), not counted in any test.
SETUP_PROPERTY = "target.setup.seconds"

#: Suite of the tests that use no target.
HOST_SUITE = "host"

#: A failure/error message is one line of at most this many characters.
MESSAGE_MAX = 500

#: A write slower than this (seconds) makes the next incremental write wait WRITE_SHARE_GAP times as long.
SLOW_WRITE = 0.25
WRITE_SHARE_GAP = 9.0

#: ``max_output`` below this leaves no room for the cut note plus some log.
MIN_OUTPUT = 256

Outcome = Literal["passed", "failed", "error", "skipped"]


@dataclass
class Counts:
    """Test outcomes of one target. ``errors`` includes the ``infrastructure`` errors."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    infrastructure: int = 0

    @property
    def total(self) -> int:
        """Number of tests (each test counts once)."""
        return self.passed + self.failed + self.errors + self.skipped

    def add(self, other: Counts) -> None:
        """Add ``other``'s numbers to these."""
        self.passed += other.passed
        self.failed += other.failed
        self.errors += other.errors
        self.skipped += other.skipped
        self.infrastructure += other.infrastructure


@dataclass
class CaseResult:
    """One finished test, as it goes into the report.

    ``console``/``qvm_log``/``details`` are already bounded; ``infrastructure``
    holds the cause of an infrastructure error (``None`` otherwise).
    """

    suite: str
    nodeid: str
    name: str
    classname: str
    outcome: Outcome
    duration: float
    message: str = ""
    details: str = ""
    infrastructure: str | None = None
    console: str = ""
    qvm_log: str = ""
    artifacts: str | None = None
    guest_console: str = ""
    target_setup: float = 0.0
    start: float = 0.0
    #: the test's vdevs built with compiler warnings: ``{"vdev", "count", "first"}`` each
    vdev_warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def system_out(self) -> str:
        """What ``<system-out>`` holds: the guest console (qvm stdout) and the serial slice, each
        under a heading when both are there; NO_OUTPUT when there is neither."""
        if self.guest_console and self.console:
            return f"--- guest console (qvm stdout)\n{self.guest_console}\n--- serial console\n{self.console}"
        return self.guest_console or self.console or NO_OUTPUT


@dataclass
class _Suite:
    """One target's results and facts; ``started`` is the first test's start (epoch seconds)."""

    name: str
    started: float
    properties: dict[str, str] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)


@dataclass
class _Pending:
    """The reports seen so far of a test that has not finished (keyed by worker and node id)."""

    start: float
    reports: dict[str, pytest.TestReport] = field(default_factory=dict)
    properties: list[tuple[str, object]] = field(default_factory=list)


class _SchemaSuite(TestSuite):  # type: ignore[misc]
    """junit-xml's TestSuite minus what junit-10.xsd rejects (``disabled``, exponent times)."""

    def build_xml_doc(self, encoding: str | None = None) -> Any:
        element = super().build_xml_doc(encoding=encoding)
        element.attrib.pop("disabled", None)
        element.set("time", _fmt_time(float(element.get("time") or 0)))
        return element


def _fmt_time(seconds: float) -> str:
    """A duration in the SUREFIRE_TIME format (plain decimal, never ``1e-05``)."""
    return f"{max(seconds, 0.0):.3f}"


_ROOT_TAG = re.compile(r"<testsuites\b[^>]*>")


def _fix_root(xml: str) -> str:
    """Drop ``disabled`` from and reformat ``time`` of the ``<testsuites>`` tag (schema validity)."""

    def fix(match: re.Match[str]) -> str:
        tag = re.sub(r'\sdisabled="[^"]*"', "", match.group(0))
        return re.sub(r'\btime="([^"]*)"', lambda t: f'time="{_fmt_time(float(t.group(1)))}"', tag)

    return _ROOT_TAG.sub(fix, xml, count=1)


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-_])")


def _terminal_text(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves) of a serial console."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def _clean(text: str) -> str:
    """``text`` without lone surrogates (junit-xml strips every other XML-invalid character)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def bound_text(text: str, limit: int, full_log: str | None = None) -> str:
    """``text`` if it has at most ``limit`` characters, else its tail under a note line.

    The note reads ``[... N bytes cut; full log: FULL_LOG]`` (N counts UTF-8
    bytes of the dropped head); the result, note included, has at most
    ``limit`` characters and starts at a line boundary when one is near.
    """
    if len(text) <= limit:
        return text
    where = f"full log: {full_log}" if full_log else "full log not kept"

    def note(cut_bytes: int) -> str:
        return f"[... {cut_bytes} bytes cut; {where}]\n"

    keep = limit - len(note(len(text.encode("utf-8", "replace"))))
    if keep <= 0:
        return note(len(text.encode("utf-8", "replace")))[:limit]
    cut = len(text) - keep
    newline = text.find("\n", cut, cut + 1024)
    if newline != -1:
        cut = newline + 1
    return note(len(text[:cut].encode("utf-8", "replace"))) + text[cut:]


def _one_line(text: str) -> str:
    """The first non-empty line of ``text``, at most MESSAGE_MAX characters."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= MESSAGE_MAX else line[: MESSAGE_MAX - 3] + "..."
    return ""


def _crash_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    """One line saying why ``report`` failed (the exception line when there is one)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return _one_line(message)
    # Not longreprtext: under xdist that starts with the worker's "[gw0] linux -- Python" line.
    return _one_line(str(report.longrepr or "")) or f"{report.when} failed"


def _skip_reason(report: pytest.TestReport) -> str:
    """Why ``report`` was skipped (``xfail: REASON`` for expected failures)."""
    if hasattr(report, "wasxfail"):
        return _one_line(f"xfail: {report.wasxfail}") if report.wasxfail else "xfail"
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        return _one_line(reason.removeprefix("Skipped: ")) or "skipped"
    return _one_line(str(report.longrepr or "")) or "skipped"


def _worker_of(report: pytest.TestReport) -> str:
    """The xdist worker that produced ``report`` ("" in a plain run)."""
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", "")) if node is not None else ""


def _module_path(nodeid: str) -> str:
    """Dotted module path of a node id: ``tests/hil/test_x.py::t`` -> ``tests.hil.test_x``."""
    path = nodeid.split("::", 1)[0].removesuffix(".py")
    parts = [p for p in re.split(r"[\\/]", path) if p not in ("", ".", "..")]
    return ".".join(parts) or "tests"


def _without_target(name: str, target: str) -> str:
    """``name`` with ``target`` taken out of its ``[...]`` parameter id (first or last part of it)."""
    if not name.endswith("]") or "[" not in name:
        return name
    base, _, params = name[:-1].partition("[")
    if params == target:
        return base
    if params.startswith(target + "-"):
        return f"{base}[{params[len(target) + 1 :]}]"
    if params.endswith("-" + target):
        return f"{base}[{params[: -len(target) - 1]}]"
    return name


def _names(nodeid: str, suite: str, target: str | None) -> tuple[str, str]:
    """JUnit (classname, name) of a test: ``module[.Class].SUITE`` and the test name.

    One rule: the target is named by the classname (and the suite), never by the name: the
    name loses the target from its ``[...]`` parameter id (``test_slow[qemu-1]`` -> ``test_slow[1]``).
    """
    parts = nodeid.split("::")
    name = parts[-1] if len(parts) > 1 else nodeid
    if target:
        name = _without_target(name, target)
    classname = ".".join([_module_path(nodeid), *parts[1:-1], suite])
    return classname, name


class JUnitReporter:
    """pytest plugin writing the JUnit report of a HIL run, one suite per target.

    ``path`` is the report file (rewritten atomically after every test, see
    ``_write_soon``; always at session start, on Ctrl-C and at session end),
    ``max_output`` bounds each test's system-out/system-err/details in
    characters (the tail is kept), ``hostname`` goes into every suite
    (default: this host's name). On an xdist worker it does nothing: the
    controller receives every worker's reports and writes the file.
    """

    def __init__(
        self, path: Path, max_output: int = 64 * 1024, hostname: str | None = None, host_suite: str = HOST_SUITE
    ) -> None:
        if max_output < MIN_OUTPUT:
            raise ValueError(
                f"JUnitReporter: max_output={max_output} is too small; "
                f"give at least {MIN_OUTPUT} characters (default 65536)"
            )
        self.path = Path(path)
        self.max_output = max_output
        self.hostname = hostname or socket.gethostname()
        self.host_suite = host_suite
        self.exitstatus: int | None = None
        self._active = True
        self._suites: dict[str, _Suite] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._collect_errors: set[str] = set()
        self._write_cost = 0.0
        self._written_at = 0.0

    # ---- results ----------------------------------------------------------

    @property
    def results(self) -> list[CaseResult]:
        """Every finished test, suite by suite, in the order they finished."""
        return [case for suite in self._suites.values() for case in suite.cases]

    def counts(self) -> dict[str, Counts]:
        """Outcome counts per suite (target name, or the host suite)."""
        out: dict[str, Counts] = {}
        for name, suite in self._suites.items():
            counts = Counts()
            for case in suite.cases:
                if case.outcome == "passed":
                    counts.passed += 1
                elif case.outcome == "failed":
                    counts.failed += 1
                elif case.outcome == "skipped":
                    counts.skipped += 1
                else:
                    counts.errors += 1
                    if case.infrastructure is not None:
                        counts.infrastructure += 1
            out[name] = counts
        return out

    def suite_properties(self) -> dict[str, dict[str, str]]:
        """Each suite's properties (target facts, ``target.setup.seconds``), by suite name."""
        out: dict[str, dict[str, str]] = {}
        for name, suite in self._suites.items():
            properties = dict(suite.properties)
            setup = sum(c.target_setup for c in suite.cases)
            if setup:
                properties[SETUP_PROPERTY] = _fmt_time(setup)
            out[name] = properties
        return out

    # ---- pytest hooks -----------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self._active = not hasattr(config, "workerinput")

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self._active:
            self.write()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not self._active:
            return
        key = (_worker_of(report), report.nodeid)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(start=getattr(report, "start", 0) or time.time())
        pending.reports[report.when] = report
        if report.user_properties:
            pending.properties = list(report.user_properties)
        if report.when in ("setup", "call"):
            return
        del self._pending[key]
        self._finish(report.nodeid, pending, interrupted=None)
        self._write_soon()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self._active or not report.failed or report.nodeid in self._collect_errors:
            return
        self._collect_errors.add(report.nodeid)
        nodeid = report.nodeid or "<session>"
        details = bound_text(_clean(report.longreprtext), self.max_output)
        self._add(
            CaseResult(
                suite=self.host_suite,
                nodeid=nodeid,
                name=f"collect {nodeid}",
                classname=f"{_module_path(nodeid)}.{self.host_suite}",
                outcome="error",
                duration=0.0,
                message=_clean(f"collection error: {_crash_message(report)}"),
                details=details,
            ),
            time.time(),
            {},
        )
        self._write_soon()

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not self._active:
            return
        self._flush_pending(f"{excinfo.typename}: {excinfo.value}".rstrip(": "))
        self.write()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self._active:
            return
        self.exitstatus = int(exitstatus)
        self._flush_pending("session ended")
        self.write()

    # ---- building ---------------------------------------------------------

    def _flush_pending(self, why: str) -> None:
        """Record every unfinished test as an error: the run stopped under it."""
        for (_, nodeid), pending in list(self._pending.items()):
            self._finish(nodeid, pending, interrupted=why)
        self._pending.clear()

    def _finish(self, nodeid: str, pending: _Pending, interrupted: str | None) -> None:
        """Turn the reports of one test into a CaseResult in its target's suite."""
        props: dict[str, str] = {}
        logs: dict[str, list[str]] = {PROP_CONSOLE: [], PROP_QVM_LOG: [], PROP_GUEST: []}
        vdev_warnings: list[dict[str, Any]] = []
        for name, value in pending.properties:
            if name == PROP_VDEV_WARNINGS:
                try:
                    warned = json.loads(str(value))
                except json.JSONDecodeError:
                    warned = None
                if isinstance(warned, dict) and warned.get("vdev"):
                    vdev_warnings.append(warned)
            elif name in logs:
                logs[name].append(str(value))
            else:
                props[name] = str(value)
        target = props.get(PROP_TARGET) or None
        suite = target or self.host_suite
        classname, name = _names(nodeid, suite, target)
        artifacts = props.get(PROP_ARTIFACTS) or None
        infrastructure = props.get(PROP_INFRA)
        reports = pending.reports
        try:
            target_setup = max(float(props.get(PROP_SETUP) or 0.0), 0.0)
        except ValueError:
            target_setup = 0.0
        # The target's bring-up (a VM boot) is the suite's set-up time, not this test's.
        duration = max(sum(r.duration for r in reports.values()) - target_setup, 0.0)
        outcome, message, details = self._outcome(reports, infrastructure, interrupted)

        def log(key: str, file_name: str) -> str:
            full = f"{artifacts}/{file_name}" if artifacts else None
            return bound_text(_clean(_terminal_text("\n".join(logs[key]))), self.max_output, full)

        case = CaseResult(
            suite=suite,
            nodeid=nodeid,
            name=_clean(name),
            classname=_clean(classname),
            outcome=outcome,
            duration=duration,
            message=_clean(message),
            details=bound_text(_clean(details), self.max_output),
            infrastructure=None if infrastructure is None else _clean(infrastructure),
            console=log(PROP_CONSOLE, CONSOLE_LOG_NAME),
            qvm_log=log(PROP_QVM_LOG, QVM_LOG_NAME),
            artifacts=artifacts,
            guest_console=log(PROP_GUEST, GUEST_LOG_NAME),
            target_setup=target_setup,
            start=pending.start,
            vdev_warnings=vdev_warnings,
        )
        self._add(case, pending.start, self._facts(props.get(PROP_FACTS)) if target else {})

    def _outcome(
        self, reports: dict[str, pytest.TestReport], infrastructure: str | None, interrupted: str | None
    ) -> tuple[Outcome, str, str]:
        """(outcome, one-line message, details) from a test's setup/call/teardown reports."""
        setup, call, teardown = reports.get("setup"), reports.get("call"), reports.get("teardown")
        others = [r for w, r in reports.items() if w not in ("setup", "call", "teardown")]
        failed = [r for r in (setup, call, teardown, *others) if r is not None and r.failed]
        details = "\n\n".join(f"[{r.when}]\n{r.longreprtext}" if len(failed) > 1 else r.longreprtext for r in failed)
        if infrastructure is not None:
            return "error", f"infrastructure: {_one_line(infrastructure) or 'unknown cause'}", details or infrastructure
        if others and others[-1].failed:
            return "error", _crash_message(others[-1]), details
        if setup is not None and setup.failed:
            return "error", f"error in setup: {_crash_message(setup)}", details
        if call is not None and call.failed:
            return "failed", _crash_message(call), details
        if teardown is not None and teardown.failed:
            return "error", f"error in teardown: {_crash_message(teardown)}", details
        for report in (setup, call):
            if report is not None and report.skipped:
                return "skipped", _skip_reason(report), ""
        if interrupted is not None:
            return "error", _one_line(f"interrupted: test did not finish ({interrupted})"), ""
        return "passed", "", ""

    def _facts(self, raw: str | None) -> dict[str, str]:
        """Suite properties from the ``hil.target.facts`` JSON (kept raw when it is no object)."""
        if not raw:
            return {}
        try:
            facts = json.loads(raw)
        except json.JSONDecodeError:
            facts = None
        if not isinstance(facts, dict):
            return {PROP_FACTS: _clean(raw)}
        return {_clean(str(k)): _clean(v if isinstance(v, str) else json.dumps(v)) for k, v in facts.items()}

    def _add(self, case: CaseResult, start: float, facts: dict[str, str]) -> None:
        suite = self._suites.get(case.suite)
        if suite is None:
            suite = self._suites[case.suite] = _Suite(name=case.suite, started=start)
        suite.started = min(suite.started, start)
        suite.properties.update(facts)
        suite.cases.append(case)

    # ---- writing ----------------------------------------------------------

    def to_xml(self) -> str:
        """The report as an XML document (schema-valid against junit-10.xsd)."""
        suites = []
        all_properties = self.suite_properties()
        for suite in self._suites.values():
            properties = all_properties[suite.name]
            if self.exitstatus is not None:
                properties["pytest.exitstatus"] = str(self.exitstatus)
            stamp = datetime.fromtimestamp(suite.started, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            suites.append(
                _SchemaSuite(
                    _clean(suite.name),
                    [self._test_case(c) for c in suite.cases],
                    hostname=_clean(self.hostname),
                    timestamp=stamp,
                    properties=properties or None,
                )
            )
        return _fix_root(to_xml_report_string(suites, prettyprint=True, encoding="utf-8"))

    @staticmethod
    def _test_case(case: CaseResult) -> TestCase:
        tc = TestCase(
            case.name,
            classname=case.classname,
            elapsed_sec=round(case.duration, 6),
            stdout=case.system_out,
            stderr=case.qvm_log or None,
        )
        if case.outcome == "failed":
            tc.add_failure_info(message=case.message, output=case.details or None)
        elif case.outcome == "error":
            tc.add_error_info(
                message=case.message,
                output=case.details or None,
                error_type="infrastructure" if case.infrastructure is not None else None,
            )
        elif case.outcome == "skipped":
            tc.add_skipped_info(message=case.message)
        return tc

    def _write_soon(self) -> None:
        """Write after a finished test, unless writing became a burden.

        Rewriting the whole file costs about 0.1 s per 1 MB of report (mostly
        junit-xml's invalid-character scan). Once a write takes more than
        SLOW_WRITE seconds, the next one waits until WRITE_SHARE_GAP times that
        has passed, so writing stays under ~10 % of the run; the exit hooks
        always write.
        """
        cost = self._write_cost
        if cost > SLOW_WRITE and time.monotonic() - self._written_at < WRITE_SHARE_GAP * cost:
            return
        self.write()

    def write(self) -> None:
        """Write the report now: to a temporary file next to it, then ``os.replace``."""
        started = time.monotonic()
        data = self.to_xml().encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
        self._written_at = time.monotonic()
        self._write_cost = self._written_at - started


def summary_table(reporter: JUnitReporter, slowest: int = 10) -> str:
    """The plain-text summary of a run.

    A table target x passed/failed/errors/infra/skipped/total with a TOTAL row
    ("infra" counts the errors the lab caused, which "errors" includes), the
    ``slowest`` longest tests, and one line per infrastructure error with its cause.
    """
    counts = reporter.counts()
    total = Counts()
    for c in counts.values():
        total.add(c)
    columns = ("passed", "failed", "errors", "infra", "skipped", "total")
    rows = [(name, c) for name, c in counts.items()] + [("TOTAL", total)]
    width = max([len("target"), *(len(name) for name, _ in rows)])

    def row(name: str, values: Sequence[object]) -> str:
        return f"{name:<{width}}" + "".join(f"  {v!s:>7}" for v in values)

    lines = [row("target", columns), "-" * (width + 9 * len(columns))]
    for name, c in rows:
        if name == "TOTAL":
            lines.append("-" * (width + 9 * len(columns)))
        lines.append(row(name, (c.passed, c.failed, c.errors, c.infrastructure, c.skipped, c.total)))

    results = reporter.results
    ranked = sorted(results, key=lambda c: c.duration, reverse=True)[: max(slowest, 0)]
    lines += ["", f"Slowest tests ({len(ranked)}):"]
    lines += [f"  {c.duration:9.2f} s  {c.suite:<{width}}  {c.nodeid}" for c in ranked] or ["  (none)"]

    infra = [c for c in results if c.infrastructure is not None]
    lines += ["", f"Infrastructure errors ({len(infra)}):"]
    lines += [f"  {c.suite}  {c.nodeid}: {_one_line(c.infrastructure or '') or 'unknown cause'}" for c in infra] or [
        "  (none)"
    ]
    lines += _warning_lines(results)
    return "\n".join(lines) + "\n"


_WARNING = re.compile(r"^(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?:\d+:)? warning: (?P<message>.*)$", re.MULTILINE)


def vdev_warnings_property(vdev: str, text: str, root: Path | None = None) -> str:
    """The ``hil.vdev_warnings`` value of a vdev built with compiler warnings: its name, the number of
    warnings and the first one as ``file:line: message`` (the file relative to ``root`` when inside it)."""
    found = list(_WARNING.finditer(text))
    if not found:  # not gcc's form (a linker's, ...): the first line, counted as one
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return json.dumps({"vdev": vdev, "count": 1, "first": first})
    file = found[0]["file"]
    if root is not None:
        try:
            file = str(Path(file).relative_to(root))
        except ValueError:
            pass
    first = f"{file}:{found[0]['line']}: {found[0]['message'].strip()}"
    return json.dumps({"vdev": vdev, "count": len(found), "first": first})


def _warning_lines(results: Sequence[CaseResult]) -> list[str]:
    """One line per vdev built with compiler warnings (any target): its count, its first warning, the targets."""
    by_vdev: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for case in results:
        for warned in case.vdev_warnings:
            entry, suites = by_vdev.setdefault(str(warned["vdev"]), (warned, []))
            if case.suite not in suites:
                suites.append(case.suite)
    if not by_vdev:
        return []
    lines = ["", f"Vdev compiler warnings ({len(by_vdev)} vdevs):" if len(by_vdev) > 1 else "Vdev compiler warnings:"]
    for vdev, (entry, suites) in by_vdev.items():
        count = int(entry.get("count") or 1)
        noun = "warning" if count == 1 else "warnings"
        first = _one_line(str(entry.get("first") or ""))
        lines.append(f"  vdev {vdev}: {count} {noun}, first at {first} [{', '.join(suites)}]")
    return lines


@lru_cache(maxsize=4)
def _xmlschema_for(xsd: str) -> Any:
    import xmlschema

    return xmlschema.XMLSchema(xsd)


def validate_junit(path: Path, xsd: Path, validator: str = "auto") -> list[str]:
    """Problems of the report ``path`` against the schema ``xsd`` ([] when valid).

    ``validator`` is ``xmlschema`` (the Python package), ``xmllint``
    (libxml2-utils) or ``auto`` (the first available, in that order). Raises
    SetupError when no validator is available or the schema cannot be read,
    so a missing validator never passes for a valid report.
    """
    path, xsd = Path(path), Path(xsd)
    if not xsd.is_file():
        raise SetupError(f"JUnit schema {xsd} not found; pass the path of junit-10.xsd")
    if not path.is_file():
        return [f"{path}: report not found"]
    if validator not in ("auto", "xmlschema", "xmllint"):
        raise ValueError(f"validate_junit: unknown validator {validator!r}; use auto, xmlschema or xmllint")
    if validator in ("auto", "xmlschema"):
        try:
            schema = _xmlschema_for(str(xsd.resolve()))
        except ImportError:
            if validator == "xmlschema":
                raise SetupError(
                    "validate_junit: the xmlschema package is not installed; "
                    "pip install xmlschema (or use validator='xmllint')"
                ) from None
        else:
            try:
                return [f"{path}: {e.path or '/'}: {e.reason or e.message}" for e in schema.iter_errors(str(path))]
            except Exception as exc:  # noqa: BLE001 - a not-well-formed file is a finding, not a crash
                return [f"{path}: not well-formed XML: {exc}"]
    xmllint = shutil.which("xmllint")
    if xmllint is None:
        raise SetupError(
            "validate_junit: no XML schema validator: install the xmlschema package "
            "(pip install xmlschema) or xmllint (apt-get install libxml2-utils)"
        )
    proc = subprocess.run(
        [xmllint, "--noout", "--schema", str(xsd), str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return []
    if proc.returncode == 5:
        raise SetupError(f"validate_junit: xmllint cannot use schema {xsd}: {proc.stderr.strip()}")
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not line.endswith(" fails to validate")]
    return lines or [f"{path}: xmllint exit status {proc.returncode}"]
