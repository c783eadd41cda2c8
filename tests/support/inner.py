"""An inner pytest session in a child process, configured by this repository's pyproject.toml
(``run_inner_pytest``); ``run_reported``: one with every report written into a folder."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.cli import child_env
from tests.support.paths import REPO


def run_inner_pytest(
    test_file: str | Path,
    *args: str,
    targets: tuple[str, ...] = ("local",),
    artifacts: Path | None = None,
    timeout: float = 300,
    env: Mapping[str, str | None] | None = None,
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``pytest TEST_FILE`` with the repository as rootdir and its pyproject.toml as configuration, a
    ``--hil-target`` per entry of ``targets``, ``--hil-artifacts`` if given, then ``args`` (more paths
    or options); its output captured as text.  ``env``: changes to this process's environment (see
    ``tests.support.cli.child_env``)."""
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(test_file),
        "--rootdir", str(REPO), "-c", str(REPO / "pyproject.toml"),
    ]  # fmt: skip
    for target in targets:
        command += ["--hil-target", target]
    if artifacts is not None:
        command += ["--hil-artifacts", str(artifacts)]
    command += args
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=child_env(env))


@dataclass(frozen=True)
class ReportedRun:
    """An inner session run by ``run_reported``: its process and the folder holding its reports."""

    process: subprocess.CompletedProcess[str]
    #: ``junit.xml``, ``summary.txt``, ``report.html`` and ``artifacts/`` of the run.
    out: Path

    @property
    def returncode(self) -> int:
        return self.process.returncode

    @property
    def text(self) -> str:
        """Its stdout then its stderr."""
        return self.process.stdout + self.process.stderr


def run_reported(
    suite: str, test_file: Path, out: Path, *args: str, env: Mapping[str, str | None] | None = None
) -> ReportedRun:
    """Write the test module ``suite`` to ``test_file`` and run it (``run_inner_pytest``, on local) with
    every report into ``out``: ``--hil-junit``, ``--hil-summary``, ``--hil-html`` and
    ``--hil-artifacts``; then ``args`` (e.g. ``--hil-history``)."""
    test_file.write_text(suite)
    done = run_inner_pytest(
        test_file,
        f"--hil-junit={out / 'junit.xml'}",
        f"--hil-summary={out / 'summary.txt'}",
        f"--hil-html={out / 'report.html'}",
        *args,
        artifacts=out / "artifacts",
        env=env,
    )
    return ReportedRun(done, out)
