"""Running the ``hil`` command line as a user runs it: ``python -m hil`` in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.paths import REPO


def child_env(changes: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment with ``changes``: a string sets a variable, None removes it."""
    env = dict(os.environ)
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def hil(
    *args: str, timeout: float = 300, env: Mapping[str, str | None] | None = None, cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    """``hil ARGS`` in ``cwd`` (default: the repository root), its output captured as text.

    ``env``: changes to this process's environment (see ``child_env``)."""
    return subprocess.run(
        [sys.executable, "-m", "hil", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(env),
    )
