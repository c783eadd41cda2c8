"""A new report format is one module and one entry in the writers' table (hil/pytestplugin/writers.py).

A TAP writer, kept outside qnx-hil, registers itself in the table from a module loaded with ``-p``: both a
pytest run and ``hil nightly`` then write it, with nothing else changed.  The built-in writers (JUnit,
summary, HTML, JSON lines) are entries of the same table: the plugin, its options and ``hil nightly`` name
none of them."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from hil.pytestplugin.writers import WRITERS
from tests.support.cli import child_env
from tests.support.inner import run_inner_pytest
from tests.support.paths import REPO

#: The extra writer, as README.md shows it: one module, its ``write`` and its one table entry (``register_writer``).
TAP_WRITER = re.search(r"```python\n(# tap_writer\.py.*?)```", (REPO / "README.md").read_text(), re.S)

TESTS = """
import os

import pytest


def test_on_the_target(hil_target):
    assert hil_target.name == "local"


def test_fails():
    assert 1 == 2, "on purpose"


@pytest.mark.skipif(not os.environ.get("QNX_TARGET"), reason="needs the QNX SDP (QNX_TARGET, qcc)")
def test_skipped():
    pass
"""


def _project(tmp_path: Path) -> tuple[Path, dict[str, str | None]]:
    """A project folder with the tests, and an environment that finds the TAP writer's module."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    assert TAP_WRITER is not None, "README.md: no tap_writer.py example under Nightly CI"
    (plugins / "tap_writer.py").write_text(TAP_WRITER.group(1))
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_three.py").write_text(TESTS)
    path = os.pathsep.join(p for p in (str(plugins), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    return project, {"PYTHONPATH": path, "QNX_TARGET": None}  # no QNX SDP: test_skipped is skipped


def _tap(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    assert lines[0] == "1..3", lines
    return sorted(line.split(" ", 1)[0] + " " + line.split(" - ", 1)[1] for line in lines[1:])


def test_a_writer_registered_in_the_table_is_written_by_a_pytest_run(tmp_path: Path) -> None:
    project, env = _project(tmp_path)
    out = tmp_path / "out"
    done = run_inner_pytest(
        project / "test_three.py",
        *("-p", "tap_writer", f"--hil-tap={out / 'run.tap'}", f"--hil-jsonl={out / 'run.jsonl'}"),
        artifacts=out / "artifacts",
        env=env,
    )
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    assert _tap(out / "run.tap") == [
        "not host test_fails",
        "ok host test_skipped",
        "ok local test_on_the_target",
    ]
    assert f"hil: TAP report {out / 'run.tap'}" in done.stdout
    assert "--hil-tap=PATH" in run_inner_pytest(project / "test_three.py", "-p", "tap_writer", "--help", env=env).stdout
    # the JSON lines writer, shipped: the run, its events, each suite, each test
    records = [json.loads(line) for line in (out / "run.jsonl").read_text().splitlines()]
    assert records[0]["record"] == "run" and records[0]["exitstatus"] == 1 and records[0]["final"] is True
    assert [r["kind"] for r in records if r["record"] == "event"] == ["start", "finish"]
    suites = {r["name"]: r for r in records if r["record"] == "suite"}
    assert suites["local"]["properties"]["target.kind"] == "local"
    assert suites["host"]["counts"] == {
        "passed": 0, "failed": 1, "errors": 0, "skipped": 1, "infrastructure": 0, "total": 2,
    }  # fmt: skip
    tests = {r["name"]: r for r in records if r["record"] == "test"}
    assert tests["test_fails"]["outcome"] == "failed" and tests["test_fails"]["suite"] == "host"
    assert tests["test_fails"]["message"].startswith("AssertionError: on purpose")
    assert tests["test_on_the_target"]["artifacts"].startswith(str(out / "artifacts"))


def test_a_writer_registered_in_the_table_is_written_by_hil_nightly(tmp_path: Path) -> None:
    project, env = _project(tmp_path)
    reports = tmp_path / "reports"
    # ``hil nightly`` with the TAP writer's module imported first (as a site's wrapper of hil would)
    command = [
        sys.executable,
        "-c",
        "import sys, tap_writer; from hil.cli.main import main; sys.exit(main(sys.argv[1:]))",
        *("nightly", "--target", "local", "--reports", str(reports), "--", "-p", "tap_writer"),
    ]
    done = subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=600, env=child_env(env))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    (run,) = [p for p in reports.iterdir() if p.is_dir()]
    assert f"--hil-tap={run / 'results.tap'}" in (run / "command.txt").read_text()
    assert _tap(run / "results.tap")[2] == "ok local test_on_the_target"
    assert f"TAP report {run / 'results.tap'}" in done.stdout  # hil nightly's closing line names it
    for writer in WRITERS:  # and every built-in report is there too
        assert (run / writer.file_name).is_file(), writer
        assert f"{writer.label} {run / writer.file_name}" in done.stdout


#: The modules that choose, name and run the writers: they read the table and name no format.
READERS: tuple[str, ...] = (
    "hil/pytestplugin/plugin.py",
    "hil/pytestplugin/options.py",
    "hil/pytestplugin/reporting.py",
)
READERS += ("hil/pytestplugin/recorder.py", "hil/cli/nightly.py")


def test_the_builtin_writers_are_only_table_entries() -> None:
    """JUnit, summary, HTML and JSON lines: no module that runs writers imports one or spells its option or
    file; what they know of a format comes from the table (nightly takes counts.json from the summary's)."""
    modules = {w.module for w in WRITERS}
    named = {w.option for w in WRITERS} | {w.file_name for w in WRITERS} | {w.dest for w in WRITERS}
    for reader in READERS:
        tree = ast.parse((REPO / reader).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        allowed = {"hil.pytestplugin.summary"} if reader.endswith("nightly.py") else set()  # COUNTS_NAME only
        assert imported & modules <= allowed, (reader, imported & modules)
        prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings
        strings = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in prose
        }
        # a name as code uses it (a path, an option being built), not a mention in a message
        spelled = {s for s in strings if s in named or any(s.startswith(f"{w.option}=") for w in WRITERS)}
        assert spelled == set(), (reader, spelled)
