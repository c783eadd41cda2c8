"""The plugin's command-line options and ini settings, and reading them: targets, outputs, sanitizers."""

from __future__ import annotations

import pytest

from hil.core.errors import HilError
from hil.targets.definition import (
    CONVENTIONAL_TARGETS_DIR,
    TARGETS_DIR_SETTING,
    TargetDefinition,
    TargetFolders,
    project_folders,
    select,
)


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
    from hil.pytestplugin.writers import WRITERS

    for writer in WRITERS:  # --hil-junit, --hil-summary, --hil-html, ...: one per report writer
        group.addoption(writer.option, default=None, metavar="PATH", help=writer.help.replace("%", "%%"))
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
        "--hil-coverage-fail-under",
        action="append",
        default=[],
        metavar="[VDEV=]LINE%",
        help="with --hil-coverage: fail the run (exit 1) when a vdev's line coverage is below LINE%% "
        "(every vdev), or VDEV's is (VDEV=LINE%%; repeatable, the per-vdev form wins)",
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


def selected_targets(config: pytest.Config, folders: TargetFolders) -> list[TargetDefinition]:
    """The targets of this run: ``--hil-target``, else the ``hil_targets`` setting, else qemu."""
    selectors = config.getoption("hil_target") or config.getini("hil_targets") or ["qemu"]
    return select(selectors, folders.folders)


def check_outputs(config: pytest.Config) -> None:
    """Every output option is writable before the run starts: one usage line, not a traceback at its end."""
    from hil.core.outputs import output_dir, output_file

    try:
        output_dir(config.getoption("hil_artifacts"), "--hil-artifacts")
        coverage_dir = config.getoption("hil_coverage_dir", None)
        if coverage_dir:  # written at the very end: checked now, not after the run (its counters lost)
            output_dir(coverage_dir, "--hil-coverage-dir")
        from hil.pytestplugin.writers import WRITERS

        for writer in WRITERS:
            value = config.getoption(writer.dest, None)
            if value:
                output_file(value, writer.option)
    except HilError as exc:
        raise pytest.UsageError(str(exc)) from None


def sanitizers(config: pytest.Config) -> tuple[str, ...]:
    """The sanitizers ``--hil-sanitize`` names (sorted, each once); an unknown one is a usage error."""
    from hil.targets.sdk import SANITIZERS

    value = config.getoption("hil_sanitize", None) or ""
    names = tuple(sorted({n.strip() for n in value.split(",") if n.strip()}))
    bad = [n for n in names if n not in SANITIZERS]
    if bad:
        raise pytest.UsageError(f"--hil-sanitize: unknown sanitizer(s) {', '.join(bad)}: use {','.join(SANITIZERS)}")
    return names
