"""The ``hil`` commands' quick project locator gives pytest's own answer on a matrix of layouts.

``hil.pytestplugin.project.locate_project`` (no pytest configuration) against
``find_project`` (pytest itself, stopped before collection), case by case:
rootdir, configuration file, target folders and where they came from, the
``hil_targets`` setting, and refusals.
"""

from __future__ import annotations

import importlib
import inspect
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hil.core.errors import HilError
from hil.pytestplugin.project import locate_project
from hil.pytestplugin.rootdir import BUILTIN_OPTIONS, CONFIG_NAMES, HIL_VALUE_OPTIONS, pytest_setup
from tests.support.paths import REPO


@dataclass(frozen=True)
class Case:
    name: str
    files: dict[str, str]  # path -> text ("/" at the end: a folder)
    cwd: str = "."
    args: tuple[str, ...] = ()
    addopts: str | None = None  # PYTEST_ADDOPTS


TOOL = "[tool.pytest.ini_options]\n"
CASES = [
    Case("no configuration anywhere", {"sub/": ""}, "sub"),
    Case("pyproject with ini_options, from a subfolder", {"pyproject.toml": TOOL, "a/b/": ""}, "a/b"),
    Case("pyproject without pytest settings", {"pyproject.toml": "[project]\nname='x'\n", "a/": ""}, "a"),
    Case(
        "pyproject without settings above a tox.ini with [pytest]",
        {"pyproject.toml": "[project]\nname='x'\n", "a/tox.ini": "[pytest]\n", "a/b/": ""},
        "a/b",
    ),
    Case("empty pytest.ini is still the configuration", {"pytest.ini": "", "pyproject.toml": TOOL, "s/": ""}, "s"),
    Case("hidden .pytest.ini", {".pytest.ini": "[pytest]\nhil_targets = local\n"}),
    Case("pytest.toml [pytest] table", {"pytest.toml": '[pytest]\nhil_targets = ["local"]\n', "lab/": ""}),
    Case("pytest.ini beats pyproject.toml", {"pytest.ini": "[pytest]\n", "pyproject.toml": TOOL}),
    Case("tox.ini without [pytest] is skipped", {"tox.ini": "[tox]\n", "up/setup.cfg": ""}, "."),
    Case(
        "setup.cfg with [tool:pytest] in a parent",
        {"setup.cfg": "[tool:pytest]\nhil_targets_dir = lab\n", "lab/": "", "x/tox.ini": "[tox]\n"},
        "x",
    ),
    Case("setup.py marks the rootdir", {"setup.py": "", "a/b/": ""}, "a/b"),
    Case(
        "native [tool.pytest] table",
        {"pyproject.toml": '[tool.pytest]\nhil_targets_dir = ["lab"]\nhil_targets = ["local"]\n', "lab/": ""},
    ),
    Case(
        "ini_options setting, conventional targets/ unused",
        {"pyproject.toml": TOOL + 'hil_targets_dir = ["lab"]\n', "lab/": "", "targets/": "", "v/": ""},
        "v",
    ),
    Case("conventional targets/ beside the rootdir", {"pytest.ini": "[pytest]\n", "targets/": "", "t/": ""}, "t"),
    Case("--rootdir", {"pytest.ini": "[pytest]\n", "other/targets/": ""}, ".", ("--rootdir=other",)),
    Case("--rootdir space form", {"pytest.ini": "[pytest]\n", "other/targets/": ""}, ".", ("--rootdir", "other")),
    Case(
        "-c custom.ini",
        {"cfg/custom.ini": "[pytest]\nhil_targets_dir = ../lab\n", "lab/": ""},
        ".",
        ("-c", "cfg/custom.ini"),
    ),
    Case(
        "-c custom.toml [pytest]", {"c.toml": '[pytest]\nhil_targets = ["local"]\n', "s/": ""}, "s", ("-c", "../c.toml")
    ),
    Case("--config-file=/dev/null", {"pytest.ini": "[pytest]\nhil_targets = qemu\n", "s/": ""}, "s", ("-c/dev/null",)),
    Case("-c missing file", {}, ".", ("-c", "missing.ini")),
    Case("--rootdir missing folder", {}, ".", ("--rootdir=nowhere",)),
    Case(
        "path arguments: their common ancestor",
        {"p/tox.ini": "[pytest]\n", "p/a/test_a.py": "", "p/b/": "", "elsewhere/": ""},
        "elsewhere",
        ("../p/a/test_a.py::test_x", "../p/b"),
    ),
    Case("a missing path argument is ignored", {"pytest.ini": "", "s/": ""}, "s", ("no/such/dir",)),
    Case(
        "PYTEST_ADDOPTS --rootdir (space form)",
        {"pytest.ini": "[pytest]\n", "r/targets/": ""},
        ".",
        (),
        "--rootdir r -v",
    ),
    Case(
        "addopts name the targets folder",
        {"pytest.ini": "[pytest]\naddopts = -q --hil-targets-dir=lab\n", "lab/": "", "s/": ""},
        "s",
    ),
    Case(
        "-o overrides the setting",
        {"pytest.ini": "[pytest]\nhil_targets_dir = lab\n", "lab/": "", "lab2/": ""},
        ".",
        ("-o", "hil_targets_dir=lab2", "-ohil_targets=a b"),
    ),
    Case(
        "-o in addopts",
        {"pytest.ini": "[pytest]\naddopts = -o hil_targets_dir=lab2\nhil_targets_dir = lab\n", "lab/": "", "lab2/": ""},
    ),
    Case(
        "a --hil- option's separate value is no path: the plugin finds the rootdir again (issue 22.14)",
        {"a/pytest.ini": "[pytest]\n", "a/lab/": "", "b/pytest.ini": "[pytest]\n"},
        "b",
        ("--hil-targets-dir", "../a/lab"),
    ),
    Case(
        "--hil-junit PATH outside a project without a configuration file",
        {"p/tests/": "", "out/junit.xml": ""},
        "p",
        ("--hil-junit", "../out/junit.xml"),
    ),
    Case(
        "--hil-junit PATH led pytest to another file's addopts: refused",
        {"pytest.ini": "[pytest]\naddopts = -q\n", "p/pytest.ini": "[pytest]\n", "out/junit.xml": ""},
        "p",
        ("--hil-junit", "../out/junit.xml"),
    ),
    Case(
        "--hil-targets-dir= relative to the invocation folder",
        {"pytest.ini": "", "s/lab/": ""},
        "s",
        ("--hil-targets-dir=lab",),
    ),
    Case("a built-in option's value is not a path", {"pytest.ini": "", "k/pytest.ini": ""}, ".", ("-k", "k")),
    Case("a named settings folder that is missing", {"pytest.ini": "[pytest]\nhil_targets_dir = lab\n"}),
    Case("setup.cfg with a plain [pytest] section", {"setup.cfg": "[pytest]\n"}),
    Case("a bad TOML file", {"pyproject.toml": "[tool.pytest.ini_options\n"}),
    Case("@file arguments", {"argfile": "--rootdir=r\n", "r/": "", "pytest.ini": ""}, ".", ("@argfile",)),
]


def _lay_out(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


def _quick(case: Case, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    if case.addopts is None:
        monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    else:
        monkeypatch.setenv("PYTEST_ADDOPTS", case.addopts)
    try:
        project = locate_project(["-p", "no:cacheprovider", *case.args], cwd)  # as find_project runs pytest
    except HilError as exc:
        return {"error": str(exc)}
    return {
        "rootdir": str(project.rootdir),
        "inifile": None if project.inifile is None else str(project.inifile),
        "folders": [str(f) for f in project.targets.folders],
        "origin": project.targets.origin,
        "default_targets": list(project.default_targets),
    }


def test_the_quick_locator_agrees_with_pytest_on_every_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    roots = []
    for i, case in enumerate(CASES):
        root = tmp_path / f"case{i}"
        root.mkdir()
        _lay_out(root, case.files)
        roots.append(root)
    request = [{"cwd": str(r / c.cwd), "args": list(c.args), "addopts": c.addopts} for r, c in zip(roots, CASES)]
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.pytest_choice"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pytest_answers = json.loads(done.stdout)
    disagreements = []
    for root, case, theirs in zip(roots, CASES, pytest_answers):
        ours = _quick(case, root / case.cwd, monkeypatch)
        if "error" in theirs or "error" in ours:  # both refuse (pytest's words differ in framing)
            if not ("error" in theirs and "error" in ours):
                disagreements.append(f"{case.name}: pytest {theirs}, ours {ours}")
            continue
        if ours != theirs:
            disagreements.append(f"{case.name}: pytest {theirs}, ours {ours}")
    assert not disagreements, "\n".join(disagreements)
    # the cases do what they say: a few spot checks of pytest's answers
    by_name = {c.name: a for c, a in zip(CASES, pytest_answers)}
    assert by_name["pytest.ini beats pyproject.toml"]["inifile"].endswith("pytest.ini")
    assert by_name["-c missing file"].keys() == {"error"}
    assert by_name["a --hil- option's separate value is no path: the plugin finds the rootdir again (issue 22.14)"][
        "rootdir"
    ].endswith("/b")
    assert by_name["--hil-junit PATH outside a project without a configuration file"]["rootdir"].endswith("/p")
    assert "write it with '='" in by_name["--hil-junit PATH led pytest to another file's addopts: refused"]["error"]


def test_missing_folder_errors_name_the_same_place(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(TOOL + 'hil_targets_dir = ["lab"]\n')
    with pytest.raises(HilError) as quick:
        locate_project([], tmp_path)
    assert str(quick.value).startswith(f"{tmp_path / 'pyproject.toml'}: key 'hil_targets_dir': no folder")


def test_the_option_table_is_pytests_own() -> None:
    """``BUILTIN_OPTIONS`` lists each built-in plugin's options as the installed pytest declares them."""
    from _pytest.config import default_plugins, get_config
    from _pytest.config.argparsing import Parser

    manager = get_config().pluginmanager
    actual: dict[str, str] = {}
    for name in default_plugins:
        hook = getattr(importlib.import_module(f"_pytest.{name}"), "pytest_addoption", None)
        parser = Parser(_ispytest=True)
        if hook is not None:
            given = {"parser": parser, "pluginmanager": manager}
            hook(**{k: v for k, v in given.items() if k in inspect.signature(hook).parameters})
        specs = []
        for action in parser.optparser._actions:
            if action.option_strings:
                suffix = {0: "", None: "=", "?": "?"}[action.nargs]
                specs.append("|".join(action.option_strings) + suffix)
        if specs:
            actual[name] = " ".join(specs)
    assert actual == BUILTIN_OPTIONS


def test_the_plugins_value_options_are_listed() -> None:
    """``HIL_VALUE_OPTIONS`` names every option of the plugin that takes a value (the rootdir is found again
    without their values)."""
    from _pytest.config.argparsing import Parser

    from hil.pytestplugin.options import pytest_addoption

    parser = Parser(_ispytest=True)
    pytest_addoption(parser)
    taking = {
        "|".join(action.option_strings) + "="
        for action in parser.optparser._actions
        if action.option_strings and action.nargs != 0
    }
    assert taking == set(HIL_VALUE_OPTIONS.split())


def test_config_names_are_pytests_own() -> None:
    from _pytest.config.findpaths import CONFIG_LOADERS_BY_NAME

    assert tuple(CONFIG_LOADERS_BY_NAME) == CONFIG_NAMES


def test_addopts_are_read_from_the_configuration(tmp_path: Path) -> None:
    (tmp_path / "tox.ini").write_text("[pytest]\naddopts = --hil-targets-dir lab -q\n")
    setup = pytest_setup([], tmp_path, environ={})
    assert setup.inifile == tmp_path / "tox.ini" and setup.option("hil_targets_dir") == ["lab"]
