"""The user's project, found exactly as pytest finds it (for the ``hil`` commands).

``find_project(args, cwd)`` lets pytest itself read the command line and the
configuration (``pytest.ini``, ``pyproject.toml``, ``tox.ini``, ``setup.cfg``,
``addopts``, ``PYTEST_ADDOPTS``) and stops it before it collects anything; it
returns the rootdir, the configuration file and the project's target
definition folders (``--hil-targets-dir``, else the ``hil_targets_dir``
setting, else ``targets/`` beside the rootdir).  So ``hil target up``,
``hil vdev build``, ``hil nightly`` ... see the same targets as ``pytest``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil.core.errors import ConfigError
from hil.pytestplugin.options import target_folders
from hil.targets.definition import TargetFolders


@dataclass(frozen=True)
class Project:
    """Where a pytest run in ``invocation_dir`` with these arguments would take its settings from."""

    invocation_dir: Path
    rootdir: Path
    inifile: Path | None
    targets: TargetFolders
    default_targets: tuple[str, ...]  # the hil_targets setting


class _Probe:
    """A pytest plugin that records the configuration and ends the run before collection."""

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
            config.invocation_params.dir, config.rootpath, config.inipath, folders, tuple(config.getini("hil_targets"))
        )
        return 0


def find_project(args: Sequence[str] = (), cwd: Path | None = None) -> Project:
    """The project of a ``pytest ARGS`` run in ``cwd`` (default: the current folder).

    A configuration pytest refuses (bad ``addopts``, unknown option) or a
    named target folder that is missing is a ``ConfigError`` with pytest's
    own message.
    """
    probe = _Probe()
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
    return probe.project
