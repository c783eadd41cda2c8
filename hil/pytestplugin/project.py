"""The user's project, found exactly as pytest finds it (for the ``hil`` commands).

Both return the rootdir, the configuration file and the project's target
definition folders (``--hil-targets-dir``, else the ``hil_targets_dir``
setting, else ``targets/`` beside the rootdir), so ``hil target up``,
``hil vdev build``, ``hil nightly`` ... see the same targets as ``pytest``:

* ``locate_project(args, cwd)`` reads the configuration by pytest's rules
  without starting pytest (``hil.pytestplugin.rootdir``: milliseconds, not the
  second a pytest configuration costs); every ``hil`` command but ``nightly``.
* ``find_project(args, cwd)`` lets pytest itself read the command line and the
  configuration (``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg``,
  ``addopts``, ``PYTEST_ADDOPTS``) and stops it before it collects anything;
  ``hil nightly`` (which hands its arguments to pytest: pytest checks them first).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.core.errors import ConfigError
from hil.targets.definition import TARGETS_DIR_SETTING, TargetFolders, project_folders


@dataclass(frozen=True)
class Project:
    """Where a pytest run in ``invocation_dir`` with these arguments would take its settings from."""

    invocation_dir: Path
    rootdir: Path
    inifile: Path | None
    targets: TargetFolders
    default_targets: tuple[str, ...]  # the hil_targets setting


def locate_project(args: Sequence[str] = (), cwd: Path | None = None) -> Project:
    """The project of a ``pytest ARGS`` run in ``cwd`` (default: the current folder), without pytest.

    The same answer as ``find_project`` (``tests/unit/test_rootdir.py`` compares
    them on a matrix of layouts); what pytest would refuse while finding the
    configuration is a ``ConfigError`` in pytest's words.
    """
    from hil.pytestplugin.rootdir import pytest_setup

    setup = pytest_setup(args, cwd)
    folders = project_folders(
        setup.option("hil_targets_dir") or [],
        setup.getini_args(TARGETS_DIR_SETTING),
        setup.rootdir,
        setup.inifile,
        setup.invocation_dir,
    )
    return Project(setup.invocation_dir, setup.rootdir, setup.inifile, folders, tuple(setup.getini_args("hil_targets")))


def _probe() -> Any:
    """A pytest plugin that records the configuration and ends the run before collection."""
    import pytest

    from hil.pytestplugin.options import target_folders

    class Probe:
        def __init__(self) -> None:
            self.project: Project | None = None
            self.error: ConfigError | None = None

        @pytest.hookimpl(tryfirst=True)
        def pytest_cmdline_main(self, config: pytest.Config) -> int:
            try:
                folders = target_folders(config)
            except ConfigError as exc:
                self.error = exc
                return 0
            self.project = Project(
                config.invocation_params.dir,
                config.rootpath,
                config.inipath,
                folders,
                tuple(config.getini("hil_targets")),
            )
            return 0

    return Probe()


def find_project(args: Sequence[str] = (), cwd: Path | None = None) -> Project:
    """The project of a ``pytest ARGS`` run in ``cwd`` (default: the current folder).

    A configuration pytest refuses (bad ``addopts``, unknown option) or a
    named target folder that is missing is a ``ConfigError`` with pytest's
    own message.
    """
    import pytest

    probe = _probe()
    old = Path.cwd()
    err = io.StringIO()
    os.chdir(cwd or old)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(err):
            rc = pytest.main(["-p", "no:cacheprovider", *args], plugins=[probe])
    finally:
        os.chdir(old)
    if probe.error is not None:
        raise probe.error
    if probe.project is None:
        text = " ".join(line.strip() for line in err.getvalue().splitlines() if line.strip())
        raise ConfigError(f"pytest refused the configuration or arguments (exit {int(rc)}): {text}", str(cwd or old))
    found: Project = probe.project
    return found
