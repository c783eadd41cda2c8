"""The qnx-hil pytest plugin (registered through the ``pytest11`` entry point).

Fixtures (all prefixed ``hil_`` so they never clash with labgrid's or
pytest-embedded's ``target``/``dut``):

* ``hil_target``: the target this test runs on (booted or attached once per
  session, reset before the next test after an infrastructure failure).
* ``hil_console``: this test's slice of the target's serial console.
* ``hil_ssh``: the target's SSH connection (qemu and board targets).
* ``hil_artifacts``: this test's artifacts folder.
* ``hil_deployment``: this test's private folder on the target.
* ``hil_vdev``: builds a vdev for the target and deploys it.
* ``hil_qvm``: runs qvm on the target (``run``/``start``).

``--hil-target`` may be given several times (names, ``label:LABEL`` or
``.toml`` paths): every test that uses a target runs once per selected
target, with the target's name in its test id.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from hil.core import cancel
from hil.core.errors import HilError, InfrastructureError, SetupError
from hil.core.inputs import safe_name
from hil.orchestrate import bring_up
from hil.pytestplugin.live import LiveView
from hil.targets import Target, make_target
from hil.targets.definition import (
    CONVENTIONAL_TARGETS_DIR,
    TARGETS_DIR_SETTING,
    TargetDefinition,
    TargetFolders,
    project_folders,
    select,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from hil.links.console import Console, ConsoleMatch, PatternLike
    from hil.qvm.gates import Gates
    from hil.qvm.runner import QvmRunner
    from hil.targets.deploy import Deployment


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("qnx-hil", "QNX Hypervisor hardware-in-the-loop")
    group.addoption(
        "--hil-target",
        action="append",
        default=None,
        metavar="NAME|label:LABEL|PATH",
        help="target(s) to run HIL tests on (repeatable; default: qemu, the public QEMU target)",
    )
    group.addoption(
        "--hil-targets-dir",
        action="append",
        default=None,
        metavar="DIR",
        help=f"folder(s) of target definitions (*.toml), besides the built-in local and qemu; default: "
        f"the {TARGETS_DIR_SETTING} setting, else {CONVENTIONAL_TARGETS_DIR}/ beside the rootdir",
    )
    group.addoption(
        "--hil-artifacts",
        default="artifacts",
        metavar="DIR",
        help="where per-test consoles, qvm logs and target run files go (default: artifacts)",
    )
    parser.addini(
        "hil_targets", type="args", default=[], help="default --hil-target selection for this project (default: qemu)"
    )
    parser.addini(
        TARGETS_DIR_SETTING,
        type="args",
        default=[],
        help=f"folder(s) of this project's target definitions, relative to the rootdir "
        f"(default: {CONVENTIONAL_TARGETS_DIR}/ there, when it exists)",
    )
    group.addoption(
        "--hil-keep",
        action="store_true",
        default=False,
        help="keep each test's deployment folder on the target after the test",
    )
    group.addoption(
        "--hil-junit",
        default=None,
        metavar="PATH",
        help="write a JUnit report (one testsuite per target), updated after every test",
    )
    group.addoption(
        "--hil-summary",
        default=None,
        metavar="PATH",
        help="write a plain-text summary table (and counts.json beside it) at the end",
    )
    group.addoption(
        "--hil-html",
        default=None,
        metavar="PATH",
        help="write an HTML report at the end (self-contained: overview, per-test qvm timelines, plots); "
        "a JUnit report is written beside it unless --hil-junit names one",
    )
    group.addoption(
        "--hil-history",
        action="append",
        default=None,
        metavar="DIR",
        help="an earlier report folder (or a folder of them) for the HTML report's trends (repeatable)",
    )
    group.addoption(
        "--hil-private-vm",
        action="store_true",
        default=False,
        help="boot a private VM for each qemu target even when 'hil target up' left one running "
        "(default: attach to it; also HIL_PRIVATE_VM=1)",
    )
    group.addoption(
        "--hil-no-retry",
        action="store_true",
        default=False,
        help="do not retry a test once after an infrastructure error",
    )
    group.addoption(
        "--hil-portable",
        action="store_true",
        default=None,
        help="build vdevs with only the names QNX documents for 8.0 (qvmsim's own names are "
        "compile errors), on every target; default: the hil_portable setting, else each "
        "target's [toolchain] portable",
    )
    group.addoption(
        "--hil-werror",
        action="store_true",
        default=False,
        help="make every vdev compiler warning a build error (-Werror), on every target; "
        "default: each target's [toolchain] werror",
    )
    group.addoption(
        "--hil-coverage",
        action="store_true",
        default=False,
        help="build vdevs with gcc's coverage counters (local, qemu), collect them after every qvm run and "
        "write a coverage report (HTML, Cobertura XML) merged per vdev over the session and the targets; "
        "default: each target's [toolchain] coverage",
    )
    group.addoption(
        "--hil-coverage-dir",
        default=None,
        metavar="DIR",
        help="where the coverage report goes (default: coverage/ beside the artifacts folder)",
    )
    group.addoption(
        "--hil-sanitize",
        default=None,
        metavar="address,undefined",
        help="build the vdevs and qvm (qvmsim) with these sanitizers (ASan with leak checks, UBSan), on local "
        "and qemu; a sanitizer report fails the test; default: each target's [toolchain] sanitize",
    )
    group.addoption(
        "--hil-console-live",
        action="store_true",
        default=False,
        help="stream the running test's serial console ([serial]), guest console ([guest], qvm's stdout) and "
        "qvm log ([qvm], its stderr) to the terminal as they arrive, line by line, coloured per stream",
    )
    parser.addini(
        "hil_portable",
        type="bool",
        default=False,
        help="build this project's vdevs in portable mode (only QNX-documented names)",
    )


@dataclass
class TargetPool:
    """The session's targets: created on first use, brought back after infrastructure failures."""

    artifacts: Path
    definitions: dict[str, TargetDefinition]
    targets: dict[str, Target] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    needs_reset: set[str] = field(default_factory=set)
    #: seconds the latest bring-up of each target took, until a test claims them (``take_setup``)
    setup_seconds: dict[str, float] = field(default_factory=dict)

    def take_setup(self, name: str) -> float:
        """Seconds spent bringing ``name`` up since the last call (0.0 when it was already up)."""
        return self.setup_seconds.pop(name, 0.0)

    def get(self, name: str) -> Target:
        """The target named ``name``, up and healthy, or an ``InfrastructureError``."""
        reason = cancel.requested()
        if reason is not None:  # never boot or reset a target for a cancelled run
            raise cancel.Cancelled(f"cancelled by {reason}")
        if name in self.broken:
            raise InfrastructureError(f"target '{name}' is unavailable: {self.broken[name]}")
        target = self.targets.get(name)
        if target is not None and name in self.needs_reset:
            self.needs_reset.discard(name)
            if not target.healthy():
                self._bring_up(name, target, reset=True)
            return target
        if target is None:
            target = make_target(self.definitions[name], self.artifacts / safe_name(name) / "target")
            self.targets[name] = target
            self._bring_up(name, target, reset=False)
            from hil.targets.deploy import cleanup_stale

            cleanup_stale(target)
        return target

    def _bring_up(self, name: str, target: Target, reset: bool) -> None:
        started = time.monotonic()
        try:
            bring_up(target, reset=reset)
            self.setup_seconds[name] = self.setup_seconds.get(name, 0.0) + time.monotonic() - started
        except HilError as exc:
            self.failures[name] = self.failures.get(name, 0) + 1
            target.down()
            self.targets.pop(name, None)
            if self.failures[name] >= 2:
                self.broken[name] = f"{exc} (gave up after {self.failures[name]} attempts)"
            raise

    def release(self, name: str) -> None:
        target = self.targets.pop(name, None)
        if target is not None:
            from hil.targets.deploy import flush_cleanups

            flush_cleanups(target)  # the folders of the last tests (their clean-up was deferred)
            target.down()

    def close(self) -> None:
        for name in list(self.targets):
            self.release(name)


_POOL_KEY = pytest.StashKey[TargetPool]()
_TARGET_KEY = pytest.StashKey[str]()
_FOLDERS_KEY = pytest.StashKey[TargetFolders]()
_LIVE_KEY = pytest.StashKey[LiveView]()


def target_folders(config: pytest.Config) -> TargetFolders:
    """This project's target definition folders: ``--hil-targets-dir``, else the ``hil_targets_dir``
    setting (relative to the rootdir), else ``targets/`` beside the rootdir when it exists."""
    return project_folders(
        config.getoption("hil_targets_dir") or [],
        config.getini(TARGETS_DIR_SETTING),
        config.rootpath,
        config.inipath,
        config.invocation_params.dir,
    )


def _selected(config: pytest.Config, folders: TargetFolders) -> list[TargetDefinition]:
    selectors = config.getoption("hil_target") or config.getini("hil_targets") or ["qemu"]
    return select(selectors, folders.folders)


def _check_outputs(config: pytest.Config) -> None:
    """Every output option is writable before the run starts: one usage line, not a traceback at its end."""
    from hil.core.outputs import output_dir, output_file

    try:
        output_dir(config.getoption("hil_artifacts"), "--hil-artifacts")
        for dest, option in (
            ("hil_junit", "--hil-junit"),
            ("hil_summary", "--hil-summary"),
            ("hil_html", "--hil-html"),
        ):
            value = config.getoption(dest)
            if value:
                output_file(value, option)
    except HilError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_kinds(*kinds): run this test only on targets of these kinds")
    # SIGTERM (a CI job cancelled) and SIGINT (Ctrl-C) cancel the run: the test under way ends
    # as interrupted (never retried), fixtures are torn down (VMs stopped), the report is
    # written with the interrupted test in it and pytest exits non-zero (hil.core.cancel).
    cancel.install()
    if config.getoption("hil_private_vm", False):
        import os

        from hil.targets.qemu import PRIVATE_VM_ENV

        os.environ[PRIVATE_VM_ENV] = "1"
    try:
        folders = target_folders(config)
    except HilError as exc:
        raise pytest.UsageError(f"target definitions: {exc}") from None
    try:
        definitions = _selected(config, folders)
    except HilError as exc:
        raise pytest.UsageError(f"--hil-target: {exc}") from None
    _check_outputs(config)
    if config.getoption("hil_console_live", False):
        live = LiveView.for_config(config)  # the terminal's fd, while pytest's capture is suspended
        config.stash[_LIVE_KEY] = live
        config.pluginmanager.register(live, "hil-live")
        config.add_cleanup(live.close)
    config.stash[_FOLDERS_KEY] = folders
    config.stash[_POOL_KEY] = TargetPool(
        Path(config.getoption("hil_artifacts")).resolve(), {d.name: d for d in definitions}
    )
    junit = config.getoption("hil_junit")
    beside = config.getoption("hil_summary") or config.getoption("hil_html")
    if (junit or beside) and not hasattr(config, "workerinput"):
        from hil.pytestplugin.junit import JUnitReporter

        path = Path(junit) if junit else Path(beside).with_name("junit.xml")
        config.pluginmanager.register(JUnitReporter(path.resolve()), "hil-junit")


def _coverage_report(config: pytest.Config) -> str:
    """With --hil-coverage, on the controller: the coverage report of every run's counters (all targets);
    returns its summary lines (one per vdev) for summary.txt."""
    if not config.getoption("hil_coverage", False) or hasattr(config, "workerinput"):
        return ""
    from hil.qvm.coverage import build_report

    pool = config.stash[_POOL_KEY]
    out = Path(config.getoption("hil_coverage_dir") or pool.artifacts.parent / "coverage").resolve()
    try:
        report = build_report(pool.artifacts, out, config.rootpath)
    except HilError as exc:
        print(f"\nhil: coverage report failed: {exc}", flush=True)
        return f"\ncoverage: report failed: {exc}\n"
    text = report.text()
    print(f"\n{text}", end="", flush=True)
    return "\n" + text


def pytest_report_header(config: pytest.Config) -> list[str]:
    pool = config.stash.get(_POOL_KEY, None)
    folders = config.stash.get(_FOLDERS_KEY, None)
    if pool is None or folders is None:
        return []
    return [f"hil targets: {', '.join(pool.definitions)}; definitions: {folders.describe()}"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    summary = session.config.getoption("hil_summary")
    reporter = session.config.pluginmanager.get_plugin("hil-junit")
    coverage_lines = _coverage_report(session.config)
    if summary and reporter is not None:
        from hil.pytestplugin.summary import write_summary

        write_summary(Path(summary), reporter, coverage_lines)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One xdist group per target: with --dist loadgroup each worker binds to one target.
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "_hil_target_name" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(callspec.params["_hil_target_name"]))


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """With ``--dist loadgroup``: xdist's own scope scheduler, one scope per target.

    (pytest-xdist's ``xdist_group`` marks rename node ids, which pytest >= 9.2 no longer
    allows; so the scope is read from the target in the test id instead.)
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    names = sorted(config.stash[_POOL_KEY].definitions, key=len, reverse=True)

    class TargetScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            params = nodeid[nodeid.rfind("[") + 1 : -1] if nodeid.endswith("]") else ""
            for name in names:
                if params == name or params.startswith(name + "-"):
                    return f"hil-target:{name}"
            return str(super()._split_scope(nodeid))

    return TargetScopeScheduling(config, log)


def _write_html(config: pytest.Config) -> None:
    """The HTML report (``--hil-html``), from the JUnit reporter's results once it has written its last."""
    html = config.getoption("hil_html", None)
    reporter = config.pluginmanager.get_plugin("hil-junit")
    if not html or reporter is None or hasattr(config, "workerinput"):
        return
    from hil.pytestplugin.html import render

    path = render(
        Path(html).resolve(),
        reporter.results,
        reporter.suite_properties(),
        [Path(p) for p in config.getoption("hil_history") or []],
        title=f"HIL run {Path(html).resolve().parent.name}",
    )
    print(f"\nhil: HTML report {path}", flush=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    _write_html(config)
    pool = config.stash.get(_POOL_KEY, None)
    if pool is not None:
        pool.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_hil_target_name" not in metafunc.fixturenames:
        return
    pool = metafunc.config.stash[_POOL_KEY]
    names = list(pool.definitions)
    marker = metafunc.definition.get_closest_marker("hil_kinds")
    if marker is not None:
        names = [n for n in names if pool.definitions[n].kind in marker.args]
    metafunc.parametrize("_hil_target_name", names, ids=names, scope="session", indirect=True)


@pytest.fixture(scope="session")
def _hil_target_name(request: pytest.FixtureRequest) -> Iterator[str]:
    """The selected target's name (parametrized per selected target, one session instance each)."""
    name: str = request.param
    yield name
    request.config.stash[_POOL_KEY].release(name)


@pytest.fixture
def hil_target(request: pytest.FixtureRequest, _hil_target_name: str) -> Target:
    """The target this test runs on: up, healthy, shared by the session."""
    request.node.stash[_TARGET_KEY] = _hil_target_name
    pool = request.config.stash[_POOL_KEY]
    props = request.node.user_properties
    props.append(("hil.target", _hil_target_name))
    facts = {
        "target.kind": pool.definitions[_hil_target_name].kind,
        "target.arch": pool.definitions[_hil_target_name].arch,
    }
    props.append(("hil.target.facts", json.dumps(facts)))
    target = pool.get(_hil_target_name)
    props[-1] = ("hil.target.facts", json.dumps({**facts, **target.facts()}))
    live = request.config.stash.get(_LIVE_KEY, None)
    if live is not None and target.console is not None:  # --hil-console-live
        live.watch_console(target.console, "serial" if len(pool.definitions) == 1 else f"serial {_hil_target_name}")
    setup = pool.take_setup(_hil_target_name)
    if setup:
        props.append(("hil.target.setup", f"{setup:.6f}"))  # the report counts it as the target's, not the test's
    return target


@pytest.fixture
def hil_artifacts(request: pytest.FixtureRequest, _hil_target_name: str) -> Path:
    """This test's own artifacts folder: ``<artifacts>/<target>/<test>/``."""
    pool = request.config.stash[_POOL_KEY]
    path = pool.artifacts / safe_name(_hil_target_name) / safe_name(request.node.name)
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def hil_console(hil_target: Target, hil_artifacts: Path) -> Iterator[ConsoleSlice]:
    """This test's slice of the target's serial console, saved as ``console.log`` in its artifacts."""
    if hil_target.console is None:
        raise SetupError(
            f"target '{hil_target.name}' ({hil_target.kind}) has no serial console; mark the test "
            f'@pytest.mark.hil_kinds("qemu", "board") to run it only where there is one'
        )
    yield ConsoleSlice(hil_target.console)


@pytest.fixture
def hil_ssh(hil_target: Target):  # type: ignore[no-untyped-def]
    """The target's SSH connection (``hil.links.ssh.SshConnection``)."""
    ssh = getattr(hil_target, "ssh", None)
    if ssh is None:
        raise SetupError(
            f"target '{hil_target.name}' ({hil_target.kind}) is not reached over SSH; mark the test "
            f'@pytest.mark.hil_kinds("qemu", "board") to run it only where it is'
        )
    return ssh


class ConsoleSlice:
    """The part of a session-long console that belongs to one test."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.start = console.mark()
        self._next = self.start
        self.started_at = time.time()

    def text(self) -> str:
        return str(self.console.since(self.start))

    def expect(self, pattern: PatternLike | Sequence[PatternLike], timeout: float = 10.0) -> ConsoleMatch:
        """Wait for ``pattern`` in this test's part of the stream, after the previous match."""
        __tracebackhide__ = True  # a console that never showed it is the test's failure
        match = self.console.expect(pattern, timeout, since=self._next)
        self._next = match.end
        return match

    def not_matching(self, pattern: PatternLike) -> None:
        __tracebackhide__ = True
        self.console.not_matching(pattern, since=self.start)

    def sendline(self, line: str) -> None:
        self.console.sendline(line)


@pytest.fixture(autouse=True)
def _hil_record(request: pytest.FixtureRequest) -> Iterator[None]:
    """For every test on a target: its console slice and qvm logs, saved and attached to the report."""
    if "_hil_target_name" not in request.fixturenames:
        yield
        return
    name = request.getfixturevalue("_hil_target_name")
    pool = request.config.stash[_POOL_KEY]
    artifacts: Path = request.getfixturevalue("hil_artifacts")
    target = pool.targets.get(name)
    console = target.console if target is not None else None
    start = console.mark() if console is not None else None
    yield
    props = request.node.user_properties
    props.append(("hil.artifacts", str(artifacts)))
    target = pool.targets.get(name)
    console = target.console if target is not None else None
    if console is not None:
        text = console.since(start) if start is not None else console.text()
        retried = request.node.stash.get(_RETRIED_KEY, None)
        if retried:
            text = f"[hil: this is the retry after an infrastructure error: {retried}]\n" + text
        (artifacts / "console.log").write_text(text, encoding="utf-8")
        props.append(("hil.console", text))
    logs = sorted(artifacts.glob("run*.qvm.log"))
    if logs:
        text = "".join(f"--- {p.name}\n{p.read_text(encoding='utf-8', errors='replace')}" for p in logs)
        (artifacts / "qvm.log").write_text(text, encoding="utf-8")
        props.append(("hil.qvm_log", text))
    crashes = sorted(artifacts.glob("run*.crash.txt"))  # symbolised backtraces: after the log, kept by its bound
    if crashes:
        props.append(("hil.qvm_log", "".join(f"--- {p.name}\n{p.read_text(encoding='utf-8')}" for p in crashes)))
    guests = [p for p in sorted(artifacts.glob("run*.guest.log")) if p.stat().st_size]
    if guests:
        text = "".join(f"--- {p.name}\n{p.read_text(encoding='utf-8', errors='replace')}" for p in guests)
        (artifacts / "guest.log").write_text(text, encoding="utf-8")
        props.append(("hil.guest_console", text))
    if console is not None:
        # A death string (kernel panic, ...) no expect was waiting for: the target is gone bad.
        seen = console.take_failures()
        if seen:
            pool.needs_reset.add(name)
            raise InfrastructureError(f"target '{name}' console: " + "; ".join(str(f) for f in seen))


_RETRIED_KEY = pytest.StashKey[str]()
_INFRA_KEY = pytest.StashKey[str]()
_RUNNER_KEY = pytest.StashKey["QvmRunner"]()


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
        report.longrepr = f"CANCELLED ({cancelled}): {call.excinfo.value}\n\n{report.longrepr}"
        return
    infra = call.excinfo is not None and call.excinfo.errisinstance(InfrastructureError)
    if infra:
        assert call.excinfo is not None
        cause = f"{type(call.excinfo.value).__name__}: {call.excinfo.value}"
        item.stash[_INFRA_KEY] = cause
        item.user_properties.append(("hil.infrastructure", cause))
        name = item.stash.get(_TARGET_KEY, None)
        if name is not None:
            item.config.stash[_POOL_KEY].needs_reset.add(name)
    setup = call.excinfo is not None and call.excinfo.errisinstance(SetupError)
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        _sanitizer_failure(item, report)
    if report.when == "call" and (infra or setup):
        # The lab failed, or an input (a vdev that does not compile, a bad definition) is
        # wrong: the test could not run, an error of the test, never a vdev failure.
        assert call.excinfo is not None
        report.when = "setup"
        kind = "INFRASTRUCTURE ERROR" if infra else "SETUP ERROR"
        report.longrepr = f"{kind}: {call.excinfo.value}\n\n{report.longrepr}"


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
    retry = may_retry and _INFRA_KEY in item.stash
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
        if _INFRA_KEY in item.stash:
            del item.stash[_INFRA_KEY]
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
        cause = item.stash.get(_INFRA_KEY, None)
        if cause is not None:
            del item.stash[_INFRA_KEY]
            item.stash[_RETRIED_KEY] = cause
            item.user_properties[:] = []
            reports.clear()
            _run_phases(item, nextitem, False, reports)
            _stop_if_cancelled(item)
    except KeyboardInterrupt as exc:
        if not reports:  # cancelled while setting up (bringing the target up, ...): still in the report
            reports.append(_interrupted_setup(item, exc))
        raise
    finally:
        # also on Ctrl-C: what ran is reported, and the reporter sees the test unfinished
        for report in reports:
            item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


# -- vdevs and qvm ----------------------------------------------------------------------------


class VdevWarning(UserWarning):
    """A vdev compiled with warnings (``--hil-werror`` or ``[toolchain] werror`` make them errors)."""


@dataclass(frozen=True)
class DeployedVdev:
    """A vdev built for the test's target and copied into its deployment folder."""

    name: str
    remote_path: str
    local_path: Path


@pytest.fixture
def hil_deployment(request: pytest.FixtureRequest, hil_target: Target) -> Iterator[Deployment]:
    """This test's private folder on the target (removed afterwards unless ``--hil-keep``)."""
    from hil.targets.deploy import create_deployment

    deployment = create_deployment(hil_target, request.node.name, keep=request.config.getoption("hil_keep"))
    yield deployment
    try:
        deployment.cleanup(defer=True)  # removed with the next test's folder command: no round trip here
    except HilError:
        pass  # the target is being reset anyway


@pytest.fixture
def hil_vdev(request: pytest.FixtureRequest, hil_target: Target, hil_deployment: Deployment):  # type: ignore[no-untyped-def]
    """``hil_vdev("target_vdevs/wdog")``: build a vdev for the target and deploy it; returns its ``DeployedVdev``.

    Relative paths are taken from the pytest root folder.  A compile error is a
    ``SetupError`` showing the compiler's messages: an error of the test.
    """
    from hil.pytestplugin.summary import vdev_warnings_property
    from hil.targets.toolchain import build_vdev

    def build(source: str | Path, *more: str | Path, name: str | None = None) -> DeployedVdev:
        paths = [p if Path(p).is_absolute() else request.config.rootpath / p for p in (source, *more)]
        toolchain = hil_target.toolchain()
        if request.config.getoption("hil_portable") or request.config.getini("hil_portable"):
            toolchain = toolchain.with_portable()
        if request.config.getoption("hil_werror"):
            toolchain = toolchain.with_werror()
        gates = _gates(request.config, hil_target)
        if gates.active:
            toolchain = toolchain.with_gates(gates.coverage, gates.sanitize)
        built = build_vdev([Path(p) for p in paths], toolchain, name=name)
        if built.warnings.strip():
            # in the report (JUnit system-err, the test's artifacts) and pytest's warnings summary
            text = f"vdev '{built.name}': compiler warnings (--hil-werror makes them errors):\n{built.warnings}"
            request.node.user_properties.append(("hil.qvm_log", text))
            request.node.user_properties.append(  # summary.txt: one line per vdev with warnings
                ("hil.vdev_warnings", vdev_warnings_property(built.name, built.warnings, request.config.rootpath))
            )
            (request.getfixturevalue("hil_artifacts") / f"vdev-{built.name}.warnings.txt").write_text(text)
            warnings.warn(VdevWarning(text), stacklevel=2)
        remote = hil_deployment.put_file(built.path, built.path.name, 0o755)
        return DeployedVdev(built.name, remote, built.path)

    return build


@pytest.fixture
def hil_qvm(
    request: pytest.FixtureRequest, hil_target: Target, hil_deployment: Deployment, hil_artifacts: Path
) -> QvmRunner:
    """Runs qvm on the target in this test's folder: ``hil_qvm.run(config)`` / ``hil_qvm.start(config)``."""
    from hil.qvm.runner import QvmRunner

    runner = QvmRunner(
        hil_target, hil_deployment, hil_artifacts, hil_target.console, _gates(request.config, hil_target)
    )
    request.node.stash[_RUNNER_KEY] = runner  # its sanitizer findings fail the test (pytest_runtest_makereport)
    live = request.config.stash.get(_LIVE_KEY, None)
    if live is not None:  # --hil-console-live: qvm's stdout and stderr as they arrive
        runner.output_tap = live.qvm_tap
    return runner


@pytest.fixture
def hil_sweep(request: pytest.FixtureRequest, hil_target: Target, hil_artifacts: Path):  # type: ignore[no-untyped-def]
    """``hil_sweep("target_vdevs/wdog", base="loc 0x1c0f0000", accept=["tick=zero"])``: the configuration-fault
    sweep (``hil.qvm.sweep``) of a vdev folder on this target; returns the ``SweepReport`` (``findings``,
    ``table()``), written with its runs and ``findings/*.qvmconf`` into ``<artifacts>/sweep-NAME/``.
    The folder's ``sweep.accept`` is read; ``--hil-sanitize`` makes sanitizer reports findings."""
    import shlex

    from hil.qvm.gates import Gates
    from hil.qvm.sweep import SweepReport, default_acceptances, run_sweep
    from hil.targets.toolchain import build_vdev

    def sweep(
        vdev: str | Path,
        base: str | Sequence[str] = (),
        accept: Sequence[str] = (),
        exclude: Sequence[str] = (),
        timeout: float = 8.0,
        jobs: int = 2,
    ) -> SweepReport:
        folder = Path(vdev) if Path(vdev).is_absolute() else request.config.rootpath / vdev
        gates = _gates(request.config, hil_target)
        toolchain = hil_target.toolchain()
        if gates.sanitize:
            toolchain = toolchain.with_gates(False, gates.sanitize)
        built = build_vdev([folder], toolchain)
        acceptances = default_acceptances(folder)
        for spec in accept:
            acceptances.add(spec, "accepted by the test")
        for name in exclude:
            acceptances.exclude[name] = "excluded by the test"
        words = shlex.split(base) if isinstance(base, str) else list(base)
        report = run_sweep(
            hil_target, built.path, built.name, hil_artifacts / f"sweep-{built.name}", base=words,
            acceptances=acceptances, gates=Gates(sanitize=gates.sanitize), timeout=timeout, jobs=jobs,
        )  # fmt: skip
        request.node.user_properties.append(("hil.qvm_log", f"--- configuration-fault sweep\n{report.table()}"))
        return report

    return sweep


def _sanitizers(config: pytest.Config) -> tuple[str, ...]:
    from hil.targets.sdk import SANITIZERS

    value = config.getoption("hil_sanitize", None) or ""
    names = tuple(sorted({n.strip() for n in value.split(",") if n.strip()}))
    bad = [n for n in names if n not in SANITIZERS]
    if bad:
        raise pytest.UsageError(f"--hil-sanitize: unknown sanitizer(s) {', '.join(bad)}: use {','.join(SANITIZERS)}")
    return names


def _gates(config: pytest.Config, target: Target) -> Gates:
    """The quality gates of this run on ``target`` (the options with the target's [toolchain] settings)."""
    from hil.qvm.gates import Gates

    return Gates.for_target(target, bool(config.getoption("hil_coverage", False)), _sanitizers(config))


def _sanitizer_failure(item: pytest.Item, report: pytest.TestReport) -> None:
    """A test whose qvm runs had sanitizer reports fails with them (also in its JUnit system-err)."""
    runner = item.stash.get(_RUNNER_KEY, None)
    if runner is None or not runner.sanitizer_findings:
        return
    text = "\n\n".join(runner.sanitizer_findings)
    report.user_properties.append(("hil.qvm_log", f"--- sanitizer reports\n{text}\n"))
    if report.passed:
        report.outcome = "failed"
        report.longrepr = f"SANITIZER REPORT ({len(runner.sanitizer_findings)}):\n{text}"
    else:
        report.longrepr = f"{report.longrepr}\n\nSANITIZER REPORT ({len(runner.sanitizer_findings)}):\n{text}"
