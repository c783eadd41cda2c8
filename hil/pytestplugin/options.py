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


#: pytest settings whose effect a run has taken by the time the plugin loads (they cannot be taken back).
_TAKEN_EARLY = ("addopts", "pythonpath", "required_plugins", "minversion")  # as rootdir._TAKEN_EARLY


def keep_rootdir(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """The rootdir and configuration file pytest would take with every option written ``--hil-X=VALUE``.

    pytest finds its rootdir and configuration file before it loads this plugin, so in ``--hil-junit
    PATH`` (a separate word) it takes PATH for a test path: once PATH exists (the second run), a PATH
    outside the project moves the rootdir to a common parent and can leave the project's ``pytest.ini``
    unread.  Called once the plugin's options are known (``pytest_load_initial_conftests``, before any
    conftest loads): the rootdir is found again from the real test paths and, when it differs, the run
    takes that one.  When pytest already acted on the configuration file it found (its ``addopts``,
    ``pythonpath``, ...), that cannot be undone: a usage error says to write ``--hil-X=VALUE``.
    """
    import copy
    import inspect
    import itertools
    import os
    import shlex

    from _pytest.config import findpaths

    given = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *map(str, early_config.invocation_params.args)]
    try:
        ns = parser.parse_known_args(given)
    except pytest.UsageError:
        return  # pytest says what is wrong with the arguments
    kwargs = {
        "inifile": ns.inifilename,
        "args": ns.file_or_dir,
        "rootdir_cmd_arg": ns.rootdir or None,
        "invocation_dir": early_config.invocation_params.dir,
        "override_ini": ns.override_ini,
    }
    wanted = inspect.signature(findpaths.determine_setup).parameters
    rootpath, inipath, inicfg, *_ = findpaths.determine_setup(**{k: v for k, v in kwargs.items() if k in wanted})
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    old = getattr(early_config, "_inicfg", None)
    helpers = {
        "pythonpath": "_configure_python_path",
        "required_plugins": "_validate_plugins",
        "minversion": "_checkversion",
    }
    undoable = (
        old is None
        or any(name in old for name in _TAKEN_EARLY)  # pytest acted on the wrong file
        or not all(hasattr(early_config, a) for a in ("_rootpath", "_inipath", "_inicache"))
        or any(name in inicfg and not hasattr(early_config, helpers[name]) for name in helpers)
    )
    if undoable:
        spaced = [f"{a} {b}" for a, b in itertools.pairwise(given) if a.startswith("--hil-") and b in args]
        raise pytest.UsageError(
            f"{', '.join(spaced) or 'a --hil- option given as two words'}: pytest took the value for a test path and "
            f"chose rootdir {early_config.rootpath} (configuration file {early_config.inipath}) instead of "
            f"{rootpath} ({inipath}); write it with '=' (e.g. --hil-junit=PATH)"
        )
    known = early_config.known_args_namespace
    auto_cut = str(early_config.inipath.parent if early_config.inipath is not None else early_config.rootpath)
    # pytest has no public way to set these (checked above that they exist)
    early_config._rootpath = rootpath  # noqa: SLF001
    early_config._inipath = inipath  # noqa: SLF001
    early_config._inicfg = inicfg  # noqa: SLF001
    early_config._inicache.clear()  # noqa: SLF001
    extra = getattr(getattr(early_config, "_parser", None), "extra_info", None)
    if isinstance(extra, dict):
        extra.update(rootdir=str(rootpath), inifile=str(inipath))
    addopts = early_config.getini("addopts") if "addopts" in inicfg else []
    if addopts:  # as pytest applies the file's addopts: before the arguments
        args[:] = [*addopts, *args]
        early_config.pluginmanager.consider_preparse(args, exclude_only=False)
    early_config.known_args_namespace = parser.parse_known_args(args, namespace=copy.copy(early_config.option))
    if ns.confcutdir is None and str(known.confcutdir) == auto_cut:
        early_config.known_args_namespace.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    for name, helper in helpers.items():
        if name in inicfg:
            getattr(early_config, helper)()
