"""What pytest itself chooses (rootdir, configuration file, target folders) for a list of cases.

    python -m tests.support.pytest_choice < cases.json > answers.json

Each case is ``{"cwd": DIR, "args": [...], "addopts": STR or null}``; each answer
is the ``hil.pytestplugin.project.find_project`` result (pytest's own
configuration, stopped before collection) or ``{"error": MESSAGE}``.  One
process for every case (each in a fresh pytest configuration), so a test can
compare the quick locator with pytest on many layouts cheaply.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from _pytest.outcomes import OutcomeException

from hil.core.errors import HilError
from hil.pytestplugin.project import Project, find_project


def answer(project: Project) -> dict[str, Any]:
    return {
        "rootdir": str(project.rootdir),
        "inifile": None if project.inifile is None else str(project.inifile),
        "folders": [str(f) for f in project.targets.folders],
        "origin": project.targets.origin,
        "default_targets": list(project.default_targets),
    }


def main() -> int:
    answers = []
    for case in json.load(sys.stdin):
        os.environ.pop("PYTEST_ADDOPTS", None)
        if case["addopts"] is not None:
            os.environ["PYTEST_ADDOPTS"] = case["addopts"]
        try:
            answers.append(answer(find_project(case["args"], Path(case["cwd"]))))
        except (HilError, Exception, OutcomeException) as exc:  # pytest.fail() during its set-up: Failed
            answers.append({"error": f"{type(exc).__name__}: {exc}"})
    json.dump(answers, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
