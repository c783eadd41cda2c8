"""What a test's outcome is: infrastructure and setup errors, cancellation, sanitizer reports, one retry."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from hil.core import cancel
from hil.core.errors import InfrastructureError, SetupError
from hil.core.paths import PACKAGE_DIR
from hil.core.text import terminal_safe
from hil.pytestplugin import reportkeys
from hil.pytestplugin.pool import POOL_KEY, TARGET_KEY
from hil.pytestplugin.vdevs import RUNNER_KEY

#: the cause of the infrastructure error of the test's latest attempt (it calls for a retry)
INFRA_KEY = pytest.StashKey[str]()
#: the cause of the infrastructure error that made the test run again
RETRIED_KEY = pytest.StashKey[str]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    cancelled = cancel.requested()
    if cancelled is not None and call.excinfo is not None:
        # Whatever failed while the run was being cancelled (a link whose VM was stopped, ...)
        # is the cancellation: an error of the test, never an infrastructure error to retry.
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        report.outcome = "failed"
        if report.when == "call":
            report.when = "setup"
        report.longrepr = terminal_safe(f"CANCELLED ({cancelled}): {call.excinfo.value}\n\n{report.longrepr}")
        return
    infra = call.excinfo is not None and call.excinfo.errisinstance(InfrastructureError)
    if infra:
        assert call.excinfo is not None
        cause = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
        item.stash[INFRA_KEY] = cause
        item.user_properties.append((reportkeys.INFRASTRUCTURE, cause))
        name = item.stash.get(TARGET_KEY, None)
        if name is not None:
            item.config.stash[POOL_KEY].needs_reset.add(name)
    setup = call.excinfo is not None and call.excinfo.errisinstance(SetupError)
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        _sanitizer_failure(item, report)
    if report.when in ("setup", "call") and report.failed and (infra or setup):
        # The lab failed, or an input (a vdev that does not compile, a bad definition) is
        # wrong: the test could not run, an error of the test, never a vdev failure.  The
        # cause first (the compiler's own lines, the infrastructure's one paragraph), then
        # only the test's own frames: qnx-hil's are hidden (pytest --fulltrace shows them).
        assert call.excinfo is not None
        report.when = "setup"
        kind = "INFRASTRUCTURE ERROR" if infra else "SETUP ERROR"
        if item.config.getoption("fulltrace", False):
            report.longrepr = f"{kind}: {call.excinfo.value}\n\n{report.longrepr}"
        else:
            report.longrepr = cause_first(kind, call.excinfo)
    _safe_longrepr(report)


def _safe_longrepr(report: pytest.TestReport) -> None:
    """A failure's text made safe for the terminal and every report (``terminal_safe``): assertion
    messages carry what the guest, a vdev or a board printed.  Left as pytest made it when it is
    already safe (its colours kept)."""
    if report.longrepr is None:
        return
    text = str(report.longrepr)
    safe = terminal_safe(text)
    if safe != text:
        report.longrepr = safe


def _library_frame(path: str) -> bool:
    """A frame of qnx-hil itself, of pytest or of pluggy (not the user's test or fixture)."""
    return path.startswith(str(PACKAGE_DIR)) or any(
        f"{os.sep}{name}{os.sep}" in path for name in ("_pytest", "pluggy", "paramiko")
    )


def cause_first(kind: str, excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    """The error's cause, then where the test was (its own frames only, one line each)."""
    own: list[str] = []
    for entry in excinfo.traceback:
        if _library_frame(str(entry.path)):
            continue
        try:
            statement = str(entry.statement).strip().splitlines()[0]
        except (IndexError, OSError, ValueError):
            statement = ""
        own.append(f"  {entry.path}:{entry.lineno + 1}: in {entry.name}" + (f": {statement}" if statement else ""))
    where = "\n\nwhere the test was:\n" + "\n".join(own) if own else ""
    return f"{kind}: {excinfo.value}{where}\n(qnx-hil's own frames are hidden: pytest --fulltrace shows them)"


def _run_phases(
    item: pytest.Item, nextitem: pytest.Item | None, may_retry: bool, reports: list[pytest.TestReport]
) -> None:
    """Setup, call, teardown, as pytest's ``runtestprotocol`` does, into ``reports``; when an
    infrastructure error calls for a retry, the teardown keeps the session's fixtures (the targets)."""
    from _pytest.runner import call_and_report, show_test_item

    if hasattr(item, "_request") and not item._request:  # noqa: SLF001
        item._initrequest()  # type: ignore[attr-defined]  # noqa: SLF001
    reports.append(call_and_report(item, "setup", log=False))
    if reports[-1].passed:
        if item.config.getoption("setupshow", False):
            try:
                show_test_item(item, add_space=not item.config.getoption("setuponly", False))
            except TypeError:  # pytest < 8.4
                show_test_item(item)  # type: ignore[call-arg]
        if not item.config.getoption("setuponly", False):
            reports.append(call_and_report(item, "call", log=False))
    retry = may_retry and INFRA_KEY in item.stash
    # For a retry, tear down only the test's own fixtures: everything on the parent's chain stays.
    keep = item.parent if retry else nextitem
    reports.append(call_and_report(item, "teardown", log=False, nextitem=keep))
    if hasattr(item, "_request"):
        item._request = False  # noqa: SLF001
        item.funcargs = None  # type: ignore[attr-defined]


def _stop_if_cancelled(item: pytest.Item) -> None:
    """A cancelled run (SIGTERM, SIGINT) ends here, as pytest ends on Ctrl-C: no retry, no further
    test, the session's teardown and reports, a non-zero exit status."""
    reason = cancel.requested()
    if reason is not None:
        if INFRA_KEY in item.stash:
            del item.stash[INFRA_KEY]
        raise cancel.Cancelled(f"cancelled by {reason}")


def _interrupted_setup(item: pytest.Item, exc: KeyboardInterrupt) -> pytest.TestReport:
    """The report of a test whose setup a cancellation cut short (pytest itself reports none)."""
    return pytest.TestReport(
        item.nodeid,
        item.location,
        {k: 1 for k in item.keywords},
        "failed",
        f"CANCELLED ({cancel.requested() or type(exc).__name__}) while setting up: {exc}",
        "setup",
        user_properties=list(item.user_properties),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    """Run a target test; after an infrastructure error, bring the target back and retry it once.

    The retry is recorded: its console slice starts with a note naming the first error.
    """
    if "_hil_target_name" not in getattr(item, "fixturenames", ()) or item.config.getoption("hil_no_retry"):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    reports: list[pytest.TestReport] = []
    try:
        _run_phases(item, nextitem, True, reports)
        _stop_if_cancelled(item)
        cause = item.stash.get(INFRA_KEY, None)
        if cause is not None:
            del item.stash[INFRA_KEY]
            item.stash[RETRIED_KEY] = cause
            item.user_properties[:] = []
            reports.clear()
            _run_phases(item, nextitem, False, reports)
            _stop_if_cancelled(item)
    except KeyboardInterrupt as exc:
        if not reports:  # cancelled while setting up (bringing the target up, ...): still in the report
            reports.append(_interrupted_setup(item, exc))
        raise
    finally:
        # also on Ctrl-C: what ran is reported, and the recorder sees the test unfinished
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _sanitizer_failure(item: pytest.Item, report: pytest.TestReport) -> None:
    """A test whose qvm runs had sanitizer reports fails with them (also in its JUnit system-err).

    ``@pytest.mark.hil_sanitizer_expected``: the test provokes the reports on purpose (a vdev made to
    crash); they are attached to it but do not fail it.
    """
    runner = item.stash.get(RUNNER_KEY, None)
    if runner is None or not runner.sanitizer_findings:
        return
    text = "\n\n".join(runner.sanitizer_findings)
    report.user_properties.append((reportkeys.QVM_LOG, f"--- sanitizer reports\n{text}\n"))
    if item.get_closest_marker("hil_sanitizer_expected") is not None:
        # the test provokes what the sanitizers report (a deliberate crash): kept, not a failure
        report.user_properties.append((reportkeys.SANITIZER_EXPECTED, str(len(runner.sanitizer_findings))))
        return
    if report.passed:
        report.outcome = "failed"
        report.longrepr = f"SANITIZER REPORT ({len(runner.sanitizer_findings)}):\n{text}"
    else:
        report.longrepr = f"{report.longrepr}\n\nSANITIZER REPORT ({len(runner.sanitizer_findings)}):\n{text}"
