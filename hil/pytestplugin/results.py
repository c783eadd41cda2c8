"""What a HIL run's reports are made of: the run's record (``RunRecord``), each target's suite, each finished
test (``CaseResult``), the session's events and outcome counts.

The recorder (``hil.pytestplugin.recorder``) fills these in; every report writer
(``hil.pytestplugin.writers``) reads only them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: What ``<system-out>`` says when a test produced no console output at all (never left out:
#: xunit-viewer shows a passing test without system-out as "unknown").
NO_OUTPUT = "(no console output)"

Outcome = Literal["passed", "failed", "error", "skipped"]

#: Suite property: seconds spent bringing the target up (VM boot, attach), not counted in any test.
SETUP_PROPERTY = "target.setup.seconds"
#: The prefix of a measurement's suite property: ``measurement.<test name>.<measurement name>`` (its ``text()``).
MEASUREMENT_PREFIX = "measurement."


def fmt_time(seconds: float) -> str:
    """A duration in the SUREFIRE_TIME format (plain decimal, never ``1e-05``)."""
    return f"{max(seconds, 0.0):.3f}"


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
    #: the values the test recorded with ``hil_measure`` (``hil.pytestplugin.measure.Measurement``)
    measurements: list[Any] = field(default_factory=list)

    @property
    def system_out(self) -> str:
        """What ``<system-out>`` holds: the guest console (qvm stdout) and the serial slice, each
        under a heading when both are there; NO_OUTPUT when there is neither."""
        if self.guest_console and self.console:
            return f"--- guest console (qvm stdout)\n{self.guest_console}\n--- serial console\n{self.console}"
        return self.guest_console or self.console or NO_OUTPUT


@dataclass
class Suite:
    """One target's results and facts; ``started`` is the first test's start (epoch seconds)."""

    name: str
    started: float
    properties: dict[str, str] = field(default_factory=dict)
    cases: list[CaseResult] = field(default_factory=list)


#: What happened to the session as a whole: it started, a file failed to collect, it was interrupted,
#: the coverage report was made, it finished.
EventKind = Literal["start", "collection-error", "interrupted", "coverage", "finish"]


@dataclass(frozen=True)
class SessionEvent:
    """One event of the session (not of a test): its kind, when (epoch seconds) and a one-line detail."""

    kind: EventKind
    t: float
    detail: str = ""


@dataclass
class RunRecord:
    """The run as the reports see it: every target's suite with its finished tests, the session's events,
    its exit status once it finished and, with ``--hil-coverage``, the coverage report.

    A writer reads a record and never changes it; ``final`` is true once the session has ended (the
    record is complete), false for the snapshots written while tests still run.
    """

    hostname: str
    started: float
    suites: list[Suite] = field(default_factory=list)
    events: list[SessionEvent] = field(default_factory=list)
    exitstatus: int | None = None
    final: bool = False
    #: the session's ``hil.qvmrun.coverage.CoverageReport`` (--hil-coverage), or None
    coverage: Any = None
    #: its summary lines (one per vdev, and those below their minimum), for summary.txt
    coverage_text: str = ""

    @property
    def results(self) -> list[CaseResult]:
        """Every finished test, suite by suite, in the order they finished."""
        return [case for suite in self.suites for case in suite.cases]

    def counts(self) -> dict[str, Counts]:
        """Outcome counts per suite (target name, or the host suite)."""
        out: dict[str, Counts] = {}
        for suite in self.suites:
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
            out[suite.name] = counts
        return out

    def suite_properties(self) -> dict[str, dict[str, str]]:
        """Each suite's properties (target facts, measurements, ``target.setup.seconds``), by suite name."""
        out: dict[str, dict[str, str]] = {}
        for suite in self.suites:
            properties = dict(suite.properties)
            for case in suite.cases:  # junit-10.xsd has no properties per test case
                properties.update({f"{MEASUREMENT_PREFIX}{case.name}.{m.name}": m.text() for m in case.measurements})
            setup = sum(c.target_setup for c in suite.cases)
            if setup:
                properties[SETUP_PROPERTY] = fmt_time(setup)
            out[suite.name] = properties
        return out
