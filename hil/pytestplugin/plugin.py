"""The qnx-hil pytest plugin (the ``pytest11`` entry point): the session's set-up and end, and every hook and fixture.

The hooks and fixtures live in their own modules (``options``, ``selection``,
``fixtures``, ``vdevs``, ``outcomes``) and are registered with this one; it
sets up the session (target pool, live view, the run's recorder and the report
files of the writers' table that the options ask for) and makes the coverage
report at the end; the recorder's listener writes the reports.

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
* ``hil_sweep``: the configuration-fault sweep of a vdev on the target.
* ``hil_fuzz``: coverage-guided fuzzing of a vdev through its guest interface (local target).

``--hil-target`` may be given several times (names, ``label:LABEL`` or
``.toml`` paths): every test that uses a target runs once per selected
target, with the target's name in its test id.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Sequence
from pathlib import Path

import pytest

from hil.core import cancel
from hil.core.errors import HilError
from hil.pytestplugin.fixtures import (
    _hil_record,
    _hil_target_name,
    hil_artifacts,
    hil_console,
    hil_ssh,
    hil_target,
)
from hil.pytestplugin.live import LIVE_KEY, LiveView
from hil.pytestplugin.measure import hil_measure
from hil.pytestplugin.options import (
    check_outputs,
    keep_rootdir,
    pytest_addoption,
    sanitizers,
    selected_targets,
    target_folders,
)
from hil.pytestplugin.outcomes import pytest_runtest_makereport, pytest_runtest_protocol
from hil.pytestplugin.pool import POOL_KEY, TargetPool
from hil.pytestplugin.selection import (
    pytest_collection_modifyitems,
    pytest_generate_tests,
    pytest_xdist_make_scheduler,
)
from hil.pytestplugin.vdevs import hil_deployment, hil_fuzz, hil_qvm, hil_sweep, hil_vdev
from hil.targets.definition import TargetDefinition, TargetFolders

#: The hooks and fixtures of the plugin defined in its other modules: registered with this one.
__all__ = [
    "_hil_record",
    "_hil_target_name",
    "hil_artifacts",
    "hil_console",
    "hil_deployment",
    "hil_fuzz",
    "hil_measure",
    "hil_qvm",
    "hil_ssh",
    "hil_sweep",
    "hil_target",
    "hil_vdev",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_generate_tests",
    "pytest_load_initial_conftests",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_sessionfinish",
    "pytest_unconfigure",
    "pytest_xdist_make_scheduler",
]

_FOLDERS_KEY = pytest.StashKey[TargetFolders]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """Before any conftest loads: the rootdir as ``--hil-X=VALUE`` gives it, also for ``--hil-X VALUE``."""
    keep_rootdir(early_config, parser, args)
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hil_kinds(*kinds): run this test only on targets of these kinds")
    config.addinivalue_line(
        "markers",
        "hil_quarantine(reason): a flaky test set aside while it is fixed: it runs and is reported "
        "(xfail: quarantined), and its failure never fails the run",
    )
    config.addinivalue_line(
        "markers",
        "hil_sanitizer_expected: the test provokes sanitizer reports on purpose; they are attached, not a failure",
    )
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
        definitions = selected_targets(config, folders)
    except HilError as exc:
        raise pytest.UsageError(f"--hil-target: {exc}") from None
    check_outputs(config)
    check_extras(config, definitions)
    if config.getoption("hil_coverage_fail_under", None):
        from hil.qvmrun.coverage import CoverageThresholds

        if not config.getoption("hil_coverage", False):
            raise pytest.UsageError("--hil-coverage-fail-under needs --hil-coverage (hil nightly --coverage)")
        try:
            CoverageThresholds.parse(config.getoption("hil_coverage_fail_under"))
        except HilError as exc:
            raise pytest.UsageError(str(exc)) from None
    if config.getoption("hil_console_live", False):
        live = LiveView.for_config(config)  # the terminal's fd, while pytest's capture is suspended
        config.stash[LIVE_KEY] = live
        config.pluginmanager.register(live, "hil-live")
        config.add_cleanup(live.close)
    config.stash[_FOLDERS_KEY] = folders
    config.stash[POOL_KEY] = TargetPool(
        Path(config.getoption("hil_artifacts")).resolve(), {d.name: d for d in definitions}, sanitize=sanitizers(config)
    )
    _start_recording(config, definitions)


def _start_recording(config: pytest.Config, definitions: Sequence[TargetDefinition]) -> None:
    """On the controller, when a report is asked for: the run's recorder, and the report files it feeds
    (each writer of the table whose ``--hil-NAME`` option is given, and those written beside them)."""
    if hasattr(config, "workerinput"):
        return
    from hil.pytestplugin.reporting import ReportFiles, chosen_outputs
    from hil.pytestplugin.writers import WRITERS, WriterOptions

    outputs = chosen_outputs({w.name: config.getoption(w.dest, None) for w in WRITERS})
    if not outputs:
        return
    from hil.pytestplugin.recorder import RunRecorder

    history = tuple(Path(p) for p in config.getoption("hil_history") or [])
    files = ReportFiles(outputs, WriterOptions(history=history))
    recorder = RunRecorder(target_names=[d.name for d in definitions], listeners=[files])
    config.pluginmanager.register(recorder, RECORDER_PLUGIN)


def check_extras(config: pytest.Config, definitions: Sequence[TargetDefinition]) -> None:
    """What the options and the selected targets need from Python's side, before any test runs: gcovr
    for coverage, labgrid for a labgrid target.  A missing one is a usage error naming the extra (it
    was a setup error in some tests, infrastructure in the others, or a run with no coverage)."""
    import importlib.util

    wanted: list[tuple[str, str, str]] = []  # module, extra, why
    if config.getoption("hil_coverage", False) or any(d.toolchain.coverage for d in definitions):
        wanted.append(("gcovr", "coverage", "--hil-coverage (the coverage report is made with gcovr)"))
    for module, extra, why in wanted:
        if importlib.util.find_spec(module) is None:
            raise pytest.UsageError(
                f"{why} need(s) {module}, which is not installed in this Python ({sys.executable}): "
                f"pip install 'qnx-hil[{extra}]'"
            )
    from hil.targets.hostdeps import missing_python_modules

    for m in missing_python_modules(definitions):  # the target kinds' own (labgrid: the labgrid extra)
        raise pytest.UsageError(
            f"the target(s) {', '.join(m.targets)} need(s) {m.need.name} ({m.need.why}), which is not "
            f"installed in this Python ({sys.executable}): {m.need.source}"
        )


#: The name the run's recorder (``hil.pytestplugin.recorder.RunRecorder``) is registered under.
RECORDER_PLUGIN = "hil-recorder"


def _coverage_report(config: pytest.Config) -> bool:
    """With --hil-coverage, on the controller: the coverage report of every run's counters (all targets),
    given to the recorder with its summary lines (one per vdev) for the reports; returns whether a vdev
    is below its ``--hil-coverage-fail-under`` minimum."""
    if not config.getoption("hil_coverage", False) or hasattr(config, "workerinput"):
        return False
    from hil.qvmrun.coverage import CoverageThresholds, build_report

    pool = config.stash[POOL_KEY]
    out = Path(config.getoption("hil_coverage_dir") or pool.artifacts.parent / "coverage").resolve()
    try:
        report = build_report(pool.artifacts, out, config.rootpath)
    except HilError as exc:
        print(f"\nhil: coverage report failed: {exc}", flush=True)
        recorder = config.pluginmanager.get_plugin(RECORDER_PLUGIN)
        if recorder is not None:
            recorder.add_coverage(None, f"\ncoverage: report failed: {exc}\n")
        return False
    text = report.text()
    below = CoverageThresholds.parse(config.getoption("hil_coverage_fail_under") or []).failures(report)
    text += "".join(f"{line}\n" for line in below)
    print(f"\n{text}", end="", flush=True)
    recorder = config.pluginmanager.get_plugin(RECORDER_PLUGIN)
    if recorder is not None:  # for the reports: summary.txt's lines, the HTML report's table and link
        recorder.add_coverage(report, "\n" + text)
    return bool(below)


def pytest_report_header(config: pytest.Config) -> list[str]:
    pool = config.stash.get(POOL_KEY, None)
    folders = config.stash.get(_FOLDERS_KEY, None)
    if pool is None or folders is None:
        return []
    return [f"hil targets: {', '.join(pool.definitions)}; definitions: {folders.describe()}"]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # before the recorder's own (trylast) sessionfinish: the reports are written with the coverage in them
    below = _coverage_report(session.config)
    if below and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a vdev below its coverage minimum fails the run


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = config.stash.get(POOL_KEY, None)
    if pool is not None:
        pool.close()
