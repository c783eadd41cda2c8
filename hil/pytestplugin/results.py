"""What a HIL run's reports are made of: a finished test (``CaseResult``), a target's suite and outcome counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

#: What ``<system-out>`` says when a test produced no console output at all (never left out:
#: xunit-viewer shows a passing test without system-out as "unknown").
NO_OUTPUT = "(no console output)"

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
