"""An inner pytest session in a child process, configured by this repository's pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
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
