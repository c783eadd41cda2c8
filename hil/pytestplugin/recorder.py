"""The recorder of a HIL run: a pytest plugin that turns every finished test into a result of its target's suite.

It collects, and writes nothing: the run's record (``hil.pytestplugin.results.RunRecord``:
suites, results, properties, artifacts, session events) goes to its listeners after every
change, and the report writers (``hil.pytestplugin.writers``) make files of it.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from hil.pytestplugin import reportkeys
from hil.pytestplugin.measure import Measurement
from hil.pytestplugin.results import CaseResult, Counts, EventKind, Outcome, RunRecord, SessionEvent, Suite
from hil.pytestplugin.text import bound_text, clean, one_line, terminal_text

#: File names of the full logs in a test's artifacts folder (referenced when a slice is cut).
CONSOLE_LOG_NAME = "console.log"
QVM_LOG_NAME = "qvm.log"

#: File name of the guest consoles (every run's qvm stdout) in a test's artifacts folder.
GUEST_LOG_NAME = "guest.log"

#: Suite of the tests that use no target.
HOST_SUITE = "host"

#: ``max_output`` below this leaves no room for the cut note plus some log.
MIN_OUTPUT = 256


#: A suite property (a target fact, a label) is cut to this many characters: target text of any size
#: (a 10 MB ``qvm -V`` line) never goes whole into every suite of the report.
PROPERTY_MAX = 2048

#: What changed in the record, as its listeners are told: the session started, a test finished (or
#: failed to collect), the run was interrupted, the session finished (the record is complete).
Change = Literal["start", "test", "interrupted", "finish"]
#: Called with the record after every change.
Listener = Callable[[RunRecord, Change], None]


def _cut_short(case: CaseResult) -> bool:
    """A result that says its test never finished: an xdist worker crashed under it, or the run stopped."""
    return case.outcome in ("error", "failed") and (
        case.message.startswith("interrupted:") or ("worker '" in case.message and "crashed" in case.message)
    )


def _property(text: str, limit: int = PROPERTY_MAX) -> str:
    """A suite property's text: XML-safe, terminal-safe, at most ``limit`` characters (a cut said)."""
    text = terminal_text(clean(text))
    return text if len(text) <= limit else text[: limit - 20] + f"... [{len(text)} chars]"


@dataclass
class _Pending:
    """The reports seen so far of a test that has not finished (keyed by worker and node id)."""

    start: float
    reports: dict[str, pytest.TestReport] = field(default_factory=dict)
    properties: list[tuple[str, object]] = field(default_factory=list)


def _crash_message(report: pytest.TestReport | pytest.CollectReport) -> str:
    """One line saying why ``report`` failed (the exception line when there is one)."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message.strip():
        return one_line(message)
    # Not longreprtext: under xdist that starts with the worker's "[gw0] linux -- Python" line.
    return one_line(str(report.longrepr or "")) or f"{report.when} failed"


def _skip_reason(report: pytest.TestReport) -> str:
    """Why ``report`` was skipped (``xfail: REASON`` for expected failures)."""
    if hasattr(report, "wasxfail"):
        return one_line(f"xfail: {report.wasxfail}") if report.wasxfail else "xfail"
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        reason = str(report.longrepr[2])
        return one_line(reason.removeprefix("Skipped: ")) or "skipped"
    return one_line(str(report.longrepr or "")) or "skipped"


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


class RunRecorder:
    """pytest plugin recording a HIL run: one suite per target, each finished test once.

    ``max_output`` bounds each test's console, qvm log and details in
    characters (the tail is kept), ``hostname`` goes into the record
    (default: this host's name), ``target_names`` are the run's targets (a
    test's suite when its reports carry none: a test cancelled or crashed
    under an xdist worker, from its ``[...]`` parameter id).  On an xdist
    worker it does nothing: the controller receives every worker's reports
    (``pytest_runtest_logreport``, with their ``user_properties``) and records them.

    After every change (the session started, a test finished, the run was
    interrupted, the session finished) each listener is called with the
    record (``RunRecord``) and what changed.

    Tests tell the recorder about themselves through ``item.user_properties``
    under the keys of ``hil.pytestplugin.reportkeys``:

    * ``hil.target``: the target's name; the test goes to that target's suite
      (tests without it go to the ``host`` suite);
    * ``hil.target.facts``: a JSON object of facts about the target (kind, image,
      qvm version, toolchain), that suite's properties;
    * ``hil.console`` / ``hil.qvm_log`` / ``hil.guest_console``: the test's
      serial-console slice, qvm log and guest consoles (bounded, tail kept);
    * ``hil.artifacts``: the test's artifacts folder, where the full logs are
      (``console.log``, ``qvm.log``), named in the note that replaces a cut head;
    * ``hil.infrastructure``: the cause, when the lab failed: the test is an
      *error* counted as an infrastructure error, never a failure;
    * ``hil.target.setup``, ``hil.vdev_warnings``, ``hil.measurement``: the
      target's bring-up time, vdev compiler warnings, ``hil_measure`` values.
    """

    def __init__(
        self,
        max_output: int = 64 * 1024,
        hostname: str | None = None,
        host_suite: str = HOST_SUITE,
        target_names: Iterable[str] = (),
        listeners: Iterable[Listener] = (),
    ) -> None:
        if max_output < MIN_OUTPUT:
            raise ValueError(
                f"RunRecorder: max_output={max_output} is too small; "
                f"give at least {MIN_OUTPUT} characters (default 65536)"
            )
        self.max_output = max_output
        self.host_suite = host_suite
        self.listeners: list[Listener] = list(listeners)
        self._active = True
        self._record = RunRecord(hostname=hostname or socket.gethostname(), started=time.time())
        self._suites: dict[str, Suite] = {}
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._collect_errors: set[str] = set()
        self.target_names = set(target_names)
        #: tests started (``pytest_runtest_logstart``, forwarded by xdist from the workers) and not
        #: finished: a cancellation reports each of them once, as interrupted
        self._started: dict[str, float] = {}
        #: (suite, node id) of every finished test: a second result replaces the first (each test once)
        self._finished: dict[tuple[str, str], CaseResult] = {}

    # ---- the record -------------------------------------------------------

    def record(self) -> RunRecord:
        """The run so far (the recorder's own record: read it, never change it)."""
        self._record.suites = list(self._suites.values())
        return self._record

    @property
    def results(self) -> list[CaseResult]:
        """Every finished test, suite by suite, in the order they finished."""
        return self.record().results

    def counts(self) -> dict[str, Counts]:
        """Outcome counts per suite (target name, or the host suite)."""
        return self.record().counts()

    def add_coverage(self, report: Any, text: str) -> None:
        """The session's coverage report (``hil.qvmrun.coverage.CoverageReport``) and its summary lines."""
        self._record.coverage = report
        self._record.coverage_text = text
        self._event("coverage", one_line(text))

    def _event(self, kind: EventKind, detail: str = "") -> None:
        self._record.events.append(SessionEvent(kind, time.time(), clean(detail)))

    def _changed(self, change: Change) -> None:
        record = self.record()
        for listener in self.listeners:
            listener(record, change)

    # ---- pytest hooks -----------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        self._active = not hasattr(config, "workerinput")

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self._active:
            self._record.started = time.time()
            self._event("start")
            self._changed("start")

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if self._active:
            self._started.setdefault(nodeid, time.time())

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
        self._started.pop(report.nodeid, None)
        self._finish(report.nodeid, pending, interrupted=None)
        self._changed("test")

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not self._active or not report.failed or report.nodeid in self._collect_errors:
            return
        self._collect_errors.add(report.nodeid)
        nodeid = report.nodeid or "<session>"
        details = bound_text(clean(report.longreprtext), self.max_output)
        message = clean(f"collection error: {_crash_message(report)}")
        self._event("collection-error", f"{nodeid}: {message}")
        self._add(
            CaseResult(
                suite=self.host_suite,
                nodeid=nodeid,
                name=f"collect {nodeid}",
                classname=f"{_module_path(nodeid)}.{self.host_suite}",
                outcome="error",
                duration=0.0,
                message=message,
                details=details,
            ),
            time.time(),
            {},
        )
        self._changed("test")

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if not self._active:
            return
        why = f"{excinfo.typename}: {excinfo.value}".rstrip(": ")
        self._event("interrupted", one_line(why))
        self._flush_pending(why)
        self._changed("interrupted")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self._active:
            return
        self._record.exitstatus = int(exitstatus)
        self._flush_pending("session ended")
        self._event("finish", f"exit status {int(exitstatus)}")
        self._record.final = True
        self._changed("finish")

    # ---- building ---------------------------------------------------------

    def _flush_pending(self, why: str) -> None:
        """Record every unfinished test as an error: the run stopped under it."""
        for (_, nodeid), pending in list(self._pending.items()):
            self._started.pop(nodeid, None)
            self._finish(nodeid, pending, interrupted=why)
        self._pending.clear()
        for nodeid, start in list(self._started.items()):  # started under a worker, nothing reported yet
            self._finish(nodeid, _Pending(start=start), interrupted=why)
        self._started.clear()

    def _finish(self, nodeid: str, pending: _Pending, interrupted: str | None) -> None:
        """Turn the reports of one test into a CaseResult in its target's suite."""
        props: dict[str, str] = {}
        logs: dict[str, list[str]] = {key: [] for key in reportkeys.LOGS}
        vdev_warnings: list[dict[str, Any]] = []
        measurements: list[Measurement] = []
        for name, value in pending.properties:
            if name == reportkeys.MEASUREMENT:
                measured = Measurement.from_json(str(value))
                if measured is not None:
                    measurements.append(measured)
            elif name == reportkeys.VDEV_WARNINGS:
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
        target: str | None = props.get(reportkeys.TARGET) or self._target_of(nodeid)
        suite = target or self.host_suite
        classname, name = _names(nodeid, suite, target)
        artifacts = props.get(reportkeys.ARTIFACTS) or None
        infrastructure = props.get(reportkeys.INFRASTRUCTURE)
        reports = pending.reports
        try:
            target_setup = max(float(props.get(reportkeys.TARGET_SETUP) or 0.0), 0.0)
        except ValueError:
            target_setup = 0.0
        # The target's bring-up (a VM boot) is the suite's set-up time, not this test's.
        duration = max(sum(r.duration for r in reports.values()) - target_setup, 0.0)
        outcome, message, details = self._outcome(reports, infrastructure, interrupted)

        def log(key: str, file_name: str) -> str:
            full = f"{artifacts}/{file_name}" if artifacts else None
            return bound_text(clean(terminal_text("\n".join(logs[key]))), self.max_output, full)

        case = CaseResult(
            suite=suite,
            nodeid=nodeid,
            name=clean(name),
            classname=clean(classname),
            outcome=outcome,
            duration=duration,
            message=clean(message),
            details=bound_text(clean(details), self.max_output),
            infrastructure=None if infrastructure is None else clean(infrastructure),
            console=log(reportkeys.CONSOLE, CONSOLE_LOG_NAME),
            qvm_log=log(reportkeys.QVM_LOG, QVM_LOG_NAME),
            artifacts=artifacts,
            guest_console=log(reportkeys.GUEST_CONSOLE, GUEST_LOG_NAME),
            target_setup=target_setup,
            start=pending.start,
            vdev_warnings=vdev_warnings,
            measurements=measurements,
        )
        self._add(case, pending.start, self._facts(props.get(reportkeys.TARGET_FACTS)) if target else {})

    def _outcome(
        self, reports: dict[str, pytest.TestReport], infrastructure: str | None, interrupted: str | None
    ) -> tuple[Outcome, str, str]:
        """(outcome, one-line message, details) from a test's setup/call/teardown reports."""
        setup, call, teardown = reports.get("setup"), reports.get("call"), reports.get("teardown")
        others = [r for w, r in reports.items() if w not in ("setup", "call", "teardown")]
        failed = [r for r in (setup, call, teardown, *others) if r is not None and r.failed]
        details = "\n\n".join(f"[{r.when}]\n{r.longreprtext}" if len(failed) > 1 else r.longreprtext for r in failed)
        if infrastructure is not None:
            return "error", f"infrastructure: {one_line(infrastructure) or 'unknown cause'}", details or infrastructure
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
            return "error", one_line(f"interrupted: test did not finish ({interrupted})"), ""
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
            return {reportkeys.TARGET_FACTS: _property(raw)}
        return {_property(str(k), 200): _property(v if isinstance(v, str) else json.dumps(v)) for k, v in facts.items()}

    def _target_of(self, nodeid: str) -> str | None:
        """The target named by a test's ``[...]`` parameter id (one of ``target_names``), if any."""
        params = nodeid.rsplit("[", 1)[1].rstrip("]") if nodeid.endswith("]") and "[" in nodeid else ""
        for name in sorted(self.target_names, key=len, reverse=True):
            if params == name or params.startswith(f"{name}-") or params.endswith(f"-{name}") or f"-{name}-" in params:
                return name
        return None

    def _add(self, case: CaseResult, start: float, facts: dict[str, str]) -> None:
        suite = self._suites.get(case.suite)
        if suite is None:
            suite = self._suites[case.suite] = Suite(name=case.suite, started=start)
        suite.started = min(suite.started, start)
        suite.properties.update(facts)
        earlier = self._finished.get((case.suite, case.nodeid))
        if earlier is not None and earlier in suite.cases and _cut_short(earlier):
            # each test once: xdist ran a crashed worker's test again on its replacement; that result stands
            suite.cases.remove(earlier)
            case.details = bound_text(
                clean(f"{case.details}\n[an earlier result of this test: {earlier.outcome}: {earlier.message}]"),
                self.max_output,
            )
        self._finished[(case.suite, case.nodeid)] = case
        suite.cases.append(case)
