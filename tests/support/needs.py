"""Host tools the suite needs: a missing one fails the test with the package to install, never a skip.

``scripts/install-host-deps`` (run by ``make test``) installs every one of them on Debian/Ubuntu.
"""

from __future__ import annotations

import shutil

import pytest


def require_program(program: str, package: str) -> None:
    """Fail the running test, naming ``package``, unless ``program`` is on PATH."""
    if shutil.which(program) is None:
        pytest.fail(
            f"this test needs {program}: apt-get install {package} (scripts/install-host-deps installs it)",
            pytrace=False,
        )


def require_nothing_missing(missing: list[str]) -> None:
    """Fail the running test when a support server's ``missing_tools()`` lists anything."""
    if missing:
        pytest.fail("this test needs: " + ", ".join(missing), pytrace=False)
