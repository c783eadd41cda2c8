"""Where the JUnit schema of Jenkins' xUnit plugin (junit-10.xsd) is, and a validity assertion."""

from __future__ import annotations

import os
from pathlib import Path

from hil.pytestplugin.junitxml import validate_junit
from tests.support.paths import FIXTURES, REPO

#: Looked for in this order: $HIL_JUNIT_XSD, a vendored copy, the developers' shared folder.
XSD_CANDIDATES = [
    *([Path(os.environ["HIL_JUNIT_XSD"])] if os.environ.get("HIL_JUNIT_XSD") else []),
    FIXTURES / "junit" / "junit-10.xsd",
    REPO.parent / "shared" / "junit" / "junit-10.xsd",
]


def junit_xsd() -> Path:
    """The schema file; fails (never skips) when it cannot be found."""
    for path in XSD_CANDIDATES:
        if path.is_file():
            return path
    raise AssertionError(
        "junit-10.xsd not found; looked at " + ", ".join(map(str, XSD_CANDIDATES)) + " (set HIL_JUNIT_XSD to its path)"
    )


def assert_valid(path: Path, validator: str = "auto") -> None:
    """Fail with the validator's messages unless ``path`` is valid against junit-10.xsd."""
    errors = validate_junit(path, junit_xsd(), validator=validator)
    assert errors == [], f"{path} is not valid JUnit:\n" + "\n".join(errors)
